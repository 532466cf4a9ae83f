"""The CloudWatch Logs Insights query language, its core: ``fields``, ``filter`` (comparisons,
``like``, ``=~``, ``in``, ``and``/``or``/``not``), ``parse`` (glob and regex), ``stats``
(count, count_distinct, sum, avg, min, max, pct, earliest, latest ``by`` fields and
``bin()``), ``sort``, ``limit``, ``display``. ``parse_query`` compiles a query string (or
raises ``QueryError`` with AWS's location); ``execute`` runs it over events streamed from
the on-disk store, holding only what the stats and a sort's limit need."""

from __future__ import annotations

import base64
import heapq
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000
AGGREGATES = {"count", "count_distinct", "sum", "avg", "min", "max", "pct", "earliest", "latest", "stddev"}
COMMANDS = {"fields", "filter", "parse", "stats", "sort", "limit", "display"}
_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "w": 604800}


class QueryError(ValueError):
    """A query that does not compile: AWS's MalformedQueryException, with where."""

    def __init__(self, message: str, start: int, end: int):
        super().__init__(message)
        self.message, self.start, self.end = message, start, end


# -- tokens ------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<duration>\d+(?:\.\d+)?(?:ms|sec|min|hr|s|m|h|d|w)\b)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<backtick>`[^`]*`)
  | (?P<op><=|>=|!=|=~|\|\||&&|[|,()\[\]=<>+\-*/%])
  | (?P<ident>@?[A-Za-z_][A-Za-z0-9_.@$\-]*(?<![.\-]))
""", re.X)
_REGEX_AFTER = {"like", "=~", "parse_source"}


class Token:
    __slots__ = ("kind", "text", "value", "start", "end")

    def __init__(self, kind: str, text: str, value: Any, start: int, end: int):
        self.kind, self.text, self.value, self.start, self.end = kind, text, value, start, end

    def __repr__(self) -> str:
        return f"{self.kind}:{self.text}"


def _unexpected(query: str, start: int, end: int, text: str | None = None) -> QueryError:
    line = query.count("\n", 0, start) + 1
    column = start - (query.rfind("\n", 0, start) + 1) + 1
    symbol = text if text is not None else query[start:end] or "<EOF>"
    return QueryError(f"unexpected symbol found {symbol} at line {line} and position {column}", start, end)


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        previous = tokens[-1] if tokens else None
        # a /regex/ where a value may start (after like, =~, parse FIELD, in a parse command)
        if query[pos] == "/" and (previous is None or previous.text.lower() in ("like", "=~")
                                  or (previous.kind == "ident" and len(tokens) >= 2
                                      and tokens[-2].text.lower() == "parse")):
            end = pos + 1
            while end < len(query) and query[end] != "/":
                end += 2 if query[end] == "\\" else 1
            if end >= len(query):
                raise _unexpected(query, pos, len(query))
            flags = re.match(r"[a-z]*", query[end + 1:]).group()
            tokens.append(Token("regex", query[pos:end + 1 + len(flags)], (query[pos + 1:end], flags), pos,
                                end + 1 + len(flags)))
            pos = end + 1 + len(flags)
            continue
        found = _TOKEN.match(query, pos)
        if not found:
            raise _unexpected(query, pos, pos + 1)
        kind = found.lastgroup
        text = found.group()
        if kind != "ws":
            value: Any = text
            if kind == "number":
                value = float(text) if any(c in text for c in ".eE") else int(text)
            elif kind == "string":
                value = re.sub(r"\\(.)", r"\1", text[1:-1])
            elif kind == "backtick":
                kind, value = "ident", text[1:-1]
            elif kind == "duration":
                number, unit = re.match(r"([\d.]+)([a-z]+)", text).groups()
                value = float(number) * _UNITS[unit]
            tokens.append(Token(kind, text, value, found.start(), found.end()))
        pos = found.end()
    tokens.append(Token("end", "", None, len(query), len(query)))
    return tokens


# -- expressions ---------------------------------------------------------------------------

_SCALARS: dict[str, Callable[..., Any]] = {
    "ispresent": lambda v: v is not None,
    "isempty": lambda v: v is None or v == "",
    "isblank": lambda v: v is None or str(v).strip() == "",
    "strlen": lambda v: None if v is None else len(str(v)),
    "toupper": lambda v: None if v is None else str(v).upper(),
    "tolower": lambda v: None if v is None else str(v).lower(),
    "trim": lambda v: None if v is None else str(v).strip(),
    "abs": lambda v: None if _num(v) is None else abs(_num(v)),
    "floor": lambda v: None if _num(v) is None else math.floor(_num(v)),
    "ceil": lambda v: None if _num(v) is None else math.ceil(_num(v)),
    "concat": lambda *vs: "".join("" if v is None else _text(v) for v in vs),
    "coalesce": lambda *vs: next((v for v in vs if v is not None), None),
}


def _num(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and "." not in str(value) else number


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    a, b = _num(left), _num(right)
    if a is None or b is None:
        a, b = _text(left), _text(right)
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


class Parser:
    def __init__(self, query: str):
        self.query = query
        self.tokens = tokenize(query)
        self.pos = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def error(self, token: Token | None = None) -> QueryError:
        token = token or self.peek()
        return _unexpected(self.query, token.start, token.end, token.text or "<EOF>")

    def word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "ident" and token.text.lower() in words

    def op(self, *ops: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.text in ops

    def expect_op(self, op: str) -> Token:
        if not self.op(op):
            raise self.error()
        return self.take()

    def field(self) -> str:
        token = self.take()
        if token.kind != "ident":
            raise self.error(token)
        return token.value

    # expression := or
    def expression(self) -> Callable[[Any], Any]:
        return self._or()

    def _or(self):
        parts = [self._and()]
        while self.word("or") or self.op("||"):
            self.take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: any(p(r) for p in ps))

    def _and(self):
        parts = [self._not()]
        while self.word("and") or self.op("&&"):
            self.take()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: all(p(r) for p in ps))

    def _not(self):
        if self.word("not"):
            self.take()
            inner = self._not()
            return lambda r: not inner(r)
        return self._comparison()

    def _comparison(self):
        left = self._sum()
        if self.op("=", "!=", "<", ">", "<=", ">="):
            op = self.take().text
            right = self._sum()
            return lambda r: _compare(op, left(r), right(r))
        negate = False
        if self.word("not") and self.peek(1).kind == "ident" and self.peek(1).text.lower() in ("like", "in"):
            self.take()
            negate = True
        if self.word("like") or self.op("=~"):
            self.take()
            token = self.take()
            if token.kind == "regex":
                body, flags = token.value
                regex = re.compile(body, re.I if "i" in flags else 0)
                test = lambda r: (v := left(r)) is not None and regex.search(_text(v)) is not None  # noqa: E731
            elif token.kind == "string":
                needle = token.value
                test = lambda r: (v := left(r)) is not None and needle in _text(v)  # noqa: E731
            else:
                raise self.error(token)
            return (lambda r: not test(r)) if negate else test
        if self.word("in"):
            self.take()
            self.expect_op("[")
            values = []
            while True:
                token = self.take()
                if token.kind not in ("number", "string", "ident"):
                    raise self.error(token)
                values.append(token.value)
                if self.op(","):
                    self.take()
                    continue
                self.expect_op("]")
                break
            test = lambda r: (v := left(r)) is not None and any(_compare("=", v, x) for x in values)  # noqa: E731
            return (lambda r: not test(r)) if negate else test
        if negate:
            raise self.error()
        return left

    def _sum(self):
        left = self._product()
        while self.op("+", "-"):
            op = self.take().text
            right = self._product()
            left = _arith(op, left, right)
        return left

    def _product(self):
        left = self._unary()
        while self.op("*", "/", "%"):
            op = self.take().text
            right = self._unary()
            left = _arith(op, left, right)
        return left

    def _unary(self):
        if self.op("-"):
            self.take()
            inner = self._unary()
            return lambda r: None if _num(inner(r)) is None else -_num(inner(r))
        return self._primary()

    def _primary(self):
        token = self.peek()
        if token.kind in ("number", "string", "duration"):
            self.take()
            return lambda r, v=token.value: v
        if self.op("("):
            self.take()
            inner = self._or()
            self.expect_op(")")
            return inner
        if token.kind == "ident":
            self.take()
            if self.op("("):
                name = token.text.lower()
                if name not in _SCALARS:
                    raise self.error(token)
                self.take()
                args = []
                if not self.op(")"):
                    args.append(self._or())
                    while self.op(","):
                        self.take()
                        args.append(self._or())
                self.expect_op(")")
                fn = _SCALARS[name]
                return lambda r: fn(*(a(r) for a in args))
            name = token.value
            return lambda r: r.get(name)
        raise self.error(token)


def _arith(op: str, left, right):
    def run(r):
        a, b = _num(left(r)), _num(right(r))
        if a is None or b is None:
            return None
        if op in "/%" and b == 0:
            return None
        return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
                "%": lambda: a % b}[op]()
    return run


# -- commands ------------------------------------------------------------------------------

class Aggregate:
    def __init__(self, name: str, arg: Callable | None, percentile: float | None, label: str):
        self.name, self.arg, self.percentile, self.label = name, arg, percentile, label


class Query:
    """A compiled query: its stages, in order."""

    def __init__(self, text: str):
        self.text = text
        self.stages: list[tuple[str, Any]] = []
        parser = Parser(text)
        while True:
            self._command(parser)
            if parser.peek().kind == "end":
                break
            parser.expect_op("|")
        if not self.stages:
            raise parser.error()
        self.has_stats = any(kind == "stats" for kind, _ in self.stages)

    def _names(self, parser: Parser) -> list[str]:
        names = [parser.field()]
        while parser.op(","):
            parser.take()
            names.append(parser.field())
        return names

    def _command(self, p: Parser) -> None:
        token = p.take()
        if token.kind != "ident" or token.text.lower() not in COMMANDS:
            raise p.error(token)
        command = token.text.lower()
        if command == "fields":
            items = []
            while True:
                start = p.peek().start
                expr = p.expression()
                label = p.query[start:p.tokens[p.pos - 1].end].strip()
                if p.word("as"):
                    p.take()
                    label = p.field()
                items.append((label, expr))
                if not p.op(","):
                    break
                p.take()
            self.stages.append(("fields", items))
        elif command == "display":
            self.stages.append(("display", self._names(p)))
        elif command == "filter":
            self.stages.append(("filter", p.expression()))
        elif command == "parse":
            source = p.field()
            token = p.take()
            if token.kind == "string":
                pattern = "".join("(.*?)" if part == "*" else re.escape(part)
                                  for part in re.split(r"(\*)", token.value))
                if pattern.endswith("(.*?)"):
                    pattern = pattern[:-5] + "(.*)"
                regex = re.compile(pattern, re.S)
                if not p.word("as"):
                    raise p.error()
                p.take()
                names = self._names(p)
                if len(names) != regex.groups:
                    raise _unexpected(p.query, token.start, token.end, token.text)
            elif token.kind == "regex":
                body, flags = token.value
                try:
                    regex = re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", body), re.I if "i" in flags else 0)
                except re.error:
                    raise _unexpected(p.query, token.start, token.end, token.text) from None
                names = list(regex.groupindex)
                if not names:
                    raise _unexpected(p.query, token.start, token.end, token.text)
            else:
                raise p.error(token)
            self.stages.append(("parse", (source, regex, names)))
        elif command == "stats":
            self.stages.append(("stats", self._stats(p)))
        elif command == "sort":
            keys = []
            while True:
                name = p.field()
                descending = False
                if p.word("asc", "desc"):
                    descending = p.take().text.lower() == "desc"
                keys.append((name, descending))
                if not p.op(","):
                    break
                p.take()
            self.stages.append(("sort", keys))
        elif command == "limit":
            token = p.take()
            if token.kind != "number" or not isinstance(token.value, int) or not 1 <= token.value <= MAX_LIMIT:
                raise p.error(token)
            self.stages.append(("limit", token.value))

    def _stats(self, p: Parser) -> tuple[list[Aggregate], list[tuple[str, Callable]]]:
        aggregates = []
        while True:
            start = p.peek()
            if start.kind != "ident" or start.text.lower() not in AGGREGATES or p.peek(1).text != "(":
                raise p.error(start)
            name = p.take().text.lower()
            p.take()
            arg, percentile = None, None
            if name == "count" and p.op("*"):
                p.take()
            elif not p.op(")"):
                arg = p.expression()
                if name == "pct":
                    p.expect_op(",")
                    token = p.take()
                    if token.kind != "number" or not 0 <= token.value <= 100:
                        raise p.error(token)
                    percentile = float(token.value)
            elif name != "count":
                raise p.error()
            end = p.expect_op(")")
            label = p.query[start.start:end.end]
            if p.word("as"):
                p.take()
                label = p.field()
            aggregates.append(Aggregate(name, arg, percentile, label))
            if not p.op(","):
                break
            p.take()
        groups: list[tuple[str, Callable]] = []
        if p.word("by"):
            p.take()
            while True:
                start = p.peek()
                if start.kind == "ident" and start.text.lower() == "bin" and p.peek(1).text == "(":
                    p.take()
                    p.take()
                    token = p.take()
                    if token.kind not in ("duration", "number") or token.value <= 0:
                        raise p.error(token)
                    end = p.expect_op(")")
                    label = p.query[start.start:end.end]
                    period_ms = int(token.value * 1000)
                    expr = (lambda r, ms=period_ms: None if r.get("@timestamp") is None
                            else BinTime(r.get("@timestamp") // ms * ms))
                else:
                    begin = p.peek().start
                    expr = p.expression()
                    label = p.query[begin:p.tokens[p.pos - 1].end].strip()
                if p.word("as"):
                    p.take()
                    label = p.field()
                groups.append((label, expr))
                if not p.op(","):
                    break
                p.take()
        return aggregates, groups


def parse_query(text: str) -> Query:
    if not text or not text.strip():
        raise QueryError("unexpected symbol found <EOF> at line 1 and position 1", 0, 0)
    return Query(text)


# -- values as Logs Insights prints them -------------------------------------------------------

class BinTime(int):
    """A bin()'s start: an integer millisecond count that prints as a timestamp."""


def format_time(millis: int) -> str:
    moment = datetime.fromtimestamp(millis / 1000, timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{int(millis) % 1000:03d}"


def _text(value: Any) -> str:
    if isinstance(value, BinTime):
        return format_time(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(round(value, 10))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# -- records ---------------------------------------------------------------------------------

class Record:
    """One event's fields: the @ fields, the JSON fields discovered in its message (dotted
    paths, ``a.0`` for arrays), and what parse and fields add; JSON is parsed on first need."""

    __slots__ = ("timestamp", "message", "stream", "log", "ingestion", "_ptr", "extra", "_json")

    def __init__(self, timestamp: int, message: str, stream: str, log: str, ingestion: int, ptr: Any):
        """``ptr``: the @ptr text, or the (group ARN, stream, position) it is made of when needed."""
        self.timestamp, self.message, self.stream, self.log = timestamp, message, stream, log
        self.ingestion, self._ptr = ingestion, ptr
        self.extra: dict[str, Any] = {}
        self._json: dict[str, Any] | None = None

    @property
    def ptr(self) -> str:
        if isinstance(self._ptr, tuple):
            self._ptr = pointer(*self._ptr)
        return self._ptr

    def get(self, name: str) -> Any:
        if name in self.extra:
            return self.extra[name]
        if name.startswith("@"):
            if name == "@timestamp":
                return self.timestamp
            if name == "@message":
                return self.message
            builtin = {"@logStream": self.stream, "@log": self.log, "@ingestionTime": self.ingestion}
            if name in builtin:
                return builtin[name]
            if name == "@ptr":
                return self.ptr
        return self.discovered().get(name)

    def discovered(self) -> dict[str, Any]:
        if self._json is None:
            self._json = {}
            text = self.message.lstrip()
            if text.startswith("{"):
                try:
                    document = json.loads(text)
                except ValueError:
                    document = None
                if isinstance(document, dict):
                    _flatten(document, "", self._json)
        return self._json


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}{key}" if not prefix else f"{prefix}.{key}", out)
    elif isinstance(value, list) and prefix:
        for i, item in enumerate(value):
            _flatten(item, f"{prefix}.{i}", out)
    elif prefix:
        out[prefix] = value


# -- running -----------------------------------------------------------------------------------

class Stats:
    """recordsScanned, recordsMatched, bytesScanned as a query runs."""

    def __init__(self):
        self.scanned = self.matched = self.bytes = 0

    def to_dict(self) -> dict[str, float]:
        return {"recordsMatched": float(self.matched), "recordsScanned": float(self.scanned),
                "bytesScanned": float(self.bytes)}


def execute(query: Query, records: Iterable[Record], stats: Stats,
            cancelled: Callable[[], bool] = lambda: False) -> list[list[dict[str, str]]]:
    """The query's result rows (each a list of {field, value}), reading ``records`` once."""
    stages = list(query.stages)
    split = next((i for i, (kind, _) in enumerate(stages) if kind == "stats"), len(stages))
    before, stats_stage, after = stages[:split], stages[split] if split < len(stages) else None, stages[split + 1:]
    shown: list[str] = []
    for kind, arg in before:
        if kind == "fields":
            shown += [label for label, _ in arg if label not in shown]
        elif kind == "parse":
            shown += [name for name in arg[2] if name not in shown]
    per_record = [(kind, arg) for kind, arg in before if kind in ("fields", "filter", "parse")]
    ordering = [arg for kind, arg in before if kind == "sort"]
    limits = [arg for kind, arg in before if kind == "limit"]
    display = next((arg for kind, arg in reversed(before) if kind == "display"), None)

    def passed() -> Iterator[Record]:
        for i, record in enumerate(records):
            if i % 1024 == 0 and cancelled():
                return
            stats.scanned += 1
            stats.bytes += len(record.message.encode("utf-8")) + 26
            if all(_apply(kind, arg, record) for kind, arg in per_record):
                stats.matched += 1
                yield record

    if stats_stage is None:
        limit = limits[-1] if limits else DEFAULT_LIMIT
        chosen = _ordered(passed(), ordering[-1] if ordering else None, limit, lambda r, n: r.get(n))
        names = display or shown or ["@timestamp", "@message"]
        return [_row(names, lambda n, r=r: r.get(n)) + [{"field": "@ptr", "value": r.ptr}] for r in chosen]
    aggregates, groups = stats_stage[1]
    rows = _aggregate(passed(), aggregates, groups)
    limit = DEFAULT_LIMIT
    names = [label for label, _ in groups] + [a.label for a in aggregates]
    for kind, arg in after:
        if kind == "filter":
            rows = [row for row in rows if arg(_RowView(row))]
        elif kind == "sort":
            rows = _ordered(iter(rows), arg, MAX_LIMIT, lambda row, n: row.get(n))
        elif kind == "limit":
            limit = arg
        elif kind == "display":
            names = arg
        elif kind == "fields":
            for row in rows:
                view = _RowView(row)
                for label, expr in arg:
                    row[label] = expr(view)
            names += [label for label, _ in arg if label not in names]
    return [_row(names, row.get) for row in rows[:limit]]


class _RowView:
    def __init__(self, row: dict[str, Any]):
        self.row = row

    def get(self, name: str) -> Any:
        return self.row.get(name)


def _apply(kind: str, arg: Any, record: Record) -> bool:
    if kind == "filter":
        return bool(arg(record))
    if kind == "parse":
        source, regex, names = arg
        value = record.get(source)
        found = regex.search(_text(value)) if value is not None else None
        if found:
            if regex.groupindex:
                record.extra.update({n: found.group(n) for n in names})
            else:
                record.extra.update(zip(names, found.groups()))
        return True
    for label, expr in arg:     # fields: an expression's value under its label
        value = expr(record)
        if value is not None:
            record.extra[label] = value
    return True


def _sort_key(value: Any) -> tuple:
    number = _num(value)
    if value is None:
        return (2, 0, "")
    if number is not None:
        return (0, number, "")
    return (1, 0, _text(value))


def _ordered(items: Iterator[Any], keys: list[tuple[str, bool]] | None, limit: int,
             get: Callable[[Any, str], Any]) -> list[Any]:
    if not keys:
        out = []
        for item in items:
            out.append(item)
            if len(out) >= limit:
                break
        return out

    class Key:
        __slots__ = ("values",)

        def __init__(self, item):
            self.values = [_sort_key(get(item, name)) for name, _ in keys]

        def __lt__(self, other):
            for (_, descending), mine, theirs in zip(keys, self.values, other.values):
                if mine != theirs:
                    # missing values last either way
                    if mine[0] == 2 or theirs[0] == 2:
                        return theirs[0] == 2
                    return (mine > theirs) if descending else (mine < theirs)
            return False

    return [item for _, _, item in heapq.nsmallest(limit, ((Key(i), n, i) for n, i in enumerate(items)),
                                                   key=lambda t: (t[0], t[1]))]


def _aggregate(records: Iterator[Record], aggregates: list[Aggregate],
               groups: list[tuple[str, Callable]]) -> list[dict[str, Any]]:
    table: dict[tuple, list[Any]] = {}
    for record in records:
        key = tuple(expr(record) for _, expr in groups)    # an absent field groups as null
        state = table.get(key)
        if state is None:
            state = table[key] = [_start(a) for a in aggregates]
        for i, a in enumerate(aggregates):
            _add(a, state, i, record)
    rows = []
    for key in sorted(table, key=lambda k: [_sort_key(v) for v in k]):
        row = {label: value for (label, _), value in zip(groups, key) if value is not None}
        for a, state in zip(aggregates, table[key]):
            value = _finish(a, state)
            if value is not None:
                row[a.label] = value
        rows.append(row)
    return rows


def _start(a: Aggregate) -> Any:
    if a.name in ("count",):
        return 0
    if a.name == "count_distinct":
        return set()
    if a.name in ("pct", "stddev"):
        return []
    return None


def _add(a: Aggregate, state: list[Any], i: int, record: Record) -> None:
    if a.name == "count":
        if a.arg is None or a.arg(record) is not None:
            state[i] += 1
        return
    value = a.arg(record)
    if value is None:
        return
    if a.name == "count_distinct":
        state[i].add(_text(value))
    elif a.name in ("earliest", "latest"):
        current = state[i]
        stamp = record.timestamp
        if current is None or (stamp < current[0] if a.name == "earliest" else stamp >= current[0]):
            state[i] = (stamp, value)
    else:
        number = _num(value)
        if number is None:
            return
        if a.name in ("pct", "stddev"):
            state[i].append(number)
        elif a.name in ("sum", "avg"):
            total, count = state[i] or (0, 0)
            state[i] = (total + number, count + 1)
        elif a.name == "min":
            state[i] = number if state[i] is None else min(state[i], number)
        elif a.name == "max":
            state[i] = number if state[i] is None else max(state[i], number)


def _finish(a: Aggregate, state: Any) -> Any:
    if a.name == "count":
        return state
    if a.name == "count_distinct":
        return len(state)
    if state is None or state == []:
        return None
    if a.name in ("earliest", "latest"):
        return state[1]
    if a.name == "sum":
        return state[0]
    if a.name == "avg":
        return state[0] / state[1]
    if a.name == "pct":       # nearest rank: the smallest value with at least p% at or below it
        ordered = sorted(state)
        rank = max(1, math.ceil(a.percentile / 100 * len(ordered)))
        return ordered[rank - 1]
    if a.name == "stddev":
        mean = sum(state) / len(state)
        return math.sqrt(sum((x - mean) ** 2 for x in state) / (len(state) - 1)) if len(state) > 1 else 0.0
    return state


def _row(names: list[str], get: Callable[[str], Any]) -> list[dict[str, str]]:
    row = []
    for name in names:
        value = get(name)
        if value is None:
            continue
        if name in ("@timestamp", "@ingestionTime") and isinstance(value, int):
            value = BinTime(value)
        row.append({"field": name, "value": _text(value)})
    return row


def pointer(group_arn: str, stream: str, position: int) -> str:
    raw = json.dumps([group_arn, stream, position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
