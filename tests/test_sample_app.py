"""The sample application as lab material: its own tests pass, the planted
bug fails exactly the case lab 02 names and the fix restores it, it serves
HTTP on the workshop's Python, and its buildspec is one CodeBuild accepts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.test_codebuild_builds import SAMPLE_APP, plant_tool, sample_app_copy


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=folder, capture_output=True,
                          text=True, timeout=120)


def test_its_tests_pass_then_fail_on_the_planted_bug_then_pass_after_the_fix(tmp_path):
    app, tool = sample_app_copy(tmp_path), plant_tool()
    assert tool.status(app) == "fixed"
    result = pytest_in(app)
    assert result.returncode == 0, result.stdout
    assert "17 passed" in result.stdout

    assert tool.plant(app) and tool.status(app) == "planted"
    assert not tool.plant(app)  # planting twice changes nothing
    junit = tmp_path / "junit.xml"
    result = pytest_in(app, f"--junitxml={junit}")
    assert result.returncode == 1
    assert "1 failed, 16 passed" in result.stdout
    assert f"FAILED tests/test_pricing.py::{tool.FAILING_TEST}" in result.stdout
    assert 'failures="1"' in junit.read_text()

    assert tool.fix(app) and tool.status(app) == "fixed"
    assert pytest_in(app).returncode == 0
    # The project's own copy is never left planted.
    assert tool.status(SAMPLE_APP) == "fixed"


def test_plant_tool_command_line(tmp_path):
    app = sample_app_copy(tmp_path)
    script = SAMPLE_APP / "tools" / "plant_bug.py"
    out = subprocess.run([sys.executable, str(script), "plant", str(app)], capture_output=True, text=True,
                         check=True).stdout
    assert "planted" in out
    status = subprocess.run([sys.executable, str(script), "status", str(app)], capture_output=True, text=True,
                            check=True).stdout
    assert status.strip() == "planted"
    usage = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "plant" in usage.stderr


def test_it_serves_http(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=SAMPLE_APP, env={"PORT": str(port), "PATH": ""},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as resp:
                    health = json.loads(resp.read())
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        assert health == {"status": "ok", "version": (SAMPLE_APP / "VERSION").read_text().strip()}
        with urllib.request.urlopen(base + "/quote?unit_price=2.00&quantity=10", timeout=5) as resp:
            assert json.loads(resp.read())["total"] == "19.00"
        order = urllib.request.Request(base + "/orders", method="POST",
                                       data=json.dumps({"item": "mug", "unit_price": "8", "quantity": 1}).encode())
        with urllib.request.urlopen(order, timeout=5) as resp:
            assert resp.status == 201
            placed = json.loads(resp.read())
        with urllib.request.urlopen(f"{base}/orders/{placed['id']}", timeout=5) as resp:
            assert json.loads(resp.read()) == placed
        try:
            urllib.request.urlopen(base + "/quote?unit_price=x&quantity=1", timeout=5)
            raise AssertionError("a bad quote must be refused")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
    finally:
        proc.terminate()
        proc.wait(10)


def test_its_buildspec_is_valid_and_packages_the_app_without_tests():
    from workshop.cloud.services.codebuild import buildspec
    from workshop.cloud.services.codebuild.build_runner import _select

    spec = buildspec.parse((SAMPLE_APP / "buildspec.yml").read_text())
    assert spec.version == "0.2"
    assert spec.phases["install"].runtime_versions == {"python": "3.11"}
    assert "unit-tests" in spec.reports and spec.reports["unit-tests"].file_format == "JUNITXML"
    assert spec.exported_variables == ["APP_VERSION"]
    names = {name for name, _ in _select(SAMPLE_APP, spec.artifacts, "artifact")}
    assert {"app/pricing.py", "app/service.py", "VERSION", "README.md"} <= names
    assert not any(n.startswith(("tests/", "tools/")) for n in names)
