"""CloudWatch Logs filter patterns, as the user guide defines them for metric filters (and
FilterLogEvents): unstructured terms (``ERROR``, ``"exact phrase"``, ``-term``, ``?a ?b``,
``%regex%``), JSON selectors (``{ $.latency > 500 && $.level = "ERROR" }``, ``IS NULL``,
``NOT EXISTS``, wildcards, ``$.a[0]``) and space-delimited fields (``[ip, ..., status = 5*]``).
``compile_pattern`` parses once (cached); a pattern's ``match`` returns the values it
extracted (a dict, empty for terms) or None."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

INVALID = "Invalid metric filter pattern"
_MISSING = object()


class PatternError(ValueError):
    """A filter pattern that does not parse (AWS's InvalidParameterException)."""

    def __init__(self, detail: str = ""):
        super().__init__(INVALID)
        self.detail = detail


@lru_cache(maxsize=512)
def compile_pattern(text: str | None) -> Pattern:
    text = (text or "").strip()
    if text.startswith("{"):
        return JsonPattern(text)
    if text.startswith("["):
        return DelimitedPattern(text)
    if len(text) >= 2 and text.startswith("%") and text.endswith("%") and text.count("%") == 2:
        return RegexPattern(text[1:-1])
    return TermsPattern(text)


class Pattern:
    kind = ""
    fields: tuple[str, ...] = ()       # the names a metric value or dimension may refer to

    def match(self, message: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def matches(self, message: str) -> bool:
        return self.match(message) is not None


def _regex(body: str) -> re.Pattern:
    try:
        return re.compile(body)
    except re.error as exc:
        raise PatternError(str(exc)) from None


# -- unstructured terms ----------------------------------------------------------------

_BARE = re.compile(r"[^\s\"{}\[\]()|&=<>!,]+")


class TermsPattern(Pattern):
    kind = "terms"

    def __init__(self, text: str):
        self.required: list[Any] = []      # str (substring) or compiled regex
        self.excluded: list[Any] = []
        self.optional: list[Any] = []
        pos = 0
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
                continue
            sign = ""
            if text[pos] in "-?":
                sign, pos = text[pos], pos + 1
            if pos < len(text) and text[pos] == '"':
                end, term = _quoted(text, pos)
                pos = end
            elif pos < len(text) and text[pos] == "%":
                end = text.find("%", pos + 1)
                if end < 0:
                    raise PatternError("unterminated regular expression")
                term, pos = _regex(text[pos + 1:end]), end + 1
            else:
                found = _BARE.match(text, pos)
                if not found:
                    raise PatternError(f"unexpected {text[pos]!r}")
                term, pos = found.group(), found.end()
            if pos < len(text) and not text[pos].isspace():
                raise PatternError("terms must be separated by spaces")
            {"-": self.excluded, "?": self.optional, "": self.required}[sign].append(term)
        # AWS: ?terms count only when every term is one; beside plain terms they are ignored.
        if self.required or self.excluded:
            self.optional = []

    @staticmethod
    def _has(term: Any, message: str) -> bool:
        return term in message if isinstance(term, str) else term.search(message) is not None

    def match(self, message: str) -> dict[str, Any] | None:
        if self.optional and not any(self._has(t, message) for t in self.optional):
            return None
        if all(self._has(t, message) for t in self.required) and \
                not any(self._has(t, message) for t in self.excluded):
            return {}
        return None


class RegexPattern(Pattern):
    kind = "regex"

    def __init__(self, body: str):
        self.regex = _regex(body)

    def match(self, message: str) -> dict[str, Any] | None:
        return {} if self.regex.search(message) else None


def _quoted(text: str, pos: int) -> tuple[int, str]:
    """(end, content) of the double-quoted string starting at text[pos]."""
    out, i = [], pos + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return i + 1, "".join(out)
        out.append(ch)
        i += 1
    raise PatternError("unterminated quoted string")


# -- values compared with fields -------------------------------------------------------

class Value:
    """The right-hand side of a comparison: a number, a string (maybe with * wildcards), or
    a %regex%."""

    def __init__(self, raw: str, quoted: bool):
        self.raw, self.number, self.regex = raw, None, None
        if not quoted and len(raw) >= 2 and raw[0] == raw[-1] == "%":
            self.regex = _regex(raw[1:-1])
            return
        if not quoted:
            self.number = _number(raw)
        if "*" in raw:
            self.regex = re.compile("".join(".*" if c == "*" else re.escape(c) for c in raw) + r"\Z", re.S)
        self.any = raw == "*" and not quoted

    def equals(self, actual: Any) -> bool:
        if actual is None or isinstance(actual, (dict, list)):
            return False
        if self.number is not None and not isinstance(actual, bool):
            got = _number(actual) if isinstance(actual, str) else actual
            if isinstance(got, (int, float)):
                return math.isclose(float(got), self.number, rel_tol=0, abs_tol=1e-9)
        text = _text(actual)
        if self.regex is not None:
            return self.regex.match(text) is not None
        return text == self.raw


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and "e" not in raw.lower() else None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare(op: str, actual: Any, value: Value) -> bool:
    if op == "=":
        return value.equals(actual)
    if op == "!=":
        return actual is not None and not isinstance(actual, (dict, list)) and not value.equals(actual)
    got = _number(actual) if isinstance(actual, str) else (None if isinstance(actual, bool) else actual)
    if not isinstance(got, (int, float)) or value.number is None:
        return False
    return {"<": got < value.number, ">": got > value.number,
            "<=": got <= value.number, ">=": got >= value.number}[op]


# -- a small tokenizer shared by JSON and space-delimited patterns -------------------------

_TOKEN = re.compile(r"""\s*(?:(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|,|\.\.\.)|(?P<str>")|(?P<word>[^\s"=<>!,()&|]+))""")


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: op, str (unquoted content), word; ends with ("end", "")."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        found = _TOKEN.match(text, pos)
        if not found:
            raise PatternError(f"unexpected {text[pos:pos + 10]!r}")
        if found.group("str"):
            pos, content = _quoted(text, found.start("str"))
            out.append(("str", content))
            continue
        if found.group("op"):
            out.append(("op", found.group("op")))
        else:
            out.append(("word", found.group("word")))
        pos = found.end()
    out.append(("end", ""))
    return out


class _Reader:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens, self.pos = tokens, 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        kind, got = self.take()
        if got != text or kind not in ("op", "word"):
            raise PatternError(f"expected {text!r}, found {got!r}")

    def value(self) -> Value:
        kind, text = self.take()
        if kind == "str":
            return Value(text, True)
        if kind == "word":
            return Value(text, False)
        raise PatternError(f"expected a value, found {text!r}")


_COMPARISONS = ("=", "!=", "<", ">", "<=", ">=")


# -- JSON --------------------------------------------------------------------------------

_SELECTOR = re.compile(r"\$((?:\.[^.\[\]\s]+|\[(?:\d+|\*)\])*)\Z")
_STEP = re.compile(r"\.([^.\[\]\s]+)|\[(\d+|\*)\]")


def selector_steps(selector: str) -> list[str | int]:
    """``$.a.b[0]`` as ["a", "b", 0] ("*" for [*]); PatternError when it is not a selector."""
    found = _SELECTOR.match(selector)
    if not found or selector == "$":
        raise PatternError(f"invalid selector {selector!r}")
    steps: list[str | int] = []
    for name, index in _STEP.findall(found.group(1)):
        steps.append(name if name else ("*" if index == "*" else int(index)))
    return steps


def resolve(document: Any, steps: list[str | int]) -> list[Any]:
    """The values a selector reaches in a parsed JSON document (several through [*])."""
    current = [document]
    for step in steps:
        following = []
        for item in current:
            if step == "*" and isinstance(item, list):
                following.extend(item)
            elif isinstance(step, int) and isinstance(item, list) and step < len(item):
                following.append(item[step])
            elif isinstance(step, str) and step != "*" and isinstance(item, dict) and step in item:
                following.append(item[step])
        current = following
    return current


class JsonPattern(Pattern):
    kind = "json"

    def __init__(self, text: str):
        if not text.endswith("}"):
            raise PatternError("a JSON pattern ends with }")
        reader = _Reader(_tokens(text[1:-1]))
        self.selectors: dict[str, list[str | int]] = {}
        self.tree = self._or(reader)
        if reader.peek()[0] != "end":
            raise PatternError(f"unexpected {reader.peek()[1]!r}")
        self.fields = tuple(self.selectors)

    # grammar: or := and ('||' and)* ; and := unary ('&&' unary)* ; unary := '(' or ')' | test
    def _or(self, reader: _Reader) -> Any:
        parts = [self._and(reader)]
        while reader.peek() == ("op", "||"):
            reader.take()
            parts.append(self._and(reader))
        return ("or", parts) if len(parts) > 1 else parts[0]

    def _and(self, reader: _Reader) -> Any:
        parts = [self._unary(reader)]
        while reader.peek() == ("op", "&&"):
            reader.take()
            parts.append(self._unary(reader))
        return ("and", parts) if len(parts) > 1 else parts[0]

    def _unary(self, reader: _Reader) -> Any:
        if reader.peek() == ("op", "("):
            reader.take()
            inner = self._or(reader)
            reader.expect(")")
            return inner
        kind, selector = reader.take()
        if kind != "word" or not selector.startswith("$"):
            raise PatternError(f"expected a selector, found {selector!r}")
        self.selectors[selector] = steps = selector_steps(selector)
        kind, word = reader.peek()
        if kind == "word" and word.upper() == "IS":
            reader.take()
            what = reader.take()[1].upper()
            if what not in ("TRUE", "FALSE", "NULL"):
                raise PatternError(f"IS {what}")
            return ("is", steps, what)
        if kind == "word" and word.upper() == "NOT":
            reader.take()
            if reader.take()[1].upper() != "EXISTS":
                raise PatternError("NOT EXISTS")
            return ("missing", steps)
        kind, op = reader.take()
        if kind != "op" or op not in _COMPARISONS:
            raise PatternError(f"expected a comparison after {selector}")
        value = reader.value()
        if op not in ("=", "!=") and value.number is None:
            raise PatternError(f"{op} compares numbers")
        return ("cmp", steps, op, value)

    def _test(self, node: Any, document: Any) -> bool:
        kind = node[0]
        if kind == "or":
            return any(self._test(part, document) for part in node[1])
        if kind == "and":
            return all(self._test(part, document) for part in node[1])
        found = resolve(document, node[1])
        if kind == "missing":
            return not found
        if kind == "is":
            wanted = {"TRUE": True, "FALSE": False, "NULL": None}[node[2]]
            return any(v is wanted for v in found)
        _, _, op, value = node
        if getattr(value, "any", False) and op == "=":
            return bool(found)
        return any(_compare(op, v, value) for v in found)

    def match(self, message: str) -> dict[str, Any] | None:
        return self.match_document(parse_json(message))

    def match_document(self, document: dict | None) -> dict[str, Any] | None:
        """``match`` on a message parsed already (several JSON filters share one parse)."""
        if document is None or not self._test(self.tree, document):
            return None
        extracted = {}
        for selector, steps in self.selectors.items():
            found = resolve(document, steps)
            if found and not isinstance(found[0], (dict, list)):
                extracted[selector] = found[0]
        return {"document": document, **extracted}


def parse_json(message: str) -> dict | None:
    """The JSON object a message holds, else None (cheap refusal of what cannot be one)."""
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


# -- space-delimited -----------------------------------------------------------------------

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


class DelimitedPattern(Pattern):
    kind = "delimited"

    def __init__(self, text: str):
        if not text.endswith("]"):
            raise PatternError("a space-delimited pattern ends with ]")
        reader = _Reader(_tokens(text[1:-1]))
        self.slots: list[tuple[str, Any]] = []      # (name, condition) or ("...", None)
        while True:
            self.slots.append(self._slot(reader))
            kind, token = reader.take()
            if kind == "end":
                break
            if token != ",":
                raise PatternError(f"expected ',' found {token!r}")
        names = [name for name, _ in self.slots if name != "..."]
        if len(set(names)) != len(names):
            raise PatternError("a field name appears twice")
        self.fields = tuple("$" + name for name in names)

    def _slot(self, reader: _Reader) -> tuple[str, Any]:
        if reader.peek() == ("op", "..."):
            reader.take()
            return "...", None
        name = self._name(reader)
        if reader.peek()[0] == "op" and reader.peek()[1] in _COMPARISONS:
            return name, self._conditions(reader, name)
        return name, None

    @staticmethod
    def _name(reader: _Reader) -> str:
        kind, name = reader.take()
        if kind != "word" or not _FIELD_NAME.match(name):
            raise PatternError(f"invalid field name {name!r}")
        return name

    def _conditions(self, reader: _Reader, name: str) -> Any:
        def one() -> Any:
            kind, op = reader.take()
            if op not in _COMPARISONS:
                raise PatternError(f"expected a comparison for {name}")
            value = reader.value()
            if op not in ("=", "!=") and value.number is None:
                raise PatternError(f"{op} compares numbers")
            return ("cmp", op, value)

        parts: list[Any] = [one()]
        joins: list[str] = []
        while reader.peek() in (("op", "&&"), ("op", "||")):
            joins.append(reader.take()[1])
            if reader.peek()[0] == "word" and reader.tokens[reader.pos + 1][1] in _COMPARISONS:
                if self._name(reader) != name:
                    raise PatternError("a condition names another field")
            parts.append(one())
        # && binds tighter than ||: split into OR groups of AND terms
        groups, current = [], [parts[0]]
        for join, part in zip(joins, parts[1:]):
            if join == "||":
                groups.append(current)
                current = [part]
            else:
                current.append(part)
        groups.append(current)
        return groups

    @staticmethod
    def _holds(groups: Any, value: str) -> bool:
        return any(all(_compare(op, value, v) for _, op, v in group) for group in groups)

    def match(self, message: str) -> dict[str, Any] | None:
        words = split_fields(message)
        found = self._align(0, 0, words, {})
        return found

    def _align(self, slot: int, word: int, words: list[str], got: dict[str, Any]) -> dict[str, Any] | None:
        while slot < len(self.slots):
            name, condition = self.slots[slot]
            if name == "...":
                if slot == len(self.slots) - 1:
                    return got
                for start in range(word, len(words) + 1):   # the fewest words first
                    result = self._align(slot + 1, start, words, dict(got))
                    if result is not None:
                        return result
                return None
            if word >= len(words):
                return None
            value = words[word]
            if condition is not None and not self._holds(condition, value):
                return None
            got["$" + name] = value
            slot, word = slot + 1, word + 1
        return got if word == len(words) else None


def split_fields(message: str) -> list[str]:
    """A space-delimited line's fields: "quoted" and [bracketed] runs are one field each
    (without their quotes or brackets)."""
    fields, i, n = [], 0, len(message)
    while i < n:
        ch = message[i]
        if ch.isspace():
            i += 1
            continue
        closer = {'"': '"', "[": "]"}.get(ch)
        if closer:
            end = message.find(closer, i + 1)
            if end >= 0:
                fields.append(message[i + 1:end])
                i = end + 1
                continue
        end = i
        while end < n and not message[end].isspace():
            end += 1
        fields.append(message[i:end])
        i = end
    return fields


def field_value(pattern: Pattern, extracted: dict[str, Any], reference: str) -> Any:
    """The value a metric value or dimension (``$.a.b``, ``$name``) names in a match."""
    if reference.startswith("$.") or reference.startswith("$["):
        if reference in extracted:
            return extracted[reference]
        document = extracted.get("document")
        if document is None:
            return _MISSING
        found = resolve(document, selector_steps(reference))
        return found[0] if found else _MISSING
    return extracted.get(reference, _MISSING)


MISSING = _MISSING
