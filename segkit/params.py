"""Typed run parameters, loaded from YAML and checked before any work starts.

`load_params("params/demo.yaml", overrides=["rfm.bins=4"])` returns a `Params` object. Any unknown
key, wrong type or value out of range raises `ParamsError` naming the file, the dotted key, what is
allowed and what was given (with a "did you mean" for misspelt keys).
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from segkit.errors import ParamsError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemoSource(_Model):
    customers: int = Field(4000, ge=10, le=5_000_000)
    start: dt.date = dt.date(2024, 1, 1)
    months: int = Field(24, ge=3, le=120)
    seed: int = 42
    defects: float = Field(0.01, ge=0, le=0.5)


def _one_to_one(columns: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for canonical, theirs in columns.items():
        if theirs in seen:
            raise ValueError(
                f'column "{theirs}" is mapped twice (to {seen[theirs]} and to {canonical}); '
                "each input column can feed one segkit column"
            )
        seen[theirs] = canonical


class FileTable(_Model):
    """A table in a file. `columns` maps segkit's names to the file's (e.g. customer_id: 客户ID).

    `encoding` None means: try UTF-8 (with or without BOM), then GB18030 (which reads GBK).
    `header_row` is the 1-based line (CSV/TSV) or sheet row (Excel) that holds the column names,
    for exports with a title above the table. `sheet` names an Excel sheet (default: the first);
    `table` names the table in a DuckDB file.
    """

    path: str
    format: Literal["csv", "tsv", "excel", "parquet", "duckdb"] | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    encoding: str | None = None
    header_row: int = Field(1, ge=1, le=1000)
    sheet: str | None = None
    table: str | None = None

    @model_validator(mode="after")
    def _map_is_one_to_one(self) -> "FileTable":
        _one_to_one(self.columns)
        if self.encoding is not None:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"encoding {self.encoding!r} is not known; use e.g. utf-8, utf-8-sig, gbk "
                                 "or gb18030, or leave it out to detect") from None
        return self


class DatabaseTable(_Model):
    """A customers or surveys table in the database, with its column map."""

    table: str
    columns: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _map_is_one_to_one(self) -> "DatabaseTable":
        _one_to_one(self.columns)
        return self


class Database(_Model):
    """A database read in place. The password never sits here: `password_env` names the variable."""

    url: str
    password_env: str | None = None
    table: str = "transactions"
    columns: dict[str, str] = Field(default_factory=dict)
    customers: DatabaseTable | None = None
    surveys: DatabaseTable | None = None

    @model_validator(mode="after")
    def _no_password_in_url(self) -> "Database":
        parts = urlsplit(self.url)
        if parts.password or re.search(r"(^|&)password=", parts.query, re.I):
            raise ValueError(
                "the url holds a password; remove it and name an environment variable in "
                "password_env (e.g. password_env: SEGKIT_DB_PASSWORD)"
            )
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"url must start with postgresql:// (PostgreSQL is the database segkit reads), "
                             f"got {parts.scheme or 'no scheme'}://")
        _one_to_one(self.columns)
        return self

    def password(self) -> str | None:
        """The password from the environment variable named in `password_env` (never logged or stored)."""
        if not self.password_env:
            return None
        password = os.environ.get(self.password_env)
        if password is None:
            raise ParamsError(
                f"source.database.password_env names {self.password_env}, which is not set: "
                f"export {self.password_env}=... before the run"
            )
        return password

    def connection_args(self) -> dict[str, Any]:
        """Keyword arguments for a PostgreSQL connection: host, port, user, database and password."""
        parts = urlsplit(self.url)
        args = {"host": parts.hostname or "localhost", "port": parts.port or 5432,
                "user": parts.username, "database": parts.path.lstrip("/") or None,
                "password": self.password()}
        return {k: v for k, v in args.items() if v is not None}

    def resolved_url(self) -> str:
        """The url with the password from the environment filled in (never logged or stored)."""
        password = self.password()
        if password is None:
            return self.url
        parts = urlsplit(self.url)
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{user}:{password}@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Source(_Model):
    kind: Literal["demo", "cdnow", "file", "database"] = "demo"
    demo: DemoSource = DemoSource()
    transactions: FileTable | None = None
    customers: FileTable | None = None
    surveys: FileTable | None = None
    database: Database | None = None

    @model_validator(mode="after")
    def _kind_has_its_settings(self) -> "Source":
        if self.kind == "file" and self.transactions is None:
            raise ValueError("kind 'file' needs source.transactions: {path: ..., columns: {...}}")
        if self.kind == "database" and self.database is None:
            raise ValueError("kind 'database' needs source.database: {url: ..., table: ...}")
        return self


class Fill(_Model):
    """Values for missing optional fields; each filled row is counted as fixed (filled_<field>)."""

    category: str | None = None
    channel: str | None = None
    product: str | None = None
    quantity: float | None = None


class Returns(_Model):
    """How cancellations and returns are marked, and what to do with them.

    Marked by an order-id prefix (`order_prefix: C`), by a status column mapped as `status` with the
    values that mean a return (`status_values: [cancelled, returned]`), or by a negative quantity.
    `net`: the line is used with a negative amount, under the original order number, so that it
    nets against the purchase; `drop`: the line is set aside (rule `return`).
    """

    order_prefix: str | None = Field(None, min_length=1)
    status_values: list[str] = Field(default_factory=list)
    negative_quantity: bool = False
    action: Literal["net", "drop"] = "net"


class Outliers(_Model):
    """Amount outliers: beyond the `threshold` quantile (e.g. 0.999), or a robust z-score
    (|x - median| / (1.4826 MAD)) above `threshold` (e.g. 3.5); flagged, capped or set aside."""

    method: Literal["none", "quantile", "robust_z"] = "none"
    threshold: float | None = Field(None, gt=0)
    action: Literal["flag", "cap", "set_aside"] = "flag"

    @model_validator(mode="after")
    def _threshold_fits_method(self) -> "Outliers":
        if self.method == "quantile" and self.threshold is not None and not 0.5 < self.threshold < 1:
            raise ValueError(f"threshold={self.threshold} must be a quantile between 0.5 and 1 for method quantile, "
                             "e.g. 0.999")
        return self

    @property
    def cut(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return 0.999 if self.method == "quantile" else 3.5


class Cleaning(_Model):
    max_amount: float = Field(1e12, gt=0, le=1e15)  # a line above this is set aside as implausible
    duplicates: Literal["drop", "keep"] = "drop"
    duplicate_order_lines: Literal["drop", "keep"] = "drop"
    non_positive_amount: Literal["set_aside", "keep"] = "set_aside"
    decimal: Literal[".", ","] = "."
    day_first: bool | None = None
    start_date: dt.date | None = None
    non_product: list[str] = Field(default_factory=list)
    fill: Fill = Fill()
    returns: Returns = Returns()
    outliers: Outliers = Outliers()


RFMFeature = Literal["recency_days", "orders", "revenue"]


class RFM(_Model):
    """How R, F and M are scored and which segment maps turn scores into segments."""

    bins: int = Field(5, ge=2, le=10)
    method: Literal["quantile", "fixed", "percentile"] = "quantile"
    ties: Literal["merge", "rank"] = "merge"
    cuts: dict[RFMFeature, list[float]] | None = None  # method fixed: cut points in the feature's units
    percentiles: dict[RFMFeature, list[float]] | None = None  # method percentile: levels in (0, 100)
    segment_map: str = "rfm11"
    class_map: str = "cn8"
    class_basis: Literal["map", "mean", "median", "threshold"] = "map"
    class_thresholds: dict[RFMFeature, float] | None = None  # class_basis threshold
    custom_maps: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _method_has_its_numbers(self) -> "RFM":
        dims = ["recency_days", "orders", "revenue"]
        for method, table in (("fixed", self.cuts), ("percentile", self.percentiles)):
            key = "cuts" if method == "fixed" else "percentiles"
            if self.method != method:
                continue
            missing = [d for d in dims if not table or d not in table]
            if missing:
                raise ValueError(f"method {method} needs {key} for {', '.join(missing)}, "
                                 f"e.g. {key}: {{recency_days: [30, 90, 180, 365], ...}}")
            for dim, values in table.items():
                if not values or any(b <= a for a, b in zip(values, values[1:])):
                    raise ValueError(f"{key}.{dim} must be a non-empty, strictly increasing list, got {values}")
                if len(values) > 9:
                    raise ValueError(f"{key}.{dim} gives {len(values) + 1} scores; at most 10 are allowed")
                if method == "percentile" and not all(0 < v < 100 for v in values):
                    raise ValueError(f"percentiles.{dim} must lie strictly between 0 and 100, got {values}")
        if self.class_basis == "threshold" and (not self.class_thresholds or set(self.class_thresholds) != set(dims)):
            raise ValueError("class_basis threshold needs class_thresholds for recency_days, orders and revenue")
        return self


class Cluster(_Model):
    k_min: int = Field(2, ge=2, le=20)
    k_max: int = Field(8, ge=2, le=20)
    sample_size: int = Field(10_000, ge=100)
    random_state: int = 42

    @model_validator(mode="after")
    def _range(self) -> "Cluster":
        if self.k_min > self.k_max:
            raise ValueError(f"k_min={self.k_min} must be <= k_max={self.k_max}")
        return self


class Evaluate(_Model):
    tree_depth: int = Field(3, ge=1, le=8)
    test_size: float = Field(0.3, gt=0.05, lt=0.9)
    random_state: int = 42


class CaseStudy(_Model):
    top_share: float = Field(0.2, gt=0, lt=1)


class Tier(_Model):
    """Three tiers (low / mid / high) by quantiles of the customers or by fixed thresholds."""

    method: Literal["quantile", "threshold"] = "quantile"
    quantiles: tuple[float, float] = (0.5, 0.8)
    thresholds: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Tier":
        low, high = self.quantiles
        if not 0 < low < high < 1:
            raise ValueError(f"quantiles must be two increasing fractions between 0 and 1, got {list(self.quantiles)}")
        if self.method == "threshold":
            if self.thresholds is None or not self.thresholds[0] < self.thresholds[1]:
                raise ValueError(f"method threshold needs two increasing thresholds, got {self.thresholds}")
        return self


class Tiers(_Model):
    frequency: Tier = Tier()
    monetary: Tier = Tier()  # on revenue so far: the historical lifetime value
    abc: tuple[float, float] = (0.8, 0.95)  # cumulative revenue share that closes class A, then B

    @model_validator(mode="after")
    def _abc(self) -> "Tiers":
        if not 0 < self.abc[0] < self.abc[1] < 1:
            raise ValueError(f"abc must be two increasing revenue shares between 0 and 1, got {list(self.abc)}")
        return self


class Features(_Model):
    activity_days: int = Field(90, ge=1, le=3650)  # "active": orders in the last N days


Criterion = Literal["frequency", "amount", "interval", "satisfaction", "potential", "loyalty", "activity"]


class Ranking(_Model):
    """The composite ranking (客户群排序): weights over criteria, normalised to sum to 1."""

    weights: dict[Criterion, float] = Field(default_factory=lambda: {
        "frequency": 0.25, "amount": 0.3, "interval": 0.1, "satisfaction": 0.1, "loyalty": 0.1, "activity": 0.15})
    top_n: int = Field(20, ge=1, le=1000)

    @model_validator(mode="after")
    def _weights(self) -> "Ranking":
        negative = {k: v for k, v in self.weights.items() if v < 0}
        if negative:
            raise ValueError(f"weights must be >= 0, got {negative}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("at least one weight must be > 0")
        return self


class Satisfaction(_Model):
    """Survey score bands: score >= very_satisfied is very satisfied, >= satisfied is satisfied."""

    very_satisfied: float = 5
    satisfied: float = 4

    @model_validator(mode="after")
    def _bands(self) -> "Satisfaction":
        if self.satisfied > self.very_satisfied:
            raise ValueError(f"satisfied={self.satisfied} must be <= very_satisfied={self.very_satisfied}")
        return self


class Tag(_Model):
    """A customer tag: `when` is an expression over customer features, e.g. "categories >= 3"."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    en: str
    zh: str
    when: str


DEFAULT_TAGS = (
    Tag(name="high_value", en="High value", zh="高价值客户", when="monetary_tier == 'high'"),
    Tag(name="frequent", en="Frequent buyer", zh="高频客户", when="frequency_tier == 'high'"),
    Tag(name="multi_category", en="Multi-category", zh="多品类客户", when="categories >= 3"),
    Tag(name="unsatisfied", en="Unsatisfied", zh="不满意客户", when="satisfaction == 'unsatisfied'"),
    Tag(name="promoter", en="Promoter", zh="推荐者", when="nps >= 9"),
    Tag(name="organisation", en="Enterprise or government", zh="企业或政府客户",
        when="customer_type in ['enterprise', 'government']"),
    Tag(name="lapsing_valuable", en="Valuable but lapsing", zh="高价值但趋于流失",
        when="monetary_tier == 'high' and recency_days > 180"),
)


class Currency(_Model):
    """How money is shown and how exact it is: amounts are kept exact to the minor unit (cents, fen).

    `code` is the ISO 4217 code (e.g. CNY, GBP, USD), `symbol` what the report puts before an
    amount (e.g. ¥, £), `minor_unit` the number of decimals of the currency (2 for most, 0 for JPY).
    """

    code: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    symbol: str = Field("", max_length=8)
    minor_unit: int = Field(2, ge=0, le=4)


class Report(_Model):
    """How the report runs: a cell that runs longer than `cell_timeout_minutes` fails the run."""

    cell_timeout_minutes: float = Field(30, gt=0, le=24 * 60)


# Suffixes the runner gives its own folders and files beside a run; a run name may not end in one.
RESERVED_SUFFIXES = (".failed", ".tmp", ".lock", ".old")


class Strategy(_Model):
    en: str | None = None
    zh: str | None = None


class Params(_Model):
    run_name: str = Field("demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    lang: Literal["en", "zh"] = "en"
    currency: Currency = Currency()
    report: Report = Report()
    month: str | None = Field(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    as_of: dt.date | None = None
    source: Source = Source()
    cleaning: Cleaning = Cleaning()
    rfm: RFM = RFM()
    cluster: Cluster = Cluster()
    evaluate: Evaluate = Evaluate()
    case_study: CaseStudy = CaseStudy()
    features: Features = Features()
    tiers: Tiers = Tiers()
    ranking: Ranking = Ranking()
    satisfaction: Satisfaction = Satisfaction()
    tags: tuple[Tag, ...] = DEFAULT_TAGS
    dimensions: tuple[str, ...] = ("customer_type", "region")
    strategies: dict[str, Strategy] = Field(default_factory=dict)  # per segment code: override texts

    @field_validator("run_name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        for suffix in RESERVED_SUFFIXES:
            if value.lower().endswith(suffix):
                raise ValueError(f"run_name may not end in {suffix!r} (segkit names its own folders so), got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_date(self) -> "Params":
        if self.month and self.as_of:
            raise ValueError(f"give month ({self.month}) or as_of ({self.as_of}), not both")
        return self

    @property
    def as_of_date(self) -> dt.date | None:
        """The last day analysed: as_of, or the month's last day; None means the data's last day."""
        if self.as_of:
            return self.as_of
        if self.month:
            year, month = map(int, self.month.split("-"))
            return dt.date(year, month, calendar.monthrange(year, month)[1])
        return None


def load_params(path: str | os.PathLike, overrides: list[str] | dict[str, Any] | None = None) -> Params:
    """Read a params YAML file, apply `key=value` overrides, and validate everything at once."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file (look in params/ for the shipped ones)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of keys, got {type(raw).__name__}")
    for key, value in _as_pairs(overrides):
        _set_dotted(raw, key, value)
    return validate_params(raw, origin=str(path))


def validate_params(raw: dict, origin: str = "params") -> Params:
    try:
        params = Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(f"{origin}: " + "; ".join(_explain(e, raw) for e in err.errors())) from None
    try:
        _check_references(params)
    except ParamsError as err:
        raise ParamsError(f"{origin}: {err}") from None
    return params


def _check_references(params: Params) -> None:
    """What the types alone cannot check: segment maps exist and are partitions, tag rules are
    safe and name known features, strategy overrides name real segments."""
    from segkit.classify.profile import PROFILE_COLUMNS
    from segkit.classify.rfm import load_segment_map
    from segkit.classify.tags import compile_tags

    rfm = params.rfm
    grid = load_segment_map(rfm.segment_map, custom=rfm.custom_maps)
    classes = load_segment_map(rfm.class_map, custom=rfm.custom_maps)
    if grid.kind != "grid":
        raise ParamsError(f"rfm.segment_map must be a grid map, {grid.name} is {grid.kind}")
    if classes.kind != "high_low":
        raise ParamsError(f"rfm.class_map must be a high_low map, {classes.name} is {classes.kind}")
    compile_tags(params.tags, PROFILE_COLUMNS)
    names = [t.name for t in params.tags]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ParamsError(f"tags: each tag needs its own name; repeated: {', '.join(repeated)}")
    codes = set(grid.codes) | set(classes.codes)
    unknown = sorted(set(params.strategies) - codes)
    if unknown:
        raise ParamsError(f"strategies: {', '.join(unknown)} is not a segment of {grid.name} or {classes.name} "
                          f"(segments: {', '.join(sorted(codes))})")


def _as_pairs(overrides) -> list[tuple[str, Any]]:
    if not overrides:
        return []
    if isinstance(overrides, dict):
        return list(overrides.items())
    pairs = []
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ParamsError(f"--set {item!r}: write key=value, e.g. --set rfm.bins=4")
        pairs.append((key.strip(), yaml.safe_load(text) if text.strip() else None))
    return pairs


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for name in parents:
        child = node.get(name)
        if not isinstance(child, dict):
            child = {}
            node[name] = child
        node = child
    node[leaf] = value


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class at a dotted location, through list items (tags.0) and mapping values
    (strategies.champions), or None."""
    annotation: Any = Params
    for part in loc:
        model = _as_model(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            continue
        container = _container(annotation)
        if container is None:
            return None
        annotation = container
    return _as_model(annotation)


def _as_model(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _container(annotation: Any) -> Any:
    """The item type of a tuple/list annotation, or the value type of a dict annotation."""
    for option in (annotation, *get_args(annotation)):
        origin, args = get_origin(option), get_args(option)
        if origin in (tuple, list) and args:
            return args[0]
        if origin is dict and len(args) == 2:
            return args[1]
    return None


def _explain(error: dict, raw: dict) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal["))))
    key = ".".join(str(p) for p in loc) or "(top level)"
    kind = error["type"]
    given = error.get("input")
    if loc[:2] == ("source", "database"):  # may hold a connection string: never echo it
        return f"{key}: {error['msg'].lower()} (value not shown: it may hold credentials)"
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = sorted(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean '{'.'.join(map(str, loc[:-1] + (close[0],)))}'?" if close else ""
        return f"unknown key '{key}'{hint} (allowed here: {', '.join(allowed)})"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{key} must be one of {expected}, got {given!r}"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        field = _field_constraints(loc)
        return f"{key} must be {field}, got {given!r}"
    if kind == "string_pattern_mismatch":
        examples = {"month": "e.g. 2026-10", "run_name": "a letter or digit, then letters, digits, '-', '_' or '.'"}
        return f"{key} has the wrong form ({examples.get(str(loc[-1]), error['msg'])}), got {given!r}"
    if kind == "value_error":
        message = re.sub(r"^Value error, ", "", error["msg"])
        return f"{key}: {message}" if loc else message
    return f"{key}: {error['msg'].lower()}, got {given!r}"


def _field_constraints(loc: tuple) -> str:
    model = _model_at(loc[:-1])
    field = model.model_fields[loc[-1]] if model else None
    if field is None:
        return "in range"
    bounds = {type(m).__name__: m for m in field.metadata}
    kind = "an integer" if field.annotation is int else "a number"
    lo = bounds.get("Ge") or bounds.get("Gt")
    hi = bounds.get("Le") or bounds.get("Lt")
    lo_value = getattr(lo, "ge", getattr(lo, "gt", None)) if lo else None
    hi_value = getattr(hi, "le", getattr(hi, "lt", None)) if hi else None
    if lo_value is not None and hi_value is not None:
        return f"{kind} from {lo_value} to {hi_value}"
    if lo_value is not None:
        return f"{kind} >= {lo_value}" if "Ge" in bounds else f"{kind} > {lo_value}"
    return f"{kind} <= {hi_value}" if "Le" in bounds else f"{kind} < {hi_value}"
