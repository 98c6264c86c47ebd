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
    (@font-face, @page, @keyframes, ...) are kept whole."""
    classes = classes_in(html)
    matchable = [_matchable_rules(sheet, classes) for sheet in sheets]
    parsed = [_declarations(sheet) for sheet in matchable]
    read = _read_custom_properties([rule for sheet in parsed for rule in sheet], html)
    return ["\n".join(filter(None, (_kept(rule, declarations, read) for rule, declarations in sheet)))
            for sheet in parsed]


def _matchable_rules(css: str, classes: set[str]) -> str:
    import tinycss2

    kept = []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "qualified-rule":
            if _can_match(rule.prelude, classes):
                kept.append(rule.serialize())
        elif rule.type == "at-rule" and rule.lower_at_keyword in ("media", "supports") and rule.content is not None:
            inner = _matchable_rules(tinycss2.serialize(rule.content), classes)
            if inner.strip():
                kept.append(f"@{rule.at_keyword}{tinycss2.serialize(rule.prelude)}{{{inner}}}")
        elif rule.type != "error":
            kept.append(rule.serialize())
    return "\n".join(kept)


def _can_match(prelude: list, classes: set[str]) -> bool:
    """Whether one selector of the list needs only classes in `classes`. Only a top-level `.name`
    counts as needed: names inside :not(), :is(), :where() and :has() are function blocks, skipped."""
    selectors: list[set[str]] = [set()]
    after_dot = False
    for token in prelude:
        if token.type == "literal" and token.value == ",":
            selectors.append(set())
        elif after_dot and token.type == "ident":
            selectors[-1].add(token.value)
        after_dot = token.type == "literal" and token.value == "."
    return any(needed <= classes for needed in selectors)


def _declarations(css: str) -> list[tuple]:
    """(rule, [(declaration, its value as text)]) for each rule of `css`; None for an at-rule."""
    import tinycss2

    rules = []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type != "qualified-rule":
            rules.append((rule, None))
            continue
        rules.append((rule, [(item, tinycss2.serialize(item.value))
                             for item in tinycss2.parse_blocks_contents(rule.content, skip_comments=True,
                                                                        skip_whitespace=True)
                             if item.type == "declaration"]))
    return rules


def _read_custom_properties(rules: list[tuple], html: str) -> set[str]:
    """The custom properties read through var(): by `html`, at-rules, ordinary properties, and the
    custom properties those read, followed through."""
    read = set(_VAR.findall(html))
    read.update(_VAR.findall(" ".join(rule.serialize() for rule, declarations in rules if declarations is None)))
    custom: dict[str, set[str]] = {}
    for _, declarations in rules:
        for declaration, value in declarations or ():
            if declaration.name.startswith("--"):
                custom.setdefault(declaration.name, set()).update(_VAR.findall(value))
            else:
                read.update(_VAR.findall(value))
    pending = list(read)
    while pending:
        for name in custom.get(pending.pop(), ()):
            if name not in read:
                read.add(name)
                pending.append(name)
    return read


def _kept(rule, declarations, read: set[str]) -> str:
    """The rule as text with the custom properties nobody reads left out; "" when nothing is left."""
    import tinycss2

    if declarations is None:
        return rule.serialize()
    body = ";".join(f"{declaration.name}:{value}{' !important' if declaration.important else ''}"
                    for declaration, value in declarations
                    if not declaration.name.startswith("--") or declaration.name in read)
    return f"{tinycss2.serialize(rule.prelude)}{{{body}}}" if body else ""
