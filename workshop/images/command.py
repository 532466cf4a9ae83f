"""``workshop image base`` (the Python base image) and ``workshop image build DIR -t
HOST:PORT/NAME:TAG`` (the folder on the base, its requirements.txt installed with pip
into a layer of its own, pushed to the registry with the account's ECR token):
container images without Docker or podman."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Where a folder's requirements.txt is installed in its image (on PYTHONPATH).
PACKAGES_DIR = "/opt/app-packages"
WHEELHOUSE = Path(__file__).with_name("wheelhouse")


def add_parser(sub, add_endpoint, add_account) -> None:
    p = sub.add_parser("image", help="container images without Docker: the Python base, build and push")
    images = p.add_subparsers(dest="image_command", metavar="ACTION")
    b = images.add_parser("base", help="make the Python base image (Debian's packages, else the running Python)")
    b.add_argument("--from", dest="how", choices=("debian", "python"),
                   help="debian: mmdebstrap from the distribution's packages; python: the running Python "
                        "(default: debian where mmdebstrap works)")
    b.add_argument("--if-missing", action="store_true", help="do nothing when the base image exists")
    b.add_argument("--data-dir", help="where images are kept (default $WORKSHOP_DATA_DIR, else ~/.workshop)")
    b = images.add_parser("build", help="build an image of a folder on the base and push it to the registry")
    b.add_argument("folder", help="the app's folder (copied to the image's /app)")
    b.add_argument("-t", "--tag", required=True, help="HOST:PORT/NAME:TAG, e.g. the repositoryUri and a tag")
    b.add_argument("--cmd", help='the command the image runs (default "python3 -m app")')
    b.add_argument("--port", type=int, default=8080, help="the port the app listens on (default %(default)s)")
    b.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="an environment variable")
    b.add_argument("--no-push", action="store_true", help="only build, into the local image layout")
    b.add_argument("--data-dir", help="where images are kept (default $WORKSHOP_DATA_DIR, else ~/.workshop)")
    add_endpoint(b)
    add_account(b)


def image_command(args) -> int:
    if args.image_command == "base":
        return _base(args)
    if args.image_command == "build":
        return _build(args)
    print("workshop image: say base or build (see --help)", file=sys.stderr)
    return 2


def _data(args) -> Path:
    from workshop import settings

    return settings.data_dir(args.data_dir)


def _base(args) -> int:
    from workshop.images import base

    data = _data(args)
    if args.if_missing and base.get(data) is not None:
        print(f"base image present: {base.get(data).digest}")
        return 0
    started = time.monotonic()
    try:
        image = base.make(data, args.how)
    except Exception as exc:  # mmdebstrap's failure (no network to the mirror, ...): say so
        print(f"workshop image base: {exc}", file=sys.stderr)
        if (args.how or base.method()) == "debian":
            print("try `workshop image base --from python`", file=sys.stderr)
        return 1
    size = sum(layer.size for layer in image.layers)
    print(f"base image {base.BASE_TAG} {image.digest} ({size / 1e6:.1f} MB compressed, "
          f"{time.monotonic() - started:.1f} s) in {base.layout(data).root}")
    return 0


def _install_requirements(requirements: Path, target: Path) -> bool:
    """pip installs the folder's requirements.txt into ``target`` (a layer of the image):
    from the project's wheelhouse without a network, else from the package index."""
    base_cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                "--only-binary=:all:", "--target", str(target), "--find-links", str(WHEELHOUSE),
                "-r", str(requirements)]
    for extra in (["--no-index"], []):
        shutil.rmtree(target, ignore_errors=True)
        proc = subprocess.run(base_cmd + extra, capture_output=True, text=True)
        if proc.returncode == 0:
            shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts name this machine's Python
            return True
    print(f"workshop image build: installing {requirements} failed:\n{proc.stderr.strip()}", file=sys.stderr)
    return False


def _build(args) -> int:
    from workshop.images import base, oci
    from workshop.images.registry_client import Reference, Registry, RegistryError

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"workshop image build: {folder} is not a folder", file=sys.stderr)
        return 2
    try:
        ref = Reference.parse(args.tag)
    except ValueError as exc:
        print(f"workshop image build: {exc}", file=sys.stderr)
        return 2
    env = {}
    for item in args.env:
        key, eq, value = item.partition("=")
        if not eq:
            print(f"workshop image build: --env {item!r} is not KEY=VALUE", file=sys.stderr)
            return 2
        env[key] = value
    env.setdefault("PORT", str(args.port))
    env.setdefault("HOST", "0.0.0.0")  # reachable through the container's port mapping
    data = _data(args)
    parent = base.get(data)
    if parent is None:
        print("no base image yet: making it (once)...")
        parent = base.make(data)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="workshop-image-") as tmp:
        extra = []
        if (folder / "requirements.txt").exists():
            packages = Path(tmp) / "packages"
            if not _install_requirements(folder / "requirements.txt", packages):
                return 1
            extra.append((packages, PACKAGES_DIR))
            env["PYTHONPATH"] = PACKAGES_DIR
        image = oci.build(base.layout(data), parent, folder, f"{ref.name}:{ref.reference}",
                          cmd=shlex.split(args.cmd or "python3 -m app"), env=env, port=args.port, extra=extra)
    print(f"built {ref.name}:{ref.reference} {image.digest} ({time.monotonic() - started:.1f} s)")
    if args.no_push:
        return 0
    from checker.session import client, target
    from workshop.images.registry_client import ecr_password

    try:
        password = ecr_password(client("ecr", target(args.endpoint, args.account)))
        registry = Registry(ref.host, password=password)
        started = time.monotonic()
        digest = registry.push(image, ref.name, ref.reference)
    except (RegistryError, OSError) as exc:
        print(f"workshop image build: push to {ref} failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # botocore's errors (no such endpoint, no credentials)
        print(f"workshop image build: no ECR token: {exc}", file=sys.stderr)
        return 1
    print(f"pushed {ref} {digest} ({time.monotonic() - started:.1f} s)")
    return 0
