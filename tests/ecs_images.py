"""Images for the ECS tests, made with the project's own builder (`workshop image build`)
on the Python base and pushed to the test cloud's registry: the sample app (v1, and v2
with another VERSION) and an app whose container exits at start. The base is the Debian
one `workshop image base` made in the default data dir, linked into the test's data dir
(else made from the running Python)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT
from workshop.images import base, oci


def data_dir_with_base(tmp: Path) -> Path:
    data = tmp / "data"
    source = base.get()
    if source is None:
        base.make(data, "python", log=lambda *_: None)
        return data
    layout = base.layout(data)
    for digest in [source.digest, source.manifest["config"]["digest"], *[l.digest for l in source.layers]]:
        target = layout.blob_path(digest)
        if not target.exists():
            try:
                os.link(source.layout.blob_path(digest), target)
            except OSError:
                shutil.copy(source.layout.blob_path(digest), target)
    layout.tag(base.BASE_TAG, source.manifest_descriptor)
    return data


def build(cloud, account: str, data: Path, folder: Path, uri_tag: str, cmd: str | None = None) -> None:
    argv = [sys.executable, "-m", "workshop", "image", "build", str(folder), "-t", uri_tag, "--data-dir", str(data)]
    if cmd:
        argv += ["--cmd", cmd]
    proc = subprocess.run(argv, env=cloud.env(account), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def sample_app(tmp: Path, version: str) -> Path:
    folder = tmp / f"sample-app-{version}"
    shutil.copytree(ROOT / "sample-app", folder, ignore=shutil.ignore_patterns("tests", ".pytest_cache",
                                                                               "__pycache__"), dirs_exist_ok=True)
    (folder / "VERSION").write_text(version + "\n")
    return folder


def crashing_app(tmp: Path) -> Path:
    folder = tmp / "crash"
    folder.mkdir(exist_ok=True)
    (folder / "crash.py").write_text("import sys\nprint('cannot start: no database', flush=True)\nsys.exit(3)\n")
    return folder


HEALTH_CHECK = {"command": ["CMD", "python3", "-c",
                            "import os, urllib.request; urllib.request.urlopen("
                            "'http://127.0.0.1:%s/health' % os.environ['PORT'], timeout=2)"],
                "interval": 10, "timeout": 20, "retries": 5, "startPeriod": 10}


def register(ecs, family: str, image: str, log_group: str | None = None, health: bool = False) -> str:
    container = {"name": "web", "image": image, "essential": True, "portMappings": [{"containerPort": 8080}]}
    if log_group:
        container["logConfiguration"] = {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web",
            "awslogs-create-group": "true"}}
    if health:
        container["healthCheck"] = HEALTH_CHECK
    return ecs.register_task_definition(family=family, requiresCompatibilities=["EC2"], networkMode="bridge",
                                        cpu="256", memory="512", containerDefinitions=[container]
                                        )["taskDefinition"]["taskDefinitionArn"]


def wait_for(what, timeout: float = 90.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = what()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s (last: {last!r})")


def task(ecs, cluster: str, arn: str) -> dict:
    return ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def host_port(described: dict) -> int:
    return described["containers"][0]["networkBindings"][0]["hostPort"]
