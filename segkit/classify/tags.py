"""Customer tags (客户标签) from rules in params, in a small and safe expression language.

A rule is one expression over customer-profile columns, e.g.
`monetary_tier == 'high' and recency_days > 180` or `customer_type in ['enterprise', 'government']`.
Allowed: column names, numbers, strings, True/False, lists of constants, comparisons
(== != < <= > >= in, not in), and/or/not, + - * /. Nothing else: no calls, attributes, indexing
or comprehensions, so a params file cannot run code. Rules are checked when the params load.
"""

from __future__ import annotations

import ast
import difflib
import operator
import warnings
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from segkit.errors import DataError, ParamsError
from segkit.params import cut, shown as _shown

MAX_LENGTH = 500
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge}
ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


@dataclass(frozen=True)
class TagRule:
    name: str
    en: str
    zh: str
    when: str
    tree: ast.Expression


def compile_rule(expression: str, known: Iterable[str], where: str = "tag") -> ast.Expression:
    """Parse and check a rule; raises ParamsError naming the problem (and a close column name).

    A rule must be true or false: a comparison (`orders >= 2`, `region in ['North']`), or such rules
    joined by and/or/not. A bare value (`orders`, `'x'`, `3`) is refused, as is arithmetic on text or
    on true/false, a list anywhere but right of `in`, and nesting deeper than MAX_DEPTH.
    """
    known = set(known)
    if not isinstance(expression, str):
        raise ParamsError(f"{where}: a rule is text, e.g. \"orders >= 2\"; got {_shown(expression)}")
    if len(expression) > MAX_LENGTH:
        raise ParamsError(f"{where}: the rule is longer than {MAX_LENGTH} characters")
    try:
        with warnings.catch_warnings():  # "invalid decimal literal", "invalid escape": the error below says it once
            warnings.simplefilter("ignore")
            tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise ParamsError(f"{where}: {_shown(expression)} is not a valid rule ({err.msg}); "
                          "write e.g. \"orders >= 3 and monetary_tier == 'high'\"") from None
    except (ValueError, RecursionError, MemoryError):  # null bytes; nesting the parser cannot hold
        raise ParamsError(f"{where}: {_shown(expression)} is not a valid rule; "
                          "write e.g. \"orders >= 3 and monetary_tier == 'high'\"") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in known:
                close = difflib.get_close_matches(node.id, sorted(known), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ParamsError(f"{where}: unknown feature {_shown(node.id, 40)} in {_shown(expression)}{hint} "
                                  f"(features: {', '.join(sorted(known))})")
        elif isinstance(node, (ast.List, ast.Tuple)):
            if not all(isinstance(e, ast.Constant) for e in node.elts):
                raise ParamsError(f"{where}: lists in a rule may hold only constants: {_shown(expression)}")
        elif isinstance(node, ast.Compare) and any(
                isinstance(op, (ast.In, ast.NotIn)) and not isinstance(right, (ast.List, ast.Tuple))
                for op, right in zip(node.ops, node.comparators)):
            raise ParamsError(f"{where}: 'in' needs a list of values on its right, e.g. region in ['North', 'East'] "
                              f"({_shown(expression)})")
        elif not isinstance(node, _ALLOWED):
            raise ParamsError(f"{where}: {type(node).__name__.lower()} is not allowed in a rule "
                              f"({_shown(expression)}); rules compare features with values, nothing more")
    _check_shape(tree.body, "rule", expression, where, depth=1)
    return tree


_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare,
            ast.Constant, ast.Load, ast.In, ast.NotIn, ast.BinOp, ast.List, ast.Tuple, ast.Name, *COMPARE, *ARITHMETIC)
MAX_DEPTH = 32
_COMPARE_EXAMPLE = "a rule must compare, e.g. orders >= 2 or region in ['North', 'East']"


def _check_shape(node: ast.AST, role: str, expression: str, where: str, depth: int) -> None:
    """`role` is what the node must give: "rule" (true or false), "value" (a number or text to compare),
    "number" (for arithmetic) or "list" (right of in / not in). Raises ParamsError when it cannot."""
    if depth > MAX_DEPTH:
        raise ParamsError(f"{where}: the rule nests deeper than {MAX_DEPTH} levels; write it more simply")
    shown = _shown(expression)
    if role == "rule":
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                _check_shape(value, "rule", expression, where, depth + 1)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            _check_shape(node.operand, "rule", expression, where, depth + 1)
        elif isinstance(node, ast.Compare):
            _check_compare(node, expression, where, depth)
        else:
            raise ParamsError(f"{where}: {shown} is not true or false: {_COMPARE_EXAMPLE}")
        return
    if role == "list":
        if not isinstance(node, (ast.List, ast.Tuple)):  # compile_rule refuses this first
            raise ParamsError(f"{where}: 'in' needs a list of values on its right ({shown})")
        return
    if isinstance(node, (ast.BoolOp, ast.Compare)) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
        raise ParamsError(f"{where}: {shown} uses a true/false result as a value; compare features with values, "
                          "and join comparisons with and/or")
    if isinstance(node, (ast.List, ast.Tuple)):
        raise ParamsError(f"{where}: a list may only follow 'in' or 'not in', e.g. region in ['North', 'East'] ({shown})")
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, type(None))):
            raise ParamsError(f"{where}: {_shown(node.value, 20)} is not a value a rule can use; use numbers, "
                              f"'text', True or False ({shown})")
        if role == "number" and (isinstance(node.value, (str, bool)) or node.value is None):
            raise ParamsError(f"{where}: arithmetic needs numbers, got {_shown(node.value, 20)} ({shown})")
        return
    if isinstance(node, ast.BinOp):
        _check_shape(node.left, "number", expression, where, depth + 1)
        _check_shape(node.right, "number", expression, where, depth + 1)
    elif isinstance(node, ast.UnaryOp):  # unary minus
        _check_shape(node.operand, "number", expression, where, depth + 1)


def _check_compare(node: ast.Compare, expression: str, where: str, depth: int) -> None:
    has_in = any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)
    if has_in and len(node.ops) > 1:
        raise ParamsError(f"{where}: 'in' cannot be chained with other comparisons ({_shown(expression)}); "
                          "join them with and, e.g. region in ['North'] and orders > 2")
    _check_shape(node.left, "value", expression, where, depth + 1)
    for op, right in zip(node.ops, node.comparators):
        _check_shape(right, "list" if isinstance(op, (ast.In, ast.NotIn)) else "value", expression, where, depth + 1)


def compile_tags(tags, known: Iterable[str]) -> list[TagRule]:
    """TagRules from params tags (objects with name, en, zh, when)."""
    known = list(known)
    return [TagRule(t.name, t.en, t.zh, t.when, compile_rule(t.when, known, where=f"tags[{i}] ({t.name}).when"))
            for i, t in enumerate(tags)]


def evaluate(tree: ast.Expression, frame: pd.DataFrame, where: str = "tag rule") -> pd.Series:
    """True where the rule holds. Logic is three-valued: a comparison with a missing value (or with
    a column this data set lacks) is unknown, `not unknown` stays unknown, and unknown never matches."""
    try:
        result = _eval(tree.body, frame)
    except (TypeError, ValueError, ArithmeticError, MemoryError) as err:
        raise DataError(f"{where}: cannot be evaluated on this data ({type(err).__name__}: {str(err)[:200]}); "
                        "compare numbers with numbers and text with text") from None
    return _truth(result, frame).fillna(False).astype(bool)


def apply_tags(profile: pd.DataFrame, rules: list[TagRule]) -> pd.DataFrame:
    """customer_id, one boolean column per tag (tag_<name>) and `tags`, the tag names joined by ', '."""
    from segkit.classify.profile import id_column

    out = pd.DataFrame({"customer_id": id_column(profile["customer_id"])}, index=profile.index)
    for rule in rules:
        out[f"tag_{rule.name}"] = evaluate(rule.tree, profile, where=f"tag {rule.name} ({cut(rule.when)})").to_numpy()
    out["tags"] = _tag_lists(out[[f"tag_{r.name}" for r in rules]], [r.name for r in rules])
    return out.reset_index(drop=True)


def _tag_lists(flags: pd.DataFrame, names: list[str]):
    """Per row, the names whose flag is set, joined by ', ' in the rules' order: each combination of
    flags is joined once (a bit per rule), not once per customer."""
    import numpy as np

    from segkit.classify.profile import labelled

    if not names or len(names) > 62 or flags.empty:  # no rules or rows, or more than a 64-bit code holds: row by row
        return [", ".join(n for n, hit in zip(names, row) if hit) for row in flags.itertuples(index=False)]
    code = np.zeros(len(flags), dtype=np.int64)
    for bit in range(flags.shape[1]):  # by position: two rules may share a name
        code |= flags.iloc[:, bit].to_numpy(dtype=bool).astype(np.int64) << bit
    if len(names) <= 20:  # up to a million combinations: count them directly instead of sorting the rows
        seen = np.bincount(code, minlength=1 << len(names)) > 0
        combinations = np.flatnonzero(seen)
        at = (np.cumsum(seen) - 1)[code]
    else:
        combinations, at = np.unique(code, return_inverse=True)
    joined = [", ".join(n for bit, n in enumerate(names) if (int(c) >> bit) & 1) for c in combinations]
    return labelled(at, joined)  # Arrow takes from the few joined lists: no Python string per customer


def rule_columns(rule: TagRule) -> list[str]:
    """The profile columns a rule reads, in the order they first appear."""
    names = [node.id for node in ast.walk(rule.tree) if isinstance(node, ast.Name)]
    return list(dict.fromkeys(names))


def unsupported_tags(profile: pd.DataFrame, rules: list[TagRule]) -> dict[str, list[str]]:
    """Tag name -> the columns its rule reads that this data set lacks (not in `profile`, or empty for
    every customer: no categories, no surveys, no customer type). Such a tag can never match, so it
    says nothing about the customers; the report names it once instead of counting 0 customers.

    >>> rules = compile_tags([type("T", (), {"name": "promoter", "en": "P", "zh": "P", "when": "nps >= 9"})], ["nps"])
    >>> unsupported_tags(pd.DataFrame({"customer_id": ["a"]}), rules)
    {'promoter': ['nps']}
    """
    lacking = {}
    for rule in rules:
        missing = [c for c in rule_columns(rule) if c not in profile.columns or profile[c].isna().all()]
        if missing:
            lacking[rule.name] = missing
    return lacking


def unmatched_values(profile: pd.DataFrame, rules: list[TagRule]) -> dict[str, dict[str, list[str]]]:
    """Tag name -> {column: the text values its rule asks of the column} for the tags that cannot
    match because no customer has any of the values the rule needs (`customer_type in ['enterprise',
    'government']` where the customer types are 金卡 and 银卡: the data names its values otherwise).
    A rule needs a value when `column == 'text'` or `column in ['text', ...]` is the whole rule, a part
    of an `and`, or every part of an `or`; the columns of segkit's own codes (monetary_tier,
    frequency_tier, satisfaction) are not asked: their values are segkit's, so a tier that no customer
    is in is a count of 0, not a rule written for other data. Tags whose columns the data lack are `unsupported_tags`'s,
    not here; a tag whose values occur but that no customer meets (no enterprise bought in the last
    30 days) is not here either: its 0 is a finding.

    >>> rules = compile_tags([type("T", (), {"name": "org", "en": "O", "zh": "O",
    ...                                      "when": "customer_type in ['enterprise', 'government']"})], ["customer_type"])
    >>> unmatched_values(pd.DataFrame({"customer_id": ["a", "b"], "customer_type": ["金卡", "银卡"]}), rules)
    {'org': {'customer_type': ['enterprise', 'government']}}
    >>> unmatched_values(pd.DataFrame({"customer_id": ["a"], "customer_type": ["government"]}), rules)
    {}
    """
    lacking = unsupported_tags(profile, rules)
    unmatched = {}
    for rule in rules:
        if rule.name not in lacking:
            needed = _never_met(rule.tree.body, profile, rule)
            if needed:
                unmatched[rule.name] = needed
    return unmatched


def _asked_values(node: ast.AST) -> tuple[str, list[str]] | None:
    """(column, values) of `column == 'text'` or `column in ['text', ...]`; None for anything else."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name)
            and node.left.id not in _VALUE_NAMES and isinstance(node.ops[0], (ast.Eq, ast.In))):
        return None
    right = node.comparators[0]
    values = right.elts if isinstance(right, (ast.List, ast.Tuple)) else [right]
    if not values or not all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in values):
        return None
    return node.left.id, [v.value for v in values]


def _never_met(node: ast.AST, profile: pd.DataFrame, rule: TagRule) -> dict[str, list[str]]:
    """{column: values} of the value tests (`_asked_values`) that make `node` false for every customer
    because none of their values occur; {} when `node` could hold."""
    if isinstance(node, ast.BoolOp):
        parts = [_never_met(value, profile, rule) for value in node.values]
        if isinstance(node.op, ast.And):
            return next((part for part in parts if part), {})
        if not all(parts):  # an `or` holds where any of its parts can
            return {}
        merged: dict[str, list[str]] = {}
        for part in parts:
            for column, values in part.items():
                merged.setdefault(column, []).extend(v for v in values if v not in merged[column])
        return merged
    asked = _asked_values(node)
    if asked and not evaluate(ast.Expression(body=node), profile, where=f"tag {rule.name} ({cut(rule.when)})").any():
        return {asked[0]: asked[1]}
    return {}


def supported_tags(profile: pd.DataFrame, rules: list[TagRule]) -> list[TagRule]:
    """The rules this data set can support: every column they read is there (not `unsupported_tags`)
    and the text values they need occur in it (not `unmatched_values`). The others are named once by
    `segkit.report.tables.unsupported_text` instead of being counted as 0 customers."""
    lacking = unsupported_tags(profile, rules)
    unmatched = unmatched_values(profile, rules)
    return [rule for rule in rules if rule.name not in lacking and rule.name not in unmatched]


def tag_counts(tagged: pd.DataFrame, rules: list[TagRule], lang: str) -> pd.DataFrame:
    """Customers per tag, with the rule in words (`rule_text`), in the report's language. Pass
    `supported_tags(profile, rules)` to leave out the tags this data set cannot support."""
    total = len(tagged)
    return pd.DataFrame([{"tag": getattr(r, lang), "rule": rule_text(r.tree, lang),
                          "customers": int(tagged[f"tag_{r.name}"].sum()),
                          "customer_share": tagged[f"tag_{r.name}"].mean() if total else 0.0} for r in rules])


# the words of a rule in each language: comparisons as signs, in / not in, and / or / not
_SIGNS = {ast.Eq: "=", ast.NotEq: "≠", ast.Lt: "<", ast.LtE: "≤", ast.Gt: ">", ast.GtE: "≥",
          ast.Add: "+", ast.Sub: "−", ast.Mult: "×", ast.Div: "÷"}
_WORDS = {"en": {ast.In: "is one of", ast.NotIn: "is none of", ast.And: "and", ast.Or: "or", "not": "not",
                 True: "true", False: "false", None: "missing"},
          "zh": {ast.In: "属于", ast.NotIn: "不属于", ast.And: "且", ast.Or: "或", "not": "非",
                 True: "是", False: "否", None: "缺失"}}
# columns whose values are segkit's codes: shown by their names in the language (catalogue key prefix)
_VALUE_NAMES = {"monetary_tier": "tier.monetary", "frequency_tier": "tier.frequency", "satisfaction": "satisfaction"}


def rule_text(rule: str | ast.Expression, lang: str) -> str:
    """A tag rule (checked by `compile_rule`: its text or its tree) in words for the report's pages:
    each column by its label in `lang` (`segkit.i18n.column_label`), comparisons as signs (= ≠ ≤ ≥),
    `in` / `not in`, `and` / `or` / `not` as words, and a value of segkit's own codes (a tier, a
    satisfaction level) by its name; other text values in quotes, as written.

    >>> rule_text("monetary_tier == 'high' and recency_days > 180", "en")
    'Monetary tier = “High value” and Days since last purchase > 180'
    >>> rule_text("customer_type in ['enterprise', 'government']", "zh")
    '客户类型属于{“enterprise”, “government”}'
    """
    tree = rule if isinstance(rule, ast.Expression) else ast.parse(rule.strip(), mode="eval")
    return _words(tree.body, lang, None)


def _words(node: ast.AST, lang: str, column: str | None, nested: bool = False) -> str:
    from segkit.i18n import column_label, messages, t

    words = _WORDS["zh" if lang == "zh" else "en"]
    if isinstance(node, ast.Name):  # a customer's own value where its column also names a group's figure (nps)
        own = f"rule.column.{node.id}"
        return t(own, lang) if own in messages() else column_label(node.id, lang)
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, bool):
            return words[value]
        if isinstance(value, str):
            key = f"{_VALUE_NAMES[column]}.{value}" if column in _VALUE_NAMES else None
            shown = t(key, lang) if key and key in messages() else value
            # a value that holds the quotes themselves is shown as Python writes it: never read as two values
            return repr(shown) if "“" in shown or "”" in shown else f"“{shown}”"
        return repr(value) if isinstance(value, float) else str(value)  # every digit the rule compares with
    if isinstance(node, (ast.List, ast.Tuple)):
        return "{" + ", ".join(_words(e, lang, column) for e in node.elts) + "}"
    if isinstance(node, ast.BoolOp):
        text = f" {words[type(node.op)]} ".join(_words(v, lang, None, nested=True) for v in node.values)
        return f"({text})" if nested else text
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):  # Chinese puts no blank beside its words: 非(...)
            return f"{words['not']}{'' if lang == 'zh' else ' '}({_words(node.operand, lang, None)})"
        operand = _words(node.operand, lang, column, nested=True)
        negative = isinstance(node.operand, ast.UnaryOp) or operand.startswith("-")
        return f"-({operand})" if negative else f"-{operand}"
    if isinstance(node, ast.BinOp):
        text = f"{_words(node.left, lang, None, True)} {_SIGNS[type(node.op)]} {_words(node.right, lang, None, True)}"
        return f"({text})" if nested else text
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        # each value named as the column it is compared with, on either side
        names = [o.id if isinstance(o, ast.Name) else None for o in operands]
        text = ""
        for i, operand in enumerate(operands):
            beside = (names[i - 1] if i else None) or (names[i + 1] if i + 1 < len(names) else None)
            if i:
                op = node.ops[i - 1]
                member = isinstance(op, (ast.In, ast.NotIn))
                glue = "" if member and lang == "zh" else " "  # 属于 against its words, as Chinese writes it
                text += f"{glue}{words[type(op)] if member else _SIGNS[type(op)]}{glue}"
            text += _words(operand, lang, beside)
        return text
    return ast.unparse(node)  # nothing else passes compile_rule


def _eval(node: ast.AST, frame: pd.DataFrame):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in frame.columns:
            return frame[node.id]
        return pd.Series(pd.NA, index=frame.index, dtype="object")  # e.g. no categories in this data
    if isinstance(node, (ast.List, ast.Tuple)):
        return [e.value for e in node.elts]
    if isinstance(node, ast.BoolOp):
        values = [_truth(_eval(v, frame), frame) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = (result & value) if isinstance(node.op, ast.And) else (result | value)
        return result
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, frame)
        if isinstance(node.op, ast.Not):
            return ~_truth(value, frame)
        return -_numeric(value)
    if isinstance(node, ast.BinOp):
        return ARITHMETIC[type(node.op)](_numeric(_eval(node.left, frame)), _numeric(_eval(node.right, frame)))
    if isinstance(node, ast.Compare):
        result = None
        left = _eval(node.left, frame)
        for op, comparator in zip(node.ops, node.comparators):
            right = _eval(comparator, frame)
            if any(_absent(side) for side in (left, right)):  # unknown on every row, as the steps below give
                step = pd.Series(pd.NA, index=frame.index, dtype="boolean")
            elif isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, list):
                    raise TypeError("'in' needs a list of values on its right, e.g. region in ['North', 'East']")
                series = left if isinstance(left, pd.Series) else pd.Series(left, index=frame.index)
                hit = series.isin(right).astype("boolean")
                step = hit if isinstance(op, ast.In) else ~hit
                step = step.mask(series.isna())
            else:
                step = _truth(COMPARE[type(op)](left, right), frame)
                for side in (left, right):
                    if isinstance(side, pd.Series):
                        step = step.mask(side.isna())
            result = step if result is None else (result & step)
            left = right
        return result
    raise ParamsError(f"{type(node).__name__} is not allowed in a rule")  # compile_rule stops these first


def _absent(value) -> bool:
    """True for the stand-in of a column this data set lacks (or one holding nothing): text-free object
    values all missing. Comparing it gives unknown everywhere; skipping the comparison spares a
    million Python comparisons with pd.NA."""
    return isinstance(value, pd.Series) and value.dtype == object and bool(value.isna().all())


def _numeric(value):
    """Arithmetic only on numbers: no string repetition or concatenation from a params file."""
    if isinstance(value, pd.Series):
        if not (pd.api.types.is_numeric_dtype(value) or value.isna().all()) or pd.api.types.is_bool_dtype(value):
            raise TypeError(f"arithmetic needs numbers, {value.name or 'a value'} holds {value.dtype}")
        return value.astype("float64")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"arithmetic needs numbers, got {value!r}")
    return value


def _truth(value, frame: pd.DataFrame) -> pd.Series:
    """A nullable boolean Series (NA = unknown)."""
    if isinstance(value, pd.Series):
        if pd.api.types.is_bool_dtype(value) or str(value.dtype) == "boolean":
            return value.astype("boolean")
        if value.isna().all():
            return pd.Series(pd.NA, index=frame.index, dtype="boolean")
        raise TypeError(f"{value.name or 'a value'} is not true or false; compare it, e.g. {value.name} > 0")
    if isinstance(value, bool):
        return pd.Series(value, index=frame.index, dtype="boolean")
    raise TypeError(f"{value!r} is not true or false")
