"""CodeDeploy wire format: each operation turns a request into a call on the
backend (models.py) and its answer into the JSON CodeDeploy returns. These
methods replace moto's own on its response class."""

from __future__ import annotations

from functools import lru_cache

from moto.codedeploy.responses import CodeDeployResponse
from moto.core.responses import ActionResult, BaseResponse, EmptyResult

from workshop.cloud.services import extend
from workshop.cloud.services.codedeploy.models import CodeDeployBackend, codedeploy_backends, error


@lru_cache(maxsize=1)
def service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("codedeploy")


def validate_input(operation: str, params) -> dict:
    """Check a request against CodeDeploy's own API model (types and lengths), as AWS
    does before anything else; missing members get the operation's own errors later."""
    from botocore.validate import ParamValidator

    if not isinstance(params, dict):
        raise error("InvalidInputException", "The request body must be a JSON object")
    shape = service_model().operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    problems = [e for e in report._errors if e[0] != "missing required field"]
    if problems:
        report._errors = problems
        raise error("InvalidInputException", " ".join(report.generate_report().split()))
    return params


def _with_token(result: dict, token: str | None) -> dict:
    if token:
        result["nextToken"] = token
    return result


@extend(CodeDeployResponse)
class CodeDeployResponses:
    @property
    def codedeploy_backend(self) -> CodeDeployBackend:
        return codedeploy_backends[self.current_account][self.region]

    def parse_parameters(self, request) -> None:
        # moto parses the body before any operation runs; a body that is not a JSON object
        # must become CodeDeploy's error, not a traceback.
        try:
            BaseResponse.parse_parameters(self, request)
        except Exception as exc:
            self.params = {}
            self._malformed = f"The request body could not be read as the operation's input: {exc}"

    def _input(self, operation: str) -> dict:
        malformed = getattr(self, "_malformed", None)
        if malformed:
            raise error("SerializationException", malformed)
        params = self.params if isinstance(self.params, dict) else None
        return validate_input(operation, dict(params) if params is not None else params)

    # -- applications -------------------------------------------------------
    def create_application(self):
        p = self._input("CreateApplication")
        app = self.codedeploy_backend.create_application(p.get("applicationName"), p.get("computePlatform"),
                                                         p.get("tags"))
        return ActionResult({"applicationId": app.id})

    def get_application(self):
        app = self.codedeploy_backend.get_application(self._input("GetApplication").get("applicationName"))
        return ActionResult({"application": app.to_dict()})

    def batch_get_applications(self):
        apps = self.codedeploy_backend.batch_get_applications(
            self._input("BatchGetApplications").get("applicationNames"))
        return ActionResult({"applicationsInfo": [a.to_dict() for a in apps]})

    def list_applications(self):
        names, token = self.codedeploy_backend.list_applications(self._input("ListApplications").get("nextToken"))
        return ActionResult(_with_token({"applications": names}, token))

    def update_application(self):
        p = self._input("UpdateApplication")
        self.codedeploy_backend.update_application(p.get("applicationName"), p.get("newApplicationName"))
        return EmptyResult()

    def delete_application(self):
        self.codedeploy_backend.delete_application(self._input("DeleteApplication").get("applicationName"))
        return EmptyResult()

    # -- deployment configurations ------------------------------------------------
    def create_deployment_config(self):
        p = self._input("CreateDeploymentConfig")
        config = self.codedeploy_backend.create_deployment_config(
            p.get("deploymentConfigName"), p.get("computePlatform"), p.get("minimumHealthyHosts"),
            p.get("trafficRoutingConfig"), p.get("zonalConfig"))
        return ActionResult({"deploymentConfigId": config.id})

    def get_deployment_config(self):
        p = self._input("GetDeploymentConfig")
        config = self.codedeploy_backend.get_deployment_config(p.get("deploymentConfigName"))
        return ActionResult({"deploymentConfigInfo": config.to_dict()})

    def list_deployment_configs(self):
        names, token = self.codedeploy_backend.list_deployment_configs(
            self._input("ListDeploymentConfigs").get("nextToken"))
        return ActionResult(_with_token({"deploymentConfigsList": names}, token))

    def delete_deployment_config(self):
        self.codedeploy_backend.delete_deployment_config(
            self._input("DeleteDeploymentConfig").get("deploymentConfigName"))
        return EmptyResult()

    # -- deployment groups -----------------------------------------------------
    def create_deployment_group(self):
        p = self._input("CreateDeploymentGroup")
        group = self.codedeploy_backend.create_deployment_group(
            p.get("applicationName"), p.get("deploymentGroupName"), p, p.get("tags"))
        return ActionResult({"deploymentGroupId": group.id})

    def get_deployment_group(self):
        p = self._input("GetDeploymentGroup")
        group = self.codedeploy_backend.get_deployment_group(p.get("applicationName"), p.get("deploymentGroupName"))
        return ActionResult({"deploymentGroupInfo": group.to_dict()})

    def batch_get_deployment_groups(self):
        p = self._input("BatchGetDeploymentGroups")
        groups, message = self.codedeploy_backend.batch_get_deployment_groups(
            p.get("applicationName"), p.get("deploymentGroupNames"))
        result = {"deploymentGroupsInfo": [g.to_dict() for g in groups]}
        if message:
            result["errorMessage"] = message
        return ActionResult(result)

    def list_deployment_groups(self):
        p = self._input("ListDeploymentGroups")
        names, token = self.codedeploy_backend.list_deployment_groups(p.get("applicationName"), p.get("nextToken"))
        return ActionResult(_with_token({"applicationName": p.get("applicationName"), "deploymentGroups": names},
                                        token))

    def update_deployment_group(self):
        p = self._input("UpdateDeploymentGroup")
        self.codedeploy_backend.update_deployment_group(
            p.get("applicationName"), p.get("currentDeploymentGroupName"), p.get("newDeploymentGroupName"), p)
        return ActionResult({"hooksNotCleanedUp": []})

    def delete_deployment_group(self):
        p = self._input("DeleteDeploymentGroup")
        self.codedeploy_backend.delete_deployment_group(p.get("applicationName"), p.get("deploymentGroupName"))
        return ActionResult({"hooksNotCleanedUp": []})

    # -- on-premises instances -----------------------------------------------------
    def register_on_premises_instance(self):
        p = self._input("RegisterOnPremisesInstance")
        self.codedeploy_backend.register_on_premises_instance(p.get("instanceName"), p.get("iamSessionArn"),
                                                              p.get("iamUserArn"))
        return EmptyResult()

    def deregister_on_premises_instance(self):
        self.codedeploy_backend.deregister_on_premises_instance(
            self._input("DeregisterOnPremisesInstance").get("instanceName"))
        return EmptyResult()

    def get_on_premises_instance(self):
        instance = self.codedeploy_backend.get_on_premises_instance(
            self._input("GetOnPremisesInstance").get("instanceName"))
        return ActionResult({"instanceInfo": instance.to_dict()})

    def batch_get_on_premises_instances(self):
        instances = self.codedeploy_backend.batch_get_on_premises_instances(
            self._input("BatchGetOnPremisesInstances").get("instanceNames"))
        return ActionResult({"instanceInfos": [i.to_dict() for i in instances]})

    def list_on_premises_instances(self):
        p = self._input("ListOnPremisesInstances")
        names, token = self.codedeploy_backend.list_on_premises_instances(
            p.get("registrationStatus"), p.get("tagFilters"), p.get("nextToken"))
        return ActionResult(_with_token({"instanceNames": names}, token))

    def add_tags_to_on_premises_instances(self):
        p = self._input("AddTagsToOnPremisesInstances")
        self.codedeploy_backend.add_tags_to_on_premises_instances(p.get("tags"), p.get("instanceNames"))
        return EmptyResult()

    def remove_tags_from_on_premises_instances(self):
        p = self._input("RemoveTagsFromOnPremisesInstances")
        self.codedeploy_backend.remove_tags_from_on_premises_instances(p.get("tags"), p.get("instanceNames"))
        return EmptyResult()

    # -- application revisions ------------------------------------------------------
    def register_application_revision(self):
        p = self._input("RegisterApplicationRevision")
        self.codedeploy_backend.register_application_revision(p.get("applicationName"), p.get("revision"),
                                                              p.get("description"))
        return EmptyResult()

    def get_application_revision(self):
        p = self._input("GetApplicationRevision")
        revision, info = self.codedeploy_backend.get_application_revision(p.get("applicationName"),
                                                                          p.get("revision"))
        return ActionResult({"applicationName": p.get("applicationName"), "revision": revision,
                             "revisionInfo": info})

    def batch_get_application_revisions(self):
        p = self._input("BatchGetApplicationRevisions")
        revisions = self.codedeploy_backend.batch_get_application_revisions(p.get("applicationName"),
                                                                            p.get("revisions"))
        return ActionResult({"applicationName": p.get("applicationName"), "revisions": revisions})

    def list_application_revisions(self):
        p = self._input("ListApplicationRevisions")
        revisions, token = self.codedeploy_backend.list_application_revisions(
            p.get("applicationName"), p.get("sortBy"), p.get("sortOrder"), p.get("s3Bucket"),
            p.get("s3KeyPrefix"), p.get("deployed"), p.get("nextToken"))
        return ActionResult(_with_token({"revisions": revisions}, token))

    # -- deployments ------------------------------------------------------------------
    def create_deployment(self):
        p = self._input("CreateDeployment")
        options = {k: v for k, v in p.items() if k not in ("applicationName", "deploymentGroupName", "revision")}
        deployment = self.codedeploy_backend.create_deployment(
            p.get("applicationName"), p.get("deploymentGroupName"), p.get("revision"), options)
        return ActionResult({"deploymentId": deployment.id})

    def get_deployment(self):
        deployment = self.codedeploy_backend.get_deployment(self._input("GetDeployment").get("deploymentId"))
        return ActionResult({"deploymentInfo": deployment.to_dict()})

    def batch_get_deployments(self):
        deployments = self.codedeploy_backend.batch_get_deployments(
            self._input("BatchGetDeployments").get("deploymentIds"))
        return ActionResult({"deploymentsInfo": [d.to_dict() for d in deployments]})

    def list_deployments(self):
        p = self._input("ListDeployments")
        ids, token = self.codedeploy_backend.list_deployments(
            p.get("applicationName"), p.get("deploymentGroupName"), p.get("externalId"),
            p.get("includeOnlyStatuses"), p.get("createTimeRange"), p.get("nextToken"))
        return ActionResult(_with_token({"deployments": ids}, token))

    def stop_deployment(self):
        p = self._input("StopDeployment")
        status, message = self.codedeploy_backend.stop_deployment(p.get("deploymentId"),
                                                                   p.get("autoRollbackEnabled"))
        return ActionResult({"status": status, "statusMessage": message})

    def continue_deployment(self):
        p = self._input("ContinueDeployment")
        self.codedeploy_backend.continue_deployment(p.get("deploymentId"), p.get("deploymentWaitType"))
        return EmptyResult()

    def skip_wait_time_for_instance_termination(self):
        p = self._input("SkipWaitTimeForInstanceTermination")
        deployment = self.codedeploy_backend.get_deployment(p.get("deploymentId"))
        raise error("UnsupportedActionForDeploymentTypeException",
                    f"Deployment {deployment.id} has no blue instances waiting for termination.")

    def list_deployment_targets(self):
        p = self._input("ListDeploymentTargets")
        ids, token = self.codedeploy_backend.list_deployment_targets(p.get("deploymentId"), p.get("targetFilters"),
                                                                     p.get("nextToken"))
        return ActionResult(_with_token({"targetIds": ids}, token))

    def get_deployment_target(self):
        p = self._input("GetDeploymentTarget")
        target = self.codedeploy_backend.get_deployment_target(p.get("deploymentId"), p.get("targetId"))
        return ActionResult({"deploymentTarget": target.to_target()})

    def batch_get_deployment_targets(self):
        p = self._input("BatchGetDeploymentTargets")
        targets = self.codedeploy_backend.batch_get_deployment_targets(p.get("deploymentId"), p.get("targetIds"))
        return ActionResult({"deploymentTargets": [t.to_target() for t in targets]})

    def list_deployment_instances(self):
        p = self._input("ListDeploymentInstances")
        ids, token = self.codedeploy_backend.list_deployment_instances(
            p.get("deploymentId"), p.get("instanceStatusFilter"), p.get("instanceTypeFilter"), p.get("nextToken"))
        return ActionResult(_with_token({"instancesList": ids}, token))

    def get_deployment_instance(self):
        p = self._input("GetDeploymentInstance")
        target = self.codedeploy_backend.get_deployment_instance(p.get("deploymentId"), p.get("instanceId"))
        return ActionResult({"instanceSummary": target.to_instance_summary()})

    def batch_get_deployment_instances(self):
        p = self._input("BatchGetDeploymentInstances")
        targets, message = self.codedeploy_backend.batch_get_deployment_instances(p.get("deploymentId"),
                                                                                  p.get("instanceIds"))
        result = {"instancesSummary": [t.to_instance_summary() for t in targets]}
        if message:
            result["errorMessage"] = message
        return ActionResult(result)

    def put_lifecycle_event_hook_execution_status(self):
        p = self._input("PutLifecycleEventHookExecutionStatus")
        execution_id = self.codedeploy_backend.put_lifecycle_event_hook_execution_status(
            p.get("deploymentId"), p.get("lifecycleEventHookExecutionId"), p.get("status"))
        return ActionResult({"lifecycleEventHookExecutionId": execution_id})

    # -- tags ---------------------------------------------------------------------------
    def list_tags_for_resource(self):
        p = self._input("ListTagsForResource")
        return ActionResult({"Tags": self.codedeploy_backend.list_tags_for_resource(p.get("ResourceArn"))})

    def tag_resource(self):
        p = self._input("TagResource")
        self.codedeploy_backend.tag_resource(p.get("ResourceArn"), p.get("Tags"))
        return EmptyResult()

    def untag_resource(self):
        p = self._input("UntagResource")
        self.codedeploy_backend.untag_resource(p.get("ResourceArn"), p.get("TagKeys"))
        return EmptyResult()
