"""CloudFormation's AWS::Logs::MetricFilter: the template's properties become the same
PutMetricFilter the API makes (so a bad pattern fails the stack in AWS's words), updates
apply in place (a new FilterName or LogGroupName replaces), and drift detection reads the
live filter back."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cfn_model import CfnResource, PropertyError
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register
from workshop.cloud.services.logs import metric_filters
from workshop.cloud.services.logs.models import logs_backend


def _transformations(props: dict[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's MetricTransformations as the API's metricTransformations."""
    items = props.get("MetricTransformations")
    if not isinstance(items, list):
        raise PropertyError("MetricTransformations", "expected type: JSONArray, found: "
                            + ("null" if items is None else type(items).__name__))
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PropertyError(f"MetricTransformations/{i}", "expected type: JSONObject")
        for required in ("MetricName", "MetricNamespace", "MetricValue"):
            if item.get(required) in (None, ""):
                raise PropertyError(f"MetricTransformations/{i}", f"required key [{required}] not found")
        t: dict[str, Any] = {"metricName": item["MetricName"], "metricNamespace": item["MetricNamespace"],
                             "metricValue": str(item["MetricValue"])}
        if item.get("DefaultValue") is not None:
            t["defaultValue"] = item["DefaultValue"]
        if item.get("Unit"):
            t["unit"] = item["Unit"]
        if item.get("Dimensions"):
            t["dimensions"] = {d["Key"]: d["Value"] for d in item["Dimensions"]}
        out.append(t)
    return out


def cfn_shape(t: dict[str, Any]) -> dict[str, Any]:
    """A stored transformation in CloudFormation's property shape (for drift)."""
    out: dict[str, Any] = {"MetricName": t["metricName"], "MetricNamespace": t["metricNamespace"],
                           "MetricValue": t["metricValue"]}
    if t.get("defaultValue") is not None:
        out["DefaultValue"] = t["defaultValue"]
    if t.get("unit"):
        out["Unit"] = t["unit"]
    if t.get("dimensions"):
        out["Dimensions"] = [{"Key": k, "Value": v} for k, v in t["dimensions"].items()]
    return out


class LogsMetricFilter(CfnResource, CloudFormationModel):
    cfn_type = "AWS::Logs::MetricFilter"
    cfn_name_property = "FilterName"
    cfn_attributes = {}
    backend = staticmethod(logs_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict) -> LogsMetricFilter:
        group = props.get("LogGroupName")
        if not group:
            raise PropertyError("", "required key [LogGroupName] not found")
        if props.get("FilterPattern") is None:
            raise PropertyError("", "required key [FilterPattern] not found")
        metric_filters.put_metric_filter(backend, group, name, str(props["FilterPattern"]),
                                         _transformations(props))
        return cls(name, group=group)

    def _update(self, backend, name: str, props: dict) -> LogsMetricFilter:
        if name != self.name or props.get("LogGroupName") != self.group:
            return self._replace(backend, name, props)
        metric_filters.put_metric_filter(backend, self.group, name, str(props.get("FilterPattern", "")),
                                         _transformations(props))
        return self

    def _delete(self, backend) -> None:
        group = backend.groups.get(self.group)
        if group is not None:
            metric_filters.filters_of(group).pop(self.name, None)

    @classmethod
    def _restore(cls, backend, physical_id: str, props: dict) -> LogsMetricFilter:
        return cls(physical_id, group=props.get("LogGroupName"))


class MetricFilterRules(TypeRules):
    type_name = "AWS::Logs::MetricFilter"
    replace_on = frozenset({"FilterName", "LogGroupName"})
    drift_properties = frozenset({"FilterName", "FilterPattern", "LogGroupName", "MetricTransformations"})

    def live(self, physical_id, props, account, region):
        group = logs_backend(account, region).groups.get(props.get("LogGroupName"))
        found = metric_filters.filters_of(group).get(physical_id) if group is not None else None
        if found is None:
            return None
        return {"FilterName": found.name, "FilterPattern": found.pattern, "LogGroupName": found.group_name,
                "MetricTransformations": [cfn_shape(t) for t in found.transformations]}


register(MetricFilterRules())
