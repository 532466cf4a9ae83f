"""The registry at /v2/ and the ECR API over the same images: what the project's
own client (no container tool) pushes is what describe_images reports (digest =
sha256 of the manifest bytes, sizes, tags); ECR's tokens per account; OCI error
codes; chunked uploads and cross-repository mounts; API Gateway v2 beside it;
a TLS handshake on the plain-HTTP port closed at once."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
from datetime import datetime, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from workshop.images import oci
from workshop.images.registry_client import Registry, RegistryError


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _password(cloud, account: str) -> str:
    token = cloud.client("ecr", account).get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    return password


def _registry(cloud, account: str) -> Registry:
    return Registry(f"127.0.0.1:{cloud.port}", password=_password(cloud, account))


def _image(tmp_path: Path, text: str = "print('hello')\n") -> oci.Image:
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    (app / "app.py").write_text(text)
    layout = oci.Layout(tmp_path / "layout")
    scratch = oci.write_image(layout, "scratch", [], {"architecture": "amd64", "os": "linux", "config": {}})
    return oci.build(layout, scratch, app, f"app-{_sha(text.encode())[7:15]}", cmd=["python3", "app.py"], port=8080)


def _code(fn) -> str:
    with pytest.raises(ClientError) as err:
        fn()
    return err.value.response["Error"]["Code"]


def test_tokens_are_per_account_and_expire_in_12_hours(cloud, account):
    ecr = cloud.client("ecr", account)
    data = ecr.get_authorization_token()["authorizationData"]
    assert len(data) == 1
    hours = (data[0]["expiresAt"] - datetime.now(timezone.utc)).total_seconds() / 3600
    assert 11.9 < hours <= 12.0
    assert data[0]["proxyEndpoint"] == f"http://127.0.0.1:{cloud.port}"
    uri = ecr.create_repository(repositoryName="web")["repository"]["repositoryUri"]
    assert uri == f"127.0.0.1:{cloud.port}/web"
    other = _password(cloud, "999999999999")
    assert _password(cloud, account) != other


def test_builder_pushes_and_pulls_back_and_the_api_agrees(cloud, account, tmp_path):
    ecr = cloud.client("ecr", account)
    ecr.create_repository(repositoryName="web")
    image = _image(tmp_path)
    registry = _registry(cloud, account)
    digest = registry.push(image, "web", "v1")
    manifest_bytes = image.layout.blob_path(image.digest).read_bytes()
    assert digest == image.digest == _sha(manifest_bytes)

    detail = ecr.describe_images(repositoryName="web")["imageDetails"][0]
    assert detail["imageDigest"] == digest and detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] == sum(layer.size for layer in image.layers)
    assert detail["imageManifestMediaType"] == oci.OCI_MANIFEST
    assert abs((detail["imagePushedAt"] - datetime.now(timezone.utc)).total_seconds()) < 60

    got = ecr.batch_get_image(repositoryName="web", imageIds=[{"imageTag": "v1"}])["images"][0]
    assert got["imageManifest"].encode() == manifest_bytes and got["imageId"]["imageDigest"] == digest

    # CloudTrail has the push as ECR records it, by the key that asked for the token.
    events = cloud.client("cloudtrail", account).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutImage"}])["Events"]
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventSource"] == "ecr.amazonaws.com" and record["userIdentity"]["accountId"] == account
    assert record["userIdentity"]["accessKeyId"] == account
    assert record["requestParameters"]["repositoryName"] == "web" and record["requestParameters"]["imageTag"] == "v1"
    assert record["responseElements"]["image"]["imageId"]["imageDigest"] == digest

    pulled = registry.pull("web", "v1", oci.Layout(tmp_path / "pulled"), "web:v1")
    assert pulled.digest == digest and pulled.config["config"]["Cmd"] == ["python3", "app.py"]
    layer = image.layers[0]
    assert pulled.layout.blob_path(layer.digest).read_bytes() == image.layout.blob_path(layer.digest).read_bytes()
    assert "lastRecordedPullTime" in ecr.describe_images(repositoryName="web")["imageDetails"][0]

    # The layer APIs see the pushed blobs; a download URL needs no other credentials.
    check = ecr.batch_check_layer_availability(repositoryName="web", layerDigests=[layer.digest, _sha(b"x")])
    assert check["layers"][0]["layerSize"] == layer.size and check["failures"][0]["failureCode"] == "MissingLayerDigest"
    url = ecr.get_download_url_for_layer(repositoryName="web", layerDigest=layer.digest)["downloadUrl"]
    import urllib.request

    with urllib.request.urlopen(url) as resp:
        assert _sha(resp.read()) == layer.digest


def test_a_retag_moves_the_tag_and_filters_and_deletes_follow(cloud, account, tmp_path):
    ecr = cloud.client("ecr", account)
    ecr.create_repository(repositoryName="web")
    registry = _registry(cloud, account)
    first, second = _image(tmp_path, "v = 1\n"), _image(tmp_path, "v = 2\n")
    d1 = registry.push(first, "web", "latest")
    d2 = registry.push(second, "web", "latest")
    registry.push(second, "web", "v2")
    assert d1 != d2
    untagged = ecr.describe_images(repositoryName="web", filter={"tagStatus": "UNTAGGED"})["imageDetails"]
    assert [i["imageDigest"] for i in untagged] == [d1] and "imageTags" not in untagged[0]
    tagged = ecr.describe_images(repositoryName="web", filter={"tagStatus": "TAGGED"})["imageDetails"]
    assert [sorted(i["imageTags"]) for i in tagged] == [["latest", "v2"]]
    assert ecr.describe_images(repositoryName="web", imageIds=[{"imageTag": "v2"}])["imageDetails"][0]["imageDigest"] == d2
    assert _code(lambda: ecr.describe_images(repositoryName="web", imageIds=[{"imageTag": "nope"}])) == \
        "ImageNotFoundException"
    listed = ecr.list_images(repositoryName="web")["imageIds"]
    assert {(i["imageDigest"], i.get("imageTag")) for i in listed} == {(d1, None), (d2, "latest"), (d2, "v2")}

    # A tag removes only the tag while others remain; a digest removes the image.
    out = ecr.batch_delete_image(repositoryName="web", imageIds=[{"imageTag": "v2"}, {"imageTag": "gone"}])
    assert out["imageIds"] == [{"imageDigest": d2, "imageTag": "v2"}]
    assert out["failures"][0]["failureCode"] == "ImageNotFound"
    ecr.batch_delete_image(repositoryName="web", imageIds=[{"imageDigest": d1}])
    status, _, body = registry.request("GET", "/v2/web/tags/list")
    assert json.loads(body) == {"name": "web", "tags": ["latest"]}
    with pytest.raises(RegistryError) as err:
        registry.get_manifest("web", d1)
    assert err.value.status == 404 and err.value.codes == ["MANIFEST_UNKNOWN"]


def test_immutable_tags_are_refused_by_the_registry_and_the_api(cloud, account, tmp_path):
    ecr = cloud.client("ecr", account)
    ecr.create_repository(repositoryName="frozen", imageTagMutability="IMMUTABLE")
    registry = _registry(cloud, account)
    first, second = _image(tmp_path, "a = 1\n"), _image(tmp_path, "a = 2\n")
    digest = registry.push(first, "frozen", "v1")
    assert registry.push(first, "frozen", "v1") == digest  # the same image again: nothing changes
    with pytest.raises(RegistryError) as err:
        registry.push(second, "frozen", "v1")
    assert err.value.status == 400 and err.value.codes == ["TAG_INVALID"]
    manifest = second.layout.blob_path(second.digest).read_text()
    assert _code(lambda: ecr.put_image(repositoryName="frozen", imageManifest=manifest, imageTag="v1")) == \
        "ImageTagAlreadyExistsException"
    assert [i["imageDigest"] for i in ecr.describe_images(repositoryName="frozen",
                                                          imageIds=[{"imageTag": "v1"}])["imageDetails"]] == [digest]


def test_put_image_checks_digest_layers_and_duplicates(cloud, account, tmp_path):
    ecr = cloud.client("ecr", account)
    ecr.create_repository(repositoryName="api")
    image = _image(tmp_path)
    manifest = image.layout.blob_path(image.digest).read_text()
    # Layers nobody uploaded.
    assert _code(lambda: ecr.put_image(repositoryName="api", imageManifest=manifest, imageTag="v1")) == \
        "LayersNotFoundException"
    # Upload them through the layer API, in two parts.
    for desc in [image.config_descriptor] + image.layers:
        data = image.layout.blob_path(desc.digest).read_bytes()
        upload = ecr.initiate_layer_upload(repositoryName="api")["uploadId"]
        half = len(data) // 2
        ecr.upload_layer_part(repositoryName="api", uploadId=upload, partFirstByte=0, partLastByte=half - 1,
                              layerPartBlob=data[:half])
        assert _code(lambda: ecr.upload_layer_part(repositoryName="api", uploadId=upload, partFirstByte=0,
                                                   partLastByte=1, layerPartBlob=b"xx")) == "InvalidLayerPartException"
        ecr.upload_layer_part(repositoryName="api", uploadId=upload, partFirstByte=half,
                              partLastByte=len(data) - 1, layerPartBlob=data[half:])
        done = ecr.complete_layer_upload(repositoryName="api", uploadId=upload, layerDigests=[desc.digest])
        assert done["layerDigest"] == desc.digest
    assert _code(lambda: ecr.put_image(repositoryName="api", imageManifest=manifest, imageTag="v1",
                                       imageDigest=_sha(b"other"))) == "ImageDigestDoesNotMatchException"
    put = ecr.put_image(repositoryName="api", imageManifest=manifest, imageTag="v1")["image"]
    assert put["imageId"] == {"imageDigest": image.digest, "imageTag": "v1"}
    assert _code(lambda: ecr.put_image(repositoryName="api", imageManifest=manifest, imageTag="v1")) == \
        "ImageAlreadyExistsException"
    assert _code(lambda: ecr.put_image(repositoryName="api", imageManifest="{not json", imageTag="x")) == \
        "InvalidParameterException"
    # What the API put, the registry serves.
    body, media_type, digest = _registry(cloud, account).get_manifest("api", "v1")
    assert body.decode() == manifest and digest == image.digest and media_type == oci.OCI_MANIFEST


def test_chunked_upload_mount_and_oci_errors(cloud, account, tmp_path):
    ecr = cloud.client("ecr", account)
    ecr.create_repository(repositoryName="one")
    ecr.create_repository(repositoryName="team/two")
    registry = _registry(cloud, account)
    blob = bytes(range(256)) * 1000
    status, headers, _ = registry.request("POST", "/v2/one/blobs/uploads/")
    assert status == 202 and headers["range"] == "0-0"
    location = headers["location"]
    status, headers, _ = registry.request("PATCH", location, body=blob[:100_000],
                                          headers={"Content-Range": "0-99999"})
    assert status == 202 and headers["range"] == "0-99999"
    # A chunk that does not continue the upload: 416.
    status, _, _ = registry.request("PATCH", location, body=b"zz", headers={"Content-Range": "5-6"})
    assert status == 416
    status, headers, _ = registry.request("GET", location)
    assert status == 204 and headers["range"] == "0-99999"
    status, _, body = registry.request("PUT", f"{location}?digest={_sha(b'wrong')}", body=blob[100_000:])
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "DIGEST_INVALID"
    status, headers, _ = registry.request("PUT", f"{location}?digest={_sha(blob)}", body=b"")
    assert status == 201 and headers["docker-content-digest"] == _sha(blob)
    assert registry.has_blob("one", _sha(blob)) and not registry.has_blob("team/two", _sha(blob))

    # Cross-repository mount within the account.
    status, headers, _ = registry.request("POST", f"/v2/team/two/blobs/uploads/?mount={_sha(blob)}&from=one")
    assert status == 201 and registry.get_blob("team/two", _sha(blob)) == blob
    # A mount of something the source lacks starts an ordinary upload.
    status, _, _ = registry.request("POST", f"/v2/team/two/blobs/uploads/?mount={_sha(b'no')}&from=one")
    assert status == 202

    def error(method: str, path: str, **kw) -> tuple[int, str]:
        status, _, body = registry.request(method, path, **kw)
        return status, json.loads(body)["errors"][0]["code"]

    assert error("GET", f"/v2/one/blobs/{_sha(b'absent')}") == (404, "BLOB_UNKNOWN")
    assert error("GET", "/v2/nothing-here/tags/list") == (404, "NAME_UNKNOWN")
    assert error("GET", "/v2/one/manifests/v9") == (404, "MANIFEST_UNKNOWN")
    assert error("PATCH", "/v2/one/blobs/uploads/00000000-0000-0000-0000-000000000000", body=b"x") == \
        (404, "BLOB_UPLOAD_UNKNOWN")
    assert error("PUT", "/v2/one/manifests/v1", body=b'{"schemaVersion": 2, "config": {}}',
                 headers={"Content-Type": oci.OCI_MANIFEST}) == (400, "MANIFEST_INVALID")
    missing = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                          "config": {"mediaType": oci.OCI_CONFIG, "digest": _sha(b"c"), "size": 1},
                          "layers": []}).encode()
    assert error("PUT", "/v2/one/manifests/v1", body=missing,
                 headers={"Content-Type": oci.OCI_MANIFEST}) == (404, "MANIFEST_BLOB_UNKNOWN")


def test_an_index_and_tag_paging(cloud, account, tmp_path):
    ecr = cloud.client("ecr", account)
    ecr.create_repository(repositoryName="multi")
    registry = _registry(cloud, account)
    image = _image(tmp_path)
    digest = registry.push(image, "multi", "amd64")
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [
        {"mediaType": oci.OCI_MANIFEST, "digest": digest, "size": image.manifest_descriptor.size,
         "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    index_digest = registry.put_manifest("multi", "latest", index, oci.OCI_INDEX)
    assert index_digest == _sha(index)
    detail = ecr.describe_images(repositoryName="multi", imageIds=[{"imageTag": "latest"}])["imageDetails"][0]
    assert detail["imageManifestMediaType"] == oci.OCI_INDEX and detail["imageDigest"] == index_digest
    for tag in ("a", "b", "c"):
        registry.push(image, "multi", tag)
    status, headers, body = registry.request("GET", "/v2/multi/tags/list?n=2")
    assert json.loads(body)["tags"] == ["a", "amd64"] and "last=amd64" in headers["link"]
    status, headers, body = registry.request("GET", "/v2/multi/tags/list?n=2&last=amd64")
    assert json.loads(body)["tags"] == ["b", "c"]
    # Deleting by digest removes the image and every tag it had.
    status, _, _ = registry.request("DELETE", f"/v2/multi/manifests/{index_digest}")
    assert status == 202
    assert "latest" not in json.loads(registry.request("GET", "/v2/multi/tags/list")[2])["tags"]


def test_no_token_is_401_with_the_challenge_and_another_account_is_denied(cloud, account, tmp_path):
    cloud.client("ecr", account).create_repository(repositoryName="private")
    _registry(cloud, account).push(_image(tmp_path), "private", "v1")
    conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=10)
    for path in ("/v2/", "/v2/private/manifests/v1"):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 401
        challenge = resp.getheader("WWW-Authenticate")
        assert challenge.startswith("Basic realm=") and 'service="ecr.amazonaws.com"' in challenge
        assert resp.getheader("Docker-Distribution-API-Version") == "registry/2.0"
    # A made-up password.
    forged = Registry(f"127.0.0.1:{cloud.port}", password="eyJhIjoiMSJ9.forged")
    with pytest.raises(RegistryError) as err:
        forged.ping()
    assert err.value.status == 401
    # Another account's token: its own (empty) registry; this account's repository is denied.
    stranger = _registry(cloud, "888877776666")
    stranger.ping()
    with pytest.raises(RegistryError) as err:
        stranger.get_manifest("private", "v1")
    assert err.value.status == 403 and err.value.codes == ["DENIED"]
    with pytest.raises(RegistryError) as err:
        stranger.push(_image(tmp_path, "x = 1\n"), "private", "evil")
    assert err.value.status == 403
    assert [i.get("imageTags") for i in cloud.client("ecr", account).describe_images(
        repositoryName="private")["imageDetails"]] == [["v1"]]


def test_api_gateway_v2_keeps_its_v2_paths(cloud, account):
    apigw = cloud.client("apigatewayv2", account)
    api = apigw.create_api(Name="beside-the-registry", ProtocolType="HTTP")
    assert apigw.get_api(ApiId=api["ApiId"])["Name"] == "beside-the-registry"
    assert [a["Name"] for a in apigw.get_apis()["Items"]] == ["beside-the-registry"]


def test_a_tls_handshake_on_the_plain_port_is_closed_at_once(cloud):
    client_hello = bytes.fromhex("16030100c8010000c40303") + b"\x00" * 32
    with socket.create_connection(("127.0.0.1", cloud.port), timeout=5) as s:
        s.sendall(client_hello)
        try:
            answer = s.recv(1024)
        except ConnectionResetError:
            answer = b""
        except socket.timeout:
            pytest.fail("the cloud kept a TLS handshake waiting instead of closing it")
    assert answer == b""
    # Plain HTTP on the same port still works.
    conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=5)
    conn.request("GET", "/_workshop/health")
    assert conn.getresponse().status == 200


def test_the_backend_pickles_with_its_images(tmp_path, monkeypatch):
    """The state snapshot pickles backends: no locks in ours (moto's ECR holds an RLock)."""
    import pickle

    from workshop.cloud import runtime
    from workshop.cloud.services.ecr import models

    runtime.configure(tmp_path / "state", "http://127.0.0.1:4566")
    backend = models.WorkshopECRBackend("us-east-1", "123456789012")
    backend.create_repository("web", None, None, None, None, [])
    upload = backend.start_upload("web")
    from workshop.cloud.services.ecr import blobs

    blobs.append("123456789012", upload.upload_id, b"{}")
    digest, _ = backend.finish_upload("web", upload.upload_id, None)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": oci.OCI_CONFIG, "digest": digest, "size": 2}, "layers": []})
    backend.put_image("web", manifest, "v1")
    copy = pickle.loads(pickle.dumps(backend))
    assert copy.repositories["web"].images[0].digest == _sha(manifest.encode())
    assert copy.repositories["web"].uri == "127.0.0.1:4566/web"
    copy.put_image("web", manifest, "v2")  # the lock came back


def test_images_blobs_and_tokens_survive_a_restart(tmp_path):
    """The registry's state is the cloud's: a restart on the same data dir keeps the
    images (snapshot), the blobs (files) and the tokens it issued (their secret)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ADMIN_TOKEN, ROOT, Cloud, free_port, wait_healthy

    data, port = tmp_path / "data", free_port()

    def start() -> Cloud:
        proc = subprocess.Popen([sys.executable, "-m", "workshop", "cloud", "--port", str(port), "--data-dir",
                                 str(data)], cwd=ROOT, env={**os.environ, "WORKSHOP_ADMIN_TOKEN": ADMIN_TOKEN},
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_healthy(f"http://127.0.0.1:{port}/_workshop/health", proc=proc)
        return Cloud(f"http://127.0.0.1:{port}", port, data, ADMIN_TOKEN, proc)

    def stop(cloud: Cloud) -> None:
        cloud.process.terminate()
        cloud.process.wait(30)

    account = "246813579024"
    first = start()
    try:
        first.client("ecr", account).create_repository(repositoryName="kept")
        registry = _registry(first, account)
        digest = registry.push(_image(tmp_path), "kept", "v1")
    finally:
        stop(first)
    second = start()
    try:
        detail = second.client("ecr", account).describe_images(repositoryName="kept")["imageDetails"][0]
        assert detail["imageDigest"] == digest and detail["imageTags"] == ["v1"]
        again = Registry(f"127.0.0.1:{port}", password=registry.auth and base64.b64decode(
            registry.auth[6:]).decode().split(":", 1)[1])
        assert again.pull("kept", "v1", oci.Layout(tmp_path / "pulled"), "kept:v1").digest == digest
    finally:
        stop(second)
