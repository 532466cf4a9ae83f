"""The one way to register a check.

A lab module makes a ``Lab``, gives it a reader (one read of the lab's
resources, shared by all its checks) and registers checks with
``@lab.check(...)``. A check is a small function over that read which returns
``passed(...)`` or ``failed(...)``, like a cfn-lint rule: id, title, points,
hints (a nudge, then the API, then the exact call), a docs link.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Lab id -> the module that registers its checks.
LAB_MODULES: dict[str, str] = {
    "00-dora": "checker.labs.lab00_dora",
    "01-source": "checker.labs.lab01_source",
    "02-build": "checker.labs.lab02_build",
    "03-deploy": "checker.labs.lab03_deploy",
    "04-iac": "checker.labs.lab04_iac",
    "05-containers": "checker.labs.lab05_containers",
    "06-observability": "checker.labs.lab06_observability",
}

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Finding:
    passed: bool
    message: str
    skipped: bool = False   # the check cannot apply here (the message says why): not graded


def passed(message: str = "") -> Finding:
    return Finding(True, message)


def failed(message: str) -> Finding:
    return Finding(False, message)


def skipped(message: str) -> Finding:
    """The work cannot be done where the checks run (an AWS account a service refuses): the
    check counts neither for nor against the learner, and the message says why."""
    return Finding(False, message, skipped=True)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    points: int
    hints: tuple[str, ...]
    docs: str
    step: str | None
    func: Callable[[Any], Finding]


@dataclass
class Lab:
    id: str
    title: str
    read: Callable[..., Any] | None = None
    checks: list[Check] = field(default_factory=list)

    def reader(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Register the function that reads the lab's resources once: ``read(account)``."""
        self.read = func
        return func

    def check(self, slug: str, *, title: str, points: int, hints: list[str] | tuple[str, ...],
              docs: str, step: str | None = None) -> Callable[[Callable], Callable]:
        if not _SLUG.match(slug):
            raise ValueError(f"check slug {slug!r} must be lower-case words joined by '-'")
        check_id = f"{self.id}.{slug}"
        if any(c.id == check_id for c in self.checks):
            raise ValueError(f"check {check_id} registered twice")
        if points <= 0 or not hints:
            raise ValueError(f"check {check_id} needs points > 0 and at least one hint")

        def register(func: Callable) -> Callable:
            self.checks.append(Check(check_id, title, points, tuple(hints), docs, step, func))
            return func

        return register

    def steps(self) -> list[str]:
        seen: list[str] = []
        for c in self.checks:
            if c.step and c.step not in seen:
                seen.append(c.step)
        return seen


_labs: dict[str, Lab] = {}


def lab(lab_id: str, title: str) -> Lab:
    """Create (once) the registry entry of a lab; called by the lab's module."""
    if lab_id in _labs:
        raise ValueError(f"lab {lab_id} defined twice")
    _labs[lab_id] = Lab(lab_id, title)
    return _labs[lab_id]


def get_lab(lab_id: str) -> Lab:
    if lab_id not in LAB_MODULES:
        known = ", ".join(sorted(LAB_MODULES))
        raise KeyError(f"no lab {lab_id!r} (labs: {known})")
    importlib.import_module(LAB_MODULES[lab_id])
    return _labs[lab_id]


def lab_ids() -> list[str]:
    return sorted(LAB_MODULES)


def get_check(check_id: str) -> Check:
    lab_id = check_id.split(".", 1)[0]
    for c in get_lab(lab_id).checks:
        if c.id == check_id:
            return c
    raise KeyError(f"no check {check_id!r}")
