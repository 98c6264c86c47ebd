"""A transaction attribute (country, channel) becomes a customer dimension: the most frequent value."""

import pandas as pd
import pytest

from ledger_check import assert_every_row_accounted
from segkit.errors import DataError, ParamsError
from segkit.features import most_frequent_values
from segkit.intake.cleaning import clean_and_save
from segkit.intake.sources import connect, load_source
from segkit.params import load_params
from segkit.store import load_run_info, load_stage

CSV = """Customer,Invoice,Date,Total,Country,Channel,Description
a,1,2024-01-01,10,UK,web,mug
a,2,2024-01-05,12,UK,app,mug
a,3,2024-02-01,9,FR,app,plate
b,4,2024-01-01,5,DE,web,cup
b,5,2024-03-01,7,NL,store,cup
c,6,2024-01-02,4,,,cup
"""


def test_most_frequent_value_with_ties_to_the_latest_purchase():
    tx = pd.DataFrame({"customer_id": list("aaabbc"), "source_row": range(1, 7), "amount": 1.0,
                       "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-02-01", "2024-01-01",
                                                     "2024-03-01", "2024-01-02"]),
                       "channel": ["web", "app", "app", "web", "store", None]})
    found = most_frequent_values(connect(), tx, ["channel"]).set_index("customer_id")["channel"]
    assert found["a"] == "app" and found["b"] == "store" and pd.isna(found["c"])
    shuffled = most_frequent_values(connect(), tx.sample(frac=1, random_state=4), ["channel"])
    assert shuffled.set_index("customer_id")["channel"].equals(found)
    with pytest.raises(DataError, match="not a column of the transactions"):
        most_frequent_values(connect(), tx, ["country"])


def test_an_attribute_kept_from_the_file_becomes_a_dimension(tmp_path):
    (tmp_path / "orders.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "p.yaml").write_text(
        "source:\n  kind: file\n  transactions:\n    path: orders.csv\n"
        "    columns: {customer_id: Customer, order_id: Invoice, ordered_at: Date, amount: Total, channel: Channel}\n"
        "    attributes: {country: Country}\n"
        "dimensions: [country, channel, region]\n", encoding="utf-8")
    p = load_params(tmp_path / "p.yaml")
    intake = load_source(p.source, tmp_path / "p.yaml")
    result = clean_and_save(intake, tmp_path / "data", rules=p.cleaning, dimensions=p.dimensions)
    assert_every_row_accounted(result, intake.transactions)
    customers = load_stage(tmp_path / "data", "customers").set_index("customer_id")
    # a: UK twice, FR once; b: DE and NL once each, NL bought last; c: no country given
    assert customers.loc["a", "country"] == "UK" and customers.loc["b", "country"] == "NL"
    assert pd.isna(customers.loc["c", "country"])
    assert customers.loc["a", "channel"] == "app" and "region" not in customers.columns  # nothing holds region
    assert load_run_info(tmp_path / "data")["derived_dimensions"] == ["country", "channel"]


def test_attribute_names_and_columns_are_checked(tmp_path):
    (tmp_path / "orders.csv").write_text(CSV, encoding="utf-8")
    base = ("source:\n  kind: file\n  transactions:\n    path: orders.csv\n"
            "    columns: {customer_id: Customer, ordered_at: Date, amount: Total}\n")
    with pytest.raises(ParamsError, match="map it in columns"):
        load_params(_write(tmp_path, base + "    attributes: {channel: Channel}\n"))
    with pytest.raises(ParamsError, match="lowercase word"):
        load_params(_write(tmp_path, base + "    attributes: {Country: Country}\n"))
    p = load_params(_write(tmp_path, base + "    attributes: {country: Land}\n"))
    with pytest.raises(DataError, match="Land") as err:
        load_source(p.source, tmp_path / "p.yaml")
    assert "Country" in str(err.value)  # the columns that are there, with the closest one


def _write(tmp_path, text):
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "p.yaml"


def test_the_documented_example_is_valid():
    import re

    import yaml

    from conftest import ROOT
    from segkit.params import validate_params

    text = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if "attributes:" in b)
    params = validate_params(yaml.safe_load(block))
    assert params.source.transactions.attributes == {"country": "Country"} and "country" in params.dimensions


def test_a_dimension_the_params_name_that_nothing_holds_is_a_note(tmp_path):
    """`dimensions: [country, channel, region]` with no region anywhere: the report had no breakdown
    by region and said nothing; now a note says so (page, run.json, terminal). The default
    dimensions (customer_type, region), which most sources lack, say nothing."""
    from segkit.i18n import t
    from segkit.report.runner import cleaning_note_lines

    (tmp_path / "orders.csv").write_text(CSV, encoding="utf-8")
    base = ("source:\n  kind: file\n  transactions:\n    path: orders.csv\n"
            "    columns: {customer_id: Customer, order_id: Invoice, ordered_at: Date, amount: Total, channel: Channel}\n"
            "    attributes: {country: Country}\n")
    (tmp_path / "p.yaml").write_text(base + "dimensions: [country, channel, region]\nlang: zh\n", encoding="utf-8")
    p = load_params(tmp_path / "p.yaml")
    assert p.named_dimensions == ("country", "channel", "region")
    intake = load_source(p.source, tmp_path / "p.yaml")
    result = clean_and_save(intake, tmp_path / "data", rules=p.cleaning, dimensions=p.dimensions,
                            named_dimensions=p.named_dimensions)
    assert [n for n in result.notes if n["key"] == "dimension_missing"] == [{"key": "dimension_missing",
                                                                            "names": "region"}]
    key, values = result.messages()[-1]
    assert "region" in t(key, "en", **values) and "没有" in t(key, "zh", **values)
    assert any(line.startswith("note: 参数中的维度 region") for line in cleaning_note_lines(tmp_path / "data", "zh"))
    (tmp_path / "q.yaml").write_text(base, encoding="utf-8")
    q = load_params(tmp_path / "q.yaml")
    assert q.named_dimensions == ()  # the default: customer_type and region, said nothing of
    quiet = clean_and_save(load_source(q.source, tmp_path / "q.yaml"), tmp_path / "data2", rules=q.cleaning,
                           dimensions=q.dimensions, named_dimensions=q.named_dimensions)
    assert not [n for n in quiet.notes if n["key"] == "dimension_missing"]
