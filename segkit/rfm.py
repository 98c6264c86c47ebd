"""RFM scoring and segment maps.

Scores: `RFMScorer` learns quantile cut points for recency_days, orders and revenue (`fit`) and
scores any customers against them (`transform`), so next month's customers can be scored on this
month's cut points. Recency is reversed: a recent purchase scores high.

Tie policy (stated, because CDNOW-like data has half its customers at one order): equal values
always get equal scores. When many customers share a value, quantile cut points coincide; the
duplicates are merged, so such a dimension has fewer scores than `bins`. `n_bins_` records how many
each dimension really has, and the report shows it.

Segment maps are data (YAML files in segkit/maps): `check_segment_map` proves that a map gives
every score combination exactly one segment.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import yaml

from segkit.errors import ParamsError

RFM_FEATURES = {"r": "recency_days", "f": "orders", "m": "revenue"}


class RFMScorer:
    """Quantile scores 1..bins for R, F and M (recency reversed).

    >>> f = pd.DataFrame({"customer_id": list("abcd"), "recency_days": [1, 50, 100, 300],
    ...                   "orders": [9, 3, 1, 1], "revenue": [900.0, 120.0, 40.0, 20.0]})
    >>> RFMScorer(bins=2).fit(f).transform(f)["rfm_code"].tolist()
    ['222', '222', '111', '111']
    """

    def __init__(self, bins: int = 5):
        self.bins = bins

    def fit(self, features: pd.DataFrame) -> "RFMScorer":
        if not 2 <= self.bins <= 10:
            raise ValueError(f"bins must be an integer from 2 to 10, got {self.bins}")
        _require_columns(features, RFM_FEATURES.values())
        if features.empty:
            raise ValueError("cannot fit RFM scores on zero customers")
        quantiles = np.arange(1, self.bins) / self.bins
        self.edges_ = {}
        self.n_bins_ = {}
        for dim, column in RFM_FEATURES.items():
            values = self._oriented(dim, features[column])
            self.edges_[dim] = np.unique(np.quantile(values, quantiles))
            # the scores the customers really get: merged edges leave fewer than `bins`
            self.n_bins_[dim] = len(np.unique(self._score(dim, values)))
        return self

    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        _require_columns(features, ["customer_id", *RFM_FEATURES.values()])
        out = pd.DataFrame({"customer_id": features["customer_id"].to_numpy()})
        for dim, column in RFM_FEATURES.items():
            out[f"{dim}_score"] = self._score(dim, self._oriented(dim, features[column]))
        out["rfm_code"] = (out.r_score.astype(str) + out.f_score.astype(str) + out.m_score.astype(str))
        return out

    @staticmethod
    def _oriented(dim: str, values: pd.Series) -> np.ndarray:
        # recency is reversed: fewer days since the last purchase is better
        values = values.to_numpy(dtype=float)
        return -values if dim == "r" else values

    def _score(self, dim: str, values: np.ndarray) -> np.ndarray:
        # bins are right-closed, as in pandas.qcut: (edge[i-1], edge[i]] scores i + 1
        return np.searchsorted(self.edges_[dim], values, side="left") + 1

    def cut_points(self) -> pd.DataFrame:
        """The learned cut points per dimension, for the report."""
        return pd.DataFrame([
            {"dimension": dim, "feature": RFM_FEATURES[dim], "bins": self.n_bins_[dim],
             "cut_points": ", ".join(f"{abs(e):g}" for e in (self.edges_[dim][::-1] if dim == "r" else self.edges_[dim]))}
            for dim in RFM_FEATURES
        ])


def score_rfm(features: pd.DataFrame, bins: int = 5) -> pd.DataFrame:
    """Fit and apply `RFMScorer` in one step."""
    return RFMScorer(bins).fit(features).transform(features)


@dataclass(frozen=True)
class SegmentMap:
    name: str
    kind: str  # "grid" (score boxes over r and fm) or "high_low" (R, F, M against a basis)
    segments: tuple[dict, ...]
    scale: int = 5
    basis: str = "mean"

    @property
    def codes(self) -> list[str]:
        return [s["code"] for s in self.segments]

    def label(self, code: str, lang: str) -> str:
        return next(s[lang] for s in self.segments if s["code"] == code)

    def labels(self, lang: str) -> dict[str, str]:
        return {s["code"]: s[lang] for s in self.segments}


@lru_cache(maxsize=None)
def load_segment_map(name: str) -> SegmentMap:
    """A shipped segment map by name (rfm11, cn8), checked to be a partition."""
    shipped = sorted(p.name.removesuffix(".yaml") for p in resources.files("segkit.maps").iterdir()
                     if p.name.endswith(".yaml") and p.name != "strategies.yaml")
    if name not in shipped:
        raise ParamsError(f"segment map {name!r} does not exist; shipped maps: {', '.join(shipped)}")
    raw = yaml.safe_load(resources.files("segkit.maps").joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
    segment_map = SegmentMap(name=raw["name"], kind=raw["kind"], segments=tuple(raw["segments"]),
                             scale=raw.get("scale", 5), basis=raw.get("basis", "mean"))
    check_segment_map(segment_map)
    return segment_map


def check_segment_map(segment_map: SegmentMap) -> None:
    """Raise ParamsError naming every score combination that no segment or several segments claim."""
    if segment_map.kind == "grid":
        cells = list(itertools.product(range(1, segment_map.scale + 1), repeat=2))
        owners = {cell: [s["code"] for s in segment_map.segments
                         if any(_in_box(cell, box) for box in s["boxes"])] for cell in cells}
        describe = "r={}, fm={}"
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


def assign_grid_segments(scores: pd.DataFrame, segment_map: SegmentMap, bins: int) -> pd.Series:
    """Segment code per customer from r/f/m scores on a grid map; scores are rescaled to the map's scale."""
    r = _rescale(scores["r_score"], bins, segment_map.scale)
    f = _rescale(scores["f_score"], bins, segment_map.scale)
    m = _rescale(scores["m_score"], bins, segment_map.scale)
    fm = (f + m + 1) // 2
    lookup = {}
    for segment in segment_map.segments:
        for box in segment["boxes"]:
            for cell in itertools.product(range(box["r"][0], box["r"][1] + 1), range(box["fm"][0], box["fm"][1] + 1)):
                lookup[cell] = segment["code"]
    codes = [lookup[cell] for cell in zip(r.tolist(), fm.tolist())]
    return pd.Series(codes, index=scores.index, name="segment")


def assign_high_low_classes(features: pd.DataFrame, segment_map: SegmentMap) -> tuple[pd.Series, dict]:
    """Class code per customer: R, F, M each high or low against the mean (or median) of all customers.

    Returns the codes and the thresholds used. High R means recency_days below the threshold.
    """
    thresholds = high_low_thresholds(features, segment_map)
    r = np.where(features["recency_days"] < thresholds["r"], "high", "low")
    f = np.where(features["orders"] > thresholds["f"], "high", "low")
    m = np.where(features["revenue"] > thresholds["m"], "high", "low")
    lookup = {(s["r"], s["f"], s["m"]): s["code"] for s in segment_map.segments}
    codes = [lookup[key] for key in zip(r, f, m)]
    return pd.Series(codes, index=features.index, name="rfm_class"), thresholds


def high_low_thresholds(features: pd.DataFrame, segment_map: SegmentMap) -> dict[str, float]:
    """The mean (or median) of recency_days, orders and revenue that split high from low."""
    if segment_map.basis not in ("mean", "median"):
        raise ParamsError(f"segment map {segment_map.name}: basis must be mean or median, got {segment_map.basis!r}")
    return {dim: float(getattr(features[col], segment_map.basis)()) for dim, col in RFM_FEATURES.items()}


def segment_customers(features: pd.DataFrame, bins: int = 5, segment_map: str = "rfm11",
                      class_map: str = "cn8") -> tuple[pd.DataFrame, RFMScorer]:
    """Scores, the grid segment and the high/low class for every customer (one row each)."""
    scorer = RFMScorer(bins).fit(features)
    scores = scorer.transform(features)
    grid = load_segment_map(segment_map)
    classes = load_segment_map(class_map)
    scores["segment"] = assign_grid_segments(scores, grid, bins).to_numpy()
    scores["rfm_class"] = assign_high_low_classes(features, classes)[0].to_numpy()
    return scores, scorer


@lru_cache(maxsize=None)
def strategies() -> dict[str, dict[str, str]]:
    """The default action per segment code, in en and zh."""
    text = resources.files("segkit.maps").joinpath("strategies.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _rescale(score: pd.Series, bins: int, scale: int) -> pd.Series:
    if bins == scale:
        return score.astype(int)
    return (1 + np.floor((score - 1) * (scale - 1) / (bins - 1) + 0.5)).astype(int)


def _in_box(cell: tuple[int, int], box: dict) -> bool:
    return box["r"][0] <= cell[0] <= box["r"][1] and box["fm"][0] <= cell[1] <= box["fm"][1]


def _require_columns(frame: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"features lack column(s) {missing}; present: {list(frame.columns)}")
