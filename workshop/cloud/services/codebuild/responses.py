"""CodeBuild wire format: each operation turns a request into a call on the
backend (models.py) and its answer into the JSON CodeBuild returns. These
methods replace moto's own on its response class."""

from __future__ import annotations

import json

from moto.codebuild.exceptions import InvalidInputException
from moto.codebuild.responses import CodeBuildResponse
from moto.core.responses import ActionResult, EmptyResult

from workshop.cloud.services import extend
from workshop.cloud.services.codebuild.models import CodeBuildBackend, codebuild_backends

_START_BUILD_OVERRIDES = (
    "sourceVersion", "artifactsOverride", "environmentVariablesOverride", "sourceTypeOverride",
    "sourceLocationOverride", "gitCloneDepthOverride", "buildspecOverride", "environmentTypeOverride",
    "imageOverride", "computeTypeOverride", "cacheOverride", "serviceRoleOverride", "privilegedModeOverride",
    "timeoutInMinutesOverride", "queuedTimeoutInMinutesOverride", "encryptionKeyOverride",
    "logsConfigOverride", "imagePullCredentialsTypeOverride",
)


@extend(CodeBuildResponse)
class CodeBuildResponses:
    @property
    def codebuild_backend(self) -> CodeBuildBackend:
        return codebuild_backends[self.current_account][self.region]

    def _params(self) -> dict:
        """The whole JSON request body."""
        if getattr(self, "automated_parameter_parsing", False):
            return dict(self.params)
        try:
            body = json.loads(self.body or "{}")
        except ValueError:
            raise InvalidInputException("The request body is not valid JSON") from None
        return body if isinstance(body, dict) else {}

    # -- projects ---------------------------------------------------------
    def create_project(self):
        project = self.codebuild_backend.create_project(self._params())
        return ActionResult({"project": project})

    def update_project(self):
        project = self.codebuild_backend.update_project(self._params())
        return ActionResult({"project": project})

    def batch_get_projects(self):
        found, missing = self.codebuild_backend.batch_get_projects(self._get_param("names"))
        return ActionResult({"projects": found, "projectsNotFound": missing})

    def list_projects(self):
        names, token = self.codebuild_backend.list_projects(
            self._get_param("sortBy"), self._get_param("sortOrder"), self._get_param("nextToken"))
        return ActionResult(_with_token({"projects": names}, token))

    def delete_project(self):
        name = self._get_param("name")
        if not name:
            raise InvalidInputException("Missing required parameter: name")
        self.codebuild_backend.delete_project(name)
        return EmptyResult()

    # -- builds -------------------------------------------------------------
    def start_build(self):
        params = self._params()
        overrides = {key: params[key] for key in _START_BUILD_OVERRIDES if key in params}
        build = self.codebuild_backend.start_build(params.get("projectName") or "", overrides)
        return ActionResult({"build": build.to_dict()})

    def batch_get_builds(self):
        found, missing = self.codebuild_backend.batch_get_builds(self._get_param("ids"))
        return ActionResult({"builds": found, "buildsNotFound": missing})

    def list_builds(self):
        ids, token = self.codebuild_backend.list_builds(self._get_param("sortOrder"), self._get_param("nextToken"))
        return ActionResult(_with_token({"ids": ids}, token))

    def list_builds_for_project(self):
        ids, token = self.codebuild_backend.list_builds(
            self._get_param("sortOrder"), self._get_param("nextToken"),
            project_name=self._get_param("projectName") or "")
        return ActionResult(_with_token({"ids": ids}, token))

    def stop_build(self):
        build = self.codebuild_backend.stop_build(self._get_param("id"))
        return ActionResult({"build": build.to_dict()})

    def retry_build(self):
        build = self.codebuild_backend.retry_build(self._get_param("id"))
        return ActionResult({"build": build.to_dict()})

    def batch_delete_builds(self):
        deleted, not_deleted = self.codebuild_backend.batch_delete_builds(self._get_param("ids"))
        return ActionResult({"buildsDeleted": deleted, "buildsNotDeleted": not_deleted})

    # -- report groups and reports ----------------------------------------------
    def create_report_group(self):
        group = self.codebuild_backend.create_report_group(
            self._get_param("name"), self._get_param("type"), self._get_param("exportConfig"),
            self._get_param("tags"))
        return ActionResult({"reportGroup": group.to_dict()})

    def update_report_group(self):
        group = self.codebuild_backend.update_report_group(
            self._get_param("arn"), self._get_param("exportConfig"), self._get_param("tags"))
        return ActionResult({"reportGroup": group.to_dict()})

    def delete_report_group(self):
        self.codebuild_backend.delete_report_group(self._get_param("arn"), bool(self._get_param("deleteReports")))
        return EmptyResult()

    def list_report_groups(self):
        arns, token = self.codebuild_backend.list_report_groups(
            self._get_param("sortBy"), self._get_param("sortOrder"), self._get_param("nextToken"),
            self._get_param("maxResults"))
        return ActionResult(_with_token({"reportGroups": arns}, token))

    def batch_get_report_groups(self):
        found, missing = self.codebuild_backend.batch_get_report_groups(self._get_param("reportGroupArns"))
        return ActionResult({"reportGroups": found, "reportGroupsNotFound": missing})

    def list_reports(self):
        arns, token = self.codebuild_backend.list_reports(
            self._get_param("sortOrder"), self._get_param("nextToken"), self._get_param("maxResults"),
            status=(self._get_param("filter") or {}).get("status"))
        return ActionResult(_with_token({"reports": arns}, token))

    def list_reports_for_report_group(self):
        arns, token = self.codebuild_backend.list_reports(
            self._get_param("sortOrder"), self._get_param("nextToken"), self._get_param("maxResults"),
            status=(self._get_param("filter") or {}).get("status"),
            group_arn=self._get_param("reportGroupArn") or "")
        return ActionResult(_with_token({"reports": arns}, token))

    def batch_get_reports(self):
        found, missing = self.codebuild_backend.batch_get_reports(self._get_param("reportArns"))
        return ActionResult({"reports": found, "reportsNotFound": missing})

    def delete_report(self):
        self.codebuild_backend.delete_report(self._get_param("arn"))
        return EmptyResult()

    def describe_test_cases(self):
        flt = self._get_param("filter") or {}
        cases, token = self.codebuild_backend.describe_test_cases(
            self._get_param("reportArn"), self._get_param("nextToken"), self._get_param("maxResults"),
            status=flt.get("status"), keyword=flt.get("keyword"))
        return ActionResult(_with_token({"testCases": cases}, token))

    def get_report_group_trend(self):
        stats, raw = self.codebuild_backend.get_report_group_trend(
            self._get_param("reportGroupArn"), self._get_param("trendField"), self._get_param("numOfReports"))
        return ActionResult({"stats": stats, "rawData": raw})


def _with_token(result: dict, token: str | None) -> dict:
    if token:
        result["nextToken"] = token
    return result
