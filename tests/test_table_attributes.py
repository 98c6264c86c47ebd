"""A customer table's own columns beside the transactions (an e-mail opt-in, a credit limit, a member
number), named in its column map: typed (numbers where every value reads as one, labels trimmed, codes
with leading zeros kept as text), usable in tag rules ("at risk and opted in to e-mail"), and written
into the exports when `exports.attributes` names them (segkit.params.Source.extra_columns,
segkit.intake.cleaning.typed_attributes, segkit.report.exports)."""

import pandas as pd
import pytest

import segkit
from segkit.classify.profile import add_tags_and_rank
from segkit.errors import ParamsError
from segkit.intake.sources import load_source
from segkit.intake.stage import cleaning_stage
from segkit.params import validate_params
from segkit.store import load_stage

CUSTOMERS_MAP = {"customer_id": "会员ID", "email_opt_in": "是否订阅", "credit_limit": "信用额度",
                 "member_no": "会员编号", "region": "地区"}
TAGS = [{"name": "mail_ok", "en": "Reachable by e-mail", "zh": "可邮件触达",
         "when": "email_opt_in == 'yes' and credit_limit >= 1000"}]


def files(folder):
    """tx.csv: C1 three orders, C2 one, C3 two, C4 one (C4 has no customer record); customers.csv:
    the opt-in written with blanks and in two cases, the credit limit with a thousands separator, member
    numbers with leading zeros."""
    (folder / "tx.csv").write_text(
        "customer_id,order_id,ordered_at,amount\n"
        "C1,O1,2025-01-05,120\nC1,O2,2025-03-05,80\nC1,O3,2025-06-01,95\n"
        "C2,O4,2025-02-10,30\nC3,O5,2025-04-02,60\nC3,O6,2025-05-20,75\nC4,O7,2025-05-30,20\n",
        encoding="utf-8")
    (folder / "customers.csv").write_text(
        "会员ID,是否订阅,信用额度,会员编号,地区\n"
        "C1, yes ,\"1,500\",007,华东\nC2,no,2000,010,华北\nC3,yes,800,123,华东\n", encoding="utf-8")


def params(**more):
    return validate_params({"source": {"kind": "file", "transactions": {"path": "tx.csv"},
                                       "customers": {"path": "customers.csv", "columns": CUSTOMERS_MAP}},
                            "as_of": "2025-06-30", "tags": TAGS, **more})


def cleaned(folder, p):
    intake = load_source(p.source, folder / "p.yaml", day_first=p.cleaning.day_first)
    cleaning_stage(intake, folder / "data", p)
    return load_stage(folder / "data", "customers")


def test_the_maps_extra_names_are_extra_columns_and_segkits_own_are_not():
    p = params()
    assert set(p.source.extra_columns) == {"email_opt_in", "credit_limit", "member_no"}  # region is the profile's
    assert p.source.extra_columns["email_opt_in"] == "是否订阅 from the customer table"
    assert validate_params({}).source.extra_columns == {}  # the demo's table maps nothing


def test_a_tag_may_name_a_customer_table_column_and_an_unknown_one_is_refused():
    assert params().tags[0].name == "mail_ok"
    with pytest.raises(ParamsError, match="email_optin"):
        validate_params({"source": {"kind": "file", "transactions": {"path": "tx.csv"},
                                    "customers": {"path": "customers.csv", "columns": CUSTOMERS_MAP}},
                         "tags": [{**TAGS[0], "when": "email_optin == 'yes'"}]})


def test_a_customer_table_beside_transactions_does_not_feed_clustering_or_the_ranking():
    with pytest.raises(ParamsError, match="credit_limit is not a ranking criterion"):
        params(ranking={"weights": {"amount": 1, "credit_limit": 0.5}})


def test_the_extra_columns_are_typed_and_reach_the_tags(tmp_path):
    files(tmp_path)
    p = params()
    customers = cleaned(tmp_path, p).set_index("customer_id")
    assert customers.loc["C1", "email_opt_in"] == "yes"  # trimmed
    assert customers["credit_limit"].dtype == "int64" and customers.loc["C1", "credit_limit"] == 1500
    assert customers.loc["C1", "member_no"] == "007"  # a code with leading zeros stays text
    # what 02_rfm does
    features = load_stage(tmp_path / "data", "features")
    segments, _ = segkit.segment_customers(features, segkit.RFMScorer(3).fit(features), "rfm11", "cn8")
    profile = segkit.customer_profile(features, segments, load_stage(tmp_path / "data", "customers"))
    rules = segkit.compile_tags(p.tags, {**segkit.PROFILE_COLUMNS, **p.source.extra_columns})
    tagged = add_tags_and_rank(profile, rules, {"amount": 1.0}).set_index("customer_id")
    # C1 opted in with 1,500; C2 did not opt in; C3's limit is under 1,000; C4 has no record: unknown, no tag
    assert tagged["tag_mail_ok"].to_dict() == {"C1": True, "C2": False, "C3": False, "C4": False}


def test_without_the_map_naming_them_the_columns_stay_as_written(tmp_path):
    files(tmp_path)
    p = validate_params({"source": {"kind": "file", "transactions": {"path": "tx.csv"},
                                    "customers": {"path": "customers.csv", "columns": {"customer_id": "会员ID"}}},
                         "as_of": "2025-06-30"})
    customers = cleaned(tmp_path, p).set_index("customer_id")
    assert customers.loc["C1", "是否订阅"] == " yes " and customers.loc["C1", "信用额度"] == "1,500"


# -- the exports ---------------------------------------------------------------------------------------------

def test_exports_attributes_must_be_customer_table_columns():
    assert params(exports={"attributes": ["email_opt_in", "region"]}).exports.attributes == ("email_opt_in", "region")
    with pytest.raises(ParamsError, match=r"exports\.attributes: 'email_optin' is not a column of the customer table; "
                                          r"did you mean email_opt_in\?; map the customer table's column in "
                                          r"source\.customers\.columns"):
        params(exports={"attributes": ["email_optin"]})
    with pytest.raises(ParamsError, match="attributes lists member_no twice"):
        params(exports={"attributes": ["member_no", "member_no"]})
    with pytest.raises(ParamsError, match="is not a column of the customer table"):  # segkit's own column
        params(exports={"attributes": ["revenue"]})


def _run_to_exports(folder, p):
    """01 and 02 as the notebooks call them, then `export_run` on the run folder."""
    from segkit.report.exports import export_run

    cleaned(folder, p)
    data = folder / "data"
    features = load_stage(data, "features")
    segments, _ = segkit.segment_customers(features, segkit.RFMScorer(3).fit(features), "rfm11", "cn8")
    profile = segkit.customer_profile(features, segments, load_stage(data, "customers"))
    rules = segkit.compile_tags(p.tags, {**segkit.PROFILE_COLUMNS, **p.source.extra_columns})
    segkit.save_stage(data, segments=segments, profile=add_tags_and_rank(profile, rules, {"amount": 1.0}))
    return export_run(folder, p, formats=["csv", "xlsx", "parquet"])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_named_attributes_are_in_every_export_typed(tmp_path, lang):
    import openpyxl

    files(tmp_path)
    p = params(lang=lang, exports={"attributes": ["email_opt_in", "credit_limit", "member_no"]})
    _run_to_exports(tmp_path, p)
    out = tmp_path / "exports"
    table = pd.read_parquet(out / "customers.parquet").set_index("customer_id")
    assert list(table.columns[-3:]) == ["email_opt_in", "credit_limit", "member_no"]
    assert table.loc["C1", "email_opt_in"] == "yes" and table.loc["C1", "member_no"] == "007"
    assert table["credit_limit"].dtype == "Int64" and table.loc["C2", "credit_limit"] == 2000
    assert pd.isna(table.loc["C4", "credit_limit"]) and pd.isna(table.loc["C4", "email_opt_in"])  # no record
    csv = pd.read_csv(out / "customers.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(csv.columns[-3:]) == ["email_opt_in", "credit_limit", "member_no"]
    first = csv.set_index(csv.columns[0])
    assert first.loc["C1", "member_no"] == "007" and first.loc["C1", "credit_limit"] == "1500"
    book = openpyxl.load_workbook(out / "customers.xlsx", read_only=True)
    dictionary = [row for row in book.worksheets[-1].iter_rows(values_only=True)]
    described = {row[0]: row for row in dictionary[1:]}
    assert described["credit_limit"][3] == segkit.t("exports.type.integer", lang)
    assert described["email_opt_in"][4] == segkit.t("exports.desc.attribute", "en")
    assert described["email_opt_in"][5] == segkit.t("exports.desc.attribute", "zh")
    cells = [row for sheet in book.worksheets[1:-1] for row in sheet.iter_rows(values_only=True)]
    assert any(row[-3:] == ("yes", 1500, "007") for row in cells)


def test_the_frame_path_writes_the_same_attributes_as_the_table_path(tmp_path):
    from segkit.report.exports import _frame_of, _load_export_table, load_export_frame

    files(tmp_path)
    p = params(exports={"attributes": ["member_no", "credit_limit", "email_opt_in"]})
    _run_to_exports(tmp_path, p)
    frame = load_export_frame(tmp_path / "data", p)
    table = _frame_of(_load_export_table(tmp_path / "data", p))
    assert list(frame.columns) == list(table.columns) and list(frame.columns[-3:]) == list(p.exports.attributes)
    pd.testing.assert_frame_equal(frame.astype(str), table.astype(str))


def test_the_params_blocks_of_the_exports_docs_are_valid_params():
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[1] / "docs" / "exports.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    assert any("attributes" in block.get("exports", {}) for block in blocks)
    for block in blocks:
        validate_params(block)  # raises ParamsError on a name the docs got wrong


def test_the_shipped_shop_template_reads_its_files_as_a_new_user_would(tmp_path, monkeypatch):
    """params/shop-example.yaml: the file-source template `segkit init` copies (Chinese headers, ¥ amounts,
    status lists, a member table with columns of its own), run from another folder."""
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    path = Path(__file__).resolve().parents[1] / "params" / "shop-example.yaml"
    p = validate_params(__import__("yaml").safe_load(path.read_text(encoding="utf-8")))
    assert set(p.source.extra_columns) == {"member_level", "email_opt_in"}
    intake = load_source(p.source, path, day_first=p.cleaning.day_first)
    cleaning_stage(intake, tmp_path / "data", p)
    ledger = load_stage(tmp_path / "data", "ledger").set_index("rule")["rows"]
    assert ledger.sum() == 3348  # every line of shop-example-orders.csv
    assert ledger["refunded_order"] > 0 and ledger["unpaid_order"] > 0  # 已退款 and 已取消 set aside
    customers = load_stage(tmp_path / "data", "customers")
    assert set(customers["email_opt_in"].dropna()) == {"是", "否"} and customers["customer_id"].str.len().eq(6).all()


def test_a_customer_tables_text_is_neutralised_in_the_csv_on_both_paths():
    """A member table's text that starts like a formula ("=HYPERLINK(...)") goes into the CSV with the
    leading quote, as segkit's own text columns do, on the frame path and the Arrow path alike."""
    import pyarrow as pa

    from segkit.report.exports import _attribute_column, _people_frame, _people_table

    frame = pd.DataFrame({"customer_id": pd.array(["C1", "C2"], dtype="string"),
                          "email_opt_in": _attribute_column(pd.Series(["=HYPERLINK(1)", "yes"])),
                          "credit_limit": _attribute_column(pd.Series([1500.0, None]))})
    shown = _people_frame(frame, "en")
    assert shown["email_opt_in"].tolist() == ["'=HYPERLINK(1)", "yes"]
    assert shown["credit_limit"].tolist()[0] == 1500
    table = _people_table(pa.Table.from_pandas(frame, preserve_index=False), "en")
    assert table.column("email_opt_in").to_pylist() == ["'=HYPERLINK(1)", "yes"]
