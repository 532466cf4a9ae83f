"""Lab 06-observability's helpers: the shop's code kept in CodeCommit (``publish_code``),
the shop run with its request log shipped to CloudWatch Logs as it is written
(``run_shop``), the deploy that raises the alarm suppressor through a metric it
publishes (``deploy``), what the traces say per order (``calls_per_order``), and
the lab's reset. Like every lab helper it reaches AWS only through ``checker.session``."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checker.labs.lab06_observability import (
    COMPOSITE_ALARM,
    DASHBOARD,
    DEPLOY_ALARM,
    DEPLOY_METRIC,
    DEPLOY_NAMESPACE,
    FAULTS_ALARM,
    FILTER_NAME,
    GROUP_NAME,
    LAB_ID,
    LATENCY_ALARM,
    LOG_GROUP,
    REPO_NAME,
    SHOP_NAMESPACE,
    TOPIC_NAME,
)
from labkit.reset import Cleanup, resetter
from labkit.shop import Shop, copy_shop, send_orders, start_shop

__all__ = ["LAB_ID", "REPO_NAME", "LOG_GROUP", "SHOP_NAMESPACE", "DEPLOY_NAMESPACE", "DEPLOY_METRIC",
           "FILTER_NAME", "FAULTS_ALARM", "LATENCY_ALARM", "DEPLOY_ALARM", "COMPOSITE_ALARM", "TOPIC_NAME",
           "DASHBOARD", "GROUP_NAME", "copy_shop", "send_orders", "publish_code", "run_shop", "deploy",
           "calls_per_order", "wait_for_state", "orders_until", "notified", "reset"]

BRANCH = "main"
SHIP_EVERY = 0.5      # seconds between two shipments of the request log


def _client(service: str):
    from checker.session import client

    return client(service)


# -- the shop's code in CodeCommit ---------------------------------------------------

def _shop_files(app_dir: Path) -> dict[str, bytes]:
    return {f"shop/{p.name}": p.read_bytes() for p in sorted((Path(app_dir) / "shop").glob("*.py"))}


def publish_code(app_dir: str | Path, message: str) -> str | None:
    """Commit the shop's code (``APP_DIR/shop/*.py``) to the lab's CodeCommit repository
    (made on first use) where it differs from the branch; the new commit's id, or None
    when there was nothing to commit."""
    from botocore.exceptions import ClientError

    cc = _client("codecommit")
    try:
        cc.get_repository(repositoryName=REPO_NAME)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "RepositoryDoesNotExistException":
            raise
        cc.create_repository(repositoryName=REPO_NAME, repositoryDescription="Lab 06: the shop's services",
                             tags={"workshop:lab": LAB_ID})
    try:
        parent = cc.get_branch(repositoryName=REPO_NAME, branchName=BRANCH)["branch"]["commitId"]
    except ClientError:
        parent = None
    changed = []
    for path, content in _shop_files(Path(app_dir)).items():
        if parent is not None:
            try:
                if cc.get_file(repositoryName=REPO_NAME, commitSpecifier=parent, filePath=path)["fileContent"] \
                        == content:
                    continue
            except ClientError:
                pass
        changed.append({"filePath": path, "fileContent": content})
    if not changed:
        return None
    commit = cc.create_commit(repositoryName=REPO_NAME, branchName=BRANCH, commitMessage=message,
                              authorName="learner", email="learner@example.com", putFiles=changed,
                              **({"parentCommitId": parent} if parent else {}))
    return commit["commitId"]


# -- the shop, its request log shipped to CloudWatch Logs ----------------------------------

class LogShipper:
    """Every SHIP_EVERY seconds, the new lines of each service's request log (one EMF
    JSON line per request) go to CloudWatch Logs, a stream per service, with the
    ``json/emf`` header: CloudWatch makes their ``Latency`` a metric, and the group's
    metric filters read them."""

    def __init__(self, shop: Shop, group: str = LOG_GROUP):
        self.shop, self.group = shop, group
        self.logs = _client("logs")

        def emf(request, **_):
            request.headers["x-amzn-logs-format"] = "json/emf"

        self.logs.meta.events.register("before-sign.cloudwatch-logs.PutLogEvents", emf)
        self._offsets = dict.fromkeys(shop.logs, 0)
        self._stop = threading.Event()
        self.shipped = 0
        self._ensure_group()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _ensure_group(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.logs.create_log_group(logGroupName=self.group, tags={"workshop:lab": LAB_ID})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise
        for name in self.shop.logs:
            try:
                self.logs.create_log_stream(logGroupName=self.group, logStreamName=name)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise

    def _run(self) -> None:
        while not self._stop.wait(SHIP_EVERY):
            self.ship()

    def ship(self) -> int:
        sent = 0
        for name, path in self.shop.logs.items():
            try:
                with open(path, "rb") as handle:
                    handle.seek(self._offsets[name])
                    data = handle.read()
            except OSError:
                continue
            complete = data[:data.rfind(b"\n") + 1]
            self._offsets[name] += len(complete)
            events = []
            for line in complete.decode(errors="replace").splitlines():
                try:
                    stamp = int(json.loads(line)["_aws"]["Timestamp"])
                except (ValueError, KeyError, TypeError):
                    continue       # not a request line (a traceback, a warning)
                events.append({"timestamp": stamp, "message": line})
            for start in range(0, len(events), 1000):
                self.logs.put_log_events(logGroupName=self.group, logStreamName=name,
                                         logEvents=events[start:start + 1000])
            sent += len(events)
        self.shipped += sent
        return sent

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.ship()


@dataclass
class LabShop(Shop):
    """A running shop whose request log goes to CloudWatch Logs."""

    shipper: Any = None

    def stop(self) -> None:
        super().stop()
        if self.shipper is not None:
            self.shipper.stop()
            self.shipper = None


def run_shop(app_dir: str | Path, **options) -> LabShop:
    """Start the shop from ``app_dir`` (a copy: ``copy_shop``) traced with OpenTelemetry to
    the cloud's X-Ray (``labkit.shop.start_shop``), its request log shipped to ``LOG_GROUP``."""
    from labkit import shop as shops

    env = {"SHOP_REQUEST_LOG": "emf", **options.pop("env", {})}
    started = start_shop(app_dir, env=env, **options)
    lab_shop = LabShop(started.app_dir, started.urls, started.processes, started.logs)
    shops._running[shops._running.index(started)] = lab_shop
    lab_shop.shipper = LogShipper(lab_shop)
    return lab_shop


# -- a deploy that says so ---------------------------------------------------------------

def _deploying(cw, value: float) -> None:
    cw.put_metric_data(Namespace=DEPLOY_NAMESPACE, MetricData=[{
        "MetricName": DEPLOY_METRIC, "Dimensions": [{"Name": "Service", "Value": "shop"}], "Value": value}])


def deploy(shop: LabShop, app_dir: str | Path, message: str = "Deploy the shop", timeout: float = 60.0,
           **options) -> LabShop:
    """Deploy the code in ``app_dir``: publish ``Deploying=1`` (namespace DEPLOY_NAMESPACE,
    Service=shop) for the whole deploy, wait until an alarm on that metric is in ALARM
    (the composite's actions suppressor: alarms about the shop are expected now), commit
    the code to CodeCommit, restart the services from it, then publish ``Deploying=0``."""
    cw = _client("cloudwatch")
    stop = threading.Event()

    def publish():
        while not stop.is_set():
            _deploying(cw, 1)
            stop.wait(0.25)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        watching = [a["AlarmName"] for a in cw.describe_alarms_for_metric(
            Namespace=DEPLOY_NAMESPACE, MetricName=DEPLOY_METRIC,
            Dimensions=[{"Name": "Service", "Value": "shop"}]).get("MetricAlarms", [])]
        if watching:
            wait_for_state(watching[0], "ALARM", timeout=timeout, cw=cw)
            print(f"deploying: {watching[0]} is in ALARM (the composite's actions are suppressed)")
            time.sleep(1.5)      # CloudTrail's times are whole seconds: the commit lands inside ALARM
        else:
            print(f"no alarm watches {DEPLOY_NAMESPACE} {DEPLOY_METRIC}: nothing is suppressed while deploying")
        commit = publish_code(app_dir, message)
        print(f"committed {commit[:8]} to {REPO_NAME}" if commit else f"{REPO_NAME} already holds this code")
        shop.stop()
        new_shop = run_shop(app_dir, **options)
    finally:
        stop.set()
        publisher.join(timeout=5)
        time.sleep(1.0)  # the metric's last period of 1 closes before the 0
        _deploying(cw, 0)
    print(f"deployed: the shop runs from {app_dir} at {new_shop.url}")
    return new_shop


def wait_for_state(alarm: str, state: str = "ALARM", timeout: float = 60.0, cw=None,
                   since: float | None = None) -> bool:
    """Wait until ``alarm`` is (or, with ``since``, has been since that time) in ``state``."""
    cw = cw or _client("cloudwatch")
    deadline = time.monotonic() + timeout
    while True:
        found = cw.describe_alarms(AlarmNames=[alarm], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        alarms = found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
        if alarms and alarms[0]["StateValue"] == state:
            return True
        if since is not None:
            from datetime import datetime, timezone

            history = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate",
                                                StartDate=datetime.fromtimestamp(since, timezone.utc),
                                                MaxRecords=100).get("AlarmHistoryItems", [])
            if any(json.loads(h.get("HistoryData") or "{}").get("newState", {}).get("stateValue") == state
                   for h in history):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


# -- what the traces say ---------------------------------------------------------------

def calls_per_order(start, end, xray=None) -> list[int]:
    """For each order traced between ``start`` and ``end``: how many requests inventory
    served in its trace (from X-Ray's segments, as the services sent them)."""
    from checker.labs.lab06_observability import order_traces

    xray = xray or _client("xray")
    return [t.inventory_calls for t in order_traces(lambda op, **kw: getattr(xray, op)(**kw), start, end)]


# -- reset --------------------------------------------------------------------------------

@resetter(LAB_ID)
def reset(cleanup: Cleanup) -> None:
    """The composite first (it names the others), the metric alarms, the topic, the
    dashboard, the log group with its metric filter, the X-Ray group, the repository.
    Traces stay (X-Ray keeps them 30 days): the checks read only those after the repository."""
    cw = cleanup.client("cloudwatch")
    found = cw.describe_alarms(AlarmNames=[COMPOSITE_ALARM, FAULTS_ALARM, LATENCY_ALARM, DEPLOY_ALARM],
                               AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    for kind in ("CompositeAlarms", "MetricAlarms"):
        names = [a["AlarmName"] for a in found.get(kind, [])]
        if names:
            cleanup.attempt(f"deleted alarm(s) {', '.join(names)}", lambda n=names: cw.delete_alarms(AlarmNames=n))
    sns = cleanup.client("sns")
    topic = f"arn:aws:sns:{cleanup.region}:{cleanup.account}:{TOPIC_NAME}"
    if any(t["TopicArn"] == topic for t in sns.list_topics().get("Topics", [])):
        cleanup.attempt(f"deleted topic {TOPIC_NAME}", lambda: sns.delete_topic(TopicArn=topic))
    if any(d["DashboardName"] == DASHBOARD for d in cw.list_dashboards().get("DashboardEntries", [])):
        cleanup.attempt(f"deleted dashboard {DASHBOARD}", lambda: cw.delete_dashboards(DashboardNames=[DASHBOARD]))
    logs = cleanup.client("logs")
    cleanup.attempt(f"deleted log group {LOG_GROUP} (and its metric filters)",
             lambda: logs.delete_log_group(logGroupName=LOG_GROUP), missing=("ResourceNotFoundException",))
    xray = cleanup.client("xray")
    if any(g.get("GroupName") == GROUP_NAME for g in xray.get_groups().get("Groups", [])):
        cleanup.attempt(f"deleted X-Ray group {GROUP_NAME}", lambda: xray.delete_group(GroupName=GROUP_NAME))
    cc = cleanup.client("codecommit")
    if any(r["repositoryName"] == REPO_NAME for r in cc.list_repositories().get("repositories", [])):
        cleanup.attempt(f"deleted repository {REPO_NAME}", lambda: cc.delete_repository(repositoryName=REPO_NAME))


# -- traffic until something happens ---------------------------------------------------------

def orders_until(shop: Shop, done, timeout: float = 120.0, batch: int = 5) -> int:
    """Place orders, ``batch`` at a time, until ``done()`` is true; how many were placed
    (raises TimeoutError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    placed, seed = 0, 100
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{placed} orders in {timeout:.0f} s and still not there")
        send_orders(shop, count=batch, seed=seed)
        placed += batch
        seed += 1
    return placed


def notified(alarm: str, since: float, cw=None) -> bool:
    """Whether ``alarm`` has sent its actions since ``since`` (its history's 'Successfully executed action')."""
    from datetime import datetime, timezone

    cw = cw or _client("cloudwatch")
    items = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action", MaxRecords=100,
                                      AlarmTypes=["CompositeAlarm", "MetricAlarm"],
                                      StartDate=datetime.fromtimestamp(since, timezone.utc))["AlarmHistoryItems"]
    return any("Successfully executed action" in (h.get("HistorySummary") or "") for h in items)
