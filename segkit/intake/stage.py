"""The cleaning stage of a run as one call: what 01_cleaning computes and saves, for the notebook and
for a script that runs it elsewhere (under spark-submit, where the report's kernels have no session)."""

from __future__ import annotations

from pathlib import Path

from segkit.intake.cleaning import CleanResult, clean_and_save


def cleaning_stage(intake, data_dir: str | Path, p) -> CleanResult:
    """Clean `intake` (`segkit.load_source`'s) with the rules of `p` (`segkit.Params`) and save in
    `data_dir` every stage file the later notebooks read: what `clean_and_save` writes (quarantine,
    ledgers, clean rows, customers, features), the repeat-buying and holdout summaries, the monthly
    activity and the month-start features (`segkit.time_summaries`, computed where the rows are), and
    in run.json the calibration end and how far the data reach the month. Returns the cleaning
    result. Raises what `clean_and_save` raises (DataError and its kinds) for rows that cannot be used.
    """
    from segkit.features import time_summaries
    from segkit.monthly.activity import month_start_columns
    from segkit.monthly.history import month_coverage
    from segkit.store import save_run_info, save_stage

    result = clean_and_save(intake, data_dir, as_of=p.as_of_date, rules=p.cleaning,
                            activity_days=p.features.activity_days, minor_unit=p.currency.minor_unit,
                            dimensions=p.dimensions, currency_code=p.currency.code,
                            period_start=p.period_start, named_dimensions=p.named_dimensions,
                            attributes=tuple(p.source.extra_columns))
    calibration_end = p.calibration_end(result.as_of)
    save_stage(data_dir, **time_summaries(intake.engine, result.scored, result.as_of, calibration_end, p.value.time_unit,
                                          activity_days=p.features.activity_days,
                                          net_negative=p.cleaning.returns.net_negative, in_engine=True,
                                          # the holdout check reads the rows as known then
                                          holdout_lines=result.known_lines,
                                          # only the month-start columns later stages read
                                          month_start_columns=month_start_columns(p.cluster.features)))
    save_run_info(data_dir, calibration_end=calibration_end,
                  # how far the data reach the month: whether the history takes it as whole
                  month_coverage=month_coverage(result.table, result.ledger, result.as_of).as_json())
    return result
