"""Isolation that holds (issue 5): with the cloud running as root (as in a class,
and in CI), each account's build commands and Lambda functions run as that
account's own unprivileged user in private folders, so they cannot read or
change another learner's files or environment, nor the cloud's admin token."""

from __future__ import annotations

import json
import os
import re
import stat
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import new_account, start_cloud, stop_cloud
from tests.test_codebuild_builds import inline_project, log_text, wait_build
from tests.test_lambda_invoke import invoke, make_function

pytestmark = pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0,
    reason="the cloud isolates learners from each other when it runs as root (a class, CI); "
           "run as another user, everything runs as that one user")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    # No WORKSHOP_ADMIN_TOKEN: the cloud keeps its token in the data dir, as in a class.
    c = start_cloud(tmp_path_factory.mktemp("isolation"), extra_env={"WORKSHOP_ADMIN_TOKEN": ""})
    c.admin_token = (c.data_dir / "admin-token").read_text().strip()
    yield c
    stop_cloud(c)


def wait_log(cloud, account: str, build_id: str, pattern: str, timeout: float = 60.0) -> re.Match:
    cb = cloud.client("codebuild", account)
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        if build.get("logs", {}).get("streamName"):
            text = log_text(cloud, account, build)
            found = re.search(pattern, text)
            if found:
                return found
        if build["buildComplete"]:
            break
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} never appeared in the build's log:\n{text}")


def test_the_data_dir_is_the_clouds_alone(cloud):
    data = cloud.data_dir.stat()
    assert data.st_uid == 0 and stat.S_IMODE(data.st_mode) == 0o711   # passable, never listable
    token = (cloud.data_dir / "admin-token").stat()
    assert token.st_uid == 0 and stat.S_IMODE(token.st_mode) == 0o600


def test_a_build_cannot_read_another_accounts_build_folder(cloud):
    a, b = new_account(), new_account()
    cb_a, cb_b = cloud.client("codebuild", a), cloud.client("codebuild", b)
    inline_project(cb_b, b, "holder", textwrap.dedent("""
        version: 0.2
        env:
          variables:
            B_ONLY: b-private-value
        phases:
          build:
            commands:
              - echo "b-secret-content" > "$CODEBUILD_SRC_DIR/secret.txt"
              - echo "B reads its own file = $(cat "$CODEBUILD_SRC_DIR/secret.txt")"
              - echo "B uid=$(id -u)"
              - sleep 120
    """))
    holder = cb_b.start_build(projectName="holder")["build"]
    try:
        wait_log(cloud, b, holder["id"], r"B reads its own file = b-secret-content")
        src = wait_log(cloud, b, holder["id"], r"CODEBUILD_SRC_DIR=(\S+)").group(1)
        b_uid = wait_log(cloud, b, holder["id"], r"B uid=(\d+)").group(1)

        inline_project(cb_a, a, "thief", textwrap.dedent("""
            version: 0.2
            phases:
              build:
                commands:
                  - echo "A uid=$(id -u)"
                  - if ls "$TARGET" 2>&1; then echo LIST-ALLOWED; else echo LIST-DENIED; fi
                  - if touch "$TARGET/planted" 2>&1; then echo WRITE-ALLOWED; else echo WRITE-DENIED; fi
                  - if ls "$TARGET/../.." 2>&1; then echo ACCOUNT-ALLOWED; else echo ACCOUNT-DENIED; fi
                  - if cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -q b-private-value; then echo ENV-SEEN; else echo ENV-HIDDEN; fi
                  - cat "$TARGET/secret.txt"
        """), environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                           "computeType": "BUILD_GENERAL1_SMALL",
                           "environmentVariables": [{"name": "TARGET", "value": src}]})
        thief = wait_build(cb_a, cb_a.start_build(projectName="thief")["build"]["id"])
        text = log_text(cloud, a, thief)
        assert thief["buildStatus"] == "FAILED", text            # reading B's folder fails the build
        assert "Permission denied" in text and "b-secret-content" not in text
        for denied in ("LIST-DENIED", "WRITE-DENIED", "ACCOUNT-DENIED", "ENV-HIDDEN"):
            assert denied in text, text
        a_uid = re.search(r"A uid=(\d+)", text).group(1)
        assert a_uid != b_uid and "0" not in (a_uid, b_uid)
        assert not os.path.exists(os.path.join(src, "planted"))
        assert os.path.isfile(os.path.join(src, "secret.txt"))    # B's build still has its file
    finally:
        cb_b.stop_build(id=holder["id"])
        wait_build(cb_b, holder["id"])


PROBE = """
    import json, os

    def attempt(action, path):
        try:
            result = action(path)
            return "allowed: " + (result if isinstance(result, str) else json.dumps(result))[:80]
        except PermissionError:
            return "PermissionError"
        except OSError as exc:
            return type(exc).__name__

    def handler(event, context):
        mine = os.path.join(os.environ["HOME"], "mine.txt")
        with open(mine, "w") as out:
            out.write("function-private " + context.function_name)
        scratch = "/tmp/scratch-" + context.function_name
        with open(scratch, "w") as out:
            out.write("scratch of " + context.function_name)
        read = lambda p: open(p).read()
        return {
            "uid": os.getuid(), "mine": mine, "scratch": scratch,
            "reads": {p: attempt(read, p) for p in event.get("read", [])},
            "lists": {p: attempt(os.listdir, p) for p in event.get("list", [])},
            "env_has_admin_token": any("ADMIN_TOKEN" in k for k in os.environ),
        }
"""


def test_a_function_cannot_read_the_admin_token_or_another_accounts_files(cloud):
    a, b = new_account(), new_account()
    make_function(cloud, b, "keeper", PROBE)
    _, theirs = invoke(cloud.client("lambda", b), "keeper", {"read": []})
    make_function(cloud, a, "prober", PROBE)
    token, state = str(cloud.data_dir / "admin-token"), str(cloud.data_dir / "state")
    response, mine = invoke(cloud.client("lambda", a), "prober", {
        "read": [token, theirs["mine"], theirs["scratch"]],
        "list": [str(cloud.data_dir), state, os.path.dirname(theirs["mine"])],
    })
    assert "FunctionError" not in response, mine
    assert mine["reads"] == {token: "PermissionError", theirs["mine"]: "PermissionError",
                             theirs["scratch"]: "PermissionError"}
    assert mine["lists"] == {str(cloud.data_dir): "PermissionError", state: "PermissionError",
                             os.path.dirname(theirs["mine"]): "PermissionError"}
    assert mine["env_has_admin_token"] is False
    assert 0 not in (mine["uid"], theirs["uid"]) and mine["uid"] != theirs["uid"]
    # Each reads its own.
    _, again = invoke(cloud.client("lambda", b), "keeper", {"read": [theirs["mine"], theirs["scratch"]]})
    assert again["reads"] == {theirs["mine"]: "allowed: function-private keeper",
                              theirs["scratch"]: "allowed: scratch of keeper"}
    assert json.dumps(again).count("PermissionError") == 0


def test_links_a_build_plants_in_its_folder_do_not_lead_the_cloud_astray(cloud, tmp_path_factory):
    """The cloud writes each command's script into the build's state folder and reads the
    final environment back from it: a build that plants links there under those names must
    neither overwrite a file of the cloud's nor read one back into its exported variables."""
    import tempfile

    account = new_account()
    private = tempfile.mkdtemp(prefix="cloud-only-")            # 0700 root: no learner reaches it
    victim, secret = os.path.join(private, "victim.txt"), os.path.join(private, "secret.json")
    with open(victim, "w") as out:
        out.write("original")
    with open(secret, "w") as out:
        json.dump({"X": "cloud-secret"}, out)
    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "planter", textwrap.dedent(f"""
        version: 0.2
        env:
          variables:
            X: mine
          exported-variables: [X]
        phases:
          build:
            commands:
              - STATE="$(dirname "$CODEBUILD_SRC_DIR")/state"; ln -s {victim} "$STATE/command-3.sh"; ln -s {secret} "$STATE/final-env.json"
              - echo two
              - echo three-ran
    """))
    build = wait_build(cb, cb.start_build(projectName="planter")["build"]["id"])
    text = log_text(cloud, account, build)
    with open(victim) as handle:
        assert handle.read() == "original"
    assert "three-ran" in text
    assert "cloud-secret" not in json.dumps(build.get("exportedEnvironmentVariables", [])) + text


HOOK_PROBE = """#!/bin/sh
out="$WORKSHOP_INSTANCE_ROOT/probe.log"
echo "uid=$(id -u)" > "$out"
if cat "$TARGET_FILE" >> "$out" 2>/dev/null; then echo READ-ALLOWED >> "$out"; else echo READ-DENIED >> "$out"; fi
if ls "$TARGET_DIR" >> "$out" 2>/dev/null; then echo LIST-ALLOWED >> "$out"; else echo LIST-DENIED >> "$out"; fi
if touch "$TARGET_DIR/planted" 2>/dev/null; then echo WRITE-ALLOWED >> "$out"; else echo WRITE-DENIED >> "$out"; fi
if cat "$TOKEN" >> "$out" 2>/dev/null; then echo TOKEN-READ >> "$out"; else echo TOKEN-DENIED >> "$out"; fi
echo "own-root-writable" > "$WORKSHOP_INSTANCE_ROOT/mine.txt"
"""


def _deploy(cloud, account: str, instance: str, files: dict[str, str]) -> dict:
    from tests.test_codedeploy_lambda import finished
    from tests.test_codedeploy_server import bundle, register, server_group, upload

    register(cloud, account, [instance], [{"Key": "Role", "Value": "web"}])
    cd = server_group(cloud, account, "fleet", "CodeDeployDefault.AllAtOnce",
                      onPremisesInstanceTagFilters=[{"Key": "Role", "Value": "web", "Type": "KEY_AND_VALUE"}])
    revision = upload(cloud, account, "app.zip", bundle(files))
    deployment = cd.create_deployment(applicationName="shop", deploymentGroupName="fleet", revision=revision)
    return finished(cd, deployment["deploymentId"])


def test_a_deployment_hook_cannot_read_another_accounts_instance_or_the_admin_token(cloud):
    from tests.test_codedeploy_server import instance_root

    a, b = new_account(), new_account()
    spec = "version: 0.0\nos: linux\nfiles:\n  - source: /site\n    destination: /srv\nhooks:\n  {event}:\n" \
           "    - location: hook.sh\n"
    held = _deploy(cloud, b, "b-1", {"appspec.yml": spec.format(event="AfterInstall"),
                                     "site/secret.txt": "b-instance-secret\n",
                                     "hook.sh": "#!/bin/sh\necho b-hook-ran > \"$WORKSHOP_INSTANCE_ROOT/b.txt\"\n"})
    assert held["status"] == "Succeeded", held
    b_root = instance_root(cloud, b, "b-1")
    assert (b_root / "srv" / "secret.txt").read_text() == "b-instance-secret\n"

    probe = HOOK_PROBE.replace("$TARGET_FILE", str(b_root / "srv" / "secret.txt")) \
        .replace("$TARGET_DIR", str(b_root)).replace("$TOKEN", str(cloud.data_dir / "admin-token"))
    done = _deploy(cloud, a, "a-1", {"appspec.yml": spec.format(event="ApplicationStart"),
                                     "site/index.html": "a\n", "hook.sh": probe})
    assert done["status"] == "Succeeded", done
    a_root = instance_root(cloud, a, "a-1")
    text = (a_root / "probe.log").read_text()
    for denied in ("READ-DENIED", "LIST-DENIED", "WRITE-DENIED", "TOKEN-DENIED"):
        assert denied in text, text
    assert "b-instance-secret" not in text and cloud.admin_token not in text
    uid = re.search(r"uid=(\d+)", text).group(1)
    assert uid != "0" and (a_root / "mine.txt").read_text() == "own-root-writable\n"
    assert (a_root / "srv" / "index.html").stat().st_uid == int(uid)   # the agent's copies are the account's
    assert not (b_root / "planted").exists() and (b_root / "b.txt").read_text() == "b-hook-ran\n"


KERNEL_PROBE = '''
import json, os
probe = {"uid": os.getuid(), "cwd": os.getcwd(), "cwd_files": sorted(os.listdir(".")), "env_has_admin_token": "WORKSHOP_ADMIN_TOKEN" in os.environ}
for name, path in TARGETS.items():
    try:
        with open(path) as handle:
            probe[name] = "read: " + handle.read(40)
    except OSError as exc:
        probe[name] = type(exc).__name__
try:
    with open(OTHER_FOLDER + "/planted.txt", "w") as handle:
        handle.write("planted")
    probe["plant"] = "written"
except OSError as exc:
    probe["plant"] = type(exc).__name__
with open("own.txt", "w") as handle:
    probe["own"] = handle.write("mine")
print("PROBE " + json.dumps(probe))
'''


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's own
def test_an_autograde_kernel_runs_as_an_unprivileged_user_and_reads_nothing_of_others(cloud, tmp_path):
    """nbgrader runs a learner's submitted code; as root, the grader gives it a
    borrowed pool user and a private copy of the submission: it reads neither the
    cloud's admin token, nor the roster's keys, nor another learner's submission."""
    import shutil
    import tempfile

    import nbformat

    from workshop.grading import Course

    # A course as an instructor's umask leaves it: readable by everyone.
    root = Path(tempfile.mkdtemp(prefix="workshop-course-"))
    os.chmod(root, 0o755)
    try:
        course = Course.create(root / "course", ["04-iac"])
        os.chmod(root / "course", 0o755)
        release = course.path("release", "04-iac")
        other = course.submit("04-iac", "other-learner", release)
        keys = root / "course" / "roster-keys.csv"
        keys.write_text("learner,secret\nother-learner,other-secret\n")
        os.chmod(keys, 0o644)

        mine = tmp_path / "mine"
        shutil.copytree(release, mine)
        path = mine / "04-iac.ipynb"
        nb = nbformat.read(path, as_version=4)
        targets = {"token": str(cloud.data_dir / "admin-token"), "keys": str(keys),
                   "other": str(other / "04-iac.ipynb")}
        source = f"TARGETS = {targets!r}\nOTHER_FOLDER = {str(other)!r}\n" + KERNEL_PROBE
        nb.cells.insert(0, nbformat.v4.new_code_cell(source))
        nbformat.write(nb, path)
        course.submit("04-iac", "prober", mine)

        grades = course.autograde("04-iac", "prober", cloud.env(new_account()))
        assert grades and all(g.score == 0 for g in grades)   # an unsolved lab, graded as ever

        graded = nbformat.read(course.path("autograded", "prober", "04-iac", "04-iac.ipynb"), as_version=4)
        text = "".join(o.get("text", "") for o in graded.cells[0].outputs)
        probe = json.loads(text.split("PROBE ", 1)[1])
        assert probe["uid"] != 0, probe
        assert probe["token"] == "PermissionError" and probe["keys"] == "PermissionError", probe
        assert probe["other"] == "PermissionError" and probe["plant"] == "PermissionError", probe
        assert probe["env_has_admin_token"] is False
        assert "04-iac.ipynb" in probe["cwd_files"] and probe["own"] == 4   # its own copy, writable
        assert not (other / "planted.txt").exists()
        assert stat.S_IMODE((root / "course").stat().st_mode) & 0o077 == 0   # closed for grading
        # The kernel ran in its box's copy of the submission; the box is gone. (Not
        # "no workshop-grade-* in /tmp": another test's grading may be running on
        # another pytest worker.)
        box = Path(probe["cwd"]).parent
        assert box.name.startswith("workshop-grade-") and box.parent == Path(tempfile.gettempdir())
        assert not box.exists(), "the kernel's box was left"
    finally:
        shutil.rmtree(root, ignore_errors=True)
