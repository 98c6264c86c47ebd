"""`segkit check` says what 01_cleaning will note of the status lists, from every row's status counted in
the engine: a status column mapped with no list set while a status looks like a refund (已退款 counted as
sales), a listed status no row holds; the same notes, in the run's language, as notes (exit code 0)."""

import json

import pandas as pd

from conftest import run_segkit
from segkit.intake.cleaning import clean_transactions
from segkit.intake.source_scan import status_counts, status_notes
from segkit.intake.sources import load_source
from segkit.params import load_params

COLUMNS = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount",
           "status": "订单状态"}
STATUSES = ["已完成"] * 5 + ["已退款"] * 2 + ["已退款 "]  # a blank after one: the same status once trimmed


def orders() -> pd.DataFrame:
    rows = len(STATUSES)
    return pd.DataFrame({"order": [f"O{i}" for i in range(rows)], "customer": [f"C{i % 3}" for i in range(rows)],
                         "date": [f"2025-0{1 + i % 9}-1{i % 9}" for i in range(rows)], "amount": ["10.50"] * rows,
                         "订单状态": STATUSES})


def shop(folder, path: str, lang: str = "en", cleaning: dict | None = None):
    params = {"run_name": "shop", "lang": lang,
              "source": {"kind": "file", "transactions": {"path": path, "columns": COLUMNS}}}
    if cleaning:
        params["cleaning"] = cleaning
    target = folder / f"shop-{lang}.yaml"
    target.write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
    return target


def the_runs_notes(params):
    """The status notes 01_cleaning gives for `params`."""
    loaded = load_params(params)
    intake = load_source(loaded.source, params)
    result = clean_transactions(intake.engine, intake.transactions, rules=loaded.cleaning)
    return [note for note in result.notes if "status" in note["key"]]


def test_check_notes_the_statuses_no_list_names_with_their_rows_in_both_languages(tmp_path):
    orders().to_csv(tmp_path / "orders.csv", index=False)
    done = run_segkit("check", "--params", str(shop(tmp_path, "orders.csv")))
    said = " ".join(done.stderr.split())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["source"]["transactions"]["columns"]["status"] == "订单状态"
    assert ("note: The status column 订单状态 is mapped, but neither cleaning.returns.status_values nor "
            "cleaning.unpaid_status_values is set, so every row counts as a purchase whatever its status") in said
    assert 'Its 2 statuses, those that look like a refund, a cancellation or an unpaid order first, then by rows: ' \
           '"已退款" (3), "已完成" (5).' in said
    assert "e.g. `cleaning.returns.status_values: [已退款]`" in said
    assert said.endswith("(the effective parameters are the JSON on stdout)")  # still valid: a note, not an error
    done = run_segkit("check", "--params", str(shop(tmp_path, "orders.csv", lang="zh")))
    said = " ".join(done.stderr.split())
    assert done.returncode == 0, done.stderr
    assert ("注意：已映射状态列订单状态，但未设置 cleaning.returns.status_values 或 cleaning.unpaid_status_values" in said
            and '该列共 2 种状态（疑似退款、取消或未付款的在前，其余按行数从多到少）："已退款" (3), "已完成" (5)。' in said), said
    assert "参数有效" in said


def test_check_says_the_notes_the_run_gives(tmp_path):
    """The same notes as 01's, whatever the file: CSV read by the engine, a GBK CSV streamed through
    segkit's reader, Parquet; with no list, and with a list whose status no row holds."""
    frame = orders()
    frame.to_csv(tmp_path / "orders.csv", index=False)
    frame.to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    frame.to_parquet(tmp_path / "orders.parquet", index=False)
    for cleaning in (None, {"returns": {"status_values": ["退款成功"]}}):
        for name in ("orders.csv", "gbk.csv", "orders.parquet"):
            params = shop(tmp_path, name, cleaning=cleaning)
            loaded = load_params(params)
            checked = status_notes(loaded.source, params, loaded.cleaning)
            assert checked and checked == the_runs_notes(params), (name, cleaning, checked)
        assert checked[0]["key"] == ("statuses_not_listed" if cleaning is None else "status_values_unmatched")
    assert checked[0]["seen"] == '"已完成" (5), "已退款" (3)'


def test_statuses_are_counted_over_the_whole_file_not_its_first_rows(tmp_path):
    rows = 120_000  # more than the first rows check reads for its other checks
    frame = pd.DataFrame({"order": [f"O{i}" for i in range(rows)], "customer": [f"C{i % 500}" for i in range(rows)],
                          "date": "2025-03-04", "amount": "9.99", "订单状态": ["已完成"] * (rows - 7) + ["已退款"] * 7})
    frame.to_csv(tmp_path / "orders.csv", index=False)
    params = shop(tmp_path, "orders.csv")
    assert status_counts(load_params(params).source, params) == [("已完成", rows - 7), ("已退款", 7)]


def test_without_a_status_column_check_counts_nothing(tmp_path):
    orders().to_csv(tmp_path / "orders.csv", index=False)
    columns = {ours: theirs for ours, theirs in COLUMNS.items() if ours != "status"}
    params = {"run_name": "shop", "source": {"kind": "file", "transactions": {"path": "orders.csv", "columns": columns}}}
    (tmp_path / "p.yaml").write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
    loaded = load_params(tmp_path / "p.yaml")
    assert status_counts(loaded.source, tmp_path / "p.yaml") is None
    assert status_notes(loaded.source, tmp_path / "p.yaml", loaded.cleaning) == []
