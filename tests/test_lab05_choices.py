"""Lab 05-containers Parts 4-6 checks (checker/labs/lab05_choices.py) on a lab object of the test's
own, against a cloud at time scale 600 (EKS's 10-minute create and 25-minute upgrade take seconds):
honest work passes (an EKS cluster and node group upgraded, the kubeconfig the AWS CLI wrote, the
Express Mode and App Runner services of the sample image, a decision matrix); fabricated evidence
fails with the check's hint (a cluster made at the old version, tagged and never upgraded, an
update_cluster_config in place of a version update, a kubeconfig written by hand, an Express
service that never answered, wrong choices, malformed JSON, unknown words); a check that cannot
apply (App Runner refused on a new AWS account) is skipped and not graded."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import yaml

from checker.labs import bucket_name, lab05_choices as part
from checker.labs.lab05_containers import REPO_NAME
from checker.registry import Lab
from checker.results import LabResult
from checker.runner import Account, _run_check, identify
from checker.session import Session, Target
from tests.conftest import new_account, start_cloud, stop_cloud

SCALE = 600


@pytest.fixture(scope="module")
def fast_cloud(tmp_path_factory):
    cloud = start_cloud(tmp_path_factory.mktemp("lab05-choices"), time_scale=SCALE)
    yield cloud
    stop_cloud(cloud)


@pytest.fixture
def learner(fast_cloud, monkeypatch):
    """A fresh account, and the notebook's environment for labkit (the one session factory)."""
    account = new_account()
    for key, value in fast_cloud.env(account).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", fast_cloud.endpoint)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return account


def run(cloud, account: str) -> LabResult:
    """Run the Parts 4-6 checks as checker.runner.run_lab runs a lab's: one read, every check over it."""
    lab = Lab(part.LAB_ID, "Containers (test)")
    part.register(lab)
    sess = Session(Target(cloud.endpoint, account, "test", "us-east-1"))
    result = LabResult(lab=lab.id, title=lab.title, endpoint=cloud.endpoint, account=identify(sess))
    state = lab.read(Account(sess, account))
    result.results = [_run_check(c, state, None) for c in lab.checks]
    return result


def by_slug(result: LabResult) -> dict:
    out = {r.id.split(".", 1)[1]: r for r in result.results}
    for r in out.values():     # a finding, never a traceback
        assert "could not evaluate" not in r.message and "could not read" not in r.message, r.message
    return out


def passes(found, *slugs: str) -> None:
    for slug in slugs:
        assert found[slug].passed, (slug, found[slug].message)


def fails(found, slug: str, *words: str) -> None:
    r = found[slug]
    assert not r.passed and not r.skipped, (slug, r.message)
    assert r.hint == r.hints[0] and r.hint, slug
    for word in words:
        assert word in r.message, (slug, word, r.message)


# -- EKS ------------------------------------------------------------------------------------------

def test_an_upgraded_cluster_and_node_group_and_the_cli_kubeconfig_pass(fast_cloud, learner, tmp_path):
    from labkit import lab05_choices as kit

    eks = fast_cloud.client("eks", learner)
    old, new = kit.eks_versions()
    roles, subnets = kit.eks_roles(), kit.eks_subnets()
    assert len(subnets) == 2
    eks.create_cluster(name=part.EKS_CLUSTER, version=old, roleArn=roles["cluster"],
                       resourcesVpcConfig={"subnetIds": subnets})
    assert kit.wait_for_cluster(timeout=120)["status"] == "ACTIVE"
    eks.create_nodegroup(clusterName=part.EKS_CLUSTER, nodegroupName=part.EKS_NODEGROUP, nodeRole=roles["node"],
                         subnets=subnets, scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})
    assert kit.wait_for_nodegroup(timeout=120)["version"] == old

    found = by_slug(run(fast_cloud, learner))      # created, not upgraded yet
    fails(found, "eks-cluster-upgraded", f"created at {old}, now {old}", "updates seen: none")
    fails(found, "kubeconfig", "No kubeconfig saved")

    update = eks.update_cluster_version(name=part.EKS_CLUSTER, version=new)["update"]
    assert kit.wait_for_update(update["id"], timeout=120)["status"] == "Successful"
    update = eks.update_nodegroup_version(clusterName=part.EKS_CLUSTER, nodegroupName=part.EKS_NODEGROUP)["update"]
    assert kit.wait_for_update(update["id"], nodegroup=part.EKS_NODEGROUP, timeout=120)["status"] == "Successful"
    path = kit.write_kubeconfig(path=tmp_path / part.KUBECONFIG_PATH)
    assert yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"] == \
        eks.describe_cluster(name=part.EKS_CLUSTER)["cluster"]["endpoint"]

    found = by_slug(run(fast_cloud, learner))
    passes(found, "eks-cluster-upgraded", "eks-nodegroup-upgraded", "kubeconfig")
    assert f"upgraded to {new}" in found["eks-cluster-upgraded"].message

    # What Parts 4-6 made goes with `workshop reset 05-containers` (its reset calls reset_choices), and the
    # checks fail.
    from labkit.reset import reset_lab

    cleanup = reset_lab("05-containers",
                        Target(fast_cloud.endpoint, learner, "test", "us-east-1"), say=lambda _: None)
    assert cleanup.problems == [] and f"deleted EKS cluster {part.EKS_CLUSTER}" in cleanup.done
    try:
        groups = eks.list_nodegroups(clusterName=part.EKS_CLUSTER)["nodegroups"]
    except eks.exceptions.ResourceNotFoundException:   # the cluster's own deletion has already ended
        groups = []
    assert groups == []
    found = by_slug(run(fast_cloud, learner))
    fails(found, "kubeconfig")
    fails(found, "eks-nodegroup-upgraded")


def test_a_tagged_cluster_a_config_update_and_a_hand_written_kubeconfig_fail(fast_cloud, learner):
    from labkit import lab05_choices as kit

    eks, s3 = fast_cloud.client("eks", learner), fast_cloud.client("s3", learner)
    old, new = kit.eks_versions()
    roles, subnets = kit.eks_roles(), kit.eks_subnets()
    # Made at the old version and never upgraded, but tagged as if it were; a config update instead.
    eks.create_cluster(name=part.EKS_CLUSTER, version=old, roleArn=roles["cluster"],
                       resourcesVpcConfig={"subnetIds": subnets}, tags={"upgraded-to": new, "version": new})
    kit.wait_for_cluster(timeout=120)
    eks.create_nodegroup(clusterName=part.EKS_CLUSTER, nodegroupName=part.EKS_NODEGROUP, nodeRole=roles["node"],
                         subnets=subnets, tags={"upgraded": "yes"})
    kit.wait_for_nodegroup(timeout=120)
    update = eks.update_cluster_config(name=part.EKS_CLUSTER, logging={"clusterLogging": [
        {"types": ["api", "audit"], "enabled": True}]})["update"]
    assert kit.wait_for_update(update["id"], timeout=120)["status"] == "Successful"
    update = eks.update_nodegroup_config(clusterName=part.EKS_CLUSTER, nodegroupName=part.EKS_NODEGROUP,
                                         scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 2})["update"]
    kit.wait_for_update(update["id"], nodegroup=part.EKS_NODEGROUP, timeout=120)
    # A kubeconfig written by hand, naming another endpoint.
    cluster = eks.describe_cluster(name=part.EKS_CLUSTER)["cluster"]
    ca = cluster["certificateAuthority"]["data"]
    other = {"apiVersion": "v1", "kind": "Config", "current-context": "web",
             "clusters": [{"name": "web", "cluster": {"server": "https://elsewhere.example:6443",
                                                     "certificate-authority-data": ca}}]}
    bucket = kit.lab_bucket()
    s3.put_object(Bucket=bucket, Key=part.KUBECONFIG_KEY, Body=yaml.safe_dump(other).encode())

    found = by_slug(run(fast_cloud, learner))
    fails(found, "eks-cluster-upgraded", "no Successful version update", "updates seen: none")
    fails(found, "eks-nodegroup-upgraded", "no Successful version update", "updates seen: none")
    fails(found, "kubeconfig", "names no cluster", "elsewhere.example")

    # The right endpoint and CA, but written by hand: no DescribeCluster by update-kubeconfig.
    right = {**other, "clusters": [{"name": "web", "cluster": {"server": cluster["endpoint"],
                                                               "certificate-authority-data": ca}}]}
    s3.put_object(Bucket=bucket, Key=part.KUBECONFIG_KEY, Body=yaml.safe_dump(right).encode())
    fails(by_slug(run(fast_cloud, learner)), "kubeconfig", "no DescribeCluster of workshop-05-eks by the AWS CLI")
    s3.put_object(Bucket=bucket, Key=part.KUBECONFIG_KEY, Body=b"clusters: [unclosed")
    fails(by_slug(run(fast_cloud, learner)), "kubeconfig", "is not YAML")


# -- the decision matrix ------------------------------------------------------------------------

KEY = {"workloads": {
    "first-web-api": {"choice": "ecs-express-mode", "criteria": ["managed-platform", "availability-today", "cost"],
                      "reasons": "One call gives the service, load balancer and scaling; App Runner is closed to us."},
    "kubernetes-platform": {"choice": "eks", "criteria": ["kubernetes-portability", "team-skills"],
                            "reasons": "The same manifests and Helm charts on every cloud and on premises."},
    "event-driven-batch": {"choice": "ecs-tasks-eventbridge", "criteria": ["aws-integration", "operational-simplicity"],
                           "reasons": "EventBridge starts a Fargate task per event; nothing runs between jobs."},
}}
MATRIX = [f"{kind}-{w.slug}" for w in part.WORKLOADS for kind in ("choice", "criteria")]


def put_matrix(cloud, account: str, body) -> None:
    cloud.client("s3", account).put_object(Bucket=bucket_name(part.BUCKET_PREFIX, account, "us-east-1"),
                                            Key=part.MATRIX_KEY, Body=body if isinstance(body, bytes) else
                                            json.dumps(body).encode())


def test_the_decision_matrix_scores_choices_and_criteria_with_partial_credit(fast_cloud, learner):
    from labkit import lab05_choices as kit

    found = by_slug(run(fast_cloud, learner))
    for slug in MATRIX:
        fails(found, slug, "No decision matrix")

    kit.save_decisions(KEY)
    result = run(fast_cloud, learner)
    passes(by_slug(result), *MATRIX)
    full = sum(r.earned for r in result.results if r.id.split(".", 1)[1] in MATRIX)
    assert full == 30

    # Wrong choices with the right criteria: partial credit, and the hint of each wrong choice.
    wrong = json.loads(json.dumps(KEY))
    wrong["workloads"]["first-web-api"]["choice"] = "eks"
    wrong["workloads"]["kubernetes-platform"]["choice"] = "ecs-service"
    kit.save_decisions(wrong)
    result = run(fast_cloud, learner)
    found = by_slug(result)
    fails(found, "choice-first-web-api", "eks is not the best fit", "ECS Express Mode")
    fails(found, "choice-kubernetes-platform", "ecs-service is not the best fit")
    passes(found, "criteria-first-web-api", "criteria-kubernetes-platform", "choice-event-driven-batch")
    assert sum(r.earned for r in result.results if r.id.split(".", 1)[1] in MATRIX) == 20

    # App Runner is accepted only with its availability named; Lambda only with the jobs' duration.
    other = json.loads(json.dumps(KEY))
    other["workloads"]["first-web-api"] = {"choice": "app-runner", "criteria": ["managed-platform"],
                                           "reasons": "The organisation already runs App Runner services."}
    other["workloads"]["event-driven-batch"]["choice"] = "lambda"
    other["workloads"]["event-driven-batch"]["criteria"].append("job-duration")
    put_matrix(fast_cloud, learner, other)
    found = by_slug(run(fast_cloud, learner))
    fails(found, "choice-first-web-api", "availability-today")
    fails(found, "criteria-first-web-api", "availability-today are not named")
    passes(found, "choice-event-driven-batch", "criteria-event-driven-batch")
    other["workloads"]["first-web-api"]["criteria"].append("availability-today")
    put_matrix(fast_cloud, learner, other)
    passes(by_slug(run(fast_cloud, learner)), "choice-first-web-api", "criteria-first-web-api")

    # Malformed JSON, a document of another shape, unknown words, no reasons: findings, never tracebacks.
    put_matrix(fast_cloud, learner, b'{"workloads": {"first-web-api": ')
    found = by_slug(run(fast_cloud, learner))
    for slug in MATRIX:
        fails(found, slug, "not JSON")
    put_matrix(fast_cloud, learner, [1, 2])
    fails(by_slug(run(fast_cloud, learner)), "choice-first-web-api", '"workloads"')
    odd = json.loads(json.dumps(KEY))
    odd["workloads"]["first-web-api"]["choice"] = "kubernetes"
    odd["workloads"]["kubernetes-platform"]["criteria"] = ["portability", "kubernetes-portability"]
    odd["workloads"]["event-driven-batch"]["reasons"] = "cheap"
    del odd["workloads"]["event-driven-batch"]["criteria"]
    put_matrix(fast_cloud, learner, odd)
    found = by_slug(run(fast_cloud, learner))
    fails(found, "choice-first-web-api", "must be one of", "'kubernetes'")
    fails(found, "criteria-kubernetes-platform", "unknown criteria", "'portability'")
    fails(found, "criteria-event-driven-batch", '"criteria" must be a list')
    odd["workloads"]["event-driven-batch"]["criteria"] = ["aws-integration", "operational-simplicity"]
    put_matrix(fast_cloud, learner, odd)
    fails(by_slug(run(fast_cloud, learner)), "criteria-event-driven-batch", "say why")


# -- App Runner refused: skipped, not graded ------------------------------------------------------

def test_app_runner_refused_on_aws_is_skipped_and_not_graded(fast_cloud, learner):
    # On the workshop cloud, a CreateService App Runner refused as a bad request (no such access role)
    # is a failure with the hint, not a skip.
    apprunner = fast_cloud.client("apprunner", learner)
    with pytest.raises(apprunner.exceptions.ClientError):
        apprunner.create_service(ServiceName=part.APPRUNNER_SERVICE, SourceConfiguration={"ImageRepository": {
            "ImageIdentifier": "123.dkr.ecr.us-east-1.amazonaws.com/shop:1", "ImageRepositoryType": "ECR"},
            "AuthenticationConfiguration": {"AccessRoleArn": f"arn:aws:iam::{learner}:role/none"}})
    found = by_slug(run(fast_cloud, learner))
    fails(found, "app-runner-service", "no CreateService")

    # What AWS answers a new account: the refusal names the account's access, not the request.
    assert part.apprunner_refusal({"errorCode": "InvalidRequestException", "errorMessage": "bad role"}) == ""
    refusal = part.apprunner_refusal({"errorCode": "AccessDeniedException",
                                      "errorMessage": "App Runner is not available to new customers"})
    assert refusal.startswith("AccessDeniedException")
    lab = Lab(part.LAB_ID, "Containers (test)")
    part.register(lab)
    check = next(c for c in lab.checks if c.id.endswith(".app-runner-service"))
    state = SimpleNamespace(extra={part.READ_ATTRIBUTE: part.Choices(on_aws=True, apprunner_refused=refusal)})
    r = _run_check(check, state, None)
    assert r.skipped and not r.passed and r.earned == 0 and r.hint == ""
    assert "closed to new customers since 2026-04-30" in r.message and "ECS Express Mode" in r.message

    # Not graded: out of the score and the total, not the next thing to fix, shown as SKIP.
    from checker import grading
    from checker.report import render_table
    from checker.widget import render_html

    other = _run_check(type(check)(f"{part.LAB_ID}.other", "Other", 5, ("h",), "", None,
                                   lambda st: part.passed("ok")), state, None)
    result = LabResult(lab=part.LAB_ID, title="t", endpoint="e", account=learner, results=[r, other])
    assert (result.score, result.total, result.all_passed, result.first_failure) == (5, 5, True, None)
    assert "SKIP  05-containers.app-runner-service" in render_table(result)
    assert "ws-skip" in render_html(result) and "not graded" in render_html(result)
    assert LabResult.from_dict(json.loads(json.dumps(result.to_dict()))).results[0].skipped
    grading._last[part.LAB_ID] = result
    try:
        grading.require(f"{part.LAB_ID}.app-runner-service")       # does not raise: not counted against
    finally:
        grading._last.pop(part.LAB_ID, None)


# -- Express Mode and App Runner with the sample image ---------------------------------------------

def _containers() -> bool:
    from workshop.images import podman

    return podman.user_namespaces()


@pytest.mark.skipif(not _containers(), reason="no user namespaces here")
def test_the_sample_image_on_express_mode_and_app_runner(fast_cloud, learner, tmp_path):
    from labkit import app_runner_url, express_service_url
    from labkit import lab05_choices as kit
    from tests import ecs_images as ei

    ecr, ecs = fast_cloud.client("ecr", learner), fast_cloud.client("ecs", learner)
    uri = ecr.create_repository(repositoryName=REPO_NAME)["repository"]["repositoryUri"]
    ei.build(fast_cloud, learner, ei.data_dir_with_base(tmp_path), ei.sample_app(tmp_path, "1.0.0"), f"{uri}:1.0.0")
    roles = kit.express_roles()
    arn = ecs.create_express_gateway_service(
        serviceName=part.EXPRESS_SERVICE, executionRoleArn=roles["execution"],
        infrastructureRoleArn=roles["infrastructure"], healthCheckPath="/health",
        primaryContainer={"image": f"{uri}:1.0.0", "containerPort": 8080})["service"]["serviceArn"]
    url = express_service_url(arn)
    assert ei.wait_for(lambda: _answers(url), timeout=180)
    service = kit.create_app_runner_service(part.APPRUNNER_SERVICE, f"{uri}:1.0.0")
    assert kit.wait_for_app_runner(service["ServiceArn"], timeout=180)["Status"] == "RUNNING"
    assert _answers(app_runner_url(part.APPRUNNER_SERVICE))

    # The learner's requests through the URL: the load balancer's own count is what the check reads.
    assert kit.wait_until_answers(url, requests=5, timeout=120) >= 5
    found = by_slug(run(fast_cloud, learner))
    passes(found, "express-service", "app-runner-service")
    assert "2XX" in found["express-service"].message


@pytest.mark.skipif(not _containers(), reason="no user namespaces here")
def test_an_express_service_that_never_answered_or_runs_another_image_fails(fast_cloud, learner, tmp_path):
    from labkit import lab05_choices as kit
    from tests import ecs_images as ei

    ecr, ecs = fast_cloud.client("ecr", learner), fast_cloud.client("ecs", learner)
    uri = ecr.create_repository(repositoryName=REPO_NAME)["repository"]["repositoryUri"]
    ei.build(fast_cloud, learner, ei.data_dir_with_base(tmp_path), ei.sample_app(tmp_path, "1.0.0"), f"{uri}:1.0.0")
    roles = kit.express_roles()
    arn = ecs.create_express_gateway_service(
        serviceName=part.EXPRESS_SERVICE, executionRoleArn=roles["execution"],
        infrastructureRoleArn=roles["infrastructure"], healthCheckPath="/health",
        primaryContainer={"image": f"{uri}:1.0.0", "containerPort": 8080})["service"]["serviceArn"]
    # Its targets get healthy (the load balancer's health checks), but no request went through its URL.
    elb = fast_cloud.client("elbv2", learner)
    revision = ecs.describe_express_gateway_service(serviceArn=arn)["service"]["activeConfigurations"][0]
    resources = ecs.describe_service_revisions(serviceRevisionArns=[revision["serviceRevisionArn"]])[
        "serviceRevisions"][0]["ecsManagedResources"]
    group = resources["ingressPaths"][0]["targetGroups"][0]["arn"]
    ei.wait_for(lambda: [d for d in elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
                         if d["TargetHealth"]["State"] == "healthy"], timeout=180)
    found = by_slug(run(fast_cloud, learner))
    fails(found, "express-service", "no 2XX answer")
    fails(found, "app-runner-service", "no CreateService")

    # Another account: the service runs an image of another repository; a third: a tag the sample
    # app's repository does not have.
    for repository, tag, words in (("other-app", "1.0.0", f"not an image of {REPO_NAME}"),
                                   (REPO_NAME, "9.9.9", "not in this account's ECR")):
        other = new_account()
        uri = fast_cloud.client("ecr", other).create_repository(repositoryName=repository)["repository"][
            "repositoryUri"]
        iam = fast_cloud.client("iam", other)
        roles = {}
        for name, principal in (("execution", "ecs-tasks.amazonaws.com"), ("infrastructure", "ecs.amazonaws.com")):
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"Service": principal}}]}
            roles[name] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        fast_cloud.client("ecs", other).create_express_gateway_service(
            serviceName=part.EXPRESS_SERVICE, executionRoleArn=roles["execution"],
            infrastructureRoleArn=roles["infrastructure"], primaryContainer={"image": f"{uri}:{tag}",
                                                                             "containerPort": 8080})
        fails(by_slug(run(fast_cloud, other)), "express-service", words)


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False
