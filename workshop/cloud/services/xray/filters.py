"""X-Ray's filter expression language: ``parse(expression)`` checks it as X-Ray
does (keywords, each type's operators, quoting) and ``matches(expression,
trace)`` tests a trace (its segment documents) against it. A parse error is a
``FilterError``, which the API answers as InvalidRequestException."""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass
from typing import Any, Callable

from workshop.cloud.services.xray.trace_parts import Call, NodeKey, TraceParts, take_apart


class FilterError(ValueError):
    """An expression X-Ray cannot parse; the message says where and why."""


NUMBER_KEYWORDS = {"responsetime", "duration", "http.status"}
STRING_KEYWORDS = {"http.url", "http.method", "http.useragent", "http.clientip", "user", "name", "type"}
BOOLEAN_KEYWORDS = {"ok", "error", "fault", "throttle", "partial", "root", "inferred"}
NUMBER_OPS = {"=", "!=", "<", "<=", ">", ">="}
STRING_OPS = {"=", "!=", "CONTAINS", "BEGINSWITH", "ENDSWITH"}
BOOLEAN_OPS = {"=", "!="}
WORD_OPS = {"CONTAINS", "BEGINSWITH", "ENDSWITH"}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<annotation>annotation\[(?P<akey>[^\]]*)\])
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op>>=|<=|!=|&&|\|\||[=<>!(){},:])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
""", re.VERBOSE | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str        # string, number, op, word, annotation, end
    text: str
    value: Any
    at: int


def tokens(expression: str) -> list[Token]:
    out, at = [], 0
    while at < len(expression):
        match = _TOKEN.match(expression, at)
        if match is None:
            raise FilterError(f"Invalid filter expression: unexpected character {expression[at]!r} at position {at}")
        kind = match.lastgroup if match.lastgroup != "akey" else "annotation"
        if match.group("annotation") is not None:
            kind = "annotation"
        text = match.group(0)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", text[1:-1])
            out.append(Token(kind, text, value, at))
        elif kind == "number":
            out.append(Token(kind, text, float(text), at))
        elif kind == "annotation":
            key = match.group("akey").strip().strip('"\'')
            if not key:
                raise FilterError(f"Invalid filter expression: empty annotation key at position {at}")
            out.append(Token(kind, text, key, at))
        elif kind in ("op", "word"):
            out.append(Token(kind, text, text, at))
        at = match.end()
    out.append(Token("end", "", None, len(expression)))
    return out


# -- the parsed expression ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class And:
    items: tuple


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple


@dataclass(frozen=True, slots=True)
class Not:
    item: Any


@dataclass(frozen=True, slots=True)
class Compare:
    keyword: str                  # a keyword, or "annotation" with key
    op: str | None                # None: a bare boolean keyword (true)
    value: Any = True
    key: str = ""


@dataclass(frozen=True, slots=True)
class Selector:
    """A service given by name, or by id(name:, type:, account.id:); all None = any service."""

    name: str | None = None
    type: str | None = None
    account: str | None = None

    def picks(self, node: NodeKey) -> bool:
        return ((self.name is None or node[0] == self.name)
                and (self.type is None or node[1] == self.type))


@dataclass(frozen=True, slots=True)
class Service:
    selector: Selector
    inner: Any = None


@dataclass(frozen=True, slots=True)
class Edge:
    source: Selector
    destination: Selector
    inner: Any = None


@dataclass(frozen=True, slots=True)
class Group:
    field: str          # "name" or "arn"
    op: str
    value: str


class _Parser:
    def __init__(self, expression: str):
        self.expression = expression
        self.tokens = tokens(expression)
        self.pos = 0

    # -- helpers --------------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def fail(self, what: str, token: Token | None = None) -> FilterError:
        token = token or self.token
        near = f"'{token.text}'" if token.kind != "end" else "the end of the expression"
        return FilterError(f"Invalid filter expression: {what} at position {token.at}, near {near}")

    def is_op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def is_word(self, *words: str) -> bool:
        return self.token.kind == "word" and self.token.text.upper() in words

    def expect_op(self, op: str) -> None:
        if not self.is_op(op):
            raise self.fail(f"expected '{op}'")
        self.advance()

    # -- grammar --------------------------------------------------------------------
    def parse(self) -> Any:
        if self.token.kind == "end":
            raise self.fail("empty expression")
        node = self.or_expr()
        if self.token.kind != "end":
            raise self.fail("unexpected token")
        return node

    def or_expr(self) -> Any:
        items = [self.and_expr()]
        while self.is_op("||") or self.is_word("OR"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _starts_term(self) -> bool:
        token = self.token
        if token.kind == "annotation":
            return True
        if token.kind == "op":
            return token.text in ("!", "(")
        return token.kind == "word" and token.text.upper() not in {"AND", "OR"} | WORD_OPS

    def and_expr(self) -> Any:
        items = [self.unary()]
        while True:
            if self.is_op("&&") or self.is_word("AND"):
                self.advance()
                items.append(self.unary())
            elif self._starts_term():          # "ok !partial duration < 3": juxtaposition is AND
                items.append(self.unary())
            else:
                break
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Any:
        if self.is_op("!") or self.is_word("NOT"):
            self.advance()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Any:
        token = self.token
        if self.is_op("("):
            self.advance()
            node = self.or_expr()
            self.expect_op(")")
            return node
        if token.kind == "annotation":
            self.advance()
            return self.comparison("annotation", token, key=token.value)
        if token.kind != "word":
            raise self.fail("expected a keyword")
        word = token.text.lower()
        if word == "service" and self.tokens[self.pos + 1].text == "(":
            return self.service()
        if word == "edge" and self.tokens[self.pos + 1].text == "(":
            return self.edge()
        self.advance()
        if word.startswith("annotation."):
            key = token.text[len("annotation."):]
            return self.comparison("annotation", token, key=key)
        if word in ("group.name", "group.arn"):
            op = self.operator(token)
            if op not in ("=", "!="):
                raise self.fail(f"operator {op or 'none'} cannot compare {token.text}", token)
            value = self.advance()
            if value.kind != "string":
                raise self.fail(f"{token.text} takes a quoted string", value)
            return Group(word.split(".")[1], op, value.value)
        if word in NUMBER_KEYWORDS or word in STRING_KEYWORDS or word in BOOLEAN_KEYWORDS:
            return self.comparison(word, token)
        raise self.fail(f"unknown keyword {token.text!r}", token)

    def operator(self, keyword: Token) -> str | None:
        if self.token.kind == "op" and self.token.text in NUMBER_OPS:
            return self.advance().text
        if self.token.kind == "word" and self.token.text.upper() in WORD_OPS:
            return self.advance().text.upper()
        return None

    def comparison(self, keyword: str, token: Token, key: str = "") -> Compare:
        op = self.operator(token)
        if op is None:
            if keyword in BOOLEAN_KEYWORDS or keyword == "annotation":
                return Compare(keyword, None, True, key)
            raise self.fail(f"{token.text} needs an operator and a value", self.token)
        value = self.advance()
        if keyword == "annotation":
            if value.kind in ("string", "number"):
                kind = value.kind
            elif value.kind == "word" and value.text.lower() in ("true", "false"):
                kind = "boolean"
            else:
                raise self.fail("expected a value", value)
        else:
            kind = ("number" if keyword in NUMBER_KEYWORDS else
                    "string" if keyword in STRING_KEYWORDS else "boolean")
        allowed = {"number": NUMBER_OPS, "string": STRING_OPS, "boolean": BOOLEAN_OPS}[kind]
        if op not in allowed:
            raise self.fail(f"operator {op} cannot compare {kind} keyword {token.text}", token)
        if kind == "number":
            if value.kind != "number":
                raise self.fail(f"{token.text} compares with a number", value)
            return Compare(keyword, op, value.value, key)
        if kind == "string":
            if value.kind != "string":
                raise self.fail(f"{token.text} compares with a quoted string", value)
            return Compare(keyword, op, value.value, key)
        if value.kind != "word" or value.text.lower() not in ("true", "false"):
            raise self.fail(f"{token.text} compares with true or false", value)
        return Compare(keyword, op, value.text.lower() == "true", key)

    def selector(self) -> Selector:
        token = self.token
        if token.kind == "string":
            self.advance()
            return Selector(name=token.value)
        if token.kind == "word" and token.text.lower() == "id":
            self.advance()
            self.expect_op("(")
            fields: dict[str, str] = {}
            while not self.is_op(")"):
                name = self.advance()
                if name.kind != "word" or name.text.lower() not in ("name", "type", "account.id"):
                    raise self.fail("id() takes name:, type: and account.id:", name)
                self.expect_op(":")
                value = self.advance()
                if value.kind != "string":
                    raise self.fail(f"id() {name.text}: takes a quoted string", value)
                fields[name.text.lower()] = value.value
                if self.is_op(","):
                    self.advance()
                elif not self.is_op(")"):
                    raise self.fail("expected ',' or ')'")
            self.advance()
            if not fields:
                raise self.fail("id() needs a name or a type", token)
            return Selector(fields.get("name"), fields.get("type"), fields.get("account.id"))
        raise self.fail("expected a quoted service name or id(...)")

    def braces(self) -> Any:
        if not self.is_op("{"):
            return None
        self.advance()
        if self.is_op("}"):
            raise self.fail("empty filter in braces")
        inner = self.or_expr()
        self.expect_op("}")
        return inner

    def service(self) -> Service:
        self.advance()
        self.expect_op("(")
        selector = Selector()
        if not self.is_op(")"):
            selector = self.selector()
        self.expect_op(")")
        return Service(selector, self.braces())

    def edge(self) -> Edge:
        self.advance()
        self.expect_op("(")
        source = self.selector()
        self.expect_op(",")
        destination = self.selector()
        self.expect_op(")")
        return Edge(source, destination, self.braces())


def parse(expression: str) -> Any:
    """The parsed expression; FilterError when X-Ray would refuse it."""
    if not isinstance(expression, str):
        raise FilterError("Invalid filter expression: not a string")
    return _Parser(expression).parse()


# -- evaluation ---------------------------------------------------------------------------

class _Scope:
    """What keywords read: the whole trace (its entry segment and everything in it), or
    one call at a service or on an edge (inside service() { } and edge() { })."""

    def __init__(self, call: Call | None, name: str | None, type_: str | None, docs: list[dict],
                 duration: float, partial: bool, root: bool = False, inferred: bool = False):
        self.call, self.name, self.type, self.docs = call, name, type_, docs
        self.duration, self.partial, self.root, self.inferred = duration, partial, root, inferred

    def http(self, *path: str) -> Any:
        value: Any = self.call.doc.get("http") if self.call else None
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        return value

    def values(self, keyword: str, key: str = "") -> list:
        call = self.call
        if keyword == "responsetime":
            return [call.response_time] if call else []
        if keyword == "duration":
            return [self.duration]
        if keyword == "http.status":
            return [call.status] if call and call.status is not None else []
        if keyword == "http.url":
            return _present(self.http("request", "url"))
        if keyword == "http.method":
            return _present(self.http("request", "method"))
        if keyword == "http.useragent":
            return _present(self.http("request", "user_agent"))
        if keyword == "http.clientip":
            return _present(self.http("request", "client_ip"))
        if keyword == "user":
            return [doc["user"] for doc in _all_docs(self.docs) if isinstance(doc.get("user"), str)]
        if keyword == "name":
            return _present(self.name)
        if keyword == "type":
            return _present(self.type)
        if keyword == "annotation":
            return [doc["annotations"][key] for doc in _all_docs(self.docs)
                    if isinstance(doc.get("annotations"), dict) and key in doc["annotations"]]
        flags = {"ok": call is not None and call.ok, "error": call is not None and call.error,
                 "fault": call is not None and call.fault, "throttle": call is not None and call.throttle,
                 "partial": self.partial, "root": self.root, "inferred": self.inferred}
        return [flags[keyword]]


def _present(value: Any) -> list:
    return [] if value is None else [str(value)]


def _all_docs(docs: list[dict]):
    for doc in docs:
        yield doc
        yield from _all_docs([s for s in doc.get("subsegments") or () if isinstance(s, dict)])


def _compare(op: str | None, actual: Any, wanted: Any) -> bool:
    if op is None:
        return actual is True
    if isinstance(wanted, bool) or isinstance(actual, bool):
        if not isinstance(actual, bool) or not isinstance(wanted, bool):
            return False
        return (actual == wanted) if op == "=" else (actual != wanted)
    if isinstance(wanted, float):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        return {"=": actual == wanted, "!=": actual != wanted, "<": actual < wanted, "<=": actual <= wanted,
                ">": actual > wanted, ">=": actual >= wanted}[op]
    if not isinstance(actual, str):
        return False
    return {"=": actual == wanted, "!=": actual != wanted, "CONTAINS": wanted in actual,
            "BEGINSWITH": actual.startswith(wanted), "ENDSWITH": actual.endswith(wanted)}[op]


GroupLookup = Callable[[str, str], "str | None"]   # ("name"|"arn", value) -> the group's filter expression

# The groups of the account a request is about, for group.name/group.arn where the caller
# passes none (get_trace_summaries: queries.py sets it around the request).
current_groups: contextvars.ContextVar[GroupLookup | None] = contextvars.ContextVar("xray_groups", default=None)


def _evaluate(node: Any, parts: TraceParts, scope: _Scope, groups: GroupLookup | None, depth: int = 0) -> bool:
    if isinstance(node, And):
        return all(_evaluate(item, parts, scope, groups, depth) for item in node.items)
    if isinstance(node, Or):
        return any(_evaluate(item, parts, scope, groups, depth) for item in node.items)
    if isinstance(node, Not):
        return not _evaluate(node.item, parts, scope, groups, depth)
    if isinstance(node, Compare):
        values = scope.values(node.keyword, node.key)
        if node.op == "!=" and node.keyword not in BOOLEAN_KEYWORDS:
            return bool(values) and all(_compare("!=", v, node.value) for v in values)
        return any(_compare(node.op, v, node.value) for v in values)
    if isinstance(node, Service):
        for key, call in parts.nodes:
            if node.selector.picks(key):
                inner = _Scope(call, key[0], key[1], [call.doc], call.response_time, call.partial,
                               root=call is parts.root, inferred="namespace" in call.doc)
                if node.inner is None or _evaluate(node.inner, parts, inner, groups, depth):
                    return True
        return False
    if isinstance(node, Edge):
        for source, destination, call in parts.edges:
            if node.source.picks(source) and node.destination.picks(destination):
                inner = _Scope(call, destination[0], destination[1], [call.doc], call.response_time,
                               call.partial, inferred="namespace" in call.doc)
                if node.inner is None or _evaluate(node.inner, parts, inner, groups, depth):
                    return True
        return False
    if isinstance(node, Group):
        expression = groups(node.field, node.value) if groups else None
        if expression is None:                # no such group: no trace is in it
            inside = False
        elif not expression.strip():          # a group without a filter holds every trace
            inside = True
        else:                                 # a group's filter may name another: never forever
            inside = depth < 5 and _evaluate(parse(expression), parts, scope, groups, depth + 1)
        return inside if node.op == "=" else not inside
    raise TypeError(f"not a filter node: {node!r}")


def trace_scope(parts: TraceParts) -> _Scope:
    key = parts.root_key or (None, None)
    return _Scope(parts.root, key[0], key[1], parts.segments, parts.duration, parts.partial, root=True)


def matches(expression: Any, trace: Any, groups: GroupLookup | None = None) -> bool:
    """Whether a trace (its segment documents, or a TraceParts) satisfies the expression
    (a string, or what ``parse`` returned). ``groups`` finds a group's filter for
    ``group.name``/``group.arn``."""
    node = parse(expression) if isinstance(expression, str) else expression
    parts = trace if isinstance(trace, TraceParts) else take_apart(trace)
    return _evaluate(node, parts, trace_scope(parts), groups or current_groups.get())
