"""The rules of a pipeline's structure: the action types AWS offers (their
artifact counts and configuration keys), and the checks CreatePipeline and
UpdatePipeline make before a pipeline is stored, with AWS's error codes."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from workshop.cloud.services.codepipeline.exceptions import error, structure, validation

_NAME = re.compile(r"^[A-Za-z0-9.@\-_]+$")
_ARTIFACT_NAME = re.compile(r"^[a-zA-Z0-9_\-]+$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9@\-_]+$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9@\-_]+$")
CFN_MODES = ("CHANGE_SET_EXECUTE", "CHANGE_SET_REPLACE", "CREATE_UPDATE", "DELETE_ONLY", "REPLACE_ON_FAILURE")
CFN_CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
EXECUTION_MODES = ("SUPERSEDED", "QUEUED", "PARALLEL")


@dataclass(frozen=True)
class ActionType:
    category: str
    provider: str
    inputs: tuple[int, int]
    outputs: tuple[int, int]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


def _t(category, provider, inputs, outputs, required=(), optional=()) -> ActionType:
    return ActionType(category, provider, inputs, outputs, tuple(required), tuple(optional))


# AWS-owned action types, version 1. Artifact bounds and configuration keys as
# the CodePipeline action structure reference gives them. A pipeline may use any
# of them; the ones without a handler in actions/ fail when an execution reaches them.
_CATALOGUE = [
    _t("Source", "CodeCommit", (0, 0), (1, 1), ("RepositoryName", "BranchName"),
       ("PollForSourceChanges", "OutputArtifactFormat")),
    _t("Source", "S3", (0, 0), (1, 1), ("S3Bucket", "S3ObjectKey"),
       ("PollForSourceChanges", "AllowOverrideForS3ObjectKey")),
    _t("Source", "ECR", (0, 0), (1, 1), ("RepositoryName",), ("ImageTag",)),
    _t("Source", "CodeStarSourceConnection", (0, 0), (1, 1), ("ConnectionArn", "FullRepositoryId", "BranchName"),
       ("OutputArtifactFormat", "DetectChanges")),
    _t("Build", "CodeBuild", (1, 5), (0, 5), ("ProjectName",),
       ("PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables")),
    _t("Test", "CodeBuild", (1, 5), (0, 5), ("ProjectName",),
       ("PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables")),
    _t("Build", "ECRBuildAndPublish", (1, 1), (0, 0), ("ECRRepositoryName",)),
    _t("Test", "DeviceFarm", (1, 1), (0, 0), ("ProjectId", "DevicePoolArn", "AppType")),
    _t("Approval", "Manual", (0, 0), (0, 0), (), ("CustomData", "ExternalEntityLink", "NotificationArn")),
    _t("Deploy", "CloudFormation", (0, 10), (0, 1), ("ActionMode", "StackName"),
       ("TemplatePath", "TemplateConfiguration", "ParameterOverrides", "Capabilities", "RoleArn",
        "ChangeSetName", "OutputFileName")),
    _t("Deploy", "CodeDeploy", (1, 1), (0, 0), ("ApplicationName", "DeploymentGroupName")),
    _t("Deploy", "S3", (1, 1), (0, 0), ("BucketName", "Extract"),
       ("ObjectKey", "KMSEncryptionKeyARN", "CannedACL", "CacheControl")),
    _t("Deploy", "ECS", (1, 1), (0, 0), ("ClusterName", "ServiceName"), ("FileName", "DeploymentTimeout")),
    _t("Deploy", "CodeDeployToECS", (1, 3), (0, 0),
       ("ApplicationName", "DeploymentGroupName", "TaskDefinitionTemplateArtifact", "AppSpecTemplateArtifact"),
       ("TaskDefinitionTemplatePath", "AppSpecTemplatePath", "Image1ArtifactName", "Image1ContainerName")),
    _t("Deploy", "ElasticBeanstalk", (1, 1), (0, 0), ("ApplicationName", "EnvironmentName")),
    _t("Invoke", "Lambda", (0, 5), (0, 5), ("FunctionName",), ("UserParameters",)),
    _t("Invoke", "StepFunctions", (0, 1), (0, 1), ("StateMachineArn",),
       ("ExecutionNamePrefix", "InputType", "Input")),
]
ACTION_TYPES: dict[tuple[str, str], ActionType] = {(t.category, t.provider): t for t in _CATALOGUE}


def action_type(type_id: dict) -> ActionType | None:
    if type_id.get("owner") != "AWS" or str(type_id.get("version")) != "1":
        return None
    return ACTION_TYPES.get((type_id.get("category"), type_id.get("provider")))


def _described(type_id: dict) -> str:
    return (f"ActionType (Category: '{type_id.get('category')}', Provider: '{type_id.get('provider')}', "
            f"Owner: '{type_id.get('owner')}', Version: '{type_id.get('version')}')")


def normalize(pipeline: dict, region: str) -> dict:
    """The declaration as AWS stores it (defaults filled in), after its checks."""
    p = copy.deepcopy(pipeline)
    name = p.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise validation(f"1 validation error detected: Value '{name}' at 'pipeline.name' failed to satisfy "
                         "constraint: Member must satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+")
    p.setdefault("pipelineType", "V1")
    p.setdefault("executionMode", "SUPERSEDED")
    if p["executionMode"] not in EXECUTION_MODES:
        raise validation(f"Invalid execution mode {p['executionMode']}: use one of {', '.join(EXECUTION_MODES)}")
    if p["pipelineType"] == "V1":
        if p["executionMode"] != "SUPERSEDED":
            raise validation(f"Execution mode {p['executionMode']} is only supported for pipelines of type V2")
        for key in ("variables", "triggers"):
            if p.get(key):
                raise validation(f"Pipeline-level {key} are only supported for pipelines of type V2")
    _check_store(p, region)
    _check_variables(p.get("variables") or [])
    stages = p.get("stages") or []
    if len(stages) < 2:
        raise structure(f"Pipeline has only {len(stages)} stage(s). "
                        "There should be a minimum of 2 stages in a pipeline")
    seen_stages: set[str] = set()
    produced: dict[str, str] = {}  # artifact -> action that outputs it
    namespaces: set[str] = set()
    for index, stage in enumerate(stages):
        _check_stage(stage, index, seen_stages, produced, namespaces)
    return p


def _check_store(p: dict, region: str) -> None:
    store, stores = p.get("artifactStore"), p.get("artifactStores")
    if store and stores:
        raise structure("Pipeline cannot have both artifactStore and artifactStores")
    if not store and not stores:
        raise structure("Pipeline must have an artifactStore (or artifactStores for cross-region actions)")
    for where, item in ([("artifactStore", store)] if store else
                        [(f"artifactStores.{r}", s) for r, s in stores.items()]):
        if item.get("type") != "S3":
            raise validation(f"{where}.type must be S3")
        if not item.get("location"):
            raise validation(f"{where}.location must name an S3 bucket")
    if stores and region not in stores:
        raise structure(f"artifactStores must include the pipeline's own region {region}")


def _check_variables(variables: list) -> None:
    names = set()
    for var in variables:
        name = var.get("name")
        if not isinstance(name, str) or not _VARIABLE_NAME.match(name):
            raise validation(f"Invalid pipeline variable name {name!r}: use letters, digits, @, - and _")
        if name in names:
            raise validation(f"Pipeline variable {name} is declared more than once")
        names.add(name)


def _check_stage(stage: dict, index: int, seen: set[str], produced: dict[str, str], namespaces: set[str]) -> None:
    name = stage.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise error("InvalidStageDeclarationException", f"Stage name {name!r} is not valid: use letters, "
                    "digits and . @ - _")
    if name in seen:
        raise error("InvalidStageDeclarationException", f"Stage name '{name}' is used more than once: "
                    "stage names must be unique in a pipeline")
    seen.add(name)
    actions = stage.get("actions") or []
    if not actions:
        raise error("InvalidStageDeclarationException", f"Stage '{name}' must have at least one action")
    action_names: set[str] = set()
    # Actions of a stage see the outputs of earlier stages and of lower runOrders in the same stage.
    before_stage = dict(produced)
    stage_outputs: list[tuple[int, str, str]] = []
    for action in sorted(actions, key=lambda a: a.get("runOrder") or 1):
        action.setdefault("runOrder", 1)
        action.setdefault("configuration", {})
        action.setdefault("inputArtifacts", [])
        action.setdefault("outputArtifacts", [])
        action_name = action.get("name")
        if not isinstance(action_name, str) or not _NAME.match(action_name):
            raise error("InvalidActionDeclarationException", f"Action name {action_name!r} is not valid: use "
                        "letters, digits and . @ - _")
        if action_name in action_names:
            raise error("InvalidActionDeclarationException", f"Action name '{action_name}' is used more than "
                        f"once in stage '{name}'")
        action_names.add(action_name)
        type_id = action.get("actionTypeId") or {}
        is_source = type_id.get("category") == "Source"
        if index == 0 and not is_source:
            raise structure(f"Stage '{name}' is the first stage of the pipeline: it may only contain source "
                            f"actions, and action '{action_name}' is a {type_id.get('category')} action")
        if index > 0 and is_source:
            raise structure(f"Action '{action_name}' is a source action: source actions belong in the "
                            f"first stage, not in stage '{name}'")
        visible = dict(before_stage)
        visible.update({art: who for order, art, who in stage_outputs if order < action["runOrder"]})
        _check_action(action, visible)
        for artifact in action["outputArtifacts"]:
            art = artifact.get("name")
            if art in produced:
                raise structure(f"Output artifact name '{art}' of action '{action_name}' is already the "
                                f"output of action '{produced[art]}': output artifact names must be unique")
            produced[art] = action_name
            stage_outputs.append((action["runOrder"], art, action_name))
        namespace = action.get("namespace")
        if namespace is not None:
            if not _NAMESPACE.match(namespace):
                raise error("InvalidActionDeclarationException", f"Namespace {namespace!r} of action "
                            f"'{action_name}' is not valid")
            if namespace in namespaces:
                raise error("InvalidActionDeclarationException", f"Namespace '{namespace}' is used by more "
                            "than one action: namespaces must be unique in a pipeline")
            namespaces.add(namespace)
    if stage.get("blockers"):
        raise error("InvalidBlockerDeclarationException", "Blockers are not supported")


def _check_action(action: dict, visible: dict[str, str]) -> None:
    name = action["name"]
    type_id = action.get("actionTypeId") or {}
    kind = action_type(type_id)
    if kind is None and type_id.get("owner") == "AWS":
        raise error("InvalidActionDeclarationException",
                    f"{_described(type_id)} in action '{name}' is not available in region 'US_EAST_1'")
    for direction, bounds in (("input", kind.inputs if kind else (0, 5)),
                              ("output", kind.outputs if kind else (0, 5))):
        items = action[f"{direction}Artifacts"]
        low, high = bounds
        if len(items) < low:
            raise error("InvalidActionDeclarationException", f"Action {name} declares {len(items)} {direction} "
                        f"artifacts which is less than the minimum count ({low})")
        if len(items) > high:
            raise error("InvalidActionDeclarationException", f"Action {name} declares {len(items)} {direction} "
                        f"artifacts which is more than the maximum count ({high})")
        names = [a.get("name") for a in items]
        for art in names:
            if not isinstance(art, str) or not _ARTIFACT_NAME.match(art):
                raise validation(f"Artifact name {art!r} of action '{name}' is not valid: use letters, digits, "
                                 "- and _")
        if len(set(names)) != len(names):
            raise error("InvalidActionDeclarationException",
                        f"Action {name} declares the same {direction} artifact more than once")
    for artifact in action["inputArtifacts"]:
        if artifact["name"] not in visible:
            raise structure(f"Input Artifact Bundle {artifact['name']} in action '{name}' is not declared as "
                            "an output artifact in any of the preceding actions")
    config = action["configuration"]
    if kind is None:
        return
    for key in kind.required:
        if not config.get(key):
            raise error("InvalidActionDeclarationException",
                        f"Action configuration for action '{name}' is missing required configuration '{key}'")
    allowed = set(kind.required) | set(kind.optional)
    for key in config:
        if key not in allowed:
            raise error("InvalidActionDeclarationException",
                        f"Action configuration for action '{name}' contains unknown configuration '{key}'")
    for key in ("PollForSourceChanges", "BatchEnabled", "CombineArtifacts", "Extract"):
        if key in config and str(config[key]).lower() not in ("true", "false"):
            raise error("InvalidActionDeclarationException", f"Action configuration for action '{name}': "
                        f"'{key}' must be true or false, not {config[key]!r}")
    if kind.provider == "CloudFormation":
        _check_cloudformation(name, config, [a["name"] for a in action["inputArtifacts"]])
    if kind.provider == "S3" and kind.category == "Deploy":
        if str(config["Extract"]).lower() == "false" and not config.get("ObjectKey"):
            raise error("InvalidActionDeclarationException", f"Action configuration for action '{name}': "
                        "ObjectKey is required when Extract is false")


def _check_cloudformation(name: str, config: dict, inputs: list[str]) -> None:
    mode = config.get("ActionMode")
    if mode not in CFN_MODES:
        raise error("InvalidActionDeclarationException", f"Action configuration for action '{name}': ActionMode "
                    f"{mode!r} is not one of {', '.join(CFN_MODES)}")
    needs_template = mode in ("CREATE_UPDATE", "REPLACE_ON_FAILURE", "CHANGE_SET_REPLACE")
    if needs_template and not config.get("TemplatePath"):
        raise error("InvalidActionDeclarationException", f"Action configuration for action '{name}' is missing "
                    f"required configuration 'TemplatePath' (ActionMode {mode})")
    if mode.startswith("CHANGE_SET") and not config.get("ChangeSetName"):
        raise error("InvalidActionDeclarationException", f"Action configuration for action '{name}' is missing "
                    f"required configuration 'ChangeSetName' (ActionMode {mode})")
    for key in ("TemplatePath", "TemplateConfiguration"):
        value = config.get(key)
        if not value:
            continue
        artifact, sep, path = str(value).partition("::")
        if not sep or not path:
            raise error("InvalidActionDeclarationException", f"Action configuration for action '{name}': {key} "
                        f"{value!r} must look like ArtifactName::path/in/artifact")
        if "#{" not in artifact and artifact not in inputs:
            raise error("InvalidActionDeclarationException", f"Action configuration for action '{name}': {key} "
                        f"names artifact '{artifact}', which is not an input artifact of the action")
    for capability in filter(None, (c.strip() for c in str(config.get("Capabilities") or "").split(","))):
        if capability not in CFN_CAPABILITIES:
            raise error("InvalidActionDeclarationException", f"Action configuration for action '{name}': "
                        f"unknown capability {capability!r}")


def first_stage_sources(declaration: dict) -> list[dict]:
    stages = declaration.get("stages") or []
    return [a for a in (stages[0].get("actions") or [])] if stages else []
