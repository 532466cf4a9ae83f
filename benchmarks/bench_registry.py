"""Registry figures: pushing a 25 MB image (one 25 MB gzip'd layer of random bytes
on nothing, so nothing compresses it away) to the cloud's registry with the
project's builder, skopeo and podman, each into a repository of a fresh account
(every blob uploaded: within one account podman and skopeo would mount the blob
from the repository they pushed it to before), and pulling it back with the
builder. Prints medians.

    python benchmarks/bench_registry.py [--runs 5] [--mb 25]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import new_account, start_cloud, stop_cloud  # noqa: E402
from workshop.images import oci, podman  # noqa: E402
from workshop.images.registry_client import Registry  # noqa: E402


def image_of(layout: oci.Layout, megabytes: int) -> oci.Image:
    folder = Path(tempfile.mkdtemp(prefix="bench-app-"))
    (folder / "data.bin").write_bytes(os.urandom(megabytes * 1024 * 1024))
    scratch = oci.write_image(layout, "scratch", [], {"architecture": "amd64", "os": "linux", "config": {}})
    image = oci.build(layout, scratch, folder, "bench:latest", cmd=["true"])
    shutil.rmtree(folder)
    return image


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=25)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    cloud = start_cloud(work)
    try:
        account = new_account()
        ecr = cloud.client("ecr", account)
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        password = base64.b64decode(token).decode().split(":", 1)[1]
        host = f"127.0.0.1:{cloud.port}"
        layout = oci.Layout(work / "layout")
        image = image_of(layout, args.mb)
        size = sum(layer.size for layer in image.layers) / 1e6
        print(f"image: {size:.1f} MB compressed, {len(image.layers)} layer(s)")
        env = podman.env(cloud.env(account))
        env["REGISTRY_AUTH_FILE"] = str(work / "auth.json")
        have_tools = all(podman.tools()[t] for t in ("podman", "skopeo", "runc"))
        storage = Path(tempfile.mkdtemp(prefix="wsb-"))
        pod = ["podman", "--root", str(storage / "s"), "--runroot", str(storage / "r")]
        if have_tools:
            subprocess.run(pod + ["login", "-u", "AWS", "--password-stdin", "--tls-verify=false", host],
                           input=password, text=True, env=env, check=True, capture_output=True)
            image_id = subprocess.run(pod + ["pull", "-q", f"oci:{layout.root}:bench:latest"], env=env, check=True,
                                      capture_output=True, text=True).stdout.split()[-1]
        figures: dict[str, list[float]] = {"builder push": [], "builder pull": [], "skopeo push": [],
                                           "podman push": []}
        for run in range(args.runs):
            for tool in ("builder", "skopeo", "podman"):
                name = f"{tool}-{run}"
                account = new_account()
                ecr = cloud.client("ecr", account)
                ecr.create_repository(repositoryName=name)
                token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
                password = base64.b64decode(token).decode().split(":", 1)[1]
                if have_tools and tool != "builder":
                    subprocess.run(pod + ["login", "-u", "AWS", "--password-stdin", "--tls-verify=false", host],
                                   input=password, text=True, env=env, check=True, capture_output=True)
                if tool == "builder":
                    registry = Registry(host, password=password)
                    figures["builder push"].append(timed(lambda: registry.push(image, name, "latest")))
                    pulled = oci.Layout(work / f"pull-{run}")
                    figures["builder pull"].append(timed(lambda: Registry(host, password=password).pull(
                        name, "latest", pulled, "x")))
                elif have_tools and tool == "skopeo":
                    figures["skopeo push"].append(timed(lambda: subprocess.run(
                        ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout.root}:bench:latest",
                         f"docker://{host}/{name}:latest"], env=env, check=True)))
                elif have_tools:
                    subprocess.run(pod + ["tag", image_id, f"{host}/{name}:latest"], env=env,
                                   check=True, capture_output=True)
                    figures["podman push"].append(timed(lambda: subprocess.run(
                        pod + ["push", "-q", "--tls-verify=false", f"{host}/{name}:latest"], env=env,
                        check=True)))
        for label, values in figures.items():
            if values:
                print(f"{label:<14} median {statistics.median(values):6.2f} s  "
                      f"({size / statistics.median(values):5.1f} MB/s, {len(values)} runs)")
            else:
                print(f"{label:<14} skipped (podman, skopeo or runc not installed)")
        if have_tools:
            subprocess.run(pod + ["system", "reset", "-f"], env=env, capture_output=True)
        shutil.rmtree(storage, ignore_errors=True)
    finally:
        stop_cloud(cloud)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
