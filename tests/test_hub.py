"""JupyterHub for a class (hub/): a roster run through `workshop accounts`, the hub
started with the project's config (dummy log-in, local process spawner, the cloud in
class mode as its managed service). Two learners log in through the hub's pages, start
their servers, and build from their own kernels with plain boto3 and the environment the
hub gave them: each sees only their own resources, a made-up secret is refused, and the
instructor's `workshop grade` sees both learners' work. The config without a roster, and
the Zero to JupyterHub values, are checked without starting anything."""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pytest
import yaml

from tests.conftest import ADMIN_TOKEN, ROOT, free_port, wait_healthy

CONFIG = ROOT / "hub" / "jupyterhub_config.py"
LEARNERS = ["alice", "bob", "carol"]  # carol never logs in: a row of fails in the report
INSTRUCTOR = "teacher"
SPAWN_TIMEOUT = 180.0
# Lab 04 up to its deployed stack, as a learner answers it (the solution's cells).
LAB04_CELLS = ("setup", "template", "helpers", "deploy")


def _require_hub():
    missing = []
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        missing.append("jupyterhub (pip install jupyterhub)")
    if shutil.which("configurable-http-proxy") is None:
        missing.append("configurable-http-proxy (npm install -g configurable-http-proxy)")
    if missing:
        reason = "the hub test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason + "; .ci/run installs both")
        pytest.skip(reason)


class Hub:
    """`jupyterhub -f hub/jupyterhub_config.py` on free ports, its state in ``state``."""

    def __init__(self, tmp: Path, state: Path, env: dict):
        self.port, self.cloud_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.endpoint = f"http://localhost:{self.cloud_port}"
        self.instructor_token = secrets.token_hex(16)
        self.log = tmp / "hub.log"
        env = dict(env, WORKSHOP_HUB_DIR=str(state), WORKSHOP_HUB_CLOUD_PORT=str(self.cloud_port),
                   WORKSHOP_HUB_INSTRUCTORS=INSTRUCTOR, WORKSHOP_HUB_INSTRUCTOR_TOKEN=self.instructor_token,
                   WORKSHOP_ADMIN_TOKEN=ADMIN_TOKEN)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(CONFIG),
             f"--JupyterHub.bind_url={self.url}",
             f"--JupyterHub.hub_bind_url=http://127.0.0.1:{free_port()}",
             f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}"],
            cwd=tmp, env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        try:
            wait_healthy(f"{self.url}/hub/api/", timeout=90, proc=self.proc)
            wait_healthy(f"{self.endpoint}/_workshop/health", timeout=90, proc=self.proc)
        except Exception as exc:
            raise AssertionError(f"{exc}\n{self.output()[-4000:]}") from None

    def api(self, method: str, path: str, token: str, **kwargs):
        import requests

        return requests.request(method, f"{self.url}/hub/api{path}", timeout=60,
                                headers={"Authorization": f"token {token}"}, **kwargs)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()  # the hub stops the servers it spawned and the cloud service
        try:
            return self.proc.wait(90)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def _xsrf(session) -> str:
    return next(c.value for c in session.cookies if c.name == "_xsrf")


def log_in(hub: Hub, name: str):
    """The hub's log-in form, as a browser fills it; returns (status, session)."""
    import requests

    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=30)
    resp = session.post(f"{hub.url}/hub/login", data={"username": name, "password": "anything",
                                                       "_xsrf": _xsrf(session)},
                        allow_redirects=False, timeout=30)
    return resp.status_code, session


def learner_token(hub: Hub, name: str) -> str:
    """Log in and make an API token on the learner's own behalf (what the hub's Token page does)."""
    status, session = log_in(hub, name)
    assert status == 302, f"{name} could not log in ({status})"
    resp = session.post(f"{hub.url}/hub/api/users/{name}/tokens", json={"note": "test", "expires_in": 3600},
                        headers={"X-XSRFToken": _xsrf(session)}, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()["token"]


def wait_for_server(hub: Hub, name: str, token: str) -> None:
    deadline = time.monotonic() + SPAWN_TIMEOUT
    while time.monotonic() < deadline:
        server = hub.api("GET", f"/users/{name}", token).json()["servers"].get("")
        if server and server["ready"]:
            return
        if hub.proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"{name}'s server did not start:\n{hub.output()[-4000:]}")


def run_in_kernel(hub: Hub, name: str, token: str, code: str) -> str:
    """Open lab 04's notebook in the learner's server through its REST API (a session: a
    kernel in the notebook's folder) and run ``code`` over the kernel's websocket, as
    JupyterLab does; return what it printed."""
    import requests
    import websocket  # websocket-client, a jupyter_server dependency

    base, auth = f"{hub.url}/user/{name}", {"Authorization": f"token {token}"}
    resp = requests.post(f"{base}/api/sessions", headers=auth, timeout=60, json={
        "path": "04-iac/04-iac.ipynb", "name": "04-iac.ipynb", "type": "notebook", "kernel": {"name": "python3"}})
    assert resp.status_code == 201, resp.text
    session, kernel = resp.json()["id"], resp.json()["kernel"]["id"]
    ws = websocket.create_connection(f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels",
                                     header=[f"Authorization: token {token}"], timeout=120)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": name, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        printed = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])
            elif message["msg_type"] == "error":
                raise AssertionError(f"{name}'s kernel: " + "\n".join(message["content"]["traceback"]))
            elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                return "".join(printed)
        raise AssertionError(f"{name}'s kernel did not finish in time")
    finally:
        ws.close()
        requests.delete(f"{base}/api/sessions/{session}", headers=auth, timeout=60)


def run(hub: Hub, name: str, token: str, code: str) -> dict:
    """Run code in the learner's own server; it prints one JSON line."""
    return json.loads(run_in_kernel(hub, name, token, code).strip().splitlines()[-1])


def lab04_answer() -> str:
    solution = nbformat.read(ROOT / "solutions" / "04-iac" / "04-iac.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in solution.cells}
    return "\n\n".join(cells[grade_id] for grade_id in LAB04_CELLS)


LEARNER_WORK = """
import json, os
import boto3
from botocore.exceptions import ClientError

me = boto3.client("sts").get_caller_identity()["Account"]
boto3.client("s3").create_bucket(Bucket=f"hub-notes-{me}")
boto3.client("cloudformation").create_stack(
    StackName="hub-notes", TemplateBody=json.dumps({"Resources": {"Notes": {"Type": "AWS::SNS::Topic"}}}))
"""

LOOK_AROUND = """
import json, os
import boto3
from botocore.exceptions import ClientError

def attempt(path):
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        return "read"
    except OSError as exc:
        return type(exc).__name__

def refused(key, secret):
    try:
        boto3.client("sts", aws_access_key_id=key, aws_secret_access_key=secret).get_caller_identity()
    except ClientError as err:
        return err.response["ResponseMetadata"]["HTTPStatusCode"]
    return None

cfn = boto3.client("cloudformation")
print(json.dumps({
    "account": boto3.client("sts").get_caller_identity()["Account"],
    "env": {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "WORKSHOP_ACCOUNT",
                                           "AWS_DEFAULT_REGION")},
    "hub_secrets": sorted(k for k in os.environ if k in ("WORKSHOP_ADMIN_TOKEN", "CONFIGPROXY_AUTH_TOKEN",
                          "WORKSHOP_HUB_INSTRUCTOR_TOKEN", "WORKSHOP_CLASS_KEYS")),
    "cwd": os.getcwd(),
    "files": sorted(os.listdir(".")),
    "buckets": sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]),
    "stacks": sorted(s["StackId"] for s in cfn.describe_stacks()["Stacks"]),
    "made_up_secret": refused(os.environ["AWS_ACCESS_KEY_ID"], "made-up-secret"),
    "other_key": refused(OTHER_KEY, "made-up-secret"),
    "uid": os.getuid(),
    "reads": {name: attempt(path) for name, path in TRY_TO_READ.items()},
}))
"""


@pytest.mark.slow
def test_two_learners_on_the_hub_see_only_their_own_work_and_the_instructor_grades_both(tmp_path):
    _require_hub()
    roster = tmp_path / "roster.csv"
    roster.write_text("learner,email\n" + "".join(f"{n},{n}@example.com\n" for n in LEARNERS))
    issued = subprocess.run([sys.executable, "-m", "workshop", "accounts", str(roster)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert issued.returncode == 0, issued.stderr
    with roster.open(newline="") as handle:
        accounts = {row["learner"]: row["account_id"] for row in csv.DictReader(handle)}

    # Not under pytest's basetemp (0700): as root, the cloud hands folders to unprivileged users.
    state = Path(tempfile.mkdtemp(prefix="workshop-hub-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WORKSHOP_", "JUPYTER"))}
    env["WORKSHOP_ROSTER"] = str(roster)
    hub = Hub(tmp_path, state, env)
    try:
        hub.wait_ready()

        # Only the roster's learners (and the instructor) may log in.
        assert log_in(hub, "mallory")[0] == 403
        tokens = {name: learner_token(hub, name) for name in ("alice", "bob")}
        for name, token in tokens.items():
            assert hub.api("POST", f"/users/{name}/server", token).status_code in (201, 202)
        for name, token in tokens.items():
            wait_for_server(hub, name, token)

        # Each server: the learner's own copy of labs/, the workshop's JupyterLab settings,
        # no instructor extensions; nobody else's server.
        import requests

        for name, token in tokens.items():
            base, auth = f"{hub.url}/user/{name}", {"Authorization": f"token {token}"}
            listed = requests.get(f"{base}/api/contents", headers=auth, timeout=30).json()["content"]
            assert {item["name"] for item in listed} == {p.name for p in (ROOT / "labs").iterdir() if p.is_dir()}
            notification = requests.get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification",
                                        headers=auth, timeout=30).json()
            assert notification["schema"]["properties"]["fetchNews"]["default"] == "false"
            assert requests.get(f"{base}/formgrader", headers=auth, timeout=30).status_code == 404
        other = requests.get(f"{hub.url}/user/bob/api/contents", headers={"Authorization": f"token {tokens['alice']}"},
                             timeout=30, allow_redirects=False)
        assert other.status_code in (302, 403, 404), other.status_code

        # Each learner works in their own kernel: lab 04 deployed, and a bucket and a stack of their own.
        for name, token in tokens.items():
            run_in_kernel(hub, name, token, LEARNER_WORK + "\n" + lab04_answer())

        def look_around(name: str) -> str:
            other_name = "bob" if name == "alice" else "alice"
            targets = {"other_learner": str(state / "users" / other_name / "labs" / "04-iac" / "template.yaml"),
                       "hub_database": str(state / "jupyterhub.sqlite"),
                       "cookie_secret": str(state / "jupyterhub_cookie_secret")}
            return f"OTHER_KEY = {accounts[other_name]!r}\nTRY_TO_READ = {targets!r}\n" + LOOK_AROUND

        seen = {name: run(hub, name, token, look_around(name)) for name, token in tokens.items()}
        for name, other_name in (("alice", "bob"), ("bob", "alice")):
            mine, theirs = accounts[name], accounts[other_name]
            view = seen[name]
            assert view["account"] == view["env"]["WORKSHOP_ACCOUNT"] == mine
            assert view["env"]["AWS_ENDPOINT_URL"] == hub.endpoint
            assert view["env"]["AWS_DEFAULT_REGION"] == "us-east-1"
            assert view["hub_secrets"] == []
            assert Path(view["cwd"]) == state / "users" / name / "labs" / "04-iac"
            assert "template.yaml" in view["files"]  # the lab wrote into the learner's own copy
            assert view["buckets"] == sorted([f"hub-notes-{mine}", f"workshop-04-iac-{mine}-us-east-1"])
            assert len(view["stacks"]) == 2 and all(f":{mine}:" in s for s in view["stacks"])
            assert not any(theirs in b for b in view["buckets"]) and not any(theirs in s for s in view["stacks"])
            assert view["made_up_secret"] == 403
            assert view["other_key"] == 403
            if os.geteuid() == 0:  # a class server: each learner is a system user of their own
                assert view["uid"] not in (0, seen[other_name]["uid"]), (view["uid"], seen[other_name]["uid"])
                assert view["reads"] == dict.fromkeys(("other_learner", "hub_database", "cookie_secret"),
                                                      "PermissionError"), view["reads"]

        # The instructor: sees both servers through the hub (instructor token) ...
        users = {u["name"]: u for u in hub.api("GET", "/users", hub.instructor_token).json()}
        assert users["alice"]["servers"] and users["bob"]["servers"]
        assert requests.get(f"{hub.url}/user/alice/api/status", timeout=30,
                            headers={"Authorization": f"token {hub.instructor_token}"}).status_code == 200

        # ... and grades both learners' work in the cloud; carol, who never logged in, fails every check.
        report_dir = tmp_path / "report"
        graded = subprocess.run(
            [sys.executable, "-m", "workshop", "grade", "--roster", str(roster), "--labs", "04-iac",
             "--endpoint", hub.endpoint, "--out", str(report_dir)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
            env=dict(env, WORKSHOP_ADMIN_TOKEN=ADMIN_TOKEN, WORKSHOP_CLASS_KEYS=str(roster.with_name("class-keys.json"))))
        assert graded.returncode == 0, graded.stdout + graded.stderr
        report = {row["learner"]: row for row in json.loads((report_dir / "report.json").read_text())["learners"]}
        assert set(report) == set(LEARNERS)
        for name in LEARNERS:
            assert report[name]["account_id"] == accounts[name] and report[name]["error"] is None, report[name]
        deployed = {name: next(r for r in report[name]["labs"]["04-iac"]["results"]
                               if r["id"] == "04-iac.stack-deployed")["passed"] for name in LEARNERS}
        assert deployed == {"alice": True, "bob": True, "carol": False}
        assert report["carol"]["score"] == 0 < report["alice"]["score"]
    finally:
        code = hub.stop()
        shutil.rmtree(state, ignore_errors=True)
    assert code == 0, hub.output()[-4000:]


# -- the configuration, without starting a hub ------------------------------------------

def issue_accounts(tmp: Path, names: list[str]) -> tuple[Path, Path, dict]:
    """`workshop accounts` over a roster of ``names``: (roster, keys file, issued keys by name)."""
    roster = tmp / "roster.csv"
    roster.write_text("learner\n" + "".join(f"{n}\n" for n in names))
    issued = subprocess.run([sys.executable, "-m", "workshop", "accounts", str(roster)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert issued.returncode == 0, issued.stderr
    keys = roster.with_name("class-keys.json")
    return roster, keys, json.loads(keys.read_text())["learners"]


def spawner_for(name: str):
    from types import SimpleNamespace

    return SimpleNamespace(user=SimpleNamespace(name=name))


def test_without_a_roster_any_name_gets_a_stable_account_of_its_own(tmp_path, monkeypatch):
    from traitlets.config import PyFileConfigLoader

    for name in [k for k in os.environ if k.startswith("WORKSHOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WORKSHOP_HUB_DIR", str(tmp_path / "hub"))
    monkeypatch.setenv("WORKSHOP_HUB_CLOUD_PORT", "4599")
    c = PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()

    assert c.JupyterHub.authenticator_class == "dummy" and c.Authenticator.allow_all is True
    (cloud,) = c.JupyterHub.services
    assert cloud["command"][1:5] == ["-m", "workshop", "cloud", "--host"] and "--class-keys" not in cloud["command"]
    assert cloud["command"][cloud["command"].index("--port") + 1] == "4599"
    env = {name: {k: f(spawner_for(name)) for k, f in c.Spawner.environment.items()} for name in ("ann", "ben")}
    assert env["ann"]["AWS_ENDPOINT_URL"] == "http://localhost:4599"
    assert env["ann"]["AWS_ACCESS_KEY_ID"] == env["ann"]["WORKSHOP_ACCOUNT"] != env["ben"]["WORKSHOP_ACCOUNT"]
    assert env["ann"]["AWS_ACCESS_KEY_ID"].isdigit() and len(env["ann"]["AWS_ACCESS_KEY_ID"]) == 12
    again = {k: f(spawner_for("ann")) for k, f in c.Spawner.environment.items()}
    assert again == env["ann"]  # stable across spawns
    assert Path(c.Spawner.cmd[0]).name == "jupyterhub-singleuser" and Path(c.Spawner.cmd[0]).is_absolute()
    assert "nbgrader.server_extensions.formgrader=False" in c.Spawner.args

    # The learner's own copy of labs/: made on the first spawn, kept as theirs on the next.
    from types import SimpleNamespace

    spawner = SimpleNamespace(user=SimpleNamespace(name="ann"), home_dir=str(tmp_path / "hub" / "users" / "ann"))
    c.Spawner.pre_spawn_hook(spawner)
    notebook = Path(spawner.notebook_dir) / "04-iac" / "04-iac.ipynb"
    assert notebook.read_bytes() == (ROOT / "labs" / "04-iac" / "04-iac.ipynb").read_bytes()
    notebook.write_text("the learner's work")
    c.Spawner.pre_spawn_hook(spawner)
    assert notebook.read_text() == "the learner's work"


def test_z2jh_values_give_each_learner_pod_their_own_key_and_reach_the_cloud_in_the_hub_pod(tmp_path, monkeypatch):
    from traitlets.config import Config

    values = yaml.safe_load((ROOT / "hub" / "z2jh-values.yaml").read_text())
    hub, singleuser = values["hub"], values["singleuser"]
    roster, keys_path, keys = issue_accounts(tmp_path, ["ann", "ben"])
    # The paths the hub pod mounts, here.
    monkeypatch.setenv("WORKSHOP_ROSTER", str(roster))
    monkeypatch.setenv("WORKSHOP_CLASS_KEYS", str(keys_path))
    monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", "the-admin-token")
    monkeypatch.syspath_prepend(str(ROOT / "hub"))  # the image's /workshop/hub
    assert hub["extraEnv"]["WORKSHOP_ROSTER"].startswith(hub["extraVolumeMounts"][0]["mountPath"] + "/")
    assert hub["extraEnv"]["WORKSHOP_CLASS_KEYS"].startswith(hub["extraVolumeMounts"][0]["mountPath"] + "/")

    c = Config()
    c.Authenticator.admin_users = set(hub["config"]["Authenticator"]["admin_users"])
    exec(hub["extraConfig"]["workshop.py"], {"c": c})

    assert c.Authenticator.allowed_users == {"ann", "ben", "teacher"}
    (cloud,) = c.JupyterHub.services.get_value([])
    command = cloud["command"]
    port = int(command[command.index("--port") + 1])
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--class-keys") + 1] == str(keys_path)
    assert cloud["environment"]["WORKSHOP_ADMIN_TOKEN"] == "the-admin-token"
    # The cloud's port: open on the hub's Service, let in by the hub's policy, let out by the learners'.
    assert [p["port"] for p in hub["service"]["extraPorts"]] == [port]
    assert [p["port"] for rule in hub["networkPolicy"]["ingress"] for p in rule["ports"]] == [port]
    assert [p["port"] for rule in singleuser["networkPolicy"]["egress"] for p in rule["ports"]] == [port]

    environment = c.KubeSpawner.environment.get_value({})
    for name in ("ann", "ben"):
        env = {k: f(spawner_for(name)) for k, f in environment.items()}
        assert env["AWS_ENDPOINT_URL"] == f"http://hub:{port}"
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
            keys[name]["access_key_id"], keys[name]["secret_access_key"])
        assert "PATH" not in env and "WORKSHOP_ADMIN_TOKEN" not in env  # the pod's own PATH; no hub secrets
    with pytest.raises(KeyError):
        environment["AWS_ACCESS_KEY_ID"](spawner_for("mallory"))  # not on the roster: no server

    # The image's /workshop is this checkout: the settings and labs it names exist here.
    settings_arg = next(a for a in c.KubeSpawner.args if a.startswith("--LabApp.app_settings_dir="))
    assert (ROOT / Path(settings_arg.split("=", 1)[1]).relative_to("/workshop") / "overrides.json").is_file()
    hook = " ".join(singleuser["lifecycleHooks"]["postStart"]["exec"]["command"])
    assert "cp -rn /workshop/labs/. /home/jovyan/labs/" in hook and (ROOT / "labs").is_dir()
    assert c.KubeSpawner.notebook_dir == "/home/jovyan/labs"
    (role,) = c.JupyterHub.load_roles.get_value([])
    assert role["users"] == ["teacher"] and "access:servers" in role["scopes"]
