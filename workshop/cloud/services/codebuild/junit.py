"""JUnit XML (what pytest --junitxml, Maven and most test runners write) read
into CodeBuild test cases: prefix, name, status, duration and message."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_MESSAGE = 5000


class ReportFileError(ValueError):
    """The file is not JUnit XML CodeBuild could read."""


@dataclass
class TestCaseResult:
    prefix: str
    name: str
    status: str  # SUCCEEDED | FAILED | ERROR | SKIPPED | UNKNOWN
    duration_ns: int
    message: str
    suite: str
    raw_path: str


def read_file(path: Path, raw_path: str) -> list[TestCaseResult]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ReportFileError(f"{raw_path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ReportFileError(f"{raw_path} is not valid XML: {exc}") from None
    return parse_root(root, raw_path)


def parse_root(root: ET.Element, raw_path: str = "") -> list[TestCaseResult]:
    if root.tag not in ("testsuites", "testsuite"):
        raise ReportFileError(f"{raw_path or 'the file'} is not JUnit XML (root element <{root.tag}>)")
    cases: list[TestCaseResult] = []
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for suite in suites:
        suite_name = suite.get("name", "")
        for case in suite.findall("testcase"):
            cases.append(_case(case, suite_name, raw_path))
    return cases


def _case(case: ET.Element, suite: str, raw_path: str) -> TestCaseResult:
    status, message = "SUCCEEDED", ""
    for tag, kind in (("failure", "FAILED"), ("error", "ERROR"), ("skipped", "SKIPPED")):
        found = case.find(tag)
        if found is not None:
            status = kind
            parts = [found.get("message", "").strip(), (found.text or "").strip()]
            message = "\n".join(p for p in parts if p)[:MAX_MESSAGE]
            break
    try:
        seconds = float(case.get("time") or 0)
    except ValueError:
        seconds = 0.0
    return TestCaseResult(
        prefix=case.get("classname", "") or suite,
        name=case.get("name", ""),
        status=status,
        duration_ns=int(max(seconds, 0.0) * 1e9),
        message=message,
        suite=suite,
        raw_path=raw_path,
    )
