"""Bringing your own data, end to end: a messy GBK export with Chinese headers through the whole
report, and an all-bad file through the command line."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import run_segkit
from ledger_check import assert_every_row_accounted
from segkit.datasets import generate_retail
from segkit.features import customer_features
from segkit.intake.sources import connect

pytestmark = pytest.mark.slow

COLUMNS = {"customer_id": "客户ID", "order_id": "订单号", "ordered_at": "下单时间", "amount": "金额",
           "category": "品类", "channel": "渠道"}
AS_OF = "2024-12-31"
WIDE = str.maketrans("0123456789.", "０１２３４５６７８９．")


def messy_export(folder):
    """A shop's orders as Chinese Excel exports them (GBK, Chinese headers) with the usual flaws:
    currency text, other date layouts, Excel serial days, trailing blanks, full-width digits; plus
    three rows that cannot be used. Returns the file, the clean typed rows it came from, and the
    number of rows given a fixable flaw."""
    data = generate_retail(customers=150, start="2024-01-01", months=12, seed=5, defects=0.0)
    tx = data.transactions
    i = np.arange(len(tx))
    when = tx["ordered_at"]
    text = pd.DataFrame({"客户ID": tx["customer_id"], "订单号": tx["order_id"],
                         "下单时间": when.dt.strftime("%Y-%m-%d %H:%M:%S"), "金额": tx["amount"].map("{:.2f}".format),
                         "品类": tx["category"], "渠道": tx["channel"]})
    money, slashed, blank, wide = i % 7 == 1, i % 11 == 2, i % 13 == 3, i % 17 == 4
    text.loc[money, "金额"] = ["￥" + f"{x:,.2f}" for x in tx.loc[money, "amount"]]
    text.loc[slashed, "下单时间"] = [f"{d.year}/{d.month}/{d.day} {d:%H:%M:%S}" for d in when[slashed]]
    text.loc[blank, "客户ID"] = text.loc[blank, "客户ID"] + " "
    text.loc[wide & ~money, "金额"] = text.loc[wide & ~money, "金额"].str.translate(WIDE)
    bad = pd.DataFrame([["C000001", "X1", "昨天", "5.00", "books", "app"],
                        ["C000002", "X2", "2024-05-01 10:00:00", "12,3O", "books", "app"],
                        [None, "X3", "2024-05-01 10:00:00", "7.00", "books", "app"]], columns=text.columns)
    path = folder / "订单导出.csv"
    pd.concat([text, bad], ignore_index=True).to_csv(path, index=False, encoding="gbk")
    return path, tx, int((money | slashed | blank | wide).sum())


def test_a_messy_chinese_export_through_the_whole_report(tmp_path):
    from segkit.report.runner import run_report

    # The path is relative to the params file's folder, not to where the run starts: the notebooks
    # (in notebooks/) and the manifest's fingerprint must both find it (the manifest once did not).
    path, typed, flawed = messy_export(tmp_path)
    params = tmp_path / "shop.yaml"
    params.write_text(yaml.safe_dump({
        "run_name": "shop", "lang": "zh", "as_of": AS_OF,
        "source": {"kind": "file", "transactions": {"path": path.name, "columns": COLUMNS}},
        "cleaning": {"fill": {"channel": "unknown"}},
        "cluster": {"k_min": 2, "k_max": 4},
    }, allow_unicode=True), encoding="utf-8")
    result = run_report(params, reports_dir=tmp_path / "reports", pdf=False)
    data = result.folder / "data"
    ledger = pd.read_parquet(data / "ledger.parquet")
    quarantine = pd.read_parquet(data / "quarantine.parquet")
    assert int(ledger["rows"].sum()) == len(typed) + 3
    saved = SimpleNamespace(ledger=ledger, quarantine=quarantine, clean=pd.read_parquet(data / "clean_transactions.parquet"))
    assert_every_row_accounted(saved, range(2, len(typed) + 5))  # file lines 2 .. n+4
    assert int(ledger.loc[ledger["outcome"] == "fixed", "rows"].sum()) == flawed
    assert sorted(quarantine["reason"]) == ["missing_customer_id", "unreadable_amount", "unreadable_date"]
    assert quarantine.set_index("reason").loc["unreadable_amount", "raw_amount"] == "12,3O"
    # the messy text, once read, gives exactly the per-customer figures of the clean data
    typed = typed.assign(source_row=range(1, len(typed) + 1))
    expected = customer_features(connect(), typed, pd.Timestamp(AS_OF).date())
    pd.testing.assert_frame_equal(pd.read_parquet(data / "features.parquet"), expected, check_dtype=False)
    import re

    # the page's text: a header's words are spans, with a break allowed between 金额 and （原值）
    page = re.sub(r"<[^>]+>", "", (result.folder / "01_cleaning.html").read_text(encoding="utf-8"))
    for words in ("修正后使用", "从货币文本读取金额", "按其他格式读取日期", "金额（原值）", "12,3O"):
        assert words in page, words


def test_an_all_bad_file_stops_with_one_message_and_leaves_the_quarantine(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("customer,day,amount\nC1,someday,5\n,2024-01-05,3\nC3,2024-01-06,¥?\n", encoding="utf-8")
    params = tmp_path / "bad.yaml"
    params.write_text(json.dumps({"source": {"kind": "file", "transactions": {
        "path": str(orders), "columns": {"customer_id": "customer", "ordered_at": "day"}}}}), encoding="utf-8")
    data_dir = tmp_path / "data"
    result = run_segkit("run", "01_cleaning", "--params", str(params), "--data-dir", str(data_dir))
    assert result.returncode == 2
    # (at exit DuckDB's bindings may print a "nanobind: leaked ..." report first, without a newline)
    error_lines = [line for line in result.stderr.splitlines() if "error: " in line]
    assert len(error_lines) == 1 and "Traceback" not in result.stderr + result.stdout
    assert "all 3 rows were set aside" in result.stderr and "quarantine.parquet" in result.stderr
    quarantine = pd.read_parquet(data_dir / "quarantine.parquet")
    assert sorted(quarantine["source_row"]) == [2, 3, 4]
    assert not (data_dir / "features.parquet").exists()
