"""The checker's own machinery: registration rules, findings instead of
tracebacks, the three views of one result, and every AWS call the checks
make validated against botocore's service models (so the checker can run
unchanged against real AWS, which cannot be tested here)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import validate_parameters

from checker import registry, runner
from checker.registry import Lab, failed, passed
from checker.results import CheckResult, LabResult
from checker.session import Target

ROOT = Path(__file__).resolve().parents[1]
_READ_VERBS = re.compile(r"^(Describe|Get|List|Head|BatchGet|Lookup)[A-Z]")
# Operations that change nothing though their names do not say so: CloudWatch Logs'
# TestMetricFilter matches a pattern against messages given in the request (lab 06 reads
# what a learner's filter would count). Add one only with the API reference's word for it.
_READS_NAMED_OTHERWISE = frozenset({"TestMetricFilter"})


def is_read_only(api_name: str) -> bool:
    return bool(_READ_VERBS.match(api_name)) or api_name in _READS_NAMED_OTHERWISE


def _toy_lab() -> Lab:
    lab = Lab("99-toy", "Toy lab")

    @lab.reader
    def read(account):
        return {"buckets": [b["Name"] for b in (account.call("s3", "list_buckets") or {}).get("Buckets", [])]}

    @lab.check("has-bucket", title="A bucket exists", points=2, hints=["Make a bucket.", "s3.create_bucket"],
               docs="https://docs.aws.amazon.com/AmazonS3/latest/userguide/create-bucket-overview.html")
    def has_bucket(state):
        return passed("found one") if state["buckets"] else failed("no bucket yet")

    @lab.check("explodes", title="A broken check", points=1, hints=["n/a"], docs="")
    def explodes(state):
        raise KeyError("boom")

    return lab


def test_registration_rules():
    lab = Lab("98-rules", "Rules")
    with pytest.raises(ValueError):
        lab.check("Bad Slug", title="t", points=1, hints=["h"], docs="")
    with pytest.raises(ValueError):
        lab.check("no-hint", title="t", points=1, hints=[], docs="")
    lab.check("ok", title="t", points=1, hints=["h"], docs="")(lambda s: passed())
    with pytest.raises(ValueError):
        lab.check("ok", title="t", points=1, hints=["h"], docs="")
    with pytest.raises(KeyError):
        registry.get_lab("no-such-lab")


def test_broken_state_and_broken_checks_become_findings(cloud, account, monkeypatch):
    toy = _toy_lab()
    monkeypatch.setattr(runner, "get_lab", lambda lab_id: toy)
    where = Target(cloud.endpoint, account, "test", "us-east-1")
    result = runner.run_lab("99-toy", where)
    assert result.account == account
    assert [r.passed for r in result.results] == [False, False]
    assert result.results[0].hint == "Make a bucket."
    assert "KeyError" in result.results[1].message
    cloud.client("s3", account).create_bucket(Bucket=f"toy-{account}")
    result = runner.run_lab("99-toy", where)
    assert result.results[0].passed and result.score == 2 and result.total == 3
    # The results are data: JSON round trip keeps everything the views use.
    again = LabResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.to_dict() == result.to_dict()


def test_one_session_asks_sts_once_for_every_lab(cloud, account, monkeypatch):
    """A class report runs every lab with one session per learner: the account its keys act
    as is asked once (STS), and each lab's result still names it."""
    from botocore.client import BaseClient

    from checker.session import session

    toy = _toy_lab()
    monkeypatch.setattr(runner, "get_lab", lambda lab_id: toy)
    asked = []
    real = BaseClient._make_api_call

    def counted(self, operation, params):
        asked.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    sess = session(Target(cloud.endpoint, account, "test", "us-east-1"))
    results = [runner.run_lab("99-toy", sess=sess) for _ in range(3)]
    assert [r.account for r in results] == [account] * 3
    assert asked.count("GetCallerIdentity") == 1 and asked.count("ListBuckets") == 3
    other = session(Target(cloud.endpoint, "123456789012", "test", "us-east-1"))
    assert runner.run_lab("99-toy", sess=other).account == "123456789012"


def test_cannot_run_when_the_cloud_is_down():
    from tests.conftest import free_port

    where = Target(f"http://127.0.0.1:{free_port()}", "123456789012",
                                                       "test", "us-east-1")
    with pytest.raises(runner.CannotRun, match="workshop up"):
        runner.run_lab(registry.lab_ids()[0], where)


def test_views_render_the_same_result():
    from checker.report import render_table
    from checker.widget import render_html

    result = LabResult("99-toy", "Toy", "http://x", "123456789012", [
        CheckResult("99-toy.a", "First", 2, True, "fine", ""),
        CheckResult("99-toy.b", "Second <b>", 3, False, "missing", "Try this", ["Try this", "Then that"]),
    ])
    table = render_table(result)
    assert "PASS" in table and "FAIL" in table and "2/5" in table and "Hint: Try this" in table
    page = render_html(result, hint_level=0)
    assert "Second &lt;b&gt;" in page and "Try this" in page and "Then that" not in page
    assert "Then that" in render_html(result, hint_level=1)


# -- every AWS call the checks make ----------------------------------------------

def _check_calls():
    """(file, line, service, operation, keyword names) for every account.call(...) in checker/labs."""
    calls, raw_clients = [], []
    for path in sorted((ROOT / "checker" / "labs").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr == "client":
                raw_clients.append(f"{path.name}:{node.lineno}")
            if node.func.attr == "call" and len(node.args) >= 2 and all(
                    isinstance(a, ast.Constant) for a in node.args[:2]):
                kws = [k.arg for k in node.keywords if k.arg]
                calls.append((path.name, node.lineno, node.args[0].value, node.args[1].value, kws))
    return calls, raw_clients


def test_checks_read_through_account_call_only():
    calls, raw_clients = _check_calls()
    assert calls, "no checks found in checker/labs"
    assert raw_clients == [], "checks must read through account.call(...) so every call is validated"


def test_every_check_call_exists_in_botocore_and_is_read_only():
    session = botocore.session.get_session()
    problems = []
    calls = _check_calls()[0]
    # The evidence AWS keeps is read through AWS's own APIs, validated like every other call.
    assert ("cloudtrail", "lookup_events") in {(service, op) for _, _, service, op, _ in calls}
    for file, line, service, op, kws in calls:
        model = session.get_service_model(service)
        client = session.create_client(service, region_name="us-east-1",
                                       aws_access_key_id="x", aws_secret_access_key="x")
        api_name = client.meta.method_to_api_mapping.get(op)
        if api_name is None:
            problems.append(f"{file}:{line} {service}.{op} is not an operation")
            continue
        if not is_read_only(api_name):
            problems.append(f"{file}:{line} {service}.{op} is not read-only")
        members = model.operation_model(api_name).input_shape
        known = set(members.members) if members is not None else set()
        unknown = [k for k in kws if k not in known]
        if unknown:
            problems.append(f"{file}:{line} {service}.{op} has no parameters {unknown}")
    assert problems == []


def test_calls_made_on_an_empty_account_validate_against_the_models(cloud, account, monkeypatch):
    """Run every lab's checks and validate each request's parameters as botocore would for AWS."""
    from checker import session as session_mod

    seen = []
    real_make = session_mod._make_client

    def recording(where, service):
        client = real_make(where, service)

        def record(params, model, **_):
            seen.append((service, model.name, dict(params)))

        client.meta.events.register("provide-client-params", record)
        return client

    monkeypatch.setattr(session_mod, "_make_client", recording)
    for lab_id in registry.lab_ids():
        where = session_mod.Target(cloud.endpoint, account, "test", "us-east-1")
        result = runner.run_lab(lab_id, where)
        assert not any("ParamValidation" in r.message for r in result.results)
    assert seen
    models = botocore.session.get_session()
    for service, op, params in seen:
        shape = models.get_service_model(service).operation_model(op).input_shape
        if shape is not None:
            validate_parameters(params, shape)  # raises ParamValidationError on a bad call
        assert is_read_only(op), f"{service}.{op} is not read-only"


def test_check_command_exit_codes_without_lab_or_cloud():
    from tests.conftest import free_port

    out = subprocess.run([sys.executable, "-m", "workshop", "check", "nope-lab"], capture_output=True, text=True)
    assert out.returncode == 2 and "no lab" in out.stderr
    out = subprocess.run([sys.executable, "-m", "workshop", "check", registry.lab_ids()[0],
                          "--endpoint", f"http://127.0.0.1:{free_port()}", "--account", "123456789012"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "workshop up" in out.stderr and "Traceback" not in out.stderr
