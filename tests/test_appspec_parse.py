"""The Lambda and ECS AppSpec parsers (one shared check of the one resource and its hooks):
a good file's fields, and bad ones refused with CodeDeploy's kind of message."""

from __future__ import annotations

import json

import pytest

from workshop.cloud.services.codedeploy import ecs_appspec
from workshop.cloud.services.codedeploy.appspec import AppSpecError, parse_lambda

LAMBDA = {"version": 0.0, "Resources": [{"fn": {"Type": "AWS::Lambda::Function", "Properties": {
    "Name": "shop", "Alias": "live", "CurrentVersion": 1, "TargetVersion": 2}}}],
    "Hooks": [{"BeforeAllowTraffic": "smoke"}]}
ECS = {"version": 0.0, "Resources": [{"svc": {"Type": "AWS::ECS::Service", "Properties": {
    "TaskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2",
    "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": "8080"}}}}],
    "Hooks": {"AfterAllowTestTraffic": "check"}}


def test_good_files_parse():
    spec = parse_lambda(json.dumps(LAMBDA))
    assert (spec.resource, spec.function_name, spec.alias, spec.current_version, spec.target_version) == \
        ("fn", "shop", "live", "1", "2")
    assert spec.hooks == {"BeforeAllowTraffic": "smoke"}
    ecs = ecs_appspec.parse(json.dumps(ECS))
    assert (ecs.container_name, ecs.container_port, ecs.hooks) == ("web", 8080, {"AfterAllowTestTraffic": "check"})


def _with(base: dict, **changes) -> str:
    doc = json.loads(json.dumps(base))
    doc.update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize("parse,base,platform,kind", [
    (parse_lambda, LAMBDA, "a Lambda", "AWS::Lambda::Function"),
    (ecs_appspec.parse, ECS, "an ECS", "AWS::ECS::Service")])
def test_bad_files_are_refused_with_the_reason(parse, base, platform, kind):
    with pytest.raises(AppSpecError, match=f"for {platform} deployment must have exactly one resource"):
        parse(_with(base, Resources=[]))
    other = {"x": {"Type": "AWS::S3::Bucket", "Properties": {}}}
    with pytest.raises(AppSpecError, match=f"must have Type {kind}"):
        parse(_with(base, Resources=[other]))
    with pytest.raises(AppSpecError, match=f"cannot have a hook in {platform} deployment"):
        parse(_with(base, Hooks=[{"ApplicationStart": "fn"}]))
    with pytest.raises(AppSpecError, match="must name a Lambda function"):
        parse(_with(base, Hooks=[{"AfterAllowTraffic": ""}]))
    with pytest.raises(AppSpecError, match="Hooks must be a list"):
        parse(_with(base, Hooks=["fn"]))
    with pytest.raises(AppSpecError, match="must be a mapping"):
        parse("[1, 2]")
