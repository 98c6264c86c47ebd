"""Customer ids as the report's pages show them when the params say `report.mask_ids: true`.

Phone numbers and e-mail addresses serve as customer ids in many shops, and the pages and the PDF are
mailed around (PIPL, GDPR). With `report.mask_ids: true` every customer id a page shows is masked by
`mask_id` where the table or the sentence is built: the tables of customers (the top of the ranking,
the valuable customers slipping away, those who slipped since last month, the customers cleaning set
aside), the rows set aside that 01 shows (their id and the "what is wrong" detail that quotes it), and
the sentences that quote an id (the cleaning notes: a guest-like id, ids differing in case, an order of
several customers ...; migration's ids that changed form); so are the ids in the notes `segkit report`
and `segkit backfill` print. The run's files keep the real ids: `data/` (the stage files, run.json's
notes, where whoever runs the report finds an id a note quotes) and `exports/`, which are for the CRM.

Each function takes `mask` (the params' `report.mask_ids`) and returns what it was given, untouched,
when it is false.
"""

from __future__ import annotations

import re

import pandas as pd

# the columns of a table that hold customer ids: segkit's name, and the text as exported (a set-aside row's)
ID_COLUMNS = ("customer_id", "raw_customer_id")
# a phone number as written: digits with blanks, dashes, dots, slashes or parentheses, a leading + (+86 138 0013 8000)
_PHONE = re.compile(r"\+?[\d\s().\-/]+")
_EMAIL = re.compile(r"([^@\s]+)@([^@\s]+)")
STARS = 4  # at most this many: a masked id does not tell the length of the id exactly


def mask_id(text):
    """A customer id as a page shows it with `report.mask_ids: true`; the same id always gives the
    same text. Missing values (None, NaN, pd.NA) and empty text stay as they are.

    - A phone-like id (only digits and the separators of a written number, 7 digits or more) keeps
      its first 3 and last 4 digits, four stars between them, separators dropped; a number of 7 to
      10 digits keeps its first 2 and last 2 (the first 3 and last 4 of a 7-digit number would be the
      whole number);
    - an e-mail address keeps the first character of its local part and its domain;
    - any other id of 6 characters or more keeps its first 2 and last 2 characters, with a star for
      each one between, 4 at most;
    - a shorter id keeps its first character, then three stars.

    >>> [mask_id(v) for v in ("13800138000", "+86 138-0013-8000", "8765 4321", "ann.lee@example.com")]
    ['138****8000', '861****8000', '87****21', 'a***@example.com']
    >>> [mask_id(v) for v in ("C1234589", "C000001", "CUST-000123456", "AB12", "张三", 13800138000, None)]
    ['C1****89', 'C0***01', 'CU****56', 'A***', '张***', '138****8000', None]
    """
    if _missing(text):
        return text
    if isinstance(text, float) and text.is_integer():  # an id read as a number: 13800138000.0 is 13800138000
        text = int(text)
    value = str(text).strip()
    if not value:
        return text
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7 and _PHONE.fullmatch(value):
        return (digits[:3] + "*" * STARS + digits[-4:]) if len(digits) >= 11 else (digits[:2] + "*" * STARS + digits[-2:])
    email = _EMAIL.fullmatch(value)
    if email:
        return f"{email.group(1)[0]}***@{email.group(2)}"
    if len(value) >= 6:
        return value[:2] + "*" * min(len(value) - 4, STARS) + value[-2:]
    return value[0] + "***"


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array is no missing value
        return False


def masked_ids(values: pd.Series) -> pd.Series:
    """`values` (a column of customer ids) with each id masked by `mask_id`, missing ones kept."""
    return values.astype(object).map(mask_id)


def masked_frame(frame: pd.DataFrame, mask: bool = True, columns=ID_COLUMNS) -> pd.DataFrame:
    """`frame` with its customer-id `columns` (those it has) masked, a copy; `frame` itself when
    `mask` is false."""
    present = [c for c in columns if c in frame.columns]
    if not mask or not present:
        return frame
    return frame.assign(**{c: masked_ids(frame[c]) for c in present})


def masked_sample(sample: pd.DataFrame, mask: bool = True) -> pd.DataFrame:
    """The rows set aside as 01 shows them (`segkit.quarantine_sample`) with each row's customer id
    masked, in its columns (`customer_id`, `raw_customer_id`) and where its detail quotes it
    (`customer_id "guest" is listed in cleaning.guest_ids`, `customer C001 is on rows that differ`,
    in the page's language); `sample` itself when `mask` is false."""
    if not mask:
        return sample
    shown = masked_frame(sample)
    if "detail" not in sample.columns:
        return shown
    ids = [c for c in ID_COLUMNS if c in sample.columns]
    details = [_masked_detail(detail, [sample[c].iloc[i] for c in ids]) for i, detail in enumerate(sample["detail"])]
    return shown.assign(detail=details)


def _masked_detail(detail, ids) -> object:
    """A set-aside row's detail with its customer id (each of `ids`, the row's id as read and as
    exported) masked where the detail quotes it ("...") or opens with it (customer <id> ..., 客户<id>...)."""
    if not isinstance(detail, str):
        return detail
    for given in ids:
        if _missing(given) or not str(given).strip():
            continue
        for text in dict.fromkeys((str(given), str(given).strip())):
            masked = mask_id(text)
            detail = detail.replace(f'"{text}"', f'"{masked}"')
            detail = re.sub(r"^(customer |客户 ?)" + re.escape(text),
                            lambda match: match.group(1) + masked, detail)
    return detail


# The catalogue sentences whose values quote customer ids, and which values (a list of "quoted" ids is
# masked id by id). A sentence that quotes a customer id must be listed here (tests/test_masking.py
# checks that every cleaning note is listed here or named there as holding none).
SENTENCE_IDS = {
    "cleaning.note.guest_like_customer": ("customer",),
    "cleaning.note.ids_differ_in_case": ("example", "other"),
    "cleaning.note.masked_customer_ids": ("example",),
    "cleaning.note.order_several_customers": ("ids",),
    "cleaning.note.order_several_customers_first": ("ids",),
    "cleaning.note.table_ids_padded": ("given", "read"),
    "cleaning.note.survey_ids_padded": ("given", "read"),
    "cleaning.note.long_ids_end_in_zeros": ("example",),  # when its id_column is customer_id
    # the notes of cleaning.customer_ids (ids read as one customer's whatever their case or spacing)
    "cleaning.note.ids_normalised": ("example", "read"),
    "cleaning.note.ids_normalised_alone": ("example", "read"),
    "cleaning.note.ids_would_merge": ("example", "other"),
    "migration.ids_changed": ("then", "now"),
}
_QUOTED_LIST = re.compile(r'"[^"]*"(?:, "[^"]*")*')


def masked_sentences(sentences, mask: bool = True) -> list[tuple[str, dict]]:
    """(catalogue key, values) pairs for `segkit.report.html.say_each` with the customer ids in their
    values (SENTENCE_IDS) masked; `sentences` as they are when `mask` is false."""
    if not mask:
        return sentences
    return [(key, masked_values(key, values)) for key, values in sentences]


def masked_values(key: str, values: dict) -> dict:
    """The values of the catalogue sentence `key` with those that hold customer ids (SENTENCE_IDS)
    masked: an id as `mask_id` masks it, a list of ids in quotes ('"a", "b"') id by id."""
    fields = SENTENCE_IDS.get(key, ())
    if key == "cleaning.note.long_ids_end_in_zeros" and values.get("id_column") != "customer_id":
        fields = ()  # order numbers, not customers
    if not fields:
        return values
    return {name: _masked_value(value) if name in fields else value for name, value in values.items()}


def _masked_value(value):
    if isinstance(value, str) and _QUOTED_LIST.fullmatch(value):
        return re.sub(r'"([^"]*)"', lambda match: f'"{mask_id(match.group(1))}"', value)
    return mask_id(value)


def masked_note(note: dict, mask: bool = True) -> dict:
    """A cleaning note (a dict with `key` and its values, as run.json's `cleaning_notes` holds it) with
    the customer ids it quotes masked, for the lines the command prints (`segkit.report.runner.note_text`);
    `note` itself when `mask` is false."""
    if not mask or not isinstance(note.get("key"), str):
        return note
    values = {name: value for name, value in note.items() if name != "key"}
    return {"key": note["key"], **masked_values(f"cleaning.note.{note['key']}", values)}
