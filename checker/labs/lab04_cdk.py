"""Lab 04-iac Part 2 checks: the stack ``workshop-04-iac-cdk`` as CloudFormation keeps it
(its template and resources), the learner's change sets in CloudTrail, and the measurement
in the lab bucket, recomputed from the stored templates; read once with Part 1's read."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from checker.labs import (
    LAB_TAG_KEY,
    by_learner,
    has_lab_tag,
    loads_json,
    missing,
    param,
    parse_template,
    parse_time,
    tag_dict,
)
from checker.labs.lab04_iac import LAB, LAB_ID, Iac, _denies_plain_http, _stack_unusable_named, lab_trail
from checker.registry import Finding, failed, passed

CDK_STACK = "workshop-04-iac-cdk"
APP_KEY = "cdk/app.py"            # the app's source, as the notebook measured it
REDUCTION_KEY = "cdk/reduction.json"  # the measurement and the written comparison
# What a comparison of templates and code weighs; a learner names at least three.
CRITERIA = ("abstraction", "reuse", "review", "readability", "testing", "tooling", "team skills",
            "learning curve", "portability", "loops and conditions", "size", "governance", "drift")
CHOICES = ("templates", "cdk")

_CDK = "https://docs.aws.amazon.com/cdk/v2/guide"
TAG = f"{LAB_TAG_KEY}={LAB_ID}"


def code_lines(text: str) -> int:
    """Lines of code: not blank and not only a comment (``#`` in YAML and Python)."""
    return sum(1 for line in str(text).splitlines() if line.strip() and not line.strip().startswith("#"))


def template_text(template: Any) -> str:
    """A synthesized (JSON) template as CDK writes it to cdk.out: indented by one space."""
    return json.dumps(template, indent=1)


# -- CDK's own ways, re-derived: logical ids from construct paths, the Analytics string ---------

def logical_id(path: str) -> str:
    """The logical id CDK gives the CloudFormation element at construct ``path`` (``Stack/A/B``):
    aws-cdk-lib's makeUniqueId over the components under the stack (``Default`` hidden,
    ``Resource`` kept out of the readable part, an MD5 of the path appended)."""
    components = [c for c in path.split("/")[1:] if c != "Default"]
    if not components:
        return ""
    if len(components) == 1:
        return re.sub(r"[^A-Za-z0-9]", "", components[0])
    digest = hashlib.md5("/".join(components).encode()).hexdigest()[:8].upper()  # noqa: S324 (CDK's choice)
    kept: list[str] = []
    for c in components:
        if not kept or not kept[-1].endswith(c):
            kept.append(c)
    return "".join(re.sub(r"[^A-Za-z0-9]", "", c) for c in kept if c != "Resource")[:240] + digest


def _expand(text: str) -> list[str]:
    """CDK's prefix-encoded list (``a.{b,c}`` is a.b and a.c) as its items."""
    items, pos = _expand_list(text, 0)
    return items


def _expand_list(text: str, pos: int) -> tuple[list[str], int]:
    out: list[str] = []
    while pos <= len(text):
        start = pos
        while pos < len(text) and text[pos] not in "{},":
            pos += 1
        prefix = text[start:pos]
        if pos < len(text) and text[pos] == "{":
            inner, pos = _expand_list(text, pos + 1)
            out += [prefix + i for i in inner]
            pos += 1  # the closing brace
        else:
            out.append(prefix)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    return out, pos


def analytics(value: Any) -> list[str] | None:
    """The constructs a ``CDKMetadata`` resource's Analytics string lists
    (``v2:deflate64:`` + base64 of gzip), e.g. ``2.275.0!aws-cdk-lib.aws_s3.Bucket``; None when
    it does not decode."""
    if not isinstance(value, str) or not value.startswith("v2:deflate64:"):
        return None
    try:
        text = zlib.decompress(base64.b64decode(value.split(":", 2)[2], validate=True), 16 + zlib.MAX_WBITS)
        return [i for i in _expand(text.decode()) if i]
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None


def cfn_class(resource_type: str) -> str:
    """The aws-cdk-lib L1 class of a CloudFormation type: AWS::S3::Bucket -> aws_s3.CfnBucket."""
    parts = resource_type.split("::")
    return f"aws_{parts[1].lower()}.Cfn{parts[2]}" if len(parts) == 3 else ""


# -- the read -------------------------------------------------------------------------------

@dataclass
class Cdk:
    """Part 2, read once (with Part 1's read: ``Iac.cdk``)."""

    stack: dict | None = None
    stack_problem: str = ""
    resources: list[dict] = field(default_factory=list)
    template: dict | None = None
    template_problem: str = ""
    buckets: dict[str, dict] = field(default_factory=dict)  # logical id -> what S3 says of it
    topic_subscriptions: list[dict] = field(default_factory=list)
    queue_arns: list[str] = field(default_factory=list)
    parameters: dict[str, bool] = field(default_factory=dict)  # name -> exists
    trail_problem: str = ""
    executions: list[dict] = field(default_factory=list)  # the learner's ExecuteChangeSet on the stack
    creations: list[dict] = field(default_factory=list)   # the learner's CreateStack/CreateChangeSet (CREATE)
    document: dict | None = None
    document_problem: str = ""
    app_source: str | None = None

    def live(self, logical: str) -> dict | None:
        return next((r for r in self.resources if r.get("LogicalResourceId") == logical
                     and r.get("PhysicalResourceId") and r.get("ResourceStatus", "").endswith("_COMPLETE")
                     and not r.get("ResourceStatus", "").startswith("DELETE")), None)

    def of_type(self, resource_type: str) -> dict[str, dict]:
        res = (self.template or {}).get("Resources") or {}
        return {k: v for k, v in res.items() if isinstance(v, dict) and v.get("Type") == resource_type}


def read_cdk(account, st: Iac) -> Cdk:
    cdk = Cdk()
    answer = account.poll(lambda: account.call("cloudformation", "describe_stacks", StackName=CDK_STACK),
                          lambda a: not a or not a.get("Stacks") or not a["Stacks"][0].get(
                              "StackStatus", "").endswith("_IN_PROGRESS")
                          or a["Stacks"][0].get("StackStatus") == "REVIEW_IN_PROGRESS", timeout=15)
    _read_document(account, st, cdk)
    if not answer or not answer.get("Stacks"):
        cdk.stack_problem = f"There is no stack named {CDK_STACK} in account {account.id} ({account.region})."
        return cdk
    cdk.stack = answer["Stacks"][0]
    cdk.resources = (account.call("cloudformation", "describe_stack_resources", StackName=CDK_STACK)
                     or {}).get("StackResources", [])
    tpl = account.call("cloudformation", "get_template", StackName=CDK_STACK, TemplateStage="Original")
    body = (tpl or {}).get("TemplateBody")
    try:  # the notebook sends JSON; the CDK CLI sends YAML
        cdk.template = dict(body) if isinstance(body, dict) else json.loads(body or "")
    except ValueError:
        try:
            cdk.template = parse_template(body or "")
        except Exception as exc:  # a template CloudFormation accepted but we cannot read
            cdk.template_problem = f"cannot read it ({exc})"
    if tpl is None:
        cdk.template_problem = account.errors.get("cloudformation.get_template", "no template")
    for logical in cdk.of_type("AWS::S3::Bucket"):
        row = cdk.live(logical)
        if row:
            cdk.buckets[logical] = _bucket(account, row["PhysicalResourceId"])
    for logical in cdk.of_type("AWS::SNS::Topic"):
        row = cdk.live(logical)
        subs = row and account.call("sns", "list_subscriptions_by_topic", TopicArn=row["PhysicalResourceId"])
        cdk.topic_subscriptions += (subs or {}).get("Subscriptions", [])
    for logical in cdk.of_type("AWS::SQS::Queue"):
        row = cdk.live(logical)
        attrs = row and account.call("sqs", "get_queue_attributes", QueueUrl=row["PhysicalResourceId"],
                                     AttributeNames=["QueueArn"])
        if attrs:
            cdk.queue_arns.append((attrs.get("Attributes") or {}).get("QueueArn", ""))
    for logical in cdk.of_type("AWS::SSM::Parameter"):
        row = cdk.live(logical)
        if row:
            cdk.parameters[row["PhysicalResourceId"]] = account.call(
                "ssm", "get_parameter", Name=row["PhysicalResourceId"]) is not None
    _read_trail(account, cdk)
    return cdk


def _bucket(account, name: str) -> dict:
    b: dict = {"name": name, "exists": account.call("s3", "head_bucket", Bucket=name) is not None}
    if b["exists"]:
        b["versioning"] = (account.call("s3", "get_bucket_versioning", Bucket=name) or {}).get("Status")
        enc = account.call("s3", "get_bucket_encryption", Bucket=name)
        b["encryption"] = bool(((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules"))
        pol = account.call("s3", "get_bucket_policy", Bucket=name)
        try:
            b["policy"] = json.loads(pol["Policy"]) if pol and pol.get("Policy") else None
        except ValueError:
            b["policy"] = None
        b["tags"] = tag_dict((account.call("s3", "get_bucket_tagging", Bucket=name) or {}).get("TagSet"))
    return b


def _read_trail(account, cdk: Cdk) -> None:
    created = parse_time(cdk.stack.get("CreationTime"))
    stack_id = cdk.stack.get("StackId")

    def ours(e: dict) -> bool:
        return by_learner(e) and param(e, "StackName") in (CDK_STACK, stack_id)

    def since(e: dict) -> bool:  # CloudTrail's times have whole seconds
        when = parse_time(e.get("eventTime"))
        return created is None or when is None or when >= created.replace(microsecond=0)

    executions = lab_trail(account, "ExecuteChangeSet")
    if executions is None:
        cdk.trail_problem = f"CloudTrail cannot be read ({account.errors.get('cloudtrail.lookup_events', '')})"
        return
    cdk.executions = [e for e in executions if ours(e) and since(e)]
    def this_stack(e: dict) -> bool:  # not the call that made an earlier stack of the same name
        made = param(e, "StackId", "responseElements")
        return made == stack_id if made else since(e)

    made = [e for e in lab_trail(account, "CreateStack") or [] if ours(e) and this_stack(e)]
    made += [e for e in lab_trail(account, "CreateChangeSet") or [] if ours(e) and this_stack(e)
             and str(param(e, "ChangeSetType") or "").upper() == "CREATE"]
    cdk.creations = made


def _read_document(account, st: Iac, cdk: Cdk) -> None:
    bucket = st.lab_bucket
    obj = account.call("s3", "get_object", Bucket=bucket, Key=REDUCTION_KEY)
    if obj is None:
        cdk.document_problem = f"There is no s3://{bucket}/{REDUCTION_KEY}."
    else:
        try:
            doc = loads_json(obj["Body"].read())
            cdk.document = doc if isinstance(doc, dict) else None
            if cdk.document is None:
                cdk.document_problem = f"s3://{bucket}/{REDUCTION_KEY} is not a JSON object."
        except ValueError:
            cdk.document_problem = f"s3://{bucket}/{REDUCTION_KEY} is not JSON."
    app = account.call("s3", "get_object", Bucket=bucket, Key=APP_KEY)
    if app is not None:
        cdk.app_source = app["Body"].read().decode("utf-8", "replace")


# -- what the stored template says about its making ------------------------------------------

def _synthesis(cdk: Cdk) -> tuple[list[str], str]:
    """The constructs CDK's metadata lists, or ([], why the template is not CDK's synthesis):
    a CDKMetadata resource whose Analytics decodes and names the L1 class of every resource type,
    and every resource's ``aws:cdk:path`` under the stack, giving its logical id as CDK derives it."""
    if cdk.template is None:
        return [], f"Cannot read the template of {CDK_STACK}: {cdk.template_problem}."
    res = {k: v for k, v in (cdk.template.get("Resources") or {}).items() if isinstance(v, dict)}
    meta = [v for v in res.values() if v.get("Type") == "AWS::CDK::Metadata"]
    if not meta:
        return [], (f"The template of {CDK_STACK} has no AWS::CDK::Metadata resource: synthesize it with CDK and "
                    "analytics reporting on (cdk.App(analytics_reporting=True)).")
    listed = analytics((meta[0].get("Properties") or {}).get("Analytics"))
    if not listed:
        return [], ("The CDKMetadata resource's Analytics is not the v2:deflate64 string CDK writes: deploy the "
                    "template app.synth() produced, unedited.")
    classes = {i.split("!", 1)[-1].removeprefix("aws-cdk-lib.") for i in listed}
    for logical, r in res.items():
        path = (r.get("Metadata") or {}).get("aws:cdk:path")
        if not isinstance(path, str) or not path.startswith(f"{CDK_STACK}/"):
            return [], (f"Resource {logical} has no aws:cdk:path metadata under {CDK_STACK}/: synthesize with "
                        "path metadata on (context aws:cdk:enable-path-metadata) and deploy that template.")
        if logical_id(path) != logical:
            return [], (f"Resource {logical} claims the construct path {path}, from which CDK derives the logical "
                        f"id {logical_id(path)}: the template was not synthesized from that construct tree.")
        wanted = cfn_class(str(r.get("Type")))
        if r.get("Type") != "AWS::CDK::Metadata" and wanted not in classes:
            return [], (f"CDK's metadata does not list {wanted}, the class of {logical} ({r.get('Type')}): the "
                        "template was changed after synthesis.")
    return sorted(classes), ""


def _reused(cdk: Cdk) -> tuple[list[str], list[str]]:
    """Scopes directly under the stack that hold the same construct: the same resources (relative
    path and type, at least two) under each, none of them the scope's own ``Resource`` (an L2 used
    twice is not a construct of yours). Answers (scopes, their relative paths)."""
    groups: dict[str, set[tuple[str, str]]] = {}
    for r in ((cdk.template or {}).get("Resources") or {}).values():
        path = str(((r or {}).get("Metadata") or {}).get("aws:cdk:path") or "")
        parts = path.split("/")
        if len(parts) >= 3 and r.get("Type") != "AWS::CDK::Metadata":
            groups.setdefault(parts[1], set()).add(("/".join(parts[2:]), str(r.get("Type"))))
    shapes: dict[frozenset, list[str]] = {}
    for scope, members in groups.items():
        if len(members) >= 2 and not any(rel in ("Resource", "Default") for rel, _ in members):
            shapes.setdefault(frozenset(members), []).append(scope)
    best = max(shapes.items(), key=lambda kv: (len(kv[1]), len(kv[0])), default=(frozenset(), []))
    return sorted(best[1]), sorted(rel for rel, _ in best[0])


def _scope(resource: Any) -> str:
    """The construct directly under the stack that a resource belongs to ('' without a path)."""
    path = str(((resource or {}).get("Metadata") or {}).get("aws:cdk:path") or "")
    parts = path.split("/")
    return parts[1] if len(parts) >= 2 else ""


def _no_cdk_stack(cdk: Cdk, then: str) -> Finding:
    return missing(cdk.stack_problem, then)


# -- the checks -------------------------------------------------------------------------------

@LAB.check("cdk-synthesized", title="Stack workshop-04-iac-cdk runs a template CDK synthesized", points=15,
           step="cdk-deploy",
           hints=["Write the stack as a CDK app (L2 constructs), synthesize it with app.synth() and deploy the "
                  "template it wrote to cdk.out, unedited, as the stack workshop-04-iac-cdk.",
                  "The checker reads the deployed template (get_template): CDK's metadata must be in it, a "
                  "CDKMetadata resource (cdk.App(analytics_reporting=True)) and each resource's aws:cdk:path "
                  "(context {'aws:cdk:enable-path-metadata': True}).",
                  "app = cdk.App(outdir='cdk.out', analytics_reporting=True, context={'aws:cdk:enable-path-metadata': "
                  "True}); IacStack(app, 'workshop-04-iac-cdk', synthesizer=cdk.BootstraplessSynthesizer()); "
                  "template = app.synth().get_stack_by_name('workshop-04-iac-cdk').template"],
           docs=f"{_CDK}/configure-synth.html")
def cdk_synthesized(st: Iac) -> Finding:
    """Evidence: the template CloudFormation keeps for the stack. A synthesized template's logical
    ids are derived from its construct paths (an MD5 of each), and its CDKMetadata lists, compressed,
    the class of every resource. A template written by hand with made-up metadata fails; one that
    re-derives both by hand cannot be told from synthesis."""
    cdk = st.cdk
    if cdk.stack is None:
        return _no_cdk_stack(cdk, "Synthesize the CDK app and deploy its template (steps 6 and 7).")
    classes, why = _synthesis(cdk)
    if why:
        return failed(why)
    l2 = sorted(c for c in classes if c.startswith("aws_") and ".Cfn" not in c)
    if not l2:
        return failed("CDK's metadata lists only L1 classes (Cfn*): write the stack with L2 constructs "
                      "(s3.Bucket, sns.Topic, sqs.Queue, ssm.StringParameter).")
    kinds = {"AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::SNS::Topic", "AWS::SQS::Queue",
             "AWS::SNS::Subscription", "AWS::SSM::Parameter"}
    absent = sorted(k for k in kinds if not cdk.of_type(k))
    if absent:
        return failed(f"The CDK stack lacks what Part 1's stack has: {', '.join(absent)}.")
    n = len((cdk.template.get("Resources") or {}))
    return passed(f"{CDK_STACK}'s template (get_template) is CDK's: {n} resources whose logical ids follow from "
                  f"their construct paths, CDKMetadata listing the L2 constructs {', '.join(l2)}.")


@LAB.check("cdk-stack-deployed", title="You deployed the CDK stack through a change set; its resources are live",
           points=15, step="cdk-deploy",
           hints=["Review the synthesized template as a change set (what cdk diff shows), execute it, and wait "
                  "for the stack workshop-04-iac-cdk, tagged workshop:lab=04-iac.",
                  "create_change_set with TemplateBody = the synthesized template, ChangeSetType 'CREATE' for a "
                  "new stack ('UPDATE' after), the stack's tags; describe_change_set lists the changes; "
                  "execute_change_set deploys them. CloudTrail keeps who called it.",
                  "cfn.create_change_set(StackName='workshop-04-iac-cdk', ChangeSetName=name, ChangeSetType="
                  "'CREATE', TemplateBody=json.dumps(template), Tags=labkit.lab_tags('04-iac')); ...; "
                  "cfn.execute_change_set(StackName='workshop-04-iac-cdk', ChangeSetName=name)"],
           docs=f"{_CDK}/ref-cli-cmd-diff.html")
def cdk_stack_deployed(st: Iac) -> Finding:
    """Evidence: the stack (describe_stacks), the learner's calls that made and changed it
    (CloudTrail: CreateChangeSet or CreateStack, and ExecuteChangeSet by an identity of the
    account), and its live resources (S3, SNS, SQS, SSM)."""
    cdk = st.cdk
    if cdk.stack is None:
        return _no_cdk_stack(cdk, "Review and deploy the synthesized template (step 7).")
    problem = _stack_unusable_named(cdk.stack, CDK_STACK)
    if problem:
        return failed(problem)
    if not has_lab_tag(cdk.stack.get("Tags"), LAB_ID):
        return failed(f"Stack {CDK_STACK} has no tag {TAG}: pass Tags=labkit.lab_tags('04-iac') to the change set.")
    _, why = _synthesis(cdk)
    if why:
        return failed(f"{CDK_STACK} does not run a template CDK synthesized: {why}")
    if cdk.trail_problem:
        return failed(f"{cdk.trail_problem}: the checker reads your change sets from CloudTrail.")
    if not cdk.executions:
        return failed(f"CloudTrail shows no ExecuteChangeSet by you on {CDK_STACK}: deploy through a change set, "
                      "reviewed first, as cdk deploy does.")
    who = (cdk.creations[0].get("userIdentity") or {}).get("arn") if cdk.creations else None
    if not who:
        return failed(f"CloudTrail shows no CreateChangeSet (CREATE) or CreateStack by you that made {CDK_STACK}.")
    insecure = [b["name"] for b in cdk.buckets.values() if not (b.get("exists") and b.get("versioning") == "Enabled"
                and b.get("encryption") and _denies_plain_http(b.get("policy")))]
    if not cdk.buckets or insecure:
        return failed(f"Not versioned, encrypted and TLS-only: {', '.join(insecure) or 'no live bucket'}.")
    untagged = [b["name"] for b in cdk.buckets.values() if not has_lab_tag(b.get("tags"), LAB_ID)]
    if untagged:
        return failed(f"Without the tag {TAG}: {', '.join(untagged)} (cdk.Tags.of(stack).add(...) tags them all).")
    if not any(s.get("Protocol") == "sqs" and s.get("Endpoint") in cdk.queue_arns for s in cdk.topic_subscriptions):
        return failed("The CDK stack's topic has no live sqs subscription to its queue (topic.add_subscription).")
    if not cdk.parameters or not all(cdk.parameters.values()):
        return failed("The CDK stack's SSM parameter is not there.")
    names = ", ".join(dict.fromkeys(str(param(e, "ChangeSetName")).rsplit("/", 1)[-1] for e in cdk.executions))
    return passed(f"{CDK_STACK} is {cdk.stack.get('StackStatus')}, tagged {TAG}, made by {who} and deployed by "
                  f"change set ({names}; CloudTrail); {len(cdk.buckets)} secure buckets, the subscribed queue and "
                  "the parameter are live.")


@LAB.check("cdk-construct-reused", title="A construct of yours is used twice in the CDK stack", points=10,
           step="cdk-deploy",
           hints=["Write a reusable construct (a class of yours that extends Construct and makes a few resources, "
                  "e.g. a secure, account-named bucket with its TLS-only policy) and use it twice in the stack.",
                  "The checker finds it in the deployed template: two scopes directly under the stack that hold "
                  "the same resources (by construct path and type), made by your construct, not one L2 each.",
                  "class SecureBucket(Construct):\n    def __init__(self, scope, id, *, prefix):\n        "
                  "super().__init__(scope, id)\n        self.bucket = s3.Bucket(self, 'Bucket', ..., enforce_ssl=True)"
                  "\n# in the stack: SecureBucket(self, 'Data', prefix=...); SecureBucket(self, 'Logs', prefix=...)"],
           docs=f"{_CDK}/constructs.html")
def cdk_construct_reused(st: Iac) -> Finding:
    """Evidence: the deployed template's construct paths (trusted only once cdk-synthesized's
    consistency holds) and the resources live in the stack."""
    cdk = st.cdk
    if cdk.stack is None:
        return _no_cdk_stack(cdk, "Deploy the CDK app (step 7).")
    _, why = _synthesis(cdk)
    if why:
        return failed(f"The construct tree is read from CDK's metadata, which is not right: {why}")
    scopes, shape = _reused(cdk)
    if len(scopes) < 2:
        return failed(f"No two scopes under {CDK_STACK} hold the same construct of yours (at least two resources "
                      "each, the same construct paths and types): use your construct twice.")
    dead = [k for k, r in (cdk.template.get("Resources") or {}).items() if _scope(r) in scopes and not cdk.live(k)]
    if dead:
        return failed(f"Not live in the stack: {', '.join(dead)}.")
    return passed(f"Your construct is used {len(scopes)} times ({', '.join(scopes)}), each with "
                  f"{', '.join(shape)} (construct paths in the deployed template), all live.")


def _figures(st: Iac) -> tuple[dict[str, int], str]:
    """The measurement, recomputed from what AWS keeps and the app's stored source."""
    if st.template_text is None:
        return {}, (f"Cannot read the template of Part 1's stack {st.stack_name}: "
                    f"{st.stack_problem or st.template_problem}")
    if st.cdk.template is None:
        return {}, st.cdk.stack_problem or f"Cannot read the template of {CDK_STACK}."
    if st.cdk.app_source is None:
        return {}, f"There is no s3://{st.lab_bucket}/{APP_KEY}: save cdk_app.py there (step 8)."
    synthesized = template_text(st.cdk.template)
    return {"template_lines": code_lines(st.template_text), "cdk_lines": code_lines(st.cdk.app_source),
            "synthesized_lines": code_lines(synthesized), "synthesized_bytes": len(synthesized.encode())}, ""


@LAB.check("cdk-reduction-measured", title="The code reduction, measured from the deployed templates", points=10,
           step="cdk-compare",
           hints=["Count the lines of your hand-written template (Part 1) and of your CDK app, and measure the "
                  "template CDK synthesized; save the figures as JSON in the lab bucket.",
                  f"labkit.code_lines(text) counts lines of code; the checker recomputes every figure from "
                  f"get_template of both stacks and s3://<lab bucket>/{APP_KEY}, so measure what is deployed.",
                  "{'template_lines': code_lines(TEMPLATE_V2), 'cdk_lines': code_lines(Path('cdk_app.py')"
                  ".read_text()), 'synthesized_lines': code_lines(json.dumps(template, indent=1)), "
                  "'synthesized_bytes': len(json.dumps(template, indent=1).encode()), 'ratio': cdk / template}"],
           docs=f"{_CDK}/best-practices.html")
def cdk_reduction_measured(st: Iac) -> Finding:
    """Evidence: the checker's own figures from the two stacks' stored templates (get_template)
    and the app source in the bucket (written by the learner: it must name the stack and the
    construct ids of the deployed paths); the learner's JSON is compared with them, never trusted."""
    cdk = st.cdk
    if cdk.document is None:
        return failed(f"{cdk.document_problem} Measure the reduction and save it there (step 8).")
    figures, why = _figures(st)
    if why:
        return failed(why)
    scopes = {_scope(r) for r in (cdk.template.get("Resources") or {}).values()} - {"", "CDKMetadata"}
    unnamed = sorted(s for s in scopes | {CDK_STACK} if s not in cdk.app_source)
    if unnamed:
        return failed(f"s3://{st.lab_bucket}/{APP_KEY} is not the app that made {CDK_STACK}: it never names "
                      f"{', '.join(unnamed)}. Save the cdk_app.py you deployed.")
    measured = cdk.document.get("measured") if isinstance(cdk.document.get("measured"), dict) else cdk.document
    wrong = [f"{k} is {measured.get(k)!r}, the deployed stacks give {v}" for k, v in figures.items()
             if measured.get(k) != v]
    if wrong:
        return failed("Your figures do not match what is deployed: " + "; ".join(wrong) + ". Measure again "
                      "after your last deploy.")
    ratio = measured.get("ratio")
    expected = figures["cdk_lines"] / figures["template_lines"] if figures["template_lines"] else None
    if not isinstance(ratio, (int, float)) or expected is None or abs(ratio - expected) > 0.01:
        return failed(f"ratio is {ratio!r}: it is cdk_lines / template_lines = {expected if expected else '?'}.")
    return passed(f"{figures['cdk_lines']} lines of CDK code for {figures['template_lines']} lines of template "
                  f"(ratio {expected:.2f}); CDK synthesized {figures['synthesized_lines']} lines, "
                  f"{figures['synthesized_bytes']} bytes (recomputed from get_template of both stacks).")


@LAB.check("templates-or-code", title="A written comparison: when templates, when code", points=10,
           step="cdk-compare",
           hints=["Write down when you would choose a plain template and when CDK code, which criteria you "
                  "weighed, and what you would choose for this stack.",
                  f"In s3://<lab bucket>/{REDUCTION_KEY}, 'comparison' has templates_when and cdk_when (two "
                  "situations each, a few words each), criteria (three or more of labkit.CRITERIA), choice "
                  f"({' or '.join(CHOICES)}) and why (a sentence).",
                  "'comparison': {'templates_when': ['...', '...'], 'cdk_when': ['...', '...'], "
                  "'criteria': ['reuse', 'review', 'team skills'], 'choice': 'cdk', 'why': '...'}"],
           docs="https://docs.aws.amazon.com/prescriptive-guidance/latest/choose-iac-tool/introduction.html")
def templates_or_code(st: Iac) -> Finding:
    """Graded on structure only (what it says is the learner's and the instructor's)."""
    cdk = st.cdk
    if cdk.document is None:
        return failed(f"{cdk.document_problem} Write the comparison there (step 8).")
    answer = cdk.document.get("comparison")
    if not isinstance(answer, dict):
        return failed(f"{REDUCTION_KEY} has no 'comparison' object.")
    problems = []
    for key in ("templates_when", "cdk_when"):
        items = answer.get(key)
        good = [i for i in items if isinstance(i, str) and len(i.split()) >= 4] if isinstance(items, list) else []
        if len(good) < 2:
            problems.append(f"{key} needs two situations of four words or more")
    criteria = {str(c).strip().lower() for c in answer.get("criteria") or [] if isinstance(c, str)}
    named = sorted(criteria & set(CRITERIA))
    if len(named) < 3:
        problems.append(f"criteria names {len(named)} of {', '.join(CRITERIA)} (three or more)")
    if answer.get("choice") not in CHOICES:
        problems.append(f"choice is {answer.get('choice')!r}, not one of {', '.join(CHOICES)}")
    if not isinstance(answer.get("why"), str) or len(answer["why"].split()) < 6:
        problems.append("why needs a sentence (six words or more)")
    if problems:
        return failed("The comparison is not complete: " + "; ".join(problems) + ".")
    return passed(f"Choice {answer['choice']!r} for this stack, weighing {', '.join(named)}, with two situations "
                  "for each way.")
