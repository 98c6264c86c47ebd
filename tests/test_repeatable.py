"""The same data and params give the same report, also when the input rows come in another order:
stage files byte for byte (those that name input lines: equal but for the line numbers), run.json,
and the text of every page that names no input line (but the generation time). Two runs of the
same rows writing byte-identical cleaning files is `test_exact_money`'s check; a whole second
identical run added two minutes to the suite and found nothing the shuffled run would not."""

import json
import re

import pandas as pd
import pytest
import yaml

from segkit.datasets import generate_retail
from segkit.report.runner import run_report

pytestmark = pytest.mark.slow

# Where a shuffled file legitimately differs: the line each row came from, and the line a duplicate repeats.
LINE_COLUMNS = ("source_row",)


def without_lines(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=list(LINE_COLUMNS))
    if "detail" in frame.columns:
        frame["detail"] = frame["detail"].str.replace(r"\brow \d+", "row N", regex=True)
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def write_run(folder, rows: pd.DataFrame, name: str):
    rows.to_csv(folder / f"{name}.csv", index=False)
    params = {"run_name": name, "lang": "en", "as_of": "2024-12-31",
              "source": {"kind": "file", "transactions": {"path": f"{name}.csv"}},
              "cluster": {"k_min": 2, "k_max": 4, "random_state": 0}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return run_report(path, reports_dir=folder / "reports", pdf=False).folder  # the PDF is checked elsewhere


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("repeat")
    rows = generate_retail(400, "2024-01-01", 12, seed=5, defects=0.02).transactions
    # purchases whose float sum depends on the order of addition: 0.1 + 0.2 + 0.3
    cents = pd.DataFrame({"customer_id": [f"P{i:03d}" for i in range(60) for _ in range(3)],
                          "order_id": [f"PO{i:04d}" for i in range(180)],
                          "ordered_at": pd.Timestamp("2024-06-01"), "amount": [0.1, 0.2, 0.3] * 60,
                          "quantity": 1, "category": "books", "channel": "app"})
    rows = pd.concat([rows, cents], ignore_index=True)
    first = write_run(folder, rows, "same")
    shuffled = write_run(folder, rows.sample(frac=1, random_state=1), "shuffled")
    return first, shuffled


def page_text(folder, page):
    text = (folder / f"{page}.html").read_text(encoding="utf-8")
    text = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "<time>", text).replace("shuffled", "same")
    # a table's style id hashes its frame with the index, which may follow the input order: not shown
    return re.sub(r"T_segkit[0-9a-f]{10}", "T_segkit", text)


def run_info(folder):
    return json.loads((folder / "data" / "run.json").read_text(encoding="utf-8"))


def test_shuffled_rows_give_the_same_customers_classes_and_pages(two_runs):
    first, shuffled = two_runs
    files = sorted(p.name for p in (first / "data").glob("*.parquet"))
    assert "features.parquet" in files and "clean_transactions.parquet" in files
    for path in sorted((first / "data").glob("*.parquet")):
        ours, theirs = pd.read_parquet(path), pd.read_parquet(shuffled / "data" / path.name)
        if any(c in ours.columns for c in LINE_COLUMNS):  # rows are traced to other lines: compare the rest
            pd.testing.assert_frame_equal(without_lines(ours), without_lines(theirs), check_exact=True, obj=path.name)
        else:
            assert path.read_bytes() == (shuffled / "data" / path.name).read_bytes(), path.name
    assert run_info(first) == run_info(shuffled)
    features = pd.read_parquet(first / "data" / "features.parquet").set_index("customer_id")
    assert (features.loc[[f"P{i:03d}" for i in range(60)], "revenue"] == 0.6).all()
    segments = pd.read_parquet(first / "data" / "segments.parquet").set_index("customer_id")
    assert segments.loc[[f"P{i:03d}" for i in range(60)], "segment"].nunique() == 1  # equal buyers, one class
    for page in ("index", "02_rfm", "03_customer_value", "04_clustering", "05_evaluation", "06_migration",
                 "07_cross_sell", "08_case_study"):
        assert page_text(first, page) == page_text(shuffled, page), page
