"""The style rules a document cannot use, removed before WeasyPrint lays it out.

The section pages carry nbconvert's JupyterLab stylesheet (about 260 KB: the whole application's
rules and some 1,500 custom properties, icons among them as data URIs). WeasyPrint matches every
rule against every element and carries every custom property into every element's computed style,
so the PDF of a 300-customer report spent about a quarter of its time on rules for widgets it does
not have. Two removals, each unable to change what is drawn:

- a rule none of whose selectors can match: each selector of its list names, outside any
  functional pseudo-class such as :not(), a class that no element of the document has;
- a custom property (--name) that no kept declaration reads through var(), directly or through
  other custom properties.

The CSS is parsed with tinycss2 (WeasyPrint's own parser); what cannot be judged is kept.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_CLASS_ATTRIBUTE = re.compile(r"""(?<![\w-])class\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_VAR = re.compile(r"var\(\s*(--[\w-]+)", re.I)


def classes_in(html: str) -> set[str]:
    """Every class name given in a class attribute of `html` (entities decoded: `a&amp;b` is `a&b`)."""
    from html import unescape

    found: set[str] = set()
    for double, single in _CLASS_ATTRIBUTE.findall(html):
        found.update(unescape(double or single).split())
    return found


def without_unused_rules(sheets: list[str], html: str) -> list[str]:
    """Each style sheet of `sheets` (kept apart: an unclosed comment or an @import in one does not
    reach the next) without the rules that cannot match an element of `html`, and without the custom
    properties that neither a kept declaration nor `html` itself (style attributes, <style> elements
    in the body) reads. Rules inside @media and @supports are judged the same way; other at-rules
    (@font-face, @page, @keyframes, ...) are kept whole. Each sheet is parsed once per process
    (`_parsed`): a report's PDF judges the same template sheet against each of its nine parts."""
    classes = classes_in(html)
    kept = [[item for item in _parsed(sheet) if _can_match(item, classes)] for sheet in sheets]
    texts = [[_group_text(item, classes) if isinstance(item, _Group) else None for item in sheet] for sheet in kept]
    read = _read_custom_properties(kept, texts, html)
    return ["\n".join(filter(None, (text if text is not None else _kept(item, read) for item, text in zip(sheet, made))))
            for sheet, made in zip(kept, texts)]


@dataclass(frozen=True)
class _Rule:
    """A qualified rule: the classes each selector of its list needs, its prelude and its
    declarations (name, value as text, !important) as text; `text` the whole rule."""
    needs: tuple[frozenset, ...]
    prelude: str
    declarations: tuple[tuple[str, str, bool], ...]
    text: str


@dataclass(frozen=True)
class _Group:
    """An @media or @supports rule with a block: its rules are judged one by one."""
    keyword: str
    prelude: str
    rules: tuple


@dataclass(frozen=True)
class _AtRule:
    """Any other at-rule, kept whole."""
    text: str


@lru_cache(maxsize=32)
def _parsed(css: str) -> tuple:
    """The rules of `css` (tinycss2, WeasyPrint's own parser; parse errors left out), each a _Rule,
    _Group or _AtRule. Each kept rule is written out and read again before its parts are taken, so
    that they are the text a kept rule is made of."""
    import tinycss2

    items = []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "qualified-rule":
            again = _reparsed(rule.serialize())
            if again is None or again.type != "qualified-rule":
                items.append(_AtRule(rule.serialize()))
                continue
            declarations = tuple((item.name, tinycss2.serialize(item.value), bool(item.important))
                                 for item in tinycss2.parse_blocks_contents(again.content, skip_comments=True,
                                                                            skip_whitespace=True)
                                 if item.type == "declaration")
            items.append(_Rule(_needed_classes(rule.prelude), tinycss2.serialize(again.prelude), declarations,
                               rule.serialize()))
        elif rule.type == "at-rule" and rule.lower_at_keyword in ("media", "supports") and rule.content is not None:
            items.append(_Group(rule.at_keyword, tinycss2.serialize(rule.prelude),
                                _parsed(tinycss2.serialize(rule.content))))
        elif rule.type != "error":
            items.append(_AtRule(_written_again(rule.serialize())))
    return tuple(items)


def _reparsed(text: str):
    import tinycss2

    rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    return rules[0] if len(rules) == 1 else None


def _written_again(text: str) -> str:
    """`text` (one rule) as the parser writes it out once read again."""
    again = _reparsed(text)
    return again.serialize() if again is not None else text


def _can_match(item, classes: set[str]) -> bool:
    """Whether a rule can match an element with `classes`: a qualified rule one of whose selectors
    needs only those; an @media or @supports rule one of whose rules can; any other at-rule."""
    if isinstance(item, _Rule):
        return any(needed <= classes for needed in item.needs)
    if isinstance(item, _Group):
        return any(_can_match(rule, classes) for rule in item.rules)
    return True


def _group_text(group: _Group, classes: set[str]) -> str:
    """An @media or @supports rule holding only its rules that can match (written whole, custom
    properties included), as the parser writes it out."""
    inner = "\n".join(_group_text(rule, classes) if isinstance(rule, _Group) else rule.text
                      for rule in group.rules if _can_match(rule, classes))
    return _written_again(f"@{group.keyword}{group.prelude}{{{inner}}}")


def _needed_classes(prelude: list) -> tuple[frozenset, ...]:
    """The classes each selector of the list needs. Only a top-level `.name` counts as needed: names
    inside :not(), :is(), :where() and :has() are function blocks, skipped."""
    selectors: list[set[str]] = [set()]
    after_dot = False
    for token in prelude:
        if token.type == "literal" and token.value == ",":
            selectors.append(set())
        elif after_dot and token.type == "ident":
            selectors[-1].add(token.value)
        after_dot = token.type == "literal" and token.value == "."
    return tuple(frozenset(needed) for needed in selectors)


def _read_custom_properties(sheets: list[list], texts: list[list], html: str) -> set[str]:
    """The custom properties read through var(): by `html`, the at-rules kept (whole), ordinary
    properties, and the custom properties those read, followed through."""
    read = set(_VAR.findall(html))
    custom: dict[str, set[str]] = {}
    for sheet, made in zip(sheets, texts):
        for item, text in zip(sheet, made):
            if not isinstance(item, _Rule):
                read.update(_VAR.findall(text if text is not None else item.text))
                continue
            for name, value, _ in item.declarations:
                if name.startswith("--"):
                    custom.setdefault(name, set()).update(_VAR.findall(value))
                else:
                    read.update(_VAR.findall(value))
    pending = list(read)
    while pending:
        for name in custom.get(pending.pop(), ()):
            if name not in read:
                read.add(name)
                pending.append(name)
    return read


def _kept(item, read: set[str]) -> str:
    """A rule as text with the custom properties nobody reads left out; "" when nothing is left."""
    if not isinstance(item, _Rule):
        return item.text
    body = ";".join(f"{name}:{value}{' !important' if important else ''}" for name, value, important in item.declarations
                    if not name.startswith("--") or name in read)
    return f"{item.prelude}{{{body}}}" if body else ""
