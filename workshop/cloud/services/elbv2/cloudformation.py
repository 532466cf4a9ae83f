"""CloudFormation's ``AWS::ElasticLoadBalancingV2::LoadBalancer``, ``::TargetGroup``,
``::Listener`` and ``::ListenerRule`` on the cfn_model base (in place of moto's, which
dropped a balancer's Type, attributes and tags, a listener's forward configuration, and
updated nothing of a balancer or target group): each goes through the backend calls the
ELB API makes, so a stack's listener is served on its local port like one made by hand.
Ref is the ARN; GetAtt as AWS documents each type."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cfn_model import CfnResource, flag, integer
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register, tag_list
from workshop.cloud.services.elbv2.models import elbv2_backends

# The hosted zone of application load balancers in each region (Route 53 alias targets).
HOSTED_ZONES = {"us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2", "us-west-1": "Z368ELLRRE2KJ0",
                "us-west-2": "Z1H1FL5HABSF5", "eu-west-1": "Z32O12XQLNTSW2", "eu-central-1": "Z215JYRZR1TBD5"}
_ACTION_INTEGERS = {"Order", "Weight", "DurationSeconds"}


def _backend(account_id: str, region: str):
    return elbv2_backends[account_id][region]


def _attributes(given: Any) -> dict[str, str]:
    return {str(a["Key"]): str(a["Value"]) for a in given or []}


def _attribute_list(live: dict[str, Any], given: Any) -> list[dict[str, str]]:
    """The live attributes the template names, in its order (the rest are AWS's defaults)."""
    return [{"Key": a["Key"], "Value": str(live.get(a["Key"]))} for a in given or [] if a["Key"] in live]


def _retag(backend, arn: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    if old.get("Tags") == new.get("Tags"):
        return
    wanted = {t["Key"]: t["Value"] for t in tag_list(new.get("Tags"))}
    gone = [t["Key"] for t in tag_list(old.get("Tags")) if t["Key"] not in wanted]
    if gone:
        backend.remove_tags([arn], gone)
    if wanted:
        backend.add_tags([arn], [{"Key": k, "Value": v} for k, v in wanted.items()])


def _live_tags(backend, arn: str) -> list[dict[str, str]]:
    tags = backend.describe_tags([arn]).get(arn) or {}
    return tag_list(tags)


def actions(given: Any, path: str) -> list[dict[str, Any]]:
    """Listener and rule actions as the API takes them (templates may spell numbers as strings)."""
    def clean(value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [clean(v, f"{where}/{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: (integer(v, f"{where}/{k}") if k in _ACTION_INTEGERS
                        else flag(v) if k == "Enabled" else clean(v, f"{where}/{k}"))
                    for k, v in value.items()}
        return value
    return clean(list(given or []), path)


# -- AWS::ElasticLoadBalancingV2::LoadBalancer --------------------------------------------

class LoadBalancer(CfnResource, CloudFormationModel):
    cfn_type = "AWS::ElasticLoadBalancingV2::LoadBalancer"
    cfn_name_property = "Name"
    cfn_attributes = {"DNSName": "dns_name", "LoadBalancerName": "name", "LoadBalancerArn": "arn",
                      "LoadBalancerFullName": "full_name", "CanonicalHostedZoneID": "hosted_zone",
                      "SecurityGroups": "security_groups"}
    ref_attribute = "arn"
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> LoadBalancer:
        balancer = backend.create_load_balancer(
            name=name, security_groups=props.get("SecurityGroups") or [], subnet_ids=props.get("Subnets") or [],
            subnet_mappings=props.get("SubnetMappings") or [], scheme=props.get("Scheme") or "internet-facing",
            loadbalancer_type=props.get("Type") or "application", ip_address_type=props.get("IpAddressType") or "ipv4",
            tags=tag_list(props.get("Tags")) or None)
        try:
            if props.get("LoadBalancerAttributes"):
                backend.modify_load_balancer_attributes(balancer.arn, _attributes(props["LoadBalancerAttributes"]))
        except Exception:
            backend.delete_load_balancer(balancer.arn)
            raise
        return cls._of(backend, balancer)

    @classmethod
    def _of(cls, backend, balancer) -> LoadBalancer:
        return cls(balancer.name, arn=balancer.arn, dns_name=balancer.dns_name,
                   full_name="/".join(balancer.arn.split(":loadbalancer/", 1)[-1].split("/")[:3]),
                   hosted_zone=HOSTED_ZONES.get(balancer.arn.split(":")[3], HOSTED_ZONES["us-east-1"]),
                   security_groups=list(balancer.security_groups or []))

    def _update(self, backend, name: str, props: dict[str, Any]) -> LoadBalancer:
        old = self.properties
        if props.get("Subnets") != old.get("Subnets") or props.get("SubnetMappings") != old.get("SubnetMappings"):
            backend.set_subnets(self.arn, props.get("Subnets") or [], props.get("SubnetMappings") or [])
        if props.get("SecurityGroups") != old.get("SecurityGroups"):
            backend.set_security_groups(self.arn, props.get("SecurityGroups") or [])
        if props.get("IpAddressType") != old.get("IpAddressType"):
            backend.set_ip_address_type(self.arn, props.get("IpAddressType") or "ipv4")
        if props.get("LoadBalancerAttributes") != old.get("LoadBalancerAttributes") and \
                props.get("LoadBalancerAttributes"):
            backend.modify_load_balancer_attributes(self.arn, _attributes(props["LoadBalancerAttributes"]))
        _retag(backend, self.arn, old, props)
        return self._of(backend, backend.load_balancers[self.arn])

    def _delete(self, backend) -> None:
        if self.arn in backend.load_balancers:
            backend.delete_load_balancer(self.arn)


class LoadBalancerRules(TypeRules):
    type_name = "AWS::ElasticLoadBalancingV2::LoadBalancer"
    replace_on = frozenset({"Name", "Scheme", "Type"})
    drift_properties = frozenset({"Name", "Scheme", "Type", "Subnets", "SecurityGroups", "IpAddressType",
                                  "LoadBalancerAttributes", "Tags"})

    def live(self, physical_id, props, account, region):
        backend = _backend(account, region)
        balancer = backend.load_balancers.get(physical_id)
        if balancer is None:
            return None
        subnets = [s.id for s in balancer.subnets]
        wanted = [str(s) for s in props.get("Subnets") or []]
        live: dict[str, Any] = {
            "Name": balancer.name, "Scheme": balancer.scheme, "Type": balancer.type,
            "IpAddressType": balancer.ip_address_type,
            # Sets, as AWS compares them: in the template's order where the same.
            "Subnets": [s for s in wanted if s in subnets] + [s for s in subnets if s not in wanted],
            "SecurityGroups": list(balancer.security_groups or []),
            "LoadBalancerAttributes": _attribute_list(backend.describe_load_balancer_attributes(physical_id),
                                                      props.get("LoadBalancerAttributes")),
        }
        tags = _live_tags(backend, physical_id)
        if tags:
            live["Tags"] = tags
        return live


# -- AWS::ElasticLoadBalancingV2::TargetGroup -----------------------------------------------

_HEALTH = {"HealthCheckProtocol": "healthcheck_protocol", "HealthCheckPort": "healthcheck_port",
           "HealthCheckPath": "healthcheck_path", "HealthCheckIntervalSeconds": "healthcheck_interval_seconds",
           "HealthCheckTimeoutSeconds": "healthcheck_timeout_seconds",
           "HealthyThresholdCount": "healthy_threshold_count",
           "UnhealthyThresholdCount": "unhealthy_threshold_count"}
_HEALTH_INTEGERS = {"HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds", "HealthyThresholdCount",
                    "UnhealthyThresholdCount"}


def _targets(given: Any) -> list[dict[str, Any]]:
    return [{"Id": str(t["Id"]), **({"Port": integer(t["Port"], "Targets/Port")} if t.get("Port") else {})}
            for t in given or []]


class TargetGroup(CfnResource, CloudFormationModel):
    cfn_type = "AWS::ElasticLoadBalancingV2::TargetGroup"
    cfn_name_property = "Name"
    cfn_attributes = {"TargetGroupArn": "arn", "TargetGroupName": "name", "TargetGroupFullName": "full_name",
                      "LoadBalancerArns": "load_balancer_arns"}
    ref_attribute = "arn"
    backend = staticmethod(_backend)

    @property
    def load_balancer_arns(self) -> list[str]:
        """The balancers whose listeners (default actions or rules) forward to the group."""
        backend = _backend(self.account_id, self.region)
        return sorted({balancer.arn for balancer in backend.load_balancers.values()
                       for listener in balancer.listeners.values() for rule in listener.rules.values()
                       if any(self.arn in str(action.data) for action in rule.actions)})

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> TargetGroup:
        health = {arg: (integer(props[prop], prop) if prop in _HEALTH_INTEGERS else props[prop])
                  for prop, arg in _HEALTH.items() if props.get(prop) is not None}
        group = backend.create_target_group(
            name, vpc_id=props.get("VpcId"), protocol=props.get("Protocol"),
            protocol_version=props.get("ProtocolVersion"), port=props.get("Port"),
            healthcheck_enabled=None if props.get("HealthCheckEnabled") is None
            else str(flag(props["HealthCheckEnabled"])).lower(),
            matcher=props.get("Matcher"), ip_address_type=props.get("IpAddressType"),
            target_type=props.get("TargetType") or "instance", tags=tag_list(props.get("Tags")) or None, **health)
        try:
            if props.get("TargetGroupAttributes"):
                backend.modify_target_group_attributes(group.arn, _attributes(props["TargetGroupAttributes"]))
            if props.get("Targets"):
                backend.register_targets(group.arn, _targets(props["Targets"]))
        except Exception:
            backend.delete_target_group(group.arn)
            raise
        return cls(group.name, arn=group.arn, full_name="targetgroup/" + group.arn.split(":targetgroup/", 1)[-1])

    def _update(self, backend, name: str, props: dict[str, Any]) -> TargetGroup:
        old = self.properties
        health = {prop: props.get(prop) for prop in [*_HEALTH, "Matcher", "HealthCheckEnabled"]}
        if any(health[p] != old.get(p) for p in health):
            backend.modify_target_group(
                self.arn, props.get("HealthCheckProtocol"), props.get("HealthCheckPort"),
                props.get("HealthCheckPath"), integer(props.get("HealthCheckIntervalSeconds"), "HealthCheckIntervalSeconds"),
                integer(props.get("HealthCheckTimeoutSeconds"), "HealthCheckTimeoutSeconds"),
                integer(props.get("HealthyThresholdCount"), "HealthyThresholdCount"),
                integer(props.get("UnhealthyThresholdCount"), "UnhealthyThresholdCount"),
                (props.get("Matcher") or {}).get("HttpCode"),
                None if props.get("HealthCheckEnabled") is None else flag(props["HealthCheckEnabled"]))
        if props.get("TargetGroupAttributes") != old.get("TargetGroupAttributes") and \
                props.get("TargetGroupAttributes"):
            backend.modify_target_group_attributes(self.arn, _attributes(props["TargetGroupAttributes"]))
        if props.get("Targets") != old.get("Targets"):
            wanted, had = _targets(props.get("Targets")), _targets(old.get("Targets"))
            gone = [t for t in had if t not in wanted]
            if gone:
                backend.deregister_targets(self.arn, gone)
            if wanted:
                backend.register_targets(self.arn, wanted)
        _retag(backend, self.arn, old, props)
        return self

    def _delete(self, backend) -> None:
        if self.arn in backend.target_groups:
            backend.delete_target_group(self.arn)


class TargetGroupRules(TypeRules):
    type_name = "AWS::ElasticLoadBalancingV2::TargetGroup"
    replace_on = frozenset({"Name", "Port", "Protocol", "ProtocolVersion", "VpcId", "TargetType", "IpAddressType"})
    # Not Targets: ECS registers its tasks in the stack's groups, which is no drift.
    drift_properties = frozenset({"Name", "Port", "Protocol", "VpcId", "TargetType", *_HEALTH, "Matcher",
                                  "HealthCheckEnabled", "TargetGroupAttributes", "Tags"})

    def live(self, physical_id, props, account, region):
        backend = _backend(account, region)
        group = backend.target_groups.get(physical_id)
        if group is None:
            return None
        live: dict[str, Any] = {
            "Name": group.name, "Port": group.port, "Protocol": group.protocol, "VpcId": group.vpc_id,
            "TargetType": group.target_type, "HealthCheckProtocol": group.health_check_protocol,
            "HealthCheckPort": group.health_check_port, "HealthCheckPath": group.health_check_path,
            "HealthCheckIntervalSeconds": group.health_check_interval_seconds,
            "HealthCheckTimeoutSeconds": group.health_check_timeout_seconds,
            "HealthyThresholdCount": group.healthy_threshold_count,
            "UnhealthyThresholdCount": group.unhealthy_threshold_count,
            "HealthCheckEnabled": group.health_check_enabled,
            "TargetGroupAttributes": _attribute_list(group.attributes, props.get("TargetGroupAttributes")),
        }
        if getattr(group, "matcher", None):
            live["Matcher"] = dict(group.matcher)
        tags = _live_tags(backend, physical_id)
        if tags:
            live["Tags"] = tags
        return live


# -- AWS::ElasticLoadBalancingV2::Listener ----------------------------------------------------

def _certificate(props: dict[str, Any]) -> str | None:
    certificates = props.get("Certificates") or []
    return certificates[0].get("CertificateArn") if certificates else None


class Listener(CfnResource, CloudFormationModel):
    cfn_type = "AWS::ElasticLoadBalancingV2::Listener"
    cfn_attributes = {"ListenerArn": "arn"}
    ref_attribute = "arn"
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> Listener:
        protocol = props.get("Protocol")
        listener = backend.create_listener(
            props.get("LoadBalancerArn"), protocol, props.get("Port"),
            props.get("SslPolicy") or ("ELBSecurityPolicy-2016-08" if protocol in ("HTTPS", "TLS") else None),
            _certificate(props), actions(props.get("DefaultActions"), "DefaultActions"),
            props.get("AlpnPolicy") or [])
        return cls(listener.arn, arn=listener.arn)

    def _update(self, backend, name: str, props: dict[str, Any]) -> Listener:
        backend.modify_listener(self.arn, props.get("Port"), props.get("Protocol"), props.get("SslPolicy"),
                                props.get("Certificates") or None,
                                actions(props.get("DefaultActions"), "DefaultActions"))
        return self

    def _delete(self, backend) -> None:
        if any(self.arn in balancer.listeners for balancer in backend.load_balancers.values()):
            backend.delete_listener(self.arn)


def _listener(backend, arn: str):
    return next((b.listeners[arn] for b in backend.load_balancers.values() if arn in b.listeners), None)


class ListenerRules(TypeRules):
    type_name = "AWS::ElasticLoadBalancingV2::Listener"
    replace_on = frozenset({"LoadBalancerArn"})
    drift_properties = frozenset({"LoadBalancerArn", "Port", "Protocol", "DefaultActions", "SslPolicy",
                                  "Certificates", "AlpnPolicy"})

    def live(self, physical_id, props, account, region):
        listener = _listener(_backend(account, region), physical_id)
        if listener is None:
            return None
        live: dict[str, Any] = {"LoadBalancerArn": listener.load_balancer_arn, "Port": listener.port,
                                "Protocol": listener.protocol,
                                "DefaultActions": [dict(a.data) for a in listener.default_actions]}
        if listener.protocol in ("HTTPS", "TLS"):
            live["SslPolicy"] = listener.ssl_policy
        if listener.certificates:
            live["Certificates"] = [{"CertificateArn": c} for c in listener.certificates]
        if listener.alpn_policy:
            live["AlpnPolicy"] = list(listener.alpn_policy)
        return live


# -- AWS::ElasticLoadBalancingV2::ListenerRule ------------------------------------------------

class ListenerRule(CfnResource, CloudFormationModel):
    cfn_type = "AWS::ElasticLoadBalancingV2::ListenerRule"
    cfn_attributes = {"RuleArn": "arn", "IsDefault": "is_default"}
    ref_attribute = "arn"
    backend = staticmethod(_backend)
    is_default = False

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> ListenerRule:
        rule = backend.create_rule(props.get("ListenerArn"), props.get("Conditions") or [],
                                   integer(props.get("Priority"), "Priority"), actions(props.get("Actions"), "Actions"))
        return cls(rule.arn, arn=rule.arn)

    def _update(self, backend, name: str, props: dict[str, Any]) -> ListenerRule:
        old = self.properties
        if props.get("Priority") != old.get("Priority"):
            backend.set_rule_priorities([{"RuleArn": self.arn, "Priority": integer(props.get("Priority"), "Priority")}])
        if props.get("Conditions") != old.get("Conditions") or props.get("Actions") != old.get("Actions"):
            backend.modify_rule(self.arn, props.get("Conditions") or [], actions(props.get("Actions"), "Actions"))
        return self

    def _delete(self, backend) -> None:
        backend.delete_rule(self.arn)


class ListenerRuleRules(TypeRules):
    type_name = "AWS::ElasticLoadBalancingV2::ListenerRule"
    replace_on = frozenset({"ListenerArn"})
    drift_properties = frozenset({"ListenerArn", "Priority", "Conditions", "Actions"})

    def live(self, physical_id, props, account, region):
        backend = _backend(account, region)
        for balancer in backend.load_balancers.values():
            for listener in balancer.listeners.values():
                rule = listener.rules.get(physical_id)
                if rule is not None:
                    return {"ListenerArn": listener.arn, "Priority": rule.priority,
                            "Conditions": [dict(c) for c in rule.conditions],
                            "Actions": [dict(a.data) for a in rule.actions]}
        return None


for _rules in (LoadBalancerRules(), TargetGroupRules(), ListenerRules(), ListenerRuleRules()):
    register(_rules)
