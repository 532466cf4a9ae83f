"""Lab 03-deploy checks: one read of the learner's on-premises fleet and its
rolling deployments, the Lambda function's canary and all-at-once deployments
with their alarm and the Errors they caused (from CloudWatch, in each
deployment's own time window), and the pipeline's executions; eleven checks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from checker.labs import (
    has_lab_tag,
    metric_sum,
    missing,
    parse_time,
    sample_app_blobs,
    sample_app_tests,
    tag_dict,
    zip_blobs,
    zip_files,
)
from checker.registry import Finding, failed, lab, passed

LAB_ID = "03-deploy"
BUCKET_PREFIX = "workshop-03-deploy"
CODEDEPLOY_ROLE = "workshop-03-codedeploy"
LAMBDA_ROLE = "workshop-03-lambda"
PIPELINE_ROLE = "workshop-03-pipeline"
FLEET_TAG = {"Key": "fleet", "Value": "workshop-03-web"}
INSTANCES = tuple(f"workshop-03-web-{n}" for n in range(1, 5))
SERVER_APP = "workshop-03-web"
SERVER_GROUP = "workshop-03-web-fleet"
FUNCTION_NAME = "workshop-03-orders"
ALIAS = "live"
ALARM_NAME = "workshop-03-orders-errors"
LAMBDA_APP = "workshop-03-orders"
LAMBDA_GROUP = "workshop-03-orders-live"
REPO_NAME = "workshop-03-deploy-app"
BUILD_PROJECT = "workshop-03-build"
PIPELINE_NAME = "workshop-03-pipeline"

ONE_AT_A_TIME = "CodeDeployDefault.OneAtATime"
CANARY = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
ALL_AT_ONCE = "CodeDeployDefault.LambdaAllAtOnce"
ACTIVE = ("Created", "Queued", "InProgress", "Baking", "Ready")
ROLLBACK_CREATOR = "codeDeployRollback"
# The lifecycle events an in-place deployment runs on an instance without a load balancer.
SERVER_EVENTS = ("ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall",
                 "ApplicationStart", "ValidateService")
# Executions a change in the repository started (not create_pipeline, not start_pipeline_execution).
PUSH_TRIGGERS = ("CloudWatchEvent", "PollForSourceChanges")
# All at once must fail at least this many times the canary's requests (issue 4's acceptance).
BLAST_RATIO = 3

LAB = lab(LAB_ID, "Deploy and orchestrate")

_CD = "https://docs.aws.amazon.com/codedeploy/latest/userguide"
_CP = "https://docs.aws.amazon.com/codepipeline/latest/userguide"


@dataclass
class Window:
    """What CloudWatch counted on the alias between two moments."""

    start: datetime
    end: datetime
    errors: float | None = None        # None: CloudWatch could not be read
    invocations: float | None = None
    # per executed version (AWS/Lambda's ExecutedVersion dimension): version -> (invocations, errors)
    versions: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    def of(self, version: str | None) -> tuple[float | None, float | None]:
        return self.versions.get(str(version), (None, None))

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Deploy:
    """What the checks look at, read once."""

    account: str
    region: str
    # the fleet and its deployments
    instances: dict[str, dict] = field(default_factory=dict)      # registered lab instances by name
    fleet_selected: list[str] = field(default_factory=list)       # registered instances with the fleet tag
    server_app: dict | None = None
    server_group: dict | None = None
    server_problem: str = ""
    server_deployments: list[dict] = field(default_factory=list)  # oldest first
    targets: dict[str, list[dict]] = field(default_factory=dict)  # deployment id -> instance targets
    hooks: dict[str, dict] = field(default_factory=dict)  # failed deployment id -> its revision's AppSpec hooks
    # the function, its alarm and its deployments
    function: dict | None = None
    alias: dict | None = None
    alarm: dict | None = None
    alarm_tags: dict = field(default_factory=dict)
    alarm_history: list[dict] = field(default_factory=list)
    lambda_group: dict | None = None
    lambda_problem: str = ""
    lambda_deployments: list[dict] = field(default_factory=list)  # oldest first
    lambda_weights: dict[str, float] = field(default_factory=dict)  # deployment id -> targetVersionWeight
    windows: dict[str, Window] = field(default_factory=dict)       # good, canary, all-at-once
    # the pipeline
    pipeline: dict | None = None
    pipeline_tags: dict = field(default_factory=dict)
    pipeline_problem: str = ""
    executions: list[dict] = field(default_factory=list)          # newest first
    action_runs: dict[str, list[dict]] = field(default_factory=dict)
    pipeline_deployments: dict[str, dict] = field(default_factory=dict)
    pipeline_reports: dict[str, dict | None] = field(default_factory=dict)  # build id -> its test report
    bundles: dict[str, dict[str, str] | str] = field(default_factory=dict)  # deployment id -> files (or why not)

    def deployment(self, deployment_id: str | None) -> dict | None:
        for d in self.server_deployments + self.lambda_deployments:
            if d.get("deploymentId") == deployment_id:
                return d
        return self.pipeline_deployments.get(deployment_id or "")


# -- the read ----------------------------------------------------------------------

@LAB.reader
def read(account) -> Deploy:
    st = Deploy(account.id, account.region)
    _read_fleet(account, st)
    _read_server(account, st)
    _read_lambda(account, st)
    _read_pipeline(account, st)
    return st


def _read_fleet(account, st: Deploy) -> None:
    found = account.call("codedeploy", "batch_get_on_premises_instances", instanceNames=list(INSTANCES)) or {}
    for info in found.get("instanceInfos") or []:
        if isinstance(info, dict) and info.get("instanceName") and not info.get("deregisterTime"):
            st.instances[info["instanceName"]] = info
    listed = account.call("codedeploy", "list_on_premises_instances", registrationStatus="Registered",
                          tagFilters=[{**FLEET_TAG, "Type": "KEY_AND_VALUE"}]) or {}
    st.fleet_selected = sorted(listed.get("instanceNames") or [])


def _deployments(account, application: str, group: str) -> list[dict] | None:
    """Every deployment of a group, oldest first (None: the group cannot be read)."""
    ids: list[str] = []
    token = None
    for _ in range(20):   # 20 pages of 100: far more than a lab makes
        page = account.call("codedeploy", "list_deployments", applicationName=application,
                            deploymentGroupName=group, **({"nextToken": token} if token else {}))
        if page is None:
            return None
        ids += page.get("deployments") or []
        token = page.get("nextToken")
        if not token:
            break
    infos: list[dict] = []
    for start in range(0, len(ids), 25):
        got = account.call("codedeploy", "batch_get_deployments", deploymentIds=ids[start:start + 25]) or {}
        infos += [i for i in got.get("deploymentsInfo") or [] if isinstance(i, dict)]
    far_past = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(infos, key=lambda i: parse_time(i.get("createTime")) or far_past)


def _settled(account, application: str, group: str) -> list[dict] | None:
    """The group's deployments once none is running (bounded: a canary bakes for a while)."""
    return account.poll(lambda: _deployments(account, application, group),
                        lambda ds: ds is None or not any(d.get("status") in ACTIVE for d in ds), timeout=12)


def _read_server(account, st: Deploy) -> None:
    app = account.call("codedeploy", "get_application", applicationName=SERVER_APP)
    if app is None:
        st.server_problem = f"There is no CodeDeploy application {SERVER_APP} yet (step 2)."
        return
    st.server_app = app.get("application") or {}
    group = account.call("codedeploy", "get_deployment_group", applicationName=SERVER_APP,
                         deploymentGroupName=SERVER_GROUP)
    if group is None:
        st.server_problem = f"Application {SERVER_APP} has no deployment group {SERVER_GROUP} yet (step 2)."
        return
    st.server_group = group.get("deploymentGroupInfo") or {}
    st.server_deployments = _settled(account, SERVER_APP, SERVER_GROUP) or []
    for d in st.server_deployments:
        if d.get("status") in ("Succeeded", "Failed", "Stopped"):
            st.targets[d["deploymentId"]] = _instance_targets(account, d["deploymentId"])
    # The hooks of the revisions that failed (a few): which script each lifecycle event runs.
    for d in [d for d in reversed(st.server_deployments) if d.get("status") == "Failed"][:2]:
        st.hooks[d["deploymentId"]] = _revision_hooks(account, d.get("revision"))


def _revision_hooks(account, revision: dict | None) -> dict:
    """The ``hooks`` of a revision's appspec.yml (read from its zip in S3); {} when unreadable."""
    import yaml

    where = (revision or {}).get("s3Location") or {}
    if not where.get("bucket") or not where.get("key"):
        return {}
    files, _ = zip_files(account, where["bucket"], where["key"])
    text = (files or {}).get("appspec.yml") or (files or {}).get("appspec.yaml")
    try:
        spec = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return {}
    return spec.get("hooks") or {} if isinstance(spec, dict) else {}


def _instance_targets(account, deployment_id: str) -> list[dict]:
    listed = account.call("codedeploy", "list_deployment_targets", deploymentId=deployment_id) or {}
    ids = listed.get("targetIds") or []
    out: list[dict] = []
    for start in range(0, len(ids), 25):
        got = account.call("codedeploy", "batch_get_deployment_targets", deploymentId=deployment_id,
                           targetIds=ids[start:start + 25]) or {}
        out += [t["instanceTarget"] for t in got.get("deploymentTargets") or []
                if isinstance(t, dict) and isinstance(t.get("instanceTarget"), dict)]
    return sorted(out, key=lambda t: str(t.get("targetId")))


def _read_lambda(account, st: Deploy) -> None:
    st.function = account.call("lambda", "get_function_configuration", FunctionName=FUNCTION_NAME)
    if st.function is not None:
        st.alias = account.call("lambda", "get_alias", FunctionName=FUNCTION_NAME, Name=ALIAS)
    alarms = account.call("cloudwatch", "describe_alarms", AlarmNames=[ALARM_NAME]) or {}
    st.alarm = next(iter(alarms.get("MetricAlarms") or []), None)
    if st.alarm is not None and st.alarm.get("AlarmArn"):
        tags = account.call("cloudwatch", "list_tags_for_resource", ResourceARN=st.alarm["AlarmArn"]) or {}
        st.alarm_tags = tag_dict(tags.get("Tags"))
        history = account.call("cloudwatch", "describe_alarm_history", AlarmName=ALARM_NAME,
                               HistoryItemType="StateUpdate", MaxRecords=100) or {}
        st.alarm_history = history.get("AlarmHistoryItems") or []
    if account.call("codedeploy", "get_application", applicationName=LAMBDA_APP) is None:
        st.lambda_problem = f"There is no CodeDeploy application {LAMBDA_APP} yet (step 4)."
        return
    group = account.call("codedeploy", "get_deployment_group", applicationName=LAMBDA_APP,
                         deploymentGroupName=LAMBDA_GROUP)
    if group is None:
        st.lambda_problem = f"Application {LAMBDA_APP} has no deployment group {LAMBDA_GROUP} yet (step 4)."
        return
    st.lambda_group = group.get("deploymentGroupInfo") or {}
    st.lambda_deployments = _settled(account, LAMBDA_APP, LAMBDA_GROUP) or []
    _read_windows(account, st)


def _read_windows(account, st: Deploy) -> None:
    """The Errors and Invocations CloudWatch counted on the alias in each experiment's time window."""
    good, canary, rollback, all_at_once, restore = _experiments(st)
    if canary is not None:
        target = _lambda_target(account, canary["deploymentId"])
        weight = ((target or {}).get("lambdaFunctionInfo") or {}).get("targetVersionWeight")
        if isinstance(weight, (int, float)):
            st.lambda_weights[canary["deploymentId"]] = float(weight)
    plan = {"good": (good, good), "canary": (canary, rollback or canary), "all-at-once": (all_at_once, restore)}
    by_version = _version_dimensions(account)
    now = datetime.now(timezone.utc)
    # Every deployment of the group bounds the one before (a notebook run twice has more than
    # the three experiments), and so does each experiment's own start.
    starts = [t for t in (parse_time(d.get("createTime")) for d in [*(st.lambda_deployments or []),
                                                                   *(f for f, _ in plan.values() if f)]) if t]
    for name, (first, last) in plan.items():
        start = parse_time((first or {}).get("createTime"))
        if start is None:
            continue
        end = parse_time((last or {}).get("completeTime")) if last else None
        if end is None:
            end = now
        else:
            # Lambda's metrics are stamped when a request arrives, and CloudWatch reads whole
            # seconds (a window's fractions are cut off): the window runs to the whole second
            # after the deployment ended, but never into the next experiment's second.
            end = _whole_second_up(end)
            # (a rollback is part of its experiment: it starts as the stopped canary ends)
            own = {parse_time((d or {}).get("createTime")) for d in (first, last)}
            later = [t.replace(microsecond=0) for t in starts if t > start and t not in own]
            if later and min(later) > start:
                end = min(end, min(later))
        if end <= start:
            end = start + timedelta(seconds=1)
        window = Window(start, end)
        window.errors = _alias_sum(account, "Errors", window)
        window.invocations = _alias_sum(account, "Invocations", window)
        for version in {v for d in (first, last) if d for v in _versions(d) if v}:
            window.versions[version] = (_version_sum(account, "Invocations", version, window, by_version),
                                        _version_sum(account, "Errors", version, window, by_version))
        st.windows[name] = window


def _whole_second_up(t: datetime) -> datetime:
    return t.replace(microsecond=0) + timedelta(seconds=1) if t.microsecond else t


def _lambda_target(account, deployment_id: str) -> dict | None:
    listed = account.call("codedeploy", "list_deployment_targets", deploymentId=deployment_id) or {}
    ids = (listed.get("targetIds") or [])[:1]
    if not ids:
        return None
    got = account.call("codedeploy", "batch_get_deployment_targets", deploymentId=deployment_id,
                       targetIds=ids) or {}
    targets = [t.get("lambdaTarget") for t in got.get("deploymentTargets") or [] if isinstance(t, dict)]
    return next((t for t in targets if isinstance(t, dict)), None)


def _version_dimensions(account) -> list[str]:
    """The dimension names of the function's per-version metrics (AWS: FunctionName, Resource and
    ExecutedVersion for requests through an alias), as CloudWatch lists them."""
    listed = account.call("cloudwatch", "list_metrics", Namespace="AWS/Lambda", MetricName="Invocations",
                          Dimensions=[{"Name": "FunctionName", "Value": FUNCTION_NAME}]) or {}
    for metric in listed.get("Metrics") or []:
        names = [d.get("Name") for d in metric.get("Dimensions") or []]
        if "ExecutedVersion" in names:
            return names
    return ["FunctionName", "ExecutedVersion"]


def _version_sum(account, metric: str, version: str, window: Window, names: list[str]) -> float | None:
    values = {"FunctionName": FUNCTION_NAME, "Resource": f"{FUNCTION_NAME}:{ALIAS}", "ExecutedVersion": version}
    return metric_sum(account, "AWS/Lambda", metric, {n: values[n] for n in names if n in values},
                      window.start, window.end)


def _alias_sum(account, metric: str, window: Window) -> float | None:
    return metric_sum(account, "AWS/Lambda", metric, {"FunctionName": FUNCTION_NAME,
                                                      "Resource": f"{FUNCTION_NAME}:{ALIAS}"}, window.start, window.end)


def _read_pipeline(account, st: Deploy) -> None:
    got = account.call("codepipeline", "get_pipeline", name=PIPELINE_NAME)
    if got is None:
        st.pipeline_problem = f"There is no pipeline {PIPELINE_NAME} yet (step 7)."
        return
    st.pipeline = got.get("pipeline") or {}
    arn = (got.get("metadata") or {}).get("pipelineArn")
    if arn:
        tags = account.call("codepipeline", "list_tags_for_resource", resourceArn=arn) or {}
        st.pipeline_tags = tag_dict(tags.get("tags"))
    listed = account.call("codepipeline", "list_pipeline_executions", pipelineName=PIPELINE_NAME,
                          maxResults=50) or {}
    st.executions = [e for e in listed.get("pipelineExecutionSummaries") or [] if isinstance(e, dict)]
    # The actions of the executions that ran to the end after a push (newest first, a few).
    for summary in [e for e in st.executions if e.get("status") == "Succeeded"][:5]:
        run_id = summary.get("pipelineExecutionId")
        runs = account.call("codepipeline", "list_action_executions", pipelineName=PIPELINE_NAME,
                            filter={"pipelineExecutionId": run_id}) or {}
        st.action_runs[run_id] = [r for r in runs.get("actionExecutionDetails") or [] if isinstance(r, dict)]
        for r in st.action_runs[run_id]:
            external = ((r.get("output") or {}).get("executionResult") or {}).get("externalExecutionId")
            if _provider(r) == "CodeDeploy" and external and not st.deployment(external):
                info = account.call("codedeploy", "get_deployment", deploymentId=external)
                if info:
                    st.pipeline_deployments[external] = info.get("deploymentInfo") or {}
    # What the two newest of them built and shipped: the build's test report, the bundle's files.
    for run_id in list(st.action_runs)[:2]:
        for r in st.action_runs[run_id]:
            external = ((r.get("output") or {}).get("executionResult") or {}).get("externalExecutionId")
            if not external:
                continue
            if _provider(r) == "CodeBuild":
                st.pipeline_reports[external] = _build_report(account, external)
            elif _provider(r) == "CodeDeploy" and st.deployment(external):
                where = (st.deployment(external).get("revision") or {}).get("s3Location") or {}
                blobs, why = zip_blobs(account, where.get("bucket", ""), where.get("key", "")) if where \
                    else (None, "the deployment has no S3 revision")
                st.bundles[external] = blobs if blobs is not None else why


def _build_report(account, build_id: str) -> dict | None:
    """The test report of a build (batch_get_builds, batch_get_reports), None when it has none."""
    builds = (account.call("codebuild", "batch_get_builds", ids=[build_id]) or {}).get("builds") or []
    arns = [a for b in builds for a in b.get("reportArns") or []][:1]
    if not arns:
        return None
    reports = (account.call("codebuild", "batch_get_reports", reportArns=arns) or {}).get("reports") or []
    return reports[0] if reports else None


# -- helpers shared by the checks ---------------------------------------------------

def _by_user(deployments: list[dict]) -> list[dict]:
    return [d for d in deployments if d.get("creator") != ROLLBACK_CREATOR]


def _versions(deployment: dict) -> tuple[str | None, str | None]:
    """(CurrentVersion, TargetVersion) of a Lambda deployment's AppSpec."""
    import yaml

    revision = deployment.get("revision") or {}
    content = (revision.get("appSpecContent") or revision.get("string") or {}).get("content")
    if not content:
        return None, None
    try:
        spec = yaml.safe_load(content)
        resources = spec.get("Resources") or []
        props = next(iter(resources[0].values())).get("Properties") or {}
    except Exception:   # a malformed AppSpec: CodeDeploy refused it anyway
        return None, None

    def text(value: Any) -> str | None:
        if value is None:
            return None
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)

    return text(props.get("CurrentVersion")), text(props.get("TargetVersion"))


def _rollback_of(st: Deploy, deployment: dict) -> dict | None:
    rollback_id = (deployment.get("rollbackInfo") or {}).get("rollbackDeploymentId")
    return st.deployment(rollback_id) if rollback_id else None


def _experiments(st: Deploy) -> tuple[dict | None, ...]:
    """The good canary, the canary the alarm stopped (and its rollback), the same bad
    version all at once, and the deployment that restored the service after it."""
    mine = _by_user(st.lambda_deployments)
    good = next((d for d in reversed(mine) if d.get("deploymentConfigName") == CANARY
                 and d.get("status") == "Succeeded" and _versions(d)[0] != _versions(d)[1]), None)
    canary = next((d for d in reversed(mine) if d.get("deploymentConfigName") == CANARY
                   and (d.get("errorInformation") or {}).get("code") == "ALARM_ACTIVE"), None)
    rollback = _rollback_of(st, canary) if canary else None
    bad = _versions(canary)[1] if canary else None
    all_at_once = next((d for d in reversed(mine) if d.get("deploymentConfigName") == ALL_AT_ONCE
                        and bad is not None and _versions(d)[1] == bad), None)
    restore = None
    if all_at_once is not None:
        after = parse_time(all_at_once.get("createTime"))
        restore = next((d for d in st.lambda_deployments
                        if (parse_time(d.get("createTime")) or after) > after and d.get("status") == "Succeeded"
                        and _versions(d)[1] not in (None, bad)), None)
    return good, canary, rollback, all_at_once, restore


def _count(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _span(target: dict) -> tuple[datetime, datetime] | None:
    """When an instance's deployment began and ended (the events that ran)."""
    ran = [(parse_time(e.get("startTime")), parse_time(e.get("endTime")))
           for e in target.get("lifecycleEvents") or [] if isinstance(e, dict)]
    ran = [(s, e) for s, e in ran if s and e]
    if not ran:
        return None
    return min(s for s, _ in ran), max(e for _, e in ran)


def _event(target: dict, name: str) -> dict:
    return next((e for e in target.get("lifecycleEvents") or []
                 if isinstance(e, dict) and e.get("lifecycleEventName") == name), {})


def _s3_key(revision: dict | None) -> str:
    location = (revision or {}).get("s3Location") or {}
    return f"s3://{location.get('bucket')}/{location.get('key')}" if location else "(no S3 revision)"


def _no_server(st: Deploy) -> Finding:
    return failed(st.server_problem or f"There is no deployment group {SERVER_GROUP}.")


def _no_lambda(st: Deploy, then: str) -> Finding:
    return missing(st.lambda_problem or f"There is no deployment group {LAMBDA_GROUP}.", then)


def _provider(run: dict) -> str:
    return ((run.get("input") or {}).get("actionTypeId") or {}).get("provider", "")


# -- step 1: the fleet -------------------------------------------------------------------

@LAB.check("fleet-registered", title="Four on-premises instances are registered and tagged for the fleet",
           points=6, step="fleet",
           hints=["Register four on-premises instances, workshop-03-web-1 to -4, and tag each with "
                  "fleet=workshop-03-web (the deployment group finds them by this tag) and workshop:lab=03-deploy.",
                  "codedeploy.register_on_premises_instance (one per instance, with an iamUserArn or "
                  "iamSessionArn), then codedeploy.add_tags_to_on_premises_instances.",
                  "for name in INSTANCES: codedeploy.register_on_premises_instance(instanceName=name, "
                  "iamUserArn=f'arn:aws:iam::{ACCOUNT}:user/{name}'); then codedeploy."
                  "add_tags_to_on_premises_instances(instanceNames=INSTANCES, tags=[FLEET_TAG, *TAGS])"],
           docs=f"{_CD}/instances-on-premises.html")
def fleet_registered(st: Deploy) -> Finding:
    missing = [n for n in INSTANCES if n not in st.instances]
    if missing:
        return failed(f"Not registered: {', '.join(missing)} ({len(st.instances)} of 4 are).")
    untagged = [n for n in INSTANCES if n not in st.fleet_selected]
    if untagged:
        return failed(f"Registered but without the tag {FLEET_TAG['Key']}={FLEET_TAG['Value']}: "
                      f"{', '.join(untagged)}; the deployment group selects instances by it.")
    unlabelled = [n for n in INSTANCES if not has_lab_tag(st.instances[n].get("tags"), LAB_ID)]
    if unlabelled:
        return failed(f"Without the tag workshop:lab={LAB_ID}: {', '.join(unlabelled)}.")
    return passed(f"{', '.join(INSTANCES)} registered, tagged {FLEET_TAG['Key']}={FLEET_TAG['Value']}.")


# -- step 2: rolling, one at a time ---------------------------------------------------------

def _group_problem(group: dict) -> str:
    config = group.get("deploymentConfigName")
    if config != ONE_AT_A_TIME:
        return f"Deployment group {SERVER_GROUP} uses {config}, not {ONE_AT_A_TIME}."
    filters = group.get("onPremisesInstanceTagFilters") or []
    if not any(f.get("Key") == FLEET_TAG["Key"] and f.get("Value") == FLEET_TAG["Value"] for f in filters
               if isinstance(f, dict)):
        return (f"Deployment group {SERVER_GROUP} does not select on-premises instances by the tag "
                f"{FLEET_TAG['Key']}={FLEET_TAG['Value']} (onPremisesInstanceTagFilters).")
    return ""


@LAB.check("rolling-deployment", title="The sample app rolled out to the four instances one at a time",
           points=10, step="rolling",
           hints=["Create the Server application workshop-03-web and its group workshop-03-web-fleet "
                  "(CodeDeployDefault.OneAtATime, instances by the fleet tag), upload the revision zip to your "
                  "bucket and deploy it.",
                  "codedeploy.create_application(computePlatform='Server'), create_deployment_group("
                  "deploymentConfigName='CodeDeployDefault.OneAtATime', onPremisesInstanceTagFilters=[...]), "
                  "s3.put_object, codedeploy.create_deployment(revision={'revisionType': 'S3', ...}).",
                  "codedeploy.create_deployment(applicationName='workshop-03-web', deploymentGroupName="
                  "'workshop-03-web-fleet', revision={'revisionType': 'S3', 's3Location': {'bucket': BUCKET, "
                  "'key': 'sample-app/1.0.0.zip', 'bundleType': 'zip'}}); then wait until it is Succeeded"],
           docs=f"{_CD}/deployment-configurations.html")
def rolling_deployment(st: Deploy) -> Finding:
    if st.server_group is None:
        return _no_server(st)
    problem = _group_problem(st.server_group)
    if problem:
        return failed(problem)
    done = [d for d in reversed(_by_user(st.server_deployments)) if d.get("status") == "Succeeded"]
    if not done:
        seen = ", ".join(f"{d.get('deploymentId')} {d.get('status')}" for d in st.server_deployments[-3:])
        return failed(f"No deployment of {SERVER_GROUP} has succeeded yet"
                      + (f" (latest: {seen})." if seen else ": deploy revision 1.0.0."))
    for d in done:
        targets = [t for t in st.targets.get(d["deploymentId"], []) if t.get("status") == "Succeeded"]
        names = sorted(str(t.get("targetId")) for t in targets)
        if not set(INSTANCES) <= set(names):
            continue
        unfinished = [f"{t.get('targetId')} {e.get('lifecycleEventName')} {e.get('status')}" for t in targets
                      for e in t.get("lifecycleEvents") or [] if e.get("lifecycleEventName") in SERVER_EVENTS
                      and e.get("status") != "Succeeded"]
        if unfinished:
            return failed(f"Deployment {d['deploymentId']} reports its instances Succeeded, but not every lifecycle "
                          f"event ran and succeeded (batch_get_deployment_targets): {', '.join(unfinished[:4])}.")
        spans = sorted(s for s in (_span(t) for t in targets) if s)
        overlap = any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))
        if overlap:
            return failed(f"Deployment {d['deploymentId']} updated several instances at the same time: use "
                          f"{ONE_AT_A_TIME} so that three of four keep serving while one is updated.")
        first, last = spans[0][0], spans[-1][1]
        return passed(f"{d['deploymentId']} ({_s3_key(d.get('revision'))}) updated {len(names)} instances one "
                      f"after another in {(last - first).total_seconds():.1f} s, each through its {len(SERVER_EVENTS)} "
                      "lifecycle events, all Succeeded (batch_get_deployment_targets).")
    last = done[0]
    got = sorted(str(t.get("targetId")) for t in st.targets.get(last["deploymentId"], [])
                 if t.get("status") == "Succeeded")
    return failed(f"Deployment {last['deploymentId']} succeeded on {', '.join(got) or 'no instance'}, not on all of "
                  f"{', '.join(INSTANCES)}: register and tag the four instances, then deploy again.")


# -- step 3: a failing ValidateService and its rollback --------------------------------------------

@LAB.check("validate-rollback", title="A failing ValidateService failed the deployment and it rolled back",
           points=12, step="rollback",
           hints=["Deploy release 1.1.0, whose ValidateService hook fails on one instance, to the same group with "
                  "automatic rollback on DEPLOYMENT_FAILURE, and let CodeDeploy restore 1.0.0.",
                  "The group needs autoRollbackConfiguration={'enabled': True, 'events': ['DEPLOYMENT_FAILURE']} "
                  "(update_deployment_group); then create_deployment with the 1.1.0 revision; get_deployment "
                  "shows rollbackInfo.",
                  "codedeploy.update_deployment_group(applicationName='workshop-03-web', "
                  "currentDeploymentGroupName='workshop-03-web-fleet', autoRollbackConfiguration={'enabled': True, "
                  "'events': ['DEPLOYMENT_FAILURE']}); then deploy sample-app/1.1.0.zip and wait for the failure "
                  "and the rollback deployment"],
           docs=f"{_CD}/deployments-rollback-and-redeploy.html")
def validate_rollback(st: Deploy) -> Finding:
    if st.server_group is None:
        return _no_server(st)
    rollback_cfg = st.server_group.get("autoRollbackConfiguration") or {}
    failures = [d for d in reversed(_by_user(st.server_deployments)) if d.get("status") == "Failed"]
    validated = []
    for d in failures:
        broken = [t for t in st.targets.get(d["deploymentId"], [])
                  if _event(t, "ValidateService").get("status") == "Failed"]
        if broken:
            validated.append((d, broken))
    if not validated:
        if failures:
            last = failures[0]
            why = (last.get("errorInformation") or {}).get("message", "")
            return failed(f"Deployment {last['deploymentId']} failed, but not in ValidateService ({why[:160]}). "
                          "Deploy release 1.1.0, whose validate.sh fails on one instance.")
        if not (rollback_cfg.get("enabled") and "DEPLOYMENT_FAILURE" in (rollback_cfg.get("events") or [])):
            return failed(f"Group {SERVER_GROUP} does not roll back on DEPLOYMENT_FAILURE yet, and no deployment "
                          "has failed: turn on automatic rollback, then deploy release 1.1.0.")
        return failed(f"No deployment of {SERVER_GROUP} has failed in ValidateService yet: deploy release 1.1.0.")
    d, broken = validated[0]
    event = _event(broken[0], "ValidateService")
    diagnostics = event.get("diagnostics") or {}
    script = str(diagnostics.get("scriptName") or "")
    if diagnostics.get("errorCode") != "ScriptFailed" or not script:
        return failed(f"Deployment {d['deploymentId']} failed ValidateService on {broken[0].get('targetId')} with "
                      f"{diagnostics.get('errorCode') or 'no diagnostics'}, not a script of the revision that failed "
                      "(ScriptFailed): the failure must come from the revision's own ValidateService hook.")
    hooked = [str(h.get("location")) for h in (st.hooks.get(d["deploymentId"]) or {}).get("ValidateService") or []
              if isinstance(h, dict)]
    if not any(script == h or script.endswith("/" + h.lstrip("/")) or h.endswith("/" + script.lstrip("/"))
               for h in hooked):
        return failed(f"The failing script {script} is not a ValidateService hook of the deployed revision "
                      f"{_s3_key(d.get('revision'))} (its appspec.yml runs {', '.join(hooked) or 'none'}).")
    tail = [line for line in str(diagnostics.get("logTail") or "").splitlines() if line.strip()]
    rollback = _rollback_of(st, d)
    if rollback is None:
        return failed(f"Deployment {d['deploymentId']} failed in ValidateService on {broken[0].get('targetId')} but "
                      "was not rolled back: enable automatic rollback on DEPLOYMENT_FAILURE for the group "
                      "before you deploy.")
    if rollback.get("status") != "Succeeded":
        return failed(f"The rollback {rollback.get('deploymentId')} of {d['deploymentId']} is "
                      f"{rollback.get('status')}: {(rollback.get('errorInformation') or {}).get('message', '')}")
    before, restored = d.get("previousRevision"), rollback.get("revision")
    if before and restored and (before.get("s3Location") or {}).get("key") != \
            (restored.get("s3Location") or {}).get("key"):
        return failed(f"The rollback {rollback['deploymentId']} installed {_s3_key(restored)}, not the revision "
                      f"that was live before ({_s3_key(before)}).")
    updated = [t.get("targetId") for t in st.targets.get(d["deploymentId"], []) if t.get("status") == "Succeeded"]
    reinstalled = [t.get("targetId") for t in st.targets.get(rollback["deploymentId"], [])
                   if t.get("status") == "Succeeded"]
    return passed(f"{d['deploymentId']} failed ValidateService on {broken[0].get('targetId')} after updating "
                  f"{', '.join(updated) or 'no instance'}: the revision's hook {script} failed"
                  + (f" ({tail[-1].strip()[:120]!r})" if tail else "") + f"; rollback {rollback['deploymentId']} "
                  f"reinstalled {_s3_key(restored)} on {', '.join(reinstalled) or 'no instance'} "
                  "(batch_get_deployment_targets' diagnostics, the revision's appspec.yml).")


# -- step 4: the canary's alarm and group ---------------------------------------------------------

@LAB.check("errors-alarm", title="An alarm watches the Errors of the function's live alias", points=6,
           step="canary",
           hints=["Create the CloudWatch alarm workshop-03-orders-errors on the AWS/Lambda Errors metric of the "
                  "alias (dimensions FunctionName and Resource=workshop-03-orders:live): ALARM as soon as one "
                  "minute has an error.",
                  "cloudwatch.put_metric_alarm with Namespace='AWS/Lambda', MetricName='Errors', Statistic='Sum', "
                  "Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="
                  "'GreaterThanOrEqualToThreshold', TreatMissingData='notBreaching'.",
                  "cloudwatch.put_metric_alarm(AlarmName='workshop-03-orders-errors', Namespace='AWS/Lambda', "
                  "MetricName='Errors', Dimensions=[{'Name': 'FunctionName', 'Value': 'workshop-03-orders'}, "
                  "{'Name': 'Resource', 'Value': 'workshop-03-orders:live'}], Statistic='Sum', Period=60, "
                  "EvaluationPeriods=1, Threshold=1, ComparisonOperator='GreaterThanOrEqualToThreshold', "
                  "TreatMissingData='notBreaching', Tags=TAGS)"],
           docs="https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html")
def errors_alarm(st: Deploy) -> Finding:
    a = st.alarm
    if a is None:
        return failed(f"There is no CloudWatch alarm {ALARM_NAME}.")
    dims = {d.get("Name"): d.get("Value") for d in a.get("Dimensions") or [] if isinstance(d, dict)}
    if (a.get("Namespace"), a.get("MetricName")) != ("AWS/Lambda", "Errors"):
        return failed(f"{ALARM_NAME} watches {a.get('Namespace')} {a.get('MetricName')}, not AWS/Lambda Errors.")
    if dims.get("FunctionName") != FUNCTION_NAME or dims.get("Resource") != f"{FUNCTION_NAME}:{ALIAS}":
        return failed(f"{ALARM_NAME} watches the dimensions {dims}: use FunctionName={FUNCTION_NAME} and "
                      f"Resource={FUNCTION_NAME}:{ALIAS}, the errors of the traffic that reaches the alias.")
    threshold, op = a.get("Threshold"), a.get("ComparisonOperator")
    fires_on_one = (op == "GreaterThanOrEqualToThreshold" and threshold is not None and threshold <= 1) or \
                   (op == "GreaterThanThreshold" and threshold is not None and threshold < 1)
    if a.get("Statistic") not in ("Sum", "Maximum", "Average") or not fires_on_one:
        return failed(f"{ALARM_NAME} is {a.get('Statistic')} {op} {threshold}: a canary's alarm should fire on "
                      "the first errors (Sum >= 1), since only 10% of the requests reach the new version.")
    if (a.get("Period") or 0) > 60 or (a.get("EvaluationPeriods") or 0) > 2:
        return failed(f"{ALARM_NAME} needs {a.get('EvaluationPeriods')} periods of {a.get('Period')} s: "
                      "too slow to stop a 5-minute canary; use Period=60 and EvaluationPeriods=1.")
    if not has_lab_tag(st.alarm_tags, LAB_ID):
        return failed(f"{ALARM_NAME} does not carry the tag workshop:lab={LAB_ID}.")
    return passed(f"{ALARM_NAME}: Errors {a.get('Statistic')} {op} {threshold:g} over {a.get('Period')} s "
                  f"on {FUNCTION_NAME}:{ALIAS} (now {a.get('StateValue')}).")


@LAB.check("canary-group", title="The function's deployment group is a canary that rolls back on the alarm",
           points=8, step="canary",
           hints=["Create the Lambda application workshop-03-orders and its group workshop-03-orders-live with "
                  "CodeDeployDefault.LambdaCanary10Percent5Minutes, the errors alarm, and automatic rollback "
                  "when the alarm fires.",
                  "codedeploy.create_application(computePlatform='Lambda'); create_deployment_group with "
                  "alarmConfiguration={'enabled': True, 'alarms': [{'name': ALARM}]} and "
                  "autoRollbackConfiguration events DEPLOYMENT_FAILURE and DEPLOYMENT_STOP_ON_ALARM.",
                  "codedeploy.create_deployment_group(applicationName='workshop-03-orders', deploymentGroupName="
                  "'workshop-03-orders-live', serviceRoleArn=CODEDEPLOY_ROLE_ARN, deploymentConfigName="
                  "'CodeDeployDefault.LambdaCanary10Percent5Minutes', deploymentStyle={'deploymentType': "
                  "'BLUE_GREEN', 'deploymentOption': 'WITH_TRAFFIC_CONTROL'}, alarmConfiguration={'enabled': True, "
                  "'alarms': [{'name': 'workshop-03-orders-errors'}]}, autoRollbackConfiguration={'enabled': True, "
                  "'events': ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']}, tags=TAGS)"],
           docs=f"{_CD}/deployment-configurations.html")
def canary_group(st: Deploy) -> Finding:
    if st.lambda_group is None:
        return _no_lambda(st, "Create it with the canary configuration, the alarm and automatic rollback.")
    g = st.lambda_group
    if g.get("computePlatform") not in (None, "Lambda"):
        return failed(f"{LAMBDA_GROUP} is for the {g.get('computePlatform')} platform, not Lambda.")
    if g.get("deploymentConfigName") != CANARY:
        return failed(f"{LAMBDA_GROUP} uses {g.get('deploymentConfigName')}, not {CANARY}.")
    alarms = g.get("alarmConfiguration") or {}
    names = [a.get("name") for a in alarms.get("alarms") or [] if isinstance(a, dict)]
    if not alarms.get("enabled") or ALARM_NAME not in names:
        return failed(f"{LAMBDA_GROUP}'s alarm configuration is {'on' if alarms.get('enabled') else 'off'} with "
                      f"{names or 'no alarms'}: enable it with {ALARM_NAME}, so that the alarm stops a canary.")
    rollback = g.get("autoRollbackConfiguration") or {}
    if not rollback.get("enabled") or "DEPLOYMENT_STOP_ON_ALARM" not in (rollback.get("events") or []):
        return failed(f"{LAMBDA_GROUP} does not roll back automatically on DEPLOYMENT_STOP_ON_ALARM: without it, "
                      "a stopped canary leaves 10% of the traffic on the bad version.")
    return passed(f"{LAMBDA_GROUP}: {CANARY}, stopped by {ALARM_NAME}, rolled back on "
                  f"{', '.join(rollback.get('events') or [])}.")


# -- steps 4 and 5: the canaries ---------------------------------------------------------------

@LAB.check("canary-good", title="A good version went live through the canary while traffic ran", points=10,
           step="canary",
           hints=["Publish version 1.1 of the function and deploy it to the alias with the canary group while "
                  "labkit.traffic sends requests; wait until the deployment has Succeeded.",
                  "Start the traffic with labkit.traffic.start_traffic('workshop-03-orders:live', ...), then "
                  "codedeploy.create_deployment with an AppSpecContent revision naming CurrentVersion (the alias's "
                  "version) and TargetVersion (the new one).",
                  "spec = {'version': 0.0, 'Resources': [{'workshop-03-orders': {'Type': 'AWS::Lambda::Function', "
                  "'Properties': {'Name': 'workshop-03-orders', 'Alias': 'live', 'CurrentVersion': '1', "
                  "'TargetVersion': '2'}}}]}; codedeploy.create_deployment(applicationName='workshop-03-orders', "
                  "deploymentGroupName='workshop-03-orders-live', revision={'revisionType': 'AppSpecContent', "
                  "'appSpecContent': {'content': json.dumps(spec)}})"],
           docs=f"{_CD}/deployment-steps-lambda.html")
def canary_good(st: Deploy) -> Finding:
    if st.lambda_group is None:
        return _no_lambda(st, "Then deploy a good version through it.")
    good = _experiments(st)[0]
    if good is None:
        tried = [d for d in _by_user(st.lambda_deployments) if d.get("deploymentConfigName") == CANARY]
        if tried:
            last = tried[-1]
            return failed(f"No canary deployment of a new version has succeeded yet; the latest, "
                          f"{last.get('deploymentId')}, is {last.get('status')} "
                          f"({(last.get('errorInformation') or {}).get('message', '')[:160]}).")
        return failed(f"No deployment of {LAMBDA_GROUP} with {CANARY} yet: deploy version 1.1 (step 4).")
    current, target = _versions(good)
    window = st.windows.get("good")
    if window is None or window.invocations is None:
        return failed("CloudWatch could not be read for the canary's time window.")
    if window.invocations < 10:
        return failed(f"Only {_count(window.invocations)} requests reached {FUNCTION_NAME}:{ALIAS} during "
                      f"{good['deploymentId']}: send traffic (labkit.traffic) while the canary bakes, so that "
                      "the new version is tried by real requests before it gets them all.")
    if window.errors:
        return failed(f"{_count(window.errors)} of {_count(window.invocations)} requests failed during "
                      f"{good['deploymentId']}: the good version should not fail any.")
    tried, _ = window.of(target)
    if not tried:
        return failed(f"CloudWatch counts no request run by version {target} itself (AWS/Lambda Invocations, "
                      f"ExecutedVersion={target}) during {good['deploymentId']}: the canary's share of the traffic "
                      "must reach the new version while it bakes.")
    started, ended = parse_time(good.get("createTime")), parse_time(good.get("completeTime"))
    took = f" in {(ended - started).total_seconds():.1f} s" if started and ended else ""
    return passed(f"{good['deploymentId']} took version {current} to {target} by {CANARY}{took}; "
                  f"{_count(window.invocations)} requests meanwhile, {_count(tried)} of them run by version "
                  f"{target}, none failed (AWS/Lambda metrics by alias and ExecutedVersion).")


@LAB.check("canary-rollback", title="The alarm stopped a bad version at 10% and the deployment rolled back",
           points=12, step="canary-rollback",
           hints=["Publish the broken version 1.2 and deploy it with the canary group while traffic runs: the "
                  "errors of its 10% fire the alarm, CodeDeploy stops the deployment and rolls back.",
                  "Wait for the alarm to be OK first (describe_alarms), start the traffic, create_deployment, then "
                  "get_deployment: status Stopped, errorInformation ALARM_ACTIVE, rollbackInfo.",
                  "traffic = start_traffic('workshop-03-orders:live', count=REQUESTS, rate=RATE, payload=EVENT); "
                  "CANARY_DEPLOYMENT = deploy_function(BAD_VERSION); info = wait_for_deployment(CANARY_DEPLOYMENT); "
                  "then wait_for_deployment(info['rollbackInfo']['rollbackDeploymentId'])"],
           docs=f"{_CD}/monitoring-create-alarms.html")
def canary_rollback(st: Deploy) -> Finding:
    if st.lambda_group is None:
        return _no_lambda(st, "Then deploy the broken version through it.")
    _, canary, rollback, _, _ = _experiments(st)
    if canary is None:
        stopped = [d for d in _by_user(st.lambda_deployments) if d.get("status") in ("Stopped", "Failed")]
        if stopped:
            last = stopped[-1]
            return failed(f"{last.get('deploymentId')} ended {last.get('status')} with "
                          f"{(last.get('errorInformation') or {}).get('code')}, not stopped by the alarm "
                          "(ALARM_ACTIVE). Is the alarm in the group's alarm configuration?")
        bad = [d for d in _by_user(st.lambda_deployments) if d.get("deploymentConfigName") == CANARY
               and d.get("status") == "Succeeded"]
        if len(bad) > 1:
            return failed(f"Every canary of {LAMBDA_GROUP} succeeded: the alarm never stopped the broken "
                          "version. Send traffic during the canary and check the alarm's dimensions.")
        return failed("No canary has been stopped by the alarm yet: deploy the broken version 1.2 (step 5).")
    current, bad = _versions(canary)
    if rollback is None:
        return failed(f"{canary['deploymentId']} was stopped by the alarm but not rolled back: 10% of the traffic "
                      "still reaches the bad version. Enable automatic rollback on DEPLOYMENT_STOP_ON_ALARM.")
    if rollback.get("status") != "Succeeded":
        return failed(f"The rollback {rollback.get('deploymentId')} is {rollback.get('status')}.")
    weight = st.lambda_weights.get(canary["deploymentId"])
    if weight is not None and weight >= 1.0:
        return failed(f"{canary['deploymentId']} had shifted all the traffic to version {bad} before it was "
                      "stopped: the canary must be caught during its bake.")
    window = st.windows.get("canary")
    if window is None or not window.errors:
        return failed(f"CloudWatch has no errors of {FUNCTION_NAME}:{ALIAS} while {canary['deploymentId']} ran: "
                      "send traffic during the canary, so that the alarm fires on real failures.")
    bad_tried, bad_errors = window.of(bad)
    _, good_errors = window.of(current)
    if not bad_errors:
        return failed(f"CloudWatch counts {_count(window.errors)} errors on {FUNCTION_NAME}:{ALIAS} during "
                      f"{canary['deploymentId']}, but none run by version {bad} itself (AWS/Lambda Errors, "
                      f"ExecutedVersion={bad}): the bad version's own code must fail real requests.")
    if good_errors:
        return failed(f"During {canary['deploymentId']} version {current}, the one that stayed, failed "
                      f"{_count(good_errors)} requests too: the errors that stop the canary must be the new version's.")
    fired = [h for h in st.alarm_history if "to ALARM" in str(h.get("HistorySummary", ""))
             and window.start <= (parse_time(h.get("Timestamp")) or window.start) <= window.end]
    when = f", alarm {ALARM_NAME} in ALARM" if fired else ""
    share = f" at {weight:.0%}" if weight is not None else ""
    return passed(f"{canary['deploymentId']} (version {current} to {bad}) stopped{share}{when}; rollback "
                  f"{rollback['deploymentId']} put the alias back; {_count(window.errors)} of "
                  f"{_count(window.invocations)} requests failed, {_count(bad_errors)} of version {bad}'s "
                  f"{_count(bad_tried)} (AWS/Lambda by ExecutedVersion), none of version {current}'s.")


# -- step 6: blast radius and time to restore ---------------------------------------------------

@LAB.check("blast-radius", title="All at once, the same bad version failed at least 3 times the canary's requests",
           points=12, step="blast-radius",
           hints=["Deploy the same broken version again, now with CodeDeployDefault.LambdaAllAtOnce, while the same "
                  "traffic runs; compare the failed requests with the canary's.",
                  "create_deployment(..., deploymentConfigName='CodeDeployDefault.LambdaAllAtOnce') with the same "
                  "TargetVersion as the stopped canary; CloudWatch counts the alias's Errors in each deployment's "
                  "time window.",
                  "traffic = start_traffic('workshop-03-orders:live', count=REQUESTS, rate=RATE, payload=EVENT); "
                  "deploy_function(BAD_VERSION, config='CodeDeployDefault.LambdaAllAtOnce'); all_at_once = "
                  "traffic.result(); only then restore the good version"],
           docs="https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html")
def blast_radius(st: Deploy) -> Finding:
    if st.lambda_group is None:
        return _no_lambda(st, "Run the canary experiments first (steps 4 and 5).")
    _, canary, _, all_at_once, _ = _experiments(st)
    if canary is None:
        return failed("First let the alarm stop the broken version in a canary (step 5): its failed requests are "
                      "the baseline.")
    bad = _versions(canary)[1]
    if all_at_once is None:
        return failed(f"No {ALL_AT_ONCE} deployment of version {bad} (the version the canary caught) yet.")
    if all_at_once.get("status") != "Succeeded":
        return failed(f"{all_at_once['deploymentId']} is {all_at_once.get('status')}: deploy the broken version all "
                      "at once when the alarm is OK (it went through: nothing watched it long enough).")
    c, a = st.windows.get("canary"), st.windows.get("all-at-once")
    if c is None or a is None or c.of(bad)[1] is None or a.of(bad)[1] is None:
        return failed("CloudWatch could not be read for the deployments' time windows.")
    c_errors, a_errors = c.of(bad)[1], a.of(bad)[1]
    if not c_errors:
        return failed(f"CloudWatch counts no request failed by version {bad} during the canary "
                      f"{canary['deploymentId']} (AWS/Lambda Errors, ExecutedVersion={bad}).")
    ratio = a_errors / c_errors
    summary = (f"version {bad} failed {_count(c_errors)} requests in the canary {canary['deploymentId']} "
               f"({_count(c.invocations)} requests to the alias) and {_count(a_errors)} all at once in "
               f"{all_at_once['deploymentId']} ({_count(a.invocations)})")
    if ratio < BLAST_RATIO:
        return failed(f"{summary}: only {ratio:.1f} times as many. Send the same traffic in both experiments, and "
                      "restore only after the traffic has ended.")
    return passed(f"{summary}: {ratio:.0f} times the canary's (AWS/Lambda Errors by ExecutedVersion).")


@LAB.check("service-restored", title="After the all-at-once release, the good version was restored", points=6,
           step="blast-radius",
           hints=["Deploy the last good version back to the alias (all at once, the alarm overridden: it is "
                  "firing because of the very version you replace).",
                  "create_deployment with CurrentVersion = the broken version and TargetVersion = the good one, "
                  "deploymentConfigName='CodeDeployDefault.LambdaAllAtOnce' and overrideAlarmConfiguration="
                  "{'enabled': False}.",
                  "deploy_function(GOOD_VERSION, config='CodeDeployDefault.LambdaAllAtOnce', "
                  "overrideAlarmConfiguration={'enabled': False, 'alarms': []}, description=f'Restore after "
                  "{ALL_AT_ONCE_DEPLOYMENT}'); then live() shows the good version"],
           docs=f"{_CD}/deployments-rollback-and-redeploy.html")
def service_restored(st: Deploy) -> Finding:
    if st.lambda_group is None:
        return _no_lambda(st, "Run the experiments first (steps 4 to 6).")
    _, canary, _, all_at_once, restore = _experiments(st)
    if all_at_once is None:
        return failed("Nothing to restore yet: deploy the broken version all at once first.")
    if restore is None:
        return failed(f"No deployment has restored a good version since {all_at_once['deploymentId']}: the broken "
                      "version still answers every request.")
    if st.alias is None:
        return failed(f"The alias {FUNCTION_NAME}:{ALIAS} cannot be read.")
    live = str(st.alias.get("FunctionVersion"))
    extra = (st.alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    bad = _versions(canary)[1] if canary else None
    if live == bad or bad in extra:
        return failed(f"The alias {ALIAS} serves the broken version {bad} again "
                      f"({live}{' + ' + json.dumps(extra) if extra else ''}).")
    started, ended = parse_time(all_at_once.get("createTime")), parse_time(restore.get("completeTime"))
    took = f" {(ended - started).total_seconds():.1f} s after the release" if started and ended else ""
    return passed(f"{restore['deploymentId']} restored version {_versions(restore)[1]}{took}; {ALIAS} serves "
                  f"version {live}{' with ' + json.dumps(extra) if extra else ' only'}.")


# -- steps 7 and 8: the pipeline ---------------------------------------------------------------

STAGES = ("Source", "Build", "Approval", "Deploy")
PROVIDERS = {"Source": ("Source", "CodeCommit"), "Build": ("Build", "CodeBuild"),
             "Approval": ("Approval", "Manual"), "Deploy": ("Deploy", "CodeDeploy")}


@LAB.check("pipeline-defined", title="Pipeline: Source (CodeCommit), Build, manual Approval, Deploy (CodeDeploy)",
           points=8, step="pipeline",
           hints=["Create the pipeline workshop-03-pipeline with four stages in order: the repository's main branch, "
                  "the build project, a manual approval, and a CodeDeploy action to workshop-03-web-fleet that "
                  "deploys the build's output.",
                  "codepipeline.create_pipeline(pipeline={'name': ..., 'roleArn': ..., 'artifactStore': {'type': "
                  "'S3', 'location': BUCKET}, 'stages': [...]}) with action providers CodeCommit, CodeBuild, Manual "
                  "and CodeDeploy; the Deploy action's input is the Build action's output artifact.",
                  "Deploy stage: {'name': 'Deploy', 'actions': [{'name': 'Deploy', 'actionTypeId': {'category': "
                  "'Deploy', 'owner': 'AWS', 'provider': 'CodeDeploy', 'version': '1'}, 'configuration': "
                  "{'ApplicationName': 'workshop-03-web', 'DeploymentGroupName': 'workshop-03-web-fleet'}, "
                  "'inputArtifacts': [{'name': 'BuildOutput'}]}]}"],
           docs=f"{_CP}/pipelines-create.html")
def pipeline_defined(st: Deploy) -> Finding:
    if st.pipeline is None:
        return failed(st.pipeline_problem)
    stages = [s for s in st.pipeline.get("stages") or [] if isinstance(s, dict)]
    names = [s.get("name") for s in stages]
    if tuple(names) != STAGES:
        return failed(f"The stages are {' -> '.join(map(str, names)) or 'none'}; expected {' -> '.join(STAGES)}.")
    actions = {}
    for stage in stages:
        found = [a for a in stage.get("actions") or [] if isinstance(a, dict)]
        kind = PROVIDERS[stage["name"]]
        match = [a for a in found if ((a.get("actionTypeId") or {}).get("category"),
                                      (a.get("actionTypeId") or {}).get("provider")) == kind]
        if not match:
            return failed(f"Stage {stage['name']} has no {kind[1]} {kind[0].lower()} action.")
        actions[stage["name"]] = match[0]
    source = actions["Source"].get("configuration") or {}
    if source.get("RepositoryName") != REPO_NAME or source.get("BranchName") != "main":
        return failed(f"The source is {source.get('RepositoryName')}@{source.get('BranchName')}, not "
                      f"{REPO_NAME}@main.")
    if (actions["Build"].get("configuration") or {}).get("ProjectName") != BUILD_PROJECT:
        return failed(f"The build action runs project {(actions['Build'].get('configuration') or {}).get('ProjectName')}"
                      f", not {BUILD_PROJECT}.")
    deploy = actions["Deploy"].get("configuration") or {}
    if (deploy.get("ApplicationName"), deploy.get("DeploymentGroupName")) != (SERVER_APP, SERVER_GROUP):
        return failed(f"The deploy action targets {deploy.get('ApplicationName')}/{deploy.get('DeploymentGroupName')},"
                      f" not {SERVER_APP}/{SERVER_GROUP}.")
    built = {a.get("name") for a in actions["Build"].get("outputArtifacts") or [] if isinstance(a, dict)}
    shipped = {a.get("name") for a in actions["Deploy"].get("inputArtifacts") or [] if isinstance(a, dict)}
    if not built or not shipped <= built or not shipped:
        return failed("The Deploy action must take the Build action's output artifact (the tested bundle with "
                      f"appspec.yml), not {', '.join(sorted(map(str, shipped))) or 'nothing'}.")
    if not has_lab_tag(st.pipeline_tags, LAB_ID):
        return failed(f"The pipeline does not carry the tag workshop:lab={LAB_ID}.")
    return passed(f"{PIPELINE_NAME}: {REPO_NAME}@main -> {BUILD_PROJECT} -> manual approval -> "
                  f"{SERVER_APP}/{SERVER_GROUP}.")


def _shipped_problem(st: Deploy, build_id: str | None, deployment_id: str | None) -> str:
    """Why a pipeline run did not build tested code and ship the app ('' when it did)."""
    if build_id not in st.pipeline_reports:
        return "its build was not read (only the two newest successful runs are)"
    report = st.pipeline_reports[build_id]
    if report is None:
        return f"build {build_id} has no test report: the pipeline's build must run the tests (a reports section)"
    summary = report.get("testSummary") or {}
    counts = summary.get("statusCounts") or {}
    if int(summary.get("total") or 0) < len(sample_app_tests()) or \
            any(v for k, v in counts.items() if k != "SUCCEEDED"):
        return (f"build {build_id}'s report has {summary.get('total')} tests ({counts}), not the sample app's "
                f"{len(sample_app_tests())} all passing")
    bundle = st.bundles.get(deployment_id or "")
    if not isinstance(bundle, dict):
        return f"the deployed bundle cannot be read ({bundle or 'not read'})"
    app = {p: b for p, b in sample_app_blobs().items() if p.startswith("app/")}
    absent = [p for p, blob in app.items() if bundle.get(p) != blob]
    if "appspec.yml" not in bundle or absent:
        return (f"the bundle deployed by {deployment_id} lacks " + ", ".join((["appspec.yml"] if "appspec.yml" not
                                                                            in bundle else []) + absent[:4])
                + " (the sample app's files, compared by content)")
    return ""


@LAB.check("pipeline-released", title="A git push ran the pipeline; you approved it and it deployed", points=10,
           step="release",
           hints=["Push a commit to main of workshop-03-deploy-app; when the execution waits in Approval, approve it "
                  "with put_approval_result and let it deploy.",
                  "git push, then codepipeline.get_pipeline_state(name=...) shows the Approval action's token; "
                  "codepipeline.put_approval_result(..., result={'status': 'Approved', 'summary': ...}, token=...).",
                  "codepipeline.put_approval_result(pipelineName='workshop-03-pipeline', stageName='Approval', "
                  "actionName='Approve', result={'summary': 'Ship 1.2.0', 'status': 'Approved'}, token=TOKEN)"],
           docs=f"{_CP}/approvals-approve-or-reject.html")
def pipeline_released(st: Deploy) -> Finding:
    if st.pipeline is None:
        return failed(st.pipeline_problem)
    pushed = [e for e in st.executions if (e.get("trigger") or {}).get("triggerType") in PUSH_TRIGGERS]
    if not pushed:
        kinds = ", ".join(sorted({str((e.get("trigger") or {}).get("triggerType")) for e in st.executions}))
        return failed("No execution was started by a push to the repository"
                      + (f" (only by {kinds})." if kinds else ".") + " Push a commit to main.")
    problems: list[str] = []
    for e in pushed:
        if e.get("status") != "Succeeded" or e.get("pipelineExecutionId") not in st.action_runs:
            continue
        runs = {r.get("stageName"): r for r in st.action_runs[e["pipelineExecutionId"]]}
        approval, deploy = runs.get("Approval"), runs.get("Deploy")
        if not approval or approval.get("status") != "Succeeded" or not deploy:
            continue
        deployment_id = ((deploy.get("output") or {}).get("executionResult") or {}).get("externalExecutionId")
        info = st.deployment(deployment_id) or {}
        if info.get("status") != "Succeeded":
            continue
        commit = next((r.get("revisionId") for r in e.get("sourceRevisions") or [] if r.get("revisionId")), "")
        said = ((approval.get("output") or {}).get("executionResult") or {}).get("externalExecutionSummary")
        build = runs.get("Build") or {}
        build_id = ((build.get("output") or {}).get("executionResult") or {}).get("externalExecutionId")
        problem = _shipped_problem(st, build_id, deployment_id)
        if problem:
            problems.append(f"execution {e['pipelineExecutionId'][:8]}: {problem}")
            continue
        summary = (st.pipeline_reports.get(build_id) or {}).get("testSummary") or {}
        return passed(f"Execution {e['pipelineExecutionId'][:8]} of commit {commit[:8]}: build {build_id} ran the "
                      f"tests ({summary.get('total')} passed, its report), approved{f' ({said!r})' if said else ''}, "
                      f"deployed as {deployment_id} to {(info.get('deploymentOverview') or {}).get('Succeeded', '?')} "
                      "instances, a bundle holding the app and appspec.yml (its zip in S3).")
    if problems:
        return failed("; ".join(problems) + ".")
    latest = pushed[0]
    status = latest.get("status")
    if status == "InProgress":
        return failed(f"Execution {latest.get('pipelineExecutionId', '')[:8]} is still InProgress: when it waits "
                      "in Approval, approve it with put_approval_result (get_pipeline_state shows the token).")
    reason = (latest.get("statusSummary") or "")[:200]
    return failed(f"The latest pushed execution {latest.get('pipelineExecutionId', '')[:8]} is {status}"
                  f"{': ' + reason if reason else ''}. Fix what failed (get_pipeline_state), push again and approve.")
