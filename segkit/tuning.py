"""Tuning in JupyterLab (issue 11): move k, the RFM bins or cut points and the tier quantiles, see
the segment sizes and revenue shares change, and save the chosen values as a NEW params file.

Two layers, so that everything that computes is tested without a browser or widgets:

- pure functions: `TuningSettings` (the few values the panel moves, from a `Params` with
  `TuningSettings.from_params`), `tuning_tables(features, settings)` (one row per group of each view:
  RFM segments, frequency and monetary tiers, clusters, with customers, revenue and their shares,
  computed with the functions the notebooks call: `RFMScorer`, `grid_for`, `assign_grid_segments`,
  `tiers`, `cluster_stage`) and `write_tuned_params(params_path, settings, target)` (the original
  file's every key, with the tuned ones changed, checked with the params loader before it is
  written; never over the original, never over another file unless told);
- `TuningPanel`, built on ipywidgets (the `notebook` extra: `pip install segkit[notebook]`): it only
  wires sliders and inputs to `tuning_tables` and shows each view as a table and a bar chart
  (`segkit.report.html.table`, `segkit.report.plots.share_bars`) in an Output widget.

`tuning_panel(...)` is what a notebook's last cell calls: it returns the panel in an interactive
Jupyter session (a kernel started by Jupyter Server, i.e. JupyterLab or Notebook, which sets
JPY_SESSION_NAME) and None in a batch run (papermill, `segkit report`), so a batch report is
unaffected whether or not ipywidgets is installed. In an interactive session without ipywidgets it
shows one sentence saying how to install it. This module imports without ipywidgets.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from segkit.errors import ParamsError, SegkitError
from segkit.i18n import t

PARTS = ("rfm", "tiers", "cluster")
VIEWS = {"rfm": ("segment",), "tiers": ("frequency_tier", "monetary_tier"), "cluster": ("cluster",)}
RFM_COLUMNS = ("recency_days", "orders", "revenue")
TIER_LEVELS = ("high", "mid", "low")
TABLE_COLUMNS = ["view", "code", "group", "customers", "customer_share", "revenue", "revenue_share"]
# What marks a batch run for `is_interactive`; Jupyter Server sets JPY_SESSION_NAME in the kernels it starts.
BATCH_VARIABLE = "SEGKIT_BATCH"
SESSION_VARIABLE = "JPY_SESSION_NAME"
INSTALL_HINT = "pip install segkit[notebook]"


class NotebookExtraMissing(SegkitError, ImportError):
    """The tuning panel was asked for, and ipywidgets (the `notebook` extra) is not installed."""


def _widgets():
    """The ipywidgets module, or NotebookExtraMissing saying how to install it."""
    try:
        import ipywidgets
    except ImportError:
        raise NotebookExtraMissing(f"the tuning panel needs ipywidgets, which is not installed: run "
                                   f"`{INSTALL_HINT}` (or `pip install ipywidgets`), then restart the kernel") from None
    return ipywidgets


def is_interactive() -> bool:
    """True in a kernel that Jupyter Server started (JupyterLab, Notebook 7: they set JPY_SESSION_NAME),
    unless SEGKIT_BATCH is set; False in a plain Python process and in the kernels papermill starts
    from one (`segkit report`). A kernel inherits its parent's environment: a report run from inside
    a JupyterLab kernel needs SEGKIT_BATCH=1 to keep its kernels batch."""
    return bool(os.environ.get(SESSION_VARIABLE)) and not os.environ.get(BATCH_VARIABLE)


@dataclasses.dataclass(frozen=True)
class TuningSettings:
    """The values the tuning panel moves, and what the views need besides them.

    RFM (params `rfm`): `bins`, `method` ("quantile", "percentile" or "fixed"), `cuts` (method fixed:
    feature -> increasing cut points in the feature's units: days, orders, money), `percentiles`,
    `ties`, `max_tied_share`, the grid `segment_map` and `custom_maps`. Tiers (params
    `tiers.frequency`, `tiers.monetary`): dicts of `segkit.classify.value.tiers` arguments (method,
    quantiles, thresholds). Clustering (params `cluster`): `k` (None: no cluster view), `k_range`
    (k_min, k_max: the k the params accept) and `cluster`, the other `cluster_stage` arguments (columns,
    method, random state, preprocessing, categorical columns, samples).
    """

    bins: int = 5
    method: str = "quantile"
    cuts: dict | None = None
    percentiles: dict | None = None
    ties: str = "merge"
    max_tied_share: float = 0.95
    segment_map: str = "rfm11"
    custom_maps: dict = dataclasses.field(default_factory=dict)
    frequency_tier: dict = dataclasses.field(default_factory=lambda: {"method": "quantile", "quantiles": (0.5, 0.8),
                                                                      "thresholds": None})
    monetary_tier: dict = dataclasses.field(default_factory=lambda: {"method": "quantile", "quantiles": (0.5, 0.8),
                                                                     "thresholds": None})
    k: int | None = None
    k_range: tuple[int, int] = (2, 8)
    cluster: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_params(cls, params, k: int | None = None) -> "TuningSettings":
        """The settings a run's params give (`segkit.load_params`); `k` the clusters to start from
        (default: cluster.k when cluster.k_rule is fixed, else None)."""
        c, rfm = params.cluster, params.rfm
        return cls(bins=rfm.bins, method=rfm.method,
                   cuts={f: list(v) for f, v in rfm.cuts.items()} if rfm.cuts else None,
                   percentiles={f: list(v) for f, v in rfm.percentiles.items()} if rfm.percentiles else None,
                   ties=rfm.ties, max_tied_share=rfm.max_tied_share, segment_map=rfm.segment_map,
                   custom_maps=dict(rfm.custom_maps),
                   frequency_tier=params.tiers.frequency.model_dump(), monetary_tier=params.tiers.monetary.model_dump(),
                   k=k if k is not None else (c.k if c.k_rule == "fixed" else None), k_range=(c.k_min, c.k_max),
                   cluster={"columns": tuple(c.features), "method": c.method, "random_state": c.random_state,
                            "sample_size": c.sample_size, "sample_threshold": c.sample_threshold,
                            "sweep_sample": c.sweep_sample, "ward_sample": c.ward_sample, "log": c.preprocess.log,
                            "cap": c.preprocess.cap, "scaling": c.preprocess.scaling,
                            "categorical": tuple(c.categorical)})

    def replace(self, **changes) -> "TuningSettings":
        """A copy with `changes` (the settings are frozen)."""
        return dataclasses.replace(self, **changes)

    def params_values(self, parts=PARTS) -> dict[str, Any]:
        """The params keys (dotted) these settings set, for the `parts` tuned: rfm.bins, rfm.method,
        rfm.cuts (method fixed); tiers.frequency.method/quantiles/thresholds and the same for monetary;
        cluster.k_rule fixed with cluster.k (when k is set). Values as YAML writes them (lists)."""
        values: dict[str, Any] = {}
        if "rfm" in parts:
            values.update({"rfm.bins": int(self.bins), "rfm.method": self.method})
            if self.method == "fixed":
                values["rfm.cuts"] = {f: [_number(v) for v in self.cuts[f]] for f in RFM_COLUMNS}
        if "tiers" in parts:
            for name, tier in (("frequency", self.frequency_tier), ("monetary", self.monetary_tier)):
                values[f"tiers.{name}.method"] = tier["method"]
                values[f"tiers.{name}.quantiles"] = [_number(q) for q in tier["quantiles"]]
                if tier.get("thresholds") is not None:
                    values[f"tiers.{name}.thresholds"] = [_number(v) for v in tier["thresholds"]]
        if "cluster" in parts and self.k is not None:
            values.update({"cluster.k_rule": "fixed", "cluster.k": int(self.k)})
        return values

    def check(self, parts=PARTS, origin: str = "tuning panel") -> None:
        """Raise ParamsError (naming the key and what is allowed) when the settings of `parts` are not
        valid params: the same checks as the params loader (e.g. cut points strictly increasing,
        tier quantiles two increasing fractions, k from cluster.k_min to cluster.k_max)."""
        from segkit.params import validate_params

        raw: dict = {"cluster": {"k_min": int(self.k_range[0]), "k_max": int(self.k_range[1])}}
        if self.percentiles:
            raw["rfm"] = {"percentiles": copy.deepcopy(self.percentiles)}
        if self.method == "fixed" and "rfm" in parts:
            missing = [f for f in RFM_COLUMNS if not (self.cuts or {}).get(f)]
            if missing:
                raise ParamsError(f"{origin}: rfm.method fixed needs cut points for {', '.join(missing)} "
                                  "(e.g. recency_days: 30, 90, 180, 365)")
        for dotted, value in self.params_values(parts).items():
            _set(raw, dotted, value)
        validate_params(raw, origin=origin)


def _number(value) -> int | float:
    """A plain int or float for YAML (never a NumPy scalar)."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _set(tree: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value


def _value_at(tree: dict, dotted: str):
    node: Any = tree
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def parse_cuts(text: str, column: str) -> list[float]:
    """Cut points typed by an analyst ("30, 90, 180" or "30 90 180") as numbers; ParamsError naming
    rfm.cuts.<column> otherwise.

    >>> parse_cuts("30, 90,180", "recency_days")
    [30.0, 90.0, 180.0]
    """
    parts = [p for p in re.split(r"[,;\s，；]+", str(text).strip()) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ParamsError(f"rfm.cuts.{column}: {str(text)[:60]!r} is not a list of numbers; write the cut points "
                          "separated by commas, e.g. 30, 90, 180") from None
    if not values or not all(np.isfinite(values)):
        raise ParamsError(f"rfm.cuts.{column}: give at least one finite cut point, e.g. 30, 90, 180")
    return values


def _share_table(view: str, codes: pd.Series, order, labels: dict, revenue: pd.Series) -> pd.DataFrame:
    """One row per group in `order`: customers, revenue and their shares (revenue NaN when no
    customer has one)."""
    frame = pd.DataFrame({"code": codes.to_numpy(), "revenue": revenue.to_numpy(dtype=float)})
    grouped = frame.groupby("code", sort=False)
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum(min_count=1)}).reindex(order)
    table["customers"] = table["customers"].fillna(0).astype(int)
    table["customer_share"] = table["customers"] / max(int(table["customers"].sum()), 1)
    total = table["revenue"].sum(min_count=1)
    table["revenue"] = table["revenue"].fillna(0.0) if pd.notna(total) else np.nan
    table["revenue_share"] = table["revenue"] / total if pd.notna(total) and total > 0 else np.nan
    table = table.reset_index(names="code")
    table["group"] = [labels.get(c, str(c)) for c in table["code"]]
    table["view"] = view
    table["code"] = table["code"].astype(str)
    return table[TABLE_COLUMNS]


def _segment_view(features: pd.DataFrame, s: TuningSettings, lang: str) -> tuple[pd.DataFrame, Any]:
    from segkit.classify.rfm import RFMScorer, assign_grid_segments, grid_for

    scorer = RFMScorer(s.bins, method=s.method, ties=s.ties, cuts=s.cuts, percentiles=s.percentiles,
                       max_tied_share=s.max_tied_share).fit(features)
    grid = grid_for(s.segment_map, scorer.unusable_, custom=s.custom_maps)
    scores = scorer.transform(features)
    codes = assign_grid_segments(scores, grid, scorer.max_score_, scorer.unusable_)
    return _share_table("segment", codes, grid.codes, grid.labels(lang), features["revenue"]), scorer


def _tier_view(features: pd.DataFrame, name: str, column: str, tier: dict, lang: str) -> pd.DataFrame:
    from segkit.classify.value import tiers

    codes = tiers(features[column], **tier)
    labels = {level: t(f"tier.{name}.{level}", lang) for level in TIER_LEVELS}
    return _share_table(f"{name}_tier", codes, TIER_LEVELS, labels, features["revenue"])


def _cluster_view(features: pd.DataFrame, s: TuningSettings, lang: str) -> tuple[pd.DataFrame, dict | None]:
    """The clusters at k = s.k (k_rule fixed; the gap statistic is not needed, so its reference sets
    are the fewest the clusterer takes), or an empty table and the reason clustering cannot run."""
    from segkit.models.cluster import cluster_stage

    options = dict(s.cluster)
    options["sample_size"] = min(int(options.get("sample_size", 2_000)), 2_000)  # silhouette: not shown here
    stage = cluster_stage(features, lang, k_min=s.k, k_max=s.k, k_rule="fixed", k=s.k, n_references=2, **options)
    if stage.skipped:
        return pd.DataFrame(columns=TABLE_COLUMNS), stage.skipped
    named = stage.profile
    labels = dict(zip(named["cluster"].astype(str), named["name"]))
    codes = pd.Series(stage.clusterer.labels_).astype(str)
    order = [str(c) for c in named["cluster"]]
    return _share_table("cluster", codes, order, labels, features["revenue"]), None


def tuning_tables(features: pd.DataFrame, settings: TuningSettings, lang: str = "en",
                  views=("segment", "frequency_tier", "monetary_tier", "cluster")) -> pd.DataFrame:
    """Group sizes and revenue shares under `settings`, one row per group of each view.

    `features`: one row per customer with customer_id, recency_days (days), orders (count) and
    revenue (money), plus the clustering columns for the cluster view. `views`: "segment" (the RFM
    grid segments of `settings.segment_map`, or rm6 when F cannot discriminate: `grid_for`),
    "frequency_tier" (tiers of orders), "monetary_tier" (tiers of revenue) and "cluster" (the
    clusters at `settings.k`, named from their members; skipped when k is None).
    Returns columns view, code (segment code, tier level or cluster number, as text), group (its
    name in `lang`), customers, customer_share (0..1), revenue, revenue_share (0..1; NaN without
    revenue). Groups nobody falls in are listed with 0. Raises ParamsError when the settings are not
    valid params (`TuningSettings.check`), DataError when the features lack a column. Methods: RFM
    scoring (Hughes 1994, Strategic Database Marketing) as `RFMScorer`; clustering as `segkit.models.cluster` (k fixed).

    >>> from segkit.datasets import generate_retail
    >>> from segkit.features import customer_features
    >>> from segkit.intake.sources import connect
    >>> tx = generate_retail(customers=200, seed=1).transactions
    >>> features = customer_features(connect(), tx, tx["ordered_at"].max().date())
    >>> tables = tuning_tables(features, TuningSettings(bins=3), views=("segment", "monetary_tier"))
    >>> tables.groupby("view")["customers"].sum().tolist()
    [200, 200]
    """
    from segkit.errors import DataError

    unknown = [v for v in views if v not in ("segment", "frequency_tier", "monetary_tier", "cluster")]
    if unknown:
        raise ValueError(f"views must be among segment, frequency_tier, monetary_tier, cluster, got {unknown}")
    missing = [c for c in ("customer_id", *RFM_COLUMNS) if c not in features.columns]
    if missing:
        raise DataError(f"features lack column(s) {', '.join(missing)}; pass the run's `features` stage")
    parts = {p for p, names in VIEWS.items() if set(names) & set(views)}
    settings.check(parts)
    frames = []
    for view in views:
        if view == "segment":
            frames.append(_segment_view(features, settings, lang)[0])
        elif view == "frequency_tier":
            frames.append(_tier_view(features, "frequency", "orders", settings.frequency_tier, lang))
        elif view == "monetary_tier":
            frames.append(_tier_view(features, "monetary", "revenue", settings.monetary_tier, lang))
        elif settings.k is not None:
            frames.append(_cluster_view(features, settings, lang)[0])
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLE_COLUMNS)


def next_free_path(params_path: str | os.PathLike, suffix: str = "tuned") -> Path:
    """Where to save tuned params by default: beside the original, `<name>.tuned.yaml`, or
    `<name>.tuned-2.yaml`, ... when that exists."""
    original = Path(params_path)
    candidate = original.with_name(f"{original.stem}.{suffix}.yaml")
    number = 2
    while candidate.exists():
        candidate = original.with_name(f"{original.stem}.{suffix}-{number}.yaml")
        number += 1
    return candidate


def write_tuned_params(params_path: str | os.PathLike, settings: TuningSettings, target: str | os.PathLike,
                       parts=PARTS, overwrite: bool = False) -> Path:
    """Write a NEW params file `target`: every key of the original file `params_path` as it is, with
    the tuned keys of `parts` (`TuningSettings.params_values`) set where they differ from the
    original; a comment at the top says which keys changed. The result is checked with the params
    loader before anything is written, so `segkit.load_params(target)` reads it back.

    Raises ParamsError when `target` is the original file (it is never edited in place), when it
    exists and `overwrite` is False, when its folder does not exist, or when the tuned values are
    not valid params. Returns the path written. YAML written with yaml.safe_dump (the original's
    comments are not carried over; its keys and values are)."""
    from segkit.params import load_yaml, read_params_text, validate_params

    original, target = Path(params_path), Path(target)
    if target.suffix.lower() not in (".yaml", ".yml"):
        raise ParamsError(f"{target}: a params file ends in .yaml; give a name such as {next_free_path(original)}")
    if target.resolve() == original.resolve():
        raise ParamsError(f"{target}: is the original params file, which the tuning panel never edits in place; "
                          f"give a new name, e.g. {next_free_path(original)}")
    if target.exists() and not overwrite:
        raise ParamsError(f"{target}: already exists; give a new name (e.g. {next_free_path(original)}) "
                          "or pass overwrite=True to replace it")
    if not target.parent.is_dir():
        raise ParamsError(f"{target}: the folder {target.parent} does not exist; save beside the original "
                          f"({original.parent}) or create the folder first")
    settings.check(parts, origin=str(target))
    raw = load_yaml(read_params_text(original), origin=str(original))
    if not isinstance(raw, dict):
        raise ParamsError(f"{original}: the top level must be a mapping of keys")
    raw = _unshared(raw)  # a YAML alias (*name) shares one value: a change must not reach its other places
    before = validate_params(copy.deepcopy(raw), origin=str(original)).model_dump(mode="json", by_alias=True)
    changed = []
    for dotted, value in settings.params_values(parts).items():
        old = _value_at(before, dotted)
        if old != value:  # only what the analyst changed: the rest of the file stays as written
            _set(raw, dotted, value)
            changed.append(f"{dotted}: {_short(old)} -> {_short(value)}")
    validate_params(copy.deepcopy(raw), origin=str(target))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [f"# Written by the segkit tuning panel from {original.name} on {stamp}."]
    header += ["# Changed: " + line for line in changed] or ["# No tuned value differs from the original."]
    text = "\n".join(header) + "\n" + yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    try:
        with target.open("w" if overwrite else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise ParamsError(f"{target}: already exists; give a new name or pass overwrite=True") from None
    except OSError as err:
        raise ParamsError(f"{target}: cannot be written ({err.strerror or type(err).__name__}); "
                          "check that you may write in that folder") from None
    return target


def _unshared(node):
    """A copy of a YAML document in which no mapping or list is shared by two places."""
    if isinstance(node, dict):
        return {key: _unshared(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_unshared(value) for value in node]
    return node


def _short(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().removesuffix("...").strip()
    return text if len(text) <= 80 else text[:79] + "…"


def _bundle(shown) -> dict:
    """A display_data output for an Output widget: a Styler/Rendered as HTML, a figure as PNG."""
    if hasattr(shown, "savefig"):
        buffer = io.BytesIO()
        shown.savefig(buffer, format="png", dpi=80)
        return {"output_type": "display_data", "metadata": {},
                "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": "<figure>"}}
    markup = shown.to_html() if hasattr(shown, "to_html") else str(shown)
    return {"output_type": "display_data", "metadata": {}, "data": {"text/html": markup, "text/plain": ""}}


class TuningPanel:
    """An interactive panel (ipywidgets) over `tuning_tables`: the controls of `parts` ("rfm": method,
    bins and the fixed cut points of recency_days, orders, revenue; "tiers": the frequency and monetary
    tier quantiles; "cluster": k from cluster.k_min to cluster.k_max), one table and one bar chart of
    customer and revenue shares per view in an Output widget, redrawn on every change, and a path,
    an "overwrite" box and a save button that write a NEW params file (`write_tuned_params`).

    `features`: the run's per-customer features stage; `params_path` (and `overrides`) the params the
    notebook ran with; `k` the clusters to start from (e.g. the k the run chose). Set a control's
    `.value` from code and the tables follow (`tables`, one frame as `tuning_tables` gives);
    `save(path)` saves without the button. A setting that is not valid params (cut points not
    increasing) is shown as one message in `status` and leaves the tables as they were.
    Raises NotebookExtraMissing (a SegkitError) without ipywidgets, ParamsError for bad params.
    """

    def __init__(self, features: pd.DataFrame, params_path: str | os.PathLike, overrides=(), parts=PARTS,
                 k: int | None = None, lang: str | None = None):
        from segkit.params import load_params

        widgets = _widgets()
        unknown = [p for p in parts if p not in PARTS]
        if unknown or not parts:
            raise ValueError(f"parts must be some of {', '.join(PARTS)}, got {list(parts)}")
        self.features = features
        self.params_path = Path(params_path)
        self.params = load_params(self.params_path, list(overrides or []))
        self.parts = tuple(parts)
        self.lang = lang or self.params.lang
        from segkit.report.plots import use_language

        use_language(self.lang)  # the charts' fonts (a CJK font for zh), as the notebooks' first cell does
        self.settings = TuningSettings.from_params(self.params, k)
        if "cluster" in self.parts and self.settings.k is None:
            low, high = self.settings.k_range
            self.settings = self.settings.replace(k=(low + high) // 2)
        self.views = tuple(v for p in self.parts for v in VIEWS[p])
        if self.settings.k is not None:
            low, high = self.settings.k_range
            self.settings = self.settings.replace(k=min(max(self.settings.k, low), high))
        self._tables: dict[str, pd.DataFrame] = {}
        self._drawn: dict[str, tuple] = {}
        self.controls: dict[str, Any] = {}
        self._quiet = False
        self._build(widgets)
        self.refresh()

    # -- widgets --
    def _build(self, widgets) -> None:
        lang, s = self.lang, self.settings
        rows = []
        if "rfm" in self.parts:
            methods = ["quantile", "fixed"] + (["percentile"] if s.percentiles else [])
            self.controls["method"] = widgets.Dropdown(
                options=[(t(f"tuning.rfm.method.{m}", lang), m) for m in methods],
                value=s.method if s.method in methods else "quantile", description=t("tuning.rfm.method", lang))
            self.controls["bins"] = widgets.IntSlider(value=s.bins, min=2, max=10, step=1, continuous_update=False,
                                                      description=t("tuning.rfm.bins", lang))
            for column in RFM_COLUMNS:
                cuts = (s.cuts or {}).get(column)
                self.controls[f"cuts.{column}"] = widgets.Text(
                    value=", ".join(f"{_number(v):g}" for v in cuts) if cuts else "", continuous_update=False,
                    description=t(f"col.{column}", lang), placeholder="30, 90, 180")
            rows.append(widgets.HBox([self.controls["method"], self.controls["bins"]]))
            rows.append(widgets.HBox([self.controls[f"cuts.{c}"] for c in RFM_COLUMNS]))
        if "tiers" in self.parts:
            for name, tier in (("frequency", s.frequency_tier), ("monetary", s.monetary_tier)):
                self.controls[f"tiers.{name}"] = widgets.FloatRangeSlider(
                    value=tuple(tier["quantiles"]), min=0.01, max=0.99, step=0.01, continuous_update=False,
                    readout_format=".2f", description=t(f"tuning.tiers.{name}", lang))
            rows.append(widgets.HBox([self.controls["tiers.frequency"], self.controls["tiers.monetary"]]))
        if "cluster" in self.parts:
            low, high = s.k_range
            self.controls["k"] = widgets.IntSlider(value=s.k, min=low, max=high, step=1,
                                                   continuous_update=False, description=t("tuning.cluster.k", lang))
            rows.append(self.controls["k"])
        for control in self.controls.values():
            control.style.description_width = "initial"  # labels in full (Chinese ones too)
            control.observe(self._changed, names="value")
        self._bins_in_use()
        self.path = widgets.Text(value=str(next_free_path(self.params_path)), description=t("tuning.save.path", lang),
                                 layout=widgets.Layout(width="60%"))
        self.overwrite = widgets.Checkbox(value=False, description=t("tuning.save.overwrite", lang))
        self.save_button = widgets.Button(description=t("tuning.save.button", lang), icon="save")
        self.save_button.on_click(lambda _: self._save_clicked())
        self.status = widgets.HTML(value="")
        self.output = widgets.Output()
        rows += [widgets.HBox([self.path, self.overwrite, self.save_button]), self.status, self.output]
        self.widget = widgets.VBox(rows)

    def _repr_mimebundle_(self, **kwargs):
        # a notebook cell that ends with the panel shows its widgets
        return self.widget._repr_mimebundle_(**kwargs)

    # -- computing --
    def _settings_from_controls(self) -> tuple[TuningSettings, set[str]]:
        """The settings the controls show, and the views they change."""
        s, c, changed = self.settings, self.controls, set()
        if "rfm" in self.parts:
            method = c["method"].value
            cuts = {col: parse_cuts(c[f"cuts.{col}"].value, col) for col in RFM_COLUMNS} if method == "fixed" \
                else s.cuts
            new = s.replace(method=method, bins=int(c["bins"].value), cuts=cuts)
            if new != s:
                changed.add("segment")
            s = new
        if "tiers" in self.parts:
            for name in ("frequency", "monetary"):
                old = getattr(s, f"{name}_tier")
                quantiles = tuple(round(float(q), 4) for q in c[f"tiers.{name}"].value)
                if tuple(old["quantiles"]) != quantiles:
                    # moving the slider asks for quantile tiers (a threshold tier becomes one)
                    s = s.replace(**{f"{name}_tier": {**old, "method": "quantile", "quantiles": quantiles}})
                    changed.add(f"{name}_tier")
        if "cluster" in self.parts and int(c["k"].value) != s.k:
            s = s.replace(k=int(c["k"].value))
            changed.add("cluster")
        return s, changed

    def _changed(self, _change=None) -> None:
        if self._quiet:
            return
        self._bins_in_use()
        previous = self.settings
        try:
            settings, views = self._settings_from_controls()
            settings.check(self.parts)
            self.settings = settings
            self.refresh(views)
        except (SegkitError, ValueError) as err:  # ValueError: what the scorer or clusterer refuses, e.g.
            self.settings = previous              # ties rank with fixed cut points; the tables stay as shown
            self.status.value = _escape(str(err))

    def _bins_in_use(self) -> None:
        # the number of scores is what quantile scoring splits into; cut points set their own
        if "method" in self.controls:
            self.controls["bins"].disabled = self.controls["method"].value != "quantile"

    def _show_learned_cuts(self, scorer) -> None:
        """While the method is not fixed, the cut point fields show the cut points the scoring learned,
        so that switching to fixed starts from the segments on screen."""
        if "method" not in self.controls or self.controls["method"].value == "fixed":
            return
        self._quiet = True
        try:
            for dim, column in (("r", "recency_days"), ("f", "orders"), ("m", "revenue")):
                self.controls[f"cuts.{column}"].value = ", ".join(f"{_number(round(float(v), 2)):g}"
                                                                  for v in sorted(set(scorer.cuts_[dim])))
        finally:
            self._quiet = False

    def refresh(self, views=None) -> pd.DataFrame:
        """Recompute `views` (default: all of the panel's) and redraw; returns `tables`."""
        from segkit.report.html import say, table
        from segkit.report.plots import share_bars
        from segkit.report.tables import cluster_skip_text

        views = self.views if views is None else [v for v in self.views if v in views]
        computed, notes, scorer = {}, [], None
        for view in views:  # all computed before any is shown: a failure leaves the panel as it was
            if view == "segment":
                computed[view], scorer = _segment_view(self.features, self.settings, self.lang)
            elif view == "cluster":
                computed[view], skipped = _cluster_view(self.features, self.settings, self.lang)
                if skipped:
                    notes.append(cluster_skip_text(skipped, self.lang))
            else:
                name, column = ("frequency", "orders") if view == "frequency_tier" else ("monetary", "revenue")
                computed[view] = _tier_view(self.features, name, column, getattr(self.settings, f"{name}_tier"),
                                            self.lang)
        self._tables.update(computed)
        if scorer is not None:
            self._show_learned_cuts(scorer)
        self.status.value = _escape(" ".join(notes))
        for view in views:  # only the views that changed are drawn again
            frame = self._tables[view]
            shown = frame.rename(columns={"group": VIEW_COLUMN[view]})
            self._drawn[view] = () if frame.empty else (
                _bundle(say(f"tuning.view.{view}", self.lang)),
                _bundle(table(shown.drop(columns=["view", "code"]), self.lang, currency=self.params.currency)),
                _bundle(share_bars(shown, VIEW_COLUMN[view], self.lang, f"tuning.view.{view}")))
        self.output.outputs = tuple(bundle for view in self.views for bundle in self._drawn.get(view, ()))
        return self.tables

    @property
    def tables(self) -> pd.DataFrame:
        """The views as shown now, one frame (the columns of `tuning_tables`)."""
        frames = [self._tables[v] for v in self.views if v in self._tables and not self._tables[v].empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLE_COLUMNS)

    # -- saving --
    def save(self, path: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
        """Write the chosen values into a NEW params file (`write_tuned_params`; default path: the
        panel's path field) and return its path."""
        target = Path(path) if path is not None else Path(self.path.value)
        written = write_tuned_params(self.params_path, self.settings, target, self.parts, overwrite=overwrite)
        if Path(self.path.value) == written:  # the next save goes to a new name by default
            self.path.value = str(next_free_path(self.params_path))
        return written

    def _save_clicked(self) -> None:
        from segkit.report.html import say

        try:
            written = self.save(self.path.value, overwrite=self.overwrite.value)
        except SegkitError as err:
            self.status.value = _escape(str(err))
            return
        self.status.value = say("tuning.saved", self.lang, path=str(written)).markup


VIEW_COLUMN = {"segment": "segment", "frequency_tier": "frequency_tier", "monetary_tier": "monetary_tier",
               "cluster": "name"}


def _escape(text: str) -> str:
    from segkit.report.html import escape

    return escape(text)


def tuning_panel(features: pd.DataFrame, params_path: str | os.PathLike, overrides=(), parts=PARTS,
                 k: int | None = None, interactive: bool | None = None):
    """The tuning panel for a notebook's last cell: a `TuningPanel` in an interactive Jupyter session,
    None in a batch run (papermill, `segkit report`: nothing is computed or shown, so the report is
    unaffected). `interactive` None asks `is_interactive()`; True forces the panel (e.g. VS Code, whose
    kernels do not carry JPY_SESSION_NAME). Without ipywidgets, an interactive session gets one
    sentence saying to `pip install segkit[notebook]` (and the constructor's NotebookExtraMissing
    when called directly). Arguments as `TuningPanel`."""
    from segkit.params import load_params
    from segkit.report.html import say

    if not (is_interactive() if interactive is None else interactive):
        return None
    try:
        return TuningPanel(features, params_path, overrides, parts=parts, k=k)
    except NotebookExtraMissing:
        return say("tuning.needs_extra", load_params(params_path, list(overrides or [])).lang, command=INSTALL_HINT)
