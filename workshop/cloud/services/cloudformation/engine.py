"""The stack engine: creates, updates and deletes a stack's resources one by one
in dependency order, with AWS's per-resource events and statuses, honest
failures and rollbacks. It drives moto's models; its per-resource records are
what DescribeStackResources, change sets and drift detection read."""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Event, Stack
from moto.cloudformation.parsing import (
    NULL_MODELS,
    ResourceMap,
    clean_json,
    generate_resource_name,
    get_model_map,
)

from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudformation import calls, templates
from workshop.cloud.services.cloudformation.custom_resources import (
    CustomResource,
    CustomResourceFailure,
    is_custom,
)
from workshop.cloud.services.cloudformation.resource_types import ALWAYS, rules_for

log = logging.getLogger(__name__)

NOT_SUPPORTED = "Resource type {type} is not supported by the workshop cloud"
# Types CloudFormation accepts without creating anything (moto's wait conditions, and the
# metadata resource every CDK stack carries, as AWS accepts it).
NOTHING_TO_CREATE = frozenset(NULL_MODELS) | {"AWS::CDK::Metadata"}
REPLACING = "Requested update requires the creation of a new physical resource; hence creating one."
# Stack statuses in which every resource of the current template exists.
SETTLED = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
           "IMPORT_ROLLBACK_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
           "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_FAILED"}
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
             "IMPORT_ROLLBACK_COMPLETE"}


def now() -> datetime:
    return get_clock().now()


@dataclass
class ResourceRecord:
    """One resource of a stack, as DescribeStackResources shows it."""

    logical_id: str
    resource_type: str
    status: str = "CREATE_IN_PROGRESS"
    reason: str | None = None
    physical_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)  # resolved, as last deployed
    metadata: Any = None
    exists: bool = False
    timestamp: datetime = field(default_factory=now)
    drift_status: str = "NOT_CHECKED"
    drift_checked: datetime | None = None
    drift: dict[str, Any] | None = None  # the last StackResourceDrift

    def set(self, status: str, reason: str | None = None) -> None:
        self.status, self.reason, self.timestamp = status, reason, now()


@dataclass
class StackState:
    records: dict[str, ResourceRecord] = field(default_factory=OrderedDict)
    drift_status: str = "NOT_CHECKED"
    drift_checked: datetime | None = None
    change_set_id: str | None = None
    status_reason: str | None = None


def state_of(stack: Stack) -> StackState:
    state = stack.__dict__.get("_workshop_state")
    if state is None:
        state = stack.__dict__["_workshop_state"] = StackState()
    return state


class ResourceFailure(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def reason_for(exc: BaseException, logical_id: str) -> str:
    """A ResourceStatusReason in AWS's words for an exception from a create/update."""
    if isinstance(exc, (ResourceFailure, CustomResourceFailure)):
        return exc.reason
    if isinstance(exc, KeyError):
        return (f"Properties validation failed for resource {logical_id} with message: "
                f"#: required key [{exc.args[0] if exc.args else ''}] not found")
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, ValidationError):
        return message
    return f'Resource handler returned message: "{message}"'


def model_class(resource_type: str) -> Any:
    """moto's model for a type; None when nobody implements it."""
    if is_custom(resource_type):
        return CustomResource
    return get_model_map().get(resource_type)


def condition_holds(rmap: ResourceMap, resource_json: dict[str, Any]) -> bool:
    condition = resource_json.get("Condition")
    return not condition or bool(rmap.lazy_condition_map[condition])


def resolve(rmap: ResourceMap, resource_json: dict[str, Any]) -> dict[str, Any]:
    return clean_json(copy.deepcopy(resource_json.get("Properties") or {}), rmap) or {}


def physical_id_of(model: Any, fallback: str) -> str:
    try:
        value = getattr(model, "physical_resource_id", None)
    except Exception:  # some models compute it from state that may be gone
        value = None
    return str(value) if value else fallback


def _json(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def takes_time(*templates_: dict | None, records: dict[str, ResourceRecord] | None = None) -> bool:
    """Whether a stack operation waits on something outside the cloud's control (a custom
    resource's function, a service's tasks): such an operation runs in the background, as
    every one does on AWS."""
    def slow(resource_type: Any) -> bool:
        return is_custom(resource_type) or bool(getattr(model_class(str(resource_type)), "cfn_takes_time", False))

    for template in templates_:
        for resource in ((template or {}).get("Resources") or {}).values():
            if isinstance(resource, dict) and slow(resource.get("Type")):
                return True
    return any(r.exists and slow(r.resource_type) for r in list((records or {}).values()))


def run(stack: Stack, work: Any, background: bool) -> None:
    """Run a stack operation: in the request when it is quick (the API answers with the
    result, as moto's callers expect), else in a thread of its own, so that no request
    waits on a function (the API answers at once with the stack IN_PROGRESS)."""
    if not background:
        work()
        return

    def operation() -> None:
        try:
            work()
        except Exception:
            log.exception("stack operation on %s failed", stack.name)

    threading.Thread(target=operation, name=f"cloudformation-{stack.name}", daemon=True).start()


class StackEngine:
    def __init__(self, backend: Any, stack: Stack):
        self.backend = backend
        self.stack = stack
        self.account = stack.account_id
        self.region = stack.region_name
        self.state = state_of(stack)

    # -- events ---------------------------------------------------------------
    def event(self, logical_id: str, physical_id: str | None, resource_type: str, status: str,
              reason: str | None = None, properties: Any = None) -> None:
        stack = self.stack
        ev = Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                   physical_resource_id=physical_id or "", resource_type=resource_type,
                   resource_status=status, resource_status_reason=reason,
                   resource_properties=_json(properties) if properties is not None else None)
        ev.timestamp = now()
        try:
            ev.sendToSns(self.account, self.region, stack.notification_arns)
        except Exception:  # a missing notification topic must not break the stack
            log.warning("could not notify %s", stack.notification_arns, exc_info=True)
        stack.events.append(ev)

    def stack_event(self, status: str, reason: str | None = None) -> None:
        # The event first, then the status (the engine runs in the request, without a lock its
        # readers share): whoever polls the status until it is final finds its event there.
        self.event(self.stack.name, self.stack.stack_id, "AWS::CloudFormation::Stack", status, reason)
        if status.endswith("_IN_PROGRESS") and reason == "User Initiated":
            self.state.status_reason = None
        elif reason:
            self.state.status_reason = reason
        self.stack.status = status

    # -- one resource ---------------------------------------------------------
    def create_model(self, rmap: ResourceMap, logical_id: str, resource_json: dict[str, Any]) -> tuple[Any, dict]:
        resource_type = resource_json["Type"]
        cls = model_class(resource_type)
        if cls is None:
            raise ResourceFailure(NOT_SUPPORTED.format(type=resource_type))
        rules = rules_for(resource_type)
        props = resolve(rmap, resource_json)
        name_property = cls.cloudformation_name_type() if cls is not CustomResource else ""
        if name_property and props.get(name_property):
            physical_name = str(props[name_property])
        else:
            physical_name = rules.physical_name(generate_resource_name(resource_type, self.stack.name, logical_id))
        moto_json = {k: copy.deepcopy(v) for k, v in resource_json.items() if k != "Properties"}
        moto_json["Properties"] = rules.create_properties(copy.deepcopy(props))
        model = cls.create_from_cloudformation_json(
            physical_name, moto_json, self.account, self.region,
            LogicalId=logical_id, StackId=self.stack.stack_id, ResourceType=resource_type)
        if model is None:
            raise ResourceFailure(f"The workshop cloud could not create {resource_type} {logical_id}")
        try:
            model.cf_resource_type = resource_type
            model.logical_resource_id = logical_id
        except AttributeError:
            pass
        rules.after_create(model, props, self.account, self.region)
        if isinstance(model, Stack) and model.status not in SETTLED:
            reason = state_of(model).status_reason or model.status
            raise ResourceFailure(f"Embedded stack {model.stack_id} was not successfully created: {reason}")
        calls.created(self.account, self.region, resource_type, physical_id_of(model, physical_name), props)
        return model, props

    def add(self, rmap: ResourceMap, logical_id: str, resource_json: dict[str, Any], record: ResourceRecord) -> Any:
        """Create one resource; a failure is recorded (CREATE_FAILED) and raised."""
        resource_type = resource_json["Type"]
        self.event(logical_id, None, resource_type, "CREATE_IN_PROGRESS",
                   properties=resource_json.get("Properties") or {})
        model, props = None, {}
        if resource_type in NOTHING_TO_CREATE:
            props = resolve(rmap, resource_json)
        else:
            try:
                model, props = self.create_model(rmap, logical_id, resource_json)
            except Exception as exc:
                record.set("CREATE_FAILED", reason_for(exc, logical_id))
                self.event(logical_id, None, resource_type, "CREATE_FAILED", record.reason)
                if not isinstance(exc, (ResourceFailure, KeyError)):
                    log.info("creating %s (%s) failed", logical_id, resource_type, exc_info=True)
                raise ResourceFailure(record.reason) from exc
            rmap._parsed_resources[logical_id] = model
        fallback = str(uuid.uuid4()) if resource_type == "AWS::CDK::Metadata" else f"{self.stack.name}-{logical_id}"
        record.physical_id = physical_id_of(model, fallback)
        record.properties = props
        record.exists = True
        if model is not None and not model.is_created():
            return model  # a custom resource waiting for its response
        record.set("CREATE_COMPLETE")
        self.event(logical_id, record.physical_id, resource_type, "CREATE_COMPLETE")
        return model

    def delete_model(self, resource_type: str, model: Any, physical_id: str, props: dict[str, Any]) -> None:
        if model is None:
            return
        rules = rules_for(resource_type)
        if rules.checks_drift and rules.live(physical_id, props, self.account, self.region) is None:
            return  # deleted out of band: nothing left to delete
        rules.before_delete(physical_id, props, self.account, self.region)
        try:
            model.delete(self.account, self.region)
        except (TypeError, AttributeError):
            # Models without an instance delete (moto's own fallback, the same way).
            cls = model_class(resource_type)
            if cls is not None:
                cls.delete_from_cloudformation_json(physical_id, {"Type": resource_type, "Properties": props},
                                                    self.account, self.region)
        if rules.checks_drift and rules.live(physical_id, props, self.account, self.region) is not None:
            raise ResourceFailure(f"{resource_type} {physical_id} still exists after the delete")
        calls.deleted(self.account, self.region, resource_type, physical_id, props)

    def delete_many(self, items: list[tuple[str, str, Any, str, dict, bool]]) -> dict[str, str]:
        """Delete (logical, type, model, physical, props, retain) in the order given,
        a few passes for dependencies; returns the failures (logical id -> reason)."""
        remaining = list(items)
        failures: dict[str, str] = {}
        started: set[int] = set()
        for _ in range(3):
            for item in list(remaining):
                logical_id, resource_type, model, physical_id, props, retain = item
                if retain:
                    self.event(logical_id, physical_id, resource_type, "DELETE_SKIPPED")
                    remaining.remove(item)
                    continue
                if id(item) not in started:
                    started.add(id(item))
                    self.event(logical_id, physical_id, resource_type, "DELETE_IN_PROGRESS")
                try:
                    self.delete_model(resource_type, model, physical_id, props)
                except Exception as exc:
                    failures[logical_id] = reason_for(exc, logical_id)
                    continue
                failures.pop(logical_id, None)
                self.event(logical_id, physical_id, resource_type, "DELETE_COMPLETE")
                remaining.remove(item)
            if not remaining:
                break
        for logical_id, resource_type, _, physical_id, _, _ in remaining:
            self.event(logical_id, physical_id, resource_type, "DELETE_FAILED", failures.get(logical_id))
        return {item[0]: failures.get(item[0], "") for item in remaining}

    def _deletion_items(self, rmap: ResourceMap, template: dict, logical_ids: list[str],
                        records: dict[str, ResourceRecord] | None = None) -> list:
        records = self.state.records if records is None else records
        resources = template.get("Resources") or {}
        try:
            ordered = templates.order(template) if resources else []
        except ValidationError:
            ordered = list(resources)
        ranked = [n for n in reversed(ordered) if n in logical_ids] + \
                 [n for n in reversed(logical_ids) if n not in ordered]
        items = []
        for logical_id in ranked:
            record = records[logical_id]
            retain = (resources.get(logical_id) or {}).get("DeletionPolicy") == "Retain"
            items.append((logical_id, record.resource_type, rmap._parsed_resources.get(logical_id),
                          record.physical_id or "", record.properties, retain))
        return items

    def delete_all(self, rmap: ResourceMap, template: dict) -> dict[str, str]:
        """Delete every existing resource of the stack (rollback or DeleteStack); the ones that failed."""
        records = self.state.records
        alive = [n for n, r in records.items() if r.exists]
        left = self.delete_many(self._deletion_items(rmap, template, alive))
        for logical_id in alive:
            record = records[logical_id]
            if logical_id in left:
                record.set("DELETE_FAILED", left[logical_id])
                continue
            retained = ((template.get("Resources") or {}).get(logical_id) or {}).get("DeletionPolicy") == "Retain"
            record.set("DELETE_SKIPPED" if retained else "DELETE_COMPLETE")
            record.exists = False
            rmap._parsed_resources.pop(logical_id, None)
        return left

    # -- create ---------------------------------------------------------------
    def create(self, on_failure: str = "ROLLBACK") -> None:
        stack, state = self.stack, self.state
        template = stack.template_dict
        rmap = stack.resource_map
        rmap._template = template
        rmap._resource_json_map = template["Resources"]
        rmap.tags.update({"aws:cloudformation:stack-name": stack.name, "aws:cloudformation:stack-id": stack.stack_id})
        self.stack_event("CREATE_IN_PROGRESS", "User Initiated")
        failed: str | None = None
        pending = False
        for logical_id in templates.order(template):
            resource_json = template["Resources"][logical_id]
            if not condition_holds(rmap, resource_json):
                continue
            record = ResourceRecord(logical_id, resource_json["Type"], metadata=resource_json.get("Metadata"))
            state.records[logical_id] = record
            try:
                model = self.add(rmap, logical_id, resource_json, record)
            except ResourceFailure:
                failed = f"The following resource(s) failed to create: [{logical_id}]. "
                break
            pending = pending or (model is not None and not model.is_created())
        if failed is None:
            try:
                self.publish_exports()
            except Exception as exc:  # a name taken by another stack, or an unresolvable value
                failed = f"{getattr(exc, 'message', None) or exc} "
        if failed is None:
            if not pending:
                self.stack_event("CREATE_COMPLETE")
            return
        if on_failure == "DO_NOTHING":
            self.stack_event("CREATE_FAILED", failed)
            return
        self.stack_event("ROLLBACK_IN_PROGRESS", failed + "Rollback requested by user.")
        left = self.delete_all(rmap, template)
        self.stack_event("ROLLBACK_FAILED" if left else "ROLLBACK_COMPLETE",
                         f"The following resource(s) failed to delete: [{', '.join(left)}]. " if left else None)

    def publish_exports(self) -> None:
        """Register the stack's exports once its resources exist (names are unique per region)."""
        exports = self.backend.exports
        mine = [e for e in self.stack.exports]
        for export in mine:
            owner = exports.get(export.name)
            if owner is not None and owner.exporting_stack_id != self.stack.stack_id:
                raise ValidationError(message=f"Export with name {export.name} is already exported by stack "
                                              f"{owner.exporting_stack_id.split('/')[1]}")
        for name in [n for n, e in exports.items() if e.exporting_stack_id == self.stack.stack_id]:
            exports.pop(name)
        for export in mine:
            exports[export.name] = export

    def withdraw_exports(self) -> None:
        exports = self.backend.exports
        for name in [n for n, e in exports.items() if e.exporting_stack_id == self.stack.stack_id]:
            exports.pop(name)

    # -- delete ---------------------------------------------------------------
    def delete(self) -> bool:
        stack = self.stack
        self.stack_event("DELETE_IN_PROGRESS", "User Initiated")
        left = self.delete_all(stack.resource_map, stack.template_dict or {})
        if left:
            self.stack_event("DELETE_FAILED", f"The following resource(s) failed to delete: [{', '.join(left)}]. ")
            return False
        self.withdraw_exports()
        self.stack_event("DELETE_COMPLETE")
        stack.deletion_time = now()
        return True

    # -- update ---------------------------------------------------------------
    def update(self, body: str, template: dict, new_map: ResourceMap, parameters: dict,
               tags: dict | None) -> bool:
        """Apply a new template; True when UPDATE_COMPLETE, False after a rollback."""
        stack, state = self.stack, self.state
        old_map = stack.resource_map
        old_records = {k: copy.copy(r) for k, r in state.records.items()}
        alive = {k for k, r in state.records.items() if r.exists}
        resources = template["Resources"]
        for logical_id in alive:
            model = old_map._parsed_resources.get(logical_id)
            if logical_id in resources and resources[logical_id]["Type"] == state.records[logical_id].resource_type \
                    and model is not None:
                new_map._parsed_resources[logical_id] = model
        new_map._template = template
        new_map._resource_json_map = resources
        new_map.tags.update(old_map.tags)

        self.stack_event("UPDATE_IN_PROGRESS", "User Initiated")
        journal: list[tuple] = []
        replaced: list[tuple] = []
        records: dict[str, ResourceRecord] = OrderedDict()
        failure: tuple[str, str] | None = None
        for logical_id in templates.order(template):
            resource_json = resources[logical_id]
            if not condition_holds(new_map, resource_json):
                continue
            resource_type = resource_json["Type"]
            if logical_id not in alive:
                record = ResourceRecord(logical_id, resource_type, metadata=resource_json.get("Metadata"))
                records[logical_id] = record
                try:
                    self.add(new_map, logical_id, resource_json, record)
                except ResourceFailure:
                    failure = (logical_id, "create")
                    break
                journal.append(("add", logical_id))
                continue
            old = old_records[logical_id]
            record = records[logical_id] = copy.copy(old)
            record.metadata = resource_json.get("Metadata")
            try:
                outcome = self.modify(new_map, logical_id, resource_json, old, record)
            except ResourceFailure:
                failure = (logical_id, "update")
                break
            if outcome is not None:
                journal.append(outcome)
                if outcome[0] == "replace":
                    replaced.append(outcome)

        if failure is not None:
            self.roll_back_update(failure, journal, old_map, new_map, old_records, records)
            return False

        removed = [n for n in old_records if n in alive and n not in records]
        old_template = stack.template_dict
        stack.template = body
        stack.template_dict = template
        stack.parameters = parameters
        stack.resource_map = new_map
        stack.output_map = stack._create_output_map()
        stack.description = template.get("Description")
        if tags is not None:
            stack.tags = tags
        stack.last_updated_time = now()
        try:
            self.publish_exports()
        except ValidationError as exc:  # checked before the update began; kept for safety
            log.warning("exports of %s: %s", stack.name, exc.message)

        self.stack_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        cleanup = [(n, old.resource_type, before, old.physical_id or "", old.properties, False)
                   for _, n, before, _, old in replaced]
        cleanup += self._deletion_items(old_map, old_template, removed, old_records)
        self.delete_many(cleanup)
        for logical_id in removed:
            old_map._parsed_resources.pop(logical_id, None)
        state.records = records
        self.stack_event("UPDATE_COMPLETE")
        return True

    def modify(self, new_map: ResourceMap, logical_id: str, resource_json: dict, old: ResourceRecord,
               record: ResourceRecord) -> tuple | None:
        """Update one existing resource; None when nothing about it changed."""
        resource_type = resource_json["Type"]
        model = new_map._parsed_resources.get(logical_id)
        try:
            if resource_type != old.resource_type:
                raise ResourceFailure(f"Update of resource type is not permitted. The new template modifies "
                                      f"resource type of the following resources: [{logical_id}]")
            props = resolve(new_map, resource_json)
        except Exception as exc:
            record.set("UPDATE_FAILED", reason_for(exc, logical_id))
            self.event(logical_id, old.physical_id, resource_type, "UPDATE_FAILED", record.reason)
            raise ResourceFailure(record.reason) from exc
        if props == old.properties:
            return None
        if resource_type in NOTHING_TO_CREATE:
            self.event(logical_id, old.physical_id, resource_type, "UPDATE_IN_PROGRESS")
            record.properties = props
            record.set("UPDATE_COMPLETE")
            self.event(logical_id, record.physical_id, resource_type, "UPDATE_COMPLETE")
            return ("modify", logical_id, None, old, props)
        cls = model_class(resource_type)
        rules = rules_for(resource_type)
        name_property = cls.cloudformation_name_type() if cls not in (None, CustomResource) else ""
        changed = {k for k in set(props) | set(old.properties) if props.get(k) != old.properties.get(k)}
        replace = bool(rules.replace_on) and any(rules.requires_recreation(p, name_property) == ALWAYS for p in changed)
        self.event(logical_id, old.physical_id, resource_type, "UPDATE_IN_PROGRESS", REPLACING if replace else None,
                   properties=resource_json.get("Properties") or {})
        try:
            if replace:
                if name_property and props.get(name_property) and \
                        props.get(name_property) == old.properties.get(name_property):
                    raise ResourceFailure(
                        "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                        f"Rename {props[name_property]} and update the stack again.")
                new_model, props = self.create_model(new_map, logical_id, resource_json)
                outcome: tuple = ("replace", logical_id, model, new_model, old)
            elif rules.in_place:
                new_model = rules.update(model, props, old.properties, self.account, self.region)
                outcome = ("modify", logical_id, new_model, old, props)
            else:
                new_model = self.moto_update(cls, logical_id, resource_json, model, props)
                outcome = ("modify", logical_id, new_model, old, props)
            if not replace:
                calls.updated(self.account, self.region, resource_type,
                              physical_id_of(new_model, old.physical_id or logical_id), old.properties, props)
        except Exception as exc:
            record.set("UPDATE_FAILED", reason_for(exc, logical_id))
            self.event(logical_id, old.physical_id, resource_type, "UPDATE_FAILED", record.reason)
            if not isinstance(exc, ResourceFailure):
                log.info("updating %s (%s) failed", logical_id, resource_type, exc_info=True)
            raise ResourceFailure(record.reason) from exc
        if new_model is not None:
            new_map._parsed_resources[logical_id] = new_model
        record.physical_id = physical_id_of(new_model, old.physical_id or logical_id)
        record.properties = props
        record.set("UPDATE_COMPLETE")
        self.event(logical_id, record.physical_id, resource_type, "UPDATE_COMPLETE")
        return outcome

    def moto_update(self, cls: Any, logical_id: str, resource_json: dict, model: Any, props: dict) -> Any:
        if cls is None:
            raise ResourceFailure(NOT_SUPPORTED.format(type=resource_json["Type"]))
        if hasattr(cls.update_from_cloudformation_json, "__isabstractmethod__"):
            raise ResourceFailure(f"Update of {resource_json['Type']} is not supported by the workshop cloud")
        name_property = cls.cloudformation_name_type()
        name = props.get(name_property) if name_property else None
        if not name:
            name = generate_resource_name(resource_json["Type"], self.stack.name, logical_id)
        new_model = cls.update_from_cloudformation_json(
            original_resource=model, new_resource_name=name,
            cloudformation_json={"Type": resource_json["Type"], "Properties": copy.deepcopy(props)},
            account_id=self.account, region_name=self.region)
        if new_model is not None:
            try:
                new_model.cf_resource_type = resource_json["Type"]
                new_model.logical_resource_id = logical_id
            except AttributeError:
                pass
        return new_model

    def roll_back_update(self, failure: tuple[str, str], journal: list[tuple], old_map: ResourceMap,
                         new_map: ResourceMap, old_records: dict[str, ResourceRecord],
                         records: dict[str, ResourceRecord]) -> None:
        state = self.state
        logical_id, verb = failure
        self.stack_event("UPDATE_ROLLBACK_IN_PROGRESS", f"The following resource(s) failed to {verb}: [{logical_id}]. ")
        broken = False
        doomed: list[tuple] = []
        for entry in reversed(journal):
            kind, name = entry[0], entry[1]
            if kind == "add":
                record = records[name]
                doomed.append((name, record.resource_type, new_map._parsed_resources.get(name),
                               record.physical_id or "", record.properties, False))
            elif kind == "replace":
                _, _, before, after, old = entry
                self.event(name, old.physical_id, old.resource_type, "UPDATE_IN_PROGRESS")
                self.event(name, old.physical_id, old.resource_type, "UPDATE_COMPLETE")
                record = records[name]
                doomed.append((name, old.resource_type, after, record.physical_id or "", record.properties, False))
                old_records[name].set("UPDATE_COMPLETE")
            else:
                _, _, after, old, props = entry
                self.event(name, old.physical_id, old.resource_type, "UPDATE_IN_PROGRESS")
                try:
                    rules = rules_for(old.resource_type)
                    if old.resource_type in NOTHING_TO_CREATE:
                        restored = None
                    elif rules.in_place:
                        restored = rules.update(after, old.properties, props, self.account, self.region)
                    else:
                        restored = self.moto_update(model_class(old.resource_type), name,
                                                    {"Type": old.resource_type}, after, old.properties)
                    if restored is not None:
                        old_map._parsed_resources[name] = restored
                    old_records[name].set("UPDATE_COMPLETE")
                    self.event(name, old.physical_id, old.resource_type, "UPDATE_COMPLETE")
                except Exception as exc:
                    broken = True
                    old_records[name].set("UPDATE_FAILED", reason_for(exc, name))
                    self.event(name, old.physical_id, old.resource_type, "UPDATE_FAILED", old_records[name].reason)
        state.records = old_records
        if broken:
            self.stack_event("UPDATE_ROLLBACK_FAILED")
            return
        self.stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        self.delete_many(doomed)
        self.stack_event("UPDATE_ROLLBACK_COMPLETE")
