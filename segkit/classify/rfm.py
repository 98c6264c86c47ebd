"""RFM scoring and segment maps.

Scores: `RFMScorer` learns quantile cut points for recency_days, orders and revenue (`fit`) and
scores any customers against them (`transform`), so next month's customers can be scored on this
month's cut points. Recency is reversed: a recent purchase scores high.

Tie policy (stated, because CDNOW-like data has half its customers at one order): equal values
always get equal scores. When many customers share a value, quantile cut points coincide; the
duplicates are merged, so such a dimension has fewer scores than `bins`. `n_bins_` records how many
each dimension really has, and the report shows it.

A dimension that cannot tell customers apart (stated rule): no customer has a value for it, every
customer has the same value, the scoring gives every customer one score, or at least `max_tied_share` (default 95%) of the customers
share one score or one value. `RFMScorer.fit` records such dimensions in `unusable_`. They are not
used to segment: the grid holds them at the middle score of its scale, and when it is F (a
customer-level table forced in as transactions, or a shop without repeat buyers) the grid falls back
to the recency × spend map `rm6`, so that no one-order customer is called Champion or Loyal
(`grid_for`). The report says which dimension was left out and why.

Segment maps are data (YAML files in segkit/classify/maps): `check_segment_map` proves that a map gives
every score combination exactly one segment.

Speed (issue 15: a million customers, twelve month starts): scoring does no Python work per customer.
A score is one comparison per cut point (`_cut_positions`, the same as a binary search), scores are
counted with bincount, and the text columns (rfm_code, segment) are looked up per score combination or
map cell and taken from those few labels; the columns and their dtypes are what they were when each row
was written out as text (tests/test_rfm_fast.py compares both ways; bench/rfm_scoring.py times them).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from segkit.errors import ParamsError

RFM_FEATURES = {"r": "recency_days", "f": "orders", "m": "revenue"}
MAX_TIED_SHARE = 0.95  # a dimension where at least this share of customers ties cannot discriminate
FALLBACK_GRID = "rm6"  # the recency × spend grid used when F cannot discriminate
AXES = {"r_fm": ("f", "m"), "r_m": ("m",)}  # a grid's second axis: the scores it averages


class RFMScorer:
    """Scores 1..n for R, F and M (recency reversed: fewer days since the last purchase score higher).

    method: "quantile" (`bins` equal-sized groups), "percentile" (cut at the given percentiles of
    each feature) or "fixed" (cut points in the feature's units, e.g. recency_days [30, 90, 180]).
    Bins are right-closed, as in pandas.cut: a value equal to a cut point falls in the bin below it.
    ties: "merge" (equal values always get equal scores; coinciding cut points are merged, so a
    dimension can have fewer scores than `bins`) or "rank" (ranks split ties by row order so that
    every score is used; equal values may then get different scores).
    max_tied_share: a dimension where at least this share of the customers shares one score or one
    value cannot discriminate (see the module docstring); 1.0 flags only a single value or score.

    Learned: `cuts_`, `max_score_`, `n_bins_` (scores customers really get), `tied_share_` (per
    dimension, the largest share of customers sharing one score or one value) and `unusable_`
    ({dimension: {"reason": "no_values" | "one_value" | "one_score" | "tied", "share": ..., "limit":
    max_tied_share, "value": ...}}; "value" is the shared feature value for one_value, else None).
    A feature missing for every customer (a customer-level table without order counts) is
    "no_values" and scored 1 for everyone; one missing for some customers only is a ValueError.

    >>> f = pd.DataFrame({"customer_id": list("abcd"), "recency_days": [1, 50, 100, 300],
    ...                   "orders": [9, 3, 1, 1], "revenue": [900.0, 120.0, 40.0, 20.0]})
    >>> RFMScorer(bins=2).fit(f).transform(f)["rfm_code"].tolist()
    ['222', '222', '111', '111']
    """

    def __init__(self, bins: int = 5, method: str = "quantile", ties: str = "merge",
                 cuts: dict[str, list[float]] | None = None, percentiles: dict[str, list[float]] | None = None,
                 max_tied_share: float = MAX_TIED_SHARE):
        self.bins = bins
        self.method = method
        self.ties = ties
        self.cuts = cuts
        self.percentiles = percentiles
        self.max_tied_share = max_tied_share

    def _checked(self, features: pd.DataFrame) -> list[str]:
        """The options and `features` checked before fitting (ValueError naming what is wrong); the
        feature columns missing for every customer, which cannot discriminate."""
        if not 2 <= self.bins <= 10:
            raise ValueError(f"bins must be an integer from 2 to 10, got {self.bins}")
        if self.method not in ("quantile", "percentile", "fixed"):
            raise ValueError(f"method must be quantile, percentile or fixed, got {self.method!r}")
        if self.ties not in ("merge", "rank"):
            raise ValueError(f"ties must be merge or rank, got {self.ties!r}")
        if self.ties == "rank" and self.method != "quantile":
            raise ValueError(f"ties='rank' applies to method='quantile' only, got method={self.method!r}")
        if not 0.5 < self.max_tied_share <= 1:
            raise ValueError(f"max_tied_share must be a share above 0.5 and at most 1, got {self.max_tied_share}")
        _require_columns(features, RFM_FEATURES.values())
        if features.empty:
            raise ValueError("cannot fit RFM scores on zero customers")
        # A feature missing for every customer (a customer table without order counts) cannot
        # discriminate; one missing for some customers only is a data error.
        empty = [c for c in RFM_FEATURES.values() if features[c].isna().all()]
        missing = [c for c in RFM_FEATURES.values() if features[c].isna().any() and c not in empty]
        if missing:
            raise ValueError(f"features have missing values in {', '.join(missing)}; RFM needs every customer's")
        return empty

    def _dimension_scores(self, dim: str, column: str, values: np.ndarray, empty: bool) -> np.ndarray | None:
        """Learn one dimension's cuts (`cuts_`, `max_score_`) from `values` and return the customers'
        scores; None for a feature missing for every customer, marked unusable (no_values)."""
        if empty:
            self.cuts_[dim], self.max_score_[dim], self.n_bins_[dim], self.tied_share_[dim] = np.array([]), 1, 1, 1.0
            self.unusable_[dim] = {"reason": "no_values", "share": 1.0, "limit": self.max_tied_share, "value": None}
            return None
        if self.ties == "rank":
            self.max_score_[dim] = self.bins
            scores = self._rank_scores(dim, values)
            self.cuts_[dim] = np.array([values[scores == s].max() if dim != "r" else values[scores == s].min()
                                        for s in range(1, self.bins) if (scores == s).any()])
        else:
            self.cuts_[dim] = self._learn_cuts(column, values)
            self.max_score_[dim] = len(self.cuts_[dim]) + 1
            scores = self._cut_scores(dim, values)
        return scores

    def fit(self, features: pd.DataFrame) -> "RFMScorer":
        empty = self._checked(features)
        self.cuts_, self.max_score_, self.n_bins_, self.tied_share_, self.unusable_ = {}, {}, {}, {}, {}
        for dim, column in RFM_FEATURES.items():
            values = features[column].to_numpy(dtype=float)
            scores = self._dimension_scores(dim, column, values, column in empty)
            if scores is None:
                continue
            counts = np.bincount(scores)  # customers per score (scores are 1..max_score_ here)
            self.n_bins_[dim] = int(np.count_nonzero(counts))  # the scores customers really get
            self._check_discrimination(dim, values, counts)
        return self

    def _check_discrimination(self, dim: str, values: np.ndarray, score_counts: np.ndarray) -> None:
        # Ties among the values count too: with ties="rank" equal values are spread over every score
        # by row order, so the scores alone would hide that the customers do not differ. With
        # ties="merge" equal values always share a score, so the largest group of equal values lies
        # within one score: its share is at most the score share, and only "all equal" matters.
        score_share = score_counts.max() / len(values)
        if self.ties == "merge":
            value_share = 1.0 if values.min() == values.max() else 0.0
        else:
            value_share = pd.Series(values).value_counts(normalize=True).iloc[0]
        self._judge_shares(dim, values, value_share, score_share)

    def _judge_shares(self, dim: str, values: np.ndarray, value_share: float, score_share: float) -> None:
        """Record the dimension's tied share (the larger of the top value's and the top score's) and
        mark it unusable when one value or one score holds everyone, or the share reaches the limit."""
        self.tied_share_[dim] = float(max(value_share, score_share))
        if value_share == 1:
            reason = "one_value"
        elif score_share == 1:
            reason = "one_score"
        elif self.tied_share_[dim] >= self.max_tied_share:
            reason = "tied"
        else:
            return
        self.unusable_[dim] = {"reason": reason, "share": self.tied_share_[dim], "limit": self.max_tied_share,
                               "value": float(values[0]) if reason == "one_value" else None}

    @property
    def usable_dimensions(self) -> list[str]:
        """The dimensions (r, f, m) that can tell customers apart."""
        return [dim for dim in RFM_FEATURES if dim not in self.unusable_]

    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """customer_id, r_score, f_score, m_score (integers) and rfm_code (text, e.g. "534"): one row
        per row of `features`, in its order, on a fresh RangeIndex."""
        _require_columns(features, ["customer_id", *RFM_FEATURES.values()])
        out = pd.DataFrame({"customer_id": _column_values(features["customer_id"])})
        for dim, column in RFM_FEATURES.items():
            values = features[column].to_numpy(dtype=float)
            if self.unusable_.get(dim, {}).get("reason") == "no_values":
                out[f"{dim}_score"] = 1  # one score: the feature was missing for every customer at fit
                continue
            scores = self._rank_scores(dim, values) if self.ties == "rank" else self._cut_scores(dim, values)
            out[f"{dim}_score"] = scores.astype(int)
        out["rfm_code"] = _score_codes(*(out[f"{dim}_score"].to_numpy() for dim in RFM_FEATURES))
        return out

    def _learn_cuts(self, column: str, values: np.ndarray) -> np.ndarray:
        if self.method == "fixed":
            return np.asarray(self.cuts[column], dtype=float)
        if self.method == "percentile":
            levels = np.asarray(self.percentiles[column], dtype=float) / 100
        else:
            levels = np.arange(1, self.bins) / self.bins
        cuts = np.unique(np.quantile(values, levels))
        return cuts[cuts < values.max()]  # a cut at the maximum would only open an empty top bin

    def _cut_scores(self, dim: str, values: np.ndarray) -> np.ndarray:
        position = _cut_positions(self.cuts_[dim], values)
        return (self.max_score_[dim] - position) if dim == "r" else (position + 1)

    def _rank_scores(self, dim: str, values: np.ndarray) -> np.ndarray:
        oriented = pd.Series(-values if dim == "r" else values)
        share = oriented.rank(method="first", pct=True).to_numpy()
        return np.clip(np.ceil(share * self.bins), 1, self.bins).astype(int)

    def cut_points(self, minor_unit: int | None = None) -> pd.DataFrame:
        """Per dimension: how many scores it really has and the cut points (in the feature's units:
        days, orders, money), as text; with `minor_unit`, M's money to that many decimals (950.45,
        not 950.446), else six significant digits. The cut points as numbers are `cuts_` (per dimension)."""
        def shown(dim: str, cut: float) -> str:
            return f"{cut:,.{minor_unit}f}" if dim == "m" and minor_unit is not None else f"{cut:,.6g}"

        return pd.DataFrame([
            {"dimension": dim.upper(), "feature": RFM_FEATURES[dim], "bins": self.n_bins_[dim],
             "cut_points": ", ".join(shown(dim, c) for c in self.cuts_[dim]) or "—"}
            for dim in RFM_FEATURES
        ])


def score_rfm(features: pd.DataFrame, bins: int = 5, **options) -> pd.DataFrame:
    """Fit and apply `RFMScorer` in one step (options: method, ties, cuts, percentiles)."""
    return RFMScorer(bins, **options).fit(features).transform(features)


@dataclass(frozen=True)
class SegmentMap:
    name: str
    kind: str  # "grid" (score boxes over r and fm) or "high_low" (R, F, M against a basis)
    segments: tuple[dict, ...]
    scale: int = 5
    basis: str = "mean"  # high_low maps: mean, median or threshold
    thresholds: dict | None = None  # basis threshold: recency_days, orders, revenue
    axes: str = "r_fm"  # grid maps: r against fm (mean of F and M) or against m alone ("r_m")

    @property
    def second_axis(self) -> str:
        """The name of a grid's second axis and of its key in the boxes: "fm" or "m"."""
        return self.axes.split("_", 1)[1]

    @property
    def codes(self) -> list[str]:
        return [s["code"] for s in self.segments]

    def label(self, code: str, lang: str) -> str:
        for segment in self.segments:
            if segment["code"] == code:
                return segment[lang]
        raise ValueError(f"segment code {code!r} is not in segment map {self.name} ({', '.join(self.codes)})")

    def group(self, name: str) -> tuple[str, ...]:
        """The codes of the segments whose `group` is `name` (valuable, at_risk, gone)."""
        return tuple(s["code"] for s in self.segments if s.get("group") == name)

    def labels(self, lang: str) -> dict[str, str]:
        return {s["code"]: s[lang] for s in self.segments}


def shipped_maps() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("segkit.classify.maps").iterdir()
                  if p.name.endswith(".yaml") and p.name != "strategies.yaml")


def load_segment_map(name: str | SegmentMap, custom: dict[str, dict] | None = None, basis: str = "map",
                     thresholds: dict | None = None) -> SegmentMap:
    """A segment map by name: one of `custom` (maps defined in params) or a shipped one (rfm11, cn8).

    The map is checked to be a partition. For high/low maps, `basis` ("mean", "median" or
    "threshold" with `thresholds`) replaces the map's own basis unless it is "map".
    """
    if isinstance(name, SegmentMap):
        segment_map = name
    elif custom and name in custom:
        segment_map = _map_from_raw(custom[name], name)
    else:
        segment_map = _shipped_map(name)
    if basis != "map" and segment_map.kind == "high_low":
        segment_map = replace(segment_map, basis=basis, thresholds=thresholds)
    return segment_map


@lru_cache(maxsize=None)
def _shipped_map(name: str) -> SegmentMap:
    if name not in shipped_maps():
        raise ParamsError(f"segment map {name!r} does not exist; shipped maps: {', '.join(shipped_maps())} "
                          "(or define it under rfm.custom_maps)")
    raw = yaml.safe_load(resources.files("segkit.classify.maps").joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
    return _map_from_raw(raw, name)


def _map_from_raw(raw: dict, name: str) -> SegmentMap:
    try:
        segment_map = _parse_map(raw, name)
        check_segment_map(segment_map)  # also reads every box, so a malformed one fails here
    except ParamsError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise ParamsError(f"segment map {name} is malformed ({type(err).__name__}: {err}); boxes are "
                          "{r: [low, high], fm: [low, high]} and scale is a whole number from 2 to 10") from None
    return segment_map


def _parse_map(raw: dict, name: str) -> SegmentMap:
    where = f"segment map {name}"
    if not isinstance(raw, dict) or raw.get("kind") not in ("grid", "high_low"):
        raise ParamsError(f"{where}: kind must be grid or high_low, got {raw.get('kind') if isinstance(raw, dict) else raw!r}")
    segments = raw.get("segments")
    if not isinstance(segments, list) or not segments:
        raise ParamsError(f"{where}: needs a list of segments, each with code, en, zh and "
                          + ("boxes" if raw["kind"] == "grid" else "r, f, m (high or low)"))
    needed = ("code", "en", "zh", "boxes") if raw["kind"] == "grid" else ("code", "en", "zh", "r", "f", "m")
    for i, segment in enumerate(segments):
        missing = [k for k in needed if k not in segment]
        if missing:
            raise ParamsError(f"{where}: segment {i + 1} ({segment.get('code', '?')}) lacks {', '.join(missing)}")
    scale = int(raw.get("scale", 5))
    if not 2 <= scale <= 10:
        raise ParamsError(f"{where}: scale must be a whole number from 2 to 10, got {scale}")
    axes = raw.get("axes", "r_fm")
    if axes not in AXES:
        raise ParamsError(f"{where}: axes must be {' or '.join(AXES)}, got {axes!r}")
    return SegmentMap(name=raw.get("name", name), kind=raw["kind"], segments=tuple(segments),
                      scale=scale, basis=raw.get("basis", "mean"), thresholds=raw.get("thresholds"), axes=axes)


def check_segment_map(segment_map: SegmentMap) -> None:
    """Raise ParamsError naming every score combination that no segment or several segments claim."""
    if segment_map.kind == "grid":
        cells = list(itertools.product(range(1, segment_map.scale + 1), repeat=2))
        axis = segment_map.second_axis
        owners = {cell: [s["code"] for s in segment_map.segments
                         if any(_in_box(cell, box, axis) for box in s["boxes"])] for cell in cells}
        describe = "r={}, " + axis + "={}"
    elif segment_map.kind == "high_low":
        cells = list(itertools.product(("high", "low"), repeat=3))
        owners = {cell: [s["code"] for s in segment_map.segments if (s["r"], s["f"], s["m"]) == cell]
                  for cell in cells}
        describe = "r={}, f={}, m={}"
    else:
        raise ParamsError(f"segment map {segment_map.name}: kind must be grid or high_low, got {segment_map.kind!r}")
    gaps = [describe.format(*cell) for cell, who in owners.items() if not who]
    overlaps = [f"{describe.format(*cell)} ({', '.join(who)})" for cell, who in owners.items() if len(who) > 1]
    problems = ([f"no segment for {'; '.join(gaps)}"] if gaps else []) + \
               ([f"more than one segment for {'; '.join(overlaps)}"] if overlaps else [])
    if problems:
        raise ParamsError(f"segment map {segment_map.name} is not a partition: " + "; ".join(problems))


def assign_grid_segments(scores: pd.DataFrame, segment_map: SegmentMap, bins: int | dict[str, int],
                         unusable=()) -> pd.Series:
    """Segment code per customer from r/f/m scores on a grid map.

    Scores on another scale (e.g. 1..3, or a dimension with 4 scores) are rescaled to the map's
    scale first; `bins` is the number of scores, one for all dimensions or per dimension (r, f, m).
    The second axis is fm, the mean of the F and M scores rounded half up, or m alone (`axes: r_m`).
    Dimensions in `unusable` (e.g. `RFMScorer.unusable_`) are not used: fm is then the one usable
    score of F and M, and a grid axis with no usable score is held at the middle of the scale. Pass
    the map from `grid_for`, which avoids a grid that needs F when F is unusable.

    Returns the map's codes as a Series named segment on the index of `scores` (text codes give the
    `str` dtype); a customer whose cell no segment claims (scores off the given scale, or a map passed
    in unchecked) raises KeyError with that (r, fm) cell, the first such customer's.
    """
    top = bins if isinstance(bins, dict) else {"r": bins, "f": bins, "m": bins}
    scale = segment_map.scale
    middle = pd.Series((scale + 1) // 2, index=scores.index)
    rescaled = {d: middle if d in unusable else _rescale(scores[f"{d}_score"], top[d], scale) for d in ("r", "f", "m")}
    used = [d for d in AXES[segment_map.axes] if d not in unusable]
    if len(used) == 2:
        second = (rescaled["f"] + rescaled["m"] + 1) // 2
    else:
        second = rescaled[used[0]] if used else middle
    axis = segment_map.second_axis
    lookup = {}
    for segment in segment_map.segments:
        for box in segment["boxes"]:
            for cell in itertools.product(range(box["r"][0], box["r"][1] + 1), range(box[axis][0], box[axis][1] + 1)):
                lookup[cell] = segment["code"]
    r = rescaled["r"].astype(int).to_numpy()
    fm = second.astype(int).to_numpy()
    # the map as a table of code numbers over its cells (-1: no segment), read in one take
    codes = list(dict.fromkeys(lookup.values()))
    number = {code: i for i, code in enumerate(codes)}
    r_low, fm_low = (min(c[0] for c in lookup), min(c[1] for c in lookup)) if lookup else (0, 0)
    r_high, fm_high = (max(c[0] for c in lookup), max(c[1] for c in lookup)) if lookup else (-1, -1)
    table = np.full((r_high - r_low + 1, fm_high - fm_low + 1), -1, dtype=np.intp)
    for (r_cell, fm_cell), code in lookup.items():
        table[r_cell - r_low, fm_cell - fm_low] = number[code]
    if len(r) and r.min() >= r_low and r.max() <= r_high and fm.min() >= fm_low and fm.max() <= fm_high:
        cell = r - r_low  # the cell's place in the table, row by row
        cell *= table.shape[1]
        cell += fm
        cell -= fm_low
        position = table.ravel().take(cell)
    else:  # some scores lie off the map's cells
        inside = (r >= r_low) & (r <= r_high) & (fm >= fm_low) & (fm <= fm_high)
        position = np.full(len(r), -1, dtype=np.intp)
        position[inside] = table[r[inside] - r_low, fm[inside] - fm_low]
    if (position < 0).any():  # a cell no segment claims (a map that is not a partition, or scores off its scale)
        first = int(np.argmax(position < 0))
        raise KeyError((int(r[first]), int(fm[first])))
    return _text_series(codes, position, scores.index, "segment")


def grid_for(segment_map: str | SegmentMap, unusable=(), custom: dict[str, dict] | None = None) -> SegmentMap:
    """The grid map to segment with: `segment_map`, or the recency × spend map rm6 when F is among
    the `unusable` dimensions and the map's second axis uses F (the stated rule of this module).

    >>> grid_for("rfm11", unusable={"f": {"reason": "one_value"}}).name
    'rm6'
    >>> grid_for("rfm11").name
    'rfm11'
    """
    segment_map = load_segment_map(segment_map, custom=custom)
    if segment_map.kind == "grid" and "f" in unusable and "f" in AXES[segment_map.axes]:
        return load_segment_map(FALLBACK_GRID)
    return segment_map


def map_for_codes(segment_map: str | SegmentMap, codes, custom: dict[str, dict] | None = None) -> SegmentMap:
    """The map whose codes `codes` are: `segment_map`, or the fallback grid rm6 when the segments were
    made with it (`grid_for`). Report tables call it so that a map named in params still labels a
    run that fell back. Raises ValueError naming the codes that neither map knows."""
    segment_map = load_segment_map(segment_map, custom=custom)
    present = {c for c in pd.Series(codes).dropna().unique()}
    if present <= set(segment_map.codes):
        return segment_map
    if segment_map.kind == "grid":
        fallback = load_segment_map(FALLBACK_GRID)
        if present <= set(fallback.codes):
            return fallback
    unknown = sorted(present - set(segment_map.codes))
    raise ValueError(f"segment codes {', '.join(map(str, unknown[:10]))} are not in segment map {segment_map.name}")


def assign_high_low_classes(features: pd.DataFrame, segment_map: SegmentMap) -> tuple[pd.Series, dict]:
    """Class code per customer: R, F, M each high or low against the map's basis (mean, median or
    business thresholds). Returns the codes and the thresholds used.

    High R means a recent purchase: recency_days below the threshold. High F and high M mean
    strictly more orders and revenue than the threshold (a missing value is low). The codes are a
    `str` Series named rfm_class on the index of `features`, looked up per (r, f, m) cell in one
    take, not per customer. Raises ParamsError for a basis without its thresholds.
    """
    thresholds = high_low_thresholds(features, segment_map)
    # each customer's (r, f, m) as a number 0..7 (high = 1), then the map's code of that cell
    cell = ((features["recency_days"] < thresholds["r"]).to_numpy(dtype=bool).astype(np.int8) * 4
            + (features["orders"] > thresholds["f"]).to_numpy(dtype=bool).astype(np.int8) * 2
            + (features["revenue"] > thresholds["m"]).to_numpy(dtype=bool).astype(np.int8))
    lookup = {(s["r"], s["f"], s["m"]): s["code"] for s in segment_map.segments}
    levels = ("low", "high")
    keys = [(levels[c >> 2], levels[(c >> 1) & 1], levels[c & 1]) for c in range(8)]
    categories = list(dict.fromkeys(lookup[key] for key in keys if key in lookup))
    position = np.array([categories.index(lookup[key]) if key in lookup else -1 for key in keys])[cell]
    if (position < 0).any():  # a map that is not a partition (check_segment_map refuses those when it is loaded)
        raise KeyError(keys[int(cell[np.argmax(position < 0)])])
    codes = pc.take(pa.array(categories, pa.large_string()), pa.array(position))  # text without a Python str each
    return pd.Series(codes, index=features.index, name="rfm_class", dtype="str"), thresholds


def high_low_thresholds(features: pd.DataFrame, segment_map: SegmentMap) -> dict[str, float]:
    """The values of recency_days, orders and revenue that split high from low (keys r, f, m)."""
    if segment_map.basis == "threshold":
        given = segment_map.thresholds or {}
        missing = [c for c in RFM_FEATURES.values() if c not in given]
        if missing:
            raise ParamsError(f"segment map {segment_map.name}: basis threshold needs thresholds for {', '.join(missing)}")
        return {dim: float(given[col]) for dim, col in RFM_FEATURES.items()}
    if segment_map.basis not in ("mean", "median"):
        raise ParamsError(f"segment map {segment_map.name}: basis must be mean, median or threshold, "
                          f"got {segment_map.basis!r}")
    return {dim: float(getattr(features[col], segment_map.basis)()) for dim, col in RFM_FEATURES.items()}


def segment_customers(features: pd.DataFrame, scorer: RFMScorer | int = 5, segment_map: str | SegmentMap = "rfm11",
                      class_map: str | SegmentMap = "cn8") -> tuple[pd.DataFrame, RFMScorer]:
    """Scores, the grid segment and the high/low class for every customer (one row each).

    `scorer` is a fitted RFMScorer, or a number of bins for a quantile scorer fitted here. The grid
    is `grid_for(segment_map, scorer.unusable_)`: rm6 (recency × spend) when F cannot discriminate.
    """
    if not isinstance(scorer, RFMScorer):
        scorer = RFMScorer(scorer).fit(features)
    scores = scorer.transform(features)
    grid = grid_for(segment_map, scorer.unusable_)
    scores["segment"] = _column_values(assign_grid_segments(scores, grid, scorer.max_score_, scorer.unusable_))
    scores["rfm_class"] = _column_values(assign_high_low_classes(features, load_segment_map(class_map))[0])
    return scores, scorer


@lru_cache(maxsize=None)
def strategies() -> dict[str, dict[str, str]]:
    """The default action per segment code, in en and zh: strategies.yaml, and the `strategy` a
    shipped map gives its own segments (rm6)."""
    text = resources.files("segkit.classify.maps").joinpath("strategies.yaml").read_text(encoding="utf-8")
    actions = yaml.safe_load(text)
    for name in shipped_maps():
        for segment in _shipped_map(name).segments:
            if "strategy" in segment:
                actions.setdefault(segment["code"], segment["strategy"])
    return actions


def _rescale(score: pd.Series, bins: int, scale: int) -> pd.Series:
    if bins == scale:
        return score.astype(int)
    if bins == 1:
        return pd.Series(np.full(len(score), (scale + 1) // 2), index=score.index)
    return (1 + np.floor((score - 1) * (scale - 1) / (bins - 1) + 0.5)).astype(int)


def _in_box(cell: tuple[int, int], box: dict, axis: str = "fm") -> bool:
    return box["r"][0] <= cell[0] <= box["r"][1] and box[axis][0] <= cell[1] <= box[axis][1]


def _cut_positions(cuts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """np.searchsorted(cuts, values, side="left"): per value, the number of cut points below it (a
    missing value sorts above every cut). For the few sorted cuts of a scorer, one comparison per
    cut is several times quicker than a binary search per value."""
    if values.ndim != 1 or len(cuts) > 16 or np.isnan(cuts).any() or (np.diff(cuts) < 0).any():
        return np.searchsorted(cuts, values, side="left")
    position = np.zeros(len(values), dtype=np.uint8)  # at most 16 cuts: a byte per value is enough
    for cut in cuts:
        position += ~(values <= cut)  # values above the cut, and missing values (as searchsorted)
    return position.astype(np.intp)


def _text_dtype():
    """The dtype pandas gives a column built from Python strings (the `str` dtype from pandas 3,
    object before)."""
    return pd.Series(["a"]).dtype


def _text_series(labels: list, position: np.ndarray, index: pd.Index, name: str | None) -> pd.Series:
    """pd.Series([labels[i] for i in position], index=index, name=name), without a Python object per
    row when the labels are text: one take on the few labels."""
    dtype = _text_dtype()
    if len(position) and isinstance(dtype, pd.StringDtype) and all(type(label) is str for label in labels):
        return pd.Series(pd.array(labels, dtype=dtype).take(position), index=index, name=name)
    table = np.empty(len(labels), dtype=object)
    for i, label in enumerate(labels):
        table[i] = label
    return pd.Series(table[position].tolist(), index=index, name=name)


def _score_codes(r: np.ndarray, f: np.ndarray, m: np.ndarray) -> pd.Series:
    """The rfm_code column: r, f and m written one after the other ("534"), as
    r.astype(str) + f.astype(str) + m.astype(str) on Series gives it, looked up per (r, f, m)."""
    tops = [int(s.max()) + 1 if len(s) else 1 for s in (r, f, m)]
    lowest = min((int(s.min()) for s in (r, f, m) if len(s)), default=0)
    if lowest < 0 or tops[0] * tops[1] * tops[2] > 1 << 16:  # scores off any scorer's scale: plain text
        return pd.Series(r).astype(str) + pd.Series(f).astype(str) + pd.Series(m).astype(str)
    key = (r.astype(np.intp) * tops[1] + f) * tops[2] + m
    present = np.flatnonzero(np.bincount(key, minlength=1))
    labels = [f"{k // (tops[1] * tops[2])}{k // tops[2] % tops[1]}{k % tops[2]}" for k in present.tolist()]
    number = np.zeros(tops[0] * tops[1] * tops[2], dtype=np.intp)
    number[present] = np.arange(len(present))
    dtype = pd.Series([1]).astype(str).dtype
    if len(key) and isinstance(dtype, pd.StringDtype):
        return pd.Series(pd.array(labels, dtype=dtype).take(number[key]))
    return pd.Series(r).astype(str) + pd.Series(f).astype(str) + pd.Series(m).astype(str)


def _column_values(column: pd.Series):
    """What `column.to_numpy()` gives a new DataFrame column, without a Python object per row when
    the column is already text: a text column's to_numpy() is re-read as text, so hand over its
    array."""
    if isinstance(column, pd.Series) and len(column) and column.dtype == _text_dtype() and column.notna().all():
        return column.array
    return column.to_numpy()


def _require_columns(frame: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"features lack column(s) {missing}; present: {list(frame.columns)}")
