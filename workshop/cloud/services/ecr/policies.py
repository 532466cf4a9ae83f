"""What ECR does to images over time, as backend methods: lifecycle policies (put,
preview, the sweep's expiry) and basic scans (requested on push or by
start_image_scan, finished by the scanner engine). Mixed into the ECR backend
(models.py); the rules themselves are lifecycle.py and scanning.py. A scan is
announced (``ecr.scan``) for the engine that subscribes, never called."""

from __future__ import annotations

import fnmatch
from typing import Any

from moto.ecr.exceptions import (
    InvalidParameterException,
    LifecyclePolicyNotFoundException,
    LimitExceededException,
    ScanNotFoundException,
)
from moto.core.exceptions import ServiceException

from workshop.cloud import services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.ecr import lifecycle

SCAN_QUOTA_SECONDS = 86400.0  # basic scanning: one scan per image per 24 hours


class LifecyclePolicyPreviewNotFoundException(ServiceException):
    code = "LifecyclePolicyPreviewNotFoundException"


class UnsupportedImageTypeException(ServiceException):
    code = "UnsupportedImageTypeException"


class PoliciesMixin:
    """Needs the backend's ``_get_repository``, ``find_image``, ``remove_image``."""

    # -- lifecycle ------------------------------------------------------------
    def put_lifecycle_policy(self, registry_id: str | None, repository_name: str,
                             lifecycle_policy_text: str) -> dict[str, Any]:
        repo = self._get_repository(repository_name, registry_id)
        _rules(lifecycle_policy_text)
        repo.lifecycle_policy = lifecycle_policy_text
        return {"registryId": repo.registry_id, "repositoryName": repository_name,
                "lifecyclePolicyText": lifecycle_policy_text}

    def get_lifecycle_policy(self, registry_id: str | None, repository_name: str) -> dict[str, Any]:
        repo = self._get_repository(repository_name, registry_id)
        if not repo.lifecycle_policy:
            raise LifecyclePolicyNotFoundException(repository_name, repo.registry_id)
        out = {"registryId": repo.registry_id, "repositoryName": repository_name,
               "lifecyclePolicyText": repo.lifecycle_policy}
        if getattr(repo, "lifecycle_evaluated_at", None):
            out["lastEvaluatedAt"] = repo.lifecycle_evaluated_at
        return out

    def expiring(self, repo, text: str | None = None) -> list[lifecycle.Verdict]:
        """What the repository's policy (or ``text``) expires now, on the workshop clock."""
        clock = get_clock()
        return lifecycle.evaluate(_rules(text or repo.lifecycle_policy), list(repo.images), clock.timestamp(),
                                  clock.time_scale)

    def start_lifecycle_policy_preview(self, registry_id: str | None, repository_name: str,
                                       text: str | None) -> dict[str, Any]:
        repo = self._get_repository(repository_name, registry_id)
        text = text or repo.lifecycle_policy
        if not text:
            raise LifecyclePolicyNotFoundException(repository_name, repo.registry_id)
        verdicts = self.expiring(repo, text)
        results = []
        for verdict in verdicts:
            image = self.find_image(repo, {"imageDigest": verdict.digest})
            results.append({"imageTags": list(image.image_tags), "imageDigest": image.digest,
                            "imagePushedAt": image.pushed_at, "action": {"type": "EXPIRE"},
                            "appliedRulePriority": verdict.priority})
        repo.lifecycle_preview = {"text": text, "results": results}
        return {"registryId": repo.registry_id, "repositoryName": repository_name,
                "lifecyclePolicyText": text, "status": "IN_PROGRESS"}

    def get_lifecycle_policy_preview(self, registry_id: str | None, repository_name: str,
                                     image_ids: list[dict] | None, tag_status: str) -> dict[str, Any]:
        repo = self._get_repository(repository_name, registry_id)
        preview = getattr(repo, "lifecycle_preview", None)
        if not preview:
            raise LifecyclePolicyPreviewNotFoundException(
                f"There is no lifecycle policy preview for the repository with name '{repository_name}' "
                f"in the registry with id '{repo.registry_id}'")
        results = preview["results"]
        if tag_status != "ANY":
            results = [r for r in results if bool(r["imageTags"]) == (tag_status == "TAGGED")]
        if image_ids:
            results = [r for r in results if any(
                (i.get("imageDigest") in (None, r["imageDigest"])) and
                (i.get("imageTag") is None or i["imageTag"] in r["imageTags"]) for i in image_ids)]
        return {"registryId": repo.registry_id, "repositoryName": repository_name,
                "lifecyclePolicyText": preview["text"], "status": "COMPLETE", "previewResults": results,
                "summary": {"expiringImageTotalCount": len(preview["results"])}}

    def sweep_lifecycle(self) -> list[tuple[str, list[dict]]]:
        """Expire what every repository's policy says now (the sweeper's call): what went, by repository."""
        from workshop.cloud.services.ecr.models import LOCK

        done = []
        with LOCK:
            for repo in list(self.repositories.values()):
                if not repo.lifecycle_policy:
                    continue
                try:
                    verdicts = self.expiring(repo)
                except InvalidParameterException:  # a policy stored before validation: leave it
                    continue
                repo.lifecycle_evaluated_at = get_clock().timestamp()
                gone = []
                for verdict in verdicts:
                    image = self.find_image(repo, {"imageDigest": verdict.digest})
                    if image is not None:
                        gone.append({"imageDigest": image.digest, "imageTags": list(image.image_tags),
                                     "imagePushedAt": image.pushed_at, "rulePriority": verdict.priority})
                        self.remove_image(repo, image)
                if gone:
                    done.append((repo.name, gone))
        return done

    # -- scans ----------------------------------------------------------------
    def scans_on_push(self, repo) -> bool:
        if (repo.image_scanning_configuration or {}).get("scanOnPush"):
            return True
        for rule in (self.registry_scanning_configuration or {}).get("rules", []):
            if rule.get("scanFrequency") in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN") and any(
                    fnmatch.fnmatchcase(repo.name, f.get("filter", "")) for f in rule.get("repositoryFilters", [])):
                return True
        return False

    def request_scan(self, repo, image, quota: bool = True) -> None:
        from workshop.cloud.services.ecr.models import IMAGE_MANIFESTS

        if image.image_manifest_media_type not in IMAGE_MANIFESTS:
            raise UnsupportedImageTypeException(
                f"The image '{image.digest}' is an image index: scan the images it lists.")
        now = get_clock().timestamp()
        started = (image.scan or {}).get("startedAt")
        if quota and started is not None and get_clock().aws_seconds(now - started) < SCAN_QUOTA_SECONDS:
            raise LimitExceededException()
        image.scan = {"status": "IN_PROGRESS", "description": "", "startedAt": now}
        services.announce("ecr.scan", account=self.account_id, region=self.region_name,
                          repository=repo.name, digest=image.digest)

    def finish_scan(self, repository_name: str, digest: str, found: list[dict] | None, error: str = "") -> None:
        from workshop.cloud.services.ecr import scanning
        from workshop.cloud.services.ecr.models import LOCK

        with LOCK:
            repo = self.repositories.get(repository_name)
            image = self.find_image(repo, {"imageDigest": digest}) if repo else None
            if image is None or not image.scan:
                return
            now = get_clock().timestamp()
            if found is None:
                image.scan = {**image.scan, "status": "FAILED", "description": error}
                return
            image.scan = {**image.scan, "status": "COMPLETE", "description": "The scan was completed successfully.",
                          "completedAt": now, "sourceUpdatedAt": _snapshot_time(scanning.snapshot()["snapshot"]),
                          "severityCounts": scanning.severity_counts(found), "findings": found}

    def start_image_scan(self, registry_id: str | None, repository_name: str, image_id: dict) -> dict[str, Any]:
        repo = self._get_repository(repository_name, registry_id)
        image = self._image_or_error(repo, image_id)
        self.request_scan(repo, image)
        return {"registryId": repo.registry_id, "repositoryName": repository_name,
                "imageId": image.image_id(image_id.get("imageTag")),
                "imageScanStatus": {"status": "IN_PROGRESS", "description": ""}}

    def describe_image_scan_findings(self, registry_id: str | None, repository_name: str,
                                     image_id: dict) -> tuple[dict[str, Any], list[dict]]:
        """(the answer without its findings, the findings to page)."""
        repo = self._get_repository(repository_name, registry_id)
        image = self._image_or_error(repo, image_id)
        if not image.scan:
            raise ScanNotFoundException(str(image_id), repository_name, repo.registry_id)
        scan = image.scan
        out: dict[str, Any] = {"registryId": repo.registry_id, "repositoryName": repository_name,
                               "imageId": image.image_id(image_id.get("imageTag")),
                               "imageScanStatus": {"status": scan["status"], "description": scan.get("description", "")}}
        if scan["status"] != "COMPLETE":
            return out, []
        out["imageScanFindings"] = {"imageScanCompletedAt": scan["completedAt"],
                                    "vulnerabilitySourceUpdatedAt": scan["sourceUpdatedAt"],
                                    "findingSeverityCounts": dict(scan["severityCounts"])}
        return out, list(scan["findings"])


def _rules(text: str | None) -> list[lifecycle.Rule]:
    try:
        return lifecycle.parse(text or "")
    except lifecycle.PolicyError as exc:
        raise InvalidParameterException(str(exc)) from None


def _snapshot_time(day: str) -> float:
    from datetime import datetime, timezone

    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()

