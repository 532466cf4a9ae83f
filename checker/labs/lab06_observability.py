"""Lab 06-observability checks: the shop's traces in X-Ray since the lab's repository
was made (as the services sent them), the bottleneck fixed in the committed code and
gone from the traces after that commit, the slow-request group, the metric filter
counting faults, the composite alarm with its SNS action and its deploy suppressor
(from the alarms' own history), and the dashboard; seven checks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from checker.labs import by_learner, metric_sum, param, parse_time, trail_events
from checker.registry import Finding, failed, lab, passed

LAB_ID = "06-observability"
REPO_NAME = "workshop-06-shop"
PRICING_PATH = "shop/pricing.py"
LOG_GROUP = "/workshop/06/shop"
SHOP_NAMESPACE = "Workshop06/Shop"        # the services' EMF lines: Latency by Service
DEPLOY_NAMESPACE = "Workshop06/Deploy"    # labkit's deploy helper: Deploying (1 while it deploys)
DEPLOY_METRIC = "Deploying"
FILTER_NAME = "workshop-06-faults"
FAULTS_ALARM = "workshop-06-faults"
LATENCY_ALARM = "workshop-06-latency"
DEPLOY_ALARM = "workshop-06-deploying"
COMPOSITE_ALARM = "workshop-06-shop-unhealthy"
TOPIC_NAME = "workshop-06-alerts"
DASHBOARD = "workshop-06-shop"
GROUP_NAME = "workshop-06-slow"

MIN_ORDERS = 10            # traced orders that show the shop was run and used
MIN_FIXED_ORDERS = 5       # traced orders after the fix
MAX_TRACES = 600           # read at most this many traces (batches of 5)
# The planted per-item call, and the call that asks for the whole order at once.
PER_ITEM_CALL = re.compile(r"/stock/\{")
BATCH_CALL = re.compile(r"/stock\?items=")
FAULT_LINE = json.dumps({"Service": "inventory", "Latency": 31.0, "method": "GET", "path": "/stock/widget",
                         "status": 500})
OK_LINE = json.dumps({"Service": "inventory", "Latency": 30.2, "method": "GET", "path": "/stock/gadget",
                      "status": 200})
WRITES = ("CreateCommit", "PutFile", "GitPush", "MergeBranchesByFastForward", "MergeBranchesBySquash",
          "MergeBranchesByThreeWay", "MergePullRequestByFastForward", "MergePullRequestBySquash",
          "MergePullRequestByThreeWay", "DeleteFile")

LAB = lab(LAB_ID, "Observability: traces, alarms and dashboards")

_XRAY = "https://docs.aws.amazon.com/xray/latest/devguide"
_CW = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring"


# -- the traces, as the services sent them -----------------------------------------------

@dataclass
class OrderTrace:
    id: str
    start: float                     # the orders segment's start (epoch seconds)
    inventory_calls: int             # inventory segments (requests it served) in the trace
    inventory_urls: list[str]
    services: set[str]
    fault: bool
    duration: float


def _doc(segment: dict) -> dict:
    try:
        return json.loads(segment.get("Document") or "{}")
    except ValueError:
        return {}


def order_traces(call: Callable[..., Any], start: datetime, end: datetime, limit: int = MAX_TRACES) -> list[OrderTrace]:
    """Every trace with an orders segment between ``start`` and ``end``, oldest first.
    ``call(operation, **params)`` reaches X-Ray (an answer, or None when it cannot)."""
    ids: list[str] = []
    token = None
    for _ in range(50):
        page = call("get_trace_summaries", StartTime=start, EndTime=end, FilterExpression='service("orders")',
                    **({"NextToken": token} if token else {}))
        if page is None:
            break
        ids += [s["Id"] for s in page.get("TraceSummaries") or [] if s.get("Id")]
        token = page.get("NextToken")
        if not token or len(ids) >= limit:
            break
    found: list[OrderTrace] = []
    for at in range(0, min(len(ids), limit), 5):
        page = call("batch_get_traces", TraceIds=ids[at:at + 5])
        for trace in (page or {}).get("Traces") or []:
            docs = [_doc(s) for s in trace.get("Segments") or []]
            roots = [d for d in docs if d.get("name") == "orders" and not d.get("parent_id")]
            if not roots:
                continue
            inventory = [d for d in docs if d.get("name") == "inventory" and d.get("parent_id")]
            found.append(OrderTrace(
                id=trace.get("Id", ""), start=float(roots[0].get("start_time") or 0),
                inventory_calls=len(inventory),
                inventory_urls=[str(((d.get("http") or {}).get("request") or {}).get("url", "")) for d in inventory],
                services={str(d.get("name")) for d in docs},
                fault=any(d.get("fault") for d in roots),
                duration=float(trace.get("Duration") or 0)))
    return sorted(found, key=lambda t: t.start)


# -- the read ---------------------------------------------------------------------------

@dataclass
class Observed:
    account: str
    region: str
    repo_problem: str = ""
    since: datetime | None = None              # the lab repository's creation (CloudTrail)
    head: str | None = None
    pricing: str | None = None                 # shop/pricing.py at the head
    head_written: datetime | None = None       # when the head commit was written (CloudTrail)
    traces: list[OrderTrace] = field(default_factory=list)
    traces_problem: str = ""
    group: dict | None = None
    group_matches: int | None = None
    metric_filters: list[dict] = field(default_factory=list)
    filter_tests: dict[str, tuple[bool, bool]] = field(default_factory=dict)   # name -> (fault, ok) matched
    filter_sums: dict[str, float | None] = field(default_factory=dict)
    alarms: dict[str, dict] = field(default_factory=dict)
    history: dict[str, list[dict]] = field(default_factory=dict)   # alarm -> items, oldest first
    topics: set[str] = field(default_factory=set)
    set_by_hand: set[str] = field(default_factory=set)   # lab alarms whose state the learner set (SetAlarmState)
    dashboard: dict | None = None
    dashboard_problem: str = ""


@LAB.reader
def read(account) -> Observed:
    st = Observed(account.id, account.region)
    _read_repo(account, st)
    if st.since is None:
        return st
    now = datetime.now(timezone.utc) + timedelta(seconds=60)
    st.traces = [t for t in order_traces(lambda op, **kw: account.call("xray", op, **kw), st.since, now)
                 if t.start >= st.since.timestamp()]
    if not st.traces:
        st.traces_problem = account.errors.get("xray.get_trace_summaries", "")
    _read_group(account, st, now)
    _read_logs(account, st, now)
    _read_alarms(account, st)
    _read_dashboard(account, st)
    return st


def _read_repo(account, st: Observed) -> None:
    repo = account.call("codecommit", "get_repository", repositoryName=REPO_NAME)
    if repo is None:
        st.repo_problem = (f"No CodeCommit repository {REPO_NAME}: run the setup cell "
                           "(publish_code keeps the shop's code there).")
        return
    created = [e for e in trail_events(account, "CreateRepository") or []
               if param(e, "repositoryName") == REPO_NAME and by_learner(e)]
    stamps = [parse_time(e.get("eventTime")) for e in created]
    stamps = [s for s in stamps if s is not None]
    if not stamps:
        st.repo_problem = f"CloudTrail has no CreateRepository of {REPO_NAME}: make it again (workshop reset 06)."
        return
    st.since = max(stamps)     # whole seconds: the repository was made at or after it
    branch = account.call("codecommit", "get_branch", repositoryName=REPO_NAME, branchName="main")
    st.head = ((branch or {}).get("branch") or {}).get("commitId")
    if st.head:
        got = account.call("codecommit", "get_file", repositoryName=REPO_NAME, commitSpecifier=st.head,
                           filePath=PRICING_PATH)
        if got is not None:
            st.pricing = got["fileContent"].decode("utf-8", "replace")
        writes = []
        for name in WRITES:
            for e in trail_events(account, name) or []:
                if param(e, "repositoryName") == REPO_NAME and by_learner(e):
                    when = parse_time(e.get("eventTime"))
                    if when is not None and when >= st.since:
                        writes.append(when)
        st.head_written = max(writes) if writes else None


def _read_group(account, st: Observed, now: datetime) -> None:
    got = account.call("xray", "get_group", GroupName=GROUP_NAME)
    st.group = (got or {}).get("Group")
    expression = (st.group or {}).get("FilterExpression")
    if expression:
        ids, token = set(), None
        for _ in range(20):
            page = account.call("xray", "get_trace_summaries", StartTime=st.since, EndTime=now,
                                FilterExpression=f'service("orders") AND ({expression})',
                                **({"NextToken": token} if token else {}))
            if page is None:
                return
            ids |= {s["Id"] for s in page.get("TraceSummaries") or []}
            token = page.get("NextToken")
            if not token:
                break
        st.group_matches = len(ids & {t.id for t in st.traces})


def _read_logs(account, st: Observed, now: datetime) -> None:
    found = account.call("logs", "describe_metric_filters", logGroupName=LOG_GROUP)
    st.metric_filters = list((found or {}).get("metricFilters") or [])
    for f in st.metric_filters:
        name = f.get("filterName", "")
        tested = account.call("logs", "test_metric_filter", filterPattern=f.get("filterPattern", ""),
                              logEventMessages=[FAULT_LINE, OK_LINE])
        matched = {m.get("eventMessage") for m in (tested or {}).get("matches") or []}
        st.filter_tests[name] = (FAULT_LINE in matched, OK_LINE in matched)
        for t in f.get("metricTransformations") or []:
            st.filter_sums[name] = metric_sum(account, t.get("metricNamespace", ""), t.get("metricName", ""), {},
                                              st.since, now)


def _read_alarms(account, st: Observed) -> None:
    names = [COMPOSITE_ALARM, FAULTS_ALARM, LATENCY_ALARM, DEPLOY_ALARM]
    found = account.call("cloudwatch", "describe_alarms", AlarmNames=names,
                         AlarmTypes=["MetricAlarm", "CompositeAlarm"]) or {}
    for a in (found.get("MetricAlarms") or []) + (found.get("CompositeAlarms") or []):
        st.alarms[a["AlarmName"]] = a
    for name in (COMPOSITE_ALARM, DEPLOY_ALARM):
        if name not in st.alarms:
            continue
        items: list[dict] = []
        token = None
        for _ in range(5):
            page = account.call("cloudwatch", "describe_alarm_history", AlarmName=name, MaxRecords=100,
                                AlarmTypes=["MetricAlarm", "CompositeAlarm"], **({"NextToken": token} if token else {}))
            if page is None:
                break
            items += page.get("AlarmHistoryItems") or []
            token = page.get("NextToken")
            if not token:
                break
        st.history[name] = sorted(items, key=lambda h: parse_time(h.get("Timestamp")) or datetime.min.replace(
            tzinfo=timezone.utc))
    for e in trail_events(account, "SetAlarmState") or []:
        when = parse_time(e.get("eventTime"))
        if by_learner(e) and when is not None and when >= st.since:
            st.set_by_hand.add(str(param(e, "alarmName")))
    topics = account.call("sns", "list_topics") or {}
    st.topics = {t["TopicArn"] for t in topics.get("Topics") or []}


def _read_dashboard(account, st: Observed) -> None:
    got = account.call("cloudwatch", "get_dashboard", DashboardName=DASHBOARD)
    if got is None:
        st.dashboard_problem = f"No dashboard {DASHBOARD} yet."
        return
    try:
        st.dashboard = json.loads(got.get("DashboardBody") or "{}")
    except ValueError:
        st.dashboard_problem = f"The body of {DASHBOARD} is not JSON."


# -- helpers --------------------------------------------------------------------------

def _no_repo(st: Observed) -> Finding | None:
    return failed(st.repo_problem) if st.since is None else None


def _state_changes(items: list[dict]) -> list[tuple[datetime, str]]:
    """(when, new state) of an alarm's StateUpdate items, oldest first."""
    out = []
    for h in items:
        if h.get("HistoryItemType") != "StateUpdate":
            continue
        try:
            state = json.loads(h.get("HistoryData") or "{}").get("newState", {}).get("stateValue")
        except ValueError:
            continue
        when = parse_time(h.get("Timestamp"))
        if state and when is not None:
            out.append((when, state))
    return out


def _alarm_metric(alarm: dict | None) -> tuple[str, str] | None:
    if not alarm:
        return None
    if alarm.get("MetricName"):
        return alarm.get("Namespace", ""), alarm["MetricName"]
    for m in alarm.get("Metrics") or []:
        stat = (m.get("MetricStat") or {}).get("Metric") or {}
        if stat.get("MetricName"):
            return stat.get("Namespace", ""), stat["MetricName"]
    return None


def _fault_filters(st: Observed) -> list[dict]:
    """The group's metric filters that count a fault line and not a good one."""
    return [f for f in st.metric_filters if st.filter_tests.get(f.get("filterName", "")) == (True, False)]


# -- checks ---------------------------------------------------------------------------------

@LAB.check("shop-traced", title="The shop's three services traced into X-Ray", points=10, step="traces",
           hints=["Start the shop with run_shop(APP_DIR) (its services send their spans to X-Ray's /v1/traces) "
                  "and place orders with send_orders.",
                  f"After publish_code made {REPO_NAME}, at least {MIN_ORDERS} orders must be traced through "
                  "orders, pricing and inventory; get_service_graph shows orders -> pricing -> inventory.",
                  "shop = run_shop('shop'); send_orders(shop, count=40)"],
           docs=f"{_XRAY}/xray-services-otel.html")
def shop_traced(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    whole = [t for t in st.traces if {"orders", "pricing", "inventory"} <= t.services]
    if len(whole) < MIN_ORDERS:
        extra = f" ({st.traces_problem})" if st.traces_problem else ""
        return failed(f"{len(whole)} order(s) traced through orders, pricing and inventory since {REPO_NAME} was "
                      f"made; at least {MIN_ORDERS} needed{extra}.")
    return passed(f"{len(whole)} orders traced through orders -> pricing -> inventory.")


@LAB.check("slow-group", title="An X-Ray group for slow requests", points=10, step="bottleneck",
           hints=[f"Make an X-Ray group {GROUP_NAME} whose filter expression selects the slow orders.",
                  "create_group(GroupName=..., FilterExpression='responsetime > X'): pick X from the traces' "
                  "response times so that some orders are in the group and some are not.",
                  f"xray.create_group(GroupName='{GROUP_NAME}', FilterExpression='responsetime > 0.1')"],
           docs=f"{_XRAY}/xray-console-groups.html")
def slow_group(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    if st.group is None:
        return failed(f"No X-Ray group {GROUP_NAME}.")
    expression = st.group.get("FilterExpression") or ""
    if not re.search(r"\b(responsetime|duration)\b", expression):
        return failed(f"{GROUP_NAME}'s filter expression {expression!r} does not look at response time or "
                      "duration.")
    total = len(st.traces)
    if st.group_matches is None or total == 0:
        return failed(f"{GROUP_NAME}'s expression cannot be evaluated over the shop's traces yet (no orders traced).")
    if not 0 < st.group_matches < total:
        return failed(f"{GROUP_NAME} ({expression}) holds {st.group_matches} of the {total} traced orders: a group "
                      "for slow requests holds some orders, not none or all.")
    return passed(f"{GROUP_NAME} ({expression}) holds {st.group_matches} of {total} traced orders.")


@LAB.check("fault-metric-filter", title="A metric filter that counts the faults in the services' logs", points=15,
           step="alarms",
           hints=[f"Put a metric filter on the log group {LOG_GROUP} that matches the request lines of faults "
                  "(status 500 and above).",
                  "The lines are JSON: a selector such as { $.status >= 500 } matches them; the filter's metric "
                  "gets a value for each; then send orders again so that it counts.",
                  f"logs.put_metric_filter(logGroupName='{LOG_GROUP}', filterName='{FILTER_NAME}', "
                  "filterPattern='{ $.status >= 500 }', metricTransformations=[{'metricName': 'Faults', "
                  f"'metricNamespace': '{SHOP_NAMESPACE}', 'metricValue': '1'}}])"],
           docs=f"{_CW}/MonitoringLogData.html")
def fault_metric_filter(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    if not st.metric_filters:
        return failed(f"No metric filter on {LOG_GROUP}.")
    counting = _fault_filters(st)
    if not counting:
        shown = "; ".join(f"{f.get('filterName')}: {f.get('filterPattern')!r}" for f in st.metric_filters)
        return failed(f"No filter on {LOG_GROUP} matches a fault's request line and not a good one ({shown}).")
    for f in counting:
        total = st.filter_sums.get(f.get("filterName", ""))
        if total:
            t = (f.get("metricTransformations") or [{}])[0]
            return passed(f"{f['filterName']} ({f['filterPattern']}) counted {total:g} fault(s) into "
                          f"{t.get('metricNamespace')} {t.get('metricName')}.")
    return failed(f"{counting[0].get('filterName')} matches faults but its metric has no data: send orders after "
                  "making it (a filter counts the lines that arrive after it).")


@LAB.check("composite-alarm", title="A composite alarm (faults AND latency) that notified SNS", points=20,
           step="alarms",
           hints=[f"Make {FAULTS_ALARM} on the fault metric, {LATENCY_ALARM} on {SHOP_NAMESPACE} Latency, and the "
                  f"composite {COMPOSITE_ALARM} = both in ALARM, with an SNS topic {TOPIC_NAME} as its action.",
                  "put_composite_alarm(AlarmRule='ALARM(a) AND ALARM(b)', AlarmActions=[topic ARN]); then send "
                  "orders: the planted bottleneck and fault put both children, and the composite, in ALARM.",
                  f"AlarmRule=\"ALARM('{FAULTS_ALARM}') AND ALARM('{LATENCY_ALARM}')\"; watch "
                  f"describe_alarm_history(AlarmName='{COMPOSITE_ALARM}') for 'Successfully executed action'."],
           docs=f"{_CW}/Create_Composite_Alarm.html")
def composite_alarm(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    composite = st.alarms.get(COMPOSITE_ALARM)
    if composite is None or "AlarmRule" not in composite:
        return failed(f"No composite alarm {COMPOSITE_ALARM}.")
    rule = composite["AlarmRule"]
    for child in (FAULTS_ALARM, LATENCY_ALARM):
        if not re.search(rf"ALARM\(\s*[\"']?(arn:[^\"')]*:)?{re.escape(child)}[\"']?\s*\)", rule):
            return failed(f"{COMPOSITE_ALARM}'s rule {rule!r} does not ask for ALARM({child}).")
    if not re.search(r"\bAND\b", rule) or re.search(r"\bOR\b", rule):
        return failed(f"{COMPOSITE_ALARM}'s rule {rule!r} is not faults AND latency.")
    fault_metrics = {(t.get("metricNamespace"), t.get("metricName"))
                     for f in _fault_filters(st) for t in f.get("metricTransformations") or []}
    if _alarm_metric(st.alarms.get(FAULTS_ALARM)) not in fault_metrics:
        return failed(f"{FAULTS_ALARM} does not watch the metric of a metric filter that counts faults on {LOG_GROUP}.")
    if _alarm_metric(st.alarms.get(LATENCY_ALARM)) != (SHOP_NAMESPACE, "Latency"):
        return failed(f"{LATENCY_ALARM} does not watch {SHOP_NAMESPACE} Latency.")
    topic = next((a for a in composite.get("AlarmActions") or [] if a.split(":")[-1] == TOPIC_NAME), None)
    if topic is None or topic not in st.topics:
        return failed(f"{COMPOSITE_ALARM}'s actions do not include the SNS topic {TOPIC_NAME}.")
    by_hand = st.set_by_hand & {COMPOSITE_ALARM, FAULTS_ALARM, LATENCY_ALARM}
    if by_hand:
        return failed(f"CloudTrail shows the state of {', '.join(sorted(by_hand))} set by hand (SetAlarmState): "
                      "the alarms must go to ALARM from the shop's metrics; workshop reset 06-observability and "
                      "make them again.")
    history = st.history.get(COMPOSITE_ALARM, [])
    if not any(state == "ALARM" for _, state in _state_changes(history)):
        return failed(f"{COMPOSITE_ALARM} has never been in ALARM: send orders while the bottleneck is there.")
    if not any(h.get("HistoryItemType") == "Action" and f"Successfully executed action {topic}" in
               (h.get("HistorySummary") or "") for h in history):
        return failed(f"{COMPOSITE_ALARM} went to ALARM but never notified {TOPIC_NAME}.")
    return passed(f"{COMPOSITE_ALARM} ({rule}) went to ALARM and notified {TOPIC_NAME}.")


@LAB.check("bottleneck-fixed", title="The bottleneck fixed in the code, and gone from the traces", points=25,
           step="fix",
           hints=["The service graph's pricing -> inventory edge counts more calls than there are orders: pricing "
                  "asks inventory once per item. Fix shop/pricing.py to ask once per order, and deploy it.",
                  "Inventory answers GET /stock?items=a,b,c for a whole order; deploy(shop, APP_DIR) commits the "
                  f"code to {REPO_NAME} and restarts the shop; then send orders and count inventory calls per trace.",
                  "sample-app/tools/fix_bottleneck.py shows the change; after deploy: send_orders(shop, 20) and "
                  "calls_per_order(...) == [1, 1, ...]."],
           docs=f"{_XRAY}/xray-console-filters.html")
def bottleneck_fixed(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    code = st.pricing or ""
    if not code or PER_ITEM_CALL.search(code) or not BATCH_CALL.search(code):
        return failed(f"{PRICING_PATH} in {REPO_NAME} still asks inventory once per item (or not for the whole "
                      "order with /stock?items=): fix it and deploy it.")
    if st.head_written is None:
        return failed(f"CloudTrail has no write to {REPO_NAME} for the fixed code.")
    fixed_at = st.head_written.timestamp()
    before = [t for t in st.traces if t.start < fixed_at]
    after = [t for t in st.traces if t.start >= fixed_at]
    if not any(t.inventory_calls > 1 for t in before):
        return failed("No traced order before the fix shows the bottleneck (more than one inventory call): trace "
                      "the shop as it was first.")
    if len(after) < MIN_FIXED_ORDERS:
        return failed(f"{len(after)} order(s) traced after the fix was committed "
                      f"({st.head_written:%H:%M:%S}); at least {MIN_FIXED_ORDERS} needed.")
    many = [t for t in after if t.inventory_calls != 1]
    if many:
        return failed(f"{len(many)} of the {len(after)} orders traced after the fix called inventory "
                      f"{sorted({t.inventory_calls for t in many})} times, not once.")
    batched = [t for t in after if any(BATCH_CALL.search(u) for u in t.inventory_urls)]
    if len(batched) < len(after):
        return failed("Orders after the fix called inventory once, but not with /stock?items=: these traces are "
                      "not the fixed code's.")
    return passed(f"{len(after)} orders after the fix, one inventory call each; before it, up to "
                  f"{max(t.inventory_calls for t in before)}.")


@LAB.check("deploy-suppressed", title="The deploy suppresses the composite's actions", points=10, step="fix",
           hints=[f"Make an alarm {DEPLOY_ALARM} on the metric the deploy helper publishes ({DEPLOY_NAMESPACE} "
                  f"{DEPLOY_METRIC}, Service=shop) and name it as {COMPOSITE_ALARM}'s ActionsSuppressor.",
                  "deploy(...) publishes 1 while it deploys and waits for that alarm to be in ALARM before it "
                  "commits: the fix is committed while alarms are expected.",
                  f"put_metric_alarm(AlarmName='{DEPLOY_ALARM}', Namespace='{DEPLOY_NAMESPACE}', "
                  f"MetricName='{DEPLOY_METRIC}', Dimensions=[{{'Name': 'Service', 'Value': 'shop'}}], "
                  "Statistic='Maximum', Threshold=1, ComparisonOperator='GreaterThanOrEqualToThreshold', ...); "
                  f"put_composite_alarm(..., ActionsSuppressor='{DEPLOY_ALARM}')"],
           docs=f"{_CW}/alarm-suppression.html")
def deploy_suppressed(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    composite = st.alarms.get(COMPOSITE_ALARM)
    if composite is None:
        return failed(f"No composite alarm {COMPOSITE_ALARM}.")
    suppressor = (composite.get("ActionsSuppressor") or "").split(":")[-1]
    if suppressor != DEPLOY_ALARM:
        return failed(f"{COMPOSITE_ALARM}'s ActionsSuppressor is {suppressor or 'not set'}, not {DEPLOY_ALARM}.")
    alarm = st.alarms.get(DEPLOY_ALARM)
    if _alarm_metric(alarm) != (DEPLOY_NAMESPACE, DEPLOY_METRIC):
        return failed(f"{DEPLOY_ALARM} does not watch {DEPLOY_NAMESPACE} {DEPLOY_METRIC}, the deploy helper's metric.")
    if st.set_by_hand & {COMPOSITE_ALARM, DEPLOY_ALARM}:
        return failed(f"CloudTrail shows {DEPLOY_ALARM}'s or {COMPOSITE_ALARM}'s state set by hand (SetAlarmState): "
                      "the deploy helper's metric must raise it.")
    if st.head_written is None or not st.pricing or PER_ITEM_CALL.search(st.pricing):
        return failed(f"No fix deployed to {REPO_NAME} yet.")
    # The commit was written while the suppressor was in ALARM (CloudTrail's times are whole seconds).
    state, when = None, None
    for at, new in _state_changes(st.history.get(DEPLOY_ALARM, [])):
        if at > st.head_written + timedelta(seconds=1):
            break
        state, when = new, at
    if state != "ALARM":
        return failed(f"{DEPLOY_ALARM} was not in ALARM when the fix was committed ({st.head_written:%H:%M:%S}): "
                      "deploy with deploy(shop, APP_DIR).")
    return passed(f"{DEPLOY_ALARM} went to ALARM at {when:%H:%M:%S} and held {COMPOSITE_ALARM}'s actions while "
                  f"the fix was committed at {st.head_written:%H:%M:%S}.")


def _widget_metrics(widget: dict) -> list[tuple[str, str]]:
    """(namespace, name) of each metric a metric widget draws (the compact array form)."""
    found = []
    last: list = []
    for row in (widget.get("properties") or {}).get("metrics") or []:
        if not isinstance(row, list):
            continue
        values = [x for x in row if not isinstance(x, dict)]
        resolved = [last[i] if v == "." and i < len(last) else v for i, v in enumerate(values)]
        if len(resolved) >= 2 and all(isinstance(v, str) for v in resolved[:2]):
            found.append((resolved[0], resolved[1]))
            last = resolved
    return found


@LAB.check("dashboard", title="A dashboard with the latency, the fault count and the alarm", points=10,
           step="dashboard",
           hints=[f"Make a dashboard {DASHBOARD} with the shop's latency, the fault count and the composite alarm.",
                  "Two metric widgets (Latency, your metric filter's metric) and an alarm widget whose alarms "
                  "list the composite's ARN; show it with labkit.dashboards.show_dashboard.",
                  f"cw.put_dashboard(DashboardName='{DASHBOARD}', DashboardBody=json.dumps({{'widgets': [...]}}))"],
           docs=f"{_CW}/CloudWatch-Dashboard-Body-Structure.html")
def dashboard(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    if st.dashboard is None:
        return failed(st.dashboard_problem)
    widgets = [w for w in st.dashboard.get("widgets") or [] if isinstance(w, dict)]
    metrics = {m for w in widgets if w.get("type") == "metric" for m in _widget_metrics(w)}
    fault_metrics = {(t.get("metricNamespace"), t.get("metricName"))
                     for f in _fault_filters(st) for t in f.get("metricTransformations") or []}
    missing = []
    if (SHOP_NAMESPACE, "Latency") not in metrics:
        missing.append(f"{SHOP_NAMESPACE} Latency")
    if not metrics & fault_metrics:
        missing.append("the fault metric filter's metric")
    alarms = {a for w in widgets if w.get("type") == "alarm" for a in (w.get("properties") or {}).get("alarms") or []}
    alarms |= {a for w in widgets if w.get("type") == "metric"
               for a in ((w.get("properties") or {}).get("annotations") or {}).get("alarms") or []}
    if not any(str(a).split(":")[-1] == COMPOSITE_ALARM for a in alarms):
        missing.append(f"the alarm {COMPOSITE_ALARM}")
    if missing:
        return failed(f"{DASHBOARD} does not show {', '.join(missing)}.")
    return passed(f"{DASHBOARD}: latency, faults and {COMPOSITE_ALARM}.")
