"""CloudWatch's AlarmRule language for composite alarms: ``ALARM(x)``, ``OK(x)``,
``INSUFFICIENT_DATA(x)`` over alarm names or ARNs (quoted or not), ``TRUE``,
``FALSE``, ``NOT``, ``AND``, ``OR`` (binding in that order) and parentheses.
Parsed once into a small tree; ``RuleError`` carries AWS's wording."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Union

STATE_FUNCTIONS = ("ALARM", "OK", "INSUFFICIENT_DATA")
MAX_RULE_LENGTH = 10_240
MAX_CHILDREN = 100


class RuleError(ValueError):
    """A rule that does not parse; str() is the message PutCompositeAlarm answers."""


@dataclass(frozen=True)
class StateOf:
    state: str          # ALARM, OK or INSUFFICIENT_DATA
    reference: str      # the name or ARN as written


@dataclass(frozen=True)
class Constant:
    value: bool


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Both:
    left: Node
    right: Node


@dataclass(frozen=True)
class Either:
    left: Node
    right: Node


Node = Union[StateOf, Constant, Not, Both, Either]


# -- tokens --------------------------------------------------------------------------
def _tokens(rule: str) -> list[tuple[str, str, int]]:
    """(kind, text, 0-based position, as AWS counts): WORD, NAME (a function's argument), '(' and ')'."""
    out: list[tuple[str, str, int]] = []
    i, n = 0, len(rule)
    while i < n:
        c = rule[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            out.append((c, c, i))
            i += 1
            # A state function's argument: everything up to its closing parenthesis.
            if c == "(" and len(out) >= 2 and out[-2][0] == "WORD" and out[-2][1] in STATE_FUNCTIONS:
                i = _argument(rule, i, out)
            continue
        if c.isalpha() or c == "_":
            start = i
            while i < n and (rule[i].isalnum() or rule[i] == "_"):
                i += 1
            out.append(("WORD", rule[start:i], start))
            continue
        raise RuleError(f"Error in AlarmRule [Unsupported token '{c}' at char {i}]")
    return out


def _argument(rule: str, i: int, out: list) -> int:
    n = len(rule)
    while i < n and rule[i].isspace():
        i += 1
    start = i
    if i < n and rule[i] == '"':
        end = rule.find('"', i + 1)
        if end < 0:
            raise RuleError(f"Error in AlarmRule [Unclosed quote at char {i}]")
        name, i = rule[i + 1:end], end + 1
    else:
        end = rule.find(")", i)
        if end < 0:
            raise RuleError("Error in AlarmRule [Unexpected end of expression]")
        name, i = rule[i:end].strip(), end
    if not name:
        raise RuleError(f"Error in AlarmRule [Missing alarm name at char {start}]")
    out.append(("NAME", name, start))
    return i


# -- the grammar: or := and (OR and)* ; and := not (AND not)* ; not := NOT not | atom ------
class _Parser:
    def __init__(self, rule: str):
        self.tokens = _tokens(rule)
        self.at = 0

    def parse(self) -> Node:
        if not self.tokens:
            raise RuleError("Error in AlarmRule [Empty expression]")
        node = self._or()
        if self.at < len(self.tokens):
            self._unexpected()
        return node

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self) -> tuple[str, str, int]:
        token = self._peek()
        if token is None:
            raise RuleError("Error in AlarmRule [Unexpected end of expression]")
        self.at += 1
        return token

    def _unexpected(self):
        _, text, pos = self.tokens[self.at]
        raise RuleError(f"Error in AlarmRule [Unsupported token '{text}' at char {pos}]")

    def _word(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "WORD" and token[1] == word:
            self.at += 1
            return True
        return False

    def _or(self) -> Node:
        node = self._and()
        while self._word("OR"):
            node = Either(node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._word("AND"):
            node = Both(node, self._not())
        return node

    def _not(self) -> Node:
        if self._word("NOT"):
            return Not(self._not())
        return self._atom()

    def _atom(self) -> Node:
        token = self._peek()
        if token is None:
            raise RuleError("Error in AlarmRule [Unexpected end of expression]")
        kind, text, _ = token
        if kind == "(":
            self.at += 1
            node = self._or()
            if self._take()[0] != ")":
                self.at -= 1
                self._unexpected()
            return node
        if kind == "WORD" and text in ("TRUE", "FALSE"):
            self.at += 1
            return Constant(text == "TRUE")
        if kind == "WORD" and text in STATE_FUNCTIONS:
            self.at += 1
            if self._take()[0] != "(":
                self.at -= 1
                self._unexpected()
            name = self._take()
            if name[0] != "NAME":
                self.at -= 1
                self._unexpected()
            if self._take()[0] != ")":
                self.at -= 1
                self._unexpected()
            return StateOf(text, name[1])
        self._unexpected()
        raise AssertionError("unreachable")


@functools.lru_cache(maxsize=1024)
def parse(rule: str) -> Node:
    """The rule's tree; RuleError when it does not parse."""
    return _Parser(rule).parse()


def references(node: Node) -> list[StateOf]:
    """Every state function of the rule, in the order written."""
    if isinstance(node, StateOf):
        return [node]
    if isinstance(node, Not):
        return references(node.operand)
    if isinstance(node, (Both, Either)):
        return references(node.left) + references(node.right)
    return []


def alarm_name(reference: str) -> str:
    """An alarm's name from a reference by name or ARN."""
    return reference.split(":alarm:", 1)[1] if reference.startswith("arn:") and ":alarm:" in reference else reference


def holds(node: Node, state_of: Callable[[str], str | None]) -> bool:
    """The rule's truth with ``state_of(reference)`` giving each referenced alarm's state
    (None for an alarm that does not exist: its functions are FALSE)."""
    if isinstance(node, Constant):
        return node.value
    if isinstance(node, StateOf):
        return state_of(node.reference) == node.state
    if isinstance(node, Not):
        return not holds(node.operand, state_of)
    if isinstance(node, Both):
        return holds(node.left, state_of) and holds(node.right, state_of)
    return holds(node.left, state_of) or holds(node.right, state_of)
