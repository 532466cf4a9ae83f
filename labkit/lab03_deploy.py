"""Lab 03-deploy's helpers: its names (shared with its checks), the workshop
clock's time scale (how long a wait AWS imposes, such as a canary's bake,
lasts here), and its reset, which removes the lab's pipeline, build project
and repository, both CodeDeploy applications, the four instances, the
function, its alarm and logs, the roles and the bucket, and nothing else."""

from __future__ import annotations

from checker.labs import bucket_name
from checker.labs.lab03_deploy import (
    ALARM_NAME,
    ALIAS,
    BUCKET_PREFIX,
    BUILD_PROJECT,
    CODEDEPLOY_ROLE,
    FLEET_TAG,
    FUNCTION_NAME,
    INSTANCES,
    LAB_ID,
    LAMBDA_APP,
    LAMBDA_GROUP,
    LAMBDA_ROLE,
    PIPELINE_NAME,
    PIPELINE_ROLE,
    REPO_NAME,
    SERVER_APP,
    SERVER_GROUP,
)
from labkit.reset import Cleanup, resetter

__all__ = ["LAB_ID", "BUCKET_PREFIX", "CODEDEPLOY_ROLE", "LAMBDA_ROLE", "PIPELINE_ROLE", "FLEET_TAG",
           "INSTANCES", "SERVER_APP", "SERVER_GROUP", "FUNCTION_NAME", "ALIAS", "ALARM_NAME", "LAMBDA_APP",
           "LAMBDA_GROUP", "REPO_NAME", "BUILD_PROJECT", "PIPELINE_NAME", "time_scale", "reset"]


def time_scale() -> float:
    """How many times faster than AWS the workshop clock runs the waits AWS imposes
    (canary bakes, alarm periods): 60 means a 5-minute bake lasts 5 s. The workshop
    cloud says so in its health answer; anywhere else (real AWS) it is 1."""
    from checker.session import time_scale as scale

    return scale()


# -- reset ---------------------------------------------------------------------------

def _code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


@resetter(LAB_ID)
def reset(cleanup: Cleanup) -> None:
    _delete_pipeline(cleanup)
    _delete_codedeploy(cleanup)
    _delete_fleet(cleanup)
    _delete_function(cleanup)
    cw = cleanup.client("cloudwatch")
    if cw.describe_alarms(AlarmNames=[ALARM_NAME]).get("MetricAlarms"):
        cleanup.attempt(f"deleted alarm {ALARM_NAME}", lambda: cw.delete_alarms(AlarmNames=[ALARM_NAME]))
    for role in (CODEDEPLOY_ROLE, LAMBDA_ROLE, PIPELINE_ROLE):
        _delete_role(cleanup, role)
    cleanup.delete_bucket(bucket_name(BUCKET_PREFIX, cleanup.account, cleanup.region))


def _delete_pipeline(cleanup: Cleanup) -> None:
    """The pipeline, the build project (with the report groups and logs its builds made), the repository."""
    cp, cb, cc = cleanup.client("codepipeline"), cleanup.client("codebuild"), cleanup.client("codecommit")
    cleanup.attempt(f"deleted pipeline {PIPELINE_NAME}", lambda: _delete_pipeline_only(cp),
             missing=("PipelineNotFoundException",))
    if cb.batch_get_projects(names=[BUILD_PROJECT]).get("projects"):
        cleanup.attempt(f"deleted build project {BUILD_PROJECT}", lambda: cb.delete_project(name=BUILD_PROJECT))
    arns = []
    for page in cb.get_paginator("list_report_groups").paginate():
        arns += page.get("reportGroups", [])
    for start in range(0, len(arns), 100):
        for group in cb.batch_get_report_groups(reportGroupArns=arns[start:start + 100]).get("reportGroups", []):
            if group.get("name", "").startswith(f"{BUILD_PROJECT}-"):
                cleanup.attempt(f"deleted report group {group['name']} and its reports",
                         lambda a=group["arn"]: cb.delete_report_group(arn=a, deleteReports=True))
    _delete_log_group(cleanup, f"/aws/codebuild/{BUILD_PROJECT}")
    cleanup.attempt(f"deleted repository {REPO_NAME}",
             lambda: _delete_repository(cc), missing=("RepositoryDoesNotExistException",))


def _delete_pipeline_only(cp) -> None:
    cp.get_pipeline(name=PIPELINE_NAME)   # deleting a missing pipeline answers without an error
    cp.delete_pipeline(name=PIPELINE_NAME)


def _delete_repository(cc) -> None:
    cc.get_repository(repositoryName=REPO_NAME)   # deleting a missing repository answers without an error
    cc.delete_repository(repositoryName=REPO_NAME)


def _delete_codedeploy(cleanup: Cleanup) -> None:
    """Stop what still runs (no rollback), then delete both applications with their groups."""
    cd = cleanup.client("codedeploy")
    for app, group in ((SERVER_APP, SERVER_GROUP), (LAMBDA_APP, LAMBDA_GROUP)):
        try:
            running = cd.list_deployments(applicationName=app, deploymentGroupName=group, includeOnlyStatuses=[
                "Created", "Queued", "InProgress", "Baking", "Ready"]).get("deployments", [])
        except Exception:   # no such application or group: nothing runs
            running = []
        for deployment_id in running:
            cleanup.attempt(f"stopped deployment {deployment_id}",
                     lambda d=deployment_id: cd.stop_deployment(deploymentId=d, autoRollbackEnabled=False))
        cleanup.attempt(f"deleted CodeDeploy application {app} (with its deployment groups)",
                 lambda a=app: _delete_application(cd, a), missing=("ApplicationDoesNotExistException",))


def _delete_application(cd, name: str) -> None:
    cd.get_application(applicationName=name)   # deleting a missing application answers without an error
    cd.delete_application(applicationName=name)


def _delete_fleet(cleanup: Cleanup) -> None:
    cd = cleanup.client("codedeploy")
    registered = set(cd.list_on_premises_instances(registrationStatus="Registered").get("instanceNames", []))
    for name in INSTANCES:
        if name in registered:
            cleanup.attempt(f"deregistered on-premises instance {name}",
                     lambda n=name: cd.deregister_on_premises_instance(instanceName=n))


def _delete_function(cleanup: Cleanup) -> None:
    lam = cleanup.client("lambda")
    cleanup.attempt(f"deleted function {FUNCTION_NAME} (its versions and alias {ALIAS})",
             lambda: lam.delete_function(FunctionName=FUNCTION_NAME), missing=("ResourceNotFoundException",))
    _delete_log_group(cleanup, f"/aws/lambda/{FUNCTION_NAME}")


def _delete_log_group(cleanup: Cleanup, name: str) -> None:
    logs = cleanup.client("logs")
    cleanup.attempt(f"deleted log group {name}", lambda: logs.delete_log_group(logGroupName=name),
             missing=("ResourceNotFoundException",))


def _delete_role(cleanup: Cleanup, role: str) -> None:
    from botocore.exceptions import ClientError

    iam = cleanup.client("iam")
    try:
        for policy in iam.list_role_policies(RoleName=role).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=role, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=role).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
    except ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            cleanup.could_not(f"empty role {role}: {exc}")
        return
    cleanup.attempt(f"deleted role {role}", lambda: iam.delete_role(RoleName=role), missing=("NoSuchEntity",))
