"""CodeBuild wire format: each operation turns a request into a call on the
backend (models.py) and its answer into the JSON CodeBuild returns. These
methods replace moto's own on its response class."""

from __future__ import annotations

import json

from moto.codebuild.exceptions import InvalidInputException
from moto.codebuild.responses import CodeBuildResponse
from moto.core.responses import ActionResult, EmptyResult

from workshop.cloud import accounts
from workshop.cloud.services import extend
from workshop.cloud.services.codebuild.models import CodeBuildBackend, codebuild_backends, validate_input

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

    def _input(self, operation: str) -> dict:
        """The JSON request body, checked against the operation's input shape."""
        if getattr(self, "automated_parameter_parsing", False):
            body = dict(self.params)
        else:
            try:
                body = json.loads(self.body or "{}")
            except ValueError:
                raise InvalidInputException("The request body is not valid JSON") from None
        return validate_input(operation, body)

    # -- projects ---------------------------------------------------------
    def create_project(self):
        project = self.codebuild_backend.create_project(self._input("CreateProject"))
        return ActionResult({"project": project})

    def update_project(self):
        project = self.codebuild_backend.update_project(self._input("UpdateProject"))
        return ActionResult({"project": project})

    def batch_get_projects(self):
        p = self._input("BatchGetProjects")
        found, missing = self.codebuild_backend.batch_get_projects(p["names"])
        return ActionResult({"projects": found, "projectsNotFound": missing})

    def list_projects(self):
        p = self._input("ListProjects")
        names, token = self.codebuild_backend.list_projects(p.get("sortBy"), p.get("sortOrder"), p.get("nextToken"))
        return ActionResult(_with_token({"projects": names}, token))

    def delete_project(self):
        self.codebuild_backend.delete_project(self._input("DeleteProject")["name"])
        return EmptyResult()

    # -- builds -------------------------------------------------------------
    def start_build(self):
        p = self._input("StartBuild")
        overrides = {key: p[key] for key in _START_BUILD_OVERRIDES if key in p}
        # AWS's initiator: "root", an IAM user's name, or ROLE/SESSION for an assumed role.
        resource = accounts.request_caller(self.headers.environ)["arn"].split(":", 5)[5]
        initiator = resource.split("/", 1)[1] if "/" in resource else resource
        build = self.codebuild_backend.start_build(p["projectName"], overrides, initiator=initiator)
        return ActionResult({"build": build.to_dict()})

    def batch_get_builds(self):
        found, missing = self.codebuild_backend.batch_get_builds(self._input("BatchGetBuilds")["ids"])
        return ActionResult({"builds": found, "buildsNotFound": missing})

    def list_builds(self):
        p = self._input("ListBuilds")
        ids, token = self.codebuild_backend.list_builds(p.get("sortOrder"), p.get("nextToken"))
        return ActionResult(_with_token({"ids": ids}, token))

    def list_builds_for_project(self):
        p = self._input("ListBuildsForProject")
        ids, token = self.codebuild_backend.list_builds(p.get("sortOrder"), p.get("nextToken"),
                                                        project_name=p["projectName"])
        return ActionResult(_with_token({"ids": ids}, token))

    def stop_build(self):
        build = self.codebuild_backend.stop_build(self._input("StopBuild")["id"])
        return ActionResult({"build": build.to_dict()})

    def retry_build(self):
        p = self._input("RetryBuild")
        if not p.get("id"):
            raise InvalidInputException("Missing required parameter: id")
        build = self.codebuild_backend.retry_build(p["id"])
        return ActionResult({"build": build.to_dict()})

    def batch_delete_builds(self):
        deleted, not_deleted = self.codebuild_backend.batch_delete_builds(self._input("BatchDeleteBuilds")["ids"])
        return ActionResult({"buildsDeleted": deleted, "buildsNotDeleted": not_deleted})

    # -- report groups and reports ----------------------------------------------
    def create_report_group(self):
        p = self._input("CreateReportGroup")
        group = self.codebuild_backend.create_report_group(p["name"], p["type"], p["exportConfig"], p.get("tags"))
        return ActionResult({"reportGroup": group.to_dict()})

    def update_report_group(self):
        p = self._input("UpdateReportGroup")
        group = self.codebuild_backend.update_report_group(p["arn"], p.get("exportConfig"), p.get("tags"))
        return ActionResult({"reportGroup": group.to_dict()})

    def delete_report_group(self):
        p = self._input("DeleteReportGroup")
        self.codebuild_backend.delete_report_group(p["arn"], bool(p.get("deleteReports")))
        return EmptyResult()

    def list_report_groups(self):
        p = self._input("ListReportGroups")
        arns, token = self.codebuild_backend.list_report_groups(
            p.get("sortBy"), p.get("sortOrder"), p.get("nextToken"), p.get("maxResults"))
        return ActionResult(_with_token({"reportGroups": arns}, token))

    def batch_get_report_groups(self):
        found, missing = self.codebuild_backend.batch_get_report_groups(
            self._input("BatchGetReportGroups")["reportGroupArns"])
        return ActionResult({"reportGroups": found, "reportGroupsNotFound": missing})

    def list_reports(self):
        p = self._input("ListReports")
        arns, token = self.codebuild_backend.list_reports(
            p.get("sortOrder"), p.get("nextToken"), p.get("maxResults"), status=(p.get("filter") or {}).get("status"))
        return ActionResult(_with_token({"reports": arns}, token))

    def list_reports_for_report_group(self):
        p = self._input("ListReportsForReportGroup")
        arns, token = self.codebuild_backend.list_reports(
            p.get("sortOrder"), p.get("nextToken"), p.get("maxResults"),
            status=(p.get("filter") or {}).get("status"), group_arn=p["reportGroupArn"])
        return ActionResult(_with_token({"reports": arns}, token))

    def batch_get_reports(self):
        found, missing = self.codebuild_backend.batch_get_reports(self._input("BatchGetReports")["reportArns"])
        return ActionResult({"reports": found, "reportsNotFound": missing})

    def delete_report(self):
        self.codebuild_backend.delete_report(self._input("DeleteReport")["arn"])
        return EmptyResult()

    def describe_test_cases(self):
        p = self._input("DescribeTestCases")
        flt = p.get("filter") or {}
        cases, token = self.codebuild_backend.describe_test_cases(
            p["reportArn"], p.get("nextToken"), p.get("maxResults"), status=flt.get("status"),
            keyword=flt.get("keyword"))
        return ActionResult(_with_token({"testCases": cases}, token))

    def get_report_group_trend(self):
        p = self._input("GetReportGroupTrend")
        stats, raw = self.codebuild_backend.get_report_group_trend(
            p["reportGroupArn"], p["trendField"], p.get("numOfReports"))
        return ActionResult({"stats": stats, "rawData": raw})


def _with_token(result: dict, token: str | None) -> dict:
    if token:
        result["nextToken"] = token
    return result
