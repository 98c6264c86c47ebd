"""The history of monthly runs: every run's per-customer assignments and KPIs in one DuckDB file.

Why one embedded DuckDB file (`<reports>/history.duckdb`) rather than partitioned Parquet: a month
is replaced in one transaction (delete its rows, insert the new ones, commit), so a reader never sees
half a month and a failed write leaves the previous state; DuckDB reads it from Python, SQL or the
`duckdb` command line with no server. Writers take a lock of their own (`history.duckdb.lock`, an OS
file lock that ends with its process), so two months written at once wait their turn.

Schema (read it with `duckdb.connect("reports/history.duckdb", read_only=True)` or `read_history`):

- `assignments`: one row per (run_name, month, customer_id) (held by the writer, not by an index:
  see `write_month`): run_name (text), month (date: the
  month's first day), customer_id (text), and the classes where the run has them: segment,
  rfm_class, cluster (integer), r_score, f_score, m_score (integers), frequency_tier,
  monetary_tier, clv_tier, tags (text, "+"-joined), revenue, clv, p_alive (doubles).
- `kpis`: one row per (run_name, month, name): the run's headline figures as doubles
  (customers, orders, revenue so far, ...) and the month's own (month_active_customers,
  month_new_customers, month_orders, month_revenue, month_avg_order_value, month_purchase_frequency,
  month_retention_rate, month_repurchase_rate: see `segkit.monthly.activity.monthly_kpis`).
- `runs`: one row per (run_name, month): as_of (date), the number of customers written, made_by
  ("report": a whole report, with its clusters and value figures; "backfill": `segkit backfill`,
  classes only; NULL: written by segkit before 0.2) and standards (JSON: the params the classes
  depend on, `classification_standards`; NULL before 0.2) and run (the report's folder name, e.g.
  monthly-2025-11; NULL for a backfill and before 0.2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segkit.errors import DataError
from segkit.i18n import counted

HISTORY_FILE = "history.duckdb"
ASSIGNMENT_COLUMNS = {
    "segment": "VARCHAR", "rfm_class": "VARCHAR", "cluster": "INTEGER", "r_score": "INTEGER", "f_score": "INTEGER",
    "m_score": "INTEGER", "frequency_tier": "VARCHAR", "monetary_tier": "VARCHAR", "clv_tier": "VARCHAR",
    "tags": "VARCHAR", "revenue": "DOUBLE", "clv": "DOUBLE", "p_alive": "DOUBLE",
}
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS assignments (run_name VARCHAR NOT NULL, month DATE NOT NULL, "
    "customer_id VARCHAR NOT NULL, " + ", ".join(f"{name} {kind}" for name, kind in ASSIGNMENT_COLUMNS.items()) + ")",
    "CREATE TABLE IF NOT EXISTS kpis (run_name VARCHAR NOT NULL, month DATE NOT NULL, name VARCHAR NOT NULL, "
    "value DOUBLE, PRIMARY KEY (run_name, month, name))",
    "CREATE TABLE IF NOT EXISTS runs (run_name VARCHAR NOT NULL, month DATE NOT NULL, as_of DATE NOT NULL, "
    "customers BIGINT NOT NULL, made_by VARCHAR, standards VARCHAR, run VARCHAR, PRIMARY KEY (run_name, month))",
    # a history written before 0.2 gains the three columns (NULL for its months)
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS made_by VARCHAR",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS standards VARCHAR",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS run VARCHAR",
)
MADE_BY = ("report", "backfill")
# the profile's columns `record_run` reads: the classes written, and what the month's figures count
_RECORDED = ("customer_id", *ASSIGNMENT_COLUMNS, "orders", "revenue")


# Why `assignments` has no PRIMARY KEY: DuckDB keeps a key as an ART index, and committing a replaced
# month of 1M customers into a history of 5M rows took 40 s with it and 2.5 s without (measured on the
# 10M-line benchmark's history). One row per customer and month is held by `write_month` instead: it
# refuses a profile with a customer twice, and deletes the month before inserting it, in one transaction.
# A history written by segkit before this change is rebuilt without the key on its next write.


def history_path(reports_dir: str | Path) -> Path:
    """Where the history of the runs under `reports_dir` lives."""
    return Path(reports_dir) / HISTORY_FILE


def _month(value) -> dt.date:
    stamp = pd.Timestamp(value)
    return dt.date(stamp.year, stamp.month, 1)


def _connect(path: Path, read_only: bool = False):
    import duckdb

    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as err:
        raise DataError(f"{path}: the history cannot be opened ({str(err).splitlines()[0]}); if the file is "
                        "damaged, move it away: the next run starts a new history") from None


def classification_standards(params) -> dict[str, object]:
    """The params a month's segment and eight class depend on (`segkit.params.Params`), as dotted
    keys: the RFM scoring (bins, method, ties, cuts, percentiles), the segment and class maps, and how
    returns and outliers are treated (they change M). Two months compared with different standards
    mix a change of rules with customers' moves (06_migration compares segments and classes only:
    a change of tiers is not one)."""
    def flat(prefix: str, value) -> dict[str, object]:
        if isinstance(value, dict):
            return {k: v for key, item in value.items() for k, v in flat(f"{prefix}.{key}", item).items()}
        return {prefix: value}

    kept = params.rfm.model_dump(mode="json", exclude={"custom_maps"})
    standards = {**flat("rfm", kept), **flat("cleaning.returns", params.cleaning.returns.model_dump(mode="json")),
                 **flat("cleaning.outliers", params.cleaning.outliers.model_dump(mode="json"))}
    for name in {params.rfm.segment_map, params.rfm.class_map} & set(params.rfm.custom_maps or {}):
        standards[f"rfm.custom_maps.{name}"] = params.rfm.custom_maps[name]
    return standards


def standards_changed(before: dict | None, now: dict) -> list[tuple[str, object, object]]:
    """(key, before, now) of each standard that differs between two months' `classification_standards`;
    empty when `before` is None (not recorded: a history from before 0.2) or they agree."""
    if before is None:
        return []
    return [(key, before.get(key), now.get(key)) for key in sorted(set(before) | set(now))
            if before.get(key) != now.get(key)]


def write_month(path: str | Path, run_name: str, as_of: dt.date, profile: pd.DataFrame, kpis: dict[str, float],
                timeout: float = 600, made_by: str = "report", standards: dict | None = None,
                run: str | None = None) -> int:
    """Write (or replace) one month of a run in the history, in one transaction under the history's
    lock: the per-customer classes of `profile` (customer_id and whichever of ASSIGNMENT_COLUMNS it
    has; `tags` may be a list per customer) and the numeric `kpis`. The month is `as_of`'s month.
    `made_by` ("report" or "backfill"), `standards` (`classification_standards`) and `run` (the
    report's folder name) are kept in `runs`.
    Returns the number of customers written. Waits up to `timeout` seconds for another writer;
    raises DataError when the lock or the file cannot be had (the report itself stays good).
    """
    from filelock import FileLock, Timeout

    import json

    if made_by not in MADE_BY:
        raise ValueError(f"made_by must be one of {', '.join(MADE_BY)}, not {made_by!r}")
    path = Path(path)
    month = _month(as_of)
    standards_text = None if standards is None else json.dumps(standards, sort_keys=True, ensure_ascii=False)
    rows = _assignment_rows(profile)
    _refuse_repeated_customers(rows, run_name)
    numbers = pd.DataFrame([(run_name, month, str(k), float(v)) for k, v in kpis.items() if _is_number(v)],
                           columns=["run_name", "month", "name", "value"])
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(path) + ".lock", timeout=timeout):
            con = _connect(path)
            try:
                con.execute("BEGIN TRANSACTION")
                for statement in _SCHEMA:
                    con.execute(statement)
                _drop_assignment_key(con)
                for table in ("assignments", "kpis", "runs"):
                    con.execute(f"DELETE FROM {table} WHERE run_name = ? AND month = ?", [run_name, month])
                con.register("new_rows", rows)
                con.register("new_kpis", numbers)
                columns = ", ".join(["run_name", "month", "customer_id", *ASSIGNMENT_COLUMNS])
                # the run's name and month as parameters, not a column of a million copies; a class the
                # profile lacks is NULL
                casts = ", ".join(["?", "?", "customer_id",
                                   *[f"CAST({c if c in rows.column_names else 'NULL'} AS {k}) AS {c}"
                                     for c, k in ASSIGNMENT_COLUMNS.items()]])
                con.execute(f"INSERT INTO assignments ({columns}) SELECT {casts} FROM new_rows", [run_name, month])
                con.execute("INSERT INTO kpis SELECT run_name, month, name, value FROM new_kpis")
                con.execute("INSERT INTO runs (run_name, month, as_of, customers, made_by, standards, run) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [run_name, month, as_of, len(rows), made_by, standards_text, run])
                con.execute("COMMIT")
            except Exception:
                _rollback(con)
                raise
            finally:
                con.close()
    except Timeout:
        raise DataError(f"{path}: another run has been writing the history for {timeout:.0f} s; the report is "
                        "good, and the next run will say that this month is missing from the history") from None
    return len(rows)


def _assignment_rows(profile: pd.DataFrame):
    """The per-customer rows `write_month` inserts, as an Arrow table: customer_id as text and each of
    ASSIGNMENT_COLUMNS that `profile` has, tags "+"-joined where they are lists. Arrow's columns are the
    frame's own, not a million Python objects made and read back (a million customers: 9.1 s for the
    whole `record_run` with the values taken through NumPy, see docs/benchmarks.md)."""
    import pyarrow as pa

    frame = pd.DataFrame({"customer_id": profile["customer_id"].astype(str).array})
    for name in ASSIGNMENT_COLUMNS:
        if name not in profile.columns:
            continue
        values = profile[name]
        if name == "tags" and values.dtype == object:  # lists (a frame built in Python), not joined text
            values = values.map(lambda v: "+".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
        frame[name] = values.array
    return pa.Table.from_pandas(frame, preserve_index=False)


def _refuse_repeated_customers(rows, run_name: str) -> None:
    """DataError naming the first customer_id found twice among `rows` (an Arrow table): the history
    keeps one row per customer and month."""
    import pyarrow.compute as pc

    ids = rows.column("customer_id")
    if len(pc.unique(ids)) == len(ids):
        return
    every = ids.to_pandas()
    raise DataError(f"run {run_name}: customer {every[every.duplicated()].iloc[0]!r} appears twice; the history keeps "
                    "one row per customer and month")


def _drop_assignment_key(con) -> None:
    """Rebuild an `assignments` table made with a PRIMARY KEY (segkit before 0.2) without it, rows kept;
    inside the caller's transaction, so a failure leaves the old table."""
    keyed = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'assignments' "
                        "AND constraint_type = 'PRIMARY KEY'").fetchone()[0]
    if not keyed:
        return
    columns = ", ".join(["run_name", "month", "customer_id", *ASSIGNMENT_COLUMNS])
    con.execute("ALTER TABLE assignments RENAME TO assignments_keyed")
    con.execute(_SCHEMA[0])
    con.execute(f"INSERT INTO assignments ({columns}) SELECT {columns} FROM assignments_keyed")
    con.execute("DROP TABLE assignments_keyed")


def _rollback(con) -> None:
    import duckdb

    try:
        con.execute("ROLLBACK")
    except duckdb.Error:  # no transaction was open yet
        pass


def _is_number(value) -> bool:
    try:
        return value is not None and not isinstance(value, bool) and pd.notna(float(value))
    except (TypeError, ValueError):
        return False


def read_history(path: str | Path, run_name: str | None = None) -> dict[str, pd.DataFrame]:
    """The history's tables as DataFrames (`assignments`, `kpis`, `runs`), for one run name or all;
    empty frames when there is no history yet."""
    path = Path(path)
    if not path.is_file():
        return {"assignments": pd.DataFrame(columns=["run_name", "month", "customer_id", *ASSIGNMENT_COLUMNS]),
                "kpis": pd.DataFrame(columns=["run_name", "month", "name", "value"]),
                "runs": pd.DataFrame(columns=["run_name", "month", "as_of", "customers", "made_by", "standards",
                                              "run"])}
    con = _connect(path, read_only=True)
    try:
        where, args = ("WHERE run_name = ?", [run_name]) if run_name is not None else ("", [])
        return {table: con.execute(f"SELECT * FROM {table} {where} ORDER BY ALL", args).df()
                for table in ("assignments", "kpis", "runs")}
    finally:
        con.close()


def months_written(path: str | Path, run_name: str) -> list[dt.date]:
    """The months of `run_name` in the history, oldest first."""
    runs = read_history(path, run_name)["runs"]
    return sorted(pd.to_datetime(runs["month"]).dt.date.tolist())


def _runs_rows(path: str | Path, needs: set[str], sql: str, args: list) -> list[tuple] | None:
    """The rows of `sql` (a read of `runs`, which may name `needs` columns) in the history at `path`;
    None when there is no history, or its `runs` table lacks one of `needs` (written before 0.2)."""
    path = Path(path)
    if not path.is_file():
        return None
    con = _connect(path, read_only=True)
    try:
        columns = {row[0] for row in con.execute("SELECT column_name FROM duckdb_columns() "
                                                  "WHERE table_name = 'runs'").fetchall()}
        if not columns or not needs <= columns:
            return None
        # {made_by}: the column, or NULL in a history written before it was there
        return con.execute(sql.format(made_by="r.made_by" if "made_by" in columns else "NULL"), args).fetchall()
    finally:
        con.close()


def months_made(path: str | Path, run_name: str) -> dict[dt.date, str]:
    """Each month of `run_name` in the history and what wrote it: "report" or "backfill" (a month
    written before 0.2 counts as a report when any customer has a cluster, which only reports keep)."""
    found = _runs_rows(path, set(), "SELECT r.month, coalesce({made_by}, CASE WHEN EXISTS (SELECT 1 FROM "
                       "assignments a WHERE a.run_name = r.run_name AND a.month = r.month AND a.cluster IS NOT "
                       "NULL) THEN 'report' ELSE 'backfill' END) FROM runs r WHERE r.run_name = ? ORDER BY r.month",
                       [run_name])
    return {_month(month): by for month, by in found or []}


def month_held_by(path: str | Path, run_name: str, month: dt.date, run: str) -> str | None:
    """The folder name of another report that wrote `month` of `run_name` into the history (a monthly
    report, monthly-2025-06, when this run is monthly), or None: the month is not there, a backfill
    wrote it, this run's folder `run` did, or the history does not say (written before 0.2). A report
    does not replace another report's month unasked (`segkit report --force` does)."""
    found = _runs_rows(path, {"made_by", "run"}, "SELECT run FROM runs WHERE run_name = ? AND month = ? "
                       "AND made_by = 'report'", [run_name, _month(month)])
    return found[0][0] if found and found[0][0] and found[0][0] != run else None


# The history keeps whole months. A month is whole when its figures count its last day, or the data
# end no more days before it than their longest gap between two purchase days in the 91 days before
# (at least 3): a shop that sells nothing on its last quiet days (a weekend, a sale every week) has a
# whole month, a feed that stopped days early has not. `month_coverage` gathers what a cleaning tells,
# `MonthCoverage.whole` decides: `segkit report` and `segkit backfill` both ask it, and write a month
# it calls part of a month only with --force.
WHOLE_MONTH_RULE = ("a month goes into the history when the data reach its last day, or end no more days before "
                    "it than their longest gap between two purchase days in the 91 days before (at least 3 days), "
                    "and the month has ended by today's clock (with a day of slack for the shop's time zone)")


@dataclass(frozen=True)
class MonthCoverage:
    """How far a month's figures reach. `as_of`: the last day they count (the run's as-of date, in
    the month); `last`: the data's last date when they end on or before `as_of` (None: the data go on
    after it); `usual_gap`: the longest run of days between two consecutive purchase days in the
    91 days up to `last` (at least 3; `segkit.intake.cleaning._usual_longest_gap`); `today`: the
    run's clock (None: `segkit.intake.clock.today` when asked)."""

    as_of: dt.date
    last: dt.date | None
    usual_gap: int
    today: dt.date | None = None

    @property
    def ended(self) -> bool:
        """Whether the month has ended by today's clock, with a day of slack for the shop's time zone
        (`segkit.intake.clock.month_has_ended`: today plus that day is after its last day)."""
        from segkit.intake.clock import month_has_ended

        return month_has_ended(self.month_end, self.today)

    @property
    def month_end(self) -> dt.date:
        return (pd.Timestamp(self.as_of) + pd.offsets.MonthEnd(0)).date()

    @property
    def days_short(self) -> int:
        """The days from the last day counted with data (`last`, else `as_of`) to the month's end."""
        return (self.month_end - (self.as_of if self.last is None else self.last)).days

    @property
    def whole(self) -> bool:
        """The one rule of a whole month (WHOLE_MONTH_RULE). The data go on after the as-of date: whole
        only when the as-of date is the month's end (an as_of mid-month leaves out days the data hold).
        The data end on `last`: whole when the days from `last` to the month's end are no more than
        `usual_gap`. Never a month that has not ended by today's clock, give or take the day of slack for
        time zones (`ended`), whatever the data say."""
        if not self.ended:
            return False
        if self.last is None:
            return self.as_of == self.month_end
        return self.days_short <= self.usual_gap

    def reason(self) -> str:
        """Why the month is part of a month, in words ("" when it is whole)."""
        if self.whole:
            return ""
        month = f"{self.as_of:%Y-%m}"
        if not self.ended:
            from segkit.intake.clock import today

            return f"{month} has not ended yet: today is {self.today or today()}, its last day {self.month_end}"
        short = f"{counted(self.days_short, 'day', 'days')} before the end of {month}"
        if self.last is None:
            return f"the run counts up to its as-of date {self.as_of}, {short}, and the data go on after it"
        return (f"the data end on {self.last}, {short}, more than their longest gap between purchase days in the "
                f"91 days before ({self.usual_gap} days, at least 3)")

    def as_json(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "last": None if self.last is None else self.last.isoformat(),
                "usual_gap": self.usual_gap}

    @classmethod
    def from_json(cls, found: dict) -> "MonthCoverage":
        return cls(dt.date.fromisoformat(str(found["as_of"])),
                   None if found.get("last") is None else dt.date.fromisoformat(str(found["last"])),
                   int(found["usual_gap"]))


def month_coverage(clean, ledger: pd.DataFrame, as_of: dt.date) -> MonthCoverage:
    """What a cleaning up to `as_of` tells of its month (`MonthCoverage`): `clean` its clean rows (an
    Ibis table: `CleanResult.table`), `ledger` its ledger (rows set aside after the as-of date say the
    data go on after it). The same evidence as the cleaning's `month_partly_covered` note."""
    from segkit.intake.cleaning import MIN_GAP_DAYS, _data_end, _usual_longest_gap

    last = _data_end(clean, ledger)
    if last is not None and last > as_of:  # no clean row lies after the as-of date; kept safe all the same
        last = None
    gap = _usual_longest_gap(clean, last) if last is not None else MIN_GAP_DAYS
    return MonthCoverage(as_of, last, gap)


def run_coverage(data_dir: str | Path, info: dict) -> MonthCoverage:
    """The `MonthCoverage` of a finished run (`info`: its run.json): as 01_cleaning saved it
    (`month_coverage`), else from its clean rows and ledger (clean_transactions.parquet and
    ledger.parquet, a run whose 01_cleaning predates it), else from the cleaning's notes (a
    `month_partly_covered` note gives the data's last date and gap; without one, a run at a month's
    end reached it, one before it ends there, with the smallest gap)."""
    from segkit.intake.cleaning import MIN_GAP_DAYS

    as_of = dt.date.fromisoformat(str(info["as_of"]))
    if info.get("month_coverage"):
        return MonthCoverage.from_json(info["month_coverage"])
    data_dir = Path(data_dir)
    rows, ledger = data_dir / "clean_transactions.parquet", data_dir / "ledger.parquet"
    if rows.is_file() and ledger.is_file():
        from segkit.intake.sources import connect

        con = connect()
        try:
            return month_coverage(con.read_parquet(rows), pd.read_parquet(ledger), as_of)
        finally:
            con.disconnect()
    note = next((note for note in info.get("cleaning_notes") or []
                 if note.get("key") in ("month_partly_covered", "month_not_covered")), None)
    if note:
        return MonthCoverage(as_of, dt.date.fromisoformat(str(note["last"])), int(note["usual_gap"]))
    # no note: the cleaning found the data reach a given as-of date at a month's end (or its gap); an as-of
    # date given before the month's end is taken to leave out days the data hold; the data's last date (none
    # given) is where they end
    given = info.get("as_of_rule", "given") == "given"
    return MonthCoverage(as_of, None if given else as_of, MIN_GAP_DAYS)


def month_standards(path: str | Path, run_name: str, month: dt.date) -> dict | None:
    """The `classification_standards` the history's month `month` of `run_name` was classified
    with; None when the month is not there or was written before 0.2 (not recorded)."""
    import json

    found = _runs_rows(path, {"standards"}, "SELECT standards FROM runs WHERE run_name = ? AND month = ?",
                       [run_name, _month(month)])
    return json.loads(found[0][0]) if found and found[0][0] else None


def previous_month_classes(path: str | Path, run_name: str, month: dt.date,
                           columns: list[str] | None = None) -> pd.DataFrame | None:
    """The assignments of `run_name` for the month before `month` (all columns, or customer_id and
    `columns` of ASSIGNMENT_COLUMNS), ordered by customer_id; None when the history lacks it (the
    migration then recomputes the previous month from the transactions)."""
    before = (pd.Timestamp(_month(month)) - pd.offsets.MonthBegin(1)).date()
    if not Path(path).is_file():
        return None
    con = _connect(Path(path), read_only=True)
    try:
        unknown = sorted(set(columns or ()) - set(ASSIGNMENT_COLUMNS))
        if unknown:
            raise ValueError(f"the history's assignments have no column {', '.join(unknown)}")
        selected = "*" if columns is None else ", ".join(["customer_id", *dict.fromkeys(columns)])
        found = con.execute(f"SELECT {selected} FROM assignments WHERE run_name = ? AND month = ? ORDER BY customer_id",
                            [run_name, before]).df()
    finally:
        con.close()
    return found if len(found) else None


# The KPI series' figures (segkit.monthly.trends.KPIS) that a month's run writes into the history, by their names there.
HISTORY_KPIS = {"customers": "customers", "active_customers": "month_active_customers", "revenue": "month_revenue",
                "avg_order_value": "month_avg_order_value", "retention_rate": "month_retention_rate",
                "repurchase_rate": "month_repurchase_rate"}


def restated_figures(path: str | Path, run_name: str, month: dt.date, changes: pd.DataFrame,
                     top: float = 0.2, shares: bool = True) -> pd.DataFrame:
    """Last month's figures as its own run wrote them into the history against the same figures
    counted now (`changes`: `segkit.monthly.trends.kpi_changes`, whose last_month is counted from
    this run's data): kpi, reported, now, for each figure that differs as the pages show it (money
    to the hundredth, counts whole, shares and rates to a tenth of a point): those of HISTORY_KPIS,
    each segment's share of the customers (`share_<segment>`, from last month's assignments; not
    with `shares=False`, when last month's classes were made with other standards, nor when its
    segments are not this run's: another grid) and the revenue share of the top `top` of them
    (`top_share`, from the assignments' revenue). Empty when the history lacks last month or
    they all agree. A month differs when rows arrived or changed after its run: late orders, or
    cancellations of its orders made since (an order cancelled in full is no purchase:
    `cleaning.returns.refunded_orders`)."""
    from segkit.classify.value import top_share
    from segkit.monthly.trends import as_shown

    columns = ["kpi", "reported", "now"]
    before = (pd.Timestamp(_month(month)) - pd.offsets.MonthBegin(1)).date()
    if not Path(path).is_file() or changes is None or changes.empty:
        return pd.DataFrame(columns=columns)
    con = _connect(Path(path), read_only=True)
    try:
        found = con.execute("SELECT name, value FROM kpis WHERE run_name = ? AND month = ?", [run_name, before]).df()
        classes = con.execute("SELECT segment, revenue FROM assignments WHERE run_name = ? AND month = ?",
                              [run_name, before]).df()
    finally:
        con.close()
    reported = {kpi: found.loc[found["name"] == name, "value"].iloc[0]
                for kpi, name in HISTORY_KPIS.items() if (found["name"] == name).any()}
    codes_now = {kpi[len("share_"):] for kpi in changes["kpi"] if kpi.startswith("share_")}
    if shares and len(classes) and classes["segment"].notna().any():
        counted = classes["segment"].dropna().value_counts(normalize=True)
        if set(counted.index) <= codes_now:  # the same grid (a fallback grid's segments are other figures)
            reported.update({f"share_{code}": float(counted.get(code, 0.0)) for code in codes_now})
    if len(classes) and classes["revenue"].notna().all():
        reported["top_share"] = float(top_share(classes["revenue"].astype(float), top))
    now = dict(zip(changes["kpi"], changes["last_month"]))
    rows = []
    for kpi, counted in now.items():
        then = reported.get(kpi)
        if then is None or counted is None or not (np.isfinite(then) and np.isfinite(counted)):
            continue
        if as_shown(kpi, then) != as_shown(kpi, counted):
            rows.append((kpi, float(then), float(counted)))
    return pd.DataFrame(rows, columns=columns)


def record_run(path: str | Path, run_name: str, data_dir: str | Path, kpis: dict[str, float],
               timeout: float = 600, standards: dict | None = None, run: str | None = None) -> int:
    """Write a finished run's month into the history: the as-of date from its run.json, each
    customer's classes from its profile (with the cluster of its clusters stage, where present) and
    its headline `kpis`. Returns the number of customers written (see `write_month`)."""
    import pyarrow.parquet as pq

    from segkit.store import join_stages, load_run_info, load_stage, stage_path

    info = load_run_info(data_dir)
    as_of = dt.date.fromisoformat(str(info["as_of"]))
    # only the columns written and counted (the profile of a million customers holds some forty)
    held = pq.read_schema(stage_path(data_dir, "profile")).names
    profile = load_stage(data_dir, "profile", columns=[c for c in held if c in _RECORDED])
    clusters = load_stage(data_dir, "clusters", optional=True, columns=["customer_id", "cluster"]) \
        if "cluster" not in profile.columns and stage_path(data_dir, "clusters").exists() else None
    if clusters is not None:
        profile = join_stages(profile, clusters, ["cluster"], how="left")
    from segkit.monthly.backfill import month_figures
    from segkit.monthly.shared import monthly_kpis_stage

    # the month's own figures (active customers, revenue, retention ...), as a backfill writes them, from
    # the KPIs the report computed (the finished report's folder is read, not written)
    figures = month_figures(profile, None, as_of, kpis=monthly_kpis_stage(data_dir, save=False))
    # the page's figures, but revenue so far the exact sum (the page's is rounded to the cent)
    return write_month(path, run_name, as_of, profile, {**figures, **kpis, "revenue": figures["revenue"]},
                       timeout=timeout, made_by="report",
                       standards=standards, run=run)
