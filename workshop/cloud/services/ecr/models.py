"""ECR's images as the registry holds them, per account and region, on moto's
backend (which keeps repositories, policies and tags): an image is a manifest
whose digest is the sha256 of its bytes, its tags, size and push time; layers
are blobs in the account's store (blobs.py) linked to the repositories that hold
them. The ECR API (responses.py) and the registry (registry.py) both push here,
so what a client pushed is what the API reports.

The state is picklable: no locks or files in it (one module lock serialises
changes; blob bytes live in files named by digest)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from moto.ecr import models as moto_ecr
from moto.ecr.exceptions import (
    ImageAlreadyExistsException,
    ImageNotFoundException,
    InvalidLayerPartException,
    InvalidParameterException,
    RepositoryNotFoundException,
    UploadNotFoundException,
)
from moto.core.exceptions import ServiceException

from workshop.cloud import runtime, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.ecr import blobs
from workshop.cloud.services.ecr.policies import PoliciesMixin

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = IMAGE_MANIFESTS + INDEXES
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER_PART_SIZE = 10 * 1024 * 1024

# One lock for every change to ECR's images and uploads: the registry's threads and
# API calls meet here. Module-level, so the backends stay picklable.
LOCK = threading.RLock()


# -- errors moto lacks --------------------------------------------------------
class ImageTagAlreadyExistsException(ServiceException):
    code = "ImageTagAlreadyExistsException"


class ImageDigestDoesNotMatchException(ServiceException):
    code = "ImageDigestDoesNotMatchException"


class LayersNotFoundException(ServiceException):
    code = "LayersNotFoundException"


class ReferencedImagesNotFoundException(ServiceException):
    code = "ReferencedImagesNotFoundException"


class InvalidLayerException(ServiceException):
    code = "InvalidLayerException"


class LayerAlreadyExistsException(ServiceException):
    code = "LayerAlreadyExistsException"


class EmptyUploadException(ServiceException):
    code = "EmptyUploadException"


def registry_host() -> str:
    """host:port of the registry as clients on this machine reach it (the cloud's own port)."""
    return urlsplit(runtime.endpoint()).netloc


class Image:
    """One manifest in one repository (moto's Image computed digests wrongly)."""

    def __init__(self, repository_name: str, registry_id: str, manifest: str, media_type: str,
                 digest: str, size: int | None, pushed_at: float, artifact_media_type: str | None,
                 references: list[str]):
        self.repository_name = repository_name
        self.registry_id = registry_id
        self.image_manifest = manifest
        self.image_manifest_media_type = media_type
        self.digest = digest
        self.size = size
        self.pushed_at = pushed_at
        self.artifact_media_type = artifact_media_type
        self.references = references  # config and layers, or an index's manifests
        self.image_tags: list[str] = []
        self.last_pull: float | None = None
        self.scan: dict[str, Any] | None = None  # set by scanning.py

    # moto's Repository helpers (_get_image, delete_repository) ask these.
    def get_image_digest(self) -> str:
        return self.digest

    @property
    def image_tag(self) -> str | None:
        return self.image_tags[-1] if self.image_tags else None

    def image_id(self, tag: str | None = None) -> dict[str, str]:
        found = {"imageDigest": self.digest}
        if tag:
            found["imageTag"] = tag
        return found

    def detail(self) -> dict[str, Any]:
        """DescribeImages' ImageDetail."""
        out: dict[str, Any] = {
            "registryId": self.registry_id, "repositoryName": self.repository_name,
            "imageDigest": self.digest, "imagePushedAt": self.pushed_at,
            "imageManifestMediaType": self.image_manifest_media_type, "imageStatus": "ACTIVE",
        }
        if self.image_tags:
            out["imageTags"] = list(self.image_tags)
        if self.size is not None:
            out["imageSizeInBytes"] = self.size
        if self.artifact_media_type:
            out["artifactMediaType"] = self.artifact_media_type
        if self.last_pull is not None:
            out["lastRecordedPullTime"] = self.last_pull
        if self.scan:
            out["imageScanStatus"] = {"status": self.scan["status"],
                                      "description": self.scan.get("description", "")}
            if self.scan["status"] == "COMPLETE":
                out["imageScanFindingsSummary"] = {
                    "imageScanCompletedAt": self.scan["completedAt"],
                    "vulnerabilitySourceUpdatedAt": self.scan["sourceUpdatedAt"],
                    "findingSeverityCounts": dict(self.scan["severityCounts"]),
                }
        return out


class Upload:
    """A layer upload in progress (the bytes are a file in the blob store)."""

    def __init__(self, upload_id: str, repository_name: str, started: float):
        self.upload_id = upload_id
        self.repository_name = repository_name
        self.started = started


def parse_manifest(text: str, media_type: str | None) -> tuple[dict, str]:
    """The manifest's JSON and its media type; InvalidParameterException when it
    is not one the registry stores (OCI or Docker schema 2 manifests and indexes)."""
    try:
        manifest = json.loads(text)
    except ValueError:
        raise InvalidParameterException(
            "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'") from None
    if not isinstance(manifest, dict) or manifest.get("schemaVersion") != 2:
        raise InvalidParameterException(
            "Invalid parameter at 'ImageManifest' failed to satisfy constraint: "
            "'only schemaVersion 2 manifests (OCI, Docker schema 2) are supported'")
    declared = manifest.get("mediaType")
    if media_type and declared and media_type != declared:
        raise InvalidParameterException(
            f"Invalid parameter at 'imageManifestMediaType' failed to satisfy constraint: "
            f"'{media_type}' does not match the manifest's mediaType '{declared}'")
    kind = media_type or declared or (OCI_INDEX if "manifests" in manifest else OCI_MANIFEST)
    if kind not in MANIFEST_TYPES:
        raise InvalidParameterException(f"Invalid parameter at 'imageManifestMediaType' failed to satisfy "
                                        f"constraint: unsupported media type '{kind}'")
    try:
        if kind in IMAGE_MANIFESTS:
            refs = [manifest["config"]] + list(manifest.get("layers") or [])
        else:
            refs = list(manifest["manifests"])
        for ref in refs:
            if not blobs.DIGEST_RE.match(str(ref["digest"])) or int(ref["size"]) < 0:
                raise ValueError(ref)
    except (KeyError, TypeError, ValueError):
        raise InvalidParameterException(
            "Invalid parameter at 'ImageManifest' failed to satisfy constraint: "
            "'every descriptor needs a sha256 digest and a size'") from None
    return manifest, kind


class WorkshopECRBackend(PoliciesMixin, moto_ecr.ECRBackend):
    """moto's ECR backend with images, layers and tokens that agree with the registry,
    lifecycle policies and scans that act (policies.py)."""

    @property
    def _url_module(self):
        from moto.ecr import urls

        return urls

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("registry_scanning_configuration_update_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.registry_scanning_configuration_update_lock = threading.RLock()

    # -- repositories -----------------------------------------------------
    def create_repository(self, repository_name: str, *args, **kwargs):
        repo = super().create_repository(repository_name, *args, **kwargs)
        # The URI clients push to: this cloud's registry, not *.dkr.ecr.*.amazonaws.com.
        repo.uri = f"{registry_host()}/{repository_name}"
        return repo

    def repository(self, name: str, registry_id: str | None = None):
        return self._get_repository(name, registry_id)

    # -- images -----------------------------------------------------------
    def put_image(self, repository_name: str, image_manifest: str, image_tag: str | None,
                  image_manifest_mediatype: str | None = None, digest: str | None = None,
                  registry_id: str | None = None, idempotent: bool = False) -> Image:
        """PutImage, for the API and the registry alike. ``idempotent``: pushing what
        is already there (same digest and tag) succeeds, as a registry push does."""
        with LOCK:
            repo = self._get_repository(repository_name, registry_id)
            manifest, media_type = parse_manifest(image_manifest, image_manifest_mediatype)
            actual = "sha256:" + hashlib.sha256(image_manifest.encode("utf-8")).hexdigest()
            if digest and digest != actual:
                raise ImageDigestDoesNotMatchException(
                    f"The image digest '{digest}' does not match the digest of the manifest, '{actual}'.")
            refs = self._check_references(repo, manifest, media_type)
            existing = self.find_image(repo, {"imageDigest": actual})
            holder = self.find_image(repo, {"imageTag": image_tag}) if image_tag else None
            if existing is not None and (not image_tag or image_tag in existing.image_tags):
                if idempotent:
                    return existing
                raise ImageAlreadyExistsException(repository_name, repo.registry_id, actual,
                                                  image_tag or "null")
            if holder is not None and holder is not existing and self.tag_is_immutable(repo, image_tag):
                raise ImageTagAlreadyExistsException(
                    f"The image tag '{image_tag}' already exists in the '{repository_name}' repository "
                    f"and cannot be overwritten because the repository is immutable.")
            if holder is not None:
                holder.image_tags.remove(image_tag)
            new = existing is None
            if new:
                existing = Image(repository_name, repo.registry_id, image_manifest, media_type, actual,
                                 self._size(repo, manifest, media_type), get_clock().timestamp(),
                                 manifest.get("config", {}).get("mediaType") if media_type in IMAGE_MANIFESTS
                                 else None, refs)
                repo.images.append(existing)
                blobs.put_bytes(self.account_id, image_manifest.encode("utf-8"))
            if image_tag:
                existing.image_tags.append(image_tag)
            if new and existing.image_manifest_media_type in IMAGE_MANIFESTS and self.scans_on_push(repo):
                self.request_scan(repo, existing, quota=False)
        if image_tag:
            self._announce_push(repository_name, image_tag, existing)
        return existing

    def _announce_push(self, repository_name: str, tag: str, image: Image) -> None:
        """``ecr.image-pushed``: the tag now names this image (App Runner's auto deployments
        listen). A subscriber's failure never fails the push."""
        try:
            services.announce("ecr.image-pushed", account_id=self.account_id, region=self.region_name,
                              repository=repository_name, tag=tag, digest=image.digest)
        except Exception:
            import logging

            logging.getLogger(__name__).exception("ecr.image-pushed subscriber failed on %s:%s", repository_name, tag)

    def _check_references(self, repo, manifest: dict, media_type: str) -> list[str]:
        if media_type in IMAGE_MANIFESTS:
            refs = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest.get("layers") or []]
            missing = [d for d in refs if d not in repo.layers]
            if missing:
                raise LayersNotFoundException(
                    f"Layers with digests '{missing}' required for pushing image into repository with name "
                    f"'{repo.name}' in the registry with id '{repo.registry_id}' do not exist")
            return refs
        refs = [m["digest"] for m in manifest["manifests"]]
        missing = [d for d in refs if self.find_image(repo, {"imageDigest": d}) is None]
        if missing:
            raise ReferencedImagesNotFoundException(
                f"Some of the images referenced by this manifest list do not exist in the repository "
                f"'{repo.name}': {missing}")
        return refs

    def _size(self, repo, manifest: dict, media_type: str) -> int | None:
        if media_type in IMAGE_MANIFESTS:
            # As ECR reports it: the compressed layers (what a pull downloads).
            return sum(int(layer["size"]) for layer in manifest.get("layers") or [])
        sizes = [self.find_image(repo, {"imageDigest": m["digest"]}).size or 0 for m in manifest["manifests"]]
        return max(sizes, default=0)

    @staticmethod
    def tag_is_immutable(repo, tag: str) -> bool:
        filters = [f.get("filter", "") for f in (repo.image_tag_mutability_exclusion_filters or [])]
        excluded = any(fnmatch.fnmatchcase(tag, f) for f in filters)
        if repo.image_tag_mutability == "IMMUTABLE_WITH_EXCLUSION":
            return not excluded
        if repo.image_tag_mutability == "MUTABLE_WITH_EXCLUSION":
            return excluded
        return repo.image_tag_mutability == "IMMUTABLE"

    @staticmethod
    def find_image(repo, image_id: dict) -> Image | None:
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        for image in repo.images:
            if (digest is None or image.digest == digest) and (tag is None or tag in image.image_tags):
                return image
        return None

    def _image_or_error(self, repo, image_id: dict) -> Image:
        image = self.find_image(repo, image_id or {})
        if image is None or not image_id:
            shown = "{imageDigest:'%s', imageTag:'%s'}" % ((image_id or {}).get("imageDigest", "null"),
                                                         (image_id or {}).get("imageTag", "null"))
            raise ImageNotFoundException(shown, repo.name, repo.registry_id)
        return image

    def list_images(self, repository_name: str, registry_id: str | None = None,
                    tag_status: str = "ANY") -> list[dict]:
        repo = self._get_repository(repository_name, registry_id)
        out = []
        for image in repo.images:
            if image.image_tags and tag_status in ("ANY", "TAGGED"):
                out += [image.image_id(tag) for tag in image.image_tags]
            elif not image.image_tags and tag_status in ("ANY", "UNTAGGED"):
                out.append(image.image_id())
        return out

    def describe_images(self, repository_name: str, registry_id: str | None = None,
                        image_ids: list[dict] | None = None, tag_status: str = "ANY") -> list[Image]:
        repo = self._get_repository(repository_name, registry_id)
        if image_ids:
            found: list[Image] = []
            for image_id in image_ids:
                image = self._image_or_error(repo, image_id)
                if image not in found:
                    found.append(image)
            return found
        return [i for i in repo.images
                if tag_status == "ANY" or (tag_status == "TAGGED") == bool(i.image_tags)]

    def batch_get_image(self, repository_name: str, registry_id: str | None = None,
                        image_ids: list[dict] | None = None,
                        accepted_media_types: list[str] | None = None) -> dict[str, Any]:
        repo = self._get_repository(repository_name, registry_id)
        images, failures = [], []
        for image_id in image_ids or []:
            image = self.find_image(repo, image_id) if image_id else None
            if image is None:
                failures.append({"imageId": image_id, "failureCode": "ImageNotFound",
                                 "failureReason": "Requested image not found"})
            elif accepted_media_types and image.image_manifest_media_type not in accepted_media_types:
                failures.append({"imageId": image_id, "failureCode": "UnsupportedImageType",
                                 "failureReason": f"The image's media type {image.image_manifest_media_type} "
                                                  f"is not among the accepted media types"})
            else:
                image.last_pull = get_clock().timestamp()
                images.append({"registryId": repo.registry_id, "repositoryName": repo.name,
                               "imageId": image.image_id(image_id.get("imageTag")),
                               "imageManifest": image.image_manifest,
                               "imageManifestMediaType": image.image_manifest_media_type})
        return {"images": images, "failures": failures}

    def batch_delete_image(self, repository_name: str, registry_id: str | None = None,
                           image_ids: list[dict] | None = None) -> dict[str, Any]:
        """A tag removes the tag (and the image with its last tag); a digest removes the image."""
        with LOCK:
            repo = self._get_repository(repository_name, registry_id)
            deleted, failures = [], []
            for image_id in image_ids or []:
                if not image_id.get("imageDigest") and not image_id.get("imageTag"):
                    failures.append({"imageId": image_id, "failureCode": "MissingDigestAndTag",
                                     "failureReason": "Invalid request parameters: both tag and digest "
                                                      "cannot be null"})
                    continue
                if image_id.get("imageDigest") and not blobs.DIGEST_RE.match(image_id["imageDigest"]):
                    failures.append({"imageId": image_id, "failureCode": "InvalidImageDigest",
                                     "failureReason": "Invalid request parameters: image digest should "
                                                      "satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"})
                    continue
                image = self.find_image(repo, image_id)
                if image is None:
                    failures.append({"imageId": image_id, "failureCode": "ImageNotFound",
                                     "failureReason": "Requested image not found"})
                    continue
                if image_id.get("imageTag") and not image_id.get("imageDigest") and len(image.image_tags) > 1:
                    image.image_tags.remove(image_id["imageTag"])
                    deleted.append(image.image_id(image_id["imageTag"]))
                    continue
                deleted += [image.image_id(t) for t in image.image_tags] or [image.image_id()]
                self.remove_image(repo, image)
            return {"imageIds": deleted, "failures": failures}

    @staticmethod
    def remove_image(repo, image: Image) -> None:
        with LOCK:
            if image in repo.images:
                repo.images.remove(image)
            image.image_tags = []

    # -- layers (the ECR API's upload, and the registry's) -------------------
    def start_upload(self, repository_name: str, registry_id: str | None = None) -> Upload:
        with LOCK:
            repo = self._get_repository(repository_name, registry_id)
            upload = Upload(blobs.start_upload(self.account_id), repository_name, get_clock().timestamp())
            repo.uploads[upload.upload_id] = upload
            return upload

    def get_upload(self, repository_name: str, upload_id: str, registry_id: str | None = None) -> Upload:
        repo = self._get_repository(repository_name, registry_id)
        upload = repo.uploads.get(upload_id)
        if upload is None:
            raise UploadNotFoundException(upload_id, repository_name, repo.registry_id)
        return upload

    def finish_upload(self, repository_name: str, upload_id: str, expected: str | None,
                      registry_id: str | None = None) -> tuple[str, int]:
        """The upload's blob into the store, linked to the repository: (digest, size)."""
        with LOCK:
            repo = self._get_repository(repository_name, registry_id)
            self.get_upload(repository_name, upload_id, registry_id)
            digest, size = blobs.finish(self.account_id, upload_id, expected)
            repo.uploads.pop(upload_id, None)
            repo.layers[digest] = size
            return digest, size

    def cancel_upload(self, repository_name: str, upload_id: str, registry_id: str | None = None) -> None:
        with LOCK:
            self.get_upload(repository_name, upload_id, registry_id)
            self._get_repository(repository_name, registry_id).uploads.pop(upload_id, None)
            blobs.cancel(self.account_id, upload_id)

    def link_blob(self, repository_name: str, digest: str, source: str | None) -> int | None:
        """Cross-repository mount: a blob another repository of this account holds
        becomes this one's too. Its size, or None when ``source`` does not hold it."""
        with LOCK:
            repo = self._get_repository(repository_name)
            if digest in repo.layers:
                return repo.layers[digest]
            donor = self.repositories.get(source or "")
            if donor is None or digest not in donor.layers or not blobs.exists(self.account_id, digest):
                return None
            repo.layers[digest] = donor.layers[digest]
            return repo.layers[digest]

    def initiate_layer_upload(self, repository_name: str, registry_id: str | None = None) -> dict[str, Any]:
        upload = self.start_upload(repository_name, registry_id)
        return {"uploadId": upload.upload_id, "partSize": LAYER_PART_SIZE}

    def upload_layer_part(self, repository_name: str, upload_id: str, part_first_byte: int,
                          part_last_byte: int, layer_part_blob: bytes,
                          registry_id: str | None = None) -> dict[str, Any]:
        with LOCK:
            repo = self._get_repository(repository_name, registry_id)
            self.get_upload(repository_name, upload_id, registry_id)
            received = blobs.upload_size(self.account_id, upload_id)
            blob = layer_part_blob or b""
            # Parts arrive in order and say which bytes they are, as ECR requires.
            if part_first_byte != received or part_last_byte != received + len(blob) - 1:
                raise InvalidLayerPartException(repo.registry_id, repository_name, upload_id, received - 1)
            size = blobs.append(self.account_id, upload_id, blob)
            return {"registryId": repo.registry_id, "repositoryName": repository_name,
                    "uploadId": upload_id, "lastByteReceived": size - 1}

    def complete_layer_upload(self, repository_name: str, upload_id: str, layer_digests: list[str],
                              registry_id: str | None = None) -> dict[str, Any]:
        with LOCK:
            repo = self._get_repository(repository_name, registry_id)
            self.get_upload(repository_name, upload_id, registry_id)
            if blobs.upload_size(self.account_id, upload_id) == 0:
                raise EmptyUploadException(f"The upload with id '{upload_id}' contains no layer parts.")
            expected = (layer_digests or [None])[0]
            if expected and expected in repo.layers:
                self.cancel_upload(repository_name, upload_id, registry_id)
                raise LayerAlreadyExistsException(
                    f"The layer with digest '{expected}' already exists in the repository with name "
                    f"'{repository_name}' in the registry with id '{repo.registry_id}'")
            try:
                digest, _ = self.finish_upload(repository_name, upload_id, expected, registry_id)
            except blobs.DigestMismatch as exc:
                raise InvalidLayerException(f"The layer digest calculated for the upload, '{exc.actual}', "
                                            f"does not match the layer digest given, '{expected}'.") from None
            return {"registryId": repo.registry_id, "repositoryName": repository_name,
                    "uploadId": upload_id, "layerDigest": digest}

    def batch_check_layer_availability(self, repository_name: str, layer_digests: list[str],
                                       registry_id: str | None = None) -> dict[str, Any]:
        repo = self._get_repository(repository_name, registry_id)
        layers, failures = [], []
        for digest in layer_digests or []:
            if not blobs.DIGEST_RE.match(digest):
                failures.append({"layerDigest": digest, "failureCode": "InvalidLayerDigest",
                                 "failureReason": f"Invalid layer digest '{digest}'"})
            elif digest in repo.layers:
                layers.append({"layerDigest": digest, "layerAvailability": "AVAILABLE",
                               "layerSize": repo.layers[digest], "mediaType": self._media_type_of(repo, digest)})
            else:
                failures.append({"layerDigest": digest, "failureCode": "MissingLayerDigest",
                                 "failureReason": f"Layer digest '{digest}' could not be found"})
        return {"layers": layers, "failures": failures}

    @staticmethod
    def _media_type_of(repo, digest: str) -> str:
        for image in repo.images:
            if digest in image.references:
                manifest = json.loads(image.image_manifest)
                for ref in [manifest.get("config")] + list(manifest.get("layers") or []):
                    if ref and ref.get("digest") == digest and ref.get("mediaType"):
                        return ref["mediaType"]
        return moto_ecr.LAYER_MEDIA_TYPE

    # -- tokens -------------------------------------------------------------
    def authorization_data(self, access_key: str | None = None) -> dict[str, Any]:
        from workshop.cloud.services.ecr import tokens

        expires = get_clock().timestamp() + tokens.TOKEN_HOURS * 3600
        token = tokens.authorization_token(self.account_id, self.region_name, expires, access_key)
        return {"authorizationToken": token,
                "expiresAt": expires, "proxyEndpoint": f"http://{registry_host()}"}


def find_repository_elsewhere(account: str, name: str) -> str | None:
    """Another account holding a repository of this name (the registry answers it DENIED, not unknown)."""
    for other, per_region in list(ecr_backends.items()):
        if other == account:
            continue
        for backend in list(dict.values(per_region)):
            if name in backend.repositories:
                return other
    return None


ecr_backends = moto_ecr.ecr_backends
services.replace_backend(ecr_backends, WorkshopECRBackend)


@services.on_account_reset
def _forget_blobs(account_id: str) -> None:
    blobs.forget_account(account_id)
