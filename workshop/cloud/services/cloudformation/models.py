"""CloudFormation state and rules the workshop adds to moto's backend: stacks
provisioned by the workshop's engine (honest failures and rollbacks), change
sets with real changes that keep Outputs, and drift detection runs."""

from __future__ import annotations

import logging
import re
from typing import Any

from moto.cloudformation.exceptions import (
    AlreadyExistsException,
    CloudFormationError,
    UnsupportedAttribute,
    ValidationError,
)
from moto.cloudformation import models as _moto_models
from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Stack
from moto.cloudformation.parsing import ResourceMap, clean_json
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id, validate_create_change_set

from workshop.cloud.services import extend
from workshop.cloud.services.cloudformation import changes, drift, engine, templates
from workshop.cloud.services.cloudformation.engine import (
    SETTLED,
    UPDATABLE,
    StackEngine,
    model_class,
    state_of,
)

log = logging.getLogger(__name__)

# Nested stacks' TemplateURLs resolve as the API's do (any host name of the cloud).
_moto_models.get_stack_from_s3_url = templates.fetch


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatus"


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"


def prepare_template(body: Any) -> dict[str, Any]:
    template = templates.parse(body)
    templates.validate(template)
    return template


def check_parameters(template: dict[str, Any], values: dict[str, Any]) -> None:
    """The parameter checks AWS makes before a stack operation starts."""
    declared = template.get("Parameters") or {}
    unknown = [k for k in values if k not in declared]
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    missing = [k for k, p in declared.items() if k not in values and (p or {}).get("Default") is None]
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    for key, spec in declared.items():
        spec = spec or {}
        value = values.get(key, spec.get("Default"))
        if value is None:
            continue
        text = templates.text(value)
        allowed = spec.get("AllowedValues")
        if allowed and text not in [templates.text(a) for a in allowed]:
            raise ValidationError(message=f"Parameter '{key}' must be one of AllowedValues")
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(str(pattern), text):
            raise ValidationError(message=f"Parameter '{key}' must match pattern {pattern}")
        if spec.get("Type") == "Number":
            try:
                float(text)
            except ValueError:
                raise ValidationError(message=f"Parameter '{key}' must be a number.")


def _loaded(build) -> Any:
    """Run moto's template loading; its surprises become ValidationErrors, not 500s."""
    try:
        return build()
    except CloudFormationError:
        raise
    except Exception as exc:
        log.info("template load failed", exc_info=True)
        raise ValidationError(message=f"Template error: {type(exc).__name__}: {exc}")


def _export_names(template: dict[str, Any], rmap: ResourceMap) -> list[str]:
    """Export names that can be known before resources exist (most are)."""
    names = []
    for output in (template.get("Outputs") or {}).values():
        export = (output or {}).get("Export") if isinstance(output, dict) else None
        if not isinstance(export, dict) or "Name" not in export:
            continue
        resources = template.get("Resources") or {}
        if any(t in resources for _, t in templates.references(export["Name"])):
            continue
        try:
            names.append(str(clean_json(export["Name"], rmap)))
        except Exception:
            continue
    return names


@extend(CloudFormationBackend)
class WorkshopCloudFormationBackend:
    # -- stacks ---------------------------------------------------------------
    def create_stack(self, name: str, template: str, parameters: dict[str, Any],
                     notification_arns: list[str] | None = None, tags: dict[str, str] | None = None,
                     role_arn: str | None = None, enable_termination_protection: bool | None = False,
                     timeout_in_mins: int | None = None, stack_policy_body: str | None = None,
                     on_failure: str = "ROLLBACK") -> Stack:
        template_dict = prepare_template(template)
        parameters = dict(parameters or {})
        check_parameters(template_dict, parameters)
        if any(s.name == name for s in self.stacks.values()):
            raise AlreadyExistsException(f"Stack [{name}] already exists")
        stack_id = generate_stack_id(name, self.region_name, self.account_id)
        stack = _loaded(lambda: Stack(
            stack_id=stack_id, name=name, template=template, parameters=parameters, account_id=self.account_id,
            region_name=self.region_name, notification_arns=notification_arns, tags=tags, role_arn=role_arn,
            cross_stack_resources=self.exports, enable_termination_protection=enable_termination_protection,
            timeout_in_mins=timeout_in_mins, stack_policy_body=stack_policy_body))
        self._check_export_names(stack, template_dict, stack.resource_map)
        self.stacks[stack_id] = stack
        stack.status = "CREATE_IN_PROGRESS"

        def work() -> None:
            StackEngine(self, stack).create(on_failure)
            if on_failure == "DELETE" and stack.status == "ROLLBACK_COMPLETE":
                self.delete_stack(stack_id)

        engine.run(stack, work, engine.takes_time(template_dict))
        return stack

    def _check_export_names(self, stack: Stack, template: dict[str, Any], rmap: ResourceMap) -> None:
        for export_name in _export_names(template, rmap):
            owner = self.exports.get(export_name)
            if owner is not None and owner.exporting_stack_id != stack.stack_id:
                raise ValidationError(message=f"Export with name {export_name} is already exported by stack "
                                              f"{owner.exporting_stack_id.split('/')[1]}")

    def _prepare_update(self, stack: Stack, body: Any, parameters: dict[str, Any]) -> tuple[dict, ResourceMap]:
        if stack.status not in UPDATABLE:
            raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
        template = prepare_template(body)
        check_parameters(template, parameters)
        resources = template["Resources"]
        retyped = [n for n, r in list(state_of(stack).records.items())
                   if r.exists and n in resources and resources[n]["Type"] != r.resource_type]
        if retyped:
            raise ValidationError(message="Update of resource type is not permitted. The new template modifies "
                                          f"resource type of the following resources: [{', '.join(retyped)}]")
        new_map = _loaded(lambda: _new_map(stack, template, parameters, self.exports))
        self._check_export_names(stack, template, new_map)
        return template, new_map

    def update_stack(self, name: str, template: str, role_arn: str | None, parameters: list[dict[str, Any]],
                     tags: dict[str, str] | None) -> Stack:
        stack = self.get_stack(name)
        values = self._resolve_update_parameters(instance=stack, incoming_params=parameters or [])
        template_dict, new_map = self._prepare_update(stack, template, values)
        if template_dict == stack.template_dict and new_map.resolved_parameters == stack.stack_parameters \
                and (tags is None or tags == stack.tags):
            raise ValidationError(message="No updates are to be performed.")
        if role_arn:
            stack.role_arn = role_arn
        background = engine.takes_time(template_dict, stack.template_dict, records=state_of(stack).records)
        stack.status = "UPDATE_IN_PROGRESS"
        engine.run(stack, lambda: StackEngine(self, stack).update(template, template_dict, new_map, values, tags),
                   background)
        return stack

    def delete_stack(self, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id) or next(
            (s for s in self.stacks.values() if s.name == name_or_stack_id), None)
        if stack is None or stack.status == "DELETE_IN_PROGRESS":
            return  # as in AWS: deleting a stack that is not there (or already going) succeeds

        def work() -> None:
            if StackEngine(self, stack).delete():
                self.stacks.pop(stack.stack_id, None)
                self.deleted_stacks[stack.stack_id] = stack
                for cs_id in [i for i, cs in self.change_sets.items() if cs.stack_id == stack.stack_id]:
                    self.change_sets.pop(cs_id)

        background = engine.takes_time(records=state_of(stack).records)
        stack.status = "DELETE_IN_PROGRESS"
        engine.run(stack, work, background)

    # -- resources ------------------------------------------------------------
    def describe_stack_resources(self, stack_name: str, logical_resource_id: str | None = None):
        stack = self.get_stack(stack_name)
        records = list(state_of(stack).records.values())
        if logical_resource_id:
            records = [r for r in records if r.logical_id == logical_resource_id]
        return stack, records

    def describe_stack_resource(self, stack_name: str, logical_resource_id: str):
        stack, records = self.describe_stack_resources(stack_name, logical_resource_id)
        if not records:
            raise ValidationError(message=f"Resource {logical_resource_id} does not exist for stack {stack_name}")
        return stack, records[0]

    def list_stack_resources(self, stack_name_or_id: str):
        return self.describe_stack_resources(stack_name_or_id)

    def stack_by_physical_resource_id(self, physical_id: str) -> Stack:
        for stack in self.stacks.values():
            if any(r.physical_id == physical_id and r.exists for r in list(state_of(stack).records.values())):
                return stack
        raise ValidationError(message=f"Stack for {physical_id} does not exist")

    # -- change sets ----------------------------------------------------------
    def create_change_set(self, stack_name: str, change_set_name: str, template: str,
                          parameters: dict[str, str], description: str, change_set_type: str,
                          notification_arns: list[str] | None = None, tags: dict[str, str] | None = None,
                          role_arn: str | None = None) -> tuple[str, str]:
        validate_create_change_set(change_set_name)
        template_dict = prepare_template(template)
        parameters = dict(parameters or {})
        check_parameters(template_dict, parameters)
        existing = next((s for s in self.stacks.values() if s.name == stack_name), None)
        if change_set_type == "UPDATE":
            if existing is None:
                raise ValidationError(message=f"Stack [{stack_name}] does not exist")
            if existing.status not in UPDATABLE:
                raise ValidationError(
                    message=f"Stack:{existing.stack_id} is in {existing.status} state and can not be updated.")
            stack = existing
        elif change_set_type == "CREATE":
            if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
                raise ValidationError(message=f"Stack [{stack_name}] already exists and cannot be created again "
                                              f"with the changeSet [{change_set_name}].")
            stack = existing
        else:
            raise ValidationError(message=f"ChangeSetType {change_set_type} is not supported by the workshop cloud")
        for cs_id, cs in list(self.change_sets.items()):
            if stack is None or cs.change_set_name != change_set_name or cs.stack_id != stack.stack_id:
                continue
            if cs.status == "FAILED" or cs.execution_status in ("EXECUTE_COMPLETE", "EXECUTE_FAILED"):
                # An executed or failed change set is history: `aws cloudformation deploy` names its
                # change sets by the second, and quick deploys in a notebook must not collide.
                self.change_sets.pop(cs_id)
            else:
                raise AlreadyExistsException(f"ChangeSet [{change_set_name}] already exists")
        stack_id = stack.stack_id if stack else generate_stack_id(stack_name, self.region_name, self.account_id)
        new_map = _loaded(lambda: ResourceMap(
            stack_id, stack_name, parameters, dict(tags or {}), region_name=self.region_name,
            account_id=self.account_id, template=template_dict, cross_stack_resources=self.exports))
        _loaded(new_map.load)
        if stack is None:
            stack = Stack(stack_id=stack_id, name=stack_name, template={}, parameters=parameters,
                          account_id=self.account_id, region_name=self.region_name,
                          notification_arns=notification_arns, tags=tags, role_arn=role_arn)
            self.stacks[stack_id] = stack
            StackEngine(self, stack).stack_event("REVIEW_IN_PROGRESS", "User Initiated")

        change_set_id = generate_changeset_id(change_set_name, self.region_name, self.account_id)
        change_set = ChangeSet(change_set_type=change_set_type, change_set_id=change_set_id,
                               change_set_name=change_set_name, stack=stack, template=template,
                               parameters=parameters, description=description,
                               notification_arns=notification_arns, tags=tags, role_arn=role_arn)
        change_set.status, change_set.execution_status, change_set.status_reason = \
            "CREATE_COMPLETE", "AVAILABLE", None
        try:
            change_set.changes = changes.compute(state_of(stack), stack.template_dict,
                                                 stack.resource_map if stack.template_dict else None,
                                                 template_dict, new_map)
        except ValidationError as exc:
            change_set.changes = []
            change_set.status, change_set.execution_status, change_set.status_reason = \
                "FAILED", "UNAVAILABLE", exc.message
        if change_set.status != "FAILED" and change_set_type == "UPDATE" and not change_set.changes:
            same_rest = {k: v for k, v in template_dict.items() if k != "Resources"} == \
                {k: v for k, v in stack.template_dict.items() if k != "Resources"}
            if same_rest and new_map.resolved_parameters == stack.stack_parameters \
                    and (not tags or tags == stack.tags):
                change_set.status, change_set.execution_status, change_set.status_reason = \
                    "FAILED", "UNAVAILABLE", changes.NO_CHANGES
        self.change_sets[change_set_id] = change_set
        return change_set_id, stack.stack_id

    def _find_change_set(self, change_set_name: str, stack_name: str | None = None) -> ChangeSet:
        if change_set_name in self.change_sets:
            return self.change_sets[change_set_name]
        for change_set in reversed(list(self.change_sets.values())):
            if change_set.change_set_name == change_set_name and \
                    (not stack_name or stack_name in (change_set.stack_name, change_set.stack_id)):
                return change_set
        raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist")

    def describe_change_set(self, change_set_name: str, stack_name: str | None = None) -> ChangeSet:
        return self._find_change_set(change_set_name, stack_name)

    def delete_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        try:
            change_set = self._find_change_set(change_set_name, stack_name)
        except ChangeSetNotFound:
            return  # as in AWS: deleting a change set that is not there succeeds (cdk diff relies on it)
        self.change_sets.pop(change_set.change_set_id, None)

    def list_change_sets(self, stack_name: str | None = None) -> list[ChangeSet]:
        if not stack_name:
            return list(self.change_sets.values())
        stack = self.get_stack(stack_name)
        return [cs for cs in self.change_sets.values() if cs.stack_id == stack.stack_id]

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self._find_change_set(change_set_name, stack_name)
        if change_set.status != "CREATE_COMPLETE" or change_set.execution_status != "AVAILABLE":
            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status of "
                f"[{change_set.status if change_set.status != 'CREATE_COMPLETE' else change_set.execution_status}]")
        stack = self.stacks.get(change_set.stack_id)
        if stack is None:
            raise ValidationError(change_set.stack_name)
        stack_engine = StackEngine(self, stack)
        if change_set.change_set_type == "CREATE":
            template = prepare_template(change_set.template)
            stack.template, stack.template_dict = change_set.template, template
            stack.parameters = dict(change_set.parameters or {})
            stack.description = template.get("Description")
            stack.cross_stack_resources = self.exports
            if change_set.tags:
                stack.tags = dict(change_set.tags)
            stack.resource_map = _loaded(stack._create_resource_map)
            stack.output_map = stack._create_output_map()
            background = engine.takes_time(template)
            stack.status = "CREATE_IN_PROGRESS"

            def work() -> bool:
                stack_engine.create()
                return stack.status == "CREATE_COMPLETE"
        else:
            template, new_map = self._prepare_update(stack, change_set.template, dict(change_set.parameters or {}))
            background = engine.takes_time(template, stack.template_dict, records=state_of(stack).records)
            stack.status = "UPDATE_IN_PROGRESS"

            def work() -> bool:
                return stack_engine.update(change_set.template, template, new_map, dict(change_set.parameters or {}),
                                           dict(change_set.tags) if change_set.tags else None)
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        state_of(stack).change_set_id = change_set.change_set_id
        # As in AWS: executing one change set makes the stack's others obsolete; they are deleted.
        for cs_id in [i for i, cs in self.change_sets.items()
                      if cs.stack_id == stack.stack_id and i != change_set.change_set_id]:
            self.change_sets.pop(cs_id)

        def execute() -> None:
            succeeded = False
            try:
                succeeded = work()
            finally:
                change_set.execution_status = "EXECUTE_COMPLETE" if succeeded else "EXECUTE_FAILED"

        engine.run(stack, execute, background)

    # -- drift ----------------------------------------------------------------
    def detect_stack_drift(self, stack_name: str, logical_resource_ids: list[str] | None = None) -> str:
        return drift.detect_stack(self, self.get_stack(stack_name), logical_resource_ids)

    def describe_stack_drift_detection_status(self, detection_id: str) -> dict[str, Any]:
        return drift.detection_status(self, detection_id)

    def detect_stack_resource_drift(self, stack_name: str, logical_resource_id: str) -> dict[str, Any]:
        return drift.detect_resource(self.get_stack(stack_name), logical_resource_id)

    def describe_stack_resource_drifts(self, stack_name: str, status_filter: list[str] | None = None):
        return drift.resource_drifts(self.get_stack(stack_name), status_filter)


def _new_map(stack: Stack, template: dict[str, Any], parameters: dict[str, Any], exports: dict) -> ResourceMap:
    rmap = ResourceMap(stack.stack_id, stack.name, parameters, stack.tags, region_name=stack.region_name,
                       account_id=stack.account_id, template=template, cross_stack_resources=exports)
    rmap.load()
    return rmap


@extend(Stack)
class WorkshopStack:
    # moto parses templates with PyYAML's unsafe loader; the workshop's parser is safe.
    parse_template = staticmethod(templates.parse)

    @property
    def outputs(self) -> list[dict[str, Any]] | None:
        # Only a stack whose resources exist has outputs (resolving one must never
        # make moto's lazy resource map create a resource).
        if self.status not in SETTLED:
            return None
        exports = {}
        try:
            exports = {str(e.value): e.name for e in self.exports}
        except Exception:
            log.info("exports of %s could not be resolved", self.name, exc_info=True)
        result = []
        for key in list(self.output_map):
            try:
                output = self.output_map[key]
            except Exception:
                log.info("output %s of %s could not be resolved", key, self.name, exc_info=True)
                continue
            if output:
                result.append({"OutputKey": output.key, "OutputValue": output.value,
                               "Description": output.description, "ExportName": exports.get(str(output.value))})
        return result or None

    @property
    def drift_information(self) -> dict[str, Any]:
        state = state_of(self)
        info: dict[str, Any] = {"StackDriftStatus": state.drift_status}
        if state.drift_checked:
            info["LastCheckTimestamp"] = state.drift_checked
        return info

    @property
    def change_set_id(self) -> str | None:
        return state_of(self).change_set_id

    @property
    def stack_status_reason(self) -> str | None:
        return state_of(self).status_reason


@extend(ChangeSet)
class WorkshopChangeSet:
    def _parse_template(self) -> None:
        self.template_dict = templates.parse(self.template)

    def diff(self) -> list:
        # The backend computes the changes against the stack's live records.
        return []


@extend(ResourceMap)
class WorkshopResourceMap:
    def validate_outputs(self) -> None:
        """moto's check, without its crashes on unknown types or resources."""
        for value in (self._template.get("Outputs") or {}).values():
            if not isinstance(value, dict):
                raise ValidationError(message="Template format error: Every Outputs member must be an object.")
            if "Condition" in value and not self.lazy_condition_map[value["Condition"]]:
                continue
            target = value.get("Value")
            if not (isinstance(target, dict) and "Fn::GetAtt" in target):
                continue
            arg = target["Fn::GetAtt"]
            if isinstance(arg, list) and len(arg) > 1:
                name, attr = arg[0], arg[1]
            else:
                name, attr = (str(arg).split(".", 1) + [""])[:2]
            resource = self._resource_json_map.get(name)
            if resource is None:
                raise ValidationError(
                    message=f"Template error: instance of Fn::GetAtt references undefined resource {name}")
            if "Condition" in resource and not self.lazy_condition_map[resource["Condition"]]:
                raise ValidationError(
                    message=f"Unresolved resource dependencies [{name}] in the Outputs block of the template")
            cls = model_class(resource["Type"])
            if cls is not None and isinstance(attr, str) and not cls.has_cfn_attr(attr):
                short_type = resource["Type"].rsplit(":", 1)[-1]
                raise UnsupportedAttribute(resource=short_type, attr=attr)
