"""ECS Express Mode (Create/Describe/Update/DeleteExpressGatewayService): from an image and two
roles, the resources AWS makes, through the same backends their own APIs use (the default
cluster, a task definition, the ECS service, a target group and a host-header rule on the
account's shared Express load balancer, security groups, a log group, Application Auto
Scaling's target and policy), reported with statuses on the workshop clock. State only:
the endpoint is served locally by express_endpoints.py, told through ``services.ask``."""

from __future__ import annotations

import json
import random
import re
import string
import threading
import time
import uuid

from moto.core.exceptions import JsonRESTError
from moto.ecs.exceptions import ClusterNotFoundException, InvalidParameterException, ServiceNotFoundException
from moto.ecs.models import EC2ContainerServiceBackend

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services import extend

URL_TAG = "workshop:url"            # on the ECS service: the local URL its endpoint is served on
CONTAINER = "Main"
DEFAULTS = {"cpu": "1024", "memory": "2048", "containerPort": 80, "healthCheckPath": "/ping",
            "minTaskCount": 1, "maxTaskCount": 20, "autoScalingMetric": "AVERAGE_CPU", "autoScalingTargetValue": 60}
# AWS seconds a new load balancer takes to provision (the shared one is made once per account and region).
LOAD_BALANCER_PROVISIONING = 180
# Express services deploy as canaries (ECS's defaults: 5% of production, 10 minutes' bake).
DEPLOYMENT = {"maximumPercent": 200, "minimumHealthyPercent": 100, "strategy": "CANARY",
              "canaryConfiguration": {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}, "bakeTimeInMinutes": 0,
              "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
METRICS = {"AVERAGE_CPU": "ECSServiceAverageCPUUtilization", "AVERAGE_MEMORY": "ECSServiceAverageMemoryUtilization",
           "REQUEST_COUNT_PER_TARGET": "ALBRequestCountPerTarget"}
_lock = threading.Lock()             # one express call at a time shares the load balancer


class ResourceNotFoundException(JsonRESTError):
    code = 400

    def __init__(self, message: str):
        super().__init__("ResourceNotFoundException", message)


class ServiceNotActiveException(JsonRESTError):
    code = 400

    def __init__(self, message: str = "Service was not ACTIVE."):
        super().__init__("ServiceNotActiveException", message)


def _suffix(n: int = 8) -> str:
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def _backends(account_id: str, region: str) -> dict:
    for name in ("elbv2", "logs", "cloudwatch"):      # the workshop's backends, not moto's bare ones
        services.ensure_loaded(name)
    from moto.applicationautoscaling.models import applicationautoscaling_backends
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends
    from moto.iam.models import iam_backends
    from moto.logs.models import logs_backends

    return {"ec2": ec2_backends[account_id][region], "elbv2": elbv2_backends[account_id][region],
            "logs": logs_backends[account_id][region], "iam": iam_backends[account_id]["global"],
            "scaling": applicationautoscaling_backends[account_id][region],
            "cloudwatch": cloudwatch_backends[account_id][region]}


def _check_role(iam, arn: str | None, principal: str, what: str) -> None:
    """ECS assumes the role: it must exist and trust ``principal`` (AWS's answer otherwise)."""
    if not arn:
        return
    try:
        role = iam.get_role_by_arn(arn)
    except Exception:
        raise InvalidParameterException(f"Unable to assume the {what} role {arn}. Please verify that the role "
                                        "exists.") from None
    try:
        document = json.loads(role.assume_role_policy_document or "{}")
    except (TypeError, ValueError):
        document = {}
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        services_ = (statement.get("Principal") or {}).get("Service") if isinstance(statement.get("Principal"),
                                                                                   dict) else None
        names = services_ if isinstance(services_, list) else [services_]
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if statement.get("Effect") == "Allow" and principal in names and \
                any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            return
    raise InvalidParameterException(f"Unable to assume the {what} role {arn}. Please verify that its trust "
                                    f"policy allows {principal} to assume it.")


def _config(given: dict, old: dict | None = None) -> dict:
    """One configuration (a service revision's): the request's fields over the old ones, AWS's defaults."""
    old = old or {}
    container = {**(old.get("primaryContainer") or {}), **(given.get("primaryContainer") or {})}
    if not container.get("image"):
        raise InvalidParameterException("primaryContainer.image must be specified.")
    container.setdefault("containerPort", DEFAULTS["containerPort"])
    scaling = {**{k: DEFAULTS[k] for k in ("minTaskCount", "maxTaskCount", "autoScalingMetric",
                                           "autoScalingTargetValue")},
               **(old.get("scalingTarget") or {}), **(given.get("scalingTarget") or {})}
    if not 0 <= int(scaling["minTaskCount"]) <= int(scaling["maxTaskCount"]):
        raise InvalidParameterException("scalingTarget.minTaskCount must be between 0 and maxTaskCount.")
    if scaling["autoScalingMetric"] not in METRICS:
        raise InvalidParameterException(f"Invalid autoScalingMetric: {scaling['autoScalingMetric']}")
    config = {"executionRoleArn": given.get("executionRoleArn") or old.get("executionRoleArn"),
              "taskRoleArn": given.get("taskRoleArn") or old.get("taskRoleArn"),
              "cpu": str(given.get("cpu") or old.get("cpu") or DEFAULTS["cpu"]),
              "memory": str(given.get("memory") or old.get("memory") or DEFAULTS["memory"]),
              "cpuArchitecture": given.get("cpuArchitecture") or old.get("cpuArchitecture") or "X86_64",
              "healthCheckPath": given.get("healthCheckPath") or old.get("healthCheckPath")
              or DEFAULTS["healthCheckPath"],
              "primaryContainer": container, "scalingTarget": scaling,
              "networkConfiguration": given.get("networkConfiguration") or old.get("networkConfiguration")}
    if not config["healthCheckPath"].startswith("/"):
        raise InvalidParameterException("healthCheckPath must start with '/'.")
    return {k: v for k, v in config.items() if v is not None}


def _status(since: float, ready_after: float) -> str:
    return "ACTIVE" if time.time() >= since + get_clock().real_seconds(ready_after) else "PROVISIONING"


@extend(EC2ContainerServiceBackend)
class _Express:
    def _express(self) -> dict:
        """service ARN -> the express service's record (plain data, pickled with the backend)."""
        found = self.__dict__.get("ws_express")
        if found is None:
            found = self.__dict__["ws_express"] = {}
        return found

    def _express_get(self, arn: str, missing=ServiceNotFoundException) -> dict:
        record = self._express().get(arn or "")
        if record is None:
            if missing is ResourceNotFoundException:
                raise ResourceNotFoundException(f"The Express service {arn} was not found.")
            raise missing()
        return record

    def create_express_gateway_service(self, params: dict) -> dict:
        others = _backends(self.account_id, self.region_name)
        if not params.get("infrastructureRoleArn"):
            raise InvalidParameterException("infrastructureRoleArn must be specified.")
        _check_role(others["iam"], params["infrastructureRoleArn"], "ecs.amazonaws.com", "infrastructure")
        _check_role(others["iam"], params.get("executionRoleArn"), "ecs-tasks.amazonaws.com", "task execution")
        _check_role(others["iam"], params.get("taskRoleArn"), "ecs-tasks.amazonaws.com", "task")
        config = _config(params)
        image = config["primaryContainer"]["image"]
        name = params.get("serviceName") or re.sub(r"[^A-Za-z0-9-]", "-", image.split("/")[-1].split(":")[0]
                                                   .split("@")[0])[:200] + "-" + _suffix(4)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}", name):
            raise InvalidParameterException("serviceName may contain only letters, numbers, hyphens and "
                                            "underscores (up to 255).")
        cluster_name = (params.get("cluster") or "default").split("/")[-1]
        if cluster_name not in self.clusters:
            if cluster_name != "default":
                raise ClusterNotFoundException()
            self.create_cluster("default", capacity_providers=["FARGATE"])
        existing = self.services.get(f"{cluster_name}:{name}")
        if existing is not None and existing.status == "ACTIVE":
            raise InvalidParameterException("Creation of service was not idempotent.")
        undo: list = []
        with _lock:
            try:
                return self._express_make(params, config, name, cluster_name, others, undo)
            except Exception:
                # A call AWS refuses half-way leaves nothing behind (latest first).
                for step in reversed(undo):
                    try:
                        step()
                    except Exception:
                        pass
                raise

    def _express_make(self, params: dict, config: dict, name: str, cluster_name: str, others: dict,
                      undo: list) -> dict:
        ec2, elb = others["ec2"], others["elbv2"]
        now = time.time()
        endpoint = f"{name.lower().replace('_', '-')[:40]}-{_suffix(10)}.ecs.{self.region_name}.on.aws"
        had_shared = bool(self.__dict__.get("ws_express_shared"))
        shared = self._express_shared(others, config)
        if not had_shared:
            undo.append(lambda: self._express_remove_shared(others))
        vpc_id = shared["vpc"]
        port = int(config["primaryContainer"]["containerPort"])
        made: dict = {"loadBalancer": shared["loadBalancer"], "listener": shared["listener"],
                      "certificate": shared["certificate"], "loadBalancerSecurityGroup": shared["securityGroup"],
                      "createdAt": now}
        network = dict(config.get("networkConfiguration") or {})
        subnets = network.get("subnets") or shared["subnets"]
        if not network.get("securityGroups"):
            group = ec2.create_security_group(f"ecs-express-{name}-{_suffix(5)}"[:255],
                                              f"ECS Express service {name}: traffic from its load balancer",
                                              vpc_id=vpc_id)
            ec2.authorize_security_group_ingress(group.id, "tcp", str(port), str(port), [],
                                                 source_groups=[{"GroupId": shared["securityGroup"]}])
            made["serviceSecurityGroup"] = group.id
            undo.append(lambda sg=group.id: ec2.delete_security_group(group_id=sg))
            network["securityGroups"] = [group.id]
        network["subnets"] = subnets
        groups = []
        for _ in range(2):      # production's and the canary's (they alternate per deployment)
            group = elb.create_target_group(
                f"ecs-gateway-tg-{_suffix(12)}", vpc_id=vpc_id, protocol="HTTP", port=port, target_type="ip",
                healthcheck_path=config["healthCheckPath"], healthcheck_interval_seconds=30,
                healthcheck_timeout_seconds=5, healthy_threshold_count="2", unhealthy_threshold_count="2",
                tags=[{"Key": "AmazonECSManaged", "Value": "true"}])
            undo.append(lambda arn=group.arn: elb.delete_target_group(arn))
            groups.append(group.arn)
        made["targetGroup"], made["targetGroups"] = groups[0], groups
        listener = elb.load_balancers[shared["loadBalancer"]].listeners[shared["listener"]]
        taken = {int(r.priority) for r in listener.rules.values() if str(r.priority).isdigit()}
        priority = next(p for p in range(1, 50001) if p not in taken)
        rule = elb.create_rule(shared["listener"],
                               [{"Field": "host-header", "HostHeaderConfig": {"Values": [endpoint]}}],
                               # both groups in the rule (the canary's at weight 0): their targets are in use
                               priority, [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                                   {"TargetGroupArn": groups[0], "Weight": 100},
                                   {"TargetGroupArn": groups[1], "Weight": 0}]}}],
                               tags=[{"Key": "AmazonECSManaged", "Value": "true"}])
        made["rule"] = rule.arn
        undo.append(lambda: elb.delete_rule(rule.arn))
        container = config["primaryContainer"]
        log_config = container.get("awsLogsConfiguration") or {"logGroup": f"/aws/ecs/{cluster_name}/{name}",
                                                                 "logStreamPrefix": "ecs"}
        if log_config["logGroup"] not in others["logs"].groups:
            others["logs"].create_log_group(log_config["logGroup"], {})
            made["logGroup"] = log_config["logGroup"]
            undo.append(lambda: others["logs"].delete_log_group(log_config["logGroup"]))
        config["primaryContainer"]["awsLogsConfiguration"] = log_config
        alarms = self._express_alarms(others, name, made)
        undo.append(lambda: others["cloudwatch"].delete_alarms(alarms))
        definition = params.get("taskDefinitionArn")
        if not definition:
            definition = self._express_task_definition(name, config)
            undo.append(lambda: self.deregister_task_definition(definition))
        self.create_service(cluster_name, name, int(config["scalingTarget"]["minTaskCount"]), definition,
                            [{"targetGroupArn": groups[0], "containerName": CONTAINER, "containerPort": port,
                              "advancedConfiguration": {"alternateTargetGroupArn": groups[1],
                                                        "productionListenerRule": rule.arn,
                                                        "roleArn": params["infrastructureRoleArn"]}}], "REPLICA",
                            [{"key": t["key"], "value": t["value"]} for t in params.get("tags") or []],
                            None, "FARGATE", network_configuration={"awsvpcConfiguration": network},
                            propagate_tags="SERVICE",
                            deployment_configuration={**DEPLOYMENT, "alarms": {
                                "alarmNames": alarms, "enable": True, "rollback": True}},
                            health_check_grace_period_seconds=60)
        service = self.services[f"{cluster_name}:{name}"]
        undo.append(lambda: self.delete_service(cluster_name, name, True))
        config["taskDefinitionArn"] = service.task_definition
        config["networkConfiguration"] = network
        self._express_scaling(others, service, config, made)
        record = {"serviceArn": service.arn, "cluster": cluster_name, "serviceName": name,
                  "infrastructureRoleArn": params["infrastructureRoleArn"], "tags": list(params.get("tags") or []),
                  "createdAt": now, "updatedAt": now, "endpoint": endpoint, "resources": made,
                  "revisions": {}, "deleted": None, "localPort": None}
        self._express_revision(record, service, config)
        self._express()[service.arn] = record
        self._express_open(record)
        self._express_trail(record, shared if not had_shared else None)
        persistence.changed(self.account_id)
        return record

    def _express_trail(self, record: dict, shared: dict | None) -> None:
        """CloudTrail's record of what ECS made with the infrastructure role (invokedBy ecs.amazonaws.com)."""
        from workshop.cloud.services.cloudtrail import recorder

        made, name = record["resources"], record["serviceName"]
        calls = []
        if shared is not None:
            calls += [("ec2", "CreateSecurityGroup", {"GroupName": "ecs-express-gateway-alb"},
                       {"GroupId": shared["securityGroup"]}),
                      ("elbv2", "CreateLoadBalancer", {"Name": shared["loadBalancer"].split("/")[-2]},
                       {"LoadBalancers": [{"LoadBalancerArn": shared["loadBalancer"]}]}),
                      ("elbv2", "CreateListener", {"LoadBalancerArn": shared["loadBalancer"], "Port": 443},
                       {"Listeners": [{"ListenerArn": shared["listener"]}]})]
        if made.get("serviceSecurityGroup"):
            calls.append(("ec2", "CreateSecurityGroup", {"GroupName": f"ecs-express-{name}"},
                          {"GroupId": made["serviceSecurityGroup"]}))
        calls += [("elbv2", "CreateTargetGroup", {"Name": group.split("/")[-2]},
                   {"TargetGroups": [{"TargetGroupArn": group}]}) for group in made["targetGroups"]]
        calls += [("cloudwatch", "PutMetricAlarm", {"AlarmName": alarm}, None) for alarm in made["metricAlarms"]]
        calls += [("elbv2", "CreateRule", {"ListenerArn": made["listener"]}, {"Rules": [{"RuleArn": made["rule"]}]}),
                  ("ecs", "CreateService", {"cluster": record["cluster"], "serviceName": name},
                   {"service": {"serviceArn": record["serviceArn"]}}),
                  ("application-autoscaling", "RegisterScalableTarget",
                   {"ServiceNamespace": "ecs", "ResourceId": f"service/{record['cluster']}/{name}"}, None),
                  ("application-autoscaling", "PutScalingPolicy", {"PolicyName": f"{name}-scaling-policy"},
                   {"PolicyARN": made["scalingPolicy"]})]
        for service, operation, params, response in calls:
            try:
                recorder.on_behalf(self.account_id, self.region_name, "ecs.amazonaws.com", service, operation,
                                   params, response)
            except Exception:   # the trail never fails the call that made the resources
                pass

    def _express_shared(self, others: dict, config: dict) -> dict:
        """The account's Express load balancer (one per region, shared by its express services),
        with its security group, HTTPS listener (served as plain HTTP here) and certificate."""
        ec2, elb = others["ec2"], others["elbv2"]
        shared = self.__dict__.get("ws_express_shared")
        if shared and shared["loadBalancer"] in elb.load_balancers and \
                shared["listener"] in elb.load_balancers[shared["loadBalancer"]].listeners:
            return shared
        vpc = next((v for v in ec2.vpcs.values() if getattr(v, "is_default", False)), None)
        if vpc is None:
            raise InvalidParameterException("No default VPC in this region: specify networkConfiguration.subnets.")
        subnets = [s.id for s in ec2.describe_subnets(filters={"vpc-id": [vpc.id]})][:3]
        group = ec2.create_security_group(f"ecs-express-gateway-alb-{_suffix(5)}",
                                          "ECS Express load balancer: HTTP(S) from anywhere", vpc_id=vpc.id)
        for port in ("80", "443"):
            ec2.authorize_security_group_ingress(group.id, "tcp", port, port, [{"CidrIp": "0.0.0.0/0"}])
        # AWS issues an ACM certificate for *.ecs.REGION.on.aws; here the listener is served as
        # plain HTTP and the certificate is only named (moto's ACM keys cannot be kept across restarts).
        certificate = f"arn:aws:acm:{self.region_name}:{self.account_id}:certificate/{uuid.uuid4()}"
        tags = [{"Key": "AmazonECSManaged", "Value": "true"}]
        balancer = elb.create_load_balancer(f"ecs-express-gateway-alb-{_suffix(6)}", [group.id], subnets,
                                            loadbalancer_type="application", tags=tags)
        listener = elb.create_listener(balancer.arn, "HTTPS", 443, "ELBSecurityPolicy-TLS13-1-2-2021-06",
                                       None, [{"Type": "fixed-response", "FixedResponseConfig": {
                                           "StatusCode": "404", "ContentType": "text/plain",
                                           "MessageBody": "Not Found"}}], tags=tags)
        listener.certificate, listener.certificates = certificate, [certificate]
        shared = {"vpc": vpc.id, "subnets": subnets, "securityGroup": group.id, "certificate": certificate,
                  "loadBalancer": balancer.arn, "listener": listener.arn, "createdAt": time.time()}
        self.__dict__["ws_express_shared"] = shared
        return shared

    def _express_alarms(self, others: dict, name: str, made: dict) -> list[str]:
        """The metric alarms that detect a faulty deployment (the service's deployment alarms, with
        rollback): each target group's 5XX answers through the shared load balancer."""
        alarms = []
        for group in made["targetGroups"]:
            alarm = f"ecs-express-{name}-{group.split('/')[-2][-12:]}-5xx"[:255]
            others["cloudwatch"].put_metric_alarm(
                name=alarm, namespace="AWS/ApplicationELB", metric_name="HTTPCode_Target_5XX_Count",
                comparison_operator="GreaterThanOrEqualToThreshold", evaluation_periods=3, datapoints_to_alarm=3,
                period=60, threshold=10.0, statistic="Sum",
                description=f"ECS Express service {name}: its tasks answer 5XX (rolls a deployment back)",
                dimensions=[{"Name": "LoadBalancer", "Value": made["loadBalancer"].split(":loadbalancer/")[-1]},
                            {"Name": "TargetGroup", "Value": group.split(":")[-1]}],
                alarm_actions=[], treat_missing_data="notBreaching")
            alarms.append(alarm)
        made["metricAlarms"] = alarms
        return alarms

    def _express_task_definition(self, name: str, config: dict) -> str:
        container = config["primaryContainer"]
        log_config = container["awsLogsConfiguration"]
        spec = {"name": CONTAINER, "image": container["image"], "essential": True,
                "portMappings": [{"containerPort": int(container["containerPort"]), "protocol": "tcp"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": log_config["logGroup"], "awslogs-region": self.region_name,
                    "awslogs-stream-prefix": log_config["logStreamPrefix"]}}}
        if container.get("command"):
            spec["command"] = list(container["command"])
        if container.get("environment"):
            spec["environment"] = list(container["environment"])
        if container.get("secrets"):
            spec["secrets"] = list(container["secrets"])
        definition = self.register_task_definition(
            f"default-{name}"[:255], [spec], execution_role_arn=config.get("executionRoleArn"),
            task_role_arn=config.get("taskRoleArn"), network_mode="awsvpc", cpu=config["cpu"],
            memory=config["memory"], requires_compatibilities=["FARGATE"],
            runtime_platform={"cpuArchitecture": config["cpuArchitecture"], "operatingSystemFamily": "LINUX"})
        return definition.arn

    def _express_scaling(self, others: dict, service, config: dict, made: dict) -> None:
        scaling, target = others["scaling"], config["scalingTarget"]
        resource_id = f"service/{service.cluster_name}/{service.name}"
        found = scaling.register_scalable_target("ecs", resource_id, "ecs:service:DesiredCount",
                                                 int(target["minTaskCount"]), int(target["maxTaskCount"]),
                                                 None, None)
        made["scalableTarget"] = getattr(found, "arn", None) or resource_id
        metric = {"PredefinedMetricType": METRICS[target["autoScalingMetric"]]}
        if target["autoScalingMetric"] == "REQUEST_COUNT_PER_TARGET":
            balancer = made["loadBalancer"].split(":loadbalancer/")[-1]
            group = made["targetGroup"].split(":")[-1]
            metric["ResourceLabel"] = f"{balancer}/{group}"
        policy = scaling.put_scaling_policy(
            f"{service.name}-scaling-policy", "ecs", resource_id, "ecs:service:DesiredCount",
            {"TargetValue": float(target["autoScalingTargetValue"]), "PredefinedMetricSpecification": metric,
             "ScaleInCooldown": 300, "ScaleOutCooldown": 60},
            "TargetTrackingScaling")
        made["scalingPolicy"] = policy.policy_arn
        made["scalingMetric"] = target["autoScalingMetric"]
        made["scalingTargetValue"] = float(target["autoScalingTargetValue"])
        made["minCapacity"], made["maxCapacity"] = int(target["minTaskCount"]), int(target["maxTaskCount"])

    def _express_revision(self, record: dict, service, config: dict) -> None:
        deployment = service.deployments[0] if service.deployments else {}
        arn = deployment.get("ws_revision_arn") or f"{service.arn}/revision-{len(record['revisions']) + 1}"
        record["revisions"][arn] = {**config, "serviceRevisionArn": arn, "createdAt": time.time(),
                                    "ingressPaths": [{"accessType": "PUBLIC", "endpoint": f"https://{record['endpoint']}"}],
                                    "ws_deployment": deployment.get("ws_record")}
        record["current"] = arn

    def _express_open(self, record: dict) -> None:
        """Have the engine serve the endpoint on a local port (the same one again after a restart)."""
        shared = self.__dict__.get("ws_express_shared") or {}
        try:
            port = services.ask("ecs.express-endpoint-opened", account_id=self.account_id, region=self.region_name,
                                load_balancer_arn=shared.get("loadBalancer"), listener_arn=shared.get("listener"),
                                host=record["endpoint"], preferred_port=record.get("localPort"))
        except LookupError:
            return
        record["localPort"] = port
        service = next((s for s in self.services.values() if s.arn == record["serviceArn"]), None)
        if service is not None:
            self.tag_resource(service.arn, {URL_TAG: f"http://127.0.0.1:{port}"})

    def _express_active_configs(self, record: dict) -> list[dict]:
        service = next((s for s in self.services.values() if s.arn == record["serviceArn"]), None)
        live = {d.get("ws_revision_arn") for d in (service.deployments if service is not None else [])}
        chosen = [r for arn, r in record["revisions"].items() if arn in live or arn == record["current"]]
        chosen.sort(key=lambda r: r["createdAt"], reverse=True)
        return [{k: v for k, v in r.items() if not k.startswith("ws_")} for r in chosen]

    def _express_status(self, record: dict) -> dict:
        if record.get("deleted") is None:
            return {"statusCode": "ACTIVE"}
        service = next((s for s in self.services.values() if s.arn == record["serviceArn"]), None)
        tasks = [t for t in self.tasks.get(record["cluster"], {}).values()
                 if t.group == f"service:{record['serviceName']}" and t.last_status != "STOPPED"]
        if tasks or (service is not None and service.running_count):
            return {"statusCode": "DRAINING", "statusReason": "The service is being deleted."}
        return {"statusCode": "INACTIVE", "statusReason": "The service was deleted."}

    def express_view(self, record: dict, tags: bool = False) -> dict:
        deployment = record["revisions"][record["current"]].get("ws_deployment")
        view = {"cluster": f"arn:aws:ecs:{self.region_name}:{self.account_id}:cluster/{record['cluster']}",
                "serviceName": record["serviceName"], "serviceArn": record["serviceArn"],
                "infrastructureRoleArn": record["infrastructureRoleArn"], "status": self._express_status(record),
                "activeConfigurations": self._express_active_configs(record),
                "createdAt": record["createdAt"], "updatedAt": record["updatedAt"]}
        if deployment:
            view["currentDeployment"] = deployment
        if tags:
            view["tags"] = record["tags"]
        return view

    def describe_express_gateway_service(self, arn: str) -> dict:
        return self._express_get(arn, ResourceNotFoundException)

    def update_express_gateway_service(self, params: dict) -> tuple[dict, dict]:
        record = self._express_get(params.get("serviceArn"))
        if record.get("deleted") is not None:
            raise ServiceNotActiveException()
        others = _backends(self.account_id, self.region_name)
        _check_role(others["iam"], params.get("executionRoleArn"), "ecs-tasks.amazonaws.com", "task execution")
        _check_role(others["iam"], params.get("taskRoleArn"), "ecs-tasks.amazonaws.com", "task")
        old = record["revisions"][record["current"]]
        config = _config(params, {k: v for k, v in old.items() if k not in ("serviceRevisionArn", "createdAt",
                                                                            "ingressPaths", "ws_deployment")})
        service = self._get_service(record["cluster"], record["serviceName"])
        if int(config["primaryContainer"]["containerPort"]) != int(old["primaryContainer"]["containerPort"]):
            raise InvalidParameterException("The container port of an Express service cannot be changed.")
        with _lock:
            if config["healthCheckPath"] != old["healthCheckPath"]:
                for group in record["resources"]["targetGroups"]:
                    others["elbv2"].modify_target_group(group, health_check_path=config["healthCheckPath"])
            definition = params.get("taskDefinitionArn") or self._express_task_definition(record["serviceName"],
                                                                                        config)
            config["taskDefinitionArn"] = definition
            desired = None
            if config["scalingTarget"] != old["scalingTarget"]:
                self._express_scaling(others, service, config, record["resources"])
                low, high = int(config["scalingTarget"]["minTaskCount"]), int(config["scalingTarget"]["maxTaskCount"])
                desired = min(max(service.desired_count, low), high)
            self.update_service({"cluster": record["cluster"], "service": record["serviceName"],
                                 "task_definition": definition, "desired_count": desired,
                                 "force_new_deployment": True})
            self._express_revision(record, service, config)
            record["updatedAt"] = time.time()
        persistence.changed(self.account_id)
        return record, record["revisions"][record["current"]]

    def delete_express_gateway_service(self, arn: str) -> dict:
        record = self._express_get(arn)
        if record.get("deleted") is not None:
            raise ServiceNotActiveException()
        others = _backends(self.account_id, self.region_name)
        elb, ec2, scaling, made = others["elbv2"], others["ec2"], others["scaling"], record["resources"]
        with _lock:
            resource_id = f"service/{record['cluster']}/{record['serviceName']}"
            steps = [lambda: self.delete_service(record["cluster"], record["serviceName"], True),
                     lambda: scaling.delete_scaling_policy(f"{record['serviceName']}-scaling-policy", "ecs",
                                                           resource_id, "ecs:service:DesiredCount"),
                     lambda: scaling.deregister_scalable_target("ecs", resource_id, "ecs:service:DesiredCount"),
                     lambda: elb.delete_rule(made["rule"]),
                     lambda: others["cloudwatch"].delete_alarms(made["metricAlarms"])]
            steps += [lambda arn=arn: elb.delete_target_group(arn) for arn in made["targetGroups"]]
            if made.get("serviceSecurityGroup"):
                steps.append(lambda: ec2.delete_security_group(group_id=made["serviceSecurityGroup"]))
            for revision in record["revisions"].values():
                steps.append(lambda d=revision["taskDefinitionArn"]: self.deregister_task_definition(d))
            for step in steps:
                try:
                    step()
                except Exception:   # already removed out of band: nothing left to remove
                    pass
            record["deleted"] = time.time()
            record["updatedAt"] = record["deleted"]
            services.announce("ecs.express-endpoint-closed", host=record["endpoint"])
            if not any(r.get("deleted") is None for r in self._express().values()):
                self._express_remove_shared(others)
        persistence.changed(self.account_id)
        return record

    def _express_remove_shared(self, others: dict) -> None:
        """The last express service gone: its load balancer, listener and security group go too."""
        shared = self.__dict__.pop("ws_express_shared", None)
        if not shared:
            return
        elb, ec2 = others["elbv2"], others["ec2"]
        for step in (lambda: elb.delete_listener(shared["listener"]),
                     lambda: elb.delete_load_balancer(shared["loadBalancer"]),
                     lambda: ec2.delete_security_group(group_id=shared["securityGroup"])):
            try:
                step()
            except Exception:
                pass

    def express_managed_resources(self, record: dict) -> dict:
        """A revision's ecsManagedResources (DescribeServiceRevisions), statuses on the clock:
        a load balancer made for this service provisions for LOAD_BALANCER_PROVISIONING AWS seconds."""
        made, at = record["resources"], record["resources"]["createdAt"]
        shared = self.__dict__.get("ws_express_shared") or {}
        gone = record.get("deleted") is not None
        lb_since = shared.get("createdAt", at)

        def state(ready_after: float = 0, since: float = at, shared_one: bool = False) -> dict:
            status = ("ACTIVE" if shared_one else "DELETED") if gone else _status(since, ready_after)
            return {"status": status, "updatedAt": record["updatedAt"] if gone else since}

        elb = _backends(self.account_id, self.region_name)["elbv2"]
        shared_alive = bool(shared) and shared.get("loadBalancer") == made["loadBalancer"]
        path = {"accessType": "PUBLIC", "endpoint": f"https://{record['endpoint']}",
                "loadBalancer": {"arn": made["loadBalancer"], **state(LOAD_BALANCER_PROVISIONING, lb_since,
                                                                      shared_alive),
                                 "scheme": "internet-facing", "subnetIds": list(shared.get("subnets") or []),
                                 "securityGroupIds": [made["loadBalancerSecurityGroup"]]},
                "loadBalancerSecurityGroups": [{"arn": self._sg_arn(made["loadBalancerSecurityGroup"]),
                                                **state(0, lb_since, shared_alive)}],
                "certificate": {"arn": made["certificate"], **state(0, lb_since, shared_alive),
                                "domainName": f"*.ecs.{self.region_name}.on.aws"},
                "listener": {"arn": made["listener"], **state(LOAD_BALANCER_PROVISIONING, lb_since, shared_alive)},
                "rule": {"arn": made["rule"], **state(LOAD_BALANCER_PROVISIONING, lb_since)},
                "targetGroups": [{"arn": arn, **state(),
                                  "healthCheckPath": group.health_check_path if group else None,
                                  "healthCheckPort": int(group.port) if group else None,
                                  "port": int(group.port) if group else None}
                                 for arn, group in ((a, elb.target_groups.get(a)) for a in made["targetGroups"])]}
        resources = {"ingressPaths": [path],
                     "autoScaling": {"scalableTarget": {"arn": made["scalableTarget"], **state(),
                                                        "minCapacity": made["minCapacity"],
                                                        "maxCapacity": made["maxCapacity"]},
                                     "applicationAutoScalingPolicies": [{
                                         "arn": made["scalingPolicy"], **state(), "policyType": "TargetTrackingScaling",
                                         "targetValue": made["scalingTargetValue"],
                                         "metric": made["scalingMetric"]}]},
                     "metricAlarms": [{"arn": f"arn:aws:cloudwatch:{self.region_name}:{self.account_id}:alarm:{alarm}",
                                       **state()} for alarm in made["metricAlarms"]],
                     "serviceSecurityGroups": ([{"arn": self._sg_arn(made["serviceSecurityGroup"]), **state()}]
                                               if made.get("serviceSecurityGroup") else []),
                     "logGroups": ([{"arn": f"arn:aws:logs:{self.region_name}:{self.account_id}:log-group:"
                                            f"{made['logGroup']}", **state(0, at, True),
                                     "logGroupName": made["logGroup"]}] if made.get("logGroup") else [])}
        return resources

    def _sg_arn(self, group_id: str) -> str:
        return f"arn:aws:ec2:{self.region_name}:{self.account_id}:security-group/{group_id}"

    def describe_service_revisions(self, arns: list[str]) -> tuple[list[dict], list[dict]]:
        """ServiceRevisions of the deployments ECS made (express ones with their ecsManagedResources)."""
        found, failures = [], []
        for arn in arns or []:
            revision = self._service_revision(arn)
            if revision is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(revision)
        return found, failures

    def _service_revision(self, arn: str) -> dict | None:
        for service in self.services.values():
            for record in getattr(service, "ws_service_deployments", None) or []:
                target = record.get("targetServiceRevision") or {}
                if target.get("arn") != arn:
                    continue
                deployment = next((d for d in service.deployments if d.get("ws_revision_arn") == arn), None)
                express = self._express().get(service.arn)
                revision = (express or {}).get("revisions", {}).get(arn)
                definition = (deployment or {}).get("taskDefinition") or record.get("ws_task_definition") \
                    or (revision or {}).get("taskDefinitionArn") or service.task_definition
                view = {"serviceRevisionArn": arn, "serviceArn": service.arn, "clusterArn": service.cluster_arn,
                        "taskDefinition": definition, "launchType": service.launch_type,
                        "loadBalancers": list(service.load_balancers or []),
                        "networkConfiguration": service.network_configuration or None,
                        "createdAt": record.get("createdAt")}
                if service.launch_type == "FARGATE":
                    view["platformVersion"], view["platformFamily"] = "1.4.0", "Linux"
                try:
                    spec = self.describe_task_definition(definition).container_definitions
                    view["containerImages"] = [{"containerName": c.get("name"), "image": c.get("image")}
                                               for c in spec]
                except Exception:
                    pass
                if express is not None:
                    view["ecsManagedResources"] = self.express_managed_resources(express)
                return {k: v for k, v in view.items() if v is not None}
        return None


@services.on(persistence.RESTORED)
def _reopen(account_id: str) -> None:
    """A restart serves each express endpoint again, on its old local port when that is free."""
    from moto.ecs.models import ecs_backends

    for backend in persistence.backends(ecs_backends, account_id):
        for record in list(backend.__dict__.get("ws_express", {}).values()):
            if record.get("deleted") is None:
                backend._express_open(record)
