"""Images without Docker: the project's builder (reproducible layers, the app on a
base, config with Cmd/ExposedPorts/Env), `workshop image build` pushing with the
account's ECR token, the base image from the running Python (run chrooted in a
user namespace) and from Debian's packages (made by .ci/run), and `workshop doctor`
saying how this machine builds and runs images."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from workshop.images import base, oci

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _scratch_base(data: Path) -> oci.Image:
    """A tiny stand-in for the Python base (the build logic does not care what the base holds)."""
    layout = base.layout(data)
    folder = data / "base-root"
    (folder / "etc").mkdir(parents=True)
    (folder / "etc" / "os-release").write_text("ID=scratch\n")
    tar = data / "base.tar"
    oci.tar_folder(folder, tar)
    layer = oci.layer_from_tar(layout, tar)
    return oci.write_image(layout, base.BASE_TAG, [layer], {
        "architecture": "amd64", "os": "linux", "config": {"Env": [base.ENV_PATH], "Cmd": ["python3"]}})


def _members(image: oci.Image, layer: int) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(image.layout.blob_path(image.layers[layer].digest), "r:gz") as tar:
        return {m.name: m for m in tar}


def test_a_build_is_reproducible_and_holds_the_app_on_the_base(tmp_path):
    parent = _scratch_base(tmp_path)
    app = tmp_path / "app"
    (app / "pkg").mkdir(parents=True)
    (app / "pkg" / "__init__.py").write_text("")
    (app / "main.py").write_text("print('hi')\n")
    (app / "__pycache__").mkdir()
    (app / "__pycache__" / "x.pyc").write_bytes(b"junk")
    layout = base.layout(tmp_path)
    one = oci.build(layout, parent, app, "web:1", cmd=["python3", "main.py"], env={"PORT": "8080"}, port=8080)
    (app / "main.py").touch()  # a new mtime changes nothing
    two = oci.build(layout, parent, app, "web:2", cmd=["python3", "main.py"], env={"PORT": "8080"}, port=8080)
    assert one.digest == two.digest
    assert [l.digest for l in one.layers[:1]] == [parent.layers[0].digest]
    names = _members(one, 1)
    assert {"app", "app/main.py", "app/pkg", "app/pkg/__init__.py"} <= set(names)
    assert not any("__pycache__" in n for n in names)
    assert all(m.mtime == 0 and m.uid == 0 for m in names.values())
    config = one.config["config"]
    assert config["Cmd"] == ["python3", "main.py"] and config["WorkingDir"] == "/app"
    assert config["ExposedPorts"] == {"8080/tcp": {}} and "PORT=8080" in config["Env"]
    assert base.ENV_PATH in config["Env"]
    assert len(one.config["rootfs"]["diff_ids"]) == 2
    (app / "main.py").write_text("print('changed')\n")
    assert oci.build(layout, parent, app, "web:3", cmd=["python3", "main.py"]).digest != one.digest


def test_workshop_image_build_pushes_with_the_accounts_token(cloud, account, tmp_path):
    ecr = cloud.client("ecr", account)
    uri = ecr.create_repository(repositoryName="sample-app")["repository"]["repositoryUri"]
    _scratch_base(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "workshop", "image", "build", str(ROOT / "sample-app"),
                           "-t", f"{uri}:v1", "--data-dir", str(tmp_path)],
                          env=cloud.env(account), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    local = base.layout(tmp_path).image("sample-app:v1")
    assert f"pushed {uri}:v1 {local.digest}" in proc.stdout
    detail = ecr.describe_images(repositoryName="sample-app")["imageDetails"][0]
    assert detail["imageDigest"] == local.digest and detail["imageTags"] == ["v1"]
    config = local.config["config"]
    assert config["Cmd"] == ["python3", "-m", "app"] and "HOST=0.0.0.0" in config["Env"]
    # Layers: the base, the requirements pip installed (the planted pin), the app.
    assert "opt/app-packages/idna-3.6.dist-info/METADATA" in _members(local, 1)
    assert "app/app/service.py" in _members(local, 2) and "PYTHONPATH=/opt/app-packages" in config["Env"]
    # Another account's credentials cannot push into this account's repository.
    other = subprocess.run([sys.executable, "-m", "workshop", "image", "build", str(ROOT / "sample-app"),
                            "-t", f"{uri}:v2", "--data-dir", str(tmp_path)],
                           env=cloud.env("555544443333"), capture_output=True, text=True, timeout=120)
    assert other.returncode == 1 and "DENIED" in other.stderr


def _run_chrooted(root: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "--user", "--map-root-user", "chroot", str(root), "python3", "-c", code],
                          capture_output=True, text=True, timeout=60)


def _unpack(image: oci.Image, into: Path) -> Path:
    into.mkdir()
    for layer in image.layers:
        with tarfile.open(image.layout.blob_path(layer.digest), "r:gz") as tar:
            tar.extractall(into, members=[m for m in tar if not (m.ischr() or m.isblk())],
                           filter="fully_trusted")
    return into


def test_the_base_from_the_running_python_runs_chrooted_in_a_user_namespace(tmp_path):
    from workshop.images import podman

    if not podman.user_namespaces():
        if IN_CI:
            pytest.fail("user namespaces (unshare --user --map-root-user) do not work here")
        pytest.skip("no user namespaces here")
    image = base.make(tmp_path, "python", log=lambda *_: None)
    assert image.config["config"]["Cmd"] == ["python3"]
    root = _unpack(image, tmp_path / "root")
    proc = _run_chrooted(root, "import json, sqlite3, ssl, http.server, sys; print(sys.version_info[:2])")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(sys.version_info[:2])


def test_the_debian_base_has_python3_and_its_package_inventory(tmp_path):
    """The base .ci/run makes (`workshop image base` in the default data dir)."""
    image = base.get()
    if image is None or shutil.which("mmdebstrap") is None:
        if IN_CI:
            pytest.fail("no Debian base image: .ci/run runs `workshop image base` first")
        pytest.skip("no base image in the default data dir (run `workshop image base`)")
    assert "mmdebstrap" in image.config["history"][0]["created_by"]
    names = _members(image, 0)
    assert "./usr/bin/python3" in names or "usr/bin/python3" in names
    with tarfile.open(image.layout.blob_path(image.layers[0].digest), "r:gz") as tar:
        member = next(m for m in tar if m.name.lstrip("./") == "var/lib/dpkg/status")
        status = tar.extractfile(member).read().decode()
    packages = {line.split(": ", 1)[1] for line in status.splitlines() if line.startswith("Package: ")}
    assert {"python3", "libc6"} <= packages and status.count("Status: install ok installed") == len(packages)


def test_doctor_says_how_images_build_and_run(cloud, account, tmp_path):
    _scratch_base(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "workshop", "doctor", "--data-dir", str(tmp_path)],
                          env=cloud.env(account), capture_output=True, text=True, timeout=120)
    lines = {m[1]: m[2] for m in (re.match(r"^(images build|images run|base image)\s+(.*)$", line)
                                  for line in proc.stdout.splitlines()) if m}
    assert "builder" in lines["images build"] or "podman" in lines["images build"]
    assert lines["images run"].startswith(("podman", "unpacked layers", "nothing"))
    assert lines["base image"].startswith(base.BASE_TAG)
    empty = tmp_path / "empty"
    proc = subprocess.run([sys.executable, "-m", "workshop", "doctor", "--data-dir", str(empty)],
                          env=cloud.env(account), capture_output=True, text=True, timeout=120)
    assert "workshop image base" in proc.stdout
