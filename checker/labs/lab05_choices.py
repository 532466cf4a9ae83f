"""Lab 05-containers Parts 4-6 checks: the sample image as an ECS Express Mode service whose URL
answered (the load balancer's own AWS/ metrics) and as an App Runner service (skipped, ungraded,
on an AWS account App Runner refuses), an EKS cluster and node group upgraded on the clock (CloudTrail
and EKS's update records), the kubeconfig `aws eks update-kubeconfig` wrote, and the decision matrix.
``register(lab)`` adds them to the lab and its read to the lab's read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from checker.labs import bucket_name, by_learner, metric_sum, param, parse_time, trail_events
from checker.registry import Finding, failed, passed, skipped

LAB_ID = "05-containers"
BUCKET_PREFIX = "workshop-05-containers"   # the lab's bucket: <prefix>-<account>-<region>
MATRIX_KEY = "decisions/matrix.json"       # the decision matrix, as labkit.lab05_choices.save_decisions writes it
KUBECONFIG_KEY = "eks/kubeconfig"          # the kubeconfig update-kubeconfig wrote, as the lab saved it
KUBECONFIG_PATH = "kube/config"            # where the lab has update-kubeconfig write it (in the lab's folder)
EXPRESS_SERVICE = "workshop-05-express"
APPRUNNER_SERVICE = "workshop-05-apprunner"
EKS_CLUSTER = "workshop-05-eks"
EKS_NODEGROUP = "workshop-05-nodes"
READ_ATTRIBUTE = "choices"                 # the key of Parts 4-6's read in the lab's read's ``extra``

# -- the decision matrix: its vocabulary (the notebook shows it) and its key --------------------

CHOICES = {
    "ecs-express-mode": "Amazon ECS Express Mode (one call: an image and two roles give a service, a load "
                        "balancer and scaling)",
    "ecs-service": "an Amazon ECS service on Fargate behind a load balancer you build yourself",
    "ecs-tasks-eventbridge": "Amazon ECS tasks on Fargate, run by EventBridge rules (RunTask per event or schedule)",
    "eks": "Amazon EKS (managed Kubernetes control plane and node groups)",
    "app-runner": "AWS App Runner (closed to new customers since 2026-04-30)",
    "lambda": "AWS Lambda functions (at most 15 minutes a run)",
}
CRITERIA = {
    "aws-integration": "fits AWS's own services (IAM roles, load balancers, EventBridge, CloudWatch) with no "
                       "extra layer",
    "operational-simplicity": "little to build and run: no cluster or control plane to operate",
    "kubernetes-portability": "the same Kubernetes API, manifests and tools on every cloud and on premises",
    "managed-platform": "a fully managed platform that builds, scales and serves for you",
    "availability-today": "whether the service is open to this account today (App Runner is closed to new "
                          "customers)",
    "job-duration": "how long each job runs (Lambda stops a run at 15 minutes)",
    "cost": "what it costs when idle and under load",
    "team-skills": "what the team already knows",
    "scaling": "how it scales with the load",
}


@dataclass(frozen=True)
class Workload:
    slug: str
    title: str
    description: str
    key: str                          # the choice the key expects
    deciding: frozenset[str]          # the criteria that decide it
    accepted: dict[str, str]          # another choice accepted -> the criterion it must name
    why: str                          # the hint for a wrong choice


WORKLOADS = (
    Workload("first-web-api", "A team's first small web API",
             "A team of three ships its first small web API: one container that answers HTTP, modest traffic, "
             "nobody on call for infrastructure. Their AWS account is new this year; the organisation's older "
             "account still runs one service on App Runner.",
             "ecs-express-mode", frozenset({"managed-platform", "availability-today"}),
             {"app-runner": "availability-today"},
             "A first small API wants a managed platform that is open to a new account today: ECS Express Mode (one "
             "call gives the service, its load balancer and scaling). App Runner is as simple, but it is closed to "
             "new customers since 2026-04-30: only a team that already has it may choose it, naming that caveat."),
    Workload("kubernetes-platform", "A platform team standardising on Kubernetes across clouds",
             "A platform team runs forty services for product teams on AWS, on another cloud and in its own data "
             "centre, and wants one way to deploy everywhere: the same manifests, Helm charts and operators.",
             "eks", frozenset({"kubernetes-portability"}), {},
             "One way to deploy on every cloud and on premises is the Kubernetes API: Amazon EKS runs its control "
             "plane for you; ECS and App Runner are AWS's own APIs."),
    Workload("event-driven-batch", "A batch of event-driven jobs",
             "Image resizing, report exports and nightly clean-ups: each job is a container started by an event "
             "(a file uploaded, a schedule), runs from 2 to 12 minutes and stops; nothing runs between jobs.",
             "ecs-tasks-eventbridge", frozenset({"aws-integration", "operational-simplicity"}),
             {"lambda": "job-duration"},
             "Jobs that start on events and stop are tasks, not services: EventBridge rules run ECS tasks on Fargate "
             "(no servers, no cluster to run). Lambda fits too when each job stays under its 15 minutes: say so."),
)
MIN_REASONS = 20        # characters of reasons: a sentence, not a word


# -- the read ------------------------------------------------------------------------------------

@dataclass
class Choices:
    """What Parts 4-6 read from the account."""
    on_aws: bool
    problem: str = ""                                 # the read itself failed (kept from the others' read)
    express: dict | None = None                       # describe_express_gateway_service's service
    express_created: datetime | None = None           # the learner's CreateExpressGatewayService (CloudTrail)
    express_image: str = ""
    express_image_found: str = ""                     # why the image is not the account's ECR image ("" = it is)
    express_answers: float | None = None              # HTTPCode_Target_2XX_Count of its target groups
    express_problem: str = ""
    apprunner: dict | None = None
    apprunner_created: bool = False
    apprunner_image_found: str = ""
    apprunner_operations: list[dict] = field(default_factory=list)
    apprunner_refused: str = ""                       # AWS refused the learner's CreateService: its error
    cluster: dict | None = None
    cluster_created: dict | None = None               # the learner's CreateCluster event
    cluster_updates: list[dict] = field(default_factory=list)     # describe_update of the learner's updates
    cluster_version_calls: int = 0                    # the learner's UpdateClusterVersion events for it
    nodegroup: dict | None = None
    nodegroup_created: dict | None = None
    nodegroup_updates: list[dict] = field(default_factory=list)
    nodegroup_version_calls: int = 0
    kubeconfig: Any = None                            # the saved kubeconfig, parsed
    kubeconfig_problem: str = ""
    kubeconfig_by_cli: bool = False                   # a DescribeCluster by the AWS CLI (update-kubeconfig)
    matrix: dict | None = None
    matrix_problem: str = ""


def read_choices(account) -> Choices:
    st = Choices(on_aws=account.session.target.endpoint is None)
    try:
        _read_express(account, st)
        _read_apprunner(account, st)
        _read_eks(account, st)
        bucket = bucket_name(BUCKET_PREFIX, account.id, account.region)
        _read_kubeconfig(account, st, bucket)
        st.matrix, st.matrix_problem = _read_matrix(account, bucket)
    except Exception as exc:  # Parts 1-3's checks must not fail for a bug here: ours say it
        st.problem = f"could not read Parts 4-6 ({type(exc).__name__}: {exc})"
    return st


def _learner_events(account, event: str, **match: str) -> list[dict]:
    """The learner's CloudTrail events ``event`` whose request parameters match, newest first."""
    return [e for e in trail_events(account, event) or []
            if by_learner(e) and all(param(e, k) == v for k, v in match.items())]


def _image_in_ecr(account, image: str) -> str:
    """"" when ``image`` (REGISTRY/REPO:TAG or @DIGEST) is an image of Part 1's repository in this
    account's ECR (the sample app's); else why not."""
    from checker.labs.lab05_containers import REPO_NAME   # here: that module registers this one at its end

    if "/" not in image:
        return f"{image or 'no image'} is not an image of a registry"
    path = image.split("/", 1)[1]
    if "@" in path:
        repo, ref = path.split("@", 1)
        ids = [{"imageDigest": ref}]
    else:
        repo, _, tag = path.rpartition(":") if ":" in path else (path, "", "latest")
        ids = [{"imageTag": tag or "latest"}]
    if repo != REPO_NAME:
        return f"{image}, not an image of {REPO_NAME} (Part 1's repository of the sample app)"
    found = account.call("ecr", "describe_images", repositoryName=repo, imageIds=ids)
    if not (found or {}).get("imageDetails"):
        return f"{image} is not in this account's ECR ({account.errors.get('ecr.describe_images', 'no such image')})"
    return ""


def _read_express(account, st: Choices) -> None:
    created = [e for e in _learner_events(account, "CreateExpressGatewayService", serviceName=EXPRESS_SERVICE)
               if not e.get("errorCode")]
    arns = [((e.get("responseElements") or {}).get("service") or {}).get("serviceArn") for e in created]
    arns = [a for a in arns if a]
    if not arns:
        return
    st.express_created = parse_time(created[0].get("eventTime"))
    got = account.call("ecs", "describe_express_gateway_service", serviceArn=arns[0])
    st.express = (got or {}).get("service")
    if st.express is None:
        st.express_problem = account.errors.get("ecs.describe_express_gateway_service", "")
        return
    config = (st.express.get("activeConfigurations") or [{}])[0]
    st.express_image = str((config.get("primaryContainer") or {}).get("image") or "")
    st.express_image_found = _image_in_ecr(account, st.express_image)
    revision_arn = config.get("serviceRevisionArn")
    revisions = account.call("ecs", "describe_service_revisions", serviceRevisionArns=[revision_arn]) \
        if revision_arn else None
    revision = ((revisions or {}).get("serviceRevisions") or [{}])[0]
    paths = (revision.get("ecsManagedResources") or {}).get("ingressPaths") or []
    if not paths:
        st.express_problem = "its revision lists no load balancer yet"
        return
    lb = (paths[0].get("loadBalancer") or {}).get("arn", "")
    groups = [g.get("arn", "") for g in paths[0].get("targetGroups") or [] if g.get("arn")]
    now = datetime.now(timezone.utc) + timedelta(minutes=1)
    since = st.express_created or now - timedelta(days=1)
    total = 0.0

    def dim(arn: str) -> str:
        tail = arn.split(":", 5)[-1]
        return tail[len("loadbalancer/"):] if tail.startswith("loadbalancer/") else tail

    for group in groups:
        answered = account.poll(
            lambda g=group: metric_sum(account, "AWS/ApplicationELB", "HTTPCode_Target_2XX_Count",
                                       {"TargetGroup": dim(g), "LoadBalancer": dim(lb)}, since, now),
            lambda v: bool(v), timeout=3.0, every=0.5)
        total += answered or 0.0
    st.express_answers = total


def _read_apprunner(account, st: Choices) -> None:
    created = [e for e in trail_events(account, "CreateService") or []
               if e.get("eventSource", "apprunner.amazonaws.com") == "apprunner.amazonaws.com"
               and by_learner(e) and param(e, "ServiceName") == APPRUNNER_SERVICE]
    refused = [e for e in created if e.get("errorCode")]
    if refused and st.on_aws:
        st.apprunner_refused = apprunner_refusal(refused[0])
    made = [e for e in created if not e.get("errorCode")]
    if not made:
        return
    st.apprunner_created = True
    listed = account.call("apprunner", "list_services") or {}
    arn = next((s.get("ServiceArn") for s in listed.get("ServiceSummaryList") or []
                if s.get("ServiceName") == APPRUNNER_SERVICE), None)
    if arn is None:
        return
    st.apprunner = (account.call("apprunner", "describe_service", ServiceArn=arn) or {}).get("Service")
    image = (((st.apprunner or {}).get("SourceConfiguration") or {}).get("ImageRepository") or {}).get(
        "ImageIdentifier", "")
    st.apprunner_image_found = _image_in_ecr(account, image)
    st.apprunner_operations = (account.call("apprunner", "list_operations", ServiceArn=arn) or {}).get(
        "OperationSummaryList") or []


# App Runner's answers to a request it could serve but that was wrong: not a refusal of the account.
REQUEST_ERRORS = ("InvalidRequestException", "ValidationException", "ResourceNotFoundException",
                  "InvalidStateException", "ServiceQuotaExceededException", "ThrottlingException",
                  "InternalServiceErrorException")


def apprunner_refusal(event: dict) -> str:
    """The reason a refused CreateService (a CloudTrail record) shows that AWS closed App Runner to this
    account (AccessDenied and the like: App Runner is closed to new customers since 2026-04-30); "" when
    it was only a bad request."""
    code = str(event.get("errorCode") or "")
    if not code or code in REQUEST_ERRORS:
        return ""
    return f"{code}: {event.get('errorMessage') or 'refused'}"


def _read_eks(account, st: Choices) -> None:
    created = _learner_events(account, "CreateCluster", name=EKS_CLUSTER)
    created = [e for e in created if not e.get("errorCode")]
    got = account.call("eks", "describe_cluster", name=EKS_CLUSTER)
    st.cluster = (got or {}).get("cluster")
    if st.cluster is None or not created:
        return
    st.cluster_created = created[0]
    calls = [e for e in _learner_events(account, "UpdateClusterVersion", name=EKS_CLUSTER)
             if not e.get("errorCode")]
    st.cluster_version_calls = len(calls)
    st.cluster_updates = _updates(account, calls, {"name": EKS_CLUSTER})
    groups = [e for e in _learner_events(account, "CreateNodegroup", clusterName=EKS_CLUSTER)
              if param(e, "nodegroupName") == EKS_NODEGROUP and not e.get("errorCode")]
    found = account.call("eks", "describe_nodegroup", clusterName=EKS_CLUSTER, nodegroupName=EKS_NODEGROUP)
    st.nodegroup = (found or {}).get("nodegroup")
    if st.nodegroup is None or not groups:
        return
    st.nodegroup_created = groups[0]
    calls = [e for e in _learner_events(account, "UpdateNodegroupVersion", clusterName=EKS_CLUSTER)
             if param(e, "nodegroupName") == EKS_NODEGROUP and not e.get("errorCode")]
    st.nodegroup_version_calls = len(calls)
    st.nodegroup_updates = _updates(account, calls, {"name": EKS_CLUSTER, "nodegroupName": EKS_NODEGROUP})


def _updates(account, calls: list[dict], where: dict) -> list[dict]:
    """describe_update of each update the calls started (their ids from CloudTrail's responses)."""
    out = []
    for e in calls:
        update_id = ((e.get("responseElements") or {}).get("update") or {}).get("id")
        if not update_id:
            continue
        got = account.call("eks", "describe_update", updateId=update_id, **where)
        if got and got.get("update"):
            out.append(got["update"])
    return out


def _read_kubeconfig(account, st: Choices, bucket: str) -> None:
    obj = account.call("s3", "get_object", Bucket=bucket, Key=KUBECONFIG_KEY)
    if obj is None:
        st.kubeconfig_problem = f"No kubeconfig saved at s3://{bucket}/{KUBECONFIG_KEY}."
    else:
        import yaml

        try:
            st.kubeconfig = yaml.safe_load(obj["Body"].read())
        except yaml.YAMLError as exc:
            st.kubeconfig_problem = f"s3://{bucket}/{KUBECONFIG_KEY} is not YAML ({str(exc).splitlines()[0]})."
        if not st.kubeconfig_problem and not isinstance(st.kubeconfig, dict):
            st.kubeconfig_problem = f"s3://{bucket}/{KUBECONFIG_KEY} is not a kubeconfig (not a mapping)."
    # update-kubeconfig reads the cluster with DescribeCluster: CLI v2 names the command in its user
    # agent (md/command#eks.update-kubeconfig), v1 only itself (aws-cli/1.x).
    st.kubeconfig_by_cli = any(
        "aws-cli/" in str(e.get("userAgent") or "") or "eks.update-kubeconfig" in str(e.get("userAgent") or "")
        for e in _learner_events(account, "DescribeCluster", name=EKS_CLUSTER))


def _read_matrix(account, bucket: str) -> tuple[dict | None, str]:
    obj = account.call("s3", "get_object", Bucket=bucket, Key=MATRIX_KEY)
    if obj is None:
        return None, f"No decision matrix at s3://{bucket}/{MATRIX_KEY}: save it with save_decisions(...)."
    return parse_matrix(obj["Body"].read())


def parse_matrix(body: bytes | str) -> tuple[dict | None, str]:
    """The matrix document as {workload: {"choice", "criteria", "reasons"}}, or (None, what is wrong)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"The decision matrix is not JSON ({exc})."
    workloads = data.get("workloads") if isinstance(data, dict) else None
    if not isinstance(workloads, dict):
        return None, 'The decision matrix has no "workloads" object: {"workloads": {"first-web-api": {...}, ...}}.'
    return workloads, ""


# -- the checks ----------------------------------------------------------------------------------

_ECS = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide"
_EKS = "https://docs.aws.amazon.com/eks/latest/userguide"


def _mine(st: Any) -> Choices:
    found = (getattr(st, "extra", None) or {}).get(READ_ATTRIBUTE)
    if not isinstance(found, Choices):
        raise LookupError("Parts 4-6 were not read (the lab's read did not run)")
    return found


def _add_read(account, st: Any) -> None:
    st.extra[READ_ATTRIBUTE] = read_choices(account)


def register(lab) -> None:
    """Add Parts 4-6's checks to ``lab`` and their read to its read: lab 05's read takes added
    readers (``lab05_containers.add_reader``, into ``Observed.extra``); a lab without a read (Parts
    4-6 alone, as their tests make one) gets one of its own."""
    if lab.read is None:
        lab.reader(lambda account: SimpleNamespace(extra={READ_ATTRIBUTE: read_choices(account)}))
    else:
        from checker.labs.lab05_containers import add_reader

        add_reader(_add_read)

    def check(slug: str, **meta):
        def wrap(func):
            def run(st: Any) -> Finding:
                mine = _mine(st)
                return failed(mine.problem) if mine.problem else func(mine)
            lab.check(slug, **meta)(run)
            return func
        return wrap

    @check("express-service", title="The sample image as an ECS Express Mode service whose URL answered",
           points=15, step="express",
           hints=[f"Create the Express Mode service {EXPRESS_SERVICE} from the sample image you pushed to ECR, then "
                  "send requests to its URL.",
                  "create_express_gateway_service(serviceName=..., executionRoleArn=..., infrastructureRoleArn=..., "
                  "primaryContainer={'image': IMAGE_URI, 'containerPort': 8080}, healthCheckPath='/health'); "
                  "express_service_url(arn) gives the URL; the load balancer counts the answers.",
                  f"arn = ecs.create_express_gateway_service(serviceName='{EXPRESS_SERVICE}', ...)['service']"
                  "['serviceArn']; wait_until_answers(express_service_url(arn))"],
           docs=f"{_ECS}/express-service-overview.html")
    def express_service(st: Choices) -> Finding:
        if st.express_created is None:
            return failed(f"CloudTrail has no CreateExpressGatewayService of {EXPRESS_SERVICE} by you.")
        if st.express is None:
            return failed(f"{EXPRESS_SERVICE} cannot be read ({st.express_problem or 'deleted?'}).")
        status = (st.express.get("status") or {}).get("statusCode")
        if status != "ACTIVE":
            return failed(f"{EXPRESS_SERVICE} is {status}, not ACTIVE.")
        if st.express_image_found:
            return failed(f"{EXPRESS_SERVICE} runs {st.express_image_found}: use the sample image you pushed.")
        if not st.express_answers:
            extra = f" ({st.express_problem})" if st.express_problem else ""
            return failed(f"The load balancer has counted no 2XX answer from {EXPRESS_SERVICE}'s targets since it "
                          f"was created{extra}: send requests to its URL (metrics arrive each minute).")
        return passed(f"{EXPRESS_SERVICE} runs {st.express_image}; its targets answered {st.express_answers:g} "
                      "request(s) with 2XX.")

    @check("app-runner-service", title="The sample image as an App Runner service", points=10, step="express",
           hints=[f"Create the App Runner service {APPRUNNER_SERVICE} from the sample image in ECR (an access role "
                  "that trusts build.apprunner.amazonaws.com pulls it).",
                  "apprunner.create_service(ServiceName=..., SourceConfiguration={'ImageRepository': {"
                  "'ImageIdentifier': IMAGE_URI, 'ImageRepositoryType': 'ECR', 'ImageConfiguration': {'Port': "
                  "'8080'}}, 'AuthenticationConfiguration': {'AccessRoleArn': ROLE}}); wait until RUNNING.",
                  f"create_app_runner_service('{APPRUNNER_SERVICE}', IMAGE_URI) in labkit.lab05_choices, then "
                  "app_runner_url(...) answers."],
           docs="https://docs.aws.amazon.com/apprunner/latest/dg/manage-create.html")
    def app_runner_service(st: Choices) -> Finding:
        service = st.apprunner
        if service is None and st.apprunner_refused:
            return skipped(f"Skipped, not graded: AWS refused App Runner's CreateService in this account "
                           f"({st.apprunner_refused}). App Runner is closed to new customers since 2026-04-30; "
                           "AWS recommends ECS Express Mode, which you built in this part.")
        if not st.apprunner_created:
            return failed(f"CloudTrail has no CreateService of {APPRUNNER_SERVICE} by you.")
        if service is None:
            return failed(f"No App Runner service {APPRUNNER_SERVICE} now (deleted?).")
        if st.apprunner_image_found:
            return failed(f"{APPRUNNER_SERVICE} runs {st.apprunner_image_found}: use the sample image you pushed.")
        if service.get("Status") != "RUNNING":
            return failed(f"{APPRUNNER_SERVICE} is {service.get('Status')}, not RUNNING.")
        ops = [o for o in st.apprunner_operations if o.get("Type") == "CREATE_SERVICE"]
        if not any(o.get("Status") == "SUCCEEDED" for o in ops):
            return failed(f"{APPRUNNER_SERVICE}'s CREATE_SERVICE operation has not SUCCEEDED.")
        return passed(f"{APPRUNNER_SERVICE} RUNNING at {service.get('ServiceUrl')} (App Runner started it once "
                      "its health check answered).")

    @check("eks-cluster-upgraded", title="An EKS cluster created, then upgraded on the clock", points=15, step="eks",
           hints=[f"Create the EKS cluster {EKS_CLUSTER} at the older of the two newest versions, wait until it is "
                  "ACTIVE, then upgrade it one minor version and wait for the update.",
                  "create_cluster(name=..., version=OLD, ...); when ACTIVE, update_cluster_version(name=..., "
                  "version=NEW) returns an update; describe_update(name=..., updateId=...) until Successful. "
                  "Tags or update_cluster_config are not a version upgrade.",
                  f"update = eks.update_cluster_version(name='{EKS_CLUSTER}', version=NEW)['update']; "
                  "wait_for_update(EKS_CLUSTER, update['id'])"],
           docs=f"{_EKS}/update-cluster.html")
    def eks_cluster_upgraded(st: Choices) -> Finding:
        if st.cluster is None or st.cluster_created is None:
            return failed(f"No EKS cluster {EKS_CLUSTER} that CloudTrail shows you created.")
        version = st.cluster.get("version")
        first = param(st.cluster_created, "version") or "the default version"
        done = [u for u in st.cluster_updates if u.get("type") == "VersionUpdate" and u.get("status") == "Successful"
                and _param(u, "Version") == version]
        if not done:
            seen = ", ".join(f"{u.get('type')} {u.get('status')}" for u in st.cluster_updates) or "none"
            return failed(f"{EKS_CLUSTER} (created at {first}, now {version}) has no Successful version update that "
                          f"you started with UpdateClusterVersion (updates seen: {seen}).")
        if _key(first) >= _key(version):
            return failed(f"{EKS_CLUSTER} was created at {first} and is {version} now: create it at an older "
                          "version than the one you upgrade to.")
        return passed(f"{EKS_CLUSTER}: created at {first}, upgraded to {version} by update {done[0].get('id')} "
                      "(Successful).")

    @check("eks-nodegroup-upgraded", title="A managed node group upgraded to the cluster's version", points=10,
           step="eks",
           hints=[f"Create the managed node group {EKS_NODEGROUP} on {EKS_CLUSTER} before the cluster's upgrade, then "
                  "upgrade it to the cluster's new version.",
                  "create_nodegroup(clusterName=..., nodegroupName=..., nodeRole=..., subnets=..., scalingConfig=...); "
                  "after the cluster's upgrade, update_nodegroup_version(clusterName=..., nodegroupName=...) and "
                  "describe_update(..., nodegroupName=...) until Successful.",
                  f"eks.update_nodegroup_version(clusterName='{EKS_CLUSTER}', nodegroupName='{EKS_NODEGROUP}')"],
           docs=f"{_EKS}/update-managed-node-group.html")
    def eks_nodegroup_upgraded(st: Choices) -> Finding:
        if st.cluster is None:
            return failed(f"No EKS cluster {EKS_CLUSTER}.")
        if st.nodegroup is None or st.nodegroup_created is None:
            return failed(f"No node group {EKS_NODEGROUP} on {EKS_CLUSTER} that CloudTrail shows you created.")
        version = st.nodegroup.get("version")
        if version != st.cluster.get("version"):
            return failed(f"{EKS_NODEGROUP} is at {version}, the cluster at {st.cluster.get('version')}: upgrade "
                          "the node group to the cluster's version.")
        done = [u for u in st.nodegroup_updates if u.get("type") == "VersionUpdate"
                and u.get("status") == "Successful" and _param(u, "Version") == version]
        if not done:
            seen = ", ".join(f"{u.get('type')} {u.get('status')}" for u in st.nodegroup_updates) or "none"
            return failed(f"{EKS_NODEGROUP} has no Successful version update to {version} that you started with "
                          f"UpdateNodegroupVersion (updates seen: {seen}).")
        return passed(f"{EKS_NODEGROUP}: upgraded to {version} by update {done[0].get('id')} (Successful).")

    @check("kubeconfig", title="A kubeconfig written by aws eks update-kubeconfig", points=10, step="eks",
           hints=[f"Run `aws eks update-kubeconfig` for {EKS_CLUSTER}, writing the file {KUBECONFIG_PATH} in the lab "
                  "folder, and save it to the lab's bucket.",
                  f"aws eks update-kubeconfig --name {EKS_CLUSTER} --kubeconfig {KUBECONFIG_PATH}; its cluster entry "
                  "holds describe_cluster's endpoint and certificateAuthority.data; save_kubeconfig() uploads it.",
                  f"write_kubeconfig('{EKS_CLUSTER}') in labkit.lab05_choices runs the CLI and saves the file"],
           docs=f"{_EKS}/create-kubeconfig.html")
    def kubeconfig(st: Choices) -> Finding:
        if st.cluster is None:
            return failed(f"No EKS cluster {EKS_CLUSTER}.")
        if st.kubeconfig_problem:
            return failed(st.kubeconfig_problem)
        clusters = [c for c in st.kubeconfig.get("clusters") or [] if isinstance(c, dict)]
        endpoint = st.cluster.get("endpoint")
        ca = (st.cluster.get("certificateAuthority") or {}).get("data")
        entry = next((c.get("cluster") or {} for c in clusters
                      if isinstance(c.get("cluster"), dict) and c["cluster"].get("server") == endpoint), None)
        if entry is None:
            servers = ", ".join(str((c.get("cluster") or {}).get("server")) for c in clusters) or "none"
            return failed(f"The kubeconfig names no cluster at {EKS_CLUSTER}'s endpoint {endpoint} (servers: "
                          f"{servers}).")
        if entry.get("certificate-authority-data") != ca:
            return failed(f"The kubeconfig's entry for {endpoint} does not hold the cluster's certificate authority "
                          "data as describe_cluster gives it.")
        if not st.kubeconfig_by_cli:
            return failed(f"CloudTrail shows no DescribeCluster of {EKS_CLUSTER} by the AWS CLI: write the file "
                          "with `aws eks update-kubeconfig`.")
        return passed(f"The kubeconfig names {EKS_CLUSTER} at {endpoint} with its CA data (written by the AWS CLI).")

    for workload in WORKLOADS:
        _matrix_checks(check, workload)


def _matrix_checks(check, w: Workload) -> None:
    accepted = ", ".join(f"{c} (naming {n})" for c, n in w.accepted.items())
    @check(f"choice-{w.slug}", title=f"Decision matrix: the choice for {w.title.lower()}", points=5, step="decide",
           hints=[f"Read the workload again and choose from {', '.join(CHOICES)}; {w.why}",
                  f"Which criterion decides {w.title.lower()}? Compare the choices on "
                  f"{', '.join(sorted(w.deciding))}.",
                  f"The key: {w.key}" + (f"; also accepted: {accepted}" if accepted else "") + "."],
           docs="https://docs.aws.amazon.com/decision-guides/latest/containers-on-aws-how-to-choose/choosing-aws-"
                "container-service.html")
    def choice(st: Choices) -> Finding:
        entry, problem = _entry(st, w)
        if problem:
            return failed(problem)
        picked = entry.get("choice")
        if picked == w.key:
            return passed(f"{w.slug}: {picked}.")
        if picked in w.accepted:
            needed = w.accepted[picked]
            if needed in _criteria(entry):
                return passed(f"{w.slug}: {picked}, accepted with {needed} named.")
            return failed(f"{w.slug}: {picked} is accepted only with its caveat named ({needed}: "
                          f"{CRITERIA[needed]}).")
        return failed(f"{w.slug}: {picked} is not the best fit. {w.why}")

    @check(f"criteria-{w.slug}", title=f"Decision matrix: the deciding criteria for {w.title.lower()}", points=5,
           step="decide",
           hints=[f"Name, from the criteria list, what decides {w.title.lower()}, and say why in a sentence.",
                  f"Criteria are words of the list: {', '.join(CRITERIA)}; reasons at least {MIN_REASONS} "
                  "characters.",
                  f"criteria for {w.slug}: {sorted(w.deciding)}"],
           docs="https://docs.aws.amazon.com/decision-guides/latest/containers-on-aws-how-to-choose/choosing-aws-"
                "container-service.html")
    def criteria(st: Choices) -> Finding:
        entry, problem = _entry(st, w)
        if problem:
            return failed(problem)
        named = _criteria(entry)
        missing = sorted(w.deciding - named)
        if missing:
            return failed(f"{w.slug}: the deciding criteria {', '.join(missing)} are not named "
                          f"(named: {', '.join(sorted(named)) or 'none'}).")
        reasons = entry.get("reasons")
        if not isinstance(reasons, str) or len(reasons.strip()) < MIN_REASONS:
            return failed(f"{w.slug}: say why in the reasons (at least {MIN_REASONS} characters).")
        return passed(f"{w.slug}: {', '.join(sorted(named))}.")


def _entry(st: Choices, w: Workload) -> tuple[dict, str]:
    """A workload's entry once checked against the vocabulary, or ({}, what is wrong with it)."""
    if st.matrix is None:
        return {}, st.matrix_problem
    entry = st.matrix.get(w.slug)
    if not isinstance(entry, dict):
        return {}, f'The matrix has no entry for "{w.slug}".'
    picked = entry.get("choice")
    if picked not in CHOICES:
        return {}, f'{w.slug}: "choice" must be one of {", ".join(CHOICES)} (got {picked!r}).'
    named = entry.get("criteria")
    if not isinstance(named, list) or not all(isinstance(c, str) for c in named):
        return {}, f'{w.slug}: "criteria" must be a list of words from the criteria list.'
    unknown = [c for c in named if c not in CRITERIA]
    if unknown:
        return {}, f"{w.slug}: unknown criteria {', '.join(map(repr, unknown))} (the list: {', '.join(CRITERIA)})."
    return entry, ""


def _criteria(entry: dict) -> set[str]:
    return {c for c in entry.get("criteria") or [] if isinstance(c, str)}


def _param(update: dict, name: str) -> str | None:
    return next((p.get("value") for p in update.get("params") or [] if p.get("type") == name), None)


def _key(version: Any) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(version).split("."))
    except ValueError:
        return (0,)
