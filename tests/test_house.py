"""The cloud's house rules, read from its source: a service's models never
import an engine (they announce work through ``workshop.cloud.services``), every
announcement a service's models make for its own engine has a subscriber, and
no source file of the cloud grows past what a reader holds in mind."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLOUD = ROOT / "workshop" / "cloud"
SERVICES = CLOUD / "services"
PACKAGE = "workshop.cloud.services"

# An engine is a module that does a service's work over time, on threads or
# processes of its own: a runner (builds, deployments, pipelines, functions), an
# evaluator (alarms) or an agent (an instance's deployments). CloudFormation's
# engine.py is not one: it runs a stack operation inside the request, as moto's
# create_stack does, and holds no thread.
ENGINE_SUFFIXES = ("_runner", "_evaluator", "agent")

# Announcements whose subscribers belong to another service (loaded with it) or
# that no engine needs yet: their absence is not a lost piece of work.
OPTIONAL_EVENTS = {"codecommit.references-changed", "cloudwatch.alarm-state-changed"}

# One file, one concept: past this a file is split by concept (as CodeCommit's
# and CodeDeploy's backends are, composed in their models.py).
MAX_LINES = 1000


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str) -> set[str]:
    """Every module an import anywhere in ``source`` may load (top level, inside
    functions, relative, ``importlib.import_module("...")``)."""
    package = module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)   # `from pkg import module`
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def engine_modules(root: Path = ROOT) -> set[str]:
    return {module_name(p, root) for p in (root / "workshop" / "cloud" / "services").rglob("*.py")
            if p.stem.endswith(ENGINE_SUFFIXES)}


def engine_of(name: str, engines: set[str]) -> str | None:
    """The engine module an imported name is or lies in (``...build_runner.get_runner``)."""
    return next((e for e in engines if name == e or name.startswith(e + ".")), None)


def model_modules(service: Path, root: Path = ROOT) -> dict[str, Path]:
    """A service's ``models.py`` and the modules of its own package it imports,
    transitively (the parts a split backend is composed of)."""
    package = module_name(service, root)
    files = {module_name(p, root): p for p in service.rglob("*.py")}
    engines = engine_modules(root)
    todo, seen = [f"{package}.models"], {}
    while todo:
        name = todo.pop()
        if name in seen or name not in files or name in engines:
            continue
        seen[name] = files[name]
        todo.extend(m for m in imported_modules(files[name].read_text(), name)
                    if m.startswith(package + ".") and m != f"{package}.__init__")
    return seen


def services_with_models() -> list[Path]:
    return sorted(p.parent for p in SERVICES.glob("*/models.py"))


def engine_imports(service: Path, root: Path = ROOT) -> list[str]:
    engines = engine_modules(root)
    return sorted({f"{name} imports {engine_of(m, engines)}" for name, path in model_modules(service, root).items()
                   for m in imported_modules(path.read_text(), name) if engine_of(m, engines)})


@pytest.mark.parametrize("service", services_with_models(), ids=lambda p: p.name)
def test_models_never_import_an_engine(service):
    assert engine_imports(service) == []


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path):
    # The rule above must be able to fail: a models module that imports its
    # runner inside a function (or relatively) is found.
    service = tmp_path / "workshop" / "cloud" / "services" / "demo"
    service.mkdir(parents=True)
    (service / "build_runner.py").write_text("")
    (service / "parts.py").write_text("def go():\n    from . import build_runner\n")
    (service / "models.py").write_text(
        "from workshop.cloud.services.demo import parts\n"
        "def start():\n    from workshop.cloud.services.demo.build_runner import get_runner\n")
    assert engine_imports(service, tmp_path) == [
        "workshop.cloud.services.demo.models imports workshop.cloud.services.demo.build_runner",
        "workshop.cloud.services.demo.parts imports workshop.cloud.services.demo.build_runner"]


def announced_events(service: Path) -> set[str]:
    """The event names the service's models pass to ``announce``/``ask``."""
    events = set()
    for path in model_modules(service).values():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("announce", "ask") and node.args
                    and isinstance(node.args[0], ast.Constant)):
                events.add(node.args[0].value)
    return events


def test_every_announced_piece_of_work_has_its_engine_subscribed():
    # Loading a service (as the gateway does before its first request) imports
    # its engine, which subscribes; an announcement nobody hears is lost work.
    from workshop.cloud import services

    services.load_all()
    services.load_eager()
    events = set().union(*(announced_events(s) for s in services_with_models()))
    assert {"codebuild.build-queued", "codedeploy.deployment-created", "codepipeline.execution-changed",
            "cloudwatch.alarm-changed", "lambda.invoke"} <= events
    unheard = sorted(e for e in events - OPTIONAL_EVENTS if not services._subscribers.get(e))
    assert unheard == []
    assert len(services._subscribers["lambda.invoke"]) == 1   # ask() needs exactly one answer


def long_files(root: Path) -> list[str]:
    return sorted(f"{p.relative_to(root)}: {n} lines" for p in root.rglob("*.py")
                  if (n := len(p.read_text().splitlines())) > MAX_LINES)


def test_no_source_file_of_the_cloud_passes_1000_lines():
    assert long_files(CLOUD) == []


def test_the_line_count_can_fail(tmp_path):
    (tmp_path / "short.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert long_files(tmp_path) == [f"long.py: {MAX_LINES + 1} lines"]
