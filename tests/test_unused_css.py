"""The print build's removal of style rules a document cannot use (segkit.report.unused_css)."""
import re

import pytest

from segkit.report.unused_css import classes_in, without_unused_rules


def rules_of(css: str) -> list[str]:
    return [" ".join(rule.split()) for rule in re.findall(r"[^{}]+\{[^{}]*\}", css)]


def test_classes_are_read_from_double_and_single_quoted_attributes():
    html = """<div class="a  b"><p class='c'>x</p><span data-class="no">y</span><i CLASS="d e&amp;f"></i></div>"""
    assert classes_in(html) == {"a", "b", "c", "d", "e&f"}


def prune(css: str, classes: set[str], body: str = "") -> str:
    """One sheet judged against a document whose elements have `classes`."""
    html = "".join(f'<p class="{name}"></p>' for name in sorted(classes)) + body
    return "\n".join(without_unused_rules([css], html))


@pytest.mark.parametrize(("selector", "kept"), [
    (".present", True),
    (".absent", False),
    (".present .absent", False),
    ("div.absent > p", False),
    (".present.absent", False),
    (".absent, .present", True),
    ("p:not(.absent)", True),           # a class inside :not() is not needed by the selector
    (":is(.absent, .other) p", True),   # nor inside :is(): kept, as it cannot be judged cheaply
    ("[class~=absent]", True),          # attribute selectors are kept
    ("body", True),
    ("*", True),
    (".present::before", True),
])
def test_a_rule_is_kept_exactly_when_one_of_its_selectors_can_match(selector, kept):
    css = f"{selector} {{ color: red }}"
    assert bool(rules_of(prune(css, {"present"}))) is kept


def test_rules_inside_media_are_judged_and_other_at_rules_are_kept_whole():
    css = """@media print { .absent { color: red } .present { color: blue } }
             @media screen { .absent { color: red } }
             @font-face { font-family: X; src: url(x.woff) }
             @page { size: A4; margin: 1cm }"""
    kept = prune(css, {"present"})
    assert "@media print" in kept and ".present" in kept
    assert ".absent" not in kept and "@media screen" not in kept
    assert "@font-face" in kept and "url(x.woff)" in kept
    assert "@page" in kept and "A4" in kept


def test_custom_properties_nothing_reads_go_and_those_read_through_others_stay():
    css = """:root { --icon: url(data:image/svg+xml;base64,AAAA); --base: #123456; --accent: var(--base);
                     --unused: var(--also-unused); --also-unused: 1px; }
             .present { color: var(--accent) !important; margin: 0 }
             .absent { border-color: var(--icon) }"""
    kept = prune(css, {"present"})
    assert "--icon" not in kept and "--unused" not in kept and "--also-unused" not in kept
    assert "--accent:" in kept.replace(" ", "") and "--base:" in kept.replace(" ", "")
    assert "!important" in kept and "margin" in kept


def test_a_custom_property_read_only_by_an_at_rule_is_kept():
    css = ":root { --w: 10cm } @page { width: var(--w) }"
    assert "--w:" in prune(css, set()).replace(" ", "")


def test_the_notebook_templates_stylesheet_shrinks_to_what_a_report_page_uses(en_run):
    _, result = en_run
    page = (result.folder / "03_customer_value.html").read_text(encoding="utf-8")
    css = "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", page, re.S))
    body = re.search(r"<body[^>]*>(.*)</body>", page, re.S).group(1)  # what write_pdf judges against
    kept = "\n".join(without_unused_rules([css], body))
    assert len(kept) < len(css) / 5
    for name in ("jp-RenderedHTMLCommon", "jp-OutputArea-output", "segkit-nav"):  # classes the page has
        assert name in classes_in(page) and f".{name}" in kept
    assert "--jp-icon-add-above" in css and "--jp-icon-add-above" not in kept
    for used in set(re.findall(r"var\(\s*(--[\w-]+)", kept)):  # every variable still read is still defined
        assert re.search(rf"{re.escape(used)}\s*:", kept) or not re.search(rf"{re.escape(used)}\s*:", css), used


def test_a_custom_property_read_in_the_page_itself_or_with_another_case_is_kept():
    css = ":root { --inline: red; --cased: blue; --nobody: green } p { color: VAR(--cased) }"
    kept = prune(css, set(), body='<p style="color: var(--inline)">x</p>').replace(" ", "")
    assert "--inline:red" in kept and "--cased:blue" in kept and "--nobody" not in kept


def test_sheets_are_judged_apart_and_a_broken_one_does_not_swallow_the_next():
    sheets = without_unused_rules([".a { color: red } /* never closed", ".a { color: blue } .b { color: green }"],
                                  '<p class="a"></p>')
    assert len(sheets) == 2 and "blue" in sheets[1] and ".b" not in sheets[1]


def test_one_sheet_judged_against_two_documents_keeps_each_its_own_rules():
    """The sheet is parsed once per process (the PDF judges the template's sheet against each part):
    what one part kept must not leak into the next."""
    css = (":root { --a: red; --b: blue } .a { color: var(--a) } .b { color: var(--b) } "
           "@media print { .a { margin: 0 } .b { margin: 1px } }")
    first = prune(css, {"a"}).replace(" ", "")
    second = prune(css, {"b"}).replace(" ", "")
    assert ".a{" in first and ".b{" not in first and "--a:red" in first and "--b" not in first
    assert ".b{" in second and ".a{" not in second and "--b:blue" in second and "--a" not in second
    assert "margin:0" in first and "margin:1px" not in first and "margin:1px" in second
    assert prune(css, {"a"}).replace(" ", "") == first  # judged again, the same
