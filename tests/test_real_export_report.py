"""Issue 9's "done when": one generated export with the real-world flaws together (an ERP export with
cancellation documents, compressed, semicolon-separated, Windows-1252, blank lines, duplicates,
unreadable and implausible values, a customer whose purchases net to nothing) gives a whole report
whose counts are right, every row accounted for. Counts are known by construction."""

import gzip
import random

import pandas as pd
import pytest

from conftest import ROOT  # noqa: F401  (the tests folder on the path)
from segkit.report.runner import run_report

pytestmark = pytest.mark.slow

HEADER = "Invoice;StockCode;Description;Quantity;InvoiceDate;UnitPrice;CustomerID;Country"


def ordinary_rows():
    """40 customers, each 2-6 invoices of 1-3 lines over 2024, prices in pounds (no flaws)."""
    rng = random.Random(9)
    rows, invoice = [], 500000
    for c in range(40):
        customer = str(12000 + c)
        country = "United Kingdom" if c % 4 else "France"
        for _ in range(rng.randint(2, 6)):
            invoice += 1
            day = pd.Timestamp("2024-01-02") + pd.Timedelta(days=rng.randint(0, 330))
            for line in range(rng.randint(1, 3)):
                code = f"2{rng.randint(1000, 1099)}"
                rows.append([str(invoice), code, f"ITEM {code}", str(rng.randint(1, 12)), day.strftime("%Y-%m-%d %H:%M"),
                             f"{rng.randint(50, 2000) / 100:.2f}", customer, country])
    return rows


def ordinary_revenue(customer: str) -> float:
    return sum(int(r[3]) * float(r[5]) for r in ordinary_rows() if r[6] == customer)


def flawed_export(tmp_path):
    rows = ordinary_rows()
    expected = {"aside": {}, "fixed": {}}

    def aside(rule, n=1):
        expected["aside"][rule] = expected["aside"].get(rule, 0) + n

    # an ERP cancellation document with its own number: customer 13001 buys 3 lines, cancels one
    rows += [["900001", "30001", "LAMP", "2", "2024-10-01 10:00", "15.00", "13001", "United Kingdom"],
             ["900001", "30002", "VASE", "1", "2024-10-01 10:00", "20.00", "13001", "United Kingdom"],
             ["900001", "30003", "BOWL", "4", "2024-10-01 10:00", "2.50", "13001", "United Kingdom"],
             ["C900101", "30002", "VASE", "-1", "2024-10-03 09:00", "20.00", "13001", "United Kingdom"]]
    # 13002's only order is cancelled the same day: an order cancelled in full, set aside with its
    # cancellation (no purchase, so no customer)
    rows += [["900002", "30004", "CLOCK", "1", "2024-11-05 11:00", "35.00", "13002", "Germany"],
             ["C900102", "30004", "CLOCK", "-1", "2024-11-05 12:00", "35.00", "13002", "Germany"]]
    aside("refunded_order", 2)
    # 13003 cancels a purchase from before the extract: unmatched, reduces revenue
    rows += [["900003", "30005", "RUG", "1", "2024-06-01 10:00", "60.00", "13003", "United Kingdom"],
             ["C900103", "30006", "CHAIR", "-1", "2024-06-10 10:00", "25.00", "13003", "United Kingdom"]]
    # an exact duplicate of a whole line
    rows.append(list(rows[0]))
    aside("duplicate")
    # the same order line again with another description: a duplicate order line, not an exact one
    twin = list(rows[1])
    twin[2] = "ITEM (re-exported)"
    rows.append(twin)
    aside("duplicate_order_line")
    # values as people type them: a pound sign (Windows-1252), a day-first date that settles itself
    rows.append(["900004", "30007", "TRAY", "1", "2024-09-15 10:00", "£12.50", "12003", "United Kingdom"])
    rows.append(["900005", "30008", "JUG", "1", "25/09/2024 10:00", "8.00", "12004", "United Kingdom"])
    # values that cannot be used
    rows.append(["900006", "30009", "CUP", "1", "2024-09-16 10:00", "4.00", "", "United Kingdom"])
    aside("missing_customer_id")
    rows.append(["900007", "30010", "MUG", "1", "2024-09-17 10:00", "1,2,50", "12005", "United Kingdom"])
    aside("unreadable_amount")
    rows.append(["900008", "30011", "PLATE", "1", "2024-09-18 10:00", "1e308", "12006", "United Kingdom"])
    aside("implausible_amount")
    # dates that cannot be true: a typo year (no as_of is given, so it must not become the as-of date) and year 0
    rows.append(["900009", "30012", "FORK", "1", "2999-03-01 10:00", "3.00", "12007", "United Kingdom"])
    aside("implausible_future_date")
    rows.append(["900010", "30013", "SPOON", "1", "0000-01-01 10:00", "3.00", "12008", "United Kingdom"])
    aside("unreadable_date")
    # one customer, three spellings: a spreadsheet float, an invisible soft hyphen (Windows-1252 has it), the plain id
    rows.append(["900011", "30014", "KNIFE", "1", "2024-08-01 10:00", "6.00", "12009.0", "United Kingdom"])
    rows.append(["900012", "30015", "CLOTH", "2", "2024-08-02 10:00", "3.00", "12\xad009", "United Kingdom"])
    text = HEADER + "\r\n" + "\r\n".join(";".join(r) for r in rows[:50]) + "\r\n;;;;;;;\r\n   \r\n" \
        + "\r\n".join(";".join(r) for r in rows[50:]) + "\r\n"
    path = tmp_path / "online_retail.csv.gz"
    path.write_bytes(gzip.compress(text.encode("cp1252")))
    return path, rows, expected


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real_export")
    path, rows, expected = flawed_export(folder)
    (folder / "retail.yaml").write_text(f"""run_name: retail
lang: en
currency: {{code: GBP, symbol: "£", minor_unit: 2}}
source:
  kind: file
  transactions:
    path: {path.name}
    columns: {{customer_id: CustomerID, order_id: Invoice, ordered_at: InvoiceDate, quantity: Quantity,
              unit_price: UnitPrice, product: StockCode}}
    attributes: {{country: Country}}
cleaning:
  returns: {{order_prefix: C, negative_quantity: true, match: product}}
dimensions: [country]
cluster: {{k_min: 2, k_max: 4, random_state: 0}}
""", encoding="utf-8")
    result = run_report(folder / "retail.yaml", reports_dir=folder / "reports", pdf=False)
    return result, rows, expected


def test_every_row_is_accounted_for_with_the_right_reasons(report):
    result, rows, expected = report
    data = result.folder / "data"
    ledger = pd.read_parquet(data / "ledger.parquet")
    assert ledger["rows"].sum() == len(rows)  # the two blank lines are not rows
    aside = ledger[(ledger.outcome == "set_aside") & (ledger.rows > 0)].set_index("rule")["rows"].to_dict()
    assert aside == expected["aside"]
    fixed = " ".join(ledger.loc[ledger.outcome == "fixed", "rule"])
    assert "currency_text" in fixed and "date_format" in fixed and "return_netted" in fixed
    assert "integral_float_id" in fixed and "invisible_characters" in fixed
    info = pd.read_json(data / "run.json", typ="series")
    assert info["derived_dimensions"] == ["country"]
    # the as-of date is the latest plausible date, not the typo of 2999
    assert info["as_of_rule"] == "latest_plausible_date" and str(info["as_of"])[:4] == "2024"


def test_the_cancellations_are_netted_against_their_purchases(report):
    result, _, _ = report
    data = result.folder / "data"
    features = pd.read_parquet(data / "features.parquet").set_index("customer_id")
    as_of = pd.Timestamp(pd.read_json(data / "run.json", typ="series")["as_of"])
    # 13001: one invoice (the cancellation is no order), 2*15 + 20 + 4*2.5 - 20 = 40, recency from 1 October
    assert features.loc["13001", "orders"] == 1 and features.loc["13001", "revenue"] == pytest.approx(40.0)
    assert features.loc["13001", "recency_days"] == (as_of - pd.Timestamp("2024-10-01")).days
    # 12009 written three ways is one customer: its ordinary invoices and the two above
    assert features.loc["12009", "revenue"] == pytest.approx(ordinary_revenue("12009") + 6.0 + 6.0)
    assert "13002" not in features.index  # its only order was cancelled in full: no purchase, no customer
    assert features.loc["13003", "revenue"] == pytest.approx(35.0)  # 60 less the unmatched 25
    customers = pd.read_parquet(data / "customer_ledger.parquet")
    assert customers.loc[customers.outcome == "set_aside", "customers"].sum() == 0
    assert customers["customers"].sum() == len(features)


def test_the_report_finishes_and_says_what_it_did(report):
    result, _, _ = report
    cleaning = (result.folder / "01_cleaning.html").read_text(encoding="utf-8")
    assert "Customer attributes taken from the transactions" in cleaning and "country" in cleaning
    # how the file was read: Windows-1252, gzip, semicolons; the two blank lines said, not counted
    assert "cp1252" in cleaning and "gzip" in cleaning and "semicolons" in cleaning
    assert "2 lines held only blanks or separators" in cleaning
    assert "£" in (result.folder / "index.html").read_text(encoding="utf-8")
    assert (result.folder / "08_case_study.html").is_file()
    profile = pd.read_parquet(result.folder / "data" / "profile.parquet")
    assert set(profile["country"].dropna()) <= {"United Kingdom", "France", "Germany"}
