"""A month rerun: refused without --force, replacing only that month's history rows with it, and a
failed rerun leaving the report and the history as they were. The notebooks' work is replayed from
the shared English report (its executed notebooks and stage files), so the rest of the runner (HTML,
index, manifest, the move into place, the history) runs for real in seconds."""

import json

import pandas as pd
import pytest

from segkit.params import load_params
from segkit.report.pages import notebooks_for
from segkit.monthly.history import classification_standards, history_path, read_history, write_month
from segkit.report import runner
from segkit.report.runner import ReportError, run_report

from conftest import replaying

pytestmark = pytest.mark.slow


def test_a_rerun_needs_force_and_replaces_only_its_month(en_run, tmp_path, monkeypatch):
    params, done = en_run
    reports = tmp_path / "reports"
    history = history_path(reports)
    other = pd.DataFrame({"customer_id": ["x1", "x2"], "segment": ["champions", "lost"]})
    write_month(history, "tiny", pd.Timestamp("2024-06-30").date(), other, {"customers": 2.0})
    calls: list[str] = []
    monkeypatch.setattr(runner, "execute_notebook", replaying(done.folder, calls))

    first = run_report(params, reports_dir=reports, pdf=False)
    assert first.history is None and sorted(calls) == sorted(notebooks_for(load_params(params)))
    written = read_history(history, "tiny")
    december = written["assignments"][pd.to_datetime(written["assignments"]["month"]) == "2024-12-01"]
    assert len(december) == done.kpis["customers"]
    runs = written["runs"]
    # a report's month says so, with the standards it was classified with
    run_row = runs[pd.to_datetime(runs["month"]) == "2024-12-01"].iloc[0]
    assert run_row["made_by"] == "report"
    assert json.loads(run_row["standards"]) == classification_standards(load_params(params))

    calls.clear()
    with pytest.raises(ReportError) as refused:
        run_report(params, reports_dir=reports, pdf=False)
    assert calls == []
    assert str(refused.value).startswith(f"{reports / 'tiny'} already holds a good report of tiny (made ")
    assert "add --force to replace it" in str(refused.value)

    run_report(params, reports_dir=reports, pdf=False, force=True)
    again = read_history(history, "tiny")
    pd.testing.assert_frame_equal(again["assignments"], written["assignments"])  # replaced, not doubled
    june = again["assignments"][pd.to_datetime(again["assignments"]["month"]) == "2024-06-01"]
    assert sorted(june["customer_id"]) == ["x1", "x2"]

    index = (reports / "tiny" / "index.html").read_bytes()
    monkeypatch.setattr(runner, "execute_notebook", replaying(done.folder, calls, fail_at="04_clustering"))
    with pytest.raises(ReportError, match="planted"):
        run_report(params, reports_dir=reports, pdf=False, force=True)
    assert (reports / "tiny" / "index.html").read_bytes() == index
    after = read_history(history, "tiny")
    for table in ("assignments", "kpis", "runs"):
        pd.testing.assert_frame_equal(after[table], again[table])
