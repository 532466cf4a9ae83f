"""ECS containers through podman, where the cloud chooses it (``workshop.images.podman.ecs_runtime``:
podman works and learner code runs as the cloud's own user): the image pulled from the cloud's
own registry by digest with an ECR token of the task's account, run attached (its output is the
container's log) with the project's containers.conf, ``-p 127.0.0.1:HOSTPORT:CONTAINERPORT`` per
port mapping (real bridge mode: the app sees its container port in ``PORT``), the task's memory;
health checks through ``podman exec``. Storage under ``state/ecs/podman``."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from pathlib import Path

from workshop.cloud import runtime
from workshop.cloud.services.ecs import rootfs
from workshop.images import podman

LABEL = "workshop.cloud"


def _key() -> str:
    return hashlib.sha1(str(runtime.state_dir().resolve()).encode()).hexdigest()[:10]


def storage() -> list[str]:
    # podman's run root must be a short path (its sockets' names are limited).
    root = runtime.state_dir() / "ecs" / "podman"
    return ["--root", str(root / "storage"), "--runroot", str(Path(tempfile.gettempdir()) / f"wsecs-{_key()}")]


def command(*args: str) -> list[str]:
    return ["podman", *storage(), *args]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout, env=podman.env(),
                          stdin=subprocess.DEVNULL)


def pull(account: str, region: str, reference: str) -> rootfs.Pulled:
    """The image in podman's storage, pulled by digest from the cloud's registry."""
    from workshop.cloud.services.ecr import tokens
    from workshop.cloud.services.ecr.models import registry_host

    digest, config, _ = rootfs.resolve(account, region, reference)
    _, name, _, _ = rootfs.parse(reference)
    ref = f"{registry_host()}/{name}@{digest}"
    password = tokens.issue_password(account, region, time.time() + 3600)
    done = run("pull", "--quiet", "--tls-verify=false", "--creds", f"AWS:{password}", ref, timeout=600)
    if done.returncode != 0:
        raise rootfs.PullError(f"podman pull {ref}: {done.stderr.strip()[-400:]}")
    return rootfs.Pulled(digest, Path(ref), config.get("config") or {})


def container_name(task_id: str, container: str) -> str:
    return f"ws-{_key()}-{task_id[:12]}-{container}"[:120]


def argv(name: str, pulled: rootfs.Pulled, spec: dict, env: dict[str, str], bindings: list[dict],
         memory: int, entry: list[str] | None, cmd: list[str] | None) -> list[str]:
    # No --init: catatonit is not packaged everywhere (Debian 12: missing); stopTimeout then SIGKILL.
    args = ["run", "--rm", "--name", name, "--label", f"{LABEL}={_key()}",
            "--memory", f"{max(6, memory // (1024 * 1024))}m", "--sig-proxy=true"]
    for binding in bindings:
        args += ["-p", f"127.0.0.1:{binding['hostPort']}:{binding['containerPort']}/{binding['protocol']}"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    if spec.get("workingDirectory"):
        args += ["--workdir", spec["workingDirectory"]]
    if entry is not None:
        args += ["--entrypoint", json.dumps(list(entry))]
    args.append(str(pulled.root))
    return command(*args, *(cmd or []))


def health_argv(name: str, check: list[str]) -> list[str]:
    return command("exec", name, *check)


def remove(name: str) -> None:
    try:
        run("rm", "--force", "--time", "0", name, timeout=60)
    except (OSError, subprocess.SubprocessError):
        pass


def sweep() -> None:
    """Containers a killed cloud of this state dir left behind (podman's live outside its jobs)."""
    try:
        names = run("ps", "--all", "--quiet", "--filter", f"label={LABEL}={_key()}", timeout=60).stdout.split()
        if names:
            run("rm", "--force", "--time", "0", *names, timeout=120)
    except (OSError, subprocess.SubprocessError):
        pass


def close() -> None:
    """At the cloud's exit: its containers removed (they live under conmon, outside the cloud's
    jobs), podman's mounts of its storage undone and its run root removed, so that nothing of
    podman outlives the cloud or keeps its data dir mounted."""

    import shutil

    sweep()
    root = str(runtime.state_dir() / "ecs" / "podman")
    try:
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    except OSError:
        mounts = []
    for point in sorted((m for m in mounts if m.startswith(root + "/")), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, timeout=30)
    shutil.rmtree(storage()[3], ignore_errors=True)

