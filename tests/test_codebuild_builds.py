"""CodeBuild builds that really run (issue 3): the sample app's real tests
fail on the planted bug and pass after the fix, with the report, logs and
artifact to show it; buildspec phases, variables, transitions, stop, bad
buildspecs, and two accounts that never see each other's builds."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_APP = ROOT / "sample-app"
IMAGE = "aws/codebuild/standard:7.0"


# -- helpers (the other CodeBuild test files use them too) ---------------------

def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/codebuild-service-role"


def environment(**extra) -> dict:
    return {"type": "LINUX_CONTAINER", "image": IMAGE, "computeType": "BUILD_GENERAL1_SMALL", **extra}


def inline_project(cb, account: str, name: str, spec: str, **kwargs) -> dict:
    """A NO_SOURCE project with an inline buildspec."""
    params = dict(name=name, source={"type": "NO_SOURCE", "buildspec": spec},
                  artifacts={"type": "NO_ARTIFACTS"}, environment=environment(), serviceRole=role(account))
    params.update(kwargs)
    return cb.create_project(**params)["project"]


def zip_dir(folder: Path, skip=("__pycache__", ".pytest_cache")) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(part in skip for part in path.parts):
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def gate_file() -> Path:
    """A path that builds can watch for: as root, the cloud runs builds as unprivileged
    users, who cannot reach pytest's tmp_path (0700)."""
    folder = Path(tempfile.mkdtemp(prefix="codebuild-gate-"))
    folder.chmod(0o755)
    return folder / "go"


def wait_build(cb, build_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildComplete"]:
            return build
        time.sleep(0.1)
    raise AssertionError(f"build {build_id} did not finish in {timeout} s: {build['currentPhase']}")


def wait_phase(cb, build_id: str, phase: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        if build["currentPhase"] == phase or build["buildComplete"]:
            return build
        time.sleep(0.05)
    raise AssertionError(f"build {build_id} never reached {phase}")


def run(cb, project: str, **overrides) -> dict:
    build = cb.start_build(projectName=project, **overrides)["build"]
    return wait_build(cb, build["id"])


def phases(build: dict) -> dict:
    return {p["phaseType"]: p for p in build["phases"]}


def log_text(cloud, account: str, build: dict) -> str:
    logs = cloud.client("logs", account)
    events = logs.get_log_events(logGroupName=build["logs"]["groupName"],
                                 logStreamName=build["logs"]["streamName"], startFromHead=True)["events"]
    return "\n".join(e["message"] for e in events)


def build_processes(build_id: str) -> list[int]:
    """Processes on this machine that belong to a build (Linux /proc)."""
    marker = f"CODEBUILD_BUILD_ID={build_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def sample_app_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "sample-app"
    shutil.copytree(SAMPLE_APP, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "reports"))
    return dest


def plant_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("plant_bug", SAMPLE_APP / "tools" / "plant_bug.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the sample app, built from S3 ------------------------------------------------

def test_sample_app_build_fails_on_the_planted_bug_and_succeeds_after_the_fix(cloud, account, tmp_path):
    s3, cb = cloud.client("s3", account), cloud.client("codebuild", account)
    bucket = f"lab02-{account}-us-east-1"
    s3.create_bucket(Bucket=bucket)
    app = sample_app_copy(tmp_path)
    tool = plant_tool()
    assert tool.plant(app)
    s3.put_object(Bucket=bucket, Key="source/sample-app.zip", Body=zip_dir(app))
    cb.create_project(
        name="sample-app", source={"type": "S3", "location": f"{bucket}/source/sample-app.zip"},
        artifacts={"type": "S3", "location": bucket, "path": "artifacts", "packaging": "ZIP",
                   "name": "sample-app.zip"},
        environment=environment(), serviceRole=role(account))

    failed = run(cb, "sample-app")
    assert failed["buildStatus"] == "FAILED"
    by_type = phases(failed)
    assert by_type["BUILD"]["phaseStatus"] == "FAILED"
    assert by_type["BUILD"]["contexts"][0]["statusCode"] == "COMMAND_EXECUTION_ERROR"
    assert "pytest" in by_type["BUILD"]["contexts"][0]["message"]
    assert by_type["POST_BUILD"]["phaseStatus"] == "SUCCEEDED"  # post_build runs after a failed build
    assert "Tests finished; build succeeding = 0" in log_text(cloud, account, failed)

    report_arn, = failed["reportArns"]
    report = cb.batch_get_reports(reportArns=[report_arn])["reports"][0]
    assert report["status"] == "FAILED"
    assert report["testSummary"]["total"] == 17
    assert report["testSummary"]["statusCounts"]["FAILED"] == 1
    failing = cb.describe_test_cases(reportArn=report_arn, filter={"status": "FAILED"})["testCases"]
    assert [c["name"] for c in failing] == ["test_bulk_discount_starts_at_ten"]
    assert failing[0]["prefix"] == "tests.test_pricing"
    assert "AssertionError" in failing[0]["message"]
    group_arn = report["reportGroupArn"]
    group = cb.batch_get_report_groups(reportGroupArns=[group_arn])["reportGroups"][0]
    assert group["name"] == "sample-app-unit-tests"

    # The learner's fix, uploaded as the new source.
    assert tool.fix(app)
    s3.put_object(Bucket=bucket, Key="source/sample-app.zip", Body=zip_dir(app))
    passed = run(cb, "sample-app")
    assert passed["buildStatus"] == "SUCCEEDED", phases(passed)
    assert passed["buildNumber"] == failed["buildNumber"] + 1
    assert passed["exportedEnvironmentVariables"] == [{"name": "APP_VERSION", "value": "1.0.0"}]
    report = cb.batch_get_reports(reportArns=passed["reportArns"])["reports"][0]
    assert report["status"] == "SUCCEEDED"
    assert report["testSummary"]["statusCounts"]["SUCCEEDED"] == 17
    reports = cb.list_reports_for_report_group(reportGroupArn=group_arn)["reports"]
    assert reports == passed["reportArns"] + failed["reportArns"]  # newest first

    log = log_text(cloud, account, passed)
    assert "17 passed" in log and "Phase complete: BUILD State: SUCCEEDED" in log

    assert passed["artifacts"]["location"] == f"arn:aws:s3:::{bucket}/artifacts/sample-app.zip"
    body = s3.get_object(Bucket=bucket, Key="artifacts/sample-app.zip")["Body"].read()
    names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert {"app/__init__.py", "app/pricing.py", "app/service.py", "app/__main__.py", "VERSION",
            "README.md"} <= names
    assert not any(n.startswith("tests/") or "__pycache__" in n for n in names)
    import hashlib
    assert passed["artifacts"]["md5sum"] == hashlib.md5(body).hexdigest()


# -- buildspec behaviour ------------------------------------------------------------

def test_variables_parameters_secrets_and_exports(cloud, account):
    cb, ssm, sm = (cloud.client(s, account) for s in ("codebuild", "ssm", "secretsmanager"))
    ssm.put_parameter(Name="/lab02/db-host", Value="db.internal", Type="String")
    ssm.put_parameter(Name="/lab02/token", Value="s3cr3t", Type="SecureString")
    sm.create_secret(Name="lab02/creds", SecretString=json.dumps({"user": "ada", "password": "hunter22"}))
    spec = """
version: 0.2
env:
  variables:
    FROM_SPEC: spec
    LAYERED: spec
  parameter-store:
    DB_HOST: /lab02/db-host
  secrets-manager:
    DB_USER: lab02/creds:user
  exported-variables:
    - RESULT
    - NEVER_SET
phases:
  build:
    commands:
      - export RESULT="$FROM_SPEC/$LAYERED/$FROM_PROJECT/$DB_HOST/$DB_USER/$TOKEN/$WHOLE"
      - echo "admin token is [${WORKSHOP_ADMIN_TOKEN:-absent}]"
      - echo "token $TOKEN and password $WHOLE"
"""
    inline_project(cb, account, "vars", spec, environment=environment(environmentVariables=[
        {"name": "LAYERED", "value": "project", "type": "PLAINTEXT"},
        {"name": "FROM_PROJECT", "value": "p", "type": "PLAINTEXT"},
        {"name": "TOKEN", "value": "/lab02/token", "type": "PARAMETER_STORE"},
        {"name": "WHOLE", "value": "lab02/creds:password", "type": "SECRETS_MANAGER"}]))
    build = run(cb, "vars")
    assert build["buildStatus"] == "SUCCEEDED"
    exported = {v["name"]: v["value"] for v in build["exportedEnvironmentVariables"]}
    assert exported == {"RESULT": "spec/project/p/db.internal/ada/s3cr3t/hunter22", "NEVER_SET": ""}
    # The cloud's own process holds WORKSHOP_ADMIN_TOKEN; a build must not.
    text = log_text(cloud, account, build)
    assert "admin token is [absent]" in text
    # Values from Parameter Store and Secrets Manager are masked in the logs.
    assert "token *** and password ***" in text and "s3cr3t" not in text
    assert build["environment"]["image"] == IMAGE
    assert {v["name"] for v in build["environment"]["environmentVariables"]} == {
        "LAYERED", "FROM_PROJECT", "TOKEN", "WHOLE"}

    override = run(cb, "vars", environmentVariablesOverride=[{"name": "LAYERED", "value": "start",
                                                              "type": "PLAINTEXT"}])
    exported = {v["name"]: v["value"] for v in override["exportedEnvironmentVariables"]}
    assert exported["RESULT"] == "spec/start/p/db.internal/ada/s3cr3t/hunter22"


def test_missing_parameter_fails_the_build_with_a_message(cloud, account):
    cb = cloud.client("codebuild", account)
    spec = "version: 0.2\nenv:\n  parameter-store:\n    X: /does/not/exist\nphases:\n  build:\n    commands: [echo hi]\n"
    inline_project(cb, account, "missing-param", spec)
    build = run(cb, "missing-param")
    assert build["buildStatus"] == "FAILED"
    context = phases(build)["DOWNLOAD_SOURCE"]["contexts"][0]
    assert "/does/not/exist" in context["message"]
    assert "BUILD" not in phases(build)


def test_the_build_has_its_accounts_credentials_and_the_cloud_endpoint(cloud, account):
    cb, s3 = cloud.client("codebuild", account), cloud.client("s3", account)
    bucket = f"from-build-{account}"
    spec = f"""
version: 0.2
phases:
  build:
    commands:
      - python -c "import boto3; print('caller', boto3.client('sts').get_caller_identity()['Account'])"
      - python -c "import boto3; boto3.client('s3').create_bucket(Bucket='{bucket}')"
      - test "$CODEBUILD_SRC_DIR" = "$(pwd)"
      - test -n "$CODEBUILD_BUILD_ID" && test -n "$CODEBUILD_START_TIME"
"""
    inline_project(cb, account, "creds", spec)
    build = run(cb, "creds")
    assert build["buildStatus"] == "SUCCEEDED", phases(build)
    assert f"caller {account}" in log_text(cloud, account, build)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_one_shell_session_for_the_whole_build_in_version_02(cloud, account):
    cb = cloud.client("codebuild", account)
    spec = """
version: 0.2
env:
  exported-variables: [WHERE, LATER]
phases:
  install:
    commands:
      - mkdir -p sub && cd sub
      - export LATER=set-in-install
  build:
    commands:
      - export WHERE="$(basename "$(pwd)")"
"""
    inline_project(cb, account, "session", spec)
    build = run(cb, "session")
    exported = {v["name"]: v["value"] for v in build["exportedEnvironmentVariables"]}
    assert exported == {"WHERE": "sub", "LATER": "set-in-install"}

    # Version 0.1 runs each command in a shell of its own.
    spec_01 = spec.replace("version: 0.2", "version: 0.1").replace(
        '- export WHERE="$(basename "$(pwd)")"',
        '- test "$(pwd)" = "$CODEBUILD_SRC_DIR" && test -z "$LATER"')
    inline_project(cb, account, "separate", spec_01)
    build = run(cb, "separate")
    assert build["buildStatus"] == "SUCCEEDED", phases(build)
    exported = {v["name"]: v["value"] for v in build["exportedEnvironmentVariables"]}
    assert exported == {"WHERE": "", "LATER": ""}


def test_sh_shell(cloud, account):
    cb = cloud.client("codebuild", account)
    spec = """
version: 0.2
env:
  shell: /bin/sh
  exported-variables: [SHELL_KIND]
phases:
  build:
    commands:
      - export SHELL_KIND="${BASH_VERSION:-posix-sh}"
"""
    inline_project(cb, account, "sh-shell", spec)
    build = run(cb, "sh-shell")
    assert build["exportedEnvironmentVariables"] == [{"name": "SHELL_KIND", "value": "posix-sh"}]


def test_phase_transitions_finally_and_on_failure(cloud, account):
    cb = cloud.client("codebuild", account)
    # A failed INSTALL ends the build: no PRE_BUILD, BUILD, POST_BUILD or upload.
    inline_project(cb, account, "install-fails", """
version: 0.2
phases:
  install:
    commands: [echo installing, "false", echo never]
    finally: [echo cleanup-ran]
  build:
    commands: [echo building]
""")
    build = run(cb, "install-fails")
    assert build["buildStatus"] == "FAILED"
    seen = [p["phaseType"] for p in build["phases"]]
    assert seen == ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "FINALIZING", "COMPLETED"]
    assert phases(build)["INSTALL"]["contexts"][0]["message"] == \
        "Error while executing command: false. Reason: exit status 1"
    text = log_text(cloud, account, build)
    assert "cleanup-ran" in text and "never" not in text.replace("Running command echo never", "")

    # on-failure: CONTINUE goes on to the next phases; the build still fails.
    inline_project(cb, account, "install-continues", """
version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands: ["exit 3"]
  build:
    commands: [echo "succeeding=$CODEBUILD_BUILD_SUCCEEDING"]
""")
    build = run(cb, "install-continues")
    assert build["buildStatus"] == "FAILED"
    assert phases(build)["BUILD"]["phaseStatus"] == "SUCCEEDED"
    assert "exit status 3" in phases(build)["INSTALL"]["contexts"][0]["message"]
    assert "succeeding=0" in log_text(cloud, account, build)

    # on-failure: ABORT in BUILD skips POST_BUILD.
    inline_project(cb, account, "build-aborts", """
version: 0.2
phases:
  build:
    on-failure: ABORT
    commands: ["false"]
  post_build:
    commands: [echo post]
""")
    build = run(cb, "build-aborts")
    assert build["buildStatus"] == "FAILED"
    assert "POST_BUILD" not in phases(build)


@pytest.mark.parametrize("spec,phase,needle", [
    ("version: 0.2\nphases:\n  build:\n    commands:\n      - echo: [unclosed\n", "DOWNLOAD_SOURCE", "YAML"),
    ("version: 0.2\nphases:\n  build:\n    commands:\n      - echo key: value\n", "DOWNLOAD_SOURCE", "string type"),
    ("version: 0.3\nphases: {}\n", "DOWNLOAD_SOURCE", "version"),
    ("version: 0.2\nphases:\n  compile:\n    commands: [make]\n", "DOWNLOAD_SOURCE", "compile"),
    ("version: 0.2\nphases:\n  install:\n    runtime-versions:\n      cobol: 85\n    commands: [echo]\n",
     "INSTALL", "cobol"),
])
def test_bad_buildspec_fails_in_its_phase_with_yaml_file_error(cloud, account, spec, phase, needle):
    cb = cloud.client("codebuild", account)
    name = f"bad-{uuid.uuid4().hex[:8]}"
    inline_project(cb, account, name, spec)
    build = run(cb, name)
    assert build["buildStatus"] == "FAILED"
    failed = phases(build)[phase]
    assert failed["phaseStatus"] == "FAILED"
    assert failed["contexts"][0]["statusCode"] == "YAML_FILE_ERROR"
    assert needle in failed["contexts"][0]["message"]
    # The cloud is still there and still builds.
    inline_project(cb, account, name + "-ok", "version: 0.2\nphases:\n  build:\n    commands: [true]\n")
    assert run(cb, name + "-ok")["buildStatus"] == "SUCCEEDED"


def test_missing_buildspec_file_in_the_source(cloud, account):
    s3, cb = cloud.client("s3", account), cloud.client("codebuild", account)
    bucket = f"nobuildspec-{account}"
    s3.create_bucket(Bucket=bucket)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.md", "no buildspec here")
    s3.put_object(Bucket=bucket, Key="src.zip", Body=buffer.getvalue())
    cb.create_project(name="no-buildspec", source={"type": "S3", "location": f"{bucket}/src.zip"},
                      artifacts={"type": "NO_ARTIFACTS"}, environment=environment(), serviceRole=role(account))
    build = run(cb, "no-buildspec")
    context = phases(build)["DOWNLOAD_SOURCE"]["contexts"][0]
    assert context["statusCode"] == "YAML_FILE_ERROR" and "buildspec.yml" in context["message"]


# -- stop, progress ------------------------------------------------------------------

def test_progress_is_visible_and_stop_build_kills_the_commands(cloud, account):
    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "long", """
version: 0.2
phases:
  build:
    commands:
      - sleep 300 &
      - echo started && sleep 300
  post_build:
    commands: [echo post]
""")
    started = cb.start_build(projectName="long")["build"]
    assert started["buildStatus"] == "IN_PROGRESS" and not started["buildComplete"]
    assert [p["phaseType"] for p in started["phases"]] == ["SUBMITTED", "QUEUED"]
    running = wait_phase(cb, started["id"], "BUILD")
    assert running["buildStatus"] == "IN_PROGRESS"
    assert phases(running)["BUILD"].get("phaseStatus") is None
    assert phases(running)["PROVISIONING"]["phaseStatus"] == "SUCCEEDED"
    deadline = time.monotonic() + 30
    while "started" not in _log_or_empty(cloud, account, running) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert build_processes(started["id"]), "the build's commands should be running"

    cb.stop_build(id=started["id"])
    stopped = wait_build(cb, started["id"])
    assert stopped["buildStatus"] == "STOPPED"
    assert phases(stopped)["BUILD"]["phaseStatus"] == "STOPPED"
    assert "POST_BUILD" not in phases(stopped)
    assert stopped["phases"][-1]["phaseType"] == "COMPLETED"
    assert build_processes(started["id"]) == []  # the background sleep too


def test_an_account_gets_its_share_of_workers_and_a_queued_build_can_be_stopped(cloud, tmp_path):
    """Each account runs at most two builds at once (the cloud's four workers,
    halved): a third waits in QUEUED while another account's build runs."""
    from tests.conftest import new_account

    busy, other = new_account(), new_account()
    go = gate_file()
    cb = cloud.client("codebuild", busy)
    inline_project(cb, busy, "blocking", f"version: 0.2\nphases:\n  build:\n    commands:\n"
                                         f"      - while [ ! -f {go} ]; do sleep 0.05; done\n")
    running = [cb.start_build(projectName="blocking")["build"]["id"] for _ in range(2)]
    for build_id in running:
        wait_phase(cb, build_id, "BUILD")
    queued = cb.start_build(projectName="blocking")["build"]["id"]

    cb_other = cloud.client("codebuild", other)
    inline_project(cb_other, other, "quick", "version: 0.2\nphases:\n  build:\n    commands: [true]\n")
    assert run(cb_other, "quick")["buildStatus"] == "SUCCEEDED"  # not stuck behind `busy`

    waiting = cb.batch_get_builds(ids=[queued])["builds"][0]
    assert waiting["currentPhase"] == "QUEUED" and waiting["buildStatus"] == "IN_PROGRESS"
    cb.stop_build(id=queued)
    stopped = wait_build(cb, queued)
    assert stopped["buildStatus"] == "STOPPED"
    assert phases(stopped)["QUEUED"]["phaseStatus"] == "STOPPED"
    assert "PROVISIONING" not in phases(stopped)

    go.write_text("go")
    assert [wait_build(cb, i)["buildStatus"] for i in running] == ["SUCCEEDED", "SUCCEEDED"]


def test_pip_in_a_build_installs_into_the_build_not_the_workshop(cloud, account):
    import sys

    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "pip", f"""
version: 0.2
phases:
  build:
    commands:
      - pip --version
      - python -c "import sys, os; assert sys.prefix.startswith(os.path.dirname(os.environ['CODEBUILD_SRC_DIR'])), sys.prefix"
      - python -c "import sysconfig, os; assert sysconfig.get_paths()['purelib'].startswith(os.path.dirname(os.environ['CODEBUILD_SRC_DIR']))"
      - pip install --no-index --quiet pytest
      - test "$(python -c 'import sys; print(sys.base_prefix)')" = "{sys.base_prefix}"
""")
    build = run(cb, "pip")
    assert build["buildStatus"] == "SUCCEEDED", phases(build)
    assert "pip " in log_text(cloud, account, build)


def _log_or_empty(cloud, account, build) -> str:
    try:
        return log_text(cloud, account, build)
    except ClientError:
        return ""


# -- artifacts and logs ---------------------------------------------------------------

def test_artifact_files_base_directory_discard_paths_and_names(cloud, account):
    s3, cb = cloud.client("s3", account), cloud.client("codebuild", account)
    bucket = f"artifacts-{account}"
    s3.create_bucket(Bucket=bucket)
    spec = """
version: 0.2
phases:
  build:
    commands:
      - mkdir -p out/docs out/bin && echo a > out/docs/a.txt && echo b > out/bin/b.sh && echo c > out/skip.log
artifacts:
  base-directory: out
  files: ["**/*"]
  exclude-paths: ["*.log"]
  discard-paths: yes
  name: bundle-$CODEBUILD_BUILD_NUMBER
"""
    inline_project(cb, account, "flat", spec, artifacts={
        "type": "S3", "location": bucket, "path": "p", "namespaceType": "BUILD_ID", "packaging": "NONE",
        "overrideArtifactName": True})
    build = run(cb, "flat")
    assert build["buildStatus"] == "SUCCEEDED", phases(build)
    build_uuid = build["id"].split(":", 1)[1]
    prefix = f"p/{build_uuid}/bundle-1/"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [prefix + "a.txt", prefix + "b.sh"]
    assert build["artifacts"]["location"] == f"arn:aws:s3:::{bucket}/p/{build_uuid}/bundle-1"

    # Nothing matches: UPLOAD_ARTIFACTS fails, as AWS does.
    inline_project(cb, account, "nothing", "version: 0.2\nphases:\n  build:\n    commands: [true]\n"
                   "artifacts:\n  files: [missing/*]\n",
                   artifacts={"type": "S3", "location": bucket, "packaging": "ZIP"})
    build = run(cb, "nothing")
    upload = phases(build)["UPLOAD_ARTIFACTS"]
    assert build["buildStatus"] == "FAILED" and upload["phaseStatus"] == "FAILED"
    assert "no matching artifact paths found" in upload["contexts"][0]["message"]


def test_a_builds_stream_is_named_only_once_it_exists(cloud, account):
    """A queued build shows no group or stream (its deep link names them null, as AWS's
    does); from the moment batch_get_builds names a stream, get_log_events reads it (a
    fresh-clone CI run once saw the name before the group existed: ResourceNotFound)."""
    cb, logs = cloud.client("codebuild", account), cloud.client("logs", account)
    inline_project(cb, account, "stream-named", "version: 0.2\nphases:\n  build:\n    commands: [echo here]\n",
                   logsConfig={"cloudWatchLogs": {"status": "ENABLED", "groupName": f"fresh-{account}"}})
    build = cb.start_build(projectName="stream-named")["build"]
    assert "streamName" not in build["logs"] and "group=null;stream=null" in build["logs"]["deepLink"]
    seen = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        build = cb.batch_get_builds(ids=[build["id"]])["builds"][0]
        if build["logs"].get("streamName"):
            logs.get_log_events(logGroupName=build["logs"]["groupName"],
                                logStreamName=build["logs"]["streamName"])
            seen += 1
        if build["buildComplete"]:
            break
        time.sleep(0.02)
    assert build["buildComplete"] and seen and build["logs"]["groupName"] == f"fresh-{account}"
    assert "here" in log_text(cloud, account, build)


def test_logs_config_group_and_stream(cloud, account):
    cb, logs = cloud.client("codebuild", account), cloud.client("logs", account)
    spec = "version: 0.2\nphases:\n  build:\n    commands: [echo custom-log-line]\n"
    inline_project(cb, account, "custom-logs", spec, logsConfig={
        "cloudWatchLogs": {"status": "ENABLED", "groupName": "lab02-builds", "streamName": "sample"}})
    build = run(cb, "custom-logs")
    build_uuid = build["id"].split(":", 1)[1]
    assert build["logs"]["groupName"] == "lab02-builds"
    assert build["logs"]["streamName"] == f"sample/{build_uuid}"
    assert "custom-log-line" in log_text(cloud, account, build)

    s3 = cloud.client("s3", account)
    s3.create_bucket(Bucket=f"build-logs-{account}")
    inline_project(cb, account, "no-logs", spec, logsConfig={
        "cloudWatchLogs": {"status": "DISABLED"},
        "s3Logs": {"status": "ENABLED", "location": f"build-logs-{account}/codebuild"}})
    build = run(cb, "no-logs")
    key = f"codebuild/{build['id'].split(':', 1)[1]}.gz"
    assert build["logs"]["s3LogsArn"] == f"arn:aws:s3:::build-logs-{account}/{key}"
    import gzip
    body = gzip.decompress(s3.get_object(Bucket=f"build-logs-{account}", Key=key)["Body"].read()).decode()
    assert "custom-log-line" in body and "Phase complete: BUILD State: SUCCEEDED" in body
    assert build["buildStatus"] == "SUCCEEDED"
    assert "groupName" not in build["logs"]
    groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert "/aws/codebuild/no-logs" not in groups


# -- two accounts ----------------------------------------------------------------------

def test_two_accounts_build_at_once_and_see_nothing_of_each_other(cloud, tmp_path):
    from tests.conftest import new_account

    a, b = new_account(), new_account()
    go = gate_file()
    spec = f"""
version: 0.2
env:
  exported-variables: [SRC]
phases:
  build:
    commands:
      - export SRC="$CODEBUILD_SRC_DIR"
      - echo "secret of $CODEBUILD_BUILD_ID" > private.txt
      - while [ ! -f {go} ]; do sleep 0.05; done
artifacts:
  files: [private.txt]
"""
    clients = {}
    for account in (a, b):
        s3, cb = cloud.client("s3", account), cloud.client("codebuild", account)
        s3.create_bucket(Bucket=f"iso-{account}")
        inline_project(cb, account, "same-name", spec,
                       artifacts={"type": "S3", "location": f"iso-{account}", "packaging": "ZIP"})
        clients[account] = (s3, cb)
    ids = {acct: clients[acct][1].start_build(projectName="same-name")["build"]["id"] for acct in (a, b)}
    # Both builds are running their commands at the same time.
    for acct in (a, b):
        assert wait_phase(clients[acct][1], ids[acct], "BUILD")["currentPhase"] == "BUILD"
    go.write_text("go")
    done = {acct: wait_build(clients[acct][1], ids[acct]) for acct in (a, b)}
    assert all(d["buildStatus"] == "SUCCEEDED" for d in done.values())

    src = {acct: done[acct]["exportedEnvironmentVariables"][0]["value"] for acct in (a, b)}
    assert src[a] != src[b] and f"/{a}/" in src[a] and f"/{b}/" in src[b]
    assert not Path(src[a]).exists()  # a finished build's folder is gone

    s3_b, cb_b = clients[b]
    found = cb_b.batch_get_builds(ids=[ids[a]])
    assert found["builds"] == [] and found["buildsNotFound"] == [ids[a]]
    assert ids[a] not in cb_b.list_builds()["ids"]
    with pytest.raises(ClientError) as err:
        cloud.client("logs", b).get_log_events(logGroupName=done[a]["logs"]["groupName"],
                                               logStreamName=done[a]["logs"]["streamName"])
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"

    # B's build pointed at A's bucket (source or artifacts) is refused.
    inline_project(cb_b, b, "steal-artifacts", "version: 0.2\nphases:\n  build:\n    commands: [echo x > f]\n"
                   "artifacts:\n  files: [f]\n", artifacts={"type": "S3", "location": f"iso-{a}"})
    stolen = run(cb_b, "steal-artifacts")
    assert "AccessDenied" in phases(stolen)["UPLOAD_ARTIFACTS"]["contexts"][0]["message"]
    cb_b.create_project(name="steal-source", source={"type": "S3", "location": f"iso-{a}/same-name"},
                        artifacts={"type": "NO_ARTIFACTS"}, environment=environment(), serviceRole=role(b))
    stolen = run(cb_b, "steal-source")
    assert "AccessDenied" in phases(stolen)["DOWNLOAD_SOURCE"]["contexts"][0]["message"]
    # B's build looking for A's build folder finds nothing there.
    inline_project(cb_b, b, "peek", f"version: 0.2\nphases:\n  build:\n    commands: [ls {src[a]}]\n")
    assert run(cb_b, "peek")["buildStatus"] == "FAILED"


# -- resets ---------------------------------------------------------------------------

def test_resetting_the_account_stops_its_builds_and_deletes_their_folders(cloud, account):
    import urllib.request

    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "forever", "version: 0.2\nenv:\n  exported-variables: [X]\n"
                   "phases:\n  build:\n    commands: [sleep 300]\n")
    build_id = cb.start_build(projectName="forever")["build"]["id"]
    wait_phase(cb, build_id, "BUILD")
    deadline = time.monotonic() + 30
    while not build_processes(build_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert build_processes(build_id)
    folder = cloud.data_dir / "state" / "codebuild" / account
    assert folder.exists()

    request = urllib.request.Request(f"{cloud.endpoint}/_workshop/accounts/{account}/reset", method="POST",
                                     headers={"x-workshop-admin-token": cloud.admin_token})
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200
    assert build_processes(build_id) == []
    assert not folder.exists()
    assert cb.list_projects()["projects"] == []
    assert cb.list_builds()["ids"] == []
