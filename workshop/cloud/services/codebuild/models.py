"""CodeBuild state and rules, per account and region: projects, builds (their
phases and outcome, which the build runner writes), report groups, reports
and their test cases. It replaces moto's backend, whose builds never run, in
moto's own ``codebuild_backends`` so every caller finds this one."""

from __future__ import annotations

import copy
import re
import threading
import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from moto.codebuild import models as moto_codebuild
from moto.codebuild.exceptions import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from moto.core.base_backend import BaseBackend

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services import paging

FINAL_STATUSES = ("SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED")
TEST_STATUSES = ("SUCCEEDED", "FAILED", "ERROR", "SKIPPED", "UNKNOWN")
DEFAULT_TIMEOUT = 60
DEFAULT_QUEUED_TIMEOUT = 480
PAGE = 100
ENVIRONMENT_LOST = ("The build environment was lost: the workshop cloud stopped while this build ran. "
                    "Start the build again.")

_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_]{1,254}$")
_REPORT_GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_]{1,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOG_GROUP = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")


@lru_cache(maxsize=1)
def service_model():
    """CodeBuild's API model, as botocore ships it (loaded once)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("codebuild")


@lru_cache(maxsize=None)
def enum(shape: str) -> tuple[str, ...]:
    """An enum of CodeBuild's own API model (so new AWS values are accepted)."""
    return tuple(service_model().shape_for(shape).enum)


def validate_input(operation: str, params) -> dict:
    """Check a request against CodeBuild's own API model (types, required
    members, lengths and ranges), as AWS does before anything else."""
    from botocore.validate import ParamValidator

    if not isinstance(params, dict):
        raise InvalidInputException("The request body must be a JSON object")
    report = ParamValidator().validate(params, service_model().operation_model(operation).input_shape)
    if report.has_errors():
        raise InvalidInputException(" ".join(report.generate_report().split()))
    return params


def now() -> datetime:
    return get_clock().now()


# -- projects -----------------------------------------------------------------

class Project:
    def __init__(self, backend: CodeBuildBackend, name: str):
        self.name = name
        self.arn = backend.arn(f"project/{name}")
        self.created = self.last_modified = now()
        self.build_counter = 0
        self.settings: dict[str, Any] = {
            "encryptionKey": f"arn:{backend.partition}:kms:{backend.region_name}:{backend.account_id}:alias/aws/s3",
            "timeoutInMinutes": DEFAULT_TIMEOUT,
            "queuedTimeoutInMinutes": DEFAULT_QUEUED_TIMEOUT,
            "cache": {"type": "NO_CACHE"},
            "badge": {"badgeEnabled": False},
            "logsConfig": {"cloudWatchLogs": {"status": "ENABLED"}, "s3Logs": {"status": "DISABLED"}},
            "projectVisibility": "PRIVATE",
            "tags": [],
        }

    def to_dict(self) -> dict:
        out = copy.deepcopy(self.settings)
        out.update(name=self.name, arn=self.arn, created=self.created, lastModified=self.last_modified)
        return out


_PROJECT_FIELDS = ("description", "source", "secondarySources", "sourceVersion", "secondarySourceVersions",
                   "artifacts", "secondaryArtifacts", "cache", "environment", "serviceRole",
                   "timeoutInMinutes", "queuedTimeoutInMinutes", "encryptionKey", "tags", "vpcConfig",
                   "logsConfig", "fileSystemLocations", "buildBatchConfig", "concurrentBuildLimit",
                   "autoRetryLimit")


# -- builds -------------------------------------------------------------------

class Build:
    """One build's record. The runner moves it through its phases; every
    change goes through these methods, under the build's lock."""

    def __init__(self, backend: CodeBuildBackend, project: Project, spec: dict, request: dict,
                 initiator: str):
        self.uuid = str(uuid.uuid4())
        self.id = f"{project.name}:{self.uuid}"
        self.arn = backend.arn(f"build/{self.id}")
        self.account_id = backend.account_id
        self.region = backend.region_name
        self.project_name = project.name
        self.request = copy.deepcopy(request)  # what start_build was asked (retry_build repeats it)
        self.spec = spec  # the resolved settings the runner follows
        spec["logs"] = logs_location(backend, project.name, self.uuid, spec["logsConfig"])
        spec["artifactTarget"] = artifact_target(project.name, self.uuid, spec["artifacts"])
        spec["artifactsRecord"] = artifact_record(backend.partition, spec["artifactTarget"], spec["artifacts"])
        self.lock = threading.RLock()
        self.start_time = now()
        project.build_counter += 1
        self.record: dict[str, Any] = {
            "id": self.id,
            "arn": self.arn,
            "buildNumber": project.build_counter,
            "startTime": self.start_time,
            "currentPhase": "SUBMITTED",
            "buildStatus": "IN_PROGRESS",
            "projectName": project.name,
            "phases": [],
            "source": copy.deepcopy(spec["source"]),
            "secondarySources": [],
            "secondarySourceVersions": [],
            "artifacts": copy.deepcopy(spec["artifactsRecord"]),
            "secondaryArtifacts": [],
            "cache": copy.deepcopy(spec.get("cache") or {"type": "NO_CACHE"}),
            "environment": copy.deepcopy(spec["environment"]),
            "serviceRole": spec["serviceRole"],
            "logs": queued_logs(spec["logs"]),
            "timeoutInMinutes": spec["timeoutInMinutes"],
            "queuedTimeoutInMinutes": spec["queuedTimeoutInMinutes"],
            "buildComplete": False,
            "initiator": initiator,
            "encryptionKey": spec["encryptionKey"],
            "reportArns": [],
        }
        if spec.get("sourceVersion"):
            self.record["sourceVersion"] = spec["sourceVersion"]
        self.enter_phase("SUBMITTED")
        self.finish_phase("SUCCEEDED", contexts=False)
        self.enter_phase("QUEUED")

    @property
    def complete(self) -> bool:
        return self.record["buildComplete"]

    def enter_phase(self, phase_type: str) -> None:
        with self.lock:
            self.record["phases"].append({"phaseType": phase_type, "startTime": now()})
            self.record["currentPhase"] = phase_type
            persistence.changed(self.account_id)

    def finish_phase(self, status: str, status_code: str = "", message: str = "",
                     contexts: bool = True) -> None:
        with self.lock:
            phase = self.record["phases"][-1]
            if "phaseStatus" in phase:
                return
            end = now()
            phase.update(phaseStatus=status, endTime=end,
                         durationInSeconds=int((end - phase["startTime"]).total_seconds()))
            if contexts:
                phase["contexts"] = [{"statusCode": status_code, "message": message}]
            persistence.changed(self.account_id)

    def set(self, **fields) -> None:
        with self.lock:
            self.record.update(copy.deepcopy(fields))
            persistence.changed(self.account_id)

    def finish(self, status: str) -> None:
        """The build is over: COMPLETED phase, final status, end time."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"not a final build status: {status}")
        with self.lock:
            if self.record["buildComplete"]:
                return
            self.record["phases"].append({"phaseType": "COMPLETED", "startTime": now()})
            self.record.update(currentPhase="COMPLETED", buildStatus=status, buildComplete=True,
                               endTime=now())
            persistence.changed(self.account_id)

    def environment_lost(self) -> None:
        """The cloud stopped while the build ran (found at the next start): its phase and
        the build end FAILED, as AWS ends a build whose build container died."""
        with self.lock:
            if self.record["buildComplete"]:
                return
            self.finish_phase("FAILED", "BUILD_ENVIRONMENT_LOST", ENVIRONMENT_LOST)
            self.finish("FAILED")

    def to_dict(self) -> dict:
        with self.lock:
            return copy.deepcopy(self.record)


# -- reports ------------------------------------------------------------------

class ReportGroup:
    def __init__(self, backend: CodeBuildBackend, name: str, group_type: str, export_config: dict,
                 tags: list | None):
        self.name = name
        self.arn = backend.arn(f"report-group/{name}")
        self.type = group_type
        self.export_config = export_config or {"exportConfigType": "NO_EXPORT"}
        self.tags = tags or []
        self.created = self.last_modified = now()

    def to_dict(self) -> dict:
        return {"arn": self.arn, "name": self.name, "type": self.type,
                "exportConfig": copy.deepcopy(self.export_config), "created": self.created,
                "lastModified": self.last_modified, "tags": copy.deepcopy(self.tags), "status": "ACTIVE"}


class Report:
    def __init__(self, backend: CodeBuildBackend, group: ReportGroup, build: Build):
        ident = str(uuid.uuid4())
        self.arn = backend.arn(f"report/{group.name}:{ident}")
        self.name = f"{group.name}-{ident}"
        self.group_arn = group.arn
        self.execution_id = build.arn
        self.created = now()
        self.status = "GENERATING"
        self.export_config = copy.deepcopy(group.export_config)
        self.test_cases: list[dict] = []

    def summary(self) -> dict:
        counts = {status: 0 for status in TEST_STATUSES}
        for case in self.test_cases:
            counts[case["status"]] = counts.get(case["status"], 0) + 1
        return {"total": len(self.test_cases), "statusCounts": counts,
                "durationInNanoSeconds": sum(c.get("durationInNanoSeconds", 0) for c in self.test_cases)}

    def to_dict(self) -> dict:
        return {"arn": self.arn, "type": "TEST", "name": self.name, "reportGroupArn": self.group_arn,
                "executionId": self.execution_id, "status": self.status, "created": self.created,
                "expired": self.created + timedelta(days=30), "exportConfig": copy.deepcopy(self.export_config),
                "truncated": False, "testSummary": self.summary()}


# -- the backend ----------------------------------------------------------------

class CodeBuildBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = threading.RLock()
        self.projects: dict[str, Project] = {}
        self.builds: dict[str, Build] = {}  # in the order they started
        self.report_groups: dict[str, ReportGroup] = {}  # by ARN
        self.reports: dict[str, Report] = {}  # by ARN

    @property
    def _url_module(self):
        # moto finds a service's URLs next to its backend's module: they stay moto's.
        from moto.codebuild import urls

        return urls

    def arn(self, resource: str) -> str:
        return f"arn:{self.partition}:codebuild:{self.region_name}:{self.account_id}:{resource}"

    def reset(self) -> None:
        # A reset account's running builds stop and write nothing more.
        services.announce("codebuild.backend-reset", account_id=self.account_id, region=self.region_name)
        super().reset()

    # -- projects ---------------------------------------------------------
    def create_project(self, params: dict) -> dict:
        name = params.get("name") or ""
        _check_project_name(name)
        for required in ("source", "artifacts", "environment", "serviceRole"):
            if not params.get(required):
                raise InvalidInputException(f"Missing required parameter: {required}")
        with self.lock:
            if name in self.projects:
                raise ResourceAlreadyExistsException(f"Project already exists: {self.arn('project/' + name)}")
            project = Project(self, name)
            self._apply(project, params)
            self.projects[name] = project
            return project.to_dict()

    def update_project(self, params: dict) -> dict:
        with self.lock:
            project = self.get_project(params.get("name") or "")
            updated = Project(self, project.name)
            updated.settings = copy.deepcopy(project.settings)
            self._apply(updated, params)  # checks everything before anything changes
            project.settings = updated.settings
            project.last_modified = now()
            return project.to_dict()

    def _apply(self, project: Project, params: dict) -> None:
        settings = project.settings
        for key in _PROJECT_FIELDS:
            if key in params and params[key] is not None:
                settings[key] = copy.deepcopy(params[key])
        if "badgeEnabled" in params and params["badgeEnabled"] is not None:
            settings["badge"] = {"badgeEnabled": bool(params["badgeEnabled"])}
        _check_source(settings["source"])
        _check_artifacts(settings["artifacts"])
        _check_environment(settings["environment"])
        settings["serviceRole"] = self._role_arn(settings["serviceRole"])
        settings["timeoutInMinutes"] = _check_range(settings["timeoutInMinutes"], 5, 2160, "timeoutInMinutes")
        settings["queuedTimeoutInMinutes"] = _check_range(settings["queuedTimeoutInMinutes"], 5, 480,
                                                          "queuedTimeoutInMinutes")
        _check_logs_config(settings.get("logsConfig"))
        settings["logsConfig"].setdefault("cloudWatchLogs", {"status": "ENABLED"})
        settings["logsConfig"].setdefault("s3Logs", {"status": "DISABLED"})
        _check_tags(settings.get("tags"))

    def _role_arn(self, role: str) -> str:
        if not isinstance(role, str) or not role:
            raise InvalidInputException("Invalid service role: a role ARN is required")
        if not role.startswith("arn:"):
            return f"arn:{self.partition}:iam::{self.account_id}:role/{role}"
        if not role.startswith(f"arn:{self.partition}:iam::{self.account_id}:role/"):
            raise InvalidInputException(
                "Invalid service role: Service role account ID does not match caller's account")
        return role

    def get_project(self, name: str) -> Project:
        if isinstance(name, str) and name.startswith("arn:"):
            name = name.rsplit("/", 1)[-1]
        project = self.projects.get(name)
        if project is None:
            raise ResourceNotFoundException(f"Project cannot be found: {self.arn('project/' + str(name))}")
        return project

    def batch_get_projects(self, names: list[str]) -> tuple[list[dict], list[str]]:
        _check_batch(names, "names")
        found, missing = [], []
        for name in names:
            try:
                found.append(self.get_project(name).to_dict())
            except ResourceNotFoundException:
                missing.append(name)
        return found, missing

    def list_projects(self, sort_by: str | None, sort_order: str | None, token: str | None) -> tuple[list[str], str | None]:
        sort_by = sort_by or "NAME"
        keys = {"NAME": lambda p: p.name, "CREATED_TIME": lambda p: p.created,
                "LAST_MODIFIED_TIME": lambda p: p.last_modified}
        if sort_by not in keys:
            raise InvalidInputException(f"Invalid sortBy {sort_by}: use NAME, CREATED_TIME or LAST_MODIFIED_TIME")
        descending = _descending(sort_order, default=False)
        with self.lock:
            projects = sorted(self.projects.values(), key=keys[sort_by], reverse=descending)
        return _page([p.name for p in projects], token)

    def delete_project(self, name: str) -> None:
        # Deleting a project keeps its builds, as AWS does.
        with self.lock:
            if isinstance(name, str) and name.startswith("arn:"):
                name = name.rsplit("/", 1)[-1]
            self.projects.pop(name, None)

    # -- builds ------------------------------------------------------------
    def start_build(self, project_name: str, overrides: dict | None = None,
                    initiator: str = "root") -> Build:
        """Create a build from a project and start-build overrides, and hand it to the runner."""
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        with self.lock:
            project = self.get_project(project_name)
            spec = self._build_spec(project, overrides)
            build = Build(self, project, spec, overrides, initiator)
            self.builds[build.id] = build
        services.announce("codebuild.build-queued", build=build)
        return build

    def _build_spec(self, project: Project, o: dict) -> dict:
        """The settings a build runs with: the project's, then start_build's overrides."""
        s = copy.deepcopy(project.settings)
        source = s["source"]
        if "sourceTypeOverride" in o:
            source["type"] = o["sourceTypeOverride"]
        if "sourceLocationOverride" in o:
            source["location"] = o["sourceLocationOverride"]
        if "buildspecOverride" in o:
            source["buildspec"] = o["buildspecOverride"]
        if "gitCloneDepthOverride" in o:
            source["gitCloneDepth"] = o["gitCloneDepthOverride"]
        _check_source(source)

        artifacts = copy.deepcopy(o.get("artifactsOverride") or s["artifacts"])
        _check_artifacts(artifacts)

        environment = s["environment"]
        for key, field in (("imageOverride", "image"), ("computeTypeOverride", "computeType"),
                           ("environmentTypeOverride", "type"), ("privilegedModeOverride", "privilegedMode"),
                           ("imagePullCredentialsTypeOverride", "imagePullCredentialsType")):
            if key in o:
                environment[field] = o[key]
        if "environmentVariablesOverride" in o:
            merged = {v["name"]: v for v in environment.get("environmentVariables", [])}
            for var in o["environmentVariablesOverride"]:
                merged[var.get("name")] = var
            environment["environmentVariables"] = list(merged.values())
        environment.setdefault("environmentVariables", [])
        environment.setdefault("privilegedMode", False)
        environment.setdefault("imagePullCredentialsType", "CODEBUILD")
        _check_environment(environment)

        timeout = _check_range(o.get("timeoutInMinutesOverride", s["timeoutInMinutes"]), 5, 2160,
                               "timeoutInMinutesOverride")
        queued = _check_range(o.get("queuedTimeoutInMinutesOverride", s["queuedTimeoutInMinutes"]), 5, 480,
                              "queuedTimeoutInMinutesOverride")
        logs_config = copy.deepcopy(o.get("logsConfigOverride") or s["logsConfig"])
        _check_logs_config(logs_config)
        source_version = o.get("sourceVersion") or s.get("sourceVersion")
        if source_version and source["type"] == "NO_SOURCE":
            raise InvalidInputException("Invalid sourceVersion: a NO_SOURCE project has no source version")
        return {
            "source": source,
            "sourceVersion": source_version,
            "artifacts": artifacts,
            "environment": environment,
            "serviceRole": self._role_arn(o.get("serviceRoleOverride") or s["serviceRole"]),
            "timeoutInMinutes": timeout,
            "queuedTimeoutInMinutes": queued,
            "encryptionKey": o.get("encryptionKeyOverride") or s["encryptionKey"],
            "cache": o.get("cacheOverride") or s.get("cache"),
            "logsConfig": logs_config,
        }

    def get_build(self, build_id: str) -> Build:
        if not isinstance(build_id, str) or ":" not in build_id:
            raise InvalidInputException(f"Invalid build ID provided: {build_id}")
        if build_id.startswith("arn:"):
            build_id = build_id.split("build/", 1)[-1]
        build = self.builds.get(build_id)
        if build is None:
            raise ResourceNotFoundException(f"Build {build_id} does not exist")
        return build

    def batch_get_builds(self, ids: list[str]) -> tuple[list[dict], list[str]]:
        _check_batch(ids, "ids")
        found, missing = [], []
        for build_id in ids:
            try:
                found.append(self.get_build(build_id).to_dict())
            except ResourceNotFoundException:
                missing.append(build_id)
        return found, missing

    def list_builds(self, sort_order: str | None, token: str | None,
                    project_name: str | None = None) -> tuple[list[str], str | None]:
        with self.lock:
            if project_name is not None:
                self.get_project(project_name)
            builds = [b for b in self.builds.values()
                      if project_name is None or b.project_name == project_name]
        ids = [b.id for b in builds]
        if _descending(sort_order, default=True):
            ids.reverse()
        return _page(ids, token)

    def stop_build(self, build_id: str) -> Build:
        build = self.get_build(build_id)
        services.announce("codebuild.build-stop-requested", build=build)
        return build

    def retry_build(self, build_id: str) -> Build:
        build = self.get_build(build_id)
        if not build.complete:
            raise InvalidInputException(f"Build {build.id} is still in progress: only a finished build can be retried")
        return self.start_build(build.project_name, build.request, initiator=build.record["initiator"])

    def batch_delete_builds(self, ids: list[str]) -> tuple[list[str], list[dict]]:
        _check_batch(ids, "ids")
        deleted, not_deleted = [], []
        with self.lock:
            for build_id in ids:
                try:
                    build = self.get_build(build_id)
                except (ResourceNotFoundException, InvalidInputException):
                    not_deleted.append({"id": build_id, "statusCode": "BUILD_NOT_FOUND"})
                    continue
                if not build.complete:
                    not_deleted.append({"id": build_id, "statusCode": "BUILD_IN_PROGRESS"})
                    continue
                del self.builds[build.id]
                deleted.append(build_id)
        return deleted, not_deleted

    # -- report groups and reports ------------------------------------------
    def create_report_group(self, name: str, group_type: str, export_config: dict | None,
                            tags: list | None) -> ReportGroup:
        if not isinstance(name, str) or not _REPORT_GROUP_NAME.match(name):
            raise InvalidInputException(
                f"Invalid report group name {name!r}: 2-128 letters, digits, '-' or '_', starting with a letter or digit")
        if group_type not in ("TEST", "CODE_COVERAGE"):
            raise InvalidInputException(f"Invalid report group type {group_type}: use TEST or CODE_COVERAGE")
        _check_export_config(export_config)
        _check_tags(tags)
        with self.lock:
            if self.find_report_group(name) is not None:
                raise ResourceAlreadyExistsException(f"Report group already exists: {self.arn('report-group/' + name)}")
            group = ReportGroup(self, name, group_type, export_config, tags)
            self.report_groups[group.arn] = group
            return group

    def find_report_group(self, name_or_arn: str) -> ReportGroup | None:
        with self.lock:
            if name_or_arn in self.report_groups:
                return self.report_groups[name_or_arn]
            for group in self.report_groups.values():
                if group.name == name_or_arn:
                    return group
        return None

    def get_report_group(self, arn: str) -> ReportGroup:
        group = self.report_groups.get(arn) if isinstance(arn, str) else None
        if group is None:
            raise ResourceNotFoundException(f"Report group {arn} does not exist")
        return group

    def update_report_group(self, arn: str, export_config: dict | None, tags: list | None) -> ReportGroup:
        group = self.get_report_group(arn)
        if export_config is not None:
            _check_export_config(export_config)
            group.export_config = copy.deepcopy(export_config)
        if tags is not None:
            _check_tags(tags)
            group.tags = copy.deepcopy(tags)
        group.last_modified = now()
        return group

    def delete_report_group(self, arn: str, delete_reports: bool) -> None:
        with self.lock:
            group = self.get_report_group(arn)
            reports = [r for r in self.reports.values() if r.group_arn == group.arn]
            if reports and not delete_reports:
                raise InvalidInputException(
                    f"Report group {arn} still has {len(reports)} reports: delete them first or pass deleteReports")
            for report in reports:
                del self.reports[report.arn]
            del self.report_groups[group.arn]

    def list_report_groups(self, sort_by: str | None, sort_order: str | None, token: str | None,
                           max_results: int | None) -> tuple[list[str], str | None]:
        sort_by = sort_by or "CREATED_TIME"
        keys = {"NAME": lambda g: g.name, "CREATED_TIME": lambda g: g.created,
                "LAST_MODIFIED_TIME": lambda g: g.last_modified}
        if sort_by not in keys:
            raise InvalidInputException(f"Invalid sortBy {sort_by}: use NAME, CREATED_TIME or LAST_MODIFIED_TIME")
        with self.lock:
            groups = sorted(self.report_groups.values(), key=keys[sort_by],
                            reverse=_descending(sort_order, default=True))
        return _page([g.arn for g in groups], token, max_results)

    def batch_get_report_groups(self, arns: list[str]) -> tuple[list[dict], list[str]]:
        _check_batch(arns, "reportGroupArns")
        found, missing = [], []
        for arn in arns:
            group = self.report_groups.get(arn)
            if group is None:
                missing.append(arn)
            else:
                found.append(group.to_dict())
        return found, missing

    def add_report(self, group: ReportGroup, build: Build) -> Report:
        with self.lock:
            report = Report(self, group, build)
            self.reports[report.arn] = report
        with build.lock:
            build.record["reportArns"].append(report.arn)
        return report

    def list_reports(self, sort_order: str | None, token: str | None, max_results: int | None,
                     status: str | None = None, group_arn: str | None = None) -> tuple[list[str], str | None]:
        if status is not None and status not in enum("ReportStatusType"):
            raise InvalidInputException(f"Invalid report status filter {status}")
        with self.lock:
            if group_arn is not None:
                self.get_report_group(group_arn)
            reports = [r for r in self.reports.values()
                       if (group_arn is None or r.group_arn == group_arn)
                       and (status is None or r.status == status)]
        reports.sort(key=lambda r: r.created, reverse=_descending(sort_order, default=True))
        return _page([r.arn for r in reports], token, max_results)

    def batch_get_reports(self, arns: list[str]) -> tuple[list[dict], list[str]]:
        _check_batch(arns, "reportArns")
        found, missing = [], []
        for arn in arns:
            report = self.reports.get(arn)
            if report is None:
                missing.append(arn)
            else:
                found.append(report.to_dict())
        return found, missing

    def delete_report(self, arn: str) -> None:
        with self.lock:
            self.reports.pop(arn, None)

    def describe_test_cases(self, report_arn: str, token: str | None, max_results: int | None,
                            status: str | None = None, keyword: str | None = None) -> tuple[list[dict], str | None]:
        report = self.reports.get(report_arn)
        if report is None:
            raise ResourceNotFoundException(f"Report {report_arn} does not exist")
        if status is not None and status not in TEST_STATUSES:
            raise InvalidInputException(f"Invalid test case status filter {status}")
        cases = [c for c in report.test_cases
                 if (status is None or c["status"] == status)
                 and (not keyword or keyword in c["name"] or keyword in c.get("prefix", ""))]
        page, next_token = _page(list(range(len(cases))), token, max_results or 50)
        return [copy.deepcopy(cases[i]) for i in page], next_token

    def get_report_group_trend(self, arn: str, field: str, num: int | None) -> tuple[dict, list[dict]]:
        group = self.get_report_group(arn)
        fields = {"PASS_RATE", "DURATION", "TOTAL", "LINE_COVERAGE", "LINES_COVERED", "LINES_MISSED",
                  "BRANCH_COVERAGE", "BRANCHES_COVERED", "BRANCHES_MISSED"}
        if field not in fields:
            raise InvalidInputException(f"Invalid trendField {field}")
        with self.lock:
            reports = sorted((r for r in self.reports.values() if r.group_arn == group.arn
                              and r.status != "GENERATING"), key=lambda r: r.created, reverse=True)
        reports = reports[: max(1, min(int(num or 100), 100))]
        raw, values = [], []
        for report in reports:
            summary = report.summary()
            if field == "PASS_RATE":
                total = summary["total"]
                value = 100.0 * summary["statusCounts"]["SUCCEEDED"] / total if total else 0.0
            elif field == "DURATION":
                value = summary["durationInNanoSeconds"] / 1e6
            elif field == "TOTAL":
                value = float(summary["total"])
            else:
                continue  # coverage fields: TEST report groups have none
            values.append(value)
            raw.append({"reportArn": report.arn, "data": f"{value:g}"})
        stats = {}
        if values:
            stats = {"average": f"{sum(values) / len(values):g}", "max": f"{max(values):g}",
                     "min": f"{min(values):g}"}
        return stats, raw


# -- where a build's logs and artifacts go ---------------------------------------

def logs_location(backend: CodeBuildBackend, project: str, build_uuid: str, logs_config: dict) -> dict:
    """AWS's defaults: group /aws/codebuild/PROJECT, stream BUILD-UUID (or STREAM/BUILD-UUID)."""
    cw = dict((logs_config or {}).get("cloudWatchLogs") or {"status": "ENABLED"})
    cw.setdefault("status", "ENABLED")
    s3 = dict((logs_config or {}).get("s3Logs") or {"status": "DISABLED"})
    logs: dict[str, Any] = {"cloudWatchLogs": cw, "s3Logs": s3}
    if s3.get("status") == "ENABLED" and s3.get("location"):
        # AWS writes LOCATION/BUILD-UUID.gz
        key = f"{s3['location'].rstrip('/')}/{build_uuid}.gz"
        logs.update(s3LogsArn=f"arn:{backend.partition}:s3:::{key}",
                    s3DeepLink=f"https://s3.console.aws.amazon.com/s3/object/{key}?region={backend.region_name}")
    if cw["status"] == "ENABLED":
        group = cw.get("groupName") or f"/aws/codebuild/{project}"
        stream = f"{cw['streamName']}/{build_uuid}" if cw.get("streamName") else build_uuid
        region = backend.region_name
        logs.update(
            groupName=group, streamName=stream,
            deepLink=(f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
                      f"#logEvent:group={group};stream={stream}"),
            cloudWatchLogsArn=(f"arn:{backend.partition}:logs:{region}:{backend.account_id}:"
                               f"log-group:{group}:log-stream:{stream}"))
    return logs


def queued_logs(logs: dict) -> dict:
    """A build's logs before its stream exists: as AWS shows a queued build, without the
    group and stream (the deep link names them null); the runner sets the rest when it
    has created them, so a caller that sees a stream name can read it."""
    out = {k: copy.deepcopy(v) for k, v in logs.items()
           if k not in ("groupName", "streamName", "cloudWatchLogsArn", "deepLink")}
    if "deepLink" in logs:
        out["deepLink"] = re.sub(r"group=[^;]*;stream=.*$", "group=null;stream=null", logs["deepLink"])
    return out


def artifact_target(project: str, build_uuid: str, artifacts: dict) -> dict | None:
    """Bucket and key of an S3 artifact: PATH/[BUILD-UUID/]NAME."""
    if artifacts.get("type") != "S3":
        return None
    name = artifacts.get("name") or project
    parts = [p.strip("/") for p in (artifacts.get("path") or "",
                                   build_uuid if artifacts.get("namespaceType") == "BUILD_ID" else "",
                                   name)]
    return {"bucket": artifacts["location"], "key": "/".join(p for p in parts if p),
            "zip": artifacts.get("packaging") == "ZIP", "name": name}


def artifact_record(partition: str, target: dict | None, artifacts: dict) -> dict:
    if target is None:
        return {"location": ""}
    record = {"location": f"arn:{partition}:s3:::{target['bucket']}/{target['key']}",
              "encryptionDisabled": bool(artifacts.get("encryptionDisabled", False))}
    if artifacts.get("overrideArtifactName") is not None:
        record["overrideArtifactName"] = bool(artifacts["overrideArtifactName"])
    return record


# -- rules ----------------------------------------------------------------------

def _check_project_name(name) -> None:
    if not isinstance(name, str) or not _PROJECT_NAME.match(name):
        raise InvalidInputException(
            f"Invalid project name {name!r}: 2-255 letters, digits, '-' or '_', starting with a letter or digit")


def _check_source(source) -> None:
    if not isinstance(source, dict):
        raise InvalidInputException("Invalid source: a mapping with a type is required")
    kind = source.get("type")
    if kind not in enum("SourceType"):
        raise InvalidInputException(f"Invalid type provided: Project source type {kind}")
    location = source.get("location")
    if kind == "NO_SOURCE":
        if location:
            raise InvalidInputException("Invalid source: NO_SOURCE must not have a location")
        if not (source.get("buildspec") or "").strip():
            raise InvalidInputException("Invalid source: a NO_SOURCE project needs an inline buildspec")
    elif kind != "CODEPIPELINE" and not location:
        raise InvalidInputException("Project source location is required")
    if kind == "S3" and "/" not in location.strip("/"):
        raise InvalidInputException(
            f"Invalid source location {location}: use bucket-name/path/to/object.zip or bucket-name/folder/")
    if kind == "CODECOMMIT" and "/v1/repos/" not in location:
        raise InvalidInputException(
            f"Invalid source location {location}: use the repository's clone URL (.../v1/repos/NAME)")


def _check_artifacts(artifacts) -> None:
    if not isinstance(artifacts, dict):
        raise InvalidInputException("Invalid artifacts: a mapping with a type is required")
    kind = artifacts.get("type")
    if kind not in enum("ArtifactsType"):
        raise InvalidInputException(f"Invalid type provided: Artifact type {kind}")
    if kind == "NO_ARTIFACTS" and artifacts.get("location"):
        raise InvalidInputException("Invalid artifacts: artifact type NO_ARTIFACTS should have null location")
    if kind == "S3" and not artifacts.get("location"):
        raise InvalidInputException("Invalid artifacts: an S3 artifact needs a location (the bucket name)")
    if artifacts.get("packaging", "NONE") not in ("NONE", "ZIP"):
        raise InvalidInputException(f"Invalid artifact packaging {artifacts.get('packaging')}: use NONE or ZIP")
    if artifacts.get("namespaceType", "NONE") not in ("NONE", "BUILD_ID"):
        raise InvalidInputException(
            f"Invalid artifact namespaceType {artifacts.get('namespaceType')}: use NONE or BUILD_ID")


def _check_environment(environment) -> None:
    if not isinstance(environment, dict):
        raise InvalidInputException("Invalid environment: a mapping is required")
    if environment.get("type") not in enum("EnvironmentType"):
        raise InvalidInputException(f"Invalid type provided: {environment.get('type')}")
    if environment.get("computeType") not in enum("ComputeType"):
        raise InvalidInputException(f"Invalid compute type provided: {environment.get('computeType')}")
    if not environment.get("image"):
        raise InvalidInputException("Invalid environment: an image is required")
    for var in environment.get("environmentVariables") or []:
        if not isinstance(var, dict) or not _ENV_NAME.match(str(var.get("name", ""))):
            raise InvalidInputException(f"Invalid environment variable name: {var.get('name') if isinstance(var, dict) else var}")
        if var.get("value") is None:
            raise InvalidInputException(f"Invalid environment variable {var['name']}: a value is required")
        if var.setdefault("type", "PLAINTEXT") not in ("PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"):
            raise InvalidInputException(f"Invalid environment variable type {var['type']} for {var['name']}")


def _check_logs_config(logs_config) -> None:
    if logs_config is None:
        return
    if not isinstance(logs_config, dict):
        raise InvalidInputException("Invalid logsConfig")
    for key in ("cloudWatchLogs", "s3Logs"):
        status = (logs_config.get(key) or {}).get("status", "ENABLED" if key == "cloudWatchLogs" else "DISABLED")
        if status not in ("ENABLED", "DISABLED"):
            raise InvalidInputException(f"Invalid logsConfig {key} status {status}: use ENABLED or DISABLED")
    cw = logs_config.get("cloudWatchLogs") or {}
    if not isinstance(cw, dict):
        raise InvalidInputException("Invalid logsConfig: cloudWatchLogs must be a mapping")
    group = cw.get("groupName")
    if group is not None and not (isinstance(group, str) and _LOG_GROUP.match(group)):
        raise InvalidInputException(f"Invalid logsConfig groupName {group!r}: 1-512 of letters, digits, '_-./#'")
    stream = cw.get("streamName")
    if stream is not None and not (isinstance(stream, str) and 0 < len(stream) <= 400 and ":" not in stream
                                   and "*" not in stream):
        raise InvalidInputException(f"Invalid logsConfig streamName {stream!r}")
    s3 = logs_config.get("s3Logs") or {}
    if s3.get("status") == "ENABLED" and not s3.get("location"):
        raise InvalidInputException("Invalid logsConfig: S3 logs need a location")


def _check_export_config(export_config) -> None:
    if export_config is None:
        return
    kind = export_config.get("exportConfigType", "NO_EXPORT")
    if kind not in ("S3", "NO_EXPORT"):
        raise InvalidInputException(f"Invalid exportConfigType {kind}: use S3 or NO_EXPORT")
    if kind == "S3" and not (export_config.get("s3Destination") or {}).get("bucket"):
        raise InvalidInputException("Invalid exportConfig: an S3 export needs s3Destination.bucket")


def _check_tags(tags) -> None:
    for tag in tags or []:
        if not isinstance(tag, dict) or not tag.get("key"):
            raise InvalidInputException("Invalid tag: every tag needs a key")


def _check_range(value, low: int, high: int, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInputException(f"Invalid {name}: {value!r} is not a whole number") from None
    if not low <= number <= high:
        raise InvalidInputException(f"Invalid {name}: {number} is outside {low}-{high}")
    return number


def _check_batch(items, name: str) -> None:
    if not isinstance(items, list) or not items:
        raise InvalidInputException(f"Invalid {name}: give between 1 and 100 values")
    if len(items) > 100:
        raise InvalidInputException(f"Invalid {name}: at most 100 values")


def _descending(sort_order: str | None, default: bool) -> bool:
    if sort_order is None:
        return default
    if sort_order not in ("ASCENDING", "DESCENDING"):
        raise InvalidInputException(f"Invalid sortOrder {sort_order}: use ASCENDING or DESCENDING")
    return sort_order == "DESCENDING"


def _page(items: list, token: str | None, size: int | None = None) -> tuple[list, str | None]:
    size = max(1, min(int(size or PAGE), PAGE))
    return paging.page(items, token, size, lambda: InvalidInputException("Invalid nextToken"))


services.replace_backend(moto_codebuild.codebuild_backends, CodeBuildBackend)
codebuild_backends = moto_codebuild.codebuild_backends


def codebuild_backend(account_id: str, region: str) -> CodeBuildBackend:
    return codebuild_backends[account_id][region]


@services.on(persistence.RESTORED)
def _end_lost_builds(account_id: str) -> None:
    for backend in persistence.backends(codebuild_backends, account_id):
        for build in list(backend.builds.values()):
            build.environment_lost()
