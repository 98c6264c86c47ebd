"""The HTML report in a real browser (issue 13): axe-core (Deque's accessibility engine, from npm)
finds no serious or critical violation on any page, in English and Chinese; the index shows its
headline figures as visible text and a section page's charts load.

Chromium (Debian's, headless, offline) is driven over the DevTools protocol through a pipe
(--remote-debugging-pipe), so no browser driver is needed; axe-core is installed with npm into a
test-tools folder (SEGKIT_TEST_TOOLS, default ~/.cache/segkit-test-tools) the first time, never at
report run time. The page scripts are evaluated through the protocol: the report pages' own
Content-Security-Policy (no scripts) stays in force."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import IN_CI, require_tool
from segkit.report.pages import NOTEBOOKS, format_kpis

pytestmark = pytest.mark.slow

AXE_VERSION = "4"
BLOCKING = ("serious", "critical")


def axe_script() -> str:
    """axe.min.js from the test-tools folder, installed with npm when missing."""
    tools = Path(os.environ.get("SEGKIT_TEST_TOOLS", Path.home() / ".cache" / "segkit-test-tools"))
    script = tools / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        npm = require_tool("npm")
        tools.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(tools),
                               f"axe-core@{AXE_VERSION}"], capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not script.is_file():
            message = f"npm could not install axe-core into {tools}: {done.stderr[-500:]}"
            pytest.fail(message) if IN_CI else pytest.skip(message)
    return script.read_text(encoding="utf-8")


class Browser:
    """Headless Chromium driven over the DevTools protocol through a pipe: the browser reads commands
    on its file descriptor 3 and writes answers and events on 4, each a JSON message ending in NUL."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900):
        chromium = require_tool("chromium")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire():  # in the child: the pipes on the descriptors the browser expects, kept across exec
            # moved above 9 first, so that neither end is overwritten by the other's dup2
            high_read = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            high_write = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(high_read, 3)
            os.dup2(high_write, 4)

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 f"--user-data-dir={profile}", f"--window-size={width},{height}", "--remote-debugging-pipe"]
        self.process = subprocess.Popen([chromium, *flags], preexec_fn=wire, close_fds=False,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.tabs: dict[str, str] = {}  # session id -> target id

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def _receive(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str) -> str:
        """A new tab showing `url`, loaded; returns its session id."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session)
        self.events.clear()
        self.send("Page.navigate", session, url=url)
        deadline = time.monotonic() + 60
        while not any(event.get("method") == "Page.loadEventFired" and event.get("sessionId") == session
                      for event in self.events):
            self.events.append(self._receive(deadline))
        self.tabs[session] = target
        return session

    def close_tab(self, session: str) -> None:
        self.send("Target.closeTarget", targetId=self.tabs.pop(session))

    def evaluate(self, session: str, expression: str, timeout: float = 120):
        answer = self.send("Runtime.evaluate", session, timeout=timeout, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(answer["exceptionDetails"].get("exception", {}).get("description", answer))
        return answer["result"].get("value")

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    started = Browser(tmp_path_factory.mktemp("chromium") / "profile")
    yield started
    started.close()


@pytest.fixture(scope="module")
def axe():
    return axe_script()


def violations(browser: Browser, axe: str, page: Path) -> list[dict]:
    """axe-core's serious and critical violations on `page`, as (rule, impact, help, first targets)."""
    session = browser.open(page.as_uri())
    browser.evaluate(session, axe + "\n;true")
    found = browser.evaluate(session, "axe.run(document, {resultTypes: ['violations']})"
                                      ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
                                      " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))")
    browser.close_tab(session)
    return [violation for violation in found if violation["impact"] in BLOCKING]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_passes_axe_without_serious_violations(lang, en_run, zh_run, browser, axe):
    _, result = {"en": en_run, "zh": zh_run}[lang]
    pages = ["index", *(name for name in NOTEBOOKS if (result.folder / f"{name}.html").is_file())]
    found = {name: violations(browser, axe, result.folder / f"{name}.html") for name in pages}
    assert {name: found_here for name, found_here in found.items() if found_here} == {}


def test_index_shows_its_headline_figures_as_visible_text(en_run, browser):
    import segkit

    params_path, result = en_run
    session = browser.open((result.folder / "index.html").as_uri())
    visible = browser.evaluate(session, "document.body.innerText")
    params = segkit.load_params(params_path)
    for _, label, value in format_kpis(result.kpis, params):
        assert value in visible and label in visible, (label, value)


def test_a_section_page_loads_its_charts(en_run, browser):
    _, result = en_run
    session = browser.open((result.folder / "02_rfm.html").as_uri())
    images = browser.evaluate(session, "[...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0,"
                                       " alt: i.alt, shown: i.getBoundingClientRect().width}))")
    assert len(images) >= 4
    assert all(image["ok"] and image["shown"] > 100 for image in images), images
    assert all(image["alt"] and "No description" not in image["alt"] for image in images)


@pytest.mark.parametrize("width", [1280, 420])
def test_a_headline_figure_stays_on_one_line_inside_its_card(tmp_path, browser, width):
    """The index's cards in a wide and a phone-wide window: every figure on one line, none wider than
    its card (a long amount once wrapped after its decimal point)."""
    from segkit.report.pages import INDEX_BODY_CSS, INDEX_CSS, REPORT_CSS, figure_card, palette_css
    from test_pdf_layout import HEADLINE_FIGURES

    summary = "".join(figure_card("summary-figure", "k", "label", value) for value in HEADLINE_FIGURES)
    cards = "".join(figure_card("kpi", "k", "label", value) for value in HEADLINE_FIGURES)
    page = tmp_path / "index.html"
    page.write_text(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>i</title><style>{palette_css()}'
                    f'{REPORT_CSS}{INDEX_BODY_CSS}{INDEX_CSS}</style></head><body><section class="segkit-summary">'
                    f'<div class="summary-figures">{summary}</div></section><div class="kpis">{cards}</div></body></html>',
                    encoding="utf-8")
    session = browser.open(page.as_uri())
    browser.send("Emulation.setDeviceMetricsOverride", session, width=width, height=900, deviceScaleFactor=1,
                 mobile=False)
    measured = browser.evaluate(session, "[...document.querySelectorAll('.value')].map(v => {"
                                         " const range = document.createRange(); range.selectNodeContents(v);"
                                         " const box = v.parentElement.getBoundingClientRect();"
                                         " const text = range.getBoundingClientRect();"
                                         " return {text: v.textContent, lines: new Set([...range.getClientRects()]"
                                         ".map(r => Math.round(r.top))).size, inside: text.left >= box.left - 0.5 &&"
                                         " text.right <= box.right + 0.5}; })")
    browser.close_tab(session)
    assert len(measured) == 2 * len(HEADLINE_FIGURES)
    assert [shown for shown in measured if shown["lines"] != 1 or not shown["inside"]] == []
