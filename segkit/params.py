"""Typed run parameters, loaded from YAML and checked before any work starts.

`load_params("params/demo.yaml", overrides=["rfm.bins=4"])` returns a `Params` object. Any unknown
key, wrong type or value out of range raises `ParamsError` naming the file, the dotted key, what is
allowed and what was given (with a "did you mean" for misspelt keys).

A params file is a page of settings, and is read as one: UTF-8, at most MAX_BYTES, at most
MAX_ALIASES YAML aliases, nested at most MAX_DEPTH deep and at most MAX_VALUES values once the aliases
are expanded, so that no file (a "billion laughs" is 700 bytes) can hang `segkit check` or a run.
Values in messages are cut (`shown`, `cut`), and what may be a secret (a url, a password written
where a variable name belongs) is never echoed.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import difflib
import os
import re
import reprlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import unquote, urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from segkit.errors import ParamsError

# Budgets for a params document: a params file is a page of settings, so these are far above any
# real one and far below what exhausts the machine (a "billion laughs" of nested aliases is 700 bytes).
MAX_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_DEPTH = 64
MAX_VALUES = 100_000  # nodes once every alias is expanded
MAX_ERRORS = 10  # validation errors listed in one message
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
SEED_MAX = 2**32 - 1  # what numpy and scikit-learn accept as a random_state
MAX_TAGS = 200  # each tag is a column of the tags table and a line of the report


def shown(value: Any, limit: int = 80) -> str:
    """`value` for a message: its repr, cut to `limit` characters with "…" (never an unbounded text)."""
    try:
        text = repr(value[:limit + 1]) if isinstance(value, str) else _REPR.repr(value)
    except Exception:  # e.g. an int too long for str(); the repr of anything odd
        text = f"an integer of {len(format(value, 'x')) * 4 // 3}+ digits" if isinstance(value, int) else \
            f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def cut(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters with "…", for messages."""
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 70, 70, 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 5


# currencies as people often write them, with their ISO 4217 codes (suggested, never assumed)
CURRENCY_NAMES = {"RMB": "CNY", "YUAN": "CNY", "NTD": "TWD", "NT$": "TWD", "YEN": "JPY", "UKP": "GBP",
                  "EURO": "EUR", "US$": "USD", "HK$": "HKD", "WON": "KRW", "RUPEE": "INR"}
# a month as YYYY-MM: years 0001-9999 (Python's dates), months 01-12
MONTH_PATTERN = r"(000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d\d\d)-(0[1-9]|1[0-2])"

class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with budgets on aliases and nesting, checked while the document is composed
    (before anything is built), and scalar errors (a 5,000-digit integer, 2024-13-45) as YAML errors."""

    def __init__(self, text: str, origin: str):
        super().__init__(text)
        self.origin, self.aliases, self.depth = origin, 0, 0

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise ParamsError(f"{self.origin} line {mark.line + 1}: more than {MAX_ALIASES} aliases (*name); "
                                  "a params file needs few: write the repeated values out")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParamsError(f"{self.origin} line {mark.line + 1}: nested more than {MAX_DEPTH} levels deep; "
                              "params are a few levels deep: check the brackets and the indentation")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def compose_mapping_node(self, anchor):
        """A mapping, refused when it gives a key twice: YAML keeps the last one, so a second `cleaning:`
        block at the end of a file silently drops the whole first one."""
        node = super().compose_mapping_node(anchor)
        seen: dict[object, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.value == "<<":  # a merge key may repeat
                continue
            line = key.start_mark.line + 1
            same = self._key_as_read(key)
            if same in seen:
                first = seen[same]
                where = f"line {line}" if first == line else f"lines {first} and {line}"
                raise ParamsError(f"{self.origin} {where}: the key {shown(key.value, 40)} is given twice in the same "
                                  "block, and the second would replace the whole first; keep one (merge the two blocks)")
            seen[same] = line
        return node

    def _key_as_read(self, key: yaml.ScalarNode) -> object:
        """A key as YAML reads it (`yes` and `true`, `1` and `01`, `~` and `null` are the same key), its
        text where it cannot be read (the document's construction then says why)."""
        try:
            value = yaml.constructor.SafeConstructor().construct_object(key)  # PyYAML's own reading of it
        except Exception:  # an invalid scalar: compared as written
            return (key.tag, key.value)
        return (type(value).__name__, value) if isinstance(value, (bool, int, float)) else value


def _scalar_checked(constructor):
    def construct(loader, node):
        try:
            return constructor(loader, node)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as err:
            value = node.value if isinstance(node, yaml.ScalarNode) else ""
            if "digits" in str(err):
                problem = f"a number of {len(value):,} digits is too long for a parameter"
            else:
                problem = f"{shown(value, 40)} is not a valid {node.tag.rsplit(':', 1)[-1]} ({cut(err, 60)})"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None
    return construct


for _tag, _constructor in list(yaml.SafeLoader.yaml_constructors.items()):
    if _tag is not None and _tag.rsplit(":", 1)[-1] in {"null", "bool", "int", "float", "binary", "timestamp"}:
        _BoundedLoader.add_constructor(_tag, _scalar_checked(_constructor))


def _expanded_size(root) -> tuple[int, int]:
    """(values, depth) of a composed YAML node with every alias expanded; without recursion, so that
    alias chains cannot exhaust the stack. Stops as soon as the size passes MAX_VALUES."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    visiting: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            visiting.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_VALUES or depth[key] > MAX_DEPTH:
                return size[key], depth[key]
            continue
        if key in size:
            continue
        if key in visiting:
            raise _Cycle(node.start_mark.line + 1)
        visiting.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return size[id(root)], depth[id(root)]


class _Cycle(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml(text: str, origin: str) -> Any:
    """The YAML document in `text`, within the budgets (aliases, depth, expanded size); any problem is
    one ParamsError that starts with `origin` (the file, or the --set override)."""
    if len(text) > MAX_BYTES:
        raise ParamsError(f"{origin}: {len(text):,} characters is too large for params (at most {MAX_BYTES:,}); "
                          "params hold settings, data belong in the data files")
    try:
        loader = _BoundedLoader(text, origin)
    except yaml.reader.ReaderError as err:  # a control character: YAML refuses it before parsing
        line = text.count("\n", 0, err.position) + 1
        raise ParamsError(f"{origin} line {line}: not valid YAML: the character U+{err.character:04X} is not allowed "
                          "(a control character); delete it, or write it in a double-quoted string as \\x..") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            values, depth = _expanded_size(node)
        except _Cycle as cycle:
            raise ParamsError(f"{origin} line {cycle.line}: an alias refers to the value that holds it; "
                              "remove that alias") from None
        if depth > MAX_DEPTH:
            raise ParamsError(f"{origin}: nested more than {MAX_DEPTH} levels deep once the aliases are expanded; "
                              "params are a few levels deep: write the values out without aliases")
        if values > MAX_VALUES:
            raise ParamsError(f"{origin}: the aliases expand to more than {MAX_VALUES:,} values; "
                              "params are a page of settings: remove the aliases that repeat large blocks")
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise ParamsError(f"{origin}{_yaml_problem(err)}") from None
    except RecursionError:  # PyYAML's own recursion on an odd document the budgets did not catch
        raise ParamsError(f"{origin}: the YAML is nested too deeply; params are a few levels deep") from None
    finally:
        loader.dispose()


def _yaml_problem(err: yaml.YAMLError) -> str:
    """' line L, column C: not valid YAML: <problem> (<context>)': one line, cut, from a PyYAML error."""
    mark = getattr(err, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    text = f"{context}, {problem}" if context else problem
    return f"{where}: not valid YAML: {cut(' '.join(str(text).split()), 200)}"


def _params_near(path: Path) -> str:
    """What to say after "no such params file": the closest YAML file in its folder ("woo.yml" for
    "woo.yaml"), else the YAML files there, else where the shipped ones are."""
    import difflib

    folder = path.parent
    there = sorted(p.name for p in folder.glob("*.y*ml") if p.suffix.lower() in (".yaml", ".yml")) if folder.is_dir() else []
    stem = path.stem.lower()
    same = [name for name in there if Path(name).stem.lower() == stem]
    close = same or difflib.get_close_matches(path.name, there, n=1, cutoff=0.75)
    if close:
        return f"; did you mean {folder / close[0]}?"
    if there:
        return f" (YAML files in {folder}: {', '.join(cut(name, 40) for name in there[:6])})"
    return " (look in params/ for the shipped ones)"


def read_params_text(path: Path) -> str:
    """The text of a params file: UTF-8 (with or without BOM), at most MAX_BYTES. Raises ParamsError
    naming the file (and the line and byte where it is not UTF-8) and what to do."""
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.y*ml"))[:5]
        hint = f" (YAML files there: {', '.join(cut(n, 40) for n in inside)})" if inside else ""
        raise ParamsError(f"{path}: is a folder, not a params file; give the .yaml file{hint}")
    if not path.is_file():
        if path.exists():
            raise ParamsError(f"{path}: not a regular file (look in params/ for the shipped ones)")
        raise ParamsError(f"{path}: no such params file{_params_near(path)}")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise ParamsError(f"{path}: cannot be read ({err.strerror or type(err).__name__}); check that the file "
                          "exists and that you may read it") from None
    if len(data) > MAX_BYTES:
        raise ParamsError(f"{path}: larger than {MAX_BYTES:,} bytes, too large for a params file; params hold "
                          "settings, data belong in the data files")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        try:
            data.decode("gb18030")
            guess = "it looks like GBK/GB18030 (what Chinese Windows saves); "
        except UnicodeDecodeError:
            guess = ""
        raise ParamsError(f"{path} line {line}, byte {column}: the file is not UTF-8 (byte 0x{data[err.start]:02x}); "
                          f"{guess}save it as UTF-8 (e.g. in Notepad: Save as, Encoding UTF-8)") from None


class _Model(BaseModel):
    # no NaN or infinity in any number: every comparison with NaN is false, so no range check holds
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_are_defaults(cls, data: Any) -> Any:
        """A section left empty (`cleaning:` with every line under it commented out: YAML's null) is the
        section's defaults, as if the key were not there; a key that may be null (an optional table) keeps
        its null."""
        if not isinstance(data, dict):
            return data
        empty = [key for key, field in cls.model_fields.items() if data.get(key, False) is None
                 and isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)]
        return {k: v for k, v in data.items() if k not in empty} if empty else data


class DemoSource(_Model):
    customers: int = Field(4000, ge=10, le=5_000_000)
    start: dt.date = dt.date(2024, 1, 1)
    months: int = Field(24, ge=3, le=120)
    seed: int = Field(42, ge=0, le=SEED_MAX)
    defects: float = Field(0.01, ge=0, le=0.5)
    # the language of the demo's values (categories, channels, regions, customer types): en or zh
    lang: Literal["en", "zh"] = "en"


def _one_to_one(columns: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for canonical, theirs in columns.items():
        if theirs in seen:
            raise ValueError(
                f'column "{theirs}" is mapped twice (to {seen[theirs]} and to {canonical}); '
                "each input column can feed one segkit column"
            )
        seen[theirs] = canonical


COMMON_ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030", "big5", "shift_jis", "latin-1", "utf-16")


def text_encoding_problem(name: str) -> str | None:
    """Why `name` cannot decode a text file (unknown, or a codec such as rot13 or zlib that is not a
    text encoding), with real ones to use; None when it can."""
    import encodings.aliases

    what = _encoding_fault(name)
    if what is None:
        return None
    known = sorted({*encodings.aliases.aliases, *encodings.aliases.aliases.values()})
    close = [c for c in difflib.get_close_matches(name.lower().replace("-", "_"), known, n=5)
             if _encoding_fault(c) is None]
    hint = f"did you mean {close[0].replace('_', '-')}? " if close else ""
    return (f"{shown(name, 40)} {what}; {hint}use e.g. {', '.join(COMMON_ENCODINGS)}, "
            "or leave it out to detect UTF-8 or GBK")


def _encoding_fault(name: str) -> str | None:
    try:
        b"a".decode(name)  # bytes.decode looks up only text encodings (empty bytes skip the lookup)
    except UnicodeError:  # a text encoding that cannot decode one byte alone (utf-16): fine
        return None
    except LookupError as err:
        return "is not a text encoding" if "text encoding" in str(err) else "is not known"
    except Exception:  # a codec that fails otherwise
        return "cannot decode text"
    return None


SEPARATOR_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|", "space": " ", "spaces": "spaces"}


# The transaction columns a column map names (segkit.intake.sources.INPUT_COLUMNS), and source_row.
TRANSACTION_NAMES = ("customer_id", "order_id", "ordered_at", "amount", "quantity", "unit_price", "category",
                     "product", "channel", "status", "currency", "refund_amount", "source_row")


class FileTable(_Model):
    """A table in a file. `columns` maps segkit's names to the file's (e.g. customer_id: 客户ID).

    `encoding` None means: detect it (a byte-order mark: UTF-8, UTF-16, UTF-32; otherwise UTF-8,
    then GB18030, which reads GBK, then Windows-1252, which reads Latin-1 exports).
    `separator` None means: detect it (comma, semicolon, tab, pipe or runs of blanks; an Excel
    `sep=;` first line); stated, it is one character, or a name: comma, semicolon, tab, pipe, space
    (exactly one blank) or spaces (runs of blanks, as in the CDNOW master file), kept as the
    character ("\t" for tab) or "spaces".
    `header_row` is the 1-based line (CSV/TSV) or sheet row (Excel) that holds the column names,
    for exports with a title above the table. `sheet` names an Excel sheet (default: the first);
    `table` names the table in a DuckDB file; `member` names the file to read in a .zip that holds
    more than one. `attributes` (transactions only) keeps other columns of each row under a name of
    yours, e.g. `{country: Country}`: naming one in `dimensions` gives each customer its most frequent
    value (see `segkit.features.most_frequent_values`).
    """

    path: str
    format: Literal["csv", "tsv", "excel", "parquet", "duckdb"] | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    encoding: str | None = None
    separator: str | None = None
    header_row: int = Field(1, ge=1, le=1000)
    sheet: str | None = None
    table: str | None = None
    member: str | None = Field(None, min_length=1)
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: dict[str, str]) -> dict[str, str]:
        from segkit.classify.profile import PROFILE_COLUMNS

        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                raise ValueError(f"attribute name {shown(name, 40)} must be a lowercase word (letters, digits, _), "
                                 "e.g. country")
            if name in TRANSACTION_NAMES or name in PROFILE_COLUMNS:
                raise ValueError(f"attribute name {name!r} is a name segkit uses; "
                                 + ("map it in columns" if name in TRANSACTION_NAMES else "choose another name"))
        _one_to_one(value)
        return value

    @field_validator("encoding")
    @classmethod
    def _text_encoding(cls, value: str | None) -> str | None:
        problem = None if value is None else text_encoding_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("separator")
    @classmethod
    def _one_separator(cls, value: str | None) -> str | None:
        if value is None:
            return None
        named = SEPARATOR_NAMES.get(value.strip().lower()) if value.strip() else None
        if named is not None:
            return named
        if len(value) != 1 or value in "\"\r\n" or value.isalnum():
            raise ValueError(f"{shown(value, 20)} is not a separator: give one character (e.g. \",\", \";\", \"|\") "
                             f"or a name: {', '.join(SEPARATOR_NAMES)}; or leave it out to detect it")
        return value

    @model_validator(mode="after")
    def _map_is_one_to_one(self) -> "FileTable":
        _one_to_one(self.columns)
        return self


class DatabaseTable(_Model):
    """A customers or surveys table in the database, with its column map."""

    table: str
    columns: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _map_is_one_to_one(self) -> "DatabaseTable":
        _one_to_one(self.columns)
        _a_table_not_a_query(self.table, "table")
        return self


# libpq connection options a url may carry in its query (PostgreSQL 15 documentation, 34.1.2), except
# host, port, dbname and user (they sit in the url itself) and the secrets (password, sslpassword).
URL_OPTIONS = ("application_name", "channel_binding", "client_encoding", "connect_timeout",
               "fallback_application_name", "gssencmode", "gsslib", "keepalives", "keepalives_count",
               "keepalives_idle", "keepalives_interval", "krbsrvname", "load_balance_hosts", "options", "passfile",
               "require_auth", "requirepeer", "service", "ssl_max_protocol_version", "ssl_min_protocol_version",
               "sslcert", "sslcertmode", "sslcompression", "sslcrl", "sslcrldir", "sslkey", "sslmode",
               "sslnegotiation", "sslrootcert", "sslsni", "target_session_attrs", "tcp_user_timeout")
URL_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": ("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
}


def _a_table_not_a_query(name: str, key: str) -> None:
    """Refuse a query written where a table's name goes (`(SELECT ...) AS q`, `SELECT ...`): segkit reads
    a table or a view by name; a view is how a query is read."""
    if re.search(r"[()]|^\s*(select|with)\s", name, re.I):
        raise ValueError(f"{key} must name a table or a view (table, or schema.table), not a query; to read a query, "
                         "create a view of it in the database (CREATE VIEW shop.lines AS SELECT ...) and name the "
                         "view here")


class Database(_Model):
    """A database read in place. The password never sits here: `password_env` names the variable."""

    url: str
    password_env: str | None = Field(None, pattern=ENV_NAME, max_length=200)
    table: str = "transactions"
    columns: dict[str, str] = Field(default_factory=dict)
    customers: DatabaseTable | None = None
    surveys: DatabaseTable | None = None

    @model_validator(mode="after")
    def _no_password_in_url(self) -> "Database":
        parts = urlsplit(self.url)
        if parts.password or re.search(r"(^|&)(ssl)?password=", parts.query, re.I):
            raise ValueError(
                "the url holds a password; remove it and name an environment variable in "
                "password_env (e.g. password_env: SEGKIT_DB_PASSWORD)"
            )
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"url must start with postgresql:// (PostgreSQL is the database segkit reads), "
                             f"got {cut(parts.scheme, 20) or 'no scheme'}://")
        try:
            parts.port
        except ValueError:  # the text after ':' is not shown: it may be a password without its '@'
            raise ValueError("the url's port is not a number from 0 to 65535; write "
                             "postgresql://user@host:5432/database") from None
        self.url_options()
        _one_to_one(self.columns)
        _a_table_not_a_query(self.table, "table")
        return self

    def url_options(self) -> dict[str, str]:
        """The libpq connection options in the url's query (e.g. `?sslmode=require&connect_timeout=5`).

        Raises ValueError naming an option that is not one of URL_OPTIONS (without echoing a value),
        one given twice, or a value out of its choices.
        """
        query = urlsplit(self.url).query
        options: dict[str, str] = {}
        for item in filter(None, query.split("&")):
            name, sep, _ = item.partition("=")
            name = unquote(name)
            shown_name = repr(name) if re.fullmatch(r"[A-Za-z_]{1,40}", name) else "(name not shown)"
            if not sep:
                raise ValueError(f"url option {shown_name} has no value; write name=value, e.g. ?sslmode=require")
            if name not in URL_OPTIONS:
                where = ("goes in the url itself (postgresql://user@host:port/database)"
                         if name in ("host", "hostaddr", "port", "dbname", "user") else "is not a connection option")
                raise ValueError(f"url option {shown_name} {where}; allowed: {', '.join(URL_OPTIONS)}")
            if name in options:
                raise ValueError(f"url option {shown_name} is given twice; keep one")
            options[name] = unquote(item.partition("=")[2])
        for name, choices in URL_CHOICES.items():
            if name in options and options[name] not in choices:
                raise ValueError(f"url option {name} must be one of {', '.join(choices)}, got {shown(options[name], 30)}")
        for name in ("connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                     "tcp_user_timeout"):
            if name in options and not re.fullmatch(r"\d{1,6}", options[name]):
                raise ValueError(f"url option {name} must be a whole number (seconds), got {shown(options[name], 30)}")
        return options

    def password(self) -> str | None:
        """The password from the environment variable named in `password_env` (never logged or stored)."""
        if not self.password_env:
            return None
        password = os.environ.get(self.password_env)
        if password is None:
            raise ParamsError(
                f"source.database.password_env names {self.password_env}, which is not set: "
                f"export {self.password_env}=... before the run"
            )
        if password == "":  # set but empty (an export without its value): the server would refuse it later
            raise ParamsError(f"source.database.password_env names {self.password_env}, which is set but empty: "
                              f"export {self.password_env}=... with the password before the run")
        return password

    def connection_args(self) -> dict[str, Any]:
        """Keyword arguments for a PostgreSQL connection: host, port, user, database and password, then the
        libpq options of the url's query (sslmode, connect_timeout, application_name, ...) as given."""
        parts = urlsplit(self.url)
        args = {"host": parts.hostname or "localhost", "port": parts.port or 5432,
                "user": unquote(parts.username) if parts.username else None,
                "database": unquote(parts.path.lstrip("/")) or None, "password": self.password()}
        return {k: v for k, v in args.items() if v is not None} | self.url_options()

    def resolved_url(self) -> str:
        """The url with the password from the environment filled in (never logged or stored)."""
        password = self.password()
        if password is None:
            return self.url
        parts = urlsplit(self.url)
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{user}:{password}@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# A customer-level table (source.kind customers): the columns its map may name for R, F and M and
# the purchase dates; any other key names an extra column (kept for tags, dimensions, ranking, clustering).
# what segkit reads or makes itself of a customer table beside transactions (and a profile's own columns
# besides PROFILE_COLUMNS): a key of its map under one of these names is not an extra column
CUSTOMER_TABLE_OWN = ("customer_id", "signup_date", "first_purchase", "last_purchase", "rank", "rank_score", "tags",
                      "rfm_code", "clv", "clv_tier", "p_alive", "churn_risk", "cluster", "cluster_name")
CUSTOMER_LEVEL_COLUMNS = ("customer_id", "recency_days", "last_purchase", "orders", "revenue", "first_purchase")
# Names analysts use for segkit's own: as a key of the map, they are refused with the name meant.
CUSTOMER_LEVEL_ALIASES = {"id": "customer_id", "customer": "customer_id", "recency": "recency_days",
                          "r": "recency_days", "frequency": "orders", "f": "orders", "order_count": "orders",
                          "monetary": "revenue", "m": "revenue", "amount": "revenue", "spend": "revenue",
                          "last_order": "last_purchase", "first_order": "first_purchase"}
# Names segkit computes for every customer: an extra column may not take them.
CUSTOMER_LEVEL_RESERVED = ("source_row", "tenure_days", "avg_order_value", "interval_days", "orders_recent",
                           "r_score", "f_score", "m_score", "rfm_code", "segment", "rfm_class", "frequency_tier",
                           "monetary_tier", "abc_class", "breadth", "active", "tags", "rank", "rank_score",
                           "cluster", "cluster_name", "reason", "detail")


class CustomerLevel(_Model):
    """Settings of a customer-level source (`kind: customers`), beside its table in `source.customers`.

    `sums` builds orders or revenue by adding several of the table's columns, e.g. the purchases per
    channel (`orders: [NumWebPurchases, NumStorePurchases]`) or the spend per product line
    (`revenue: [MntWines, MntFruits]`); each sum is exact (money in minor units).
    """

    sums: dict[Literal["orders", "revenue"], list[str]] = Field(default_factory=dict)

    @field_validator("sums")
    @classmethod
    def _parts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: dict[str, str] = {}
        for ours, parts in value.items():
            if not parts:
                raise ValueError(f"sums.{ours} lists no column; list the table's columns to add up, "
                                 f"e.g. {ours}: [NumWebPurchases, NumStorePurchases]")
            for theirs in parts:
                if theirs in seen:
                    raise ValueError(f'column "{cut(theirs, 40)}" is listed twice in sums ({seen[theirs]} and {ours}); '
                                     "each column can be added once")
                seen[theirs] = ours
        return value


def _check_customer_level(table: FileTable, level: CustomerLevel) -> None:
    """What a customer-level table's column map must say (raises ValueError naming the key)."""
    columns, sums = table.columns, level.sums
    if "customer_id" not in columns:
        raise ValueError("kind 'customers' needs source.customers.columns.customer_id: the table's column that "
                         "identifies the customer (e.g. customer_id: ID)")
    both = sorted(set(columns) & set(sums))
    if both:
        raise ValueError(f"{both[0]} is given both in source.customers.columns and in source.customer_level.sums; "
                         "keep one")
    given = set(columns) | set(sums)
    if not given & {"recency_days", "last_purchase", "orders", "revenue"}:
        raise ValueError("kind 'customers' needs at least one of recency_days (or last_purchase), orders, revenue "
                         "in source.customers.columns (or orders/revenue in source.customer_level.sums), e.g. "
                         "columns: {customer_id: ID, recency_days: Recency, revenue: Spend}")
    if {"recency_days", "last_purchase"} <= set(columns):
        raise ValueError("customers.columns maps both recency_days and last_purchase; map one of them "
                         "(recency is counted from last_purchase to as_of)")
    for key in columns:
        if key in CUSTOMER_LEVEL_COLUMNS:
            continue
        if key in CUSTOMER_LEVEL_RESERVED:
            raise ValueError(f"customers.columns.{key}: segkit computes {key} itself; give the extra column "
                             "another name")
        meant = CUSTOMER_LEVEL_ALIASES.get(key.lower()) or next(
            iter(difflib.get_close_matches(key, CUSTOMER_LEVEL_COLUMNS, n=1, cutoff=0.8)), None)
        if meant:  # an extra may take any other name: this one looks like a misspelt segkit name
            raise ValueError(f"customers.columns.{cut(key, 40)}: did you mean {meant}? (segkit's names: "
                             f"{', '.join(CUSTOMER_LEVEL_COLUMNS)}; any other name keeps an extra column, so give "
                             "an extra one that is not so close to them)")
        if not key.isidentifier():
            raise ValueError(f"customers.columns: the name {shown(key, 40)} must be a single word (letters, "
                             "digits and _, not starting with a digit) so that tag rules can name it, e.g. income")
    used = set(columns.values())
    twice = sorted(used & {c for parts in sums.values() for c in parts})
    if twice:
        raise ValueError(f'column "{cut(twice[0], 40)}" is both mapped in source.customers.columns and added in '
                         "source.customer_level.sums; each column can feed one segkit column")


# -- cross-sell and campaigns (issue 14) --------------------------------------------------------

CAMPAIGN_COLUMNS = ("customer_id", "campaign", "sent_at", "responded", "revenue", "control")


class CampaignTable(FileTable):
    """A campaigns table in a file (`source.campaigns`), in one of two forms.

    `form: long` (the default): one row per customer and campaign; `columns` maps segkit's names to
    the file's: customer_id and responded (1/0, yes/no, true/false) are required, campaign, sent_at
    (the date sent), revenue (from the response) and control (1 for a customer held out as the control
    group, not contacted) are optional. `form: wide`: one row per customer, one 0/1 column per campaign
    named in `campaign_columns` (e.g. [AcceptedCmp1, AcceptedCmp2, Response]); `columns` maps
    customer_id only.
    """

    form: Literal["long", "wide"] = "long"
    campaign_columns: list[str] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _form_has_its_columns(self) -> "CampaignTable":
        unknown = sorted(set(self.columns) - set(CAMPAIGN_COLUMNS))
        if unknown:
            raise ValueError(f"source.campaigns.columns: {cut(', '.join(unknown), 80)} is not a campaigns column; "
                             f"columns: {', '.join(CAMPAIGN_COLUMNS)}")
        if self.form == "wide":
            if not self.campaign_columns:
                raise ValueError("form 'wide' needs campaign_columns, the 0/1 columns one per campaign "
                                 "(e.g. [AcceptedCmp1, AcceptedCmp2, Response])")
            if set(self.columns) - {"customer_id"}:
                raise ValueError("form 'wide' maps customer_id only in columns; list the campaigns in campaign_columns")
        elif self.campaign_columns:
            raise ValueError("campaign_columns applies to form 'wide' (form is 'long': map campaign and responded "
                             "in columns)")
        return self


class CrossSell(_Model):
    """What each segment buys and the cross-sell rules (07_cross_sell; docs/cross_sell.md).

    `item`: the transaction column whose values are the items (category, or product where mapped).
    `basket`: an order's items, or a customer's (everything they bought). Rules (Agrawal, Imielinski
    & Swami 1993) keep itemsets bought in at least `min_support` of the baskets and rules right at
    least `min_confidence` of the time and seen in at least `min_baskets` baskets (a small segment's
3% can be two baskets), with at most `max_items` items in a rule. Above
    `engine_above` baskets, rules are one item -> one item, counted in the engine. `top_rules` rules
    are shown per segment; `confidence_level` is the level of the Wilson intervals of the campaign
    response rates; a segment with fewer than `min_customers` customers sent a campaign is not named
    as worth targeting.
    """

    item: Literal["category", "product"] = "category"
    basket: Literal["order", "customer"] = "customer"
    min_support: float = Field(0.03, gt=0, le=1)
    min_confidence: float = Field(0.3, gt=0, le=1)
    min_baskets: int = Field(5, ge=1)
    max_items: int = Field(3, ge=2, le=6)
    engine_above: int = Field(200_000, ge=0)
    top_rules: int = Field(5, ge=1, le=100)
    confidence_level: float = Field(0.95, gt=0.5, lt=1)
    min_customers: int = Field(30, ge=1)


# -- Spark (source.kind spark): how to reach Spark and what to read, in place -----------------------

SPARK_FORMATS = ("parquet", "orc", "delta")
# a master URL Spark accepts: local, local[N], local[*], local[N,F], spark://host:port[,host:port], yarn, k8s://...
SPARK_MASTER = r"^(local(\[(\*|\d+)(,\d+)?\])?|spark://[^\s/]+(,[^\s/]+)*|yarn|k8s://\S+|mesos://\S+)$"
# settings that hold secrets go in spark-defaults.conf or the environment, never in params (they reach the manifest)
SPARK_SECRET_WORDS = ("secret", "password", "token", "credential", "access.key", "secret.key")


class SparkTable(_Model):
    """A customers or surveys table for a Spark source: a metastore `table` ("db.tbl") or a `path`
    read in place with `format`, with its column map."""

    table: str | None = None
    path: str | None = None
    format: Literal["parquet", "orc", "delta"] = "parquet"
    columns: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _table_or_path(self) -> "SparkTable":
        _one_table_or_path(self.table, self.path)
        _one_to_one(self.columns)
        return self


class Spark(_Model):
    """Transactions read in place by Spark (`source.kind: spark`).

    How to reach Spark: `master` (local[2], spark://host:7077, yarn, k8s://...) starts or joins a
    session with `config` (spark.* settings), or `existing: true` uses the active SparkSession (as
    under spark-submit, where the master and settings come from the command line). What to read: a
    metastore `table` ("db.tbl", or a temporary view) or a `path` (a folder or file) in `format`,
    with `columns` (the column map, as `source.database.columns`; `source_row` may name a key
    column); optional `customers` and `surveys` tables (`SparkTable`)."""

    master: str | None = Field(None, max_length=500)
    existing: bool = False
    app_name: str = Field("segkit", max_length=100)
    config: dict[str, str | int | float | bool] = Field(default_factory=dict)
    table: str | None = None
    path: str | None = None
    format: Literal["parquet", "orc", "delta"] = "parquet"
    columns: dict[str, str] = Field(default_factory=dict)
    customers: SparkTable | None = None
    surveys: SparkTable | None = None

    @model_validator(mode="after")
    def _reachable_and_readable(self) -> "Spark":
        if self.existing and self.master is not None:
            raise ValueError("give either master (segkit starts or joins a session) or existing: true (the active "
                             "session, e.g. under spark-submit), not both")
        if not self.existing and self.master is None:
            raise ValueError("say how to reach Spark: master: local[2] (this machine), spark://host:7077 or yarn; "
                             "or existing: true to use the active session (spark-submit)")
        if self.master is not None and not re.fullmatch(SPARK_MASTER, self.master):
            raise ValueError(f"master must be local[N], local[*], spark://host:port, yarn or k8s://..., got "
                             f"{shown(self.master, 60)}")
        for name in self.config:
            if not name.startswith("spark."):
                raise ValueError(f"config key {shown(name, 60)} is not a Spark setting: Spark settings start with "
                                 "'spark.' (e.g. spark.sql.shuffle.partitions)")
            if name in ("spark.master", "spark.app.name"):
                own = {"spark.master": "master", "spark.app.name": "app_name"}[name]
                raise ValueError(f"config key {name} is source.spark.{own}: set it there")
            if any(word in name.lower() for word in SPARK_SECRET_WORDS):
                raise ValueError(f"config key {shown(name, 60)} looks like a secret: put it in spark-defaults.conf or "
                                 "the environment, never in the params (they are copied into every report)")
        _one_table_or_path(self.table, self.path)
        _one_to_one(self.columns)
        return self

    def settings(self) -> dict[str, str]:
        """The `config` as Spark takes it: every value as text, booleans as true/false. A local master
        (local, local[2], local[*]) also gets the driver on 127.0.0.1 unless `config` says otherwise:
        Spark otherwise advertises the address the machine's name resolves to, which may be
        unreachable, and then fetching a large result fails ("Failed to connect to /192.0.2.2")."""
        given = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.config.items()}
        if self.master and (self.master == "local" or self.master.startswith("local[")):
            return {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1", **given}
        return given


def _one_table_or_path(table: str | None, path: str | None) -> None:
    if (table is None) == (path is None):
        raise ValueError("give either table (a metastore table, e.g. sales.orders) or path (a Parquet/ORC/Delta "
                         "folder or file, with format), " + ("not both" if table else "one of them"))
    if table is not None and not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,2}", table):
        raise ValueError(f"table must be a name like orders or sales.orders (letters, digits, _), got "
                         f"{shown(table, 60)}")

# -- end of Spark ----------------------------------------------------------------------------------


class Source(_Model):
    """Where the data come from. `kind`: demo (generated), cdnow (bundled), file (transactions in
    `transactions`, optional `customers` and `surveys` tables), database (PostgreSQL), or customers:
    one row per customer in `customers` with recency, frequency and monetary already computed (or
    only some of them), mapped in its `columns` and, for sums of columns, in `customer_level`."""

    kind: Literal["demo", "cdnow", "file", "database", "customers", "spark"] = "demo"
    demo: DemoSource = DemoSource()
    transactions: FileTable | None = None
    customers: FileTable | None = None
    surveys: FileTable | None = None
    database: Database | None = None
    customer_level: CustomerLevel | None = None
    # a system's export (segkit/intake/preset_maps, docs/presets.md): fills kind and the column map
    # (and, through Params, the returns conventions) before validation; the params' own keys win
    preset: str | None = None
    campaigns: CampaignTable | None = None
    spark: Spark | None = None  # kind spark: how to reach Spark and what to read (docs/spark.md)

    @model_validator(mode="after")
    def _spark_has_its_settings(self) -> "Source":
        if self.kind == "spark" and self.spark is None:
            raise ValueError("kind 'spark' needs source.spark: {master: \"local[2]\", path: ..., columns: {...}} "
                             "(or existing: true under spark-submit; see docs/spark.md)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data: Any) -> Any:
        from segkit.intake.presets import fill_source

        return fill_source(data)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        from segkit.intake.presets import unknown_preset

        problem = None if value is None else unknown_preset(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _preset_fits_kind(self) -> "Source":
        from segkit.intake.presets import check_kind

        problem = check_kind(self.preset, self.kind)
        if problem:
            raise ValueError(problem)
        table = {"file": "transactions", "customers": "customers"}.get(self.kind)
        if self.preset is not None and table and getattr(self, table) is None:
            raise ValueError(f"preset {self.preset} needs the export file: source.{table}: {{path: <the file>}} "
                             "(the preset gives the columns)")
        return self

    @model_validator(mode="after")
    def _kind_has_its_settings(self) -> "Source":
        if self.kind == "file" and self.transactions is None:
            raise ValueError("kind 'file' needs source.transactions: {path: ..., columns: {...}}")
        if self.kind == "database" and self.database is None:
            raise ValueError("kind 'database' needs source.database: {url: ..., table: ...}")
        if self.kind == "customers":
            if self.customers is None:
                raise ValueError("kind 'customers' needs source.customers, the table with one row per customer: "
                                 "{path: ..., columns: {customer_id: ..., recency_days: ..., orders: ..., revenue: ...}}")
            if self.transactions is not None or self.database is not None:
                raise ValueError("kind 'customers' reads only source.customers (and source.surveys); remove "
                                 "source.transactions and source.database, or use kind 'file' or 'database'")
            _check_customer_level(self.customers, self.customer_level or CustomerLevel())
        elif self.customer_level is not None:
            raise ValueError(f"customer_level applies to kind 'customers' only (kind is {self.kind!r})")
        return self

    @property
    def customer_table_map(self) -> dict[str, str]:
        """The column map of the customer table beside the transactions (`customers` of a file source,
        of `database` or of `spark`): segkit's name -> the table's column; {} without one (and for
        kind customers, whose table is the source itself)."""
        table = {"file": self.customers, "database": self.database.customers if self.database else None,
                 "spark": self.spark.customers if self.spark else None}.get(self.kind)
        return dict(table.columns) if table is not None else {}

    @property
    def extra_columns(self) -> dict[str, str]:
        """The extra columns a customer table's map names, with what they hold, for tag rules (and, of
        a customer-level table, for ranking and clustering): `{income: "Annual Income (k$) from the
        customer table"}`. Of a customer-level table (kind customers), its keys other than segkit's own;
        of the customer table beside transactions (`customer_table_map`), its keys that are single
        words and not a column segkit makes or reads itself (customer_id, signup_date, the profile's
        columns: a `region` mapped there is the profile's region already)."""
        if self.kind == "customers":
            if self.customers is None:
                return {}
            return {ours: f"{theirs} from the customer table" for ours, theirs in self.customers.columns.items()
                    if ours not in CUSTOMER_LEVEL_COLUMNS}
        from segkit.classify.profile import PROFILE_COLUMNS

        return {ours: f"{theirs} from the customer table" for ours, theirs in self.customer_table_map.items()
                if ours.isidentifier() and ours not in CUSTOMER_TABLE_OWN and ours not in PROFILE_COLUMNS}


class Fill(_Model):
    """Values for missing optional fields; each filled row is counted as fixed (filled_<field>)."""

    category: str | None = None
    channel: str | None = None
    product: str | None = None
    quantity: float | None = None


class Returns(_Model):
    """How cancellations and returns are marked, what to do with them, and with the customers they
    leave at zero or below (docs/data.md, "Returns and cancellations").

    Marked by an order-id prefix (`order_prefix: C`), by a status column mapped as `status` with the
    values that mean a return (`status_values: [cancelled, returned]`), or by a negative quantity.
    `net`: the line is used with a negative amount, netted into the purchase it cancels (it never
    counts as an order and never moves recency); `drop`: the line is set aside (rule `return`) and
    the purchases stay as they are.

    `match` says how a cancellation finds its purchase: `order_number` (the default), the same
    order number (without the prefix) of the same customer; `product`, for exports where a
    cancellation is a document with its own number (`C536379`), the customer's purchase line of the
    same product dated at or before it (the same amount first, then one at least as large, then the
    same unit price, then the latest). A cancellation that finds no purchase in the data (it cancels
    one before the extract) still reduces revenue and is counted apart.

    `refunded_orders` (with `net`): an order cancelled in full (its lines net to exactly zero) is
    `set_aside` with its cancellations (rule `refunded_order`, the default: it was never a purchase,
    so it counts as no order, dates no purchase and starts no customer) or kept as a purchase of
    zero (`keep`).

    `net_negative`: a customer whose revenue after netting is zero or less is `set_aside` from
    scoring (the default; counted in the customer ledger) or scored with revenue `floor`ed at zero.
    """

    order_prefix: str | None = Field(None, min_length=1)
    status_values: list[str] = Field(default_factory=list)
    negative_quantity: bool = False
    action: Literal["net", "drop"] = "net"
    match: Literal["order_number", "product"] = "order_number"
    refunded_orders: Literal["set_aside", "keep"] = "set_aside"
    net_negative: Literal["set_aside", "floor"] = "set_aside"


class Outliers(_Model):
    """Amount outliers: beyond the `threshold` quantile (e.g. 0.999), or a robust z-score
    (|x - median| / (1.4826 MAD)) above `threshold` (e.g. 3.5); flagged, capped or set aside."""

    method: Literal["none", "quantile", "robust_z"] = "none"
    threshold: float | None = Field(None, gt=0)
    action: Literal["flag", "cap", "set_aside"] = "flag"

    @model_validator(mode="after")
    def _threshold_fits_method(self) -> "Outliers":
        if self.method == "quantile" and self.threshold is not None and not 0.5 < self.threshold < 1:
            raise ValueError(f"threshold={self.threshold} must be a quantile between 0.5 and 1 for method quantile, "
                             "e.g. 0.999")
        return self

    @property
    def cut(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return 0.999 if self.method == "quantile" else 3.5


class CustomerIds(_Model):
    """How customer ids written several ways are read as one customer's (`cleaning.customer_ids`; off by
    default: ids are compared as written). `case: fold` compares and keeps ids with the letters A to Z
    in lower case (e-mail addresses: `Alice@Example.com` is `alice@example.com`). `phone: true` reads an id
    that is a phone number written with blanks, hyphens, dots, parentheses or a leading `+` (or `00` before
    a number so written) as its digits (`138-0013-8000` is `13800138000`); `phone_country_code` (with
    `phone: true`) drops that country calling code from a number written with it (`+86 138 0013 8000` and
    `0086 13800138000` are `13800138000` with "86"). An id of digits only, or one that is no phone number,
    is left as written. Applied to the transactions' ids on every path and to the customer, survey and
    campaign tables' ids that join them (`segkit.intake.ids`)."""

    case: Literal["as_written", "fold"] = "as_written"
    phone: bool = False
    phone_country_code: str | None = None

    @field_validator("phone_country_code", mode="before")
    @classmethod
    def _calling_code(cls, value: Any) -> str | None:
        if value is None:
            return None
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        found = re.fullmatch(r"(?:\+|00)?([1-9][0-9]{0,2})", text or "")
        if found is None:
            raise ValueError(f"phone_country_code must be a country calling code of 1 to 3 digits, like \"86\" "
                             f"(China), \"852\" (Hong Kong) or \"1\" (the US and Canada); got {shown(value)}")
        return found.group(1)

    @model_validator(mode="after")
    def _code_needs_phone(self) -> "CustomerIds":
        if self.phone_country_code is not None and not self.phone:
            raise ValueError("phone_country_code is read only with phone: true (ids that are phone numbers read "
                             "as their digits): set phone: true as well, or leave phone_country_code out")
        return self

    @property
    def active(self) -> bool:
        """Whether ids are read otherwise than as written."""
        return self.case == "fold" or self.phone


class Cleaning(_Model):
    max_amount: float = Field(1e12, gt=0, le=1e15)  # a line above this is set aside as implausible
    duplicates: Literal["drop", "keep"] = "drop"
    duplicate_order_lines: Literal["drop", "keep"] = "drop"
    non_positive_amount: Literal["set_aside", "keep"] = "set_aside"
    decimal: Literal[".", ","] = "."
    day_first: bool | None = None
    # an IANA zone (Asia/Shanghai): times with an offset are converted to it; None: the local time as written
    time_zone: str | None = None
    # a date before this is a typo (implausible_past_date), with or without a stated as_of
    min_date: dt.date = dt.date(1990, 1, 1)
    start_date: dt.date | None = None
    # the survey score scale: an answer outside it is set aside (NPS answers are whole numbers 0 to 10)
    survey_scores: tuple[float, float] = (1, 5)
    non_product: list[str] = Field(default_factory=list)
    # the status values of orders never paid (Shopify's pending, voided, expired): their rows are set
    # aside (rule unpaid_order); compared as cleaning.returns.status_values are, needs the status column
    unpaid_status_values: list[str] = Field(default_factory=list)
    # the status lists ("unpaid_status_values", "returns.status_values") as the source's preset gives them, not
    # the user: no status they name in a file is a typo to point out (set by `Params`)
    _preset_lists: frozenset[str] = PrivateAttr(default_factory=frozenset)
    # customer ids that stand for no one customer (guest checkouts, walk-ins: "0", "guest", 散客), compared
    # trimmed and in any case: their rows are set aside as missing_customer_id
    guest_ids: list[str] = Field(default_factory=list, max_length=100)
    # customer ids written several ways read as one (e-mail case, phone numbers): off by default (`CustomerIds`)
    customer_ids: CustomerIds = CustomerIds()
    fill: Fill = Fill()
    returns: Returns = Returns()
    outliers: Outliers = Outliers()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value[:40]!r} is not a time zone; use an IANA name such as Asia/Shanghai, "
                             "Europe/London or UTC") from None
        return value

    @field_validator("survey_scores")
    @classmethod
    def _scale(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not low < high:
            raise ValueError(f"survey_scores must be [lowest, highest] with lowest < highest, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _unpaid_is_not_a_return(self) -> "Cleaning":
        # a status both "never paid" and "refunded": the row would go to whichever rule comes first, silently;
        # compared as the rules compare a status with the rows' (`status_keys`)
        from segkit.intake.parsing import status_keys

        returns = {k for v in self.returns.status_values for k in status_keys(v)}
        both = [v for v in self.unpaid_status_values if set(status_keys(v)) & returns]
        if both:
            raise ValueError(f"unpaid_status_values and returns.status_values both list {both}: a status is either an "
                             "order never paid (unpaid_status_values) or a refund or cancellation "
                             "(returns.status_values); keep it in one of them")
        return self


RFMFeature = Literal["recency_days", "orders", "revenue"]


class RFM(_Model):
    """How R, F and M are scored and which segment maps turn scores into segments."""

    bins: int = Field(5, ge=2, le=10)
    method: Literal["quantile", "fixed", "percentile"] = "quantile"
    ties: Literal["merge", "rank"] = "merge"
    cuts: dict[RFMFeature, list[float]] | None = None  # method fixed: cut points in the feature's units
    percentiles: dict[RFMFeature, list[float]] | None = None  # method percentile: levels in (0, 100)
    segment_map: str = "rfm11"
    class_map: str = "cn8"
    class_basis: Literal["map", "mean", "median", "threshold"] = "map"
    class_thresholds: dict[RFMFeature, float] | None = None  # class_basis threshold
    custom_maps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # a dimension where at least this share of customers ties on one score or value cannot discriminate
    max_tied_share: float = Field(0.95, gt=0.5, le=1.0)

    @model_validator(mode="after")
    def _method_has_its_numbers(self) -> "RFM":
        dims = ["recency_days", "orders", "revenue"]
        for method, table in (("fixed", self.cuts), ("percentile", self.percentiles)):
            key = "cuts" if method == "fixed" else "percentiles"
            if self.method != method:
                continue
            missing = [d for d in dims if not table or d not in table]
            if missing:
                raise ValueError(f"method {method} needs {key} for {', '.join(missing)}, "
                                 f"e.g. {key}: {{recency_days: [30, 90, 180, 365], ...}}")
            for dim, values in table.items():
                if not values or any(b <= a for a, b in zip(values, values[1:])):
                    raise ValueError(f"{key}.{dim} must be a non-empty, strictly increasing list, got {shown(values)}")
                if len(values) > 9:
                    raise ValueError(f"{key}.{dim} gives {len(values) + 1} scores; at most 10 are allowed")
                if method == "percentile" and not all(0 < v < 100 for v in values):
                    raise ValueError(f"percentiles.{dim} must lie strictly between 0 and 100, got {shown(values)}")
        if self.class_basis == "threshold" and (not self.class_thresholds or set(self.class_thresholds) != set(dims)):
            raise ValueError("class_basis threshold needs class_thresholds for recency_days, orders and revenue")
        return self


# -- clustering (issue 11): preprocessing, method, the k rule, samples --
class ClusterPreprocess(_Model):
    """How the clustering columns are prepared (segkit.models.cluster): `log` auto (log1p on
    non-negative RFM or skewed columns), none, or a list of columns; `cap` the upper quantile values
    are capped at (and 1 - cap below), null for none; `scaling` standard or robust."""

    log: Literal["auto", "none"] | tuple[str, ...] = "auto"
    cap: float | None = Field(0.99, gt=0.5, lt=1.0)
    scaling: Literal["standard", "robust"] = "standard"


class Cluster(_Model):
    """Clustering: the k range, the silhouette sample, the seed and the per-customer numeric
    columns to cluster on (`features`; default the RFM columns recency_days, orders, revenue). Which
    names are allowed is checked with the source (`_check_references`): the feature columns of
    `segkit.features.FEATURE_CHOICES` and a customer table's extra columns."""

    k_min: int = Field(2, ge=2, le=20)
    k_max: int = Field(8, ge=2, le=20)
    sample_size: int = Field(5_000, ge=100)  # the silhouette sample: 1M customers cluster in about 5 s
    random_state: int = Field(42, ge=0, le=SEED_MAX)
    features: tuple[str, ...] = Field(("recency_days", "orders", "revenue"), max_length=50)
    # issue 11: method, the rule that picks k, samples for large data, preprocessing, categorical attributes
    method: Literal["kmeans", "gmm", "ward"] = "kmeans"
    k_rule: Literal["gap", "silhouette", "bic", "fixed"] = "gap"
    k: int | None = Field(None, ge=2, le=20)  # k_rule fixed: the number of clusters
    sample_threshold: int = Field(50_000, ge=1_000)  # above it the k sweep runs on a sample
    sweep_sample: int = Field(20_000, ge=1_000)  # customers in that sample
    ward_sample: int = Field(5_000, ge=100, le=20_000)  # Ward's tree is built on at most this many
    n_references: int = Field(10, ge=2, le=100)  # the gap statistic's reference data sets (B)
    preprocess: ClusterPreprocess = ClusterPreprocess()
    categorical: tuple[str, ...] = Field((), max_length=20)  # attributes one-hot encoded into the clustering

    @model_validator(mode="after")
    def _range(self) -> "Cluster":
        if self.k_min > self.k_max:
            raise ValueError(f"k_min={self.k_min} must be <= k_max={self.k_max}")
        if self.k_rule == "fixed" and (self.k is None or not self.k_min <= self.k <= self.k_max):
            raise ValueError(f"k_rule fixed needs k from k_min to k_max ({self.k_min}..{self.k_max}), got k={self.k}")
        if self.k is not None and self.k_rule != "fixed":
            raise ValueError(f"k={self.k} is used only with k_rule: fixed (k_rule is {self.k_rule}); "
                             "remove k or set k_rule: fixed")
        if self.k_rule == "bic" and self.method != "gmm":
            raise ValueError(f"k_rule bic needs method: gmm (the BIC is a mixture's), got method: {self.method}")
        if self.sweep_sample > self.sample_threshold:
            raise ValueError(f"sweep_sample={self.sweep_sample} must be <= sample_threshold={self.sample_threshold}")
        return self

    @field_validator("features")
    @classmethod
    def _features(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted(n for n, count in Counter(value).items() if count > 1)
        if repeated:
            raise ValueError(f"{cut(repeated[0], 40)} is listed twice; list each column once")
        if len(value) < 2:
            raise ValueError(f"list at least 2 columns to cluster on, got {len(value)} "
                             "(e.g. [revenue, age, income]; one column is better split by tiers)")
        return value


# --- issue 11, evaluation (05_evaluation): the settings compared and the matrix cut lines ---
class CompareSetting(_Model):
    """One setting of `evaluate.compare` (`segkit.compare_settings`): method kmeans with k (and
    optionally features, else cluster.features), rfm with bins (the RFM grid segments), or classes
    (the eight high/low classes)."""

    method: Literal["kmeans", "rfm", "classes"]
    k: int | None = Field(None, ge=2, le=20)
    bins: int | None = Field(None, ge=2, le=10)
    features: tuple[str, ...] | None = Field(None, min_length=2, max_length=50)

    @model_validator(mode="after")
    def _needs_its_number(self) -> "CompareSetting":
        if self.method == "kmeans" and self.k is None:
            raise ValueError("a kmeans setting needs k (e.g. {method: kmeans, k: 4})")
        if self.method == "rfm" and self.bins is None:
            raise ValueError("an rfm setting needs bins (e.g. {method: rfm, bins: 5})")
        return self

    def as_dict(self) -> dict:
        """The setting as `compare_settings` takes it (keys left unset are not passed)."""
        return self.model_dump(exclude_none=True)


class MatrixThresholds(_Model):
    """The cut lines of the segmentation matrix when evaluate.matrix_cut is threshold, in the units
    of the value and potential columns."""

    value: float
    potential: float


DEFAULT_COMPARE = (CompareSetting(method="rfm", bins=3), CompareSetting(method="rfm", bins=5),
                   CompareSetting(method="classes"), CompareSetting(method="kmeans", k=3),
                   CompareSetting(method="kmeans", k=4), CompareSetting(method="kmeans", k=5))


class Evaluate(_Model):
    """The evaluation (05_evaluation): decision-tree rules, the calibration/holdout split of the
    next-period checks, resampling stability (Hennig 2007 bands), the segmentation matrix and the
    settings compared."""

    tree_depth: int = Field(3, ge=1, le=8)
    test_size: float = Field(0.3, gt=0.05, lt=0.9)
    random_state: int = Field(42, ge=0, le=SEED_MAX)
    # the calibration/holdout split of the next-period checks: a date, or the last N months as holdout
    calibration_end: dt.date | None = None
    holdout_months: int = Field(6, ge=1, le=60)
    # silhouette of the side-by-side quality on a sample of this many customers
    quality_sample: int = Field(2_000, ge=100, le=1_000_000)
    # stability: runs, subsample or bootstrap, the share drawn, the customers drawn from (a sample above it)
    stability_runs: int = Field(10, ge=2, le=500)
    stability_scheme: Literal["subsample", "bootstrap"] = "subsample"
    stability_share: float = Field(0.8, gt=0, lt=1)
    stability_sample: int = Field(1_000, ge=50, le=1_000_000)
    # mean Jaccard from which a cluster is weak, a pattern, stable, highly stable (below: dissolved)
    stability_bands: tuple[float, float, float, float] = (0.5, 0.6, 0.75, 0.85)
    # the segmentation matrix: value and potential columns (spend_growth: last N months vs the N before)
    matrix_value: str = Field("revenue", min_length=1, max_length=100)
    matrix_potential: str = Field("clv", min_length=1, max_length=100)
    matrix_cut: Literal["median", "mean", "threshold"] = "median"
    matrix_thresholds: MatrixThresholds | None = None
    matrix_growth_months: int = Field(6, ge=1, le=60)
    # the next-period test: "high value" is the top share of customers
    top_share: float = Field(0.2, gt=0, lt=1)
    # the settings compared, and the figure that picks the best one
    compare: tuple[CompareSetting, ...] = Field(DEFAULT_COMPARE, max_length=20)
    compare_by: Literal["high_f1", "high_precision", "high_recall", "top_lift", "stability", "silhouette",
                        "calinski_harabasz", "davies_bouldin", "tree_accuracy"] = "high_f1"
    compare_stability_runs: int = Field(5, ge=2, le=100)
    compare_max_customers: int = Field(20_000, ge=100, le=10_000_000)  # above: the grid runs on a sample
    # issue 15: above this many customers the decision-tree rules are grown and scored on a sample of them
    tree_sample: int = Field(100_000, ge=1_000, le=10_000_000)

    @field_validator("stability_bands")
    @classmethod
    def _bands(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if not (0 < value[0] and value[-1] < 1) or any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError(f"stability_bands must be 4 increasing numbers between 0 and 1, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _matrix_lines(self) -> "Evaluate":
        if self.matrix_cut == "threshold" and self.matrix_thresholds is None:
            raise ValueError("matrix_cut threshold needs matrix_thresholds: {value: ..., potential: ...}")
        return self
# --- end of issue 11, evaluation ---


class Value(_Model):
    """Customer value over time: the repeat-buying models' time unit, the CLV horizon and discount
    rate (per horizon unit), the P(alive) below which a customer is at churn risk, the inactivity
    window that counts as churned (days), the quantiles of the predicted-value tiers, and the purchase
    model that predicts (BG/NBD, or Pareto/NBD where 05's next-period check finds it closer)."""

    time_unit: Literal["days", "weeks", "months"] = "weeks"
    horizon: int = Field(12, ge=1, le=120)
    horizon_unit: Literal["weeks", "months", "years"] = "months"
    discount_rate: float = Field(0.01, ge=0, lt=1)
    alive_threshold: float = Field(0.5, gt=0, lt=1)
    churn_window_days: int = Field(180, ge=1, le=3650)
    tier_quantiles: tuple[float, float] = (0.5, 0.8)
    # the purchase model behind P(alive), expected purchases and CLV; 05's next-period check compares the two
    purchase_model: Literal["bgnbd", "pareto_nbd"] = "bgnbd"

    @model_validator(mode="after")
    def _ordered(self) -> "Value":
        low, high = self.tier_quantiles
        if not 0 < low < high < 1:
            raise ValueError(f"tier_quantiles must be two increasing fractions between 0 and 1, got {list(self.tier_quantiles)}")
        return self


class CaseStudy(_Model):
    top_share: float = Field(0.2, gt=0, lt=1)


class Tier(_Model):
    """Three tiers (low / mid / high) by quantiles of the customers or by fixed thresholds."""

    method: Literal["quantile", "threshold"] = "quantile"
    quantiles: tuple[float, float] = (0.5, 0.8)
    thresholds: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Tier":
        low, high = self.quantiles
        if not 0 < low < high < 1:
            raise ValueError(f"quantiles must be two increasing fractions between 0 and 1, got {list(self.quantiles)}")
        if self.method == "threshold":
            if self.thresholds is None or not self.thresholds[0] < self.thresholds[1]:
                raise ValueError(f"method threshold needs two increasing thresholds, got {self.thresholds}")
        return self


class Tiers(_Model):
    frequency: Tier = Tier()
    monetary: Tier = Tier()  # on revenue so far: the historical lifetime value
    abc: tuple[float, float] = (0.8, 0.95)  # cumulative revenue share that closes class A, then B

    @model_validator(mode="after")
    def _abc(self) -> "Tiers":
        if not 0 < self.abc[0] < self.abc[1] < 1:
            raise ValueError(f"abc must be two increasing revenue shares between 0 and 1, got {list(self.abc)}")
        return self


class Features(_Model):
    activity_days: int = Field(90, ge=1, le=3650)  # "active": orders in the last N days


class Ranking(_Model):
    """The composite ranking (客户群排序): weights over criteria, normalised to sum to 1. A weight
    names a built-in criterion (`segkit.classify.ranking.CRITERIA`) or an extra numeric column of a
    customer table (`income: 0.2`, higher is better); the names are checked with the source
    (`_check_references`)."""

    weights: dict[str, float] = Field(max_length=50, default_factory=lambda: {
        "frequency": 0.25, "amount": 0.3, "interval": 0.1, "satisfaction": 0.1, "loyalty": 0.1, "activity": 0.15})
    top_n: int = Field(20, ge=1, le=1000)

    @model_validator(mode="after")
    def _weights(self) -> "Ranking":
        negative = {k: v for k, v in self.weights.items() if v < 0}
        if negative:
            raise ValueError(f"weights must be >= 0, got {negative}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("at least one weight must be > 0")
        return self


class Satisfaction(_Model):
    """Survey score bands: score >= very_satisfied is very satisfied, >= satisfied is satisfied."""

    very_satisfied: float = 5
    satisfied: float = 4

    @model_validator(mode="after")
    def _bands(self) -> "Satisfaction":
        if self.satisfied > self.very_satisfied:
            raise ValueError(f"satisfied={self.satisfied} must be <= very_satisfied={self.very_satisfied}")
        return self


class Tag(_Model):
    """A customer tag: `when` is an expression over customer features, e.g. "categories >= 3"."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)
    en: str
    zh: str
    when: str

    @field_validator("when", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        # `when: 3` or `when: true` in YAML: let the rule check say that a rule must compare
        return str(value) if isinstance(value, (int, float, bool)) else value


DEFAULT_TAGS = (
    Tag(name="high_value", en="High value", zh="高价值客户", when="monetary_tier == 'high'"),
    Tag(name="frequent", en="Frequent buyer", zh="高频客户", when="frequency_tier == 'high'"),
    Tag(name="multi_category", en="Multi-category", zh="多品类客户", when="categories >= 3"),
    Tag(name="unsatisfied", en="Unsatisfied", zh="不满意客户", when="satisfaction == 'unsatisfied'"),
    Tag(name="promoter", en="Promoter", zh="推荐者", when="nps >= 9"),
    Tag(name="organisation", en="Enterprise or government", zh="企业或政府客户",
        when="customer_type in ['enterprise', 'government']"),
    Tag(name="lapsing_valuable", en="Valuable, no purchase in 180 days", zh="高价值但超过180天未购买",
        when="monetary_tier == 'high' and recency_days > 180"),
)


# --- exports (issue 13): what every run writes under exports/ (segkit.report.exports) ---
EXPORT_FORMATS = ("csv", "xlsx", "parquet", "postgres")
EXCEL_SHEET_ROWS = 1_048_576  # Excel's limit; a segment sheet also holds a note row and a header row
SQL_NAME = r"^[a-z_][a-z0-9_]*$"  # lower case: PostgreSQL folds unquoted names, so no name needs quotes


class Exports(_Model):
    """The per-customer export of every run: `formats` to write (csv, xlsx, parquet, and postgres:
    a table written back to `postgres_schema`.`postgres_table` when the source is PostgreSQL), the
    CSV's encoding (UTF-8 with BOM, GB18030, or GBK: refused for a character GBK does not have) and the
    most rows of one segment's Excel sheet."""

    formats: tuple[Literal["csv", "xlsx", "parquet", "postgres"], ...] = Field(("csv", "xlsx", "parquet"),
                                                                             max_length=4)
    csv_encoding: Literal["utf-8-sig", "gb18030", "gbk"] = "utf-8-sig"
    excel_max_rows: int = Field(100_000, ge=1, le=EXCEL_SHEET_ROWS - 2)
    postgres_schema: str | None = Field(None, pattern=SQL_NAME, max_length=63)
    postgres_table: str = Field("segkit_customers", pattern=SQL_NAME, max_length=63)
    # a customer table's columns to add to every customer's row (named in its map: source.customers.columns)
    attributes: tuple[str, ...] = Field((), max_length=100)

    @model_validator(mode="after")
    def _postgres_needs_a_schema(self) -> "Exports":
        twice = sorted(f for f, n in Counter(self.formats).items() if n > 1)
        if twice:
            raise ValueError(f"formats lists {', '.join(twice)} twice; list each format once")
        twice = sorted(a for a, n in Counter(self.attributes).items() if n > 1)
        if twice:
            raise ValueError(f"attributes lists {cut(', '.join(twice), 120)} twice; list each column once")
        if "postgres" in self.formats and not self.postgres_schema:
            raise ValueError("formats lists postgres, so postgres_schema must name the schema the table is written "
                             "to (e.g. postgres_schema: segkit); the source's own tables are never written")
        return self


class Currency(_Model):
    """How money is shown and how exact it is: amounts are kept exact to the minor unit (cents, fen).

    `code` is the ISO 4217 code (e.g. CNY, GBP, USD), `symbol` what the report puts before an
    amount (e.g. ¥, £), `minor_unit` the number of decimals of the currency (2 for most, 0 for JPY).
    """

    code: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    symbol: str = Field("", max_length=8)
    minor_unit: int = Field(2, ge=0, le=4)

    @field_validator("code")
    @classmethod
    def _known_code(cls, value: str | None) -> str | None:
        """An ISO 4217 code that CLDR knows (babel's list: current and historic currencies)."""
        from babel.numbers import list_currencies

        if value is not None and value not in list_currencies():
            # the names people write for a currency that are not its code (RMB for the yuan, NTD ...)
            near = [code for name, code in CURRENCY_NAMES.items() if name == value.upper()]
            near = near or difflib.get_close_matches(value, sorted(list_currencies()), n=3)
            raise ValueError(f"{value} is not an ISO 4217 currency code (CNY, USD, EUR, GBP, JPY, HKD ...)"
                             + (f"; did you mean {', '.join(near)}?" if near else ""))
        return value


class Report(_Model):
    """How the report runs: a cell that runs longer than `cell_timeout_minutes` fails the run;
    up to `notebooks_at_once` notebooks that do not need each other's outputs run side by side
    (`segkit.report.schedule`), each in a kernel of its own: 1 (the default) runs them one after the
    other; "auto" runs two at a time on a machine with two cores or more for a run of at most
    250,000 customers that does not read Spark, else one (each notebook holds its own copy of the
    customers' tables, and its own Spark session; `segkit.report.runner.notebooks_at_once`). Side by
    side pays on a quiet machine (about 12% at 100,000 customers, for about 40% more memory); on a
    busy one it is not known to (docs/benchmarks.md), so it is asked for, not assumed.

    `mask_ids: true` masks every customer id the pages, the PDF and the executed notebooks show
    (13800138000 as 138****8000, ann@example.com as a***@example.com, C1234589 as C1****89:
    `segkit.report.masking.mask_id`), for reports mailed around where the ids are phone numbers or
    e-mail addresses (PIPL, GDPR), and in the notes `segkit report` prints; the index says so. `data/`
    and `exports/` keep the real ids: they are for the CRM. Off by default."""

    cell_timeout_minutes: float = Field(30, gt=0, le=24 * 60)
    notebooks_at_once: int | Literal["auto"] = 1
    mask_ids: bool = False

    @field_validator("notebooks_at_once", mode="before")
    @classmethod
    def _at_once(cls, value):
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8):
            return value
        raise ValueError(f"must be a whole number from 1 to 8, or auto, got {shown(value)}")


class Alert(_Model):
    """A rule the index page checks every month; it fires when the measured value is above `above`
    (or below `below`). Kinds:

    - `moved`: the share of last month's customers in the `from` classes who are in the `to` classes
      now (`map`: segment, the eleven segments; rfm_class, the eight classes), e.g. from [champions]
      to [at_risk] above 0.05: "more than 5% of Champions moved to At Risk";
    - `change`: this month's figure `kpi` minus last month's (shares and rates as fractions), e.g.
      kpi top_share below -0.03: "the revenue share of the top customers fell by more than 3 points";
    - `level`: this month's figure `kpi`, e.g. kpi retention_rate below 0.3.
    The figures are those of `segkit.monthly.trends.KPIS` and share_<segment code>.
    """

    # `from` and `to` in a params file; from_classes/to_classes as a manifest (model_dump) writes them
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)

    kind: Literal["moved", "change", "level"]
    from_classes: tuple[str, ...] = Field((), alias="from")
    to_classes: tuple[str, ...] = Field((), alias="to")
    map: Literal["segment", "rfm_class"] = "segment"
    kpi: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$", max_length=100)
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _complete(self) -> "Alert":
        if (self.above is None) == (self.below is None):
            raise ValueError("an alert needs exactly one of above or below")
        if self.kind == "moved" and not (self.from_classes and self.to_classes):
            raise ValueError("a moved alert needs from and to (class codes, e.g. from: [champions], to: [at_risk])")
        if self.kind != "moved" and not self.kpi:
            raise ValueError(f"a {self.kind} alert needs kpi (e.g. kpi: top_share)")
        return self


DEFAULT_ALERTS = (
    Alert(kind="moved", **{"from": ("champions",), "to": ("at_risk",)}, above=0.05),
    Alert(kind="change", kpi="top_share", below=-0.03),
)


# Suffixes the runner gives its own folders and files beside a run; a run name may not end in one.
RESERVED_SUFFIXES = (".failed", ".tmp", ".lock", ".old")


class Strategy(_Model):
    en: str | None = None
    zh: str | None = None


class Params(_Model):
    run_name: str = Field("demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    lang: Literal["en", "zh"] = "en"
    currency: Currency = Currency()
    report: Report = Report()
    month: str | None = Field(None, pattern=rf"^{MONTH_PATTERN}$")
    as_of: dt.date | None = None
    source: Source = Source()
    cleaning: Cleaning = Cleaning()
    rfm: RFM = RFM()
    cluster: Cluster = Cluster()
    evaluate: Evaluate = Evaluate()
    value: Value = Value()
    case_study: CaseStudy = CaseStudy()
    features: Features = Features()
    tiers: Tiers = Tiers()
    ranking: Ranking = Ranking()
    satisfaction: Satisfaction = Satisfaction()
    tags: tuple[Tag, ...] = Field(DEFAULT_TAGS, max_length=MAX_TAGS)
    dimensions: tuple[str, ...] = ("customer_type", "region")
    strategies: dict[str, Strategy] = Field(default_factory=dict)  # per segment code: override texts
    alerts: tuple[Alert, ...] = Field(DEFAULT_ALERTS, max_length=50)
    exports: Exports = Exports()
    cross_sell: CrossSell = CrossSell()

    @model_validator(mode="before")
    @classmethod
    def _fill_cleaning_from_preset(cls, data: Any) -> Any:
        from segkit.intake.presets import fill_params

        return fill_params(data)

    @field_validator("run_name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        for suffix in RESERVED_SUFFIXES:
            if value.lower().endswith(suffix):
                raise ValueError(f"run_name may not end in {suffix!r} (segkit names its own folders so), got {value!r}")
        return value

    @model_validator(mode="after")
    def _mark_preset_status_lists(self) -> "Params":
        # a preset's status values are its system's own: an export without such rows (no unpaid order) is no typo
        if self.source.preset is not None:
            from segkit.intake.presets import load_preset

            given = load_preset(self.source.preset).cleaning
            preset = {"unpaid_status_values": given.get("unpaid_status_values"),
                      "returns.status_values": (given.get("returns") or {}).get("status_values")}
            held = {"unpaid_status_values": self.cleaning.unpaid_status_values,
                    "returns.status_values": self.cleaning.returns.status_values}
            self.cleaning._preset_lists = frozenset(
                key for key, values in preset.items() if values is not None and list(held[key]) == list(values))
        return self

    @model_validator(mode="after")
    def _one_date(self) -> "Params":
        if self.month and self.as_of:
            raise ValueError(f"give month ({self.month}) or as_of ({self.as_of}), not both")
        return self

    @model_validator(mode="after")
    def _amounts_fit_exactly(self) -> "Params":
        # amounts are DECIMAL(18, minor_unit) in the engine: the ceiling must fit in 18 digits
        largest = 10.0 ** (18 - self.currency.minor_unit)
        if self.cleaning.max_amount >= largest:
            raise ValueError(f"cleaning.max_amount={self.cleaning.max_amount:g} must be below {largest:g} with "
                             f"currency.minor_unit={self.currency.minor_unit} (amounts are kept exact to 18 digits)")
        return self

    def calibration_end(self, as_of: dt.date) -> dt.date:
        """The last day of the calibration period for a run whose data end on `as_of`:
        evaluate.calibration_end, or the month end `evaluate.holdout_months` months before as_of."""
        if self.evaluate.calibration_end is not None:
            return self.evaluate.calibration_end
        year, month = as_of.year, as_of.month - self.evaluate.holdout_months
        while month < 1:
            year, month = year - 1, month + 12
        return dt.date(year, month, calendar.monthrange(year, month)[1])

    @property
    def period_start(self) -> dt.date | None:
        """The first day of the month a monthly run reports (`month`); None for other runs."""
        if not self.month:
            return None
        year, month = map(int, self.month.split("-"))
        return dt.date(year, month, 1)

    @property
    def named_dimensions(self) -> tuple[str, ...]:
        """The report dimensions the params file (or a --set) names itself; () when `dimensions` is
        the default (customer_type, region: most sources have neither, and need not be told)."""
        return self.dimensions if "dimensions" in self.model_fields_set else ()

    @property
    def as_of_date(self) -> dt.date | None:
        """The last day analysed: as_of, or the month's last day; None means the data's last day."""
        if self.as_of:
            return self.as_of
        if self.month:
            year, month = map(int, self.month.split("-"))
            return dt.date(year, month, calendar.monthrange(year, month)[1])
        return None


def load_params(path: str | os.PathLike, overrides: list[str] | dict[str, Any] | None = None) -> Params:
    """Read a params YAML file, apply `key=value` overrides, and validate everything at once.

    The file must be UTF-8 YAML whose top level is a mapping, within the budgets of a params document
    (MAX_BYTES, MAX_ALIASES, MAX_DEPTH, MAX_VALUES). Any problem raises one ParamsError that names the
    file (or the override), the key or line, and what to do; values in messages are cut to 80 characters.
    """
    path = Path(path)
    raw = load_yaml(read_params_text(path), origin=str(path))
    if raw is None:  # an empty file is a mistake (a save that failed), never "all the defaults"
        raise ParamsError(f"{path}: the params file is empty; start from params/demo.yaml, which shows every key")
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of keys (e.g. run_name: monthly), "
                          f"got a {type(raw).__name__}")
    pairs = _as_pairs(overrides)
    merged = copy.deepcopy(raw) if pairs else raw
    for override in pairs:
        _set_dotted(merged, override.key, override.value)
    params, problems = _checked(merged)
    if params is None:
        raise ParamsError(_message(problems, _origins(problems, raw, pairs, str(path))))
    return params


def require_source(params: Params, origin: str | os.PathLike) -> None:
    """Raise ParamsError when the params file (or its overrides) says nothing of the source: a run
    must never analyse segkit's generated demo data in place of the analyst's own, unasked. The
    commands that read data call it (`segkit report`, `run`, `backfill`, `check`); `source: {kind:
    demo}` asks for the demo data."""
    if "source" not in params.model_fields_set:
        raise ParamsError(f"{origin}: no source: say where the data are (source: {{kind: file, transactions: "
                          "{path: orders.csv, columns: {...}}}, see docs/data.md), or give source: {kind: demo} "
                          "for segkit's generated demo data")


def validate_params(raw: dict, origin: str = "params") -> Params:
    """A Params from a mapping (as read from YAML); raises ParamsError listing what is wrong (at most
    MAX_ERRORS problems, then how many more)."""
    params, problems = _checked(raw)
    if params is None:
        raise ParamsError(_message(problems, [origin] * len(problems)))
    return params


def _checked(raw: dict) -> tuple[Params | None, list[tuple[tuple | None, str]]]:
    """The Params of `raw`, or None and every problem as (its place as a key path, or None when the
    check names no place; the sentence)."""
    try:
        params = Params.model_validate(raw)
    except ValidationError as err:
        return None, [(_place(e), _explain(e, raw)) for e in err.errors()]
    try:
        _check_references(params)
    except ParamsError as err:
        return None, [(None, str(err))]
    return params, []


def _message(problems: list[tuple[tuple | None, str]], origins: list[str]) -> str:
    """One message: the first MAX_ERRORS problems, each group after the origin it comes from, then
    how many more."""
    groups: dict[str, list[str]] = {}
    for (_, text), origin in zip(problems[:MAX_ERRORS], origins):
        groups.setdefault(origin, []).append(text)
    parts = [f"{origin}: " + "; ".join(texts) for origin, texts in groups.items()]
    if len(problems) > MAX_ERRORS:
        parts.append(f"and {len(problems) - MAX_ERRORS} more")
    return "; ".join(parts)


def _origins(problems: list[tuple[tuple | None, str]], raw: dict, overrides: list[Override], path: str) -> list[str]:
    """Where each of the first MAX_ERRORS problems comes from: an override whose value holds its place
    (`--set rfm.binz=3` for the unknown key rfm.binz); else the file, when the file alone has the same
    problem; else the overrides that lead into its place (a rule over several keys: source.spark with
    `--set source.spark.existing=true`), or all of them (a check across sections)."""
    alone = None
    found = []
    for place, text in problems[:MAX_ERRORS]:
        causes = [o for o in overrides if place is not None and _leads_to(o.place, place)]
        if not causes and overrides:
            if alone is None:
                alone = _checked(raw)[1]
            if (place, text) not in alone:
                causes = [o for o in overrides if place and _leads_to(place, o.place)] or overrides
        found.append(" ".join(f"--set {o.shown}" for o in causes) or path)
    return found


def _leads_to(outer: tuple, inner: tuple) -> bool:
    """Whether key path `outer` is `inner` or holds it (list positions compared as text)."""
    return len(outer) <= len(inner) and all(str(a) == str(b) for a, b in zip(outer, inner))


def _check_cluster_and_ranking_names(params: Params) -> None:
    """cluster.features and ranking.weights name columns that exist: feature columns or built-in
    criteria, or the extra columns a customer table's map names (raises ParamsError listing them)."""
    from segkit.classify.ranking import CRITERIA
    from segkit.features import FEATURE_CHOICES  # not segkit.models.cluster: no scikit-learn to read params

    # a customer-level table's numbers are features; a customer table beside transactions serves tags and exports
    extras = sorted(params.source.extra_columns) if params.source.kind == "customers" else []
    if extras:
        also = f"; extra columns of the customer table: {cut(', '.join(extras), 200)}"
    elif params.source.kind == "customers":
        also = "; an extra column of the customer table can be used once source.customers.columns names it (e.g. income: Income)"
    else:
        also = "; other columns (age, income) can be used from a customer table (source.kind: customers)"
    unknown = [c for c in params.cluster.features if c not in FEATURE_CHOICES and c not in extras]
    if unknown:
        raise ParamsError(f"cluster.features: {cut(', '.join(unknown), 120)} is not a numeric per-customer column "
                          f"segkit can cluster on; columns: {', '.join(FEATURE_CHOICES)}{also}")
    unknown = [c for c in params.ranking.weights if c not in CRITERIA and c not in extras]
    if unknown:
        raise ParamsError(f"ranking.weights: {cut(', '.join(unknown), 120)} is not a ranking criterion; criteria: "
                          f"{', '.join(CRITERIA)}{also}")
    both = [c for c in params.ranking.weights if c in CRITERIA and c in extras]
    if both:
        raise ParamsError(f"ranking.weights.{both[0]}: {both[0]} is both a ranking criterion and an extra column of "
                          "the customer table; give the extra column another name in source.customers.columns")


# a customer table's columns segkit knows by name (the demo's table has them): exportable wherever the run has them
CUSTOMER_ATTRIBUTES = ("customer_type", "region", "age_band", "signup_date")


def _check_export_attributes(params: Params) -> None:
    """exports.attributes names columns a customer table gives: the extra columns its map names
    (`Source.extra_columns`) or segkit's known attributes (`CUSTOMER_ATTRIBUTES`); raises ParamsError
    naming the first that is neither, with what can be named."""
    allowed = [*params.source.extra_columns, *CUSTOMER_ATTRIBUTES]
    unknown = [a for a in params.exports.attributes if a not in allowed]
    if not unknown:
        return
    name = unknown[0]
    meant = difflib.get_close_matches(name, allowed, n=1, cutoff=0.7)
    table = "source.customers.columns" if params.source.kind in ("file", "customers") else \
        f"source.{params.source.kind}.customers.columns" if params.source.kind in ("database", "spark") else None
    how = (f"map the customer table's column in {table} (e.g. {name}: <its header>), then name it here"
           if table else "a customer table's columns can be exported with a file, database or Spark source")
    raise ParamsError(f"exports.attributes: {shown(name, 40)} is not a column of the customer table"
                      + (f"; did you mean {meant[0]}?" if meant else "")
                      + f"; {how}; columns that can be named: {cut(', '.join(allowed), 200)}")


def _check_references(params: Params) -> None:
    """What the types alone cannot check: segment maps exist and are partitions, tag rules are
    safe and name known features, strategy overrides name real segments."""
    from segkit.classify.profile import PROFILE_COLUMNS
    from segkit.classify.rfm import load_segment_map
    from segkit.classify.tags import compile_tags

    rfm = params.rfm
    grid = load_segment_map(rfm.segment_map, custom=rfm.custom_maps)
    classes = load_segment_map(rfm.class_map, custom=rfm.custom_maps)
    if grid.kind != "grid":
        raise ParamsError(f"rfm.segment_map must be a grid map, {grid.name} is {grid.kind}")
    if classes.kind != "high_low":
        raise ParamsError(f"rfm.class_map must be a high_low map, {classes.name} is {classes.kind}")
    compile_tags(params.tags, {**PROFILE_COLUMNS, **params.source.extra_columns})
    _check_cluster_and_ranking_names(params)
    _check_export_attributes(params)
    repeated = sorted(n for n, count in Counter(t.name for t in params.tags).items() if count > 1)
    if repeated:
        raise ParamsError(f"tags: each tag needs its own name; repeated: {cut(', '.join(repeated), 200)}")
    # the recency x spend grid a run falls back to when F cannot discriminate has its own segments
    fallback = load_segment_map("rm6") if grid.kind == "grid" else grid
    codes = set(grid.codes) | set(classes.codes) | set(fallback.codes)
    unknown = sorted(set(params.strategies) - codes)
    if unknown:
        raise ParamsError(f"strategies: {cut(', '.join(unknown), 200)} is not a segment of {grid.name} or {classes.name} "
                          f"(segments: {', '.join(sorted(codes))})")
    if "alerts" in params.model_fields_set:  # the params' own rules (segkit's defaults fit whatever maps run)
        _check_alerts(params.alerts, set(grid.codes) | set(fallback.codes), set(classes.codes))


def _check_alerts(alerts, segments: set[str], classes: set[str]) -> None:
    """Each alert names a figure the monthly runs measure (`segkit.monthly.trends.KPIS`, or share_<a
    segment code>) or classes of its map: a typo is refused here, with the closest name, rather than
    after a whole report's notebooks have run (06_migration checks again, against the run's figures)."""
    from segkit.monthly.trends import KPIS

    figures = [*KPIS, *sorted(f"share_{code}" for code in segments)]
    for number, rule in enumerate(alerts):
        if rule.kind == "moved":
            valid = segments if rule.map == "segment" else classes
            for key, names in (("from", rule.from_classes), ("to", rule.to_classes)):
                for name in names:
                    if name not in valid:
                        raise ParamsError(f"alerts[{number}].{key}: {name!r} is not a class of the {rule.map} map"
                                          f"{_closest(name, valid)} (its codes: {', '.join(sorted(valid))})")
        elif rule.kpi not in figures:
            raise ParamsError(f"alerts[{number}].kpi: {rule.kpi!r} is not a figure the monthly runs measure"
                              f"{_closest(rule.kpi, figures)} (figures: {', '.join(KPIS)}, share_<segment code>)")


def _closest(name: str, choices) -> str:
    """"; did you mean 'x'?" for the closest of `choices` (difflib), or "" when none is close."""
    found = difflib.get_close_matches(str(name), sorted(choices), n=1)
    return f"; did you mean {found[0]!r}?" if found else ""


@dataclass(frozen=True)
class Override:
    """One `--set key=value`: the dotted `key`, the `value` as YAML reads it, and `shown`, the override
    as written for a message (its value left out where it may be a secret: source.database, or a key
    with a SPARK_SECRET_WORDS word)."""

    key: str
    value: Any
    shown: str

    @property
    def place(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))


def _as_pairs(overrides) -> list[Override]:
    if not overrides:
        return []
    if isinstance(overrides, dict):
        return [Override(str(k), v, _override_shown(str(k), str(v))) for k, v in overrides.items()]
    pairs = []
    for item in overrides:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParamsError(f"--set {shown(item)}: write key=value, e.g. --set rfm.bins=4")
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", key) or len(key) > 200:
            raise ParamsError(f"--set {shown(key)}: the key must be dotted names, e.g. rfm.bins or tags.0.when")
        value = load_yaml(text, origin=f"--set {key}") if text.strip() else None
        pairs.append(Override(key, value, _override_shown(key, text.strip())))
    return pairs


def _override_shown(key: str, text: str) -> str:
    if key.startswith("source.database") or any(word in key.lower() for word in SPARK_SECRET_WORDS):
        return f"{cut(key)}=(value not shown)"
    return cut(f"{key}={text}")


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    """Set `value` at a dotted key: names go through mappings, numbers through lists (tags.0.when)."""
    node: Any = tree
    *parents, leaf = dotted.split(".")
    for name in parents:
        if isinstance(node, list):
            node = node[_list_index(node, name, dotted)]
            continue
        if not isinstance(node, dict):
            break
        child = node.get(name)
        if not isinstance(child, (dict, list)):
            child = {}
            node[name] = child
        node = child
    if isinstance(node, list):
        node[_list_index(node, leaf, dotted)] = value
    elif isinstance(node, dict):
        node[leaf] = value
    else:
        raise ParamsError(f"--set {shown(dotted)}: reaches inside {shown(node, 40)}, which is a single value, "
                          "not a mapping or a list")


def _list_index(items: list, name: str, dotted: str) -> int:
    if not name.isdigit() or int(name) >= len(items):
        raise ParamsError(f"--set {shown(dotted)}: {shown(name)} is not an item of the list there "
                          f"(items 0 to {len(items) - 1})" if items else f"--set {shown(dotted)}: the list there is empty")
    return int(name)


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class at a dotted location, through list items (tags.0) and mapping values
    (strategies.champions), or None."""
    annotation: Any = Params
    for part in loc:
        model = _as_model(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            continue
        container = _container(annotation)
        if container is None:
            return None
        annotation = container
    return _as_model(annotation)


def _as_model(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _container(annotation: Any) -> Any:
    """The item type of a tuple/list annotation, or the value type of a dict annotation."""
    for option in (annotation, *get_args(annotation)):
        origin, args = get_origin(option), get_args(option)
        if origin in (tuple, list) and args:
            return args[0]
        if origin is dict and len(args) == 2:
            return args[1]
    return None


def _place(error: dict) -> tuple:
    """The key path of a pydantic error, without pydantic's own steps (validators, literal tags)."""
    return tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal["))))


def _key_path(loc: tuple) -> str:
    """A params key path as the messages write it: list items by their number in brackets, as the
    alert checks say them ("alerts[2].kind", not "alerts.2.kind"); "(top level)" for none."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else ("." if key else "") + cut(part, 40)
    return key or "(top level)"


def _explain(error: dict, raw: dict) -> str:
    loc = _place(error)
    key = _key_path(loc)
    kind = error["type"]
    given = error.get("input")
    if loc[:2] == ("source", "database"):  # may hold a connection string or a password: never echo it
        if loc[-1] == "password_env" and kind in ("string_pattern_mismatch", "string_too_long"):
            return (f"{key} must be the name of an environment variable (letters, digits and _, not starting "
                    "with a digit), e.g. SEGKIT_DB_PASSWORD: put the password in that variable, never in the "
                    "params (value not shown: it may be the password itself)")
        if kind == "value_error":
            return f"{key}: {re.sub(r'^Value error, ', '', error['msg'])}"
        if kind != "extra_forbidden":  # a key's name is no secret: an unknown one is said as anywhere else
            return f"{key}: {error['msg'].lower()} (value not shown: it may hold credentials)"
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = sorted(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean '{_key_path(loc[:-1] + (close[0],))}'?" if close else ""
        if loc[:2] == ("source", "database") and str(loc[-1]).lower() in ("query", "sql"):
            hint = ("; segkit reads a table or a view: create a view of the query in the database (CREATE VIEW "
                    "shop.lines AS SELECT ...) and name it in source.database.table")
        return f"unknown key '{key}'{hint} (allowed here: {', '.join(allowed)})"
    if kind == "too_long" and not isinstance(given, str):
        ctx = error.get("ctx", {})
        return f"{key} may hold at most {ctx.get('max_length')} items, got {ctx.get('actual_length', 'more')}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{key} must be one of {expected}, got {shown(given)}"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        field = _field_constraints(loc)
        return f"{key} must be {field}, got {shown(given)}"
    if kind == "string_pattern_mismatch":
        # run_name names folders, lock files and the history's rows: plain ASCII, said so (门 is a letter to Unicode)
        examples = {"month": "e.g. 2026-10",
                    "run_name": "ASCII letters A-Z and a-z, digits 0-9, '-', '_' and '.' only, starting with a letter "
                                "or digit, e.g. stores-2025",
                    "name": "a letter or _, then letters, digits or _", "code": "three capital letters, e.g. CNY"}
        return f"{key} has the wrong form ({examples.get(str(loc[-1]), cut(error['msg'], 120))}), got {shown(given)}"
    if kind == "value_error":
        message = cut(re.sub(r"^Value error, ", "", error["msg"]), 400)
        return f"{key}: {message}" if loc else message
    if kind.startswith(("date_", "datetime_")):  # pydantic's parser words ("invalid character in year")
        return f"{key} must be a date that exists, written YYYY-MM-DD (e.g. 2025-12-31), got {shown(given)}"
    return f"{key}: {cut(error['msg'].lower(), 200)}, got {shown(given)}"


def _field_constraints(loc: tuple) -> str:
    model = _model_at(loc[:-1])
    field = model.model_fields.get(loc[-1]) if model and isinstance(loc[-1], str) else None
    if field is None:
        return "in range"
    bounds = {type(m).__name__: m for m in field.metadata}
    kind = "an integer" if field.annotation is int else "a number"
    lo = bounds.get("Ge") or bounds.get("Gt")
    hi = bounds.get("Le") or bounds.get("Lt")
    lo_value = getattr(lo, "ge", getattr(lo, "gt", None)) if lo else None
    hi_value = getattr(hi, "le", getattr(hi, "lt", None)) if hi else None
    if lo_value is not None and hi_value is not None:
        return f"{kind} from {lo_value} to {hi_value}"
    if lo_value is not None:
        return f"{kind} >= {lo_value}" if "Ge" in bounds else f"{kind} > {lo_value}"
    return f"{kind} <= {hi_value}" if "Le" in bounds else f"{kind} < {hi_value}"
