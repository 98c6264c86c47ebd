"""Every table of the shared English and Chinese reports names its columns and rows in the page's
language: no header and no cell is one of segkit's code names (alternative_mean, recency_days, ...),
and the Chinese pages put no blank between two Chinese words. A label may be a value of the user's
own data (a category such as "books" heads a column of the category table). Reads the session
fixtures; adds no report run."""

import html
import re

import pandas as pd
import pytest

from segkit.i18n import CJK, messages

pytestmark = pytest.mark.slow

IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")  # a lowercase name as code writes it


def pages(run) -> dict[str, str]:
    folder = run[1].folder
    return {page.stem: re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
            for page in sorted(folder.glob("*.html"))}


def cells(markup: str, tag: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", markup, flags=re.S)]


def data_values(run) -> set[str]:
    """The text values of the user's own data (the cleaned rows, the customer table): words a table
    may show as they are."""
    data = run[1].folder / "data"
    values = set()
    for name in ("clean_transactions", "customers"):
        path = data / f"{name}.parquet"
        if path.exists():
            frame = pd.read_parquet(path)
            for column in frame.columns:
                if pd.api.types.is_string_dtype(frame[column]) and column not in ("customer_id", "order_id"):
                    values |= set(frame[column].dropna().astype(str).str.strip())
    return values


def code_names() -> set[str]:
    """segkit's own column names: those the catalogue has a label for (col.<name>)."""
    return {key[len("col."):] for key in messages() if key.startswith("col.")}


@pytest.mark.parametrize("run", ["en_run", "zh_run"])
def test_no_table_shows_a_code_name(run, request):
    report = request.getfixturevalue(run)
    allowed = data_values(report)
    known = code_names()
    found = []
    for page, markup in pages(report).items():
        for header in cells(markup, "th"):
            if IDENTIFIER.fullmatch(header) and header not in allowed:
                found.append((page, "th", header))
        for cell in cells(markup, "td"):
            if IDENTIFIER.fullmatch(cell) and cell not in allowed and ("_" in cell or cell in known):
                found.append((page, "td", cell))
    assert not found, sorted(set(found))


def test_chinese_pages_put_no_blank_between_chinese_words(zh_run):
    """A blank stands between Chinese and Latin text or numbers, never between two Chinese words
    (a translated column name and the words after it, "时间单位为 周"); the one exception is the
    join of a rule's conditions, "订单数 > 3.5 且 销售额 <= 325.7" (and 或 in a tag rule), a formula."""
    found = []
    for page, markup in pages(zh_run).items():
        text = html.unescape(re.sub(r"<[^>]+>", "\n", markup))
        text = re.sub(r" ([且或]) ", r"\1", text)
        found += [(page, gap) for gap in re.findall(rf".{{0,12}}[{CJK}][ \t]+[{CJK}].{{0,12}}", text)]
    assert not found, found


def test_the_index_and_the_pages_give_the_same_revenue_concentration(en_run):
    """The index's "Revenue from the top 20%" and 02's and 08's sentences are one figure, rounded once
    (the index once showed 35.8% for 0.35852, rounded to 0.3585 before the page rounded it)."""
    from segkit.classify.value import top_share
    from segkit.report.tables import headline_kpis
    from segkit.store import load_stage

    folder = en_run[1].folder
    share = top_share(load_stage(folder / "data", "features")["revenue"], 0.2)
    shown = f"{share:.1%}"
    assert headline_kpis(folder / "data", top=0.2)["top_share"] == share  # not rounded before the page rounds it
    text = {name: html.unescape(re.sub(r"<[^>]+>", " ", markup)) for name, markup in pages(en_run).items()}
    assert re.search(rf"{re.escape(shown)}\s+Revenue from the top 20% of customers", text["index"]), shown
    assert f"the top 20% of customers bring {shown} of the revenue" in " ".join(text["02_rfm"].split())
    assert f"bring {shown} of the revenue" in " ".join(text["08_case_study"].split())
