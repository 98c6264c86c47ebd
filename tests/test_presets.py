"""CRM and shop export presets (segkit/intake/presets.py): each preset reads a small file with the
system's own headers and value formats through the normal intake and cleaning, and gives the
customers, orders and revenue worked out by hand below; explicit keys override a preset; an
unknown preset is refused with the known ones."""

import csv
import datetime as dt
from pathlib import Path

import ibis
import pandas as pd
import pytest
import yaml

from ledger_check import assert_every_row_accounted
from segkit.errors import ParamsError
from segkit.intake import presets
from segkit.intake.cleaning import clean_transactions
from segkit.intake.customer_level import load_customer_level
from segkit.intake.sources import connect, load_source
from segkit.features import customer_features
from segkit.params import load_params

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2024, 12, 31)

# The column headers of each export, in the system's order (docs/presets.md quotes them).
SHOPIFY_HEADER = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City",
    "Billing Zip", "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at",
    "Payment Method", "Payment Reference", "Refunded Amount", "Vendor", "Id", "Tags", "Risk Level", "Source",
    "Lineitem discount", "Tax 1 Name", "Tax 1 Value", "Phone",
]
TAOBAO_HEADER = [
    "订单编号", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费", "买家支付积分", "总金额", "返点积分",
    "买家实际支付金额", "买家实际支付积分", "订单状态", "买家留言", "收货人姓名", "收货地址", "运送方式", "联系电话",
    "联系手机", "订单创建时间", "订单付款时间", "宝贝标题", "宝贝种类", "物流单号", "物流公司", "订单备注",
    "宝贝总数量", "店铺Id", "店铺名称", "订单关闭原因", "退款金额",
]
SALESFORCE_HEADER = ["Id", "AccountId", "Name", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon",
                     "Probability", "CreatedDate", "CurrencyIsoCode"]
HUBSPOT_HEADER = ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Contact owner",
                  "Lifecycle Stage", "Create Date", "Total Revenue", "Recent Deal Close Date", "Recent Deal Amount",
                  "Number of Associated Deals"]
ZOHO_HEADER = ["Record Id", "Deal Owner", "Deal Name", "Amount", "Closing Date", "Account Name", "Stage", "Type",
               "Probability (%)", "Expected Revenue", "Lead Source", "Contact Name", "Created Time", "Currency"]
FXIAOKE_HEADER = ["销售订单编号", "客户名称", "下单日期", "销售订单金额（元）", "生命状态", "负责人", "结算方式", "备注"]


def write_export(path: Path, header: list[str], rows: list[dict], encoding: str = "utf-8") -> Path:
    """A CSV with exactly `header`; each row a dict of the cells it fills (the others blank)."""
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            assert set(row) <= set(header), set(row) - set(header)
            writer.writerow([row.get(name, "") for name in header])
    return path


def write_params(folder: Path, source: dict, **top) -> Path:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump({"run_name": "presets", "as_of": str(AS_OF), "source": source, **top},
                                   allow_unicode=True), encoding="utf-8")
    return path


def per_customer(params_path: Path) -> dict:
    """customer_id -> (orders, revenue, last purchase date), through load_source, clean_transactions
    (every row accounted for) and customer_features, as a run reads them."""
    params = load_params(params_path)
    intake = load_source(params.source, params_path)
    result = clean_transactions(connect(), intake.transactions, as_of=params.as_of_date, rules=params.cleaning)
    assert_every_row_accounted(result, intake.transactions)
    features = customer_features(connect(), result.scored, result.as_of)
    return {row.customer_id: (int(row.orders), round(float(row.revenue), 2), row.last_purchase.date())
            for row in features.itertuples()}


def shopify_rows() -> list[dict]:
    # #1001 two lines (the second with Created at and Financial Status blank, as Shopify writes
    # later lines), #1003 refunded (both lines set aside), #1005 voided.
    return [
        {"Name": "#1001", "Email": "alice@example.com", "Financial Status": "paid", "Currency": "USD",
         "Subtotal": "59.98", "Total": "64.78", "Created at": "2024-03-05 14:22:10 -0500",
         "Lineitem quantity": "2", "Lineitem name": "T-shirt", "Lineitem price": "24.99", "Billing Name": "Alice Ng",
         "Id": "5512345678901"},
        {"Name": "#1001", "Email": "alice@example.com", "Lineitem quantity": "1", "Lineitem name": "Socks",
         "Lineitem price": "10.00"},
        {"Name": "#1002", "Email": "bob@example.com", "Financial Status": "paid", "Currency": "USD",
         "Total": "1200.00", "Created at": "2024-04-10 09:00:00 -0400", "Lineitem quantity": "1",
         "Lineitem name": "Bike", "Lineitem price": "1200.00", "Billing Name": "Bob Li", "Id": "5512345678902"},
        {"Name": "#1003", "Email": "alice@example.com", "Financial Status": "refunded", "Currency": "USD",
         "Created at": "2024-06-01 18:30:45 +0800", "Lineitem quantity": "1", "Lineitem name": "Cap",
         "Lineitem price": "30.00", "Billing Name": "Alice Ng", "Refunded Amount": "35.00"},
        {"Name": "#1003", "Email": "alice@example.com", "Lineitem quantity": "1", "Lineitem name": "Pin",
         "Lineitem price": "5.00"},
        {"Name": "#1004", "Email": "alice@example.com", "Financial Status": "paid", "Currency": "USD",
         "Created at": "2024-07-02 08:00:00 -0400", "Lineitem quantity": "3", "Lineitem name": "Stickers",
         "Lineitem price": "5.50", "Billing Name": "Alice Ng"},
        {"Name": "#1005", "Email": "carol@example.com", "Financial Status": "voided", "Currency": "USD",
         "Created at": "2024-08-09 10:11:12 -0400", "Lineitem quantity": "1", "Lineitem name": "Tent",
         "Lineitem price": "99.00", "Billing Name": "Carol Wu"},
    ]


def test_shopify_orders_export(tmp_path):
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, shopify_rows())
    params = write_params(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "orders_export.csv"}})
    # alice: #1001 2 x 24.99 + 10.00 = 59.98, #1004 3 x 5.50 = 16.50; #1003 refunded; carol's order voided
    assert per_customer(params) == {
        "alice@example.com": (2, 76.48, dt.date(2024, 7, 2)),
        "bob@example.com": (1, 1200.00, dt.date(2024, 4, 10)),
    }


def test_shopify_lines_that_read_alike_are_two_line_items_and_a_pasted_export_is_still_found(tmp_path):
    # #1001's two tees read alike in every column (options the export leaves out: two line items, its
    # Total 142.00 = 89 + 24 + 24 + 5 shipping); they were set aside as a duplicate (ann: 113.00)
    first = {"Name": "#1001", "Email": "ann@example.com", "Financial Status": "paid", "Total": "142.00",
             "Created at": "2024-03-05 14:22:10 -0500", "Lineitem quantity": "1", "Lineitem name": "Denim Jacket",
             "Lineitem price": "89.00"}
    tee = {"Name": "#1001", "Email": "ann@example.com", "Lineitem quantity": "1", "Lineitem name": "Organic Tee",
           "Lineitem price": "24.00"}
    other = {"Name": "#1002", "Email": "bob@example.com", "Financial Status": "paid",
             "Created at": "2024-03-06 09:00:00 +0800", "Lineitem quantity": "1", "Lineitem name": "Tote",
             "Lineitem price": "18.00"}
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, [first, tee, tee, other])
    params = write_params(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "orders_export.csv"}})
    expected = {"ann@example.com": (1, 137.00, dt.date(2024, 3, 5)), "bob@example.com": (1, 18.00, dt.date(2024, 3, 6))}
    assert per_customer(params) == expected
    # the same export pasted twice: every line of the second copy is a copy (its tees at the same places)
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, [first, tee, tee, other] * 2)
    assert per_customer(params) == expected
    intake = load_source(load_params(params).source, params)
    result = clean_transactions(connect(), intake.transactions, as_of=AS_OF, rules=load_params(params).cleaning)
    aside = result.quarantine.set_index("source_row")
    assert aside["reason"].to_dict() == {6: "duplicate", 7: "duplicate", 8: "duplicate", 9: "duplicate"}
    assert aside.loc[8, "detail"] == "same as row 4"
    # the later lines took the order's date and status: a named fix; the quarantine shows them as exported
    ledger = result.ledger.set_index(["outcome", "rule"])["rows"]
    assert ledger[("fixed", "filled_from_order")] == 2 and ledger[("used", "")] == 2
    assert pd.isna(aside.loc[8, "raw_ordered_at"]) and aside.loc[6, "raw_ordered_at"] == "2024-03-05 14:22:10 -0500"
    # pasted twice and then sorted by order (and by line): each copy of the order is still found
    for rows in ([first, tee, tee, first, tee, tee, other, other], [first, first, tee, tee, tee, tee, other, other]):
        write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, rows)
        assert per_customer(params) == expected
    # a second copy that lost a line (a partial paste): the whole copy's lines are kept, the copy's set aside
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, [first, tee, tee, other, first, tee, other])
    assert per_customer(params) == expected
    # the order's fields written on every line (filled down in Excel): the tees are still two lines
    dated = {**tee, "Financial Status": "paid", "Created at": first["Created at"]}
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, [first, dated, dated, other])
    assert per_customer(params) == expected


def test_shopify_local_time_is_the_time_as_written(tmp_path):
    # "2024-03-05 23:30:00 -0500" is 04:30 UTC on 6 March; the shop's own day, 5 March, is kept
    rows = [{"Name": "#1", "Email": "a@example.com", "Financial Status": "paid", "Created at": "2024-03-05 23:30:00 -0500",
             "Lineitem quantity": "1", "Lineitem price": "1.00"}]
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, rows)
    params = write_params(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "orders_export.csv"}})
    intake = load_source(load_params(params).source, params)
    result = clean_transactions(connect(), intake.transactions, as_of=AS_OF, rules=load_params(params).cleaning)
    assert result.clean["ordered_at"].tolist() == [dt.datetime(2024, 3, 5, 23, 30)]
    assert result.quarantine.empty


def test_taobao_order_report_in_gb18030(tmp_path):
    rows = [
        {"订单编号": "1987654321098765432", "买家会员名": "小明tb", "买家应付货款": "128.00", "总金额": "128.00",
         "买家实际支付金额": "128.00", "订单状态": "交易成功", "订单创建时间": "2024-03-05 14:22:10",
         "订单付款时间": "2024-03-05 14:23:01", "宝贝种类": "1", "宝贝总数量": "1", "退款金额": "0.00"},
        {"订单编号": "1987654321098765433", "买家会员名": "tb_buyer01", "总金额": "1288.00",
         "买家实际支付金额": "1288.00", "订单状态": "卖家已发货，等待买家确认", "订单创建时间": "2024-04-01 09:00:00",
         "宝贝总数量": "2", "退款金额": "0.00"},
        {"订单编号": "1987654321098765434", "买家会员名": "小明tb", "总金额": "66.00", "买家实际支付金额": "66.00",
         "订单状态": "交易关闭", "订单创建时间": "2024-05-01 10:00:00", "订单关闭原因": "买家申请退款",
         "退款金额": "66.00"},
        {"订单编号": "1987654321098765435", "买家会员名": "小明tb", "总金额": "20.00", "买家实际支付金额": "0.00",
         "订单状态": "等待买家付款", "订单创建时间": "2024-06-01 10:00:00"},
        {"订单编号": "1987654321098765436", "买家会员名": "小明tb", "总金额": "56.50", "买家实际支付金额": "56.50",
         "订单状态": "交易成功", "订单创建时间": "2024-07-08 20:15:00", "退款金额": "0.00"},
    ]
    write_export(tmp_path / "ExportOrderList.csv", TAOBAO_HEADER, rows, encoding="gb18030")
    params = write_params(tmp_path, {"preset": "taobao_orders", "transactions": {"path": "ExportOrderList.csv"}})
    # 小明tb: 128.00 + 56.50 (the closed order and the unpaid one are set aside); tb_buyer01: 1288.00
    assert per_customer(params) == {
        "tb_buyer01": (1, 1288.00, dt.date(2024, 4, 1)),
        "小明tb": (2, 184.50, dt.date(2024, 7, 8)),
    }
    intake = load_source(load_params(params).source, params)
    assert isinstance(intake.transactions, ibis.Table)  # read in place by the engine (issue 15)
    orders = intake.transactions.order_by("source_row").order_id.to_pyarrow().to_pylist()
    assert orders[0] == "1987654321098765432"  # 19 digits, kept exactly
    # the unpaid order as never paid (not as a zero amount); a status kept as written, with its full-width
    # comma, and no full-width fix counted for it (the fix is for numbers, dates and ids)
    result = clean_transactions(connect(), intake.transactions, as_of=AS_OF, rules=load_params(params).cleaning)
    assert result.quarantine.set_index("order_id").loc["1987654321098765435", "reason"] == "unpaid_order"
    shipped = result.clean.set_index("order_id").loc["1987654321098765433"]
    assert shipped["status"] == "卖家已发货，等待买家确认" and "full_width" not in shipped["fixes"]
    assert not result.ledger["rule"].str.contains("full_width").any()


def test_salesforce_opportunities(tmp_path):
    rows = [
        {"Id": "0065g00000AbCdEAAV", "AccountId": "0015g00000XyZabAAB", "Name": "Acme renewal",
         "StageName": "Closed Won", "Amount": "12500.0", "CloseDate": "2024-03-05", "IsClosed": "true",
         "IsWon": "true", "CreatedDate": "2024-01-10T08:00:00.000Z", "CurrencyIsoCode": "USD"},
        {"Id": "0065g00000AbCdFAAV", "AccountId": "0015g00000XyZabAAB", "Name": "Acme upsell",
         "StageName": "Closed Lost", "Amount": "5000.0", "CloseDate": "2024-04-01", "IsClosed": "true",
         "IsWon": "false"},
        {"Id": "0065g00000AbCdGAAV", "AccountId": "0015g00000QrStuAAB", "Name": "Globex pilot",
         "StageName": "Prospecting", "Amount": "800.0", "CloseDate": "2024-09-30", "IsClosed": "false",
         "IsWon": "false"},
        {"Id": "0065g00000AbCdHAAV", "AccountId": "0015g00000QrStuAAB", "Name": "Globex year 1",
         "StageName": "Closed Won", "Amount": "3400.5", "CloseDate": "2024-06-30", "IsClosed": "true",
         "IsWon": "true"},
        {"Id": "0065g00000AbCdIAAV", "AccountId": "0015g00000XyZabAAB", "Name": "Acme services",
         "StageName": "Closed Won", "Amount": "250.0", "CloseDate": "2024-08-15", "IsClosed": "true",
         "IsWon": "true"},
    ]
    write_export(tmp_path / "extract.csv", SALESFORCE_HEADER, rows)
    params = write_params(tmp_path, {"preset": "salesforce_opportunities", "transactions": {"path": "extract.csv"}})
    assert per_customer(params) == {
        "0015g00000QrStuAAB": (1, 3400.50, dt.date(2024, 6, 30)),
        "0015g00000XyZabAAB": (2, 12750.00, dt.date(2024, 8, 15)),
    }


def test_zoho_deals(tmp_path):
    rows = [
        {"Record Id": "zcrm_5725767000000412001", "Deal Name": "Q1 order", "Amount": "1250.00",
         "Closing Date": "2024-03-05", "Account Name": "Zylker Inc", "Stage": "Closed Won", "Currency": "USD"},
        {"Record Id": "zcrm_5725767000000412002", "Deal Name": "Q2 order", "Amount": "980.00",
         "Closing Date": "2024-06-20", "Account Name": "Zylker Inc", "Stage": "Negotiation/Review"},
        {"Record Id": "zcrm_5725767000000412003", "Deal Name": "Big one", "Amount": "4000.00",
         "Closing Date": "2024-05-02", "Account Name": "Acme Corp", "Stage": "Closed Won"},
        {"Record Id": "zcrm_5725767000000412004", "Deal Name": "Lost", "Amount": "700.00",
         "Closing Date": "2024-07-01", "Account Name": "Acme Corp", "Stage": "Closed Lost"},
    ]
    write_export(tmp_path / "Deals_export.csv", ZOHO_HEADER, rows)
    params = write_params(tmp_path, {"preset": "zoho_deals", "transactions": {"path": "Deals_export.csv"}})
    assert per_customer(params) == {
        "Acme Corp": (1, 4000.00, dt.date(2024, 5, 2)),
        "Zylker Inc": (1, 1250.00, dt.date(2024, 3, 5)),
    }


def test_fxiaoke_sales_orders(tmp_path):
    rows = [
        {"销售订单编号": "20240305-000123", "客户名称": "上海某某贸易有限公司", "下单日期": "2024-03-05",
         "销售订单金额（元）": "12,800.00", "生命状态": "正常"},
        {"销售订单编号": "20240410-000124", "客户名称": "上海某某贸易有限公司", "下单日期": "2024-04-10",
         "销售订单金额（元）": "3,000.00", "生命状态": "作废"},
        {"销售订单编号": "20240501-000125", "客户名称": "北京示例科技有限公司", "下单日期": "2024-05-01",
         "销售订单金额（元）": "¥1,050.50", "生命状态": "正常"},
    ]
    write_export(tmp_path / "销售订单.csv", FXIAOKE_HEADER, rows)
    params = write_params(tmp_path, {"preset": "fxiaoke_orders", "transactions": {"path": "销售订单.csv"}})
    assert per_customer(params) == {
        "上海某某贸易有限公司": (1, 12800.00, dt.date(2024, 3, 5)),
        "北京示例科技有限公司": (1, 1050.50, dt.date(2024, 5, 1)),
    }


def test_hubspot_contacts_as_a_customer_table(tmp_path):
    rows = [
        {"Record ID": "51", "First Name": "Ana", "Email": "ana@example.com", "Lifecycle Stage": "Customer",
         "Create Date": "2023-11-02 10:00", "Total Revenue": "1250.5", "Recent Deal Close Date": "2024-03-05 14:22",
         "Recent Deal Amount": "250", "Number of Associated Deals": "3"},
        {"Record ID": "12345678901", "First Name": "Ben", "Email": "ben@example.com", "Lifecycle Stage": "Customer",
         "Total Revenue": "300", "Recent Deal Close Date": "2024-12-01", "Number of Associated Deals": "1"},
    ]
    write_export(tmp_path / "hubspot-crm-exports-all-contacts.csv", HUBSPOT_HEADER, rows)
    params_path = write_params(tmp_path, {"preset": "hubspot_contacts",
                                          "customers": {"path": "hubspot-crm-exports-all-contacts.csv"}})
    params = load_params(params_path)
    assert params.source.kind == "customers"
    level = load_customer_level(params.source, params_path, as_of=AS_OF)
    got = {row.customer_id: (round(float(row.revenue), 2), int(row.recency_days)) for row in level.features.itertuples()}
    # recency: 2024-03-05 to 2024-12-31 is 301 days; 2024-12-01 to 2024-12-31 is 30
    assert got == {"51": (1250.50, 301), "12345678901": (300.00, 30)}


def test_explicit_columns_override_the_preset(tmp_path):
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, shopify_rows())
    params = write_params(tmp_path, {"preset": "shopify_orders", "transactions": {
        "path": "orders_export.csv", "columns": {"customer_id": "Billing Name"}}})
    # Billing Name is blank on later lines: #1001's second line (10.00) has no customer and is set aside
    customers = per_customer(params)
    assert sorted(customers) == ["Alice Ng", "Bob Li"]
    assert customers["Alice Ng"][:2] == (2, 66.48)
    columns = load_params(params).source.transactions.columns
    assert columns["customer_id"] == "Billing Name" and columns["order_id"] == "Name"


def test_a_null_column_removes_the_preset_column_and_its_returns_rule(tmp_path):
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, shopify_rows())
    params = write_params(tmp_path, {"preset": "shopify_orders", "transactions": {
        "path": "orders_export.csv", "columns": {"status": None}}})
    loaded = load_params(params)
    assert "status" not in loaded.source.transactions.columns
    assert loaded.cleaning.returns.status_values == []
    # without the status, the refunded #1003 (35.00) and the voided #1005 (99.00) count
    customers = per_customer(params)
    assert customers["alice@example.com"][:2] == (3, 111.48)
    assert customers["carol@example.com"][:2] == (1, 99.00)


def test_explicit_cleaning_keys_override_the_preset(tmp_path):
    params = write_params(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "x.csv"}},
                          cleaning={"returns": {"status_values": ["refunded"]}})
    returns = load_params(params).cleaning.returns
    assert returns.status_values == ["refunded"] and returns.action == "drop"


def test_an_unknown_preset_is_refused_with_the_known_ones(tmp_path):
    params = write_params(tmp_path, {"preset": "shopfy_orders", "transactions": {"path": "x.csv"}})
    with pytest.raises(ParamsError) as err:
        load_params(params)
    message = str(err.value)
    assert "params.yaml" in message and "source.preset" in message and "did you mean shopify_orders" in message
    for name in presets.names():
        assert name in message
    with pytest.raises(ParamsError, match="known presets: fxiaoke_orders"):
        presets.import_key("salesforce")


def test_a_preset_of_another_kind_is_refused(tmp_path):
    params = write_params(tmp_path, {"preset": "hubspot_contacts", "kind": "file", "transactions": {"path": "x.csv"}})
    with pytest.raises(ParamsError, match="hubspot_contacts reads a customer table"):
        load_params(params)


def test_every_preset_names_its_import_key_and_its_document():
    assert len(presets.names()) == 6
    for name in presets.names():
        preset = presets.load_preset(name)
        key = presets.import_key(name)
        assert key.keys and key.object
        assert "customer_id" in key.columns.values()
        assert set(preset.columns) >= {"customer_id"}
        assert preset.document.get("title")
        assert preset.document.get("url") or not preset.verified  # a verified preset says where


def test_docs_say_which_document_each_preset_follows():
    text = (ROOT / "docs" / "presets.md").read_text(encoding="utf-8")
    sections = {part.split("\n", 1)[0].strip("` "): part for part in text.split("\n## ")[1:]}
    for name in presets.names():
        preset = presets.load_preset(name)
        assert name in sections, f"docs/presets.md has no section for {name}"
        body = sections[name]
        assert ("UNVERIFIED" in body) == (not preset.verified), name
        if preset.document.get("url"):
            assert preset.document["url"] in body, name
        for header in preset.columns.values():  # every header the preset maps is quoted
            assert header in body, (name, header)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/presets.md" in readme


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_cleaning_page_says_what_the_preset_mapped(lang):
    from segkit.i18n import t

    columns = {**presets.load_preset("shopify_orders").columns, "customer_id": "Billing Name"}
    said = dict(presets.describe("shopify_orders", lang, columns=columns))
    text = t("presets.read_as", lang, **said["presets.read_as"])
    assert '"Name"' in text and '"Email"' not in text and '"Billing Name"' not in text  # yours are not the preset's
    assert "refunded" in t("presets.returns", lang, **said["presets.returns"])
    assert "presets.unverified" not in said
    assert "presets.unverified" in dict(presets.describe("taobao_orders", lang))
    assert presets.describe(None, lang) == []


def test_a_preset_without_its_file_says_which_key_to_give(tmp_path):
    params = write_params(tmp_path, {"preset": "taobao_orders"})
    with pytest.raises(ParamsError, match=r"preset taobao_orders needs the export file: source.transactions: \{path"):
        load_params(params)


def test_filling_a_preset_does_not_change_the_params_it_is_given():
    raw = {"source": {"preset": "shopify_orders", "transactions": {"path": "x.csv", "columns": {"status": None}}},
           "cleaning": {"returns": {"action": "net"}}}
    before = yaml.safe_dump(raw)
    filled = presets.fill_params(raw)
    source = presets.fill_source(raw["source"])
    assert yaml.safe_dump(raw) == before
    assert source["transactions"]["columns"]["order_id"] == "Name" and "status" not in source["transactions"]["columns"]
    # without the status, no returns rule is filled; the line items' convention is
    assert filled["cleaning"] == {"returns": {"action": "net"}, "duplicate_order_lines": "keep"}


def test_a_source_alone_takes_its_preset(tmp_path):
    from segkit.params import Source

    source = Source(preset="salesforce_opportunities", transactions={"path": str(tmp_path / "extract.csv")})
    assert source.kind == "file" and source.transactions.columns["customer_id"] == "AccountId"


def test_an_export_read_without_its_preset_gets_a_note_naming_it(tmp_path):
    # a Shopify export mapped by hand: its later lines have no date (set aside); the note names the preset
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, shopify_rows())
    columns = {"customer_id": "Email", "order_id": "Name", "ordered_at": "Created at", "amount": "Lineitem price"}
    params = write_params(tmp_path, {"kind": "file", "transactions": {"path": "orders_export.csv", "columns": columns}})
    intake = load_source(load_params(params).source, params)
    result = clean_transactions(connect(), intake.transactions, as_of=AS_OF)
    assert {"key": "preset_hint", "preset": "shopify_orders", "system": {"en": "Shopify", "zh": "Shopify"}} in result.notes
    from segkit.i18n import note_message, t

    key, values = note_message(next(n for n in result.notes if n["key"] == "preset_hint"))
    assert "`source.preset: shopify_orders`" in t(key, "en", **values)
    assert "`source.preset: shopify_orders`" in t(key, "zh", **values) and "Shopify 导出文件" in t(key, "zh", **values)
    # with the preset, or for a file of other columns: no such note
    with_preset = write_params(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "orders_export.csv"}})
    intake = load_source(load_params(with_preset).source, with_preset)
    notes = clean_transactions(connect(), intake.transactions, as_of=AS_OF, rules=load_params(with_preset).cleaning).notes
    assert not [n for n in notes if n["key"] == "preset_hint"]
    (tmp_path / "plain.csv").write_text("Name,Email,Created at,Lineitem price\n#1,a@x.com,2024-01-02,3.00\n", encoding="utf-8")
    plain = write_params(tmp_path, {"kind": "file", "transactions": {"path": "plain.csv", "columns": columns}})
    intake = load_source(load_params(plain).source, plain)
    assert not [n for n in clean_transactions(connect(), intake.transactions, as_of=AS_OF).notes
                if n["key"] == "preset_hint"]


def unpaid_rows() -> list[dict]:
    """Shopify orders by Financial Status: #2001 pending (two lines, the second blank as Shopify writes
    it), #2002 authorized, #2003 voided, #2004 expired, #2005 partially_paid, #2006 paid."""
    def order(name: str, status: str, price: str, day: int) -> dict:
        return {"Name": name, "Email": "dan@example.com", "Financial Status": status, "Currency": "USD",
                "Created at": f"2024-05-{day:02d} 10:00:00 -0400", "Lineitem quantity": "1",
                "Lineitem name": "Lamp", "Lineitem price": price}

    return [order("#2001", "pending", "40.00", 1),
            {"Name": "#2001", "Email": "dan@example.com", "Lineitem quantity": "2", "Lineitem name": "Bulb",
             "Lineitem price": "3.00"},
            order("#2002", "authorized", "20.00", 2), order("#2003", "voided", "500.00", 3),
            order("#2004", "expired", "70.00", 4), order("#2005", "partially_paid", "8.00", 5),
            order("#2006", "paid", "1.00", 6)]


@pytest.mark.parametrize("engine", [True, False])
def test_shopify_orders_never_paid_are_set_aside_as_unpaid(tmp_path, engine):
    """Pending orders counted as purchases: only refunded and voided ones were set aside."""
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, unpaid_rows())
    from segkit.intake.sources import read_file, to_canonical

    source = {"preset": "shopify_orders", "transactions": {"path": str(tmp_path / "orders_export.csv")}}
    params = load_params(write_params(tmp_path, source))
    assert params.cleaning.unpaid_status_values == ["pending", "voided", "expired"]
    spec = params.source.transactions
    # the engine's reading, or the text readers' (a pandas frame, as a file the engine does not read)
    transactions = load_source(params.source).transactions if engine else presets.rewrite_values(
        to_canonical(read_file(spec), spec.columns, origin=spec.path), "shopify_orders")
    assert isinstance(transactions, ibis.Table) == engine
    result = clean_transactions(connect(), transactions, as_of=params.as_of_date, rules=params.cleaning)
    assert_every_row_accounted(result, transactions)
    aside = result.quarantine.set_index("source_row")
    assert aside["reason"].to_dict() == {2: "unpaid_order", 3: "unpaid_order", 5: "unpaid_order", 6: "unpaid_order"}
    assert aside.loc[2, "detail"] == ('Financial Status "pending" is listed in cleaning.unpaid_status_values: an '
                                      "order never paid, no purchase")
    ledger = result.ledger.set_index(["outcome", "rule"])["rows"]
    assert ledger[("set_aside", "unpaid_order")] == 4
    # authorized (the payment held, taken when the shop captures it), partially paid and paid are purchases
    assert sorted(result.clean["order_id"]) == ["#2002", "#2005", "#2006"]


def test_the_unpaid_rule_needs_the_status_column_and_is_said_in_both_languages(tmp_path):
    from segkit.errors import DataError
    from segkit.i18n import detail_text, t
    from segkit.intake.cleaning import check_rule_columns
    from segkit.params import Cleaning

    with pytest.raises(DataError, match="cleaning.unpaid_status_values needs the status column"):
        check_rule_columns(Cleaning(unpaid_status_values=["pending"]), ["customer_id", "ordered_at", "amount"])
    # without the status column, the preset's rules that read it are left out
    params = load_params(write_params(tmp_path, {"preset": "shopify_orders", "transactions": {
        "path": "orders_export.csv", "columns": {"status": None}}}))
    assert params.cleaning.unpaid_status_values == []
    said = dict(presets.describe("shopify_orders", "zh"))
    assert said["presets.unpaid"]["values"] == "pending、voided、expired"
    for lang in ("en", "zh"):
        assert "{" not in t("presets.unpaid", lang, **said["presets.unpaid"]) and t("rule.unpaid_order", lang)
    assert "Financial" in detail_text('Financial Status "pending" is listed in cleaning.unpaid_status_values: an order '
                                      "never paid, no purchase", "zh", {"status": "Financial Status"})
