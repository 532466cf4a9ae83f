"""Lab 05-containers checks, Parts 1-3: the sample app's image in ECR, its lifecycle policy
previewed before it was put, a scan finding fixed (ECR's own scans), an ECS service behind the
load balancer, v2 rolled out with no failed request (the load balancer's AWS/ApplicationELB
counts over the rollout ECS recorded), a bad image rolled back by the circuit breaker (ECS's
service deployment records), and a CodeDeploy blue/green deployment tested on its test listener."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from checker.labs import by_learner, param, parse_time, trail_events
from checker.registry import Finding, failed, lab, passed

LAB_ID = "05-containers"
REPO_NAME = "workshop-05-app"
CLUSTER = "workshop-05"
SERVICE = "workshop-05-web"
LOAD_BALANCER = "workshop-05-web"
TARGET_GROUP = "workshop-05-web"
BG_SERVICE = "workshop-05-bg"
BG_LOAD_BALANCER = "workshop-05-bg"
BLUE_GROUP = "workshop-05-blue"
GREEN_GROUP = "workshop-05-green"
CD_APP = "workshop-05-bg"
CD_GROUP = "workshop-05-bg"
CD_ROLE = "workshop-05-codedeploy"     # the role CodeDeploy acts with
PLANTED = "CVE-2024-3651"          # idna 3.6, pinned in the sample app's requirements.txt
PLANTED_PACKAGE = "idna"
BUILD_PREFIX = "build-"            # the tags of CI builds the lifecycle policy keeps a few of

MIN_ROLLOUT_REQUESTS = 10          # requests the load balancer served during the v2 rollout
MIN_RUNNING = 2
FAILED_METRICS = ("HTTPCode_Target_4XX_Count", "HTTPCode_Target_5XX_Count", "HTTPCode_ELB_4XX_Count",
                  "HTTPCode_ELB_5XX_Count")
ELB_NAMESPACE = "AWS/ApplicationELB"

LAB = lab(LAB_ID, "Containers: ECR, ECS behind a load balancer, blue/green")

_ECR = "https://docs.aws.amazon.com/AmazonECR/latest/userguide"
_ECS = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide"
_CD = "https://docs.aws.amazon.com/codedeploy/latest/userguide"


# -- the read ---------------------------------------------------------------------------

@dataclass
class Image:
    digest: str
    tags: list[str]
    pushed: datetime | None
    scan: str | None                      # imageScanStatus.status
    findings: list[str] | None = None     # finding names (read for scanned images)
    layers: list[str] = field(default_factory=list)


@dataclass
class Rollout:
    """One ECS service deployment as ECS recorded it, with the images it went from and to."""
    arn: str
    status: str
    started: datetime | None
    finished: datetime | None
    breaker: str                          # deploymentCircuitBreaker.status
    rollback_reason: str
    source_images: list[str]
    target_images: list[str]
    source_definitions: list[str]
    target_definition: str | None


@dataclass
class Observed:
    account: str
    region: str
    repo: dict | None = None
    repo_created: datetime | None = None
    images: list[Image] = field(default_factory=list)
    policy_text: str | None = None
    preview: dict | None = None
    previews_started: list[tuple[datetime, list[dict]]] = field(default_factory=list)   # CloudTrail: (when, rules)
    policies_put: list[tuple[datetime, list[dict]]] = field(default_factory=list)
    service: dict | None = None
    service_image: str | None = None
    balancer: dict | None = None
    listeners: list[dict] = field(default_factory=list)
    target_health: list[dict] = field(default_factory=list)
    rollouts: list[Rollout] = field(default_factory=list)
    lb_requests: float | None = None      # requests the lab's load balancer ever served
    rollout_counts: dict[str, dict[str, float | None]] = field(default_factory=dict)   # arn -> metric -> sum
    bg: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)    # what added readers keep


_added_readers: list[Callable[[Any, Observed], None]] = []


def add_reader(func: Callable[[Any, Observed], None]) -> Callable[[Any, Observed], None]:
    """Another part of the lab reads its own resources into ``Observed.extra`` in the same read."""
    if func not in _added_readers:
        _added_readers.append(func)
    return func


@LAB.reader
def read(account) -> Observed:
    st = Observed(account.id, account.region)
    _read_repository(account, st)
    _read_service(account, st)
    _read_bluegreen(account, st)
    for extra in _added_readers:
        extra(account, st)
    return st


def _read_repository(account, st: Observed) -> None:
    found = account.call("ecr", "describe_repositories", repositoryNames=[REPO_NAME])
    if not found:
        return
    st.repo = found["repositories"][0]
    st.repo_created = parse_time(st.repo.get("createdAt"))
    details: list[dict] = []
    token = None
    for _ in range(10):
        page = account.call("ecr", "describe_images", repositoryName=REPO_NAME,
                            **({"nextToken": token} if token else {}))
        if page is None:
            break
        details += page.get("imageDetails") or []
        token = page.get("nextToken")
        if not token:
            break
    details.sort(key=lambda d: parse_time(d.get("imagePushedAt")) or datetime.min.replace(tzinfo=timezone.utc))
    for d in details[-30:]:
        image = Image(d["imageDigest"], list(d.get("imageTags") or []), parse_time(d.get("imagePushedAt")),
                      (d.get("imageScanStatus") or {}).get("status"))
        if image.scan == "COMPLETE":
            got = account.call("ecr", "describe_image_scan_findings", repositoryName=REPO_NAME,
                               imageId={"imageDigest": image.digest})
            image.findings = [f.get("name", "") for f in ((got or {}).get("imageScanFindings") or {})
                              .get("findings") or []] if got else None
        st.images.append(image)
    if st.images:
        got = account.call("ecr", "batch_get_image", repositoryName=REPO_NAME,
                           imageIds=[{"imageDigest": i.digest} for i in st.images[-30:]],
                           acceptedMediaTypes=["application/vnd.oci.image.manifest.v1+json",
                                               "application/vnd.docker.distribution.manifest.v2+json"])
        by_digest = {i.digest: i for i in st.images}
        for item in (got or {}).get("images") or []:
            try:
                manifest = json.loads(item.get("imageManifest") or "{}")
            except ValueError:
                continue
            image = by_digest.get((item.get("imageId") or {}).get("imageDigest"))
            if image is not None:
                image.layers = [layer.get("digest", "") for layer in manifest.get("layers") or []]
    policy = account.call("ecr", "get_lifecycle_policy", repositoryName=REPO_NAME)
    st.policy_text = (policy or {}).get("lifecyclePolicyText")
    st.preview = account.call("ecr", "get_lifecycle_policy_preview", repositoryName=REPO_NAME)
    since = st.repo_created or datetime.min.replace(tzinfo=timezone.utc)
    for name, into in (("StartLifecyclePolicyPreview", st.previews_started), ("PutLifecyclePolicy", st.policies_put)):
        for e in trail_events(account, name) or []:
            when = parse_time(e.get("eventTime"))
            if param(e, "repositoryName") == REPO_NAME and by_learner(e) and not e.get("errorCode") \
                    and when is not None and when >= since - timedelta(seconds=1):
                into.append((when, _rules(param(e, "lifecyclePolicyText"))))


def _revision_images(account, arns: list[str]) -> dict[str, tuple[str | None, list[str]]]:
    """Service revision ARN -> (its task definition, its container images)."""
    out: dict[str, tuple[str | None, list[str]]] = {}
    for at in range(0, len(arns), 20):
        got = account.call("ecs", "describe_service_revisions", serviceRevisionArns=arns[at:at + 20])
        for r in (got or {}).get("serviceRevisions") or []:
            out[r["serviceRevisionArn"]] = (r.get("taskDefinition"),
                                            [c.get("image", "") for c in r.get("containerImages") or []])
    return out


def _read_service(account, st: Observed) -> None:
    found = account.call("ecs", "describe_services", cluster=CLUSTER, services=[SERVICE])
    services = [s for s in (found or {}).get("services") or [] if s.get("status") == "ACTIVE"]
    if not services:
        return
    st.service = services[0]
    definition = account.call("ecs", "describe_task_definition", taskDefinition=st.service["taskDefinition"])
    containers = ((definition or {}).get("taskDefinition") or {}).get("containerDefinitions") or []
    st.service_image = containers[0].get("image") if containers else None
    briefs = account.call("ecs", "list_service_deployments", cluster=CLUSTER, service=SERVICE, maxResults=20)
    arns = [b["serviceDeploymentArn"] for b in (briefs or {}).get("serviceDeployments") or []]
    records = (account.call("ecs", "describe_service_deployments", serviceDeploymentArns=arns) or {}
               ).get("serviceDeployments") or [] if arns else []
    revisions = _revision_images(account, sorted({r["arn"] for rec in records
                                                  for r in [*(rec.get("sourceServiceRevisions") or []),
                                                            rec.get("targetServiceRevision") or {}] if r.get("arn")}))
    for rec in records:
        target = revisions.get((rec.get("targetServiceRevision") or {}).get("arn", ""), (None, []))
        sources = [revisions.get(s.get("arn", ""), (None, [])) for s in rec.get("sourceServiceRevisions") or []]
        st.rollouts.append(Rollout(
            arn=rec["serviceDeploymentArn"], status=rec.get("status", ""), started=parse_time(rec.get("startedAt")),
            finished=parse_time(rec.get("finishedAt")),
            breaker=(rec.get("deploymentCircuitBreaker") or {}).get("status", ""),
            rollback_reason=(rec.get("rollback") or {}).get("reason", ""),
            source_images=[i for _, images in sources for i in images],
            target_images=target[1], source_definitions=[d for d, _ in sources if d], target_definition=target[0]))
    found = account.call("elbv2", "describe_load_balancers", Names=[LOAD_BALANCER])
    if found and found.get("LoadBalancers"):
        st.balancer = found["LoadBalancers"][0]
        st.listeners = (account.call("elbv2", "describe_listeners", LoadBalancerArn=st.balancer["LoadBalancerArn"])
                        or {}).get("Listeners") or []
        dims = {"LoadBalancer": _dimension(st.balancer["LoadBalancerArn"])}
        since = st.repo_created or parse_time(st.balancer.get("CreatedTime")) or datetime.now(timezone.utc)
        st.lb_requests = _metric_total(account, "RequestCount", dims, since, datetime.now(timezone.utc)
                                       + timedelta(minutes=1))
        for r in st.rollouts:
            if r.status == "SUCCESSFUL" and r.started and r.finished:
                # Requests: only periods that began within the rollout; failures: every period it touched.
                st.rollout_counts[r.arn] = {
                    "RequestCount": _metric_total(account, "RequestCount", dims, r.started, r.finished, whole=False),
                    **{name: _metric_total(account, name, dims, r.started, r.finished) for name in FAILED_METRICS}}
    for lb in (st.service or {}).get("loadBalancers") or []:
        if lb.get("targetGroupArn"):
            st.target_health = (account.call("elbv2", "describe_target_health", TargetGroupArn=lb["targetGroupArn"])
                                or {}).get("TargetHealthDescriptions") or []
            break


def _read_bluegreen(account, st: Observed) -> None:
    bg = st.bg
    app = account.call("codedeploy", "get_application", applicationName=CD_APP)
    bg["application"] = (app or {}).get("application")
    group = account.call("codedeploy", "get_deployment_group", applicationName=CD_APP, deploymentGroupName=CD_GROUP)
    bg["group"] = (group or {}).get("deploymentGroupInfo")
    if not bg["group"]:
        return
    listed = account.call("codedeploy", "list_deployments", applicationName=CD_APP, deploymentGroupName=CD_GROUP,
                          includeOnlyStatuses=["Succeeded"])
    ids = ((listed or {}).get("deployments") or [])[:10]
    infos = (account.call("codedeploy", "batch_get_deployments", deploymentIds=ids) or {}).get("deploymentsInfo") \
        or [] if ids else []
    bg["deployments"] = []
    found = account.call("elbv2", "describe_load_balancers", Names=[BG_LOAD_BALANCER])
    balancer = ((found or {}).get("LoadBalancers") or [{}])[0].get("LoadBalancerArn")
    for info in infos:
        targets = account.call("codedeploy", "batch_get_deployment_targets", deploymentId=info["deploymentId"],
                               targetIds=[f"{CLUSTER}:{BG_SERVICE}"])
        target = (((targets or {}).get("deploymentTargets") or [{}])[0]).get("ecsTarget") or {}
        events = {e.get("lifecycleEventName"): e for e in target.get("lifecycleEvents") or []}
        green = next((t for t in target.get("taskSetsInfo") or [] if t.get("taskSetLabel") == "Green"), {})
        blue = next((t for t in target.get("taskSetsInfo") or [] if t.get("taskSetLabel") == "Blue"), {})
        test_requests = None
        tested, shifted = (parse_time((events.get("AllowTestTraffic") or {}).get("endTime")),
                           parse_time((events.get("AllowTraffic") or {}).get("startTime")))
        green_group = (green.get("targetGroup") or {}).get("name")
        if tested and shifted and green_group and balancer:
            groups = account.call("elbv2", "describe_target_groups", Names=[green_group])
            arn = ((groups or {}).get("TargetGroups") or [{}])[0].get("TargetGroupArn")
            # Before AllowTestTraffic no listener reaches green; from AllowTraffic on production does.
            # Only the periods that ended by the shift (each stamped with its start, EndTime excluded):
            # the one it falls in may hold production's first requests.
            start = parse_time(info.get("createTime")) or tested
            end = _period_start(account, shifted)
            test_requests = 0.0
            if arn and end > start:
                test_requests = _metric_total(account, "RequestCount", {
                    "LoadBalancer": _dimension(balancer), "TargetGroup": _dimension(arn)}, start, end,
                    whole=False)
        spec = ((info.get("revision") or {}).get("appSpecContent") or {}).get("content") or ""
        bg["deployments"].append({"info": info, "target": target, "events": events, "green": green, "blue": blue,
                                  "test_requests": test_requests, "tested": tested, "shifted": shifted,
                                  "task_definition": _appspec_task_definition(spec)})
    sets = account.call("ecs", "describe_task_sets", cluster=CLUSTER, service=BG_SERVICE)
    bg["task_sets"] = (sets or {}).get("taskSets") or []


def _appspec_task_definition(content: str) -> str | None:
    """The TaskDefinition of an ECS AppSpec (JSON or YAML)."""
    try:
        import yaml

        spec = yaml.safe_load(content) or {}
        for resource in spec.get("Resources") or []:
            for value in (resource or {}).values():
                definition = ((value or {}).get("Properties") or {}).get("TaskDefinition")
                if definition:
                    return str(definition)
    except (ValueError, AttributeError, TypeError, yaml.YAMLError):
        return None
    return None


def _dimension(arn: str) -> str:
    """``app/NAME/ID`` of a load balancer ARN, ``targetgroup/NAME/ID`` of a target group's."""
    tail = arn.split(":", 5)[-1]
    return tail[len("loadbalancer/"):] if tail.startswith("loadbalancer/") else tail


def _elb_period(account) -> float:
    """The load balancer's metric period in real seconds: a minute of the workshop clock (the cloud
    counts per minute of its clock, 0.5 s to 60 s of real time), a minute on AWS."""
    return min(60.0, max(0.5, 60.0 / account.time_scale))


def _period_start(account, when: datetime) -> datetime:
    """The start of the load balancer's metric period that ``when`` falls in (its stamp)."""
    width, stamp = _elb_period(account), when.timestamp()
    return datetime.fromtimestamp(stamp - stamp % width, tz=timezone.utc)


def _metric_total(account, metric: str, dimensions: dict[str, str], start: datetime, end: datetime,
                  whole: bool = True) -> float | None:
    """The Sum of an AWS/ApplicationELB metric over [start, end) (each period stamped with its start;
    ``whole``: also the periods the window's ends fall in, else only the periods that began in it)."""
    if whole:
        start = _period_start(account, start)
        end = end + timedelta(seconds=_elb_period(account))
    answer = account.call("cloudwatch", "get_metric_statistics", Namespace=ELB_NAMESPACE, MetricName=metric,
                          Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
                          StartTime=start, EndTime=end, Period=60, Statistics=["Sum"])
    if answer is None:
        return None
    return float(sum(p.get("Sum") or 0 for p in answer.get("Datapoints") or []))


# -- helpers --------------------------------------------------------------------------

def _no_repo(st: Observed) -> Finding | None:
    if st.repo is None:
        return failed(f"No ECR repository {REPO_NAME} yet: run Part 1's first cells.")
    return None


def _in_repo(st: Observed, image: str | None) -> bool:
    return bool(image and st.repo and image.startswith(st.repo.get("repositoryUri", "") + ":")
                or image and st.repo and image.startswith(st.repo.get("repositoryUri", "") + "@"))


def _vulnerable(st: Observed) -> list[Image]:
    return [i for i in st.images if i.findings and PLANTED in i.findings]


# -- Part 1: the image ----------------------------------------------------------------------------

@LAB.check("image-pushed", title="The sample app's image pushed to ECR", points=10, step="image",
           hints=[f"Make the ECR repository {REPO_NAME} (scan on push) and push the sample app's image to it.",
                  "workshop image build FOLDER -t REPOSITORY_URI:TAG builds the folder on the Python base image "
                  "and pushes it with your account's ECR token (no Docker needed); build_image(...) runs it.",
                  f"ecr.create_repository(repositoryName='{REPO_NAME}', imageScanningConfiguration="
                  "{'scanOnPush': True}); build_image(APP, f\"{uri}:v1\")"],
           docs=f"{_ECR}/image-push.html")
def image_pushed(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    built = [i for i in st.images if i.tags and len(i.layers) >= 2]
    if not built:
        return failed(f"{REPO_NAME} holds no tagged image of the app on a base (an image with its layers).")
    latest = built[-1]
    return passed(f"{len(st.images)} image(s) in {REPO_NAME}; newest tagged {', '.join(latest.tags)} "
                  f"({latest.digest[:19]}..., {len(latest.layers)} layers).")


def _rules(text: str | None) -> list[dict]:
    try:
        rules = json.loads(text or "{}").get("rules") or []
    except (ValueError, AttributeError):
        return []
    return [r for r in rules if isinstance(r, dict)]


@LAB.check("lifecycle-previewed", title="A lifecycle policy, previewed before it was put", points=10, step="image",
           hints=[f"Give {REPO_NAME} a lifecycle policy that keeps the last few {BUILD_PREFIX}* images and expires "
                  "untagged ones; preview it first and read what it would expire.",
                  "start_lifecycle_policy_preview(repositoryName=..., lifecyclePolicyText=...), then "
                  "get_lifecycle_policy_preview until COMPLETE; only then put_lifecycle_policy with the same text.",
                  "rules: {tagStatus: tagged, tagPrefixList: ['build-'], countType: imageCountMoreThan, "
                  "countNumber: 2} and {tagStatus: untagged, countType: sinceImagePushed, countUnit: days, "
                  "countNumber: 1}; push a few build-N images first so that the preview has something to expire."],
           docs=f"{_ECR}/LifecyclePolicies.html")
def lifecycle_previewed(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    rules = _rules(st.policy_text)
    if not rules:
        return failed(f"{REPO_NAME} has no lifecycle policy.")
    selections = [r.get("selection") or {} for r in rules]
    if not any(s.get("tagStatus") == "tagged" and s.get("countType") == "imageCountMoreThan" for s in selections):
        return failed("The policy has no rule that keeps a number of tagged images (tagged, imageCountMoreThan).")
    if not any(s.get("tagStatus") == "untagged" for s in selections):
        return failed("The policy has no rule for untagged images.")
    preview = st.preview or {}
    if preview.get("status") != "COMPLETE":
        return failed(f"No completed lifecycle policy preview of {REPO_NAME}.")
    if _rules(preview.get("lifecyclePolicyText")) != rules:
        return failed("The last preview was of another policy than the one on the repository: preview the policy "
                      "you put.")
    if not preview.get("previewResults"):
        return failed("The preview expires nothing: push a few images the policy selects, then preview again.")
    puts = [when for when, put in st.policies_put if put == rules]
    if not puts:
        return failed("CloudTrail shows no PutLifecyclePolicy of this policy.")
    # CloudTrail's times are whole seconds: a preview in the same second as the put counts as before it.
    if not any(when <= max(puts) for when, previewed in st.previews_started if previewed == rules):
        return failed("The policy was put before it was previewed (CloudTrail): preview first, then put it.")
    return passed(f"The preview listed {len(preview['previewResults'])} image(s) to expire before the policy of "
                  f"{len(rules)} rule(s) was put.")


@LAB.check("scan-fixed", title="The scan's finding fixed in a newer image", points=15, step="image",
           hints=[f"The scan on push of the first image reports {PLANTED} ({PLANTED_PACKAGE}); fix the pin in the "
                  "app's requirements.txt, build and push again, and read the new image's scan.",
                  "describe_image_scan_findings(repositoryName=..., imageId={'imageTag': ...}) lists each finding "
                  "with its package and the version that fixes it.",
                  "requirements.txt: idna==3.7; build_image(APP, f\"{uri}:v2\"), then wait for its scan to be "
                  "COMPLETE with no finding."],
           docs=f"{_ECR}/image-scanning-basic.html")
def scan_fixed(st: Observed) -> Finding:
    if (problem := _no_repo(st)) is not None:
        return problem
    vulnerable = _vulnerable(st)
    if not vulnerable:
        return failed(f"No scanned image in {REPO_NAME} reports {PLANTED}: push the app as it is first "
                      "(with scan on push).")
    first = vulnerable[0]
    later = [i for i in st.images if i.pushed and first.pushed and i.pushed > first.pushed]
    scanned = [i for i in later if i.scan == "COMPLETE" and i.findings is not None]
    if not scanned:
        return failed(f"No image pushed after {first.digest[:19]}... has a completed scan.")
    clean = [i for i in scanned if PLANTED not in i.findings]
    if not clean:
        return failed(f"Every image scanned since still reports {PLANTED}: fix the pin in requirements.txt.")
    # The fix is the app rebuilt: the same base layer and as many layers (base, the requirements' packages,
    # the app), not some other image that happens to be clean (an app without its requirements).
    same_base = [i for i in clean if i.layers and first.layers and i.layers[0] == first.layers[0]
                 and len(i.layers) == len(first.layers)]
    if not same_base:
        return failed("No clean image is the app rebuilt (on the same base image, its requirements installed) "
                      "after the one with the finding.")
    fixed = same_base[0]
    return passed(f"{PLANTED} in {', '.join(first.tags) or first.digest[:19]}; gone from "
                  f"{', '.join(fixed.tags) or fixed.digest[:19]} ({len(fixed.findings)} finding(s)).")


# -- Part 2: the service --------------------------------------------------------------------------

def _no_service(st: Observed) -> Finding | None:
    if st.service is None:
        return failed(f"No ECS service {SERVICE} in cluster {CLUSTER}.")
    return None


@LAB.check("service-behind-lb", title="An ECS service behind the load balancer, with the circuit breaker",
           points=10, step="service",
           hints=[f"Run the image as the ECS service {SERVICE} (cluster {CLUSTER}, at least {MIN_RUNNING} tasks) "
                  f"behind the load balancer {LOAD_BALANCER}, with the deployment circuit breaker on.",
                  "create_service(..., loadBalancers=[{targetGroupArn, containerName, containerPort}], "
                  "deploymentConfiguration={'deploymentCircuitBreaker': {'enable': True, 'rollback': True}}) and a "
                  "listener on port 80 forwarding to the target group; send requests to load_balancer_url(...).",
                  "See the solution's create_target_group / create_listener / create_service calls in Part 2."],
           docs=f"{_ECS}/service-load-balancing.html")
def service_behind_lb(st: Observed) -> Finding:
    if (problem := _no_service(st)) is not None:
        return problem
    if st.balancer is None:
        return failed(f"No load balancer {LOAD_BALANCER}.")
    groups = [lb.get("targetGroupArn") for lb in st.service.get("loadBalancers") or []]
    forwarded = {g.get("TargetGroupArn") for l in st.listeners for a in l.get("DefaultActions") or []
                 for g in ([{"TargetGroupArn": a.get("TargetGroupArn")}] +
                           ((a.get("ForwardConfig") or {}).get("TargetGroups") or []))}
    if not groups or not set(groups) & forwarded:
        return failed(f"{SERVICE} is not registered with a target group a listener of {LOAD_BALANCER} forwards to.")
    breaker = (st.service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    if not (breaker.get("enable") and breaker.get("rollback")):
        return failed(f"{SERVICE}'s deployment circuit breaker is not on with rollback.")
    healthy = [d for d in st.target_health if (d.get("TargetHealth") or {}).get("State") == "healthy"]
    if st.service.get("runningCount", 0) < MIN_RUNNING or len(healthy) < MIN_RUNNING:
        return failed(f"{SERVICE} runs {st.service.get('runningCount', 0)} task(s), {len(healthy)} healthy "
                      f"target(s); at least {MIN_RUNNING} needed.")
    if not st.lb_requests:
        return failed(f"{LOAD_BALANCER} has served no request (its AWS/ApplicationELB RequestCount): send some.")
    return passed(f"{SERVICE}: {st.service['runningCount']} tasks, {len(healthy)} healthy targets behind "
                  f"{LOAD_BALANCER}, which served {st.lb_requests:g} requests.")


def _real_rollouts(st: Observed) -> list[Rollout]:
    """Successful deployments from one image of the repository to another (a new image, not the same
    task definition started again)."""
    return [r for r in st.rollouts if r.status == "SUCCESSFUL" and r.source_images and r.target_images
            and set(r.target_images).isdisjoint(r.source_images) and all(_in_repo(st, i) for i in r.target_images)]


@LAB.check("rollout-zero-failures", title="v2 rolled out with zero failed requests", points=20, step="service",
           hints=["Push v2 of the app, register a task definition revision with it and update the service while "
                  "steady traffic goes to the load balancer.",
                  "The check reads the load balancer's own AWS/ApplicationELB counts over the rollout ECS recorded "
                  f"(list_service_deployments): at least {MIN_ROLLOUT_REQUESTS} requests and no 4XX or 5XX.",
                  "traffic = start_http_traffic(url + '/health', count=100000, rate=20); update_service(..., "
                  "taskDefinition=v2); wait_for_rollout(...); traffic.stop(); elb_counts(...)"],
           docs=f"{_ECS}/deployment-type-ecs.html")
def rollout_zero_failures(st: Observed) -> Finding:
    if (problem := _no_service(st)) is not None:
        return problem
    if st.balancer is None:
        return failed(f"No load balancer {LOAD_BALANCER}.")
    rollouts = _real_rollouts(st)
    if not rollouts:
        done = [r for r in st.rollouts if r.status == "SUCCESSFUL" and r.source_images]
        if done:
            return failed(f"{SERVICE}'s completed deployments started the same image again (a forced new "
                          "deployment is no rollout): deploy a task definition with v2's image.")
        return failed(f"{SERVICE} has no completed deployment from one image to another yet.")
    problems = []
    for r in rollouts:
        counts = st.rollout_counts.get(r.arn) or {}
        requests = counts.get("RequestCount") or 0
        failures = sum(counts.get(m) or 0 for m in FAILED_METRICS)
        span = f"{r.started:%H:%M:%S}-{r.finished:%H:%M:%S}"
        if requests >= MIN_ROLLOUT_REQUESTS and failures == 0:
            return passed(f"The rollout to {r.target_images[0].rsplit('/', 1)[-1]} ({span}): {LOAD_BALANCER} "
                          f"served {requests:g} requests, 0 failed.")
        problems.append(f"{span}: {requests:g} requests, {failures:g} failed")
    return failed(f"No rollout had at least {MIN_ROLLOUT_REQUESTS} requests and none failed, as {LOAD_BALANCER} "
                  f"counted them ({'; '.join(problems)}).")


@LAB.check("circuit-breaker-rollback", title="A bad image rolled back by the circuit breaker", points=15,
           step="service",
           hints=["Deploy an image whose container exits at start and watch the deployment circuit breaker "
                  "fail the rollout and roll the service back.",
                  "describe_services' deployments show rolloutState FAILED, then the service's events say "
                  "'rolling back'; list_service_deployments shows ROLLBACK_SUCCESSFUL.",
                  "build_image(crash_dir, f\"{uri}:bad\", cmd='python3 crash.py'); register it; update_service; "
                  "wait_for_rollback(...)"],
           docs=f"{_ECS}/deployment-circuit-breaker.html")
def circuit_breaker_rollback(st: Observed) -> Finding:
    if (problem := _no_service(st)) is not None:
        return problem
    tripped = [r for r in st.rollouts if r.breaker == "TRIGGERED"]
    if not tripped:
        return failed(f"No deployment of {SERVICE} tripped the circuit breaker.")
    rolled = [r for r in tripped if r.status == "ROLLBACK_SUCCESSFUL"]
    if not rolled:
        return failed(f"The circuit breaker tripped ({tripped[0].status}) but the rollback has not succeeded yet.")
    r = rolled[0]
    if st.service_image in r.target_images:
        return failed(f"{SERVICE} still runs the bad image {st.service_image}.")
    if not any(_in_repo(st, i) for i in r.target_images):
        return failed(f"The image that tripped the breaker is not from {REPO_NAME}.")
    return passed(f"{r.target_images[0].rsplit('/', 1)[-1]} tripped the breaker and {SERVICE} rolled back "
                  f"({r.rollback_reason or 'ROLLBACK_SUCCESSFUL'}); it runs {str(st.service_image).rsplit('/', 1)[-1]}.")


# -- Part 3: blue/green ---------------------------------------------------------------------------

@LAB.check("bluegreen-test-listener", title="Blue/green through CodeDeploy, tested on the test listener",
           points=20, step="bluegreen",
           hints=[f"Deploy v2 to the CODE_DEPLOY service {BG_SERVICE} with the CodeDeploy application {CD_APP} "
                  f"(compute platform ECS), group {CD_GROUP}: production and test listeners, target groups "
                  f"{BLUE_GROUP} and {GREEN_GROUP}, and a ready wait (STOP_DEPLOYMENT) so that you can test v2.",
                  "While the deployment waits (status Ready), send requests to the test listener (port 8080): only "
                  "it reaches the green task set; then continue_deployment(deploymentWaitType='READY_WAIT').",
                  "create_deployment(applicationName=..., deploymentGroupName=..., revision={'revisionType': "
                  "'AppSpecContent', 'appSpecContent': {'content': json.dumps(appspec)}})"],
           docs=f"{_CD}/deployment-steps-ecs.html")
def bluegreen_test_listener(st: Observed) -> Finding:
    bg = st.bg
    if not bg.get("application") or bg["application"].get("computePlatform") != "ECS":
        return failed(f"No CodeDeploy application {CD_APP} for ECS.")
    group = bg.get("group")
    if not group:
        return failed(f"No deployment group {CD_GROUP} in {CD_APP}.")
    services = {(s.get("clusterName"), s.get("serviceName")) for s in group.get("ecsServices") or []}
    if (CLUSTER, BG_SERVICE) not in services:
        return failed(f"{CD_GROUP} does not deploy the ECS service {BG_SERVICE} of {CLUSTER}.")
    pairs = (group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or []
    if not pairs or not ((pairs[0].get("testTrafficRoute") or {}).get("listenerArns")):
        return failed(f"{CD_GROUP}'s target group pair has no test traffic route (a test listener).")
    deployments = bg.get("deployments") or []
    if not deployments:
        return failed(f"No Succeeded deployment of {CD_GROUP}.")
    by_user = [d for d in deployments if d["info"].get("creator") == "user"]
    whole = [d for d in by_user if d["events"] and all(e.get("status") == "Succeeded" for e in d["events"].values())
             and "AllowTestTraffic" in d["events"] and d["green"].get("targetGroup")]
    if not whole:
        return failed(f"No deployment of {CD_GROUP} went through every lifecycle event to a green task set.")
    tested = [d for d in whole if d["test_requests"]]
    if not tested:
        return failed("No request reached the green task set through the test listener before production moved "
                      "(AWS/ApplicationELB RequestCount of the green target group between AllowTestTraffic and "
                      "AllowTraffic): test v2 while the deployment waits.")
    d = tested[0]
    primary = [t for t in bg.get("task_sets") or [] if t.get("status") == "PRIMARY"]
    if not primary or primary[0].get("taskDefinition") != d["task_definition"]:
        return failed(f"{BG_SERVICE}'s primary task set does not run the task definition the deployment's AppSpec "
                      "names.")
    return passed(f"{d['info']['deploymentId']} Succeeded: {d['test_requests']:g} test request(s) reached green "
                  f"before production moved to it.")


# Parts 4-6 (Express Mode and App Runner, EKS, the decision matrix): their checks and their read.
from checker.labs import lab05_choices  # noqa: E402

lab05_choices.register(LAB)
