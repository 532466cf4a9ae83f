"""Lifecycle policies and basic scans that act, on a cloud whose clock runs a day a
second (time scale 86400): the preview lists exactly the images the sweep then
expires (keep the last 3 tagged, expire untagged after a day), recorded in
CloudTrail; a scan on push of the sample app's image reports the planted advisory,
and the image built after the fix has none. The rules themselves are unit-tested."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROOT, start_cloud, stop_cloud
from workshop.cloud.services.ecr import lifecycle, scanning
from workshop.images import base, oci
from workshop.images.registry_client import Registry

POLICY = {"rules": [
    {"rulePriority": 1, "description": "keep the last 3 tagged images",
     "selection": {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan",
                   "countNumber": 3}, "action": {"type": "expire"}},
    {"rulePriority": 2, "description": "untagged images after a day",
     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
     "action": {"type": "expire"}},
]}


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """A cloud whose day lasts a second."""
    c = start_cloud(tmp_path_factory.mktemp("daily"), time_scale=86400)
    yield c
    stop_cloud(c)


def _registry(cloud, account: str) -> Registry:
    token = cloud.client("ecr", account).get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return Registry(f"127.0.0.1:{cloud.port}", password=base64.b64decode(token).decode().split(":", 1)[1])


def _wait(predicate, timeout: float = 30.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not hold within {timeout} s")


def _code(fn) -> str:
    with pytest.raises(ClientError) as err:
        fn()
    return err.value.response["Error"]["Code"]


# -- lifecycle on the clock ---------------------------------------------------------
def test_the_preview_lists_exactly_what_then_expires(daily, account, tmp_path):
    ecr = daily.client("ecr", account)
    ecr.create_repository(repositoryName="app")
    registry = _registry(daily, account)
    layout = oci.Layout(tmp_path / "layout")
    scratch = oci.write_image(layout, "scratch", [], {"architecture": "amd64", "os": "linux", "config": {}})
    digests = {}

    def push(n: int, tag: str) -> str:
        folder = tmp_path / f"v{n}"
        folder.mkdir()
        (folder / "v.txt").write_text(str(n))
        digests[n] = registry.push(oci.build(layout, scratch, folder, f"app:{n}"), "app", tag)
        time.sleep(0.05)  # distinct push times
        return digests[n]

    for n in range(1, 6):
        push(n, f"v{n}")
    push(6, "latest")
    push(7, "latest")               # 6 is untagged now
    push(8, "nightly")
    push(9, "nightly")              # 8 is untagged now; the last 3 tagged are 9, 7 and 5
    time.sleep(1.5)                 # a day and a half: every untagged image is past a day
    text = json.dumps(POLICY)
    ecr.start_lifecycle_policy_preview(repositoryName="app", lifecyclePolicyText=text)
    preview = ecr.get_lifecycle_policy_preview(repositoryName="app")
    assert preview["status"] == "COMPLETE"
    listed = {r["imageDigest"]: r for r in preview["previewResults"]}
    assert set(listed) == {digests[n] for n in (1, 2, 3, 4, 6, 8)}
    assert listed[digests[1]]["appliedRulePriority"] == 1 and listed[digests[6]]["appliedRulePriority"] == 2
    assert listed[digests[1]]["imageTags"] == ["v1"] and listed[digests[6]]["imageTags"] == []
    assert preview["summary"] == {"expiringImageTotalCount": 6}
    untagged = ecr.get_lifecycle_policy_preview(repositoryName="app", filter={"tagStatus": "UNTAGGED"})
    assert {r["imageDigest"] for r in untagged["previewResults"]} == {digests[6], digests[8]}

    # Nothing expires until the policy is on the repository; then the sweep (a day's, a second here).
    assert len(ecr.describe_images(repositoryName="app")["imageDetails"]) == 9
    ecr.put_lifecycle_policy(repositoryName="app", lifecyclePolicyText=text)

    def remaining():
        present = {i["imageDigest"] for i in ecr.describe_images(repositoryName="app")["imageDetails"]}
        return present if len(present) == 3 else None

    left = _wait(remaining, what="the lifecycle sweep")
    assert left == set(digests.values()) - set(listed)
    assert "lastEvaluatedAt" in ecr.get_lifecycle_policy(repositoryName="app")

    trail = daily.client("cloudtrail", account)
    events = _wait(lambda: trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "PolicyExecutionEvent"}])["Events"],
        what="the CloudTrail record")
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["userIdentity"]["invokedBy"] == "ecr.amazonaws.com"
    assert {i["imageDigest"] for i in record["additionalEventData"]["expiredImages"]} == set(listed)


def test_policy_errors_and_preview_errors(daily, account):
    ecr = daily.client("ecr", account)
    ecr.create_repository(repositoryName="strict")
    assert _code(lambda: ecr.get_lifecycle_policy_preview(repositoryName="strict")) == \
        "LifecyclePolicyPreviewNotFoundException"
    assert _code(lambda: ecr.start_lifecycle_policy_preview(repositoryName="strict")) == \
        "LifecyclePolicyNotFoundException"
    bad = {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                                       "countNumber": 1}, "action": {"type": "expire"}},
                     {"rulePriority": 2, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                                                       "countNumber": 1}, "action": {"type": "expire"}}]}
    assert _code(lambda: ecr.put_lifecycle_policy(repositoryName="strict", lifecyclePolicyText=json.dumps(bad))) \
        == "InvalidParameterException"
    assert _code(lambda: ecr.put_lifecycle_policy(repositoryName="strict",
                                                  lifecyclePolicyText="{" + " " * 120)) == "InvalidParameterException"


def _img(digest: str, tags: list[str], pushed: float):
    return SimpleNamespace(digest=digest, image_tags=tags, pushed_at=pushed)


def test_rule_order_protects_what_a_higher_rule_selected():
    rules = lifecycle.parse(json.dumps({"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["prod"],
                                          "countType": "imageCountMoreThan", "countNumber": 2},
         "action": {"type": "expire"}},
        {"rulePriority": 9, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
         "action": {"type": "expire"}}]}))
    images = [_img("p1", ["prod-1"], 1), _img("p2", ["prod-2"], 2), _img("p3", ["prod-3"], 3),
              _img("d1", ["dev-1"], 4), _img("u", [], 5)]
    verdicts = lifecycle.evaluate(rules, images, now=10, time_scale=1)
    # prod-1 goes by rule 1; prod-2 and prod-3 were selected by rule 1, so rule 9 cannot take them;
    # rule 9 keeps the newest image (u) and expires dev-1.
    assert [(v.digest, v.priority) for v in verdicts] == [("p1", 1), ("d1", 9)]


def test_selection_by_prefixes_patterns_and_age():
    def rule(**selection) -> lifecycle.Rule:
        return lifecycle.parse(json.dumps({"rules": [{"rulePriority": 1, "selection": selection,
                                                      "action": {"type": "expire"}}]}))[0]
    both = rule(tagStatus="tagged", tagPrefixList=["prod", "v1"], countType="imageCountMoreThan", countNumber=1)
    assert lifecycle.selects(both, ["prod", "v1.2"]) and not lifecycle.selects(both, ["prod"])
    pattern = rule(tagStatus="tagged", tagPatternList=["release-*-final"], countType="imageCountMoreThan",
                   countNumber=1)
    assert lifecycle.selects(pattern, ["release-2.1-final"]) and not lifecycle.selects(pattern, ["release-2.1"])
    old = rule(tagStatus="any", countType="sinceImagePushed", countUnit="days", countNumber=2)
    images = [_img("young", ["a"], 1000.0), _img("old", [], 0.0)]
    # 1000 s at a time scale of 200 is 200,000 s of workshop time: more than 2 days (172,800 s).
    assert [v.digest for v in lifecycle.evaluate([old], images, now=1000.0, time_scale=200)] == ["old"]
    assert lifecycle.evaluate([old], images, now=1000.0, time_scale=100) == []
    for broken in ({"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1},
                   {"tagStatus": "any", "countType": "sinceImagePushed", "countNumber": 1},
                   {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 0}):
        with pytest.raises(lifecycle.PolicyError):
            rule(**broken)


# -- scans --------------------------------------------------------------------------
def _scratch_base(data: Path) -> None:
    layout = base.layout(data)
    oci.write_image(layout, base.BASE_TAG, [], {"architecture": "amd64", "os": "linux", "config": {}})


def _build(cloud, account: str, folder: Path, uri: str, data: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "workshop", "image", "build", str(folder), "-t", uri,
                           "--data-dir", str(data)], env=cloud.env(account), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    pushed = [line.split() for line in proc.stdout.splitlines() if line.startswith("pushed ")]
    return pushed[-1][2]


def test_scan_on_push_reports_the_planted_advisory_and_the_fix_clears_it(daily, account, tmp_path):
    ecr = daily.client("ecr", account)
    uri = ecr.create_repository(repositoryName="sample-app", imageScanningConfiguration={"scanOnPush": True})[
        "repository"]["repositoryUri"]
    _scratch_base(tmp_path)
    planted = _build(daily, account, ROOT / "sample-app", f"{uri}:v1", tmp_path)

    def findings(tag: str):
        out = ecr.describe_image_scan_findings(repositoryName="sample-app", imageId={"imageTag": tag})
        return out if out["imageScanStatus"]["status"] == "COMPLETE" else None

    first = _wait(lambda: findings("v1"), what="the scan on push")
    assert first["imageId"]["imageDigest"] == planted
    found = first["imageScanFindings"]["findings"]
    assert [f["name"] for f in found] == ["CVE-2024-3651"] and found[0]["severity"] == "MEDIUM"
    attributes = {a["key"]: a["value"] for a in found[0]["attributes"]}
    assert attributes["package_name"] == "idna" and attributes["package_version"] == "3.6"
    assert attributes["fixed_in_version"] == "3.7"
    assert first["imageScanFindings"]["findingSeverityCounts"] == {"MEDIUM": 1}
    summary = ecr.describe_images(repositoryName="sample-app", imageIds=[{"imageTag": "v1"}])["imageDetails"][0]
    assert summary["imageScanFindingsSummary"]["findingSeverityCounts"] == {"MEDIUM": 1}

    fixed = tmp_path / "fixed"
    shutil.copytree(ROOT / "sample-app", fixed, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    requirements = fixed / "requirements.txt"
    requirements.write_text(requirements.read_text().replace("idna==3.6", "idna==3.7"))
    _build(daily, account, fixed, f"{uri}:v2", tmp_path)
    second = _wait(lambda: findings("v2"), what="the scan of the fixed image")
    assert second["imageScanFindings"]["findings"] == [] and second["imageScanFindings"]["findingSeverityCounts"] == {}


def test_start_image_scan_without_scan_on_push(daily, account, tmp_path):
    ecr = daily.client("ecr", account)
    ecr.create_repository(repositoryName="manual")
    _scratch_base(tmp_path)
    _build(daily, account, ROOT / "sample-app", f"127.0.0.1:{daily.port}/manual:v1", tmp_path)
    assert _code(lambda: ecr.describe_image_scan_findings(repositoryName="manual", imageId={"imageTag": "v1"})) \
        == "ScanNotFoundException"
    started = ecr.start_image_scan(repositoryName="manual", imageId={"imageTag": "v1"})
    assert started["imageScanStatus"]["status"] == "IN_PROGRESS"
    done = _wait(lambda: (lambda o: o if o["imageScanStatus"]["status"] == "COMPLETE" else None)(
        ecr.describe_image_scan_findings(repositoryName="manual", imageId={"imageTag": "v1"})))
    assert done["imageScanFindings"]["findingSeverityCounts"] == {"MEDIUM": 1}
    assert _code(lambda: ecr.start_image_scan(repositoryName="manual", imageId={"imageTag": "nope"})) == \
        "ImageNotFoundException"


def _layer(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_inventory_reads_dpkg_and_python_metadata_with_whiteouts(tmp_path):
    status = (b"Package: libc6\nVersion: 2.36-9+deb12u10\nStatus: install ok installed\n\n"
              b"Package: python3.11\nVersion: 3.11.2-6+deb12u9\nStatus: install ok installed\n")
    lower = _layer(tmp_path, "lower.tar.gz", {
        "var/lib/dpkg/status": status,
        "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA": b"Name: requests\nVersion: 2.31.0\n",
        "opt/p/idna-3.6.dist-info/METADATA": b"Metadata-Version: 2.1\nName: idna\nVersion: 3.6\n"})
    upper = _layer(tmp_path, "upper.tar.gz", {"opt/p/.wh.idna-3.6.dist-info": b""})
    packages = scanning.inventory([scanning.layer_entries(lower), scanning.layer_entries(upper)])
    assert ("Debian", "python3.11", "3.11.2-6+deb12u9") in packages and ("PyPI", "requests", "2.31.0") in packages
    assert not any(p[1] == "idna" for p in packages)  # removed by the upper layer
    assert [f["name"] for f in scanning.findings(packages)] == ["CVE-2024-35195"]


def test_version_orders():
    assert scanning.debian_compare("3.11.2-6+deb12u9", "3.11.2-6+deb12u10") < 0
    assert scanning.debian_compare("1.0~rc1-1", "1.0-1") < 0
    assert scanning.debian_compare("1:0.9-1", "2.0-1") > 0
    assert scanning.debian_compare("2.36-9+deb12u10", "2.36-9+deb12u10") == 0
    assert scanning.python_compare("3.6", "3.7") < 0 and scanning.python_compare("3.10", "3.7") > 0
    assert scanning.python_compare("2.32.0", "2.32.0") == 0


def test_the_debian_base_inventory_is_read(tmp_path):
    image = base.get()
    if image is None or "mmdebstrap" not in image.config["history"][0]["created_by"]:
        pytest.skip("no Debian base image in the default data dir (`workshop image base`)")
    packages = scanning.inventory([scanning.layer_entries(image.layout.blob_path(image.layers[0].digest))])
    names = {name for ecosystem, name, _ in packages if ecosystem == "Debian"}
    assert {"python3", "python3.11", "libc6"} <= names
