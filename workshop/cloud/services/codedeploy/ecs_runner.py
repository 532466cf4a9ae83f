"""The deployment runner's part for CodeDeploy's ECS compute platform: a replacement task set
behind the other target group of the pair, the test listener moved to it, production shifted
by the listener's weights as the configuration says (bakes on the clock, alarms watched), the
original task set terminated after its wait; a rollback puts both listeners back on the
original task set and deletes the replacement. ContinueDeployment's waits end here."""

from __future__ import annotations

import threading
import time

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudtrail import recorder
from workshop.cloud.services.codedeploy.ecs_appspec import ECS_EVENTS, EcsAppSpec

FAILED_TASKS = 3             # replacement tasks that fail before CodeDeploy gives up (ECS_UPDATE_ERROR)
INSTALL_TIMEOUT = 3600       # AWS seconds the replacement task set has to become stable
MIN_INSTALL_REAL = 600       # ...and at least this many real seconds (tasks start in real time)
POLL = 0.1
INVOKED_BY = "codedeploy.amazonaws.com"


# -- the runner's part ---------------------------------------------------------------------------------

class Plan:
    """The deployment's ECS service, task sets, target groups and listeners (resolved at its start)."""

    def __init__(self, d, ecs, elb):
        from workshop.cloud.services.codedeploy.deployment_runner import Halt

        self.d, self.ecs, self.elb = d, ecs, elb
        settings = d.group.settings
        services_ = settings.get("ecsServices") or []
        pairs = (d.load_balancer_info or {}).get("targetGroupPairInfoList") or []
        if not services_:
            raise Halt("Failed", "INVALID_ECS_SERVICE", "The deployment group names no ECS service.", None)
        if not pairs:
            raise Halt("Failed", "INVALID_TARGET_GROUP_PAIR", "The deployment group has no target group pair.",
                       None)
        self.cluster, self.service_name = services_[0]["clusterName"], services_[0]["serviceName"]
        try:
            self.service = ecs._get_service(self.cluster, self.service_name)
        except Exception:
            raise Halt("Failed", "INVALID_ECS_SERVICE", f"The ECS service {self.service_name} in cluster "
                       f"{self.cluster} does not exist.", None) from None
        controller = (self.service.deployment_controller or {}).get("type", "ECS")
        if self.service.status != "ACTIVE" or controller != "CODE_DEPLOY":
            raise Halt("Failed", "INVALID_ECS_SERVICE", f"The ECS service {self.service_name} must be ACTIVE and "
                       "use the CODE_DEPLOY deployment controller.", None)
        pair = pairs[0]
        by_name = {g.name: arn for arn, g in elb.target_groups.items()}
        names = [g["name"] for g in pair["targetGroups"]]
        missing = [n for n in names if n not in by_name]
        if missing:
            raise Halt("Failed", "INVALID_TARGET_GROUP_PAIR", f"Target group(s) {', '.join(missing)} do not exist.",
                       None)
        self.groups = [by_name[n] for n in names]
        self.names = dict(zip(self.groups, names))
        self.prod = list(pair["prodTrafficRoute"]["listenerArns"])
        self.test = list((pair.get("testTrafficRoute") or {}).get("listenerArns") or [])
        for arn in self.prod + self.test:
            if not _listener(elb, arn):
                raise Halt("Failed", "INVALID_TARGET_GROUP_PAIR", f"The listener {arn} does not exist.", None)


def _listener(elb, arn):
    for balancer in elb.load_balancers.values():
        if arn in balancer.listeners:
            return balancer.listeners[arn]
    return None


def _route(job, plan: Plan, listener_arn: str, weights: dict[str, int]) -> None:
    """Forward the listener's default action to the pair's groups with these weights."""
    d = job.deployment
    action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()],
        "TargetGroupStickinessConfig": {"Enabled": False}}}
    plan.elb.modify_listener(listener_arn, actions=[action])
    recorder.on_behalf(d.account_id, d.region, INVOKED_BY, "elbv2", "ModifyListener",
                       {"ListenerArn": listener_arn, "DefaultActions": [action]})
    persistence.changed(d.account_id)


def _task_set(plan: Plan, arn: str | None):
    from workshop.cloud.services.ecs.task_sets import find

    return find(plan.service, arn) if arn else None


def _info(job, plan: Plan, weights: dict[str, int] | None = None) -> None:
    """The target's taskSetsInfo (ECSTaskSet) as the deployment sees its task sets now."""
    d = job.deployment
    state = d.ecs
    if weights is not None:
        state["weights"] = dict(weights)
    infos = []
    for label, key, group_key in (("Blue", "original", "original_tg"), ("Green", "replacement", "replacement_tg")):
        task_set = _task_set(plan, state.get(key))
        if task_set is None:
            continue
        weight = (state.get("weights") or {}).get(state[group_key], 100 if label == "Blue" else 0)
        infos.append({"identifer": task_set.id, "desiredCount": getattr(task_set, "computed_desired_count", 0),
                      "pendingCount": task_set.pending_count, "runningCount": task_set.running_count,
                      "status": task_set.status, "trafficWeight": float(weight),
                      "targetGroup": {"name": plan.names.get(state[group_key], "")}, "taskSetLabel": label})
    target = next(iter(d.targets.values()))
    with d.lock:
        target.task_sets_info = infos
    persistence.changed(d.account_id)


def _backends(d):
    services.ensure_loaded("ecs")
    services.ensure_loaded("elbv2")
    services.ensure_loaded("awslambda")
    from moto.awslambda.utils import get_backend
    from moto.ecs.models import ecs_backends
    from moto.elbv2.models import elbv2_backends

    return (ecs_backends[d.account_id][d.region], elbv2_backends[d.account_id][d.region],
            get_backend(d.account_id, d.region))


def run(runner, job) -> None:
    """One ECS deployment (or its rollback), from BeforeInstall to the original task set's end."""
    d = job.deployment
    ecs, elb, lam = _backends(d)
    plan = Plan(d, ecs, elb)
    target = next(iter(d.targets.values()))
    if d.is_rollback:
        return _roll_back(runner, job, plan, target)
    spec = d.ecs_spec
    from workshop.cloud.services.codedeploy.deployment_runner import Halt

    primary = next((t for t in plan.service.task_sets if t.status == "PRIMARY"), None)
    if primary is None or not primary.load_balancers:
        raise Halt("Failed", "INVALID_ECS_SERVICE", f"The ECS service {plan.service_name} has no primary task set "
                   "behind a target group of the pair.", None)
    original_tg = primary.load_balancers[0].get("targetGroupArn")
    if original_tg not in plan.groups:
        raise Halt("Failed", "INVALID_TARGET_GROUP_PAIR", f"The service's task set serves target group "
                   f"{original_tg}, which is not one of the pair's.", None)
    replacement_tg = next(g for g in plan.groups if g != original_tg)
    d.ecs = {"cluster": plan.cluster, "service": plan.service_name, "original": primary.task_set_arn,
             "original_tg": original_tg, "replacement_tg": replacement_tg, "replacement": None,
             "weights": {original_tg: 100, replacement_tg: 0}, "termination_wait_started": False}
    target.set_status("InProgress")
    _info(job, plan)
    for event in ECS_EVENTS:
        runner._check(job)
        if event == "BeforeAllowTraffic":
            _ready_wait(runner, job, target)
        target.begin(event)
        if event in spec.hooks:
            runner._lambda_hook(job, lam, target, event, spec.hooks[event])
        elif event == "Install":
            _install(runner, job, plan, spec)
        elif event == "AllowTestTraffic":
            for arn in plan.test:
                _route(job, plan, arn, {original_tg: 0, replacement_tg: 100})
        elif event == "AllowTraffic":
            _shift(runner, job, plan)
        _info(job, plan)
        target.end(event, "Succeeded")
    _terminate_original(runner, job, plan)
    _info(job, plan)
    target.set_status("Succeeded")


def _install(runner, job, plan: Plan, spec: EcsAppSpec) -> None:
    """The replacement task set (100% of desiredCount) behind the other target group, which joins
    the production listener at weight 0 so that its targets are health checked; done when every
    task is RUNNING, healthy and healthy in the target group."""
    from workshop.cloud.services.codedeploy.deployment_runner import Halt
    from workshop.cloud.services.ecs.models import LOCK

    d, state = job.deployment, job.deployment.ecs
    original = _task_set(plan, state["original"])
    try:
        task_set = plan.ecs.create_task_set(
            plan.service.arn, plan.cluster, spec.task_definition, external_id=d.id,
            network_configuration=spec.network_configuration or original.network_configuration,
            load_balancers=[{"targetGroupArn": state["replacement_tg"], "containerName": spec.container_name,
                             "containerPort": spec.container_port}],
            launch_type=spec.launch_type or original.launch_type, platform_version=spec.platform_version,
            scale={"value": 100.0, "unit": "PERCENT"}, started_by="CodeDeploy")
    except Exception as exc:
        raise Halt("Failed", "ECS_UPDATE_ERROR", f"The replacement task set could not be created: "
                   f"{getattr(exc, 'message', None) or exc}", "failure") from None
    state["replacement"] = task_set.task_set_arn
    recorder.on_behalf(d.account_id, d.region, INVOKED_BY, "ecs", "CreateTaskSet",
                       {"service": plan.service_name, "cluster": plan.cluster,
                        "taskDefinition": spec.task_definition, "externalId": d.id},
                       {"taskSet": {"taskSetArn": task_set.task_set_arn}})
    for arn in plan.prod:
        _route(job, plan, arn, {state["original_tg"]: 100, state["replacement_tg"]: 0})
    deadline = time.monotonic() + max(MIN_INSTALL_REAL, get_clock().real_seconds(INSTALL_TIMEOUT))
    while True:
        runner._check(job)
        with LOCK:
            stable = task_set.stabilityStatus == "STEADY_STATE" and task_set.running_count >= 1 and \
                task_set.running_count == getattr(task_set, "computed_desired_count", -1)
            failed = sum(1 for t in plan.ecs.tasks.get(plan.service.cluster_name, {}).values()
                         if t.started_by == task_set.id and getattr(t, "ws_failed", False))
        if stable:
            return
        if failed >= FAILED_TASKS:
            raise Halt("Failed", "ECS_UPDATE_ERROR", f"The ECS replacement task set {task_set.id} failed: "
                       f"{failed} of its tasks stopped before they became healthy.", "failure")
        if time.monotonic() > deadline:
            raise Halt("Failed", "TIMEOUT", f"The replacement task set {task_set.id} did not become stable in "
                       "time.", "failure")
        job.stop_event.wait(POLL)


def _shift(runner, job, plan: Plan) -> None:
    """Production moves to the replacement as the configuration says (canary, linear, all at once);
    after the last step the replacement task set is the service's primary."""
    d, state = job.deployment, job.deployment.ecs
    baked = False
    for weight, wait in d.config.traffic_steps():
        runner._check(job)
        if weight >= 1.0 and baked:
            runner._settle(job)   # every request of the bake judged before all traffic moves
        green = round(weight * 100)
        weights = {state["original_tg"]: 100 - green, state["replacement_tg"]: green}
        for arn in plan.prod:
            _route(job, plan, arn, weights)
        _info(job, plan, weights)
        if wait:
            runner._wait(job, wait)
            baked = weight < 1.0
    plan.ecs.update_service_primary_task_set(plan.cluster, plan.service_name, state["replacement"])
    recorder.on_behalf(d.account_id, d.region, INVOKED_BY, "ecs", "UpdateServicePrimaryTaskSet",
                       {"service": plan.service_name, "cluster": plan.cluster, "primaryTaskSet": state["replacement"]})


def _ready_wait(runner, job, target) -> None:
    """deploymentReadyOption STOP_DEPLOYMENT: the deployment is Ready until ContinueDeployment
    (READY_WAIT) or the wait ends (then it stops); CONTINUE_DEPLOYMENT goes on at once."""
    from workshop.cloud.services.codedeploy.deployment_runner import Halt

    d = job.deployment
    ready = (d.blue_green or {}).get("deploymentReadyOption") or {}
    if ready.get("actionOnTimeout") != "STOP_DEPLOYMENT":
        return
    signal = _signal(d, "READY_WAIT")
    with d.lock:
        d.status = "Ready"
    target.set_status("Ready")
    if not _wait_or_signal(runner, job, signal, float(ready.get("waitTimeInMinutes") or 0) * 60):
        raise Halt("Stopped", "TIMEOUT", "The deployment timed out while waiting for someone to reroute "
                   "traffic (ContinueDeployment).", "failure")
    with d.lock:
        d.status = "InProgress"
    target.set_status("InProgress")


def _terminate_original(runner, job, plan: Plan) -> None:
    """terminateBlueInstancesOnDeploymentSuccess: TERMINATE deletes the original task set after the
    wait (on the clock; ContinueDeployment TERMINATION_WAIT ends it early); KEEP_ALIVE keeps it."""
    d, state = job.deployment, job.deployment.ecs
    terminate = (d.blue_green or {}).get("terminateBlueInstancesOnDeploymentSuccess") or {}
    if terminate.get("action", "TERMINATE") != "TERMINATE":
        return
    with d.lock:
        state["termination_wait_started"] = True
    persistence.changed(d.account_id)
    signal = _signal(d, "TERMINATION_WAIT")
    _wait_or_signal(runner, job, signal, float(terminate.get("terminationWaitTimeInMinutes") or 0) * 60)
    _delete(job, plan, state["original"])


def _wait_or_signal(runner, job, signal: threading.Event, aws_seconds: float) -> bool:
    """Wait ``aws_seconds`` on the workshop clock, watching alarms and stops; True when ``signal``
    (ContinueDeployment) ended the wait first."""
    clock = get_clock()
    remaining = aws_seconds
    while remaining > 0 and not signal.is_set():
        runner._check(job)
        chunk = min(remaining, clock.aws_seconds(POLL))
        clock.wait(chunk, signal)
        remaining -= chunk
    runner._check(job)
    return signal.is_set()


def _delete(job, plan: Plan, arn: str | None) -> None:
    d = job.deployment
    if not arn or _task_set(plan, arn) is None:
        return
    plan.ecs.delete_task_set(plan.cluster, plan.service_name, arn, True)
    recorder.on_behalf(d.account_id, d.region, INVOKED_BY, "ecs", "DeleteTaskSet",
                       {"service": plan.service_name, "cluster": plan.cluster, "taskSet": arn, "force": True})


def _roll_back(runner, job, plan: Plan, target) -> None:
    """Both listeners back on the original task set, which is primary again; the replacement deleted."""
    d = job.deployment
    state = d.ecs
    target.set_status("InProgress")
    weights = {state["original_tg"]: 100, state["replacement_tg"]: 0}
    for event in ECS_EVENTS:
        if event in ("AllowTestTraffic", "AllowTraffic"):
            target.begin(event)
            for arn in plan.test if event == "AllowTestTraffic" else plan.prod:
                _route(job, plan, arn, weights)
            if event == "AllowTraffic" and _task_set(plan, state["original"]) is not None:
                plan.ecs.update_service_primary_task_set(plan.cluster, plan.service_name, state["original"])
            _info(job, plan, weights)
            target.end(event, "Succeeded")
        else:
            target.skip(event)
    _delete(job, plan, state["replacement"])
    _info(job, plan, weights)
    target.set_status("Succeeded")


# ContinueDeployment's signals, by deployment id and wait type (the runner's, never pickled).
_signals: dict[tuple[str, str], threading.Event] = {}


def _signal(d, kind: str) -> threading.Event:
    return _signals.setdefault((d.id, kind), threading.Event())


@services.on("codedeploy.ecs-continue")
def continue_deployment(deployment, wait_type: str | None) -> bool:
    """ContinueDeployment for an ECS deployment: True when a wait of that type was ended."""
    d = deployment
    kind = wait_type or "READY_WAIT"
    if kind == "READY_WAIT" and d.status != "Ready":
        return False
    if kind == "TERMINATION_WAIT" and not (getattr(d, "ecs", None) or {}).get("termination_wait_started"):
        return False
    _signal(d, kind).set()
    return True
