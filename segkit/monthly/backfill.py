"""Backfill the history: each month of a range classified as it stood then, without the report pages.

`segkit backfill --params P --from 2025-01 --to 2025-12` reads the source once, then for each month
(oldest first) cleans the transactions up to that month's end, computes the per-customer features,
scores and classifies them with the run's standards (as 02_rfm does: the RFM scorer, the grid map
or its fallback, the eight classes, the tiers) and writes the month into the history
(`segkit.monthly.history`) with the month's KPIs. No notebook, no HTML, no PDF: the per-customer
stages only, so a year of months takes seconds to minutes where twelve full reports would take many.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from segkit.errors import ParamsError
from segkit.i18n import counted

if TYPE_CHECKING:
    from segkit.monthly.history import MonthCoverage


@dataclass(frozen=True)
class BackfilledMonth:
    """One month of the range: its month-end as-of date, the customers classified, and the seconds
    it took; `skipped` says why it was not written (None: written): "report" (a whole report wrote
    it, and `force` was not given), "before_data" (the data start after it), "after_data" (the data
    end before it), "partly" (the data reach it only in part: `segkit.monthly.history.MonthCoverage.whole`,
    the rule `segkit report` follows too; and `force` was not given); `why` words it."""

    as_of: dt.date
    customers: int
    seconds: float
    skipped: str | None = None
    why: str = ""


def month_ends(first: str, last: str) -> list[dt.date]:
    """The last days of the months from `first` to `last` (YYYY-MM, both included), oldest first.
    Raises ParamsError for a month that is not YYYY-MM or a range that runs backwards."""
    def parse(text: str, name: str) -> pd.Timestamp:
        import re

        from segkit.params import MONTH_PATTERN

        try:
            if not re.fullmatch(MONTH_PATTERN, str(text)):  # 2025-6 or 0000-01 as --month refuses them
                raise ValueError(text)
            return pd.Timestamp(dt.datetime.strptime(str(text), "%Y-%m"))
        except ValueError:
            raise ParamsError(f"--{name} {str(text)[:20]!r} is not a month: write it as YYYY-MM, e.g. 2025-01") from None

    start, end = parse(first, "from"), parse(last, "to")
    if end < start:
        raise ParamsError(f"--from {first} is after --to {last}: the months run from the first to the last")
    return [(month + pd.offsets.MonthEnd(0)).date() for month in pd.date_range(start, end, freq="MS")]


def month_figures(profile: pd.DataFrame, activity: pd.DataFrame | None, as_of: dt.date,
                  kpis: pd.DataFrame | None = None, top: float = 0.2) -> dict[str, float]:
    """The KPIs the history keeps for a month: customers, orders and revenue so far (the profile's),
    the index's class figures of the profile (valuable: Champions and Loyal, at_risk: At Risk and
    Can't Lose Them, top_share: the revenue share of the top `top` of the customers, as the report's
    index counts them), and the month's own figures from `segkit.monthly.activity.monthly_kpis`
    (prefixed month_: active customers, new customers, orders, revenue, average order value,
    purchase frequency, retention and repurchase rate); a month without purchases has zero activity
    and undefined rates left out. `kpis`: `monthly_kpis(activity)` when the run has it already
    (`activity` is then not read)."""
    from segkit.classify.value import top_share
    from segkit.monthly.activity import exact_total, monthly_kpis
    from segkit.monthly.codes import month_numbers
    from segkit.report.tables import AT_RISK, VALUABLE

    figures = {"customers": float(len(profile)), "orders": float(profile["orders"].sum()),
               "revenue": exact_total(profile["revenue"])}  # exact: 43690.5, not 43690.50000000001
    if "segment" in profile.columns:
        figures.update(valuable=float(profile["segment"].isin(VALUABLE).sum()),
                       at_risk=float(profile["segment"].isin(AT_RISK).sum()))
    if len(profile) and profile["revenue"].notna().all():
        figures["top_share"] = float(top_share(profile["revenue"], top))
    if kpis is None and activity is not None and len(activity):
        kpis = monthly_kpis(activity)
    if kpis is not None and len(kpis):
        row = kpis[month_numbers(kpis["month"]) == as_of.year * 12 + as_of.month - 1]
        if len(row):
            for name, value in row.iloc[0].drop("month").items():
                if pd.notna(value):
                    figures[f"month_{name}"] = float(value)
    return figures


def classify_month(params, intake, as_of: dt.date, prepared=None
                   ) -> tuple[pd.DataFrame, dict[str, float], MonthCoverage, list[dict]]:
    """The run's classification as it stood on `as_of`: the profile (features, scores, segment,
    eight class, tiers) of every customer scored, the month's KPIs (`month_figures`), how far
    the data reach the month (`segkit.monthly.history.month_coverage`: its `whole` says whether the
    history takes it as a whole month) and the notes of its cleaning (`CleanResult.notes`). The same
    standards as 02_rfm: cleaning rules, RFM scorer, grid map (or its fallback), class map, tiers.
    Raises `MonthNotInData` when the data end before `as_of`'s month, `NoCleanRows` when no row is
    left (e.g. the data start after `as_of`). `prepared` (`segkit.intake.cleaning.prepare_input`):
    the intake's rows as read once for every month (None: read here)."""
    from segkit.intake.cleaning import clean_transactions
    from segkit.monthly.history import month_coverage

    p = params
    result = clean_transactions(intake.engine, intake.transactions, as_of=as_of, rules=p.cleaning,
                                minor_unit=p.currency.minor_unit, currency_code=p.currency.code,
                                period_start=as_of.replace(day=1), prepared=prepared)
    try:
        coverage = month_coverage(result.table, result.ledger, result.as_of)
        profile, figures = _classified(p, intake, result)
        return profile, figures, coverage, list(result.notes)
    finally:
        result.drop_tables()  # the month's judged rows: what the month needs is computed (or it failed)


def _classified(p, intake, result) -> tuple[pd.DataFrame, dict[str, float]]:
    """`classify_month` once its rows are cleaned (`result`)."""
    from segkit.classify.profile import customer_profile
    from segkit.classify.rfm import RFMScorer, grid_for, load_segment_map, segment_customers
    from segkit.features import customer_features
    from segkit.intake.sources import connect
    from segkit.monthly.activity import monthly_activity

    con = intake.engine or connect()
    features = customer_features(intake.engine or con, result.scored, result.as_of, p.features.activity_days,
                                 p.currency.minor_unit, floor_revenue=p.cleaning.returns.net_negative == "floor")
    scorer = RFMScorer(p.rfm.bins, method=p.rfm.method, ties=p.rfm.ties, cuts=p.rfm.cuts, percentiles=p.rfm.percentiles,
                       max_tied_share=p.rfm.max_tied_share).fit(features)
    grid = grid_for(p.rfm.segment_map, scorer.unusable_, custom=p.rfm.custom_maps)
    classes = load_segment_map(p.rfm.class_map, custom=p.rfm.custom_maps, basis=p.rfm.class_basis,
                               thresholds=p.rfm.class_thresholds)
    segments, _ = segment_customers(features, scorer, grid, classes)
    profile = customer_profile(features, segments, intake.customers, intake.surveys,
                               frequency_tier=p.tiers.frequency.model_dump(), monetary_tier=p.tiers.monetary.model_dump(),
                               abc=p.tiers.abc, very_satisfied=p.satisfaction.very_satisfied,
                               satisfied=p.satisfaction.satisfied)
    return profile, month_figures(profile, monthly_activity(con, result.scored), result.as_of,
                                  top=p.case_study.top_share)


def backfill(params_path: str | Path, first: str, last: str, reports_dir: str | Path = "reports",
             overrides: list[str] = (), progress: Callable[[str], None] = lambda message: None,
             force: bool = False) -> list[BackfilledMonth]:
    """Classify each month from `first` to `last` (YYYY-MM) and write it into the history beside
    the reports (`<reports_dir>/history.duckdb`, under the params' run_name), oldest first; a month
    a backfill wrote before is replaced. Months the data do not reach (before their first date,
    after their last) are skipped and said; so, unless `force`, are a month the data reach only in
    part (`segkit.monthly.history.MonthCoverage.whole`, as `segkit report` decides: the data reach its
    last day, or end no more days before it than their longest gap between purchase days in the 91
    days before, at least 3) and a month a whole report wrote (its clusters, CLV and quality figures
    would be lost). Returns every month of the range
    (`BackfilledMonth.skipped` for those not written). Raises ParamsError for bad params or months,
    DataError for data that cannot be read or cleaned, or when no month of the range could be
    written (the months written before stay written)."""
    from segkit.errors import DataError
    from segkit.intake.cleaning import MonthNotInData, NoCleanRows, database_stopped, prepare_input, read_table_dates
    from segkit.intake.sources import load_source
    from segkit.monthly.history import classification_standards, history_path, months_made, write_month
    from segkit.params import load_params, require_source

    params = load_params(params_path, list(overrides))
    require_source(params, params_path)
    if params.source.kind == "customers":
        raise ParamsError(f"{params_path}: a customer-level source (source.kind: customers) is one picture, not a "
                          "history of purchases: there are no earlier months to backfill")
    ends = month_ends(first, last)
    later = [end for end in ends if params.as_of is not None and end > params.as_of]
    if later:  # as `segkit report --month` says it: each month is classified as of its own end, not the params' as_of
        progress(as_of_replaced(later, params.as_of, Path(params_path).name))
    refuse_months_outside(params, params_path, first, last, ends)  # before the source is read
    intake = load_source(params.source, params_path, time_zone=params.cleaning.time_zone,
                         decimal=params.cleaning.decimal, day_first=params.cleaning.day_first)
    # read (a text file: parsed) once for every month, not once a month
    tick = time.perf_counter()
    try:
        prepared = prepare_input(intake.engine, intake.transactions, params.cleaning, params.currency.minor_unit,
                                 params.currency.code)
        if prepared.in_database:  # a database's rows, read once into the embedded engine: not asked again each month
            prepared = prepared.read_into_engine()
            intake = replace(intake, transactions=prepared.table, engine=prepared.con)
    except Exception as err:  # the database stopped the query (a view's cast failing on a value ...): said so
        database_stopped(err, intake.origin)
        raise
    # the customers' and surveys' dates their files did not settle: in the order the transactions' settled
    customers, surveys, table_notes = read_table_dates(intake, params.cleaning.day_first, prepared.notes)
    intake = replace(intake, customers=customers, surveys=surveys)
    progress(f"read {intake.origin} in {time.perf_counter() - tick:.1f} s: {counted(len(ends), 'month', 'months')} "
             "to classify")
    path = history_path(reports_dir)
    made = months_made(path, params.run_name)
    standards = classification_standards(params)
    done = []
    noted = []  # (month end, the notes of its cleaning) of each month written, said once at the end
    for number, as_of in enumerate(ends, start=1):
        tick = time.perf_counter()
        step = f"[{number}/{len(ends)}] {as_of:%Y-%m}"
        skipped = None
        if made.get(as_of.replace(day=1)) == "report" and not force:
            skipped = ("report", f"kept: a report of {params.run_name} wrote this month (with its clusters and "
                                 "value figures, which a backfill does not make); --force replaces it")
        else:
            try:
                profile, figures, coverage, notes = classify_month(params, intake, as_of, prepared)
            except MonthNotInData as err:
                skipped = ("after_data", f"skipped: the data end on {err.last}, before this month"
                           if err.last else "skipped: no row is dated in or before this month")
            except NoCleanRows as err:
                err.result.drop_tables()  # every row set aside: the month's judged rows leave the engine
                first_date = err.data_start
                if first_date is None:  # no row of the month can be used: said with the month, and where to look
                    raise DataError(f"{as_of:%Y-%m}: {str(err).split('; see the quarantine')[0]}; run `segkit report "
                                    f"--params {params_path} --month {as_of:%Y-%m}` to see each row set aside and "
                                    "why (01_cleaning and its quarantine), then fix the source, the column map or "
                                    "the cleaning rules") from None
                skipped = ("before_data", f"skipped: the data start on {first_date}, after this month")
        if not skipped and not coverage.whole and not force:  # its figures would read as a fall
            then = f"run again after its end ({coverage.month_end}), or " if not coverage.ended else ""
            skipped = ("partly", f"skipped: {coverage.reason()}: its figures would cover part of it; {then}--force "
                                 "writes it")
        if skipped:
            done.append(BackfilledMonth(as_of, 0, round(time.perf_counter() - tick, 2), *skipped))
            progress(f"{step}: {skipped[1]}")
            continue
        customers = write_month(path, params.run_name, as_of, profile, figures, made_by="backfill",
                                standards=standards)
        seconds = time.perf_counter() - tick
        done.append(BackfilledMonth(as_of, customers, round(seconds, 2)))
        noted.append((as_of, [*notes, *table_notes]))  # the customers' and surveys' files: read once, for every month
        progress(f"{step}: {counted(customers, 'customer', 'customers', ',')} in {seconds:.1f} s")
    # what 01 would have noticed, as `segkit report` says it (the ids it quotes masked with report.mask_ids)
    for line in note_lines_by_month(noted, params.lang, params.report.mask_ids):
        progress(line)
    # nothing written, and nothing of the range in the history from a report (kept on purpose): a failure
    if not any(month.skipped in (None, "report") for month in done):
        reasons = "; ".join(dict.fromkeys(month.why for month in done))
        raise DataError(f"no month from {first} to {last} was written ({reasons})")
    return done


def refuse_months_outside(params, params_path, first: str, last: str, ends: list[dt.date]) -> None:
    """Refuse, before the source is read, a backfill none of whose months (`ends`, from `first` to
    `last`) the data reach, where the source tells its dates in one aggregate of the engine
    (`segkit.intake.source_scan.date_span`, with its MONTH_MARGIN_DAYS of slack, as `segkit report
    --month` refuses a month): a DataError naming the months asked and the dates the data run from
    and to. Otherwise each month is read, and those outside the data are skipped and said."""
    from segkit.errors import DataError
    from segkit.intake.source_scan import MONTH_MARGIN_DAYS, date_span

    span = date_span(params.source, params_path, params.cleaning.time_zone)
    if span is None or not ends:
        return
    margin = dt.timedelta(days=MONTH_MARGIN_DAYS)
    if all(span.last < end.replace(day=1) - margin or span.first > end + margin for end in ends):
        raise DataError(f"{span.origin}: the data run from {span.first.isoformat()} to {span.last.isoformat()}: no "
                        f"month from {first} to {last} is in them; give --from and --to within {span.first:%Y-%m} "
                        f"to {span.last:%Y-%m}")


def as_of_replaced(later: list[dt.date], as_of: dt.date, file: str) -> str:
    """The line that says the months of a backfill's range that end after the params' as-of date
    (`later`, month ends, consecutive) are classified as of their own end, which replaces `as_of` of
    the params `file`: the notice `segkit report --month` gives, said once for the range.

    >>> as_of_replaced([dt.date(2025, 7, 31), dt.date(2025, 8, 31)], dt.date(2025, 6, 30), "demo.yaml")
    'the months 2025-07 to 2025-08 replace as_of 2025-06-30 of demo.yaml (each is classified as of its end)'
    """
    if len(later) == 1:
        return f"the month {later[0]:%Y-%m} replaces as_of {as_of} of {file} (it is classified as of its end)"
    return (f"the months {later[0]:%Y-%m} to {later[-1]:%Y-%m} replace as_of {as_of} of {file} "
            "(each is classified as of its end)")


# Notes a backfill does not repeat: the month's own line says how far the data reach it.
_SAID_BY_THE_MONTH = {"month_partly_covered", "month_not_covered", "month_to_date"}


def note_lines_by_month(noted: list[tuple[dt.date, list[dict]]], lang: str = "en", mask_ids: bool = False) -> list[str]:
    """The cleaning notes of a backfill's months (`noted`: each month's end and its notes, oldest
    first) as lines for the terminal in `lang`, each note once with the months it applies to, not
    once a month: the notes of one kind about one file and column are one line. Where its words are
    the same every month, they are said as they are; where they differ (a count that grows as each
    month counts the data up to its end), the last month's words are said, and the line says so.
    `mask_ids` (the params' `report.mask_ids`): the customer ids the notes quote masked
    (`segkit.report.masking`).

    >>> jan, feb = dt.date(2025, 1, 31), dt.date(2025, 2, 28)
    >>> note = {"key": "decimal_mark_differs", "column": "Amount", "rows": 2, "example": "1,5", "decimal": ".", "other": ","}
    >>> note_lines_by_month([(jan, [note]), (feb, [note])])[0][:62]
    'note (2025-01 to 2025-02): The Amount column holds 2 amounts l'
    """
    from segkit.i18n import t
    from segkit.report.masking import masked_note
    from segkit.report.runner import note_text

    kinds: dict[tuple, dict[dt.date, str]] = {}
    for as_of, notes in noted:
        for note in notes:
            if note.get("key") not in _SAID_BY_THE_MONTH:
                kinds.setdefault((note.get("key"), note.get("file"), note.get("column")), {})[as_of] = \
                    note_text(masked_note(note, mask_ids), lang)
    lines = []
    for said in kinds.values():
        months = list(said)
        texts = list(said.values())
        key = "backfill.note" if len(set(texts)) == 1 else "backfill.note_last"
        lines.append(t(key, lang, months=month_ranges(months, lang), last=f"{months[-1]:%Y-%m}", text=texts[-1]))
    return lines


def month_ranges(months: list[dt.date], lang: str = "en") -> str:
    """`months` (any day of each) as a list of runs of consecutive months in `lang`.

    >>> month_ranges([dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 3, 31), dt.date(2025, 5, 31)])
    '2025-01 to 2025-03, 2025-05'
    >>> month_ranges([dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 5, 31)], "zh")
    '2025-01 至 2025-02、2025-05'
    """
    from segkit.i18n import t

    runs: list[list[int]] = []
    for number in sorted({m.year * 12 + m.month - 1 for m in months}):
        if runs and runs[-1][1] + 1 == number:
            runs[-1][1] = number
        else:
            runs.append([number, number])

    def name(number: int) -> str:
        return f"{number // 12:04d}-{number % 12 + 1:02d}"

    return t("name.separator", lang).join(
        name(a) if a == b else t("backfill.months", lang, first=name(a), last=name(b)) for a, b in runs)
