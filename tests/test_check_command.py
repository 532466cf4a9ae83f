"""`workshop check` agrees with the panel: its JSON carries the first hint of each
failing check (the panel reveals the rest one at a time, the last is the answer),
`--all-hints` the whole ladder; an --account that is not 12 digits is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from checker.registry import get_lab
from tests.conftest import ROOT

LAB = "04-iac"


def _check(cloud, account: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workshop", "check", LAB, "--endpoint", cloud.endpoint,
                           "--account", account, *extra], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_json_on_an_empty_account_has_only_each_failing_checks_first_hint(cloud, account):
    out = _check(cloud, account, "--json")
    assert out.returncode == 1, out.stderr
    results = json.loads(out.stdout)["results"]
    ladders = {c.id: list(c.hints) for c in get_lab(LAB).checks}
    assert results and all(not r["passed"] for r in results)
    for r in results:
        assert r["hints"] == [ladders[r["id"]][0]] and r["hint"] == ladders[r["id"]][0]
    later = [h for ladder in ladders.values() for h in ladder[1:] if h not in {l[0] for l in ladders.values()}]
    assert later and not [h for h in later if json.dumps(h)[1:-1] in out.stdout]

    out = _check(cloud, account, "--json", "--all-hints")
    assert {r["id"]: r["hints"] for r in json.loads(out.stdout)["results"]} == ladders


def test_table_shows_the_first_hint_and_all_hints_the_ladder(cloud, account):
    first_check = get_lab(LAB).checks[0]
    out = _check(cloud, account)
    assert out.returncode == 1
    assert "Hint: " in out.stdout and "Hint 2:" not in out.stdout
    out = _check(cloud, account, "--all-hints")
    assert f"Hint {len(first_check.hints)}:" in out.stdout


@pytest.mark.parametrize("command, bad", [("check 04-iac", "123"), ("check 04-iac", "12345678901a"),
                                          ("check 04-iac", "1234567890123"), ("reset 04-iac", "123"),
                                          ("doctor", "123")])
def test_an_account_that_is_not_12_digits_is_refused(command, bad):
    out = subprocess.run([sys.executable, "-m", "workshop", *command.split(), "--account", bad],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"argument --account: '{bad}' is not an account id (an account id is 12 digits)" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
