"""ECR's wire format for what the registry holds: images, layers, tokens, scans and
lifecycle previews. These methods replace moto's on its response class; moto keeps
repositories, policies, tags and configuration."""

from __future__ import annotations

from base64 import b64decode
from urllib.parse import quote

from moto.core.responses import ActionResult
from moto.ecr.exceptions import InvalidParameterException
from moto.ecr.responses import ECRResponse

from workshop.cloud import accounts
from workshop.cloud.services import extend, paging
from workshop.cloud.services.ecr import models
from workshop.cloud.services.ecr.models import WorkshopECRBackend, ecr_backends

_TAG_STATUSES = ("TAGGED", "UNTAGGED", "ANY")


@extend(ECRResponse)
class ECRResponses:
    @property
    def ecr_backend(self) -> WorkshopECRBackend:
        return ecr_backends[self.current_account][self.region]

    def _tag_status(self) -> str:
        status = (self._get_param("filter") or {}).get("tagStatus", "ANY")
        if status not in _TAG_STATUSES:
            raise InvalidParameterException(f"Invalid parameter at 'filter.tagStatus' failed to satisfy "
                                            f"constraint: 'Member must satisfy enum value set: {list(_TAG_STATUSES)}'")
        return status

    def _page(self, items: list, key: str) -> ActionResult:
        max_results = self._get_param("maxResults")
        page, token = paging.page(items, self._get_param("nextToken"), max_results or 1000,
                                  lambda: InvalidParameterException("Invalid parameter at 'nextToken'"))
        out = {key: page}
        if token:
            out["nextToken"] = token
        return ActionResult(out)

    # -- tokens -------------------------------------------------------------
    def get_authorization_token(self):
        # The caller's key (moto's get_access_key knows only 20-character keys).
        key = accounts.access_key_from_environ({"HTTP_AUTHORIZATION": self.headers.get("Authorization", "")})
        return ActionResult({"authorizationData": [self.ecr_backend.authorization_data(key)]})

    # -- images -------------------------------------------------------------
    def put_image(self):
        with models.LOCK:
            image = self.ecr_backend.put_image(
                self._get_param("repositoryName"), self._get_param("imageManifest"), self._get_param("imageTag"),
                self._get_param("imageManifestMediaType"), self._get_param("imageDigest"),
                self._get_param("registryId"))
        tag = self._get_param("imageTag")
        return ActionResult({"image": {
            "registryId": image.registry_id, "repositoryName": image.repository_name,
            "imageId": image.image_id(tag), "imageManifest": image.image_manifest,
            "imageManifestMediaType": image.image_manifest_media_type}})

    def list_images(self):
        ids = self.ecr_backend.list_images(self._get_param("repositoryName"), self._get_param("registryId"),
                                           self._tag_status())
        return self._page(ids, "imageIds")

    def describe_images(self):
        images = self.ecr_backend.describe_images(self._get_param("repositoryName"), self._get_param("registryId"),
                                                  self._get_param("imageIds"), self._tag_status())
        return self._page([image.detail() for image in images], "imageDetails")

    def batch_get_image(self):
        return ActionResult(self.ecr_backend.batch_get_image(
            self._get_param("repositoryName"), self._get_param("registryId"), self._get_param("imageIds"),
            self._get_param("acceptedMediaTypes")))

    def batch_delete_image(self):
        return ActionResult(self.ecr_backend.batch_delete_image(
            self._get_param("repositoryName"), self._get_param("registryId"), self._get_param("imageIds")))

    # -- layers ---------------------------------------------------------------
    def upload_layer_part(self):
        blob = self._get_param("layerPartBlob")
        if isinstance(blob, str):  # the JSON protocol sends blobs in base64
            blob = b64decode(blob)
        return ActionResult(self.ecr_backend.upload_layer_part(
            self._get_param("repositoryName"), self._get_param("uploadId"), self._get_param("partFirstByte"),
            self._get_param("partLastByte"), blob, registry_id=self._get_param("registryId")))

    def get_download_url_for_layer(self):
        name, digest = self._get_param("repositoryName"), self._get_param("layerDigest")
        backend = self.ecr_backend
        repo = backend.repository(name, self._get_param("registryId"))
        if digest not in repo.layers:
            raise models.LayersNotFoundException(
                f"The layer with digest '{digest}' does not exist in the repository with name '{name}' "
                f"in the registry with id '{repo.registry_id}'")
        # ECR answers a presigned URL that needs no other credentials: here a registry URL
        # carrying a short-lived token of this account.
        from workshop.cloud.services.ecr import tokens
        from workshop.cloud.clock import get_clock

        password = tokens.issue_password(backend.account_id, backend.region_name, get_clock().timestamp() + 3600)
        url = (f"http://{models.registry_host()}/v2/{name}/blobs/{digest}"
               f"?workshop-token={quote(password)}")
        return ActionResult({"downloadUrl": url, "layerDigest": digest})

    # -- scans ------------------------------------------------------------------
    def describe_image_scan_findings(self):
        out, found = self.ecr_backend.describe_image_scan_findings(
            self._get_param("registryId"), self._get_param("repositoryName"), self._get_param("imageId") or {})
        if "imageScanFindings" in out:
            page, token = paging.page(found, self._get_param("nextToken"), self._get_param("maxResults") or 100,
                                      lambda: InvalidParameterException("Invalid parameter at 'nextToken'"))
            out["imageScanFindings"]["findings"] = page
            if token:
                out["nextToken"] = token
        return ActionResult(out)

    # -- lifecycle ----------------------------------------------------------------
    def start_lifecycle_policy_preview(self):
        return ActionResult(self.ecr_backend.start_lifecycle_policy_preview(
            self._get_param("registryId"), self._get_param("repositoryName"), self._get_param("lifecyclePolicyText")))

    def get_lifecycle_policy_preview(self):
        out = self.ecr_backend.get_lifecycle_policy_preview(
            self._get_param("registryId"), self._get_param("repositoryName"), self._get_param("imageIds"),
            self._tag_status())
        page, token = paging.page(out["previewResults"], self._get_param("nextToken"),
                                  self._get_param("maxResults") or 100,
                                  lambda: InvalidParameterException("Invalid parameter at 'nextToken'"))
        out["previewResults"] = page
        if token:
            out["nextToken"] = token
        return ActionResult(out)
