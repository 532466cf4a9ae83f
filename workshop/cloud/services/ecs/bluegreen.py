"""ECS's built-in BLUE_GREEN, CANARY and LINEAR deployments, advanced by scheduler.py each tick:
green tasks in the other target group, the test then production listener rules moved to them,
bakes on the clock, lifecycle hooks as Lambda functions, blue stopped; ``restore`` for rollbacks."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.ecs.deployments import add_event

log = logging.getLogger(__name__)

HOOK_CALLBACK_DELAY = 30        # AWS seconds before an IN_PROGRESS hook is invoked again
HOOK_TIMEOUT = 15 * 60          # AWS seconds a stage's hooks may take in all (ECS's default timeout)
# Stages in which blue still serves all production traffic (its lost tasks are replaced).
BLUE_SERVES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
               "POST_TEST_TRAFFIC_SHIFT")
NEXT = {"RECONCILE_SERVICE": "PRE_SCALE_UP", "PRE_SCALE_UP": "SCALE_UP", "SCALE_UP": "POST_SCALE_UP",
        "POST_SCALE_UP": "TEST_TRAFFIC_SHIFT", "TEST_TRAFFIC_SHIFT": "POST_TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT": "PRODUCTION_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT": "POST_PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT": "BAKE_TIME", "BAKE_TIME": "CLEAN_UP"}

# Hook invocations under way: they run in real time on threads of their own, outside the
# models (a restart forgets them and the stage invokes its hook again).
_calls: dict[str, dict] = {}
_calls_lock = threading.Lock()


def advance(backend, service, primary: dict, record: dict, live: list) -> None:
    from workshop.cloud.services.ecs import scheduler as sched

    bg = record.setdefault("ws_bg", {})
    stage = record["lifecycleStage"]
    mine = [t for t in live if t.started_by == primary["id"]]
    blue = [t for t in live if t.started_by == primary["ws_blue"]]
    superseded = [t for t in live if t not in mine and t not in blue]
    if superseded:
        # Tasks of a deployment this one replaced before it finished, in the same (green) group:
        # production and test traffic go back to blue before they stop.
        restore(backend, service, primary)
    for task in superseded:
        sched._stop_task(backend, task, "ServiceSchedulerInitiated",
                         f"Scaling activity initiated by (deployment {primary['id']})")
    if stage not in ("RECONCILE_SERVICE", "PRE_SCALE_UP") and _top_up(
            backend, service, primary["id"], primary["taskDefinition"], primary.get("ws_groups"), mine):
        return
    last = service.ws_last_completed or {}
    if stage in BLUE_SERVES and last.get("id") == primary["ws_blue"] and _top_up(
            backend, service, last["id"], last["taskDefinition"], primary.get("ws_blue_groups"), blue):
        return
    if stage == "SCALE_UP":
        ready = [t for t in mine if sched.healthy(backend, t, service)]
        if len(ready) >= service.desired_count:
            _next(backend, service, primary, record)
        return
    if stage == "TEST_TRAFFIC_SHIFT" and not bg.get("test_shifted"):
        _shift(backend, service, primary, record, "testListenerRule", 100)
        bg["test_shifted"] = True
        persistence.changed(backend.account_id)
    if stage == "PRODUCTION_TRAFFIC_SHIFT":
        _production(backend, service, primary, record, bg)
        return
    if stage == "BAKE_TIME":
        if _waited(bg, "bake", 60 * (service.deployment_configuration.get("bakeTimeInMinutes") or 0)):
            _next(backend, service, primary, record)
        return
    if stage == "CLEAN_UP":
        for task in blue:
            sched._stop_task(backend, task, "ServiceSchedulerInitiated",
                             f"Scaling activity initiated by (deployment {primary['id']})")
        if blue:
            add_event(service, f"(service {service.name}) has stopped {len(blue)} running tasks: "
                               + " ".join(f"(task {t.id})." for t in blue))
        sched._progress(backend, service, primary, record, mine, [])
        return
    outcome = _hooks(backend, service, primary, record, bg, stage)
    if outcome == "SUCCEEDED":
        _next(backend, service, primary, record)
    elif outcome == "FAILED":
        _failed_hook(backend, service, primary, record, bg)


def _next(backend, service, primary, record) -> None:
    record["lifecycleStage"] = NEXT[record["lifecycleStage"]]
    record["updatedAt"] = time.time()
    record.pop("lifecycleHookDetails", None)
    persistence.changed(backend.account_id)


def _top_up(backend, service, deployment_id: str, definition: str, groups, mine) -> bool:
    """A revision keeps desiredCount tasks (one that fails, or that a restart lost, is replaced)."""
    start = service.desired_count - len(mine)
    if start <= 0 or not definition:
        return False
    started = backend.run_task(service.cluster_name, definition, start, None, deployment_id,
                               None, service.launch_type, service.network_configuration or None,
                               f"service:{service.name}")
    for task in started:
        task.ws_deployment = deployment_id
        task.ws_groups = list(groups or [])
    add_event(service, f"(service {service.name}) has started {len(started)} tasks: "
                       + " ".join(f"(task {t.id})." for t in started))
    return True


# -- production traffic: all at once, canary or linear steps --------------------------------

def steps(config: dict) -> list[tuple[float, float]]:
    """(green's production percent, AWS seconds to bake after it) for the deployment's strategy."""
    strategy = config.get("strategy")
    if strategy == "CANARY":
        canary = config.get("canaryConfiguration") or {}
        return [(float(canary["canaryPercent"]), 60.0 * (canary.get("canaryBakeTimeInMinutes") or 0)), (100.0, 0.0)]
    if strategy == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        step, bake = float(linear["stepPercent"]), 60.0 * (linear.get("stepBakeTimeInMinutes") or 0)
        found, percent = [], step
        while percent < 100:
            found.append((percent, bake))
            percent += step
        return found + [(100.0, 0.0)]
    return [(100.0, 0.0)]


def _production(backend, service, primary, record, bg) -> None:
    if not bg.get("pre_done"):      # PRE_PRODUCTION_TRAFFIC_SHIFT's hooks run before the first shift
        outcome = _hooks(backend, service, primary, record, bg, "PRE_PRODUCTION_TRAFFIC_SHIFT")
        if outcome == "FAILED":
            _failed_hook(backend, service, primary, record, bg)
        if outcome != "SUCCEEDED":
            return
        bg["pre_done"] = True
    plan = steps(service.deployment_configuration)
    index = bg.setdefault("step", 0)
    percent, bake = plan[index]
    phase = bg.setdefault("phase", "shift")
    if phase == "shift":
        _shift(backend, service, primary, record, "productionListenerRule", percent)
        if percent < 100:
            add_event(service, f"(service {service.name}) deployment {primary['id']} shifted {percent:g}% of "
                               "production traffic to the new service revision.")
        bg["phase"] = phase = "hook"
        persistence.changed(backend.account_id)
    if phase == "hook":
        outcome = _hooks(backend, service, primary, record, bg, "PRODUCTION_TRAFFIC_SHIFT")
        if outcome == "FAILED":
            _failed_hook(backend, service, primary, record, bg)
        if outcome != "SUCCEEDED":
            return
        bg["phase"] = phase = "bake"
        persistence.changed(backend.account_id)
    if phase == "bake" and _waited(bg, f"step{index}", bake):
        if index + 1 < len(plan):
            bg["step"], bg["phase"] = index + 1, "shift"
            bg.pop("hook", None)
        else:
            _next(backend, service, primary, record)
        persistence.changed(backend.account_id)


def _waited(bg: dict, name: str, aws_seconds: float) -> bool:
    """A wait on the workshop clock that follows a change of time scale (what is left is kept in
    AWS seconds); it goes on across a restart of the cloud."""
    wait = bg.get("wait")
    now = time.time()
    if wait is None or wait.get("name") != name:
        wait = bg["wait"] = {"name": name, "left": float(aws_seconds), "at": now}
    wait["left"] -= get_clock().aws_seconds(max(0.0, now - wait["at"]))
    wait["at"] = now
    return wait["left"] <= 0


# -- listener rules ------------------------------------------------------------------------------

def _weights(percent: float) -> tuple[int, int]:
    """(blue, green) weights for green's percent (ELB weights are whole numbers up to 999)."""
    if float(percent).is_integer():
        return 100 - int(percent), int(percent)
    return round((100 - percent) * 10), round(percent * 10)


def _shift(backend, service, primary, record, which: str, percent: float) -> None:
    """Point the production or test listener rule of each load balancer at green's share."""
    moved = False
    for lb, blue, green in zip(service.load_balancers or [], primary.get("ws_blue_groups") or [],
                               primary.get("ws_groups") or []):
        rule = (lb.get("advancedConfiguration") or {}).get(which)
        if rule and blue and green:
            set_rule(backend, rule, blue, green, percent)
            moved = True
    if moved:
        key = "requestedProductionTrafficWeight" if which == "productionListenerRule" else "requestedTestTrafficWeight"
        record["targetServiceRevision"][key] = float(percent)
        for source in record.get("sourceServiceRevisions") or []:
            source[key] = 100.0 - float(percent)
        record["updatedAt"] = time.time()


def set_rule(backend, rule_arn: str, blue: str, green: str, percent: float) -> None:
    from moto.elbv2.models import elbv2_backends

    from workshop.cloud.services.cloudtrail import recorder

    elb = elbv2_backends[backend.account_id][backend.region_name]
    blue_weight, green_weight = _weights(percent)
    forward = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": blue, "Weight": blue_weight}, {"TargetGroupArn": green, "Weight": green_weight}]}}
    try:
        rule = elb.describe_rules(None, [rule_arn])[0]
        actions = [dict(getattr(a, "data", a)) for a in rule.actions]
        kept = [a for a in actions if a.get("Type") != "forward"]
        order = next((a.get("Order") for a in actions if a.get("Type") == "forward"), None)
        if order is not None:
            forward["Order"] = order
        with elb.lock:
            elb.modify_rule(rule_arn, [], kept + [forward])
        recorder.on_behalf(backend.account_id, backend.region_name, "ecs.amazonaws.com", "elbv2", "ModifyRule",
                           {"RuleArn": rule_arn, "Actions": kept + [forward]})
        persistence.changed(backend.account_id)
    except Exception as exc:     # a rule deleted under the deployment: ECS reports it and goes on
        log.info("ecs: moving %s to %s%% green: %s", rule_arn, percent, exc)


def restore(backend, service, deployment: dict) -> None:
    """A rollback: production and test traffic back to blue, before any green task stops."""
    for lb, blue, green in zip(service.load_balancers or [], deployment.get("ws_blue_groups") or [],
                               deployment.get("ws_groups") or []):
        advanced = lb.get("advancedConfiguration") or {}
        for which in ("productionListenerRule", "testListenerRule"):
            if advanced.get(which) and blue and green:
                set_rule(backend, advanced[which], blue, green, 0)


# -- lifecycle hooks -------------------------------------------------------------------------------

def _hooks(backend, service, primary, record, bg, stage: str) -> str:
    """Run the stage's hooks one after the other: SUCCEEDED when all did, FAILED when one failed,
    else WAITING (a hook runs, or said IN_PROGRESS and is invoked again after its callBackDelay)."""
    hooks = [h for h in service.deployment_configuration.get("lifecycleHooks") or []
             if stage in (h.get("lifecycleStages") or []) and h.get("targetType", "AWS_LAMBDA") == "AWS_LAMBDA"]
    state = bg.get("hook")
    if state is None or state.get("stage") != stage:
        state = bg["hook"] = {"stage": stage, "index": 0, "next": 0.0, "started": time.time()}
    now = time.time()
    while state["index"] < len(hooks):
        hook = hooks[state["index"]]
        key = state.get("call")
        if key is None:
            if now < state["next"]:
                return "WAITING"
            if now - state["started"] > get_clock().real_seconds(HOOK_TIMEOUT):
                state["error"] = f"the lifecycle hook {hook['hookTargetArn']} did not finish within 15 minutes"
                return "FAILED"
            key = state["call"] = f"{record['serviceDeploymentArn']}|{stage}|{uuid.uuid4()}"
            payload = _payload(service, primary, record, stage, hook, state)
            _invoke(backend, key, hook["hookTargetArn"], payload)
            record["lifecycleHookDetails"] = [{"hookId": key.rsplit("|", 1)[-1], "targetType": "AWS_LAMBDA",
                                               "targetArn": hook["hookTargetArn"], "status": "IN_PROGRESS",
                                               "expiresAt": state["started"] + get_clock().real_seconds(HOOK_TIMEOUT),
                                               "timeoutAction": "ROLLBACK"}]
            persistence.changed(backend.account_id)
            return "WAITING"
        with _calls_lock:
            call = _calls.get(key)
        if call is None:          # the cloud restarted while the hook ran: invoke it again
            state.pop("call", None)
            continue
        if not call["done"].is_set():
            return "WAITING"
        with _calls_lock:
            _calls.pop(key, None)
        state.pop("call", None)
        status, answer = _answer(call)
        for detail in record.get("lifecycleHookDetails") or []:
            detail["status"] = status if status in ("SUCCEEDED", "FAILED", "IN_PROGRESS") else "FAILED"
        if status == "SUCCEEDED":
            state["index"] += 1
            state.pop("details", None)
            continue
        if status == "IN_PROGRESS":
            delay = answer.get("callBackDelay", HOOK_CALLBACK_DELAY)
            delay = delay if isinstance(delay, (int, float)) and delay >= 0 else HOOK_CALLBACK_DELAY
            state["next"] = now + get_clock().real_seconds(delay)
            if isinstance(answer.get("hookDetails"), dict):
                state["details"] = answer["hookDetails"]
            persistence.changed(backend.account_id)
            return "WAITING"
        state["error"] = (f"the lifecycle hook {hook['hookTargetArn']} at {stage} "
                          + ("returned hookStatus FAILED" if status == "FAILED" else status))
        return "FAILED"
    return "SUCCEEDED"


def _payload(service, primary, record, stage: str, hook: dict, state: dict) -> bytes:
    target = record["targetServiceRevision"]
    sources = record.get("sourceServiceRevisions") or []

    def weights(key: str) -> dict:
        found = {s["arn"]: s.get(key, 100.0) for s in sources}
        found[target["arn"]] = target.get(key, 0.0)
        return found

    event = {"executionId": str(uuid.uuid4()), "lifecycleStage": stage,
             "resourceArn": record["serviceDeploymentArn"],
             "executionDetails": {"serviceArn": service.arn, "targetServiceRevisionArn": target["arn"],
                                  "testTrafficWeights": weights("requestedTestTrafficWeight"),
                                  "productionTrafficWeights": weights("requestedProductionTrafficWeight")}}
    details = state.get("details", hook.get("hookDetails"))
    if details is not None:
        event["hookDetails"] = details
    return json.dumps(event).encode()


def _invoke(backend, key: str, function: str, payload: bytes) -> None:
    services.ensure_loaded("awslambda")
    from moto.awslambda.utils import get_backend

    parts = function.split(":")
    region = parts[3] if function.startswith("arn:") and len(parts) > 3 and parts[3] else backend.region_name
    lam = get_backend(backend.account_id, region)
    call = {"done": threading.Event(), "at": time.time()}

    def run() -> None:
        try:
            call["result"] = lam.invoke_function(function, None, payload)
        except Exception as exc:
            call["error"] = exc
        finally:
            call["done"].set()

    with _calls_lock:
        # Answers nobody read (their deployment failed or was replaced meanwhile) go after an hour.
        for old in [k for k, c in _calls.items() if c["done"].is_set() and time.time() - c["at"] > 3600]:
            del _calls[old]
        _calls[key] = call
    threading.Thread(target=run, name="ecs-lifecycle-hook", daemon=True).start()


def _answer(call: dict) -> tuple[str, dict]:
    """The hook's hookStatus (or why there is none: AWS rolls back then too) and its answer."""
    if "error" in call:
        return f"could not be invoked: {call['error']}", {}
    result = call["result"]
    body = result.payload.decode("utf-8", "replace") if result.payload else ""
    if result.function_error:
        return f"failed: {body[:300]}", {}
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("hookStatus") not in ("SUCCEEDED", "FAILED", "IN_PROGRESS"):
        return f"returned no valid hookStatus: {body[:300]}", {}
    return answer["hookStatus"], answer


def _failed_hook(backend, service, primary, record, bg) -> None:
    from workshop.cloud.services.ecs import scheduler as sched

    why = (bg.get("hook") or {}).get("error") or "a lifecycle hook failed"
    sched._fail(backend, service, primary, record, why, f"ECS deployment {primary['id']} failed: {why}.",
                True, "hook")
