"""Cross-sell with a PostgreSQL source, against a real server (issue 14): 01_cleaning computes the
per-customer summaries in the database, and 07_cross_sell gets from them the same category mix,
rules and next best category as from the same rows in a file; the 07 page of a database run shows
the heatmap and the rules, and the exports carry the next best category."""

import datetime as dt
import re

import pandas as pd
import pytest
import yaml

from pg_server import load_table, start_server
from segkit.crosssell import (Purchases, baskets, category_mix, distinguishing_items, load_purchases, next_best_item,
                              purchase_summaries, rules_by_group)
from segkit.datasets import generate_retail
from segkit.i18n import t
from segkit.intake.cleaning import clean_and_save
from segkit.intake.sources import load_source
from segkit.params import Database, FileTable, Source

pytestmark = pytest.mark.slow

AS_OF = dt.date(2024, 12, 31)
TYPES = {"customer_id": "text", "order_id": "text", "ordered_at": "timestamp", "amount": "numeric(12,2)",
         "quantity": "integer", "category": "text", "channel": "text"}
RULE_SETTINGS = {"customer": dict(min_support=0.03, min_confidence=0.2, max_items=3, min_baskets=2),
                 "order": dict(min_support=0.005, min_confidence=0.05, max_items=3, min_baskets=2)}


def shop_rows() -> pd.DataFrame:
    """A small shop whose rows meet the cleaning: a missing customer id, a zero amount, a blank category."""
    data = generate_retail(customers=150, start="2024-01-01", months=12, seed=11, defects=0.0, campaigns=False)
    tx = data.transactions.copy()
    tx.loc[3, "customer_id"] = None
    tx.loc[5, "amount"] = 0.0
    tx.loc[7, "category"] = None
    return tx


@pytest.fixture(scope="module")
def server():
    found = start_server()
    try:
        with found.connect() as con:
            con.execute("CREATE DATABASE shop")
        with found.connect("shop") as con:
            load_table(con, "orders", shop_rows(), TYPES)
        yield found
    finally:
        found.stop()


def database_source(server) -> Source:
    return Source(kind="database", database=Database(url=server.url(), table="orders"))


@pytest.fixture(scope="module")
def both(server, tmp_path_factory):
    """The same rows cleaned from PostgreSQL and from a CSV file: (database data dir, file data dir,
    segments of the customers scored)."""
    folder = tmp_path_factory.mktemp("crossdb")
    database_dir, file_dir = folder / "database", folder / "file"
    result = clean_and_save(load_source(database_source(server)), database_dir, as_of=AS_OF)
    assert result.in_database
    path = folder / "orders.csv"
    shop_rows().to_csv(path, index=False)
    clean_and_save(load_source(Source(kind="file", transactions=FileTable(path=str(path)))), file_dir, as_of=AS_OF)
    ids = sorted(pd.read_parquet(file_dir / "features.parquet")["customer_id"].astype(str))
    segments = pd.DataFrame({"customer_id": ids, "segment": [("champions", "at_risk", "lost")[i % 3] for i in range(len(ids))]})
    segments["rfm_class"] = [f"class{i % 8}" for i in range(len(ids))]
    return database_dir, file_dir, segments, result


def test_the_database_run_keeps_summaries_not_rows(both):
    database_dir, file_dir, _, _ = both
    assert not (database_dir / "clean_transactions.parquet").exists()
    assert not (file_dir / "purchase_items.parquet").exists()  # a file run keeps the rows themselves
    purchases, transactions = load_purchases(database_dir), load_purchases(file_dir)
    import ibis

    # a file run's clean rows are read in place by the engine, never loaded into pandas
    assert isinstance(purchases, Purchases) and isinstance(transactions, ibis.Table)
    rows = transactions.to_pandas()
    assert len(purchases.items) < len(rows) and len(purchases.baskets) < rows["order_id"].nunique()
    # the same numbers as DuckDB computes from the file's clean rows
    from_file = purchase_summaries(_duckdb(rows))
    pd.testing.assert_frame_equal(purchases.items, from_file.items, check_dtype=False, rtol=1e-12)
    pd.testing.assert_frame_equal(purchases.baskets, from_file.baskets)


def _duckdb(frame: pd.DataFrame):
    import ibis

    return ibis.duckdb.connect().create_table("clean", frame)


@pytest.mark.parametrize("by", ["segment", "rfm_class"])
def test_the_category_mix_equals_the_file_path(both, by):
    database_dir, file_dir, segments, _ = both
    purchases, transactions = load_purchases(database_dir), load_purchases(file_dir)
    mix = category_mix(purchases, segments, by)
    assert mix["group"].nunique() == segments[by].nunique() and mix["item"].nunique() > 5
    pd.testing.assert_frame_equal(mix, category_mix(transactions, segments, by), check_dtype=False, rtol=1e-12)
    pd.testing.assert_frame_equal(distinguishing_items(purchases, segments, ["champions", "class1"], by=by),
                                  distinguishing_items(transactions, segments, ["champions", "class1"], by=by),
                                  check_dtype=False, rtol=1e-12)


@pytest.mark.parametrize("basket", ["customer", "order"])
def test_rules_and_next_best_equal_the_file_path(both, basket):
    database_dir, file_dir, segments, _ = both
    purchases, transactions = load_purchases(database_dir), load_purchases(file_dir)
    items, expected_items = baskets(purchases, basket), baskets(transactions, basket)
    rules = rules_by_group(items, segments, **RULE_SETTINGS[basket])
    expected = rules_by_group(expected_items, segments, **RULE_SETTINGS[basket])
    assert len(expected) > 10 and expected["group"].nunique() == 3
    pd.testing.assert_frame_equal(rules, expected)
    best = next_best_item(items, segments, rules)
    assert best["next_best"].notna().sum() > 20
    pd.testing.assert_frame_equal(best, next_best_item(expected_items, segments, expected))


# -- the 07 page and the exports of a database run: notebooks 01, 02 and 07 only (no whole report) --------

@pytest.fixture(scope="module")
def database_run(server, tmp_path_factory):
    """A database run's data folder after notebooks 01_cleaning, 02_rfm and 07_cross_sell, its 07 page
    (HTML) and its exports: (folder, params)."""
    from segkit.params import load_params
    from segkit.report.exports import export_run
    from segkit.report.pages import export_html
    from segkit.report.runner import execute_notebook, notebook_path

    folder = tmp_path_factory.mktemp("crossdb-run")
    params_path = folder / "shop.yaml"
    params_path.write_text(yaml.safe_dump({
        "run_name": "shop", "lang": "en", "as_of": str(AS_OF),
        "source": {"kind": "database", "database": {"url": server.url(), "table": "orders"}},
        "cross_sell": {"min_support": 0.03, "min_confidence": 0.2, "min_baskets": 2},
        "exports": {"formats": ["parquet"]},
    }), encoding="utf-8")
    (folder / "data").mkdir()
    (folder / "executed").mkdir()
    for name in ("01_cleaning", "02_rfm", "07_cross_sell"):
        source = notebook_path(name)
        execute_notebook(source, folder / "executed" / f"{name}.ipynb",
                         {"params_path": str(params_path), "data_dir": str(folder / "data"), "overrides": []},
                         source.parent, name, timeout_s=300)
    export_html(folder / "executed" / "07_cross_sell.ipynb", folder / "07_cross_sell.html", "en")
    params = load_params(params_path)
    export_run(folder, params)
    return folder, params


def test_the_07_page_of_a_database_run_shows_the_heatmaps_rules_and_next_best(database_run):
    folder, _ = database_run
    html = (folder / "07_cross_sell.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)))
    assert t("crosssell.no_transactions", "en")[:60] not in text  # the sentence a database run used to get
    assert "as an index against all customers" in text and html.count("data:image/png") >= 2  # segments and classes
    assert "Cross-sell rules" in text
    found = re.search(r"A next best category for each customer: .*? ([\d,]+) of ([\d,]+) customers get one", text)
    assert found and int(found.group(1).replace(",", "")) > 0
    assert "Traceback" not in text and 'data-mime-type="application/vnd.jupyter.stderr"' not in html


def test_the_exports_of_a_database_run_carry_the_next_best_category(database_run):
    folder, _ = database_run
    stage = pd.read_parquet(folder / "data" / "next_best.parquet")
    offered = stage.dropna(subset=["next_best"]).set_index("customer_id")["next_best"]
    exported = pd.read_parquet(folder / "exports" / "customers.parquet")
    exported = exported.assign(customer_id=exported["customer_id"].astype(str)).set_index("customer_id")
    assert len(offered) > 20
    assert exported["next_best_category"].notna().sum() == len(offered)
    assert (exported.loc[offered.index, "next_best_category"] == offered).all()
