"""CloudFormation wire format for the operations the workshop adds or deepens:
drift detection, stack resources with their status and drift, change sets,
and stack create/update options (OnFailure, UsePreviousTemplate)."""

from __future__ import annotations

import json
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.responses import CloudFormationResponse, transform_dict
from moto.core.responses import ActionResult, EmptyResult

from workshop.cloud.services import extend
from workshop.cloud.services.cloudformation import templates

BOTH_TEMPLATES = "You cannot specify both usePreviousTemplate and Template Body/Template URL."


def _resource(stack: Any, record: Any, shape: str) -> dict[str, Any]:
    """A resource record as a StackResource, StackResourceSummary or StackResourceDetail."""
    drift: dict[str, Any] = {"StackResourceDriftStatus": record.drift_status}
    if record.drift_checked:
        drift["LastCheckTimestamp"] = record.drift_checked
    out: dict[str, Any] = {
        "LogicalResourceId": record.logical_id, "PhysicalResourceId": record.physical_id,
        "ResourceType": record.resource_type, "ResourceStatus": record.status,
        "ResourceStatusReason": record.reason, "DriftInformation": drift,
    }
    if shape != "summary":
        out["StackName"], out["StackId"] = stack.name, stack.stack_id
    if shape == "resource":
        out["Timestamp"] = record.timestamp
    else:
        out["LastUpdatedTimestamp"] = record.timestamp
    if shape == "detail" and record.metadata is not None:
        out["Metadata"] = json.dumps(record.metadata, default=str)
    return out


def _previous_values(stack: Any) -> dict[str, Any]:
    """A stack's parameter values as it was given them (UsePreviousValue): for an SSM
    parameter type, the parameter's name, which AWS resolves again, not its value."""
    values = {}
    for key, spec in ((stack.template_dict or {}).get("Parameters") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        if key in (stack.parameters or {}):
            values[key] = stack.parameters[key]
        elif str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::"):
            values[key] = spec.get("Default")
        elif key in stack.stack_parameters:
            values[key] = stack.stack_parameters[key]
    return values


@extend(CloudFormationResponse)
class WorkshopCloudFormationResponse:
    # moto keeps a change set's tags as a dict; the wire format is a Key/Value list.
    RESPONSE_KEY_PATH_TO_TRANSFORMER = {**CloudFormationResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER,
                                        "DescribeChangeSetOutput.Tags": transform_dict}

    # -- request helpers ------------------------------------------------------
    def _get_stack_from_s3_url(self, template_url: str) -> str:
        # Any host name the cloud answers to (127.0.0.1, localhost, ::1, the name this
        # request used), not only "localhost" as moto has it.
        host = (self.headers or {}).get("Host") if hasattr(self, "headers") else None
        return templates.fetch(template_url, self.current_account, self.partition, host)

    def _template_body(self, required: bool = True) -> str | None:
        body = self._get_param("TemplateBody")
        url = self._get_param("TemplateURL")
        if body and url:
            raise ValidationError(message="Specify exactly one of TemplateBody or TemplateUrl.")
        if url:
            return self._get_stack_from_s3_url(url)
        if not body and required:
            raise ValidationError(message="Either Template URL or Template Body must be specified.")
        return body

    def _parameter_values(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for param in self._get_param("Parameters", []) or []:
            key = param.get("ParameterKey")
            if param.get("UsePreviousValue") in (True, "true"):
                if param.get("ParameterValue"):
                    raise ValidationError(message=f"Invalid input for parameter key {key}. Cannot specify "
                                                  "usePreviousValue as true and non empty value for a parameter")
                if previous is None or key not in previous:
                    raise ValidationError(message=f"Invalid input for parameter key {key}. "
                                                  "Cannot specify usePreviousValue as true for a new parameter")
                values[key] = previous[key]
            elif "ParameterValue" in param:
                values[key] = param["ParameterValue"]
        return values

    def _tags(self) -> dict[str, str]:
        return {t["Key"]: t.get("Value", "") for t in self._get_param("Tags", []) or []}

    # -- stacks ---------------------------------------------------------------
    def create_stack(self) -> ActionResult:
        on_failure = self._get_param("OnFailure")
        disable_rollback = self._get_bool_param("DisableRollback", False)
        if on_failure and disable_rollback:
            raise ValidationError(message="You cannot specify both DisableRollback and OnFailure.")
        stack = self.cloudformation_backend.create_stack(
            name=self._get_param("StackName"), template=self._template_body(),
            parameters=self._parameter_values(None),
            notification_arns=self._get_param("NotificationARNs", []), tags=self._tags(),
            role_arn=self._get_param("RoleARN"),
            enable_termination_protection=self._get_param("EnableTerminationProtection"),
            timeout_in_mins=self._get_param("TimeoutInMinutes"),
            stack_policy_body=self._get_param("StackPolicyBody"),
            on_failure=on_failure or ("DO_NOTHING" if disable_rollback else "ROLLBACK"))
        return ActionResult({"StackId": stack.stack_id})

    def update_stack(self) -> ActionResult:
        backend = self.cloudformation_backend
        stack = backend.get_stack(self._get_param("StackName"))
        if self._get_bool_param("UsePreviousTemplate", False):
            if self._get_param("TemplateBody") or self._get_param("TemplateURL"):
                raise ValidationError(message=BOTH_TEMPLATES)
            body = stack.template
        else:
            body = self._template_body()
        parameters = [{"ParameterKey": k, "ParameterValue": v}
                      for k, v in self._parameter_values(_previous_values(stack)).items()]
        tags = self._tags() or None
        backend.update_stack(name=stack.stack_id, template=body, role_arn=self._get_param("RoleARN"),
                             parameters=parameters, tags=tags)
        return ActionResult({"StackId": stack.stack_id})

    def validate_template(self) -> ActionResult:
        """AWS checks the template's syntax (not its resources) and lists its parameters."""
        template = templates.parse(self._template_body())
        templates.validate(template, transforms=True)
        parameters = []
        for key, spec in (template.get("Parameters") or {}).items():
            spec = spec if isinstance(spec, dict) else {}
            parameter: dict[str, Any] = {"ParameterKey": key,
                                         "NoEcho": str(spec.get("NoEcho", "false")).lower() == "true"}
            if "Default" in spec:
                parameter["DefaultValue"] = templates.text(spec["Default"])
            if spec.get("Description"):
                parameter["Description"] = spec["Description"]
            parameters.append(parameter)
        result: dict[str, Any] = {"Parameters": parameters, "DeclaredTransforms": templates.transforms(template)}
        if template.get("Description"):
            result["Description"] = template["Description"]
        capabilities, reason = templates.capabilities(template)
        result["Capabilities"] = capabilities
        if reason:
            result["CapabilitiesReason"] = reason
        return ActionResult(result)

    # -- resources ------------------------------------------------------------
    def describe_stack_resources(self) -> ActionResult:
        backend = self.cloudformation_backend
        stack_name = self._get_param("StackName")
        physical_id = self._get_param("PhysicalResourceId")
        if not stack_name and not physical_id:
            raise ValidationError(message="Either StackName or PhysicalResourceId must be specified.")
        if not stack_name:
            stack_name = backend.stack_by_physical_resource_id(physical_id).stack_id
        stack, records = backend.describe_stack_resources(stack_name, self._get_param("LogicalResourceId"))
        if physical_id:
            records = [r for r in records if r.physical_id == physical_id]
        return ActionResult({"StackResources": [_resource(stack, r, "resource") for r in records]})

    def describe_stack_resource(self) -> ActionResult:
        stack, record = self.cloudformation_backend.describe_stack_resource(
            self._get_param("StackName"), self._get_param("LogicalResourceId"))
        return ActionResult({"StackResourceDetail": _resource(stack, record, "detail")})

    def list_stack_resources(self) -> ActionResult:
        stack, records = self.cloudformation_backend.list_stack_resources(self._get_param("StackName"))
        return ActionResult({"StackResourceSummaries": [_resource(stack, r, "summary") for r in records]})

    # -- change sets ----------------------------------------------------------
    def create_change_set(self) -> ActionResult:
        backend = self.cloudformation_backend
        stack_name = self._get_param("StackName")
        change_set_type = self._get_param("ChangeSetType", "CREATE")
        stack = None
        if change_set_type == "UPDATE":
            stack = backend.get_stack(stack_name)
        if self._get_bool_param("UsePreviousTemplate", False):
            if self._get_param("TemplateBody") or self._get_param("TemplateURL"):
                raise ValidationError(message=BOTH_TEMPLATES)
            if stack is None:
                raise ValidationError(message="UsePreviousTemplate is only valid for an UPDATE change set.")
            body = stack.template
        else:
            body = self._template_body()
        change_set_id, stack_id = backend.create_change_set(
            stack_name=stack_name, change_set_name=self._get_param("ChangeSetName"), template=body,
            parameters=self._parameter_values(_previous_values(stack) if stack else None),
            description=self._get_param("Description"), change_set_type=change_set_type,
            notification_arns=self._get_param("NotificationARNs", []), tags=self._tags(),
            role_arn=self._get_param("RoleARN"))
        return ActionResult({"Id": change_set_id, "StackId": stack_id})

    def describe_change_set(self) -> ActionResult:
        change_set = self.cloudformation_backend.describe_change_set(
            self._get_param("ChangeSetName"), self._get_param("StackName"))
        return ActionResult(change_set)

    def delete_change_set(self) -> EmptyResult:
        self.cloudformation_backend.delete_change_set(self._get_param("ChangeSetName"), self._get_param("StackName"))
        return EmptyResult()

    def execute_change_set(self) -> EmptyResult:
        self.cloudformation_backend.execute_change_set(
            change_set_name=self._get_param("ChangeSetName"), stack_name=self._get_param("StackName"))
        return EmptyResult()

    def list_change_sets(self) -> ActionResult:
        change_sets = self.cloudformation_backend.list_change_sets(self._get_param("StackName"))
        return ActionResult({"Summaries": change_sets})

    # -- drift ----------------------------------------------------------------
    def detect_stack_drift(self) -> ActionResult:
        detection_id = self.cloudformation_backend.detect_stack_drift(
            self._get_param("StackName"), self._get_param("LogicalResourceIds", []) or None)
        return ActionResult({"StackDriftDetectionId": detection_id})

    def describe_stack_drift_detection_status(self) -> ActionResult:
        status = self.cloudformation_backend.describe_stack_drift_detection_status(
            self._get_param("StackDriftDetectionId"))
        return ActionResult(dict(status))

    def detect_stack_resource_drift(self) -> ActionResult:
        found = self.cloudformation_backend.detect_stack_resource_drift(
            self._get_param("StackName"), self._get_param("LogicalResourceId"))
        return ActionResult({"StackResourceDrift": found})

    def describe_stack_resource_drifts(self) -> ActionResult:
        drifts = self.cloudformation_backend.describe_stack_resource_drifts(
            self._get_param("StackName"), self._get_param("StackResourceDriftStatusFilters", []) or None)
        start = 0
        token = self._get_param("NextToken")
        if token:
            try:
                start = int(token)
            except ValueError:
                raise ValidationError(message="Invalid NextToken")
        limit = int(self._get_param("MaxResults") or 100)
        page = drifts[start:start + limit]
        result: dict[str, Any] = {"StackResourceDrifts": page}
        if start + limit < len(drifts):
            result["NextToken"] = str(start + limit)
        return ActionResult(result)
