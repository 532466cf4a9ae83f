"""Real container tools against the registry: podman and skopeo log in with
`aws ecr get-login-password | podman login ...`, push over plain HTTP, pull back;
describe_images shows what they pushed; an immutable tag refuses a second image;
another account's login is denied. Without podman this is a skip, in CI a failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from workshop.images import oci, podman

TOOLS = podman.tools()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def tools():
    missing = [name for name in ("podman", "skopeo", "runc") if not TOOLS[name]]
    if missing:
        message = f"{', '.join(missing)} not installed (apt-get install podman skopeo runc)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return TOOLS


@pytest.fixture
def storage():
    """podman's storage for this test (its run root must be shorter than 50 characters)."""
    root = Path(tempfile.mkdtemp(prefix="wsp-"))
    yield root
    subprocess.run(["podman", "--root", str(root / "s"), "--runroot", str(root / "r"), "system", "reset", "-f"],
                   capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


class Podman:
    def __init__(self, cloud, account: str, tmp: Path, storage: Path):
        self.host = f"127.0.0.1:{cloud.port}"
        self.env = podman.env(cloud.env(account))
        self.env["REGISTRY_AUTH_FILE"] = str(tmp / f"auth-{account}.json")
        self.storage = ["--root", str(storage / "s"), "--runroot", str(storage / "r")]

    def run(self, *args: str, tool: str = "podman", check: bool = True, stdin: str | None = None):
        cmd = [tool] + (self.storage if tool == "podman" else []) + list(args)
        proc = subprocess.run(cmd, env=self.env, input=stdin, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def login(self) -> subprocess.CompletedProcess:
        password = subprocess.run(["aws", "ecr", "get-login-password"], env=self.env, capture_output=True,
                                  text=True, check=True, timeout=60).stdout
        return self.run("login", "--username", "AWS", "--password-stdin", "--tls-verify=false", self.host,
                        stdin=password)


def _layout(tmp: Path, text: str) -> tuple[oci.Layout, str]:
    app = tmp / f"app-{abs(hash(text))}"
    app.mkdir()
    (app / "app.py").write_text(text)
    layout = oci.Layout(tmp / "layout")
    scratch = oci.write_image(layout, "scratch", [], {"architecture": "amd64", "os": "linux", "config": {}})
    name = f"app:{abs(hash(text))}"
    oci.build(layout, scratch, app, name, cmd=["python3", "app.py"])
    return layout, name


def test_podman_and_skopeo_push_and_pull_after_an_ecr_login(cloud, account, tmp_path, tools, storage):
    ecr = cloud.client("ecr", account)
    ecr.create_repository(repositoryName="web")
    ecr.create_repository(repositoryName="frozen", imageTagMutability="IMMUTABLE")
    p = Podman(cloud, account, tmp_path, storage)
    assert "Login Succeeded" in p.login().stdout
    layout, name = _layout(tmp_path, "print('v1')\n")

    # skopeo straight from the builder's layout.
    p.run("copy", "--dest-tls-verify=false", f"oci:{layout.root}:{name}", f"docker://{p.host}/web:skopeo",
          tool="skopeo")
    inspect = json.loads(p.run("inspect", "--tls-verify=false", f"docker://{p.host}/web:skopeo",
                               tool="skopeo").stdout)
    # podman: into its storage, then pushed with a tag of its own, then pulled back.
    image_id = p.run("pull", "-q", f"oci:{layout.root}:{name}").stdout.split()[-1]
    p.run("tag", image_id, f"{p.host}/web:podman")
    p.run("push", "--tls-verify=false", f"{p.host}/web:podman")
    p.run("rmi", "-f", f"{p.host}/web:podman")
    p.run("pull", "--tls-verify=false", f"{p.host}/web:podman")
    pulled = p.run("image", "inspect", f"{p.host}/web:podman").stdout
    assert json.loads(pulled)[0]["Config"]["Cmd"] == ["python3", "app.py"]

    details = {tuple(i["imageTags"]): i["imageDigest"]
               for i in ecr.describe_images(repositoryName="web", filter={"tagStatus": "TAGGED"})["imageDetails"]}
    assert details[("skopeo",)] == inspect["Digest"]
    remote = json.loads(p.run("inspect", "--tls-verify=false", f"docker://{p.host}/web:podman",
                              tool="skopeo").stdout)
    assert details[("podman",)] == remote["Digest"]

    # An immutable tag: the first push lands, a different image under the same tag is refused.
    p.run("push", "--tls-verify=false", f"{p.host}/web:podman", f"docker://{p.host}/frozen:v1")
    p.run("push", "--tls-verify=false", f"{p.host}/web:podman", f"docker://{p.host}/frozen:v1")  # the same: fine
    (tmp_path / "second").mkdir()
    other, other_name = _layout(tmp_path / "second", "print('v2')\n")
    refused = p.run("copy", "--dest-tls-verify=false", f"oci:{other.root}:{other_name}",
                    f"docker://{p.host}/frozen:v1", tool="skopeo", check=False)
    assert refused.returncode != 0 and "tag invalid" in refused.stderr.lower()
    assert len(ecr.describe_images(repositoryName="frozen")["imageDetails"]) == 1

    # Another account logs in with its own token and is denied this account's image.
    stranger = Podman(cloud, "777766665555", tmp_path, storage)
    stranger.login()
    denied = stranger.run("pull", "--tls-verify=false", f"{p.host}/web:podman", check=False)
    assert denied.returncode != 0 and "denied" in denied.stderr.lower()
    # Without any login: 401, which podman reports as an authentication failure.
    nobody = Podman(cloud, account, tmp_path / "nobody", storage)
    (tmp_path / "nobody").mkdir()
    Path(nobody.env["REGISTRY_AUTH_FILE"]).write_text('{"auths": {}}')
    anonymous = nobody.run("pull", "--tls-verify=false", f"{p.host}/web:podman", check=False)
    assert anonymous.returncode != 0 and "unauthorized" in anonymous.stderr.lower()
