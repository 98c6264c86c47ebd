"""English texts agree in number with the count before them ("1 customer", "2 customers"): the
plural field {count?singular|plural} of segkit.i18n, and the catalogue's use of it."""

import decimal
import re
import string

import numpy as np
import pytest

from segkit.i18n import in_language, messages, plural_field, plural_form, t, value_names
from segkit.report.html import render_markdown, say


def form(count, lang="en"):
    return plural_form(count, "customer", "customers", lang)


# --- the mechanism ---

@pytest.mark.parametrize("count", [1, 1.0, np.int64(1), np.int32(1), np.uint8(1), np.float64(1.0), decimal.Decimal(1)])
def test_a_count_of_one_takes_the_singular(count):
    assert form(count) == "customer"


@pytest.mark.parametrize("count", [0, 2, 1_000, 1.5, 0.5, np.int64(0), np.int64(2), float("nan"), 10 ** 400])
def test_every_other_count_takes_the_plural(count):
    # English says "0 customers"; a count shown as "—" (NaN) reads "— customers"
    assert form(count) == "customers"


@pytest.mark.parametrize("count", ["1", None, True, np.bool_(True), [1]])
def test_a_count_that_is_not_a_number_is_an_error(count):
    with pytest.raises(TypeError, match="needs a number"):
        form(count)


def test_chinese_has_one_form_whatever_the_count():
    assert form(1, "zh") == form(2, "zh") == "customers"


def test_a_plural_field_is_read_from_its_name():
    assert plural_field("rows?row|rows") == ("rows", "row", "rows")
    assert plural_field("n?customer has|customers have") == ("n", "customer has", "customers have")
    assert plural_field("rows") is None


def test_a_template_agrees_its_noun_and_verb_with_the_count():
    template = "{n:,} {n?customer has|customers have} {k?order|orders}"
    assert template.format_map(in_language({"n": 1, "k": 2}, "en")) == "1 customer has orders"
    assert template.format_map(in_language({"n": 1_000, "k": np.int64(1)}, "en")) == "1,000 customers have order"


def test_a_plural_field_without_its_count_or_with_a_text_for_it_fails_loudly():
    with pytest.raises(KeyError, match=r"plural field \{n\?row\|rows\} needs the value 'n'"):
        "{n?row|rows}".format_map(in_language({"rows": 1}, "en"))
    with pytest.raises(TypeError, match=r"plural field \{n\?row\|rows\}: .*got '1'"):
        "{n?row|rows}".format_map(in_language({"n": "1"}, "en"))
    with pytest.raises(KeyError):
        "{n}".format_map(in_language({}, "en"))


def test_html_sentences_fill_plural_fields_as_t_does():
    assert render_markdown("**{n:,}** {n?row|rows}", "en", n=1) == "<p><strong>1</strong> row</p>\n"
    assert render_markdown("**{n:,}** {n?row|rows}", "en", n=3) == "<p><strong>3</strong> rows</p>\n"
    with pytest.raises(TypeError, match="needs a number"):
        render_markdown("{n?row|rows}", "en", n="one")


# --- the catalogue ---

REAL = [  # key, values, the English for a count of 1, for a count of 2
    ("exports.note.all", {"segment": "Lost", "rows": 1}, "Lost: the 1 customer.",
     "Lost: all 2 customers, best ranked first."),
    ("cleaning.ledger", {"rows": 1}, "The counts add up to the 1 input row.", "The counts add up to the 2 input rows."),
    ("cleaning.note.ids_differ_in_case", {"customers": 1, "example": "ab", "other": "AB"},
     "1 customer has an id", "2 customers have an id"),
    ("rfm.intro", {"customers": 1, "bins": 5}, "from quantiles of the 1 customer.", "from quantiles of all 2 customers."),
    ("stage.before", {"rows": 1, "aside": 0}, "As read: the 1 row,", "As read: all 2 rows,"),
    ("value.bgnbd_one_time", {"count": 1, "share": 0.5}, "so it counts the 1 customer without",
     "so it counts each of the 2 customers without"),
    ("cleaning.note.date_order_day_first", {"example": "13/01/2024", "decided_by": 1, "followed": 0},
     "so the 1 such date settles", "so all 2 such dates settle"),
    ("cleaning.customers_none_aside", {"customers": 1}, "customer with rows used is scored",
     "customers with rows used are scored"),
    ("cleaning.blank_lines", {"lines": 1}, "1 line held only blanks", "2 lines held only blanks"),
    ("migration.slipped", {"count": 1, "revenue": 10.0, "revenue_share": 0.1},
     "1 customer moved this month", "2 customers moved this month"),
    ("cleaning.note.table_dates_unread", {"dates": 1, "file": "c.csv", "column": "Signup", "row": 2, "value": "x"},
     "c.csv is not a date segkit can read", "c.csv are not dates segkit can read"),
    ("cleaning.note.table_dates_unread", {"dates": 1, "file": "c.csv", "column": "Signup", "row": 2, "value": "x"},
     "1 date in the column", "2 dates in the column"),
    ("cleaning.note.table_dates_unread", {"dates": 1, "file": "c.csv", "column": "Signup", "row": 2, "value": "x"},
     "the row is kept, without that date", "the rows are kept, without those dates"),
    ("cleaning.note.survey_dates_unread", {"dates": 1, "file": "s.csv", "column": "On", "row": 3, "value": "x"},
     "the answer is kept, but is in no month's NPS", "the answers are kept, but are in no month's NPS"),
    # from a new user's trial (session 44): phrases after the count that read wrong at 1
    ("cleaning.join_surveys", {"survey_answers": 602, "survey_answers_without_transactions": 1},
     "1 of them from a customer without a transaction", "2 of them from customers without a transaction"),
    ("crosssell.join", {"rows": 900, "missing_rows": 1, "missing_customers": 1, "early_rows": 0},
     "(1 customer) is for a customer not in", "(2 customers) are for customers not in"),
    ("standards.unsupported", {"n": 1, "names": "at_risk"}, "so it is left out rather", "so they are left out rather"),
    ("cleaning.note.table_dates_unsettled", {"dates": 1, "file": "c.csv", "column": "Signup", "row": 2, "value": "x"},
     "of c.csv has day and month", "of c.csv have day and month"),
    ("crosssell.send_dates_unsettled", {"dates": 1, "file": "c.csv", "column": "Sent", "row": 2, "value": "x"},
     "its campaign row counts in the customer's segment", "those campaign rows count in the customer's segment"),
    ("cleaning.note.dates_unsettled_check", {"dates": 1, "file": "c.csv", "column": "Sent", "row": 2, "value": "x"},
     "the run reads it in the order", "the run reads them in the order"),
    # cleaning.customer_ids (segkit.intake.ids)
    ("cleaning.note.ids_normalised", {"setting": "cleaning.customer_ids: {case: fold}", "ids": 1, "column": "id",
                                      "rows": 1, "example": "A@x", "read": "a@x", "spellings": 1, "customers": 1},
     "read 1 customer id of the column", "read 2 customer ids of the column"),
    ("cleaning.note.ids_normalised_alone", {"setting": "cleaning.customer_ids: {case: fold}", "ids": 1, "column": "id",
                                            "rows": 1, "example": "A@x", "read": "a@x"}, "on 1 row used", "on 2 rows used"),
    ("cleaning.note.ids_would_merge", {"ids": 1, "customers": 1, "column": "id", "example": "A@x", "other": "a@x",
                                       "setting": "cleaning.customer_ids: {case: fold}"},
     "would be 1 customer if", "would be 2 customers if"),
]


def with_count(values: dict, count: int) -> dict:
    return {name: count if isinstance(value, int) and value == 1 else value for name, value in values.items()}


@pytest.mark.parametrize("key, values, one, two", REAL, ids=[row[0] for row in REAL])
def test_real_texts_agree_with_their_count_in_english(key, values, one, two):
    assert one in t(key, "en", **values)
    assert two in t(key, "en", **with_count(values, 2))
    assert one in say(key, "en", **values).markup


def words(text):
    return re.sub(r"\d", "", text)


@pytest.mark.parametrize("key, values, one, two", REAL, ids=[row[0] for row in REAL])
def test_chinese_texts_have_the_same_words_whatever_the_count_above_one(key, values, one, two):
    assert words(t(key, "zh", **with_count(values, 2))) == words(t(key, "zh", **with_count(values, 3)))
    assert words(say(key, "zh", **with_count(values, 2)).markup) == words(say(key, "zh", **with_count(values, 3)).markup)


@pytest.mark.parametrize("count", [0, 2, 1_000, 1.5, 0.5, np.int64(2), float("nan")])
def test_a_chinese_plural_field_takes_its_first_form_at_exactly_one(count):
    template = "{n:,} 个金额无法读取：{n?该行|这些行}已被隔离"
    assert template.format_map(in_language({"n": 1}, "zh")).endswith("该行已被隔离")
    assert template.format_map(in_language({"n": np.int64(1)}, "zh")).endswith("该行已被隔离")
    assert template.format_map(in_language({"n": decimal.Decimal(1)}, "zh")).endswith("该行已被隔离")
    assert template.format_map(in_language({"n": count}, "zh")).endswith("这些行已被隔离")
    with pytest.raises(TypeError, match="needs a number"):
        "{n?该行|这些行}".format_map(in_language({"n": "1"}, "zh"))


def test_every_chinese_text_with_a_plural_field_reads_the_same_at_every_count_above_one():
    # its forms are a demonstrative for one and for several, never words that change again with the count
    found = [key for key, texts in messages().items()
             if any(field and plural_field(field) for _, field, _, _ in string.Formatter().parse(texts["zh"]))
             for names in [value_names(texts["en"])]
             if words(t(key, "zh", **dict.fromkeys(names, 2))) != words(t(key, "zh", **dict.fromkeys(names, 7)))]
    assert found == []


# Plural demonstratives and pronouns: "these rows", "they" said of a count of 1 reads wrong in Chinese too.
PLURAL_WORDS = re.compile(r"这些|那些|它们|他们|她们")
# A text that takes a count and says one of PLURAL_WORDS of something that count does not count: (key, the
# phrase). Each says why.
NOT_THE_COUNT = {
    ("rfm.unusable.f", "这些数据"),  # "these data": the run's data, whatever the count of segments
    ("case.valuable.rm6", "这些数据"),  # the run's data, not the recent big spenders
    ("cluster.sample_check.unstable", "这些聚类"),  # the clusters, not the customers sampled
    ("migration.moves", "这些是购买行为的变化"),  # the kinds of move, not the churn window's days
}


def test_no_chinese_text_says_these_or_they_of_a_count_of_one():
    """Every Chinese text whose English agrees with a count, rendered with each value 1 (session 45: a
    new user's 01 said "1 个金额 ...：这些行已被隔离")."""
    found = []
    for key, texts in messages().items():
        if not any(field and plural_field(field) for _, field, _, _ in string.Formatter().parse(texts["en"])):
            continue
        said = t(key, "zh", **dict.fromkeys(value_names(texts["en"]), 1))
        for phrase in [phrase for k, phrase in NOT_THE_COUNT if k == key]:
            said = said.replace(phrase, "")
        found += [(key, word) for word in PLURAL_WORDS.findall(said)]
    assert found == []


@pytest.mark.parametrize("key, values, one, several", [
    ("cleaning.note.decimal_mark_differs", {"column": "Amount", "rows": 1, "example": "1,5", "decimal": ".",
                                            "other": ","}, "该行已被隔离", "这些行已被隔离"),
    ("cleaning.note.table_dates_unsettled", {"dates": 1, "file": "c.csv", "column": "On", "row": 2, "value": "x"},
     "该行仍保留", "这些行仍保留"),
    ("cleaning.note.survey_dates_unread", {"dates": 1, "file": "c.csv", "column": "On", "row": 2, "value": "x"},
     "该答复仍保留", "这些答复仍保留"),
    ("cleaning.note.dates_unsettled_check", {"dates": 1, "file": "c.csv", "column": "On", "row": 2, "value": "x"},
     "否则该日期留空", "否则这些日期留空"),
    ("cleaning.headline_set_aside", {"rows": 10, "aside": 1, "share": 0.1}, "不含该行", "不含这些行"),
])
def test_chinese_notes_say_this_row_at_one_and_these_rows_above(key, values, one, several):
    assert one in t(key, "zh", **values) and one in say(key, "zh", **values).markup
    more = with_count(values, 3)
    assert several in t(key, "zh", **more) and one not in t(key, "zh", **more)


def test_every_plural_field_names_a_count_its_text_shows():
    found = [(key, field) for key, texts in messages().items()
             for fields in [[f for _, f, _, _ in string.Formatter().parse(texts["en"]) if f]]
             for field in fields if plural_field(field) and plural_field(field)[0] not in fields]
    assert found == []


# The countable nouns (and the words that follow them as one) whose English texts agree with their
# count; a template that writes one of them after a count the old way ("{rows:,} rows") fails below.
NOUNS = ("customers", "rows", "orders", "lines", "days", "dates", "ids", "records", "answers", "amounts",
         "documents", "buyers", "spenders", "purchases", "profiles", "segments", "settings", "baskets",
         "rules", "runs", "bins", "months", "times", "clusters")
# Words that end what follows a value before a noun: the value is not that noun's count ("{depth} turns
# the clusters", "{model} for repeat purchases", "{as_of} no more days").
NOT_A_MODIFIER = ("the", "of", "and", "or", "for", "no", "has", "have", "is", "are", "cannot", "turns")
# A count (a field with no spec, or a whole-number one: {n}, {n:,}, {n:d}, {n:,.0f}), then within two
# words that qualify it ("input", "more", "cancellation") one of NOUNS.
OLD_WAY = re.compile(r"\{\w+(?::,?(?:\.0f|d)?)?\}\**\s+(?:(?!(?:" + "|".join(NOT_A_MODIFIER) + r")\b)[a-z-]+\s+){0,2}?(?:"
                     + "|".join(NOUNS) + r")\b")


def test_the_old_way_is_caught():
    assert OLD_WAY.search("all {rows:,} customers") and OLD_WAY.search("**{n:,}** more customers of")
    assert OLD_WAY.search("{lines} cancellation lines") and OLD_WAY.search("{r:.0f} days")
    assert not OLD_WAY.search("{rows:,} {rows?row|rows}") and not OLD_WAY.search("{share:.1%} of customers")
    assert not OLD_WAY.search("a tree of depth {depth} turns the clusters into rules")


def test_no_english_text_puts_a_count_before_a_plural_noun_the_old_way():
    found = [(key, match.group(0)) for key, texts in messages().items() for match in OLD_WAY.finditer(texts["en"])]
    assert found == []
