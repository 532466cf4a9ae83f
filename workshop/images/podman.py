"""podman and skopeo as the workshop runs them: with the project's own
containers.conf (runc, ulimits this kind of machine accepts), found on PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")


def env(base: dict | None = None) -> dict:
    """An environment whose podman/skopeo use the project's configuration."""
    out = dict(os.environ if base is None else base)
    out["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return out


def tools() -> dict[str, str | None]:
    """Where podman, skopeo, buildah and runc are (None: not installed)."""
    return {name: shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
            for name in ("podman", "skopeo", "buildah", "runc")}


def version() -> str | None:
    if not tools()["podman"]:
        return None
    import subprocess

    try:
        out = subprocess.run(["podman", "--version"], capture_output=True, text=True, timeout=10, env=env()).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().rsplit(" ", 1)[-1] or None


def user_namespaces() -> bool:
    """Whether an unprivileged-style user namespace works here (`unshare --user --map-root-user`)."""
    import subprocess

    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def podman_works() -> bool:
    """podman and runc are installed and podman answers with the project's configuration."""
    import subprocess

    found = tools()
    if not (found["podman"] and found["runc"]):
        return False
    try:
        return subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], capture_output=True,
                              text=True, timeout=30, env=env()).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def sandboxed() -> bool:
    """Whether a cloud started here runs learner code as sandbox users (it runs as root)."""
    return os.name == "posix" and os.geteuid() == 0 and \
        os.environ.get("WORKSHOP_SANDBOX", "on").lower() not in ("off", "0", "no", "false")


def ecs_runtime(is_sandboxed: bool | None = None) -> str:
    """How the cloud runs ECS tasks' containers: 'podman' (where podman works and learner code
    runs as the cloud's own user: rootless, one learner), 'chroot' (the image's unpacked layers
    in a user namespace, as the account's sandbox user: a class, or no podman) or 'none'.
    WORKSHOP_ECS_RUNTIME=podman|chroot chooses."""
    wanted = os.environ.get("WORKSHOP_ECS_RUNTIME", "auto").lower()
    if wanted in ("podman", "chroot"):
        return wanted
    if not (sandboxed() if is_sandboxed is None else is_sandboxed) and podman_works():
        return "podman"
    return "chroot" if user_namespaces() else "none"


def how_images_build_and_run() -> tuple[str, str]:
    """(how this machine builds images, how ECS runs them), in words for `workshop doctor`."""
    found = tools()
    podman_version = version()
    if podman_version and found["runc"]:
        build = f"podman {podman_version} or buildah, or the project's builder (`workshop image build`)"
    else:
        build = "the project's builder (`workshop image build`; no podman here)"
    runtime = ecs_runtime()
    if runtime == "podman":
        run = (f"podman {podman_version} with runc for ECS tasks (the project's containers.conf via "
               "CONTAINERS_CONF; WORKSHOP_ECS_RUNTIME=chroot for unpacked layers)")
    elif runtime == "chroot":
        why = ("learner code runs as sandbox users" if sandboxed() and podman_version
               else "no working podman" if not podman_version else "chosen")
        run = (f"unpacked layers chrooted in a user namespace (unshare --user --map-root-user) for ECS tasks "
               f"({why})")
    else:
        run = "nothing: no podman with runc and no user namespaces"
    return build, run
