"""Reports are safe to send: every value from data or params is shown as text, the pages run no
script and load nothing from elsewhere, and the PDF build reads nothing outside the run folder."""

import base64
import http.server
import re
import threading

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from segkit.report.html import dimension_tables, escape, heading, say, table
from segkit.report.pages import CONTENT_SECURITY_POLICY, NOTEBOOKS, run_folder_fetcher, write_pdf

# What attackers put in a customer id, a category, a strategy text or a tag label.
PAYLOADS = (
    "<img src=x onerror=document.title='X'>",
    "<script>document.title='X'</script>",
    "<svg onload=document.title='X'>",
    "</table></td></tr><h1>broken</h1>",
    "<a href=javascript:document.title='X'>link</a>",
    "[click](javascript:document.title='X')",
    "\u202eevil\u202c",
    "\"><iframe src=//127.0.0.1/>",
    "{{7*7}} ${7*7} %s",
)


def cells(markup: str) -> list[str]:
    return [td.get_text() for td in BeautifulSoup(markup, "html.parser").find_all("td")]


def no_live_markup(markup: str):
    """Nothing that runs or loads: no script, iframe or svg element, no on* attribute, no javascript: URL."""
    soup = BeautifulSoup(markup, "html.parser")
    assert not soup.find_all(["script", "iframe", "svg", "object", "embed"])
    for tag in soup.find_all(True):
        assert not [a for a in tag.attrs if a.lower().startswith("on")], tag
        for attribute in ("href", "src"):
            assert not str(tag.get(attribute, "")).lower().startswith("javascript:"), tag


def test_table_cells_and_labels_are_text():
    frame = pd.DataFrame({"customer_id": list(PAYLOADS), "revenue": range(len(PAYLOADS))})
    frame[PAYLOADS[0]] = PAYLOADS[::-1]  # columns named by the data
    frame["{0} {x} {7*7}"] = 1
    markup = table(frame, "en").to_html()
    no_live_markup(markup)
    soup = BeautifulSoup(markup, "html.parser")
    assert len(soup.find_all("table")) == 1 and len(soup.find_all("tr")) == len(PAYLOADS) + 1
    shown = cells(markup)
    assert shown[0::4][:2] == [PAYLOADS[0], PAYLOADS[1]]  # shown literally, as the data say
    assert [th.get_text() for th in soup.find_all("th")][2:] == [PAYLOADS[0], "{0} {x} {7*7}"]
    assert "[U+202E]evil[U+202C]" in shown  # direction overrides are shown, not obeyed


def test_table_ids_are_stable_and_formats_still_apply():
    frame = pd.DataFrame({"segment": ["a", "b"], "revenue": [1234.5, 2.0], "customer_share": [0.25, 0.75]})
    first, second = table(frame, "en").to_html(), table(frame.copy(), "en").to_html()
    assert first == second
    assert cells(first) == ["a", "1,234.50", "25.0%", "b", "2.00", "75.0%"]
    assert table(frame.assign(segment=["a", "c"]), "en").to_html() != first


def test_sentences_escape_their_values_and_keep_the_catalogue_markdown():
    for payload in PAYLOADS:
        markup = say("rfm.by_dimension", "en", dimension=payload).markup
        no_live_markup(markup)
        assert "<a" not in markup  # a value never becomes a link, in HTML or in Markdown
        assert escape(payload) in markup
    bold = say("rfm.segments", "en").markup  # catalogue Markdown is rendered
    assert bold.startswith("<p>") and "**" not in bold
    assert "<h2>" in heading("nb01.title", "zh", level=2).markup


def test_a_dimension_named_by_the_data_is_text():
    profile = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["champions", "lost"], "revenue": [10.0, 1.0],
                            PAYLOADS[2]: [PAYLOADS[0], PAYLOADS[1]]})
    from segkit.classify.rfm import load_segment_map

    markup = dimension_tables(profile, "segment", [PAYLOADS[2]], load_segment_map("rfm11"), "en").markup
    no_live_markup(markup)
    assert PAYLOADS[2] in BeautifulSoup(markup, "html.parser").get_text()


class Listener:
    """A local HTTP server that records every request it gets (bounded: it serves until stopped)."""

    def __init__(self):
        self.requests: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                listener.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_the_pdf_build_reads_only_the_run_folder(tmp_path):
    """Markup that escaping would never let through, put straight into the pages: the PDF build
    still fetches nothing, attaches nothing, and reads no file outside the run folder."""
    from pypdf import PdfReader

    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    folder = tmp_path / "run"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "features.parquet").write_bytes(b"PAR1 not for a PDF")
    (folder / "chart.png").write_bytes(PNG)
    with Listener() as listener:
        hostile = (f'<a rel="attachment" href="{secret.as_uri()}">x</a><link rel="attachment" href="/etc/hostname">'
                   f'<a rel="attachment" href="data/features.parquet">y</a>'
                   f'<img src="{listener.url}/img"><link rel="stylesheet" href="{listener.url}/css">'
                   f'<style>@import url("{listener.url}/import"); p {{ background: url("{listener.url}/bg") }}</style>'
                   f'<img src="../secret.txt"><img src="{secret.as_uri()}">'
                   f'<img src="chart.png"><img src="data:image/png;base64,{base64.b64encode(PNG).decode()}"><p>body</p>')
        for name in ("index", *NOTEBOOKS):
            (folder / f"{name}.html").write_text(
                f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title></head>'
                f"<body>{hostile}</body></html>", encoding="utf-8")
        write_pdf(folder, folder / "report.pdf")
        assert listener.requests == []
    reader = PdfReader(folder / "report.pdf")
    assert reader.attachments == {}
    assert not any(annotation.get_object().get("/Subtype") == "/FileAttachment"
                   for page in reader.pages for annotation in page.get("/Annots", []) or [])
    images = sum(len(page.images) for page in reader.pages)
    assert images == 2 * (1 + len(NOTEBOOKS))  # the run's own chart and the data: URI, on every page


def test_the_fetcher_serves_page_assets_in_the_folder_only(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "chart.png").write_bytes(PNG)
    (folder / "manifest.json").write_text("{}")
    (tmp_path / "outside.png").write_bytes(PNG)
    fetcher = run_folder_fetcher(folder)
    assert fetcher((folder / "chart.png").as_uri()).read() == PNG
    for url in ((folder / "manifest.json").as_uri(), (tmp_path / "outside.png").as_uri(),
                (folder / ".." / "outside.png").as_uri(), "file:///etc/hostname", "http://127.0.0.1:9/x",
                "https://example.org/x.png", "ftp://127.0.0.1/x.png",
                "file://evil.example.org" + (folder / "chart.png").as_uri()[len("file://"):]):
        with pytest.raises(ValueError, match="reads only its own page assets"):
            fetcher(url)
    assert len(fetcher.refused) == 8


def test_pages_carry_a_policy_that_forbids_scripts_and_remote_loads():
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # falls back to default-src 'none'
    assert not re.search(r"https?:", CONTENT_SECURITY_POLICY)


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory):
    """One run whose data and params carry the payloads everywhere a value reaches a page: customer
    ids of the top customers and of set-aside rows, categories, regions, a dimension named by a
    column header, strategy texts, tag labels and rules, custom segment labels."""
    import yaml

    from segkit.datasets import generate_retail
    from segkit.report.runner import run_report

    folder = tmp_path_factory.mktemp("hostile")
    data = generate_retail(300, "2024-01-01", 12, seed=11)
    orders, customers = data.transactions.copy(), data.customers.copy()
    top = orders.groupby("customer_id")["amount"].sum().nlargest(len(PAYLOADS)).index
    renamed = dict(zip(top, PAYLOADS))
    orders["customer_id"] = orders["customer_id"].replace(renamed)
    customers["customer_id"] = customers["customer_id"].replace(renamed)
    orders.loc[orders.index[:3], "category"] = PAYLOADS[:3]
    bad = pd.DataFrame({"customer_id": list(PAYLOADS), "order_id": "X1", "ordered_at": "2024-05-01",
                        "amount": [f"{payload} not a number" for payload in PAYLOADS], "quantity": 1,
                        "category": "books", "channel": "app"})
    pd.concat([orders.astype(str), bad]).to_csv(folder / "orders.csv", index=False)
    customers["region"] = [PAYLOADS[i % len(PAYLOADS)] for i in range(len(customers))]
    customers[PAYLOADS[2]] = customers["customer_type"]
    customers.to_csv(folder / "customers.csv", index=False)
    label = {"en": PAYLOADS[0], "zh": PAYLOADS[1]}
    params = {
        "run_name": "hostile", "lang": "en", "as_of": "2024-12-31",
        "source": {"kind": "file", "transactions": {"path": "orders.csv"}, "customers": {"path": "customers.csv"}},
        "cluster": {"k_min": 2, "k_max": 3, "random_state": 0},
        "dimensions": ["region", PAYLOADS[2]],
        "strategies": {"up": {"en": PAYLOADS[3]}, "down": {"en": PAYLOADS[5]}},
        "tags": [{"name": "evil", "when": f'region == "{PAYLOADS[0]}"', **label},
                 {"name": "evil2", "when": "orders >= 2", "en": PAYLOADS[4], "zh": PAYLOADS[4]}],
        "rfm": {"segment_map": "hostile_map", "custom_maps": {"hostile_map": {
            "kind": "grid", "scale": 2, "segments": [
                {"code": "up", "en": PAYLOADS[6], "zh": PAYLOADS[6], "boxes": [{"r": [2, 2], "fm": [1, 2]}]},
                {"code": "down", "en": PAYLOADS[7], "zh": PAYLOADS[7], "boxes": [{"r": [1, 1], "fm": [1, 2]}]}]}}},
    }
    path = folder / "hostile.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return run_report(path, reports_dir=folder / "reports")


@pytest.mark.slow
def test_a_hostile_run_shows_every_value_as_text_in_a_real_browser(hostile_run, tmp_path):
    from conftest import chromium

    for page in ("index", *NOTEBOOKS):
        source = (hostile_run.folder / f"{page}.html").read_text(encoding="utf-8")
        assert "<script" not in source.lower() and CONTENT_SECURITY_POLICY in source
        dom = chromium("--dump-dom", (hostile_run.folder / f"{page}.html").as_uri(), tmp_path=tmp_path).stdout
        soup = BeautifulSoup(dom, "html.parser")
        assert soup.title and "X" != soup.title.get_text(), page  # no payload ran
        no_live_markup(str(soup.body))
        assert not soup.find("h1", string="broken")
        for grid in soup.find_all("table", class_="segkit-table"):  # no table was closed by a value
            widths = {len(row.find_all(["td", "th"])) for row in grid.find_all("tr")}
            assert len(widths) == 1, (page, widths)
    text = {page: BeautifulSoup((hostile_run.folder / f"{page}.html").read_text(encoding="utf-8"),
                                "html.parser").get_text() for page in NOTEBOOKS}
    assert PAYLOADS[0] in text["01_cleaning"]  # the set-aside sample shows the id as it came
    assert PAYLOADS[0] in text["02_rfm"] and PAYLOADS[3] in text["02_rfm"]  # ranking, strategy text


@pytest.mark.slow
def test_a_hostile_run_pdf_has_no_attachment_and_shows_the_text(hostile_run):
    from pypdf import PdfReader

    reader = PdfReader(hostile_run.folder / "report.pdf")
    assert reader.attachments == {}
    assert not any(annotation.get_object().get("/Subtype") == "/FileAttachment"
                   for page in reader.pages for annotation in page.get("/Annots", []) or [])
    text = "".join(page.extract_text() for page in reader.pages)
    assert "onerror=document.title" in text
