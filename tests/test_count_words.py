"""Messages written outside the catalogue (errors, terminal lines) agree with their count: "1 row",
"2 rows", through segkit.i18n.counted; and the value page's horizon unit agrees with the horizon."""

import ast
import pathlib
import re

import numpy as np
import pandas as pd
import pytest
from babel import Locale

import segkit
from segkit.errors import DataError
from segkit.i18n import counted, t, unit_words


# --- (a) the helper ---

@pytest.mark.parametrize("count, spec, said", [(0, "", "0 rows"), (1, "", "1 row"), (2, "", "2 rows"),
                                               (1_000, ",", "1,000 rows"), (1_000, "", "1000 rows"),
                                               (np.int64(1), ",", "1 row"), (1.0, "g", "1 row"),
                                               (1.5, "g", "1.5 rows")])
def test_counted_says_the_count_and_the_form_that_agrees(count, spec, said):
    assert counted(count, "row", "rows", spec) == said


def test_counted_follows_babels_plural_rules():
    english = Locale("en")
    for count in (0, 1, 2, 11, 21, 101, 1_000, 0.5, 1.0):
        form = "row" if english.plural_form(count) == "one" else "rows"
        assert counted(count, "row", "rows", "g") == f"{count:g} {form}"
    assert counted(1, "行", "行", lang="zh") == "1 行"


def test_counted_refuses_a_count_that_is_not_a_number():
    with pytest.raises(TypeError, match="needs a number"):
        counted("1", "row", "rows")


# --- (b) no f-string of segkit puts a count before a plural noun by hand ---

NOUNS = ("rows", "customers", "orders", "lines", "answers", "months", "columns", "values", "campaigns", "ids",
         "records", "dates", "files", "days", "weeks", "years", "labels", "classes", "exports", "numbers",
         "minutes", "features", "items", "bins", "times", "levels", "aliases", "digits", "characters", "bytes",
         "scores", "clusters", "segments", "transactions", "purchases", "buyers", "entries", "keys")
# the words that end what follows a value before a noun: "{name} has the rows", "{month} of orders"
NOT_A_MODIFIER = ("the", "of", "and", "or", "for", "no", "has", "have", "is", "are", "in", "to", "a", "an", "with",
                  "on", "by", "at", "from", "as", "cannot", "must", "may", "hold", "holds", "names", "repeats")
OLD_WAY = re.compile(r"\{(?P<count>[^{}]*?)\}\**\s+(?:(?!(?:" + "|".join(NOT_A_MODIFIER) + r")\b)[a-z-]+\s+){0,2}?"
                     r"(?P<noun>" + "|".join(NOUNS) + r")\b")
# A count that is never 1, by construction: (file, the count's expression). Each says why.
NEVER_ONE = {
    ("cli.py", "len(values)"),  # an option given more than once
    ("intake/textfiles.py", "len(names)"),  # a .zip that holds more than one file
    ("intake/textfiles.py", "len(row)"),  # more values than the header's columns, which are at least 1
    ("intake/parsing.py", "lines:,"),  # said only when more rows than distinct ids, which are at least 1
    ("models/clv.py", "len(x)"),  # fewer than 2 customers is refused just before
    ("params.py", "len(values) + 1"),  # said only when more than 9 cut points
    ("params.py", "len(value):,"),  # a number longer than the digits allowed
    ("params.py", "len(text):,"),  # a params file longer than its limit
    ("params.py", "ctx.get('max_length')"),  # pydantic's max_length of a list, 20 and more in the params
    ("evaluate/sweep.py", "setting['bins']"),  # RFM bins are 2 to 10
    ("monthly/migration.py", "current.shape[1]"),  # "the centroids have 1 and 2 features": two counts, one noun
    ("intake/cleaning.py", "rule"),  # a rule's name ("most of the outlier rows"), not a count
    ("intake/sources.py", "location"),  # a place's name, not a count
    ("monthly/history.py", "self.usual_gap"),  # at least MIN_GAP_DAYS (3)
}
AGREEING = ("counted", "plural_form")  # their forms are the two alternatives, each right for its count


def _template(node: ast.JoinedStr) -> str:
    """An f-string as a template: its text, each value as {expression:spec}."""
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value).replace("{", "(").replace("}", ")"))
        else:
            spec = "" if value.format_spec is None else ":" + "".join(
                v.value if isinstance(v, ast.Constant) else "?" for v in value.format_spec.values)
            # an f-string inside the value (a form of plural_form) is read on its own, not as this one's
            parts.append("{" + ast.unparse(value.value).replace("{", "(").replace("}", ")") + spec + "}")
    return "".join(parts)


def old_way_in(source: str, name: str) -> list[tuple[str, int, str]]:
    """Each place in `source` (a module of segkit, `name` its path under segkit/) where an f-string
    writes a count, then a plural noun, as fixed words: "{n} rows", "{n:,} more customers"."""
    tree = ast.parse(source)
    forms = {id(inner) for call in ast.walk(tree) if isinstance(call, ast.Call)
             and getattr(call.func, "id", getattr(call.func, "attr", None)) in AGREEING
             for argument in call.args for inner in ast.walk(argument)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr) or id(node) in forms:
            continue
        for match in OLD_WAY.finditer(_template(node)):
            expression = match["count"]
            if expression.split(":")[0].isupper() or (name, expression) in NEVER_ONE:  # a CONSTANT, or never 1
                continue
            found.append((name, node.lineno, match.group(0)))
    return found


PACKAGE = pathlib.Path(segkit.__file__).parent


def test_the_scan_finds_the_old_way_and_passes_the_helper():
    assert old_way_in('f"all {total} rows were set aside"', "x.py") == [("x.py", 1, "{total} rows")]
    assert old_way_in('f"{n:,} more customers"', "x.py") and old_way_in('f"read {a}" f" {len(b)} months"', "x.py")
    assert not old_way_in("f\"{counted(n, 'row', 'rows')} read\"", "x.py")
    assert not old_way_in("f\"{plural_form(n, 'the 1 row was', f'all {n} rows were', 'en')} set aside\"", "x.py")
    assert not old_way_in('f"{name} has the rows"', "x.py") and not old_way_in('f"{MAX} levels"', "x.py")


def test_no_message_of_segkit_puts_a_count_before_a_plural_noun_by_hand():
    found = [hit for path in sorted(PACKAGE.rglob("*.py"))
             for hit in old_way_in(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).as_posix())]
    assert found == []


def test_no_message_picks_its_plural_by_hand():
    # "month{'' if n == 1 else 's'}", "{n} customer(s)": the helper says it
    by_hand = re.compile(r"\{'s?' if [^{}]* else 's?'\}|\{[^{}]*\} [a-z]+\(s\)")
    found = [(path.name, node.lineno) for path in sorted(PACKAGE.rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.JoinedStr) and by_hand.search(_template(node))]
    assert found == []
    assert by_hand.search(_template(ast.parse("f\"{n} month{'' if n == 1 else 's'}\"").body[0].value))
    assert by_hand.search(_template(ast.parse('f"{len(m)} customer(s) left"').body[0].value))


# --- (c) real messages at a count of 1 ---

def test_cleaning_with_one_row_set_aside_says_the_1_row():
    from segkit.intake.cleaning import NoCleanRows, clean_transactions
    from segkit.intake.sources import connect

    tx = pd.DataFrame({"source_row": [1], "customer_id": [None], "order_id": ["1"],
                       "ordered_at": pd.to_datetime(["2024-01-01"]), "amount": [5.0]})
    with pytest.raises(NoCleanRows, match=r"^the 1 row was set aside \(missing_customer_id: 1\)"):
        clean_transactions(connect(), tx)


def test_a_short_header_names_1_column(tmp_path):
    from segkit.intake.sources import read_file
    from segkit.params import FileTable

    path = tmp_path / "orders.csv"
    path.write_text("id\n1\n2,x\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 3: 2 values, but the header \(line 1\) names 1 column; check"):
        read_file(FileTable(path=str(path)))


def test_a_customer_missing_this_month_is_1_customer():
    from segkit.monthly.migration import transition_matrix

    before = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["x", "y"]})
    after = pd.DataFrame({"customer_id": ["a"], "segment": ["x"]})
    with pytest.raises(DataError, match=r"^1 customer classified last month is not classified this month"):
        transition_matrix(before, after)


def test_a_labeling_of_the_wrong_length_says_its_label_and_customer_in_the_singular():
    with pytest.raises(ValueError, match=r"labeling 'k' has 1 label for 2 customers$"):
        segkit.compare_quality(np.zeros((2, 2)), {"k": [0]})
    with pytest.raises(ValueError, match=r"labeling 'k' has 2 labels for 1 customer$"):
        segkit.compare_quality(np.zeros((1, 2)), {"k": [0, 1]})


# --- (d) the value page's horizon ---

def test_the_horizon_unit_agrees_with_the_horizon_in_english():
    intro = {"model": "BG/NBD", "customers": 300, "unit": "weeks", "discount": 0.01, "threshold": 0.5,
             "period": unit_words("months", "en", 1)}
    one = t("value.intro", "en", horizon=1, horizon_unit=unit_words("months", "en", 1), **intro)
    two = t("value.intro", "en", horizon=2, horizon_unit=unit_words("months", "en", 2), **intro)
    assert "the next 1 month, discounted at 1.0% per month;" in one
    assert "the next 2 months, discounted at 1.0% per month;" in two
    assert unit_words("years", "en", 1) == "year" and unit_words("weeks", "en", 2) == "weeks"
    assert unit_words("weeks", "en") == "weeks"  # no count: "time in weeks"


def test_the_horizon_unit_in_chinese_is_the_same_whatever_the_horizon():
    assert unit_words("months", "zh", 1) == unit_words("months", "zh", 12) == "月"


def test_the_notebooks_pass_a_horizon_unit_that_agrees_with_the_horizon():
    notebooks = pathlib.Path(__file__).parents[1] / "notebooks"
    for name in ("03_customer_value.ipynb", "08_case_study.ipynb"):
        text = (notebooks / name).read_text(encoding="utf-8")
        assert "horizon_unit=segkit.t(" not in text
        assert re.search(r"horizon_unit=segkit\.unit_words\((v|p\.value)\.horizon_unit, lang, (v|p\.value)\.horizon\)", text)
