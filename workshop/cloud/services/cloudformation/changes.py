"""Change sets: what executing a template would do to each resource (Add,
Modify, Remove), whether a Modify replaces the resource (True, False,
Conditional) and why (Details naming each changed property, whether it needs
recreation, and what caused it: the template, a parameter, or a resource
being replaced)."""

from __future__ import annotations

import copy
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.parsing import ResourceMap, clean_json

from workshop.cloud.services.cloudformation import templates
from workshop.cloud.services.cloudformation.engine import (
    StackState,
    condition_holds,
    model_class,
)
from workshop.cloud.services.cloudformation.resource_types import ALWAYS, CONDITIONALLY, NEVER, rules_for

NO_CHANGES = ("The submitted information didn't contain changes. Submit different information to create a "
              "change set.")
RESOURCE_ATTRIBUTES = ("Metadata", "DeletionPolicy", "UpdateReplacePolicy", "UpdatePolicy", "CreationPolicy")
_MISSING = object()


def _add(logical_id: str, resource_type: str) -> dict[str, Any]:
    return {"Action": "Add", "LogicalResourceId": logical_id, "ResourceType": resource_type,
            "Scope": [], "Details": []}


def compute(state: StackState, old_template: dict, old_map: ResourceMap | None, template: dict,
            new_map: ResourceMap) -> list[dict[str, Any]]:
    """The ResourceChanges that executing `template` (conditions and parameters
    as loaded into `new_map`) on a stack in `state` would make."""
    resources = template["Resources"]
    present = [n for n in templates.order(template) if condition_holds(new_map, resources[n])]
    alive = {n: r for n, r in list(state.records.items()) if r.exists}
    if old_map is not None:
        # Resolving a property must never create a resource (moto's map is lazy):
        # only resources that exist are resolvable.
        for name in alive:
            model = old_map._parsed_resources.get(name)
            if name in resources and model is not None:
                new_map._parsed_resources[name] = model
    old_params = old_map.resolved_parameters if old_map is not None else {}
    changed_params = {k for k in set(old_params) | set(new_map.resolved_parameters)
                      if old_params.get(k) != new_map.resolved_parameters.get(k)}
    added = {n for n in present if n not in alive}
    retyped = [n for n in present if n in alive and resources[n]["Type"] != alive[n].resource_type]
    if retyped:
        raise ValidationError(message="Update of resource type is not permitted. The new template modifies "
                                      f"resource type of the following resources: [{', '.join(retyped)}]")

    changes: list[dict[str, Any]] = []
    replacing: set[str] = set()
    for name in present:
        resource_type = resources[name]["Type"]
        if name in added:
            changes.append(_add(name, resource_type))
            continue
        old_json = (old_template.get("Resources") or {}).get(name) or {}
        details = _details(name, resources[name], old_json, alive[name].properties, new_map, added | replacing,
                           changed_params)
        if not details:
            continue
        recreation = [d["Target"].get("RequiresRecreation") for d in details]
        static_always = any(d["Target"].get("RequiresRecreation") == ALWAYS and d["Evaluation"] == "Static"
                            for d in details)
        if static_always:
            replacement = "True"
        elif ALWAYS in recreation or CONDITIONALLY in recreation:
            replacement = "Conditional"
        else:
            replacement = "False"
        if replacement != "False":
            replacing.add(name)
        scope: list[str] = []
        for detail in details:
            if detail["Target"]["Attribute"] not in scope:
                scope.append(detail["Target"]["Attribute"])
        changes.append({"Action": "Modify", "LogicalResourceId": name, "PhysicalResourceId": alive[name].physical_id,
                        "ResourceType": resource_type, "Replacement": replacement, "Scope": scope,
                        "Details": details})
    for name, record in alive.items():
        if name not in present:
            old_json = (old_template.get("Resources") or {}).get(name) or {}
            changes.append({"Action": "Remove", "LogicalResourceId": name, "PhysicalResourceId": record.physical_id,
                            "ResourceType": record.resource_type,
                            "PolicyAction": "Retain" if old_json.get("DeletionPolicy") == "Retain" else "Delete",
                            "Scope": [], "Details": []})
    return changes


def _details(name: str, new_json: dict, old_json: dict, deployed: dict, new_map: ResourceMap,
             unresolvable: set[str], changed_params: set[str]) -> list[dict[str, Any]]:
    resource_type = new_json["Type"]
    rules = rules_for(resource_type)
    cls = model_class(resource_type)
    try:
        name_property = cls.cloudformation_name_type() if cls is not None else ""
    except Exception:
        name_property = ""
    new_props = new_json.get("Properties") or {}
    old_props = old_json.get("Properties") or {}
    details: list[dict[str, Any]] = []
    for key in list(old_props) + [k for k in new_props if k not in old_props]:
        raw_new, raw_old = new_props.get(key, _MISSING), old_props.get(key, _MISSING)
        target = ({"Attribute": "Tags", "RequiresRecreation": NEVER} if key == "Tags" else
                  {"Attribute": "Properties", "Name": key,
                   "RequiresRecreation": rules.requires_recreation(key, name_property)})
        refs = templates.references(raw_new) if raw_new is not _MISSING else []
        causes = [(kind, target_name) for kind, target_name in refs if target_name in unresolvable]
        if raw_new != raw_old:
            if not causes and raw_new is not _MISSING:
                try:
                    if clean_json(copy.deepcopy(raw_new), new_map) == deployed.get(key, _MISSING):
                        continue  # written differently, resolves to the same value
                except Exception:
                    pass
            details.append({"Target": target, "Evaluation": "Static", "ChangeSource": "DirectModification"})
        elif causes:
            for kind, cause in causes:
                details.append({"Target": target, "Evaluation": "Dynamic",
                                "ChangeSource": "ResourceAttribute" if kind == "GetAtt" else "ResourceReference",
                                "CausingEntity": cause})
        else:
            for param in sorted({t for kind, t in refs if kind == "Ref" and t in changed_params}):
                details.append({"Target": target, "Evaluation": "Static", "ChangeSource": "ParameterReference",
                                "CausingEntity": param})
    for attribute in RESOURCE_ATTRIBUTES:
        if new_json.get(attribute) != old_json.get(attribute):
            details.append({"Target": {"Attribute": attribute, "RequiresRecreation": NEVER},
                            "Evaluation": "Static", "ChangeSource": "DirectModification"})
    return details
