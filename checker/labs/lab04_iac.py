"""Lab 04-iac checks: one read of the learner's CloudFormation stack
``workshop-04-iac`` and of what it made (bucket, topic, queue, parameter,
change sets), and of the learner's calls that changed it (CloudTrail: the
out-of-band change, the drift detections, the change sets executed); Part 1's
eight checks here, Part 2's (the CDK stack) in ``lab04_cdk``, read in the same read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from checker.labs import (
    LAB_TAG_KEY,
    as_list,
    bucket_name,
    by_learner,
    has_lab_tag,
    missing,
    param,
    parse_template,
    parse_time,
    statements,
    tag_dict,
    trail_events,
    untagged,
)
from checker.registry import Finding, failed, lab, passed

LAB_ID = "04-iac"
STACK_NAME = "workshop-04-iac"
BUCKET_PREFIX = "workshop-04-iac"
REPORT_KEY = "drift/report.json"  # where the notebook keeps its drift report (for the learner; not evidence)
VERSIONING_PATH = "/VersioningConfiguration/Status"
TAG = f"{LAB_TAG_KEY}={LAB_ID}"

LAB = lab(LAB_ID, "Infrastructure as Code")

_CFN = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide"


@dataclass
class Iac:
    """What the checks look at, read once."""

    account: str
    region: str
    stack: dict | None = None
    stack_problem: str = ""
    resources: list[dict] = field(default_factory=list)
    template: dict | None = None
    template_text: str | None = None  # as CloudFormation keeps it (Part 2 counts its lines)
    template_problem: str = ""
    change_sets: list[dict] = field(default_factory=list)  # summaries
    executed: list[dict] = field(default_factory=list)  # described EXECUTE_COMPLETE change sets
    bucket: dict = field(default_factory=dict)
    topic: dict = field(default_factory=dict)
    queue: dict = field(default_factory=dict)
    parameter: dict = field(default_factory=dict)
    drifted: list[dict] = field(default_factory=list)  # resource drifts when the stack is DRIFTED
    # CloudTrail (None: it could not be read), the learner's own calls, newest first
    trail_problem: str = ""
    bucket_changes: list[dict] | None = None  # PutBucketVersioning on the stack's bucket
    detections: list[dict] = field(default_factory=list)  # drift detections of the stack, with their status
    executions: list[dict] | None = None  # ExecuteChangeSet on the stack
    updates: list[dict] | None = None  # UpdateStack on the stack
    created_template: dict | None = None  # the template of the CreateStack call that made the stack
    trail: dict = field(default_factory=dict)  # event name -> the account's events (lab_trail), read once
    cdk: Any = None  # Part 2's read (lab04_cdk.Cdk)

    stack_name = STACK_NAME

    @property
    def lab_bucket(self) -> str:
        return bucket_name(BUCKET_PREFIX, self.account, self.region)

    def physical(self, resource_type: str) -> list[str]:
        return [r["PhysicalResourceId"] for r in self.resources
                if r.get("ResourceType") == resource_type and r.get("PhysicalResourceId")
                and r.get("ResourceStatus") != "DELETE_COMPLETE"]

    def has(self, resource_type: str) -> bool:
        return any(r.get("ResourceType") == resource_type for r in self.resources)

    def template_resources(self, resource_type: str) -> list[dict]:
        res = (self.template or {}).get("Resources") or {}
        return [r for r in res.values() if isinstance(r, dict) and r.get("Type") == resource_type]

    @property
    def status(self) -> str:
        return (self.stack or {}).get("StackStatus", "")


# -- the read ---------------------------------------------------------------------

def _in_progress(answer: dict | None) -> bool:
    if not answer or not answer.get("Stacks"):
        return False
    status = answer["Stacks"][0].get("StackStatus", "")
    return status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


@LAB.reader
def read(account) -> Iac:
    from checker.labs.lab04_cdk import read_cdk

    st = _read_part1(account)
    st.cdk = read_cdk(account, st)
    return st


def lab_trail(account, event_name: str) -> list[dict] | None:
    """The account's CloudTrail events named ``event_name`` (trail_events), looked up once per read
    by both parts (the read's account object keeps them)."""
    cache = account.__dict__.setdefault("_lab04_trail", {})
    if event_name not in cache:
        cache[event_name] = trail_events(account, event_name)
    return cache[event_name]


def _read_part1(account) -> Iac:
    st = Iac(account.id, account.region)
    answer = account.poll(lambda: account.call("cloudformation", "describe_stacks", StackName=STACK_NAME),
                          lambda a: not _in_progress(a), timeout=15)
    if not answer or not answer.get("Stacks"):
        why = account.errors.get("cloudformation.describe_stacks", "")
        st.stack_problem = (f"There is no stack named {STACK_NAME} in account {account.id} ({account.region})"
                            + ("" if not why or "does not exist" in why else f": {why}") + ".")
        _read_bucket(account, st, st.lab_bucket)
        return st
    st.stack = answer["Stacks"][0]

    res = account.call("cloudformation", "describe_stack_resources", StackName=STACK_NAME) or {}
    st.resources = res.get("StackResources", [])

    tpl = account.call("cloudformation", "get_template", StackName=STACK_NAME, TemplateStage="Original")
    if tpl is None:
        st.template_problem = account.errors.get("cloudformation.get_template", "no template")
    else:
        body = tpl.get("TemplateBody") or ""
        st.template_text = body if isinstance(body, str) else json.dumps(body, indent=1)
        try:
            st.template = parse_template(body)
        except Exception as exc:  # a template the cloud accepted but we cannot read
            st.template_problem = f"cannot read the stack's template ({exc})"

    _read_change_sets(account, st)
    buckets = st.physical("AWS::S3::Bucket")
    _read_bucket(account, st, buckets[0] if buckets else st.lab_bucket)
    topics = st.physical("AWS::SNS::Topic")
    if topics:
        _read_topic(account, st, topics[0])
    queues = st.physical("AWS::SQS::Queue")
    if queues:
        _read_queue(account, st, queues[0])
    params = st.physical("AWS::SSM::Parameter")
    if params:
        tags = account.call("ssm", "list_tags_for_resource", ResourceType="Parameter", ResourceId=params[0])
        st.parameter = {"name": params[0], "exists": tags is not None,
                        "tags": tag_dict((tags or {}).get("TagList"))}
    drift = (st.stack.get("DriftInformation") or {}).get("StackDriftStatus")
    if drift == "DRIFTED":
        d = account.call("cloudformation", "describe_stack_resource_drifts", StackName=STACK_NAME,
                         StackResourceDriftStatusFilters=["MODIFIED", "DELETED"]) or {}
        st.drifted = d.get("StackResourceDrifts", [])
    _read_trail(account, st)
    return st


def _of_stack(st: Iac, record: dict) -> bool:
    name = param(record, "StackName")
    return by_learner(record) and name in (STACK_NAME, (st.stack or {}).get("StackId"))


def _read_trail(account, st: Iac) -> None:
    """The learner's calls that changed the stack and its bucket, and the drift detections
    they started (each one's outcome read back by its id): five filtered lookups."""
    created = parse_time(st.stack.get("CreationTime"))
    bucket = st.bucket.get("name")

    def since_created(events: list[dict]) -> list[dict]:
        # CloudTrail's eventTime has whole seconds: an event of the stack's own second counts.
        return [e for e in events if created is None or
                (parse_time(e.get("eventTime")) or created) >= created.replace(microsecond=0)]

    changes = lab_trail(account, "PutBucketVersioning")
    if changes is None:
        st.trail_problem = f"CloudTrail cannot be read ({account.errors.get('cloudtrail.lookup_events', '')})"
        return
    st.bucket_changes = since_created([e for e in changes if by_learner(e) and param(e, "BucketName") == bucket])
    started = [e for e in since_created(lab_trail(account, "DetectStackDrift") or []) if _of_stack(st, e)]
    for event in started[:10]:
        detection_id = param(event, "StackDriftDetectionId", "responseElements")
        status = detection_id and account.call("cloudformation", "describe_stack_drift_detection_status",
                                               StackDriftDetectionId=detection_id)
        if status and status.get("StackId") == st.stack.get("StackId"):
            st.detections.append(status)
    st.executions = [e for e in since_created(lab_trail(account, "ExecuteChangeSet") or []) if _of_stack(st, e)]
    st.updates = [e for e in since_created(lab_trail(account, "UpdateStack") or []) if _of_stack(st, e)]
    def made_it(event: dict) -> bool:  # not the CreateStack of an earlier stack of the same name
        when = parse_time(event.get("eventTime"))
        return when is None or created is None or when <= created

    creation = [e for e in lab_trail(account, "CreateStack") or [] if _of_stack(st, e)
                and param(e, "TemplateBody") and made_it(e)]
    if creation:
        try:
            st.created_template = parse_template(param(creation[0], "TemplateBody"))
        except Exception:  # a template CloudFormation accepted but we cannot read
            st.created_template = None


def _read_change_sets(account, st: Iac) -> None:
    listed = account.call("cloudformation", "list_change_sets", StackName=STACK_NAME) or {}
    st.change_sets = listed.get("Summaries", [])
    for summary in st.change_sets:
        if summary.get("ExecutionStatus") != "EXECUTE_COMPLETE":
            continue
        described = account.call("cloudformation", "describe_change_set", StackName=STACK_NAME,
                                 ChangeSetName=summary.get("ChangeSetId") or summary.get("ChangeSetName"))
        if described:
            st.executed.append(described)


def _read_bucket(account, st: Iac, name: str) -> None:
    b: dict = {"name": name, "exists": account.call("s3", "head_bucket", Bucket=name) is not None}
    st.bucket = b
    if not b["exists"]:
        return
    versioning = account.call("s3", "get_bucket_versioning", Bucket=name) or {}
    b["versioning"] = versioning.get("Status")
    enc = account.call("s3", "get_bucket_encryption", Bucket=name)
    b["encryption"] = ((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    pol = account.call("s3", "get_bucket_policy", Bucket=name)
    try:
        b["policy"] = json.loads(pol["Policy"]) if pol and pol.get("Policy") else None
    except ValueError:
        b["policy"] = None
    b["tags"] = tag_dict((account.call("s3", "get_bucket_tagging", Bucket=name) or {}).get("TagSet"))


def _read_topic(account, st: Iac, arn: str) -> None:
    attrs = account.call("sns", "get_topic_attributes", TopicArn=arn)
    st.topic = {"arn": arn, "exists": attrs is not None,
                "display_name": ((attrs or {}).get("Attributes") or {}).get("DisplayName", "")}
    if attrs is None:
        return
    st.topic["tags"] = tag_dict((account.call("sns", "list_tags_for_resource", ResourceArn=arn) or {}).get("Tags"))
    subs = account.call("sns", "list_subscriptions_by_topic", TopicArn=arn) or {}
    st.topic["subscriptions"] = subs.get("Subscriptions", [])


def _read_queue(account, st: Iac, url: str) -> None:
    attrs = account.call("sqs", "get_queue_attributes", QueueUrl=url, AttributeNames=["QueueArn"])
    st.queue = {"url": url, "exists": attrs is not None,
                "arn": ((attrs or {}).get("Attributes") or {}).get("QueueArn", "")}
    if attrs is not None:
        st.queue["tags"] = tag_dict((account.call("sqs", "list_queue_tags", QueueUrl=url) or {}).get("Tags"))


# -- helpers shared by the checks -------------------------------------------------------

def _no_stack(st: Iac, then: str) -> Finding:
    return missing(st.stack_problem, then)


def _stack_unusable(st: Iac) -> str:
    """Why the stack is not a usable, deployed stack ('' when it is)."""
    return _stack_unusable_named(st.stack, STACK_NAME)


def _stack_unusable_named(stack: dict | None, name: str) -> str:
    status = (stack or {}).get("StackStatus", "")
    reason = (stack or {}).get("StackStatusReason")
    because = f" ({reason})" if reason else ""
    if status == "REVIEW_IN_PROGRESS":
        return (f"Stack {name} is REVIEW_IN_PROGRESS: it was made by a change set that was never "
                "executed. Execute the change set, or delete the stack and deploy with create_stack.")
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "ROLLBACK_IN_PROGRESS"):
        return (f"Stack {name} is {status}{because}: its creation failed and it was rolled back. "
                "A stack in this state cannot be updated: read the failed events "
                "(describe_stack_events), fix the template, delete the stack and deploy again.")
    if status.startswith("DELETE"):
        return f"Stack {name} is {status}{because}: deploy it again."
    if "ROLLBACK" in status or not status.endswith("_COMPLETE"):
        return (f"Stack {name} is {status}{because}: the last change did not complete. "
                "Read describe_stack_events for the failed resource, fix it and apply the change again.")
    return ""


# -- the checks -----------------------------------------------------------------------

@LAB.check("stack-deployed", title="Stack workshop-04-iac is deployed and tagged", points=10, step="deploy",
           hints=["Deploy the template from step 1 as a stack named workshop-04-iac, tagged "
                  "workshop:lab=04-iac, and wait until it is CREATE_COMPLETE.",
                  "CloudFormation's create_stack takes the template text, the parameters and the stack's "
                  "tags; the stack_create_complete waiter waits for it.",
                  "cfn.create_stack(StackName='workshop-04-iac', TemplateBody=TEMPLATE, "
                  "Parameters=[{'ParameterKey': 'Environment', 'ParameterValue': 'dev'}], "
                  "Tags=[{'Key': 'workshop:lab', 'Value': '04-iac'}]); "
                  "cfn.get_waiter('stack_create_complete').wait(StackName='workshop-04-iac')"],
           docs=f"{_CFN}/using-cfn-cli-creating-stack.html")
def stack_deployed(st: Iac) -> Finding:
    if st.stack is None:
        return _no_stack(st, "Deploy your template with create_stack (step 2).")
    problem = _stack_unusable(st)
    if problem:
        return failed(problem)
    if not has_lab_tag(st.stack.get("Tags"), LAB_ID):
        return failed(f"Stack {STACK_NAME} is {st.status} but has no tag {TAG}: "
                      "the tag is how `workshop reset 04-iac` and the checker find the lab's stack.")
    return passed(f"{STACK_NAME} is {st.status}, tagged {TAG}.")


@LAB.check("template-parameters", title="The template has a constrained parameter", points=10, step="template",
           hints=["Give your template a Parameters section with an Environment parameter that only "
                  "accepts a few values, and use it in a resource.",
                  "A parameter's AllowedValues lists the values CloudFormation accepts; "
                  "the checker reads the deployed template with get_template.",
                  "Parameters:\n  Environment:\n    Type: String\n    AllowedValues: [dev, test, prod]\n"
                  "    Default: dev"],
           docs=f"{_CFN}/parameters-section-structure.html")
def template_parameters(st: Iac) -> Finding:
    if st.stack is None:
        return _no_stack(st, "The checker reads your template from the deployed stack: deploy it (step 2).")
    if st.template is None:
        return failed(f"Cannot read the template of {STACK_NAME}: {st.template_problem}")
    params = st.template.get("Parameters") or {}
    if not isinstance(params, dict) or not params:
        return failed("The deployed template has no Parameters section: add an Environment parameter.")
    constrained = {k: v for k, v in params.items() if isinstance(v, dict) and v.get("AllowedValues")}
    if not constrained:
        return failed(f"The template's parameters ({', '.join(params)}) accept any value: "
                      "give one of them AllowedValues.")
    used = {p.get("ParameterKey"): p.get("ParameterValue") for p in st.stack.get("Parameters") or []}
    for name, spec in constrained.items():
        allowed = [str(v) for v in spec["AllowedValues"]]
        value = used.get(name, spec.get("Default"))
        if value is not None and str(value) not in allowed:
            return failed(f"The stack's {name} is {value!r}, which is not one of {allowed}.")
    resources = st.template.get("Resources") or {}
    referenced = {name for name in constrained if _refers_to(resources, name)}
    if not referenced:
        return failed(f"No resource of the template uses {', '.join(constrained)} (a Ref or a ${{...}} in a "
                      "Fn::Sub): a parameter that nothing reads changes nothing. Use it, e.g. in a name or a tag.")
    name = sorted(referenced)[0]
    spec = constrained[name]
    value = used.get(name, spec.get("Default"))
    return passed(f"Parameter {name} allows {', '.join(map(str, spec['AllowedValues']))} and the template's "
                  f"resources use it (get_template); the stack uses {value!r}.")


def _refers_to(node: Any, name: str) -> bool:
    """Whether a template fragment reads parameter ``name`` (Ref, or ${name} in Fn::Sub)."""
    if isinstance(node, dict):
        if node.get("Ref") == name:
            return True
        sub = node.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str) and "${" + name + "}" in text:
            return True
        return any(_refers_to(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_refers_to(v, name) for v in node)
    return False


@LAB.check("outputs", title="Outputs BucketName and TopicArn match the live resources", points=10,
           step="deploy",
           hints=["Add an Outputs section that exports the bucket's name and the topic's ARN, so other "
                  "tools (and you) need not look them up.",
                  "describe_stacks returns a stack's Outputs; !Ref of a bucket is its name and !Ref of "
                  "a topic is its ARN.",
                  "Outputs:\n  BucketName:\n    Value: !Ref LabBucket\n  TopicArn:\n    Value: !Ref AlertsTopic"],
           docs=f"{_CFN}/outputs-section-structure.html")
def outputs(st: Iac) -> Finding:
    if st.stack is None:
        return _no_stack(st, "Deploy your template (step 2).")
    out = {o.get("OutputKey"): o.get("OutputValue") for o in st.stack.get("Outputs") or []}
    missing = [k for k in ("BucketName", "TopicArn") if not out.get(k)]
    if missing:
        have = ", ".join(sorted(k for k in out if k)) or "none"
        return failed(f"The stack's outputs are: {have}. Missing: {', '.join(missing)}.")
    buckets, topics = st.physical("AWS::S3::Bucket"), st.physical("AWS::SNS::Topic")
    if out["BucketName"] not in buckets:
        return failed(f"Output BucketName is {out['BucketName']!r} but the stack's bucket is "
                      f"{buckets[0] if buckets else 'missing'}: output the bucket with !Ref.")
    if not st.bucket.get("exists"):
        return failed(f"Output BucketName names {out['BucketName']}, which does not exist (deleted out of band?).")
    if out["TopicArn"] not in topics:
        return failed(f"Output TopicArn is {out['TopicArn']!r} but the stack's topic is "
                      f"{topics[0] if topics else 'missing'}: output the topic with !Ref.")
    if not st.topic.get("exists"):
        return failed(f"Output TopicArn names {out['TopicArn']}, which does not exist (deleted out of band?).")
    return passed(f"BucketName={out['BucketName']}, TopicArn={out['TopicArn']}.")


def _denies_plain_http(policy: dict | None) -> bool:
    for s in statements(policy):
        if s.get("Effect") != "Deny":
            continue
        cond = s.get("Condition") or {}
        for op, values in cond.items():
            if op in ("Bool", "BoolIfExists") and isinstance(values, dict):
                value = values.get("aws:SecureTransport")
                if isinstance(value, list):
                    value = value[0] if value else None
                if str(value).lower() == "false":
                    return True
    return False


@LAB.check("bucket-secure", title="The bucket is versioned, encrypted, TLS-only and named with the account",
           points=15, step="template",
           hints=["Harden the bucket in the template: versioning on, default encryption, and a bucket "
                  "policy that denies any request not made over TLS; name it with your account id.",
                  "AWS::S3::Bucket takes VersioningConfiguration and BucketEncryption; an "
                  "AWS::S3::BucketPolicy with a Deny statement on the condition aws:SecureTransport = false "
                  "refuses plain HTTP.",
                  "VersioningConfiguration: {Status: Enabled}; BucketEncryption: "
                  "{ServerSideEncryptionConfiguration: [{ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}}]}; "
                  "BucketPolicy statement: {Effect: Deny, Principal: '*', Action: 's3:*', Resource: "
                  "[bucket ARN, bucket ARN/*], Condition: {Bool: {aws:SecureTransport: 'false'}}}"],
           docs="https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html")
def bucket_secure(st: Iac) -> Finding:
    if st.stack is None:
        return _no_stack(st, "Deploy your template (step 2).")
    buckets = st.physical("AWS::S3::Bucket")
    if not buckets:
        return failed(f"Stack {STACK_NAME} has no AWS::S3::Bucket.")
    name = buckets[0]
    if not st.bucket.get("exists"):
        return failed(f"The stack's bucket {name} does not exist (deleted out of band?).")
    if st.account not in name:
        return failed(f"Bucket {name} does not carry your account id {st.account}: bucket names are global, "
                      f"name it {st.lab_bucket} (labkit.bucket_name or !Sub with ${{AWS::AccountId}}).")
    if st.bucket.get("versioning") != "Enabled":
        now = st.bucket.get("versioning") or "never enabled"
        return failed(f"Versioning of {name} is {now}, not Enabled"
                      + (" (if you suspended it in step 4, step 5 restores it)." if now == "Suspended" else "."))
    declared = any((r.get("Properties") or {}).get("BucketEncryption")
                   for r in st.template_resources("AWS::S3::Bucket"))
    if not st.bucket.get("encryption") or not declared:
        return failed(f"The template does not declare BucketEncryption for {name}: declare default encryption "
                      "in the template, so that it is reviewed and kept like everything else.")
    if not st.has("AWS::S3::BucketPolicy"):
        return failed(f"Stack {STACK_NAME} has no AWS::S3::BucketPolicy: add one that denies plain HTTP.")
    if not _denies_plain_http(st.bucket.get("policy")):
        return failed(f"The policy of {name} has no Deny statement with the condition "
                      "Bool aws:SecureTransport = false.")
    outside = _outside_bucket(st.bucket.get("policy"), name)
    if outside:
        return failed(f"The policy of {name} names {', '.join(outside)}: a bucket's policy covers that bucket "
                      f"(arn:aws:s3:::{name}) and its objects (arn:aws:s3:::{name}/*), nothing wider.")
    return passed(f"{name}: versioning Enabled, default encryption, plain HTTP denied by a policy scoped to the "
                  "bucket and its objects (get_bucket_versioning, get_bucket_encryption, get_bucket_policy).")


def _outside_bucket(policy: Any, name: str) -> list[str]:
    """The Resource entries of a bucket policy that reach past the bucket and its objects."""
    allowed = {f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"}
    found = []
    for s in statements(policy):
        for resource in as_list(s.get("Resource")) or ["(no Resource)"]:
            if not (str(resource) in allowed or str(resource).startswith(f"arn:aws:s3:::{name}/")):
                found.append(str(resource))
    return sorted(set(found))


@LAB.check("resources-tagged", title="The stack and its resources carry workshop:lab=04-iac", points=10,
           step="deploy",
           hints=["Tag the stack and each resource in the template with workshop:lab=04-iac.",
                  "Stacks take Tags in create_stack; buckets, topics and queues take a Tags list in the "
                  "template, and an SSM parameter takes a Tags map.",
                  "Tags:\n  - Key: workshop:lab\n    Value: '04-iac'\n(for AWS::SSM::Parameter: "
                  "Tags: {'workshop:lab': '04-iac'})"],
           docs=f"{_CFN}/aws-properties-resource-tags.html")
def resources_tagged(st: Iac) -> Finding:
    if st.stack is None:
        return _no_stack(st, "Deploy your template (step 2).")
    if not st.bucket.get("exists") or not st.physical("AWS::S3::Bucket"):
        return failed("The stack has no live bucket to look at.")
    if not st.topic.get("exists"):
        return failed("The stack has no live SNS topic to look at.")
    looked = {f"stack {STACK_NAME}": st.stack.get("Tags"), f"bucket {st.bucket['name']}": st.bucket.get("tags"),
              f"topic {st.topic['arn']}": st.topic.get("tags")}
    if st.queue.get("exists"):
        looked[f"queue {st.queue['url']}"] = st.queue.get("tags")
    if st.parameter.get("exists"):
        looked[f"parameter {st.parameter['name']}"] = st.parameter.get("tags")
    return untagged(LAB_ID, looked)


def _changes(change_set: dict) -> list[dict]:
    return [c.get("ResourceChange") or {} for c in change_set.get("Changes") or []]


def _is_the_change(change_set: dict) -> bool:
    changes = _changes(change_set)
    added = {c.get("ResourceType") for c in changes if c.get("Action") == "Add"}
    topic_modified = [c for c in changes if c.get("Action") == "Modify" and c.get("ResourceType") == "AWS::SNS::Topic"]
    if not ({"AWS::SQS::Queue", "AWS::SNS::Subscription"} <= added and topic_modified):
        return False
    details = [d for c in topic_modified for d in c.get("Details") or []]
    return not details or any((d.get("Target") or {}).get("Name") == "DisplayName" for d in details)


@LAB.check("change-set-executed", title="A reviewed change set added a subscribed queue and renamed the topic",
           points=15, step="change-set",
           hints=["Change the stack through a change set: add an SQS queue subscribed to the topic and "
                  "change the topic's DisplayName; review the actions, then execute it.",
                  "create_change_set (ChangeSetType='UPDATE'), describe_change_set to review Changes, "
                  "execute_change_set, then the stack_update_complete waiter.",
                  "cfn.create_change_set(StackName='workshop-04-iac', ChangeSetName='add-alerts-queue', "
                  "TemplateBody=TEMPLATE_V2, Parameters=[{'ParameterKey': 'Environment', "
                  "'UsePreviousValue': True}], Tags=[{'Key': 'workshop:lab', 'Value': '04-iac'}]); then "
                  "cfn.execute_change_set(StackName='workshop-04-iac', ChangeSetName='add-alerts-queue')"],
           docs=f"{_CFN}/using-cfn-updating-stacks-changesets.html")
def change_set_executed(st: Iac) -> Finding:
    """Evidence: the stack's executed change sets (list/describe_change_set), the learner's
    ExecuteChangeSet, UpdateStack and CreateStack calls (CloudTrail: executing one change set
    deletes the stack's others, so an earlier one that made part of the change is gone) and the
    live queue, subscription and topic. CloudTrail's CreateStack keeps templateBody (a
    templateURL stack falls back on the change sets that can still be described)."""
    if st.stack is None:
        return _no_stack(st, "Deploy the stack first (step 2).")
    if st.trail_problem:
        return failed(f"{st.trail_problem}: the checker reads your ExecuteChangeSet calls from CloudTrail.")
    if not st.executions:
        pending = [f"{c.get('ChangeSetName')} ({c.get('Status')}, {c.get('ExecutionStatus')})"
                   for c in st.change_sets if c.get("ExecutionStatus") != "EXECUTE_COMPLETE"]
        return failed(f"CloudTrail shows no ExecuteChangeSet by you on {STACK_NAME} since it was created"
                      + (f"; there is {', '.join(pending)}: review it, then execute_change_set." if pending else
                         ": change the stack through a change set (create_change_set, review, execute_change_set; "
                         "step 3)."))
    if not st.queue.get("exists"):
        return failed(f"The stack has no live SQS queue (status {st.status}).")
    if not st.has("AWS::SNS::Subscription"):
        return failed("The stack has no AWS::SNS::Subscription.")
    subs = [s for s in st.topic.get("subscriptions") or []
            if s.get("Protocol") == "sqs" and s.get("Endpoint") == st.queue.get("arn")]
    if not subs:
        return failed(f"The topic has no sqs subscription to {st.queue.get('arn')}.")
    declared = [(r.get("Properties") or {}).get("DisplayName") for r in st.template_resources("AWS::SNS::Topic")]
    if st.topic.get("display_name") not in [d for d in declared if isinstance(d, str)]:
        return failed(f"The topic's DisplayName is {st.topic.get('display_name')!r}, not the template's "
                      f"{declared[0] if declared else None!r}.")
    names = ", ".join(dict.fromkeys(str(param(e, "ChangeSetName")).rsplit("/", 1)[-1] for e in st.executions))
    chosen = next((c for c in st.executed if _is_the_change(c)), None)
    if chosen is not None:
        return passed(f"Change set {chosen.get('ChangeSetName')} (describe_change_set) added the queue and its "
                      f"subscription and set the topic's DisplayName to {st.topic.get('display_name')!r}; "
                      f"CloudTrail: ExecuteChangeSet {names}.")
    # The change sets that made the change may be gone (executing one deletes the stack's others):
    # then every change since the stack was made must have been a change set, and the stack's first
    # template must have lacked what the stack has now.
    if st.updates:
        return failed(f"The stack was also changed with UpdateStack (CloudTrail, {len(st.updates)} call(s)) and no "
                      "executed change set that can still be described made the change: make it through a "
                      "change set.")
    first = st.created_template
    if first is None:
        return failed(f"The executed change set(s) ({names}) cannot be described any more, and the template the "
                      "stack was created with is not in CloudTrail: create the change set again and execute it.")
    first_types = {r.get("Type") for r in (first.get("Resources") or {}).values() if isinstance(r, dict)}
    first_names = [(r.get("Properties") or {}).get("DisplayName") for r in (first.get("Resources") or {}).values()
                   if isinstance(r, dict) and r.get("Type") == "AWS::SNS::Topic"]
    already = sorted({"AWS::SQS::Queue", "AWS::SNS::Subscription"} & first_types)
    if already or st.topic.get("display_name") in first_names:
        what = ", ".join(already) or f"DisplayName {st.topic.get('display_name')!r}"
        return failed(f"The stack was created with {what} already (CreateStack in CloudTrail): the change set must "
                      "add the queue and its subscription and rename the topic.")
    return passed(f"The stack was created without the queue (CloudTrail: CreateStack) and changed only by change "
                  f"sets since (ExecuteChangeSet {names}, no UpdateStack): it now has the queue, its subscription "
                  f"and the topic's DisplayName {st.topic.get('display_name')!r}.")


@LAB.check("drift-detected", title="You changed the bucket out of band, and a drift detection found it DRIFTED",
           points=15, step="drift",
           hints=["Suspend the bucket's versioning outside CloudFormation, then run drift detection on the stack: "
                  "it must find the stack DRIFTED.",
                  "s3.put_bucket_versioning (Status Suspended), then cloudformation detect_stack_drift and "
                  "describe_stack_drift_detection_status until DETECTION_COMPLETE; describe_stack_resource_drifts "
                  "shows the difference. The checker reads both calls from CloudTrail.",
                  "s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={'Status': 'Suspended'}); "
                  "detection = cfn.detect_stack_drift(StackName='workshop-04-iac')['StackDriftDetectionId']; "
                  "cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)"],
           docs=f"{_CFN}/using-cfn-stack-drift.html")
def drift_detected(st: Iac) -> Finding:
    """Evidence: the learner's PutBucketVersioning on the stack's bucket (CloudTrail, not made by
    CloudFormation) and a later DetectStackDrift of the stack (CloudTrail) whose outcome,
    read back by its id, is DRIFTED. CloudTrail's times have whole seconds: a change in the
    same second as the detection counts as before it."""
    if st.stack is None:
        return _no_stack(st, "Deploy the stack (step 2), then change its bucket out of band (step 4).")
    found = _drift_found(st)
    if isinstance(found, str):
        return failed(found)
    change, detection = found
    return passed(f"CloudTrail: {_change_text(change)}; drift detection {detection['StackDriftDetectionId'][:8]} at "
                  f"{_when(detection.get('Timestamp'))} found the stack DRIFTED "
                  f"({detection.get('DriftedStackResourceCount')} resource(s)).")


def _when(value: Any) -> str:
    stamp = parse_time(value)
    return stamp.isoformat(timespec="seconds") if stamp else "?"


def _change_text(event: dict) -> str:
    status = (param(event, "VersioningConfiguration") or {}).get("status") or \
        (param(event, "VersioningConfiguration") or {}).get("Status")
    who = (event.get("userIdentity") or {}).get("arn") or "you"
    return f"PutBucketVersioning ({status}) on {param(event, 'BucketName')} by {who} at {_when(event.get('eventTime'))}"


def _drift_found(st: Iac) -> tuple[dict, dict] | str:
    """The learner's first out-of-band change to the bucket and the first DRIFTED detection after it."""
    if st.trail_problem:
        return f"{st.trail_problem}: the checker reads your PutBucketVersioning and DetectStackDrift from CloudTrail."
    if not st.bucket_changes:
        return (f"CloudTrail shows no PutBucketVersioning by you on the stack's bucket {st.bucket.get('name')} since "
                "the stack was created: change the bucket out of band first (suspend its versioning).")
    if not st.detections:
        return (f"CloudTrail shows {_change_text(st.bucket_changes[0])}, but no drift detection of {STACK_NAME} "
                "since: run detect_stack_drift.")
    for change in reversed(st.bucket_changes):
        when = parse_time(change.get("eventTime"))
        drifted = [d for d in reversed(st.detections) if d.get("StackDriftStatus") == "DRIFTED"
                   and (parse_time(d.get("Timestamp")) or when) >= when]
        if drifted:
            return change, drifted[0]
    statuses = ", ".join(f"{d.get('StackDriftStatus')} at {_when(d.get('Timestamp'))}" for d in st.detections[:4])
    return (f"CloudTrail shows {_change_text(st.bucket_changes[0])}, but no detection after it found the stack "
            f"DRIFTED (detections: {statuses}): detect drift after changing the bucket.")


@LAB.check("drift-fixed", title="After the drift, the bucket was fixed and a later detection found the stack IN_SYNC",
           points=15, step="fix-drift",
           hints=["Put the bucket back the way the template says, then detect drift again.",
                  "s3.put_bucket_versioning with Status Enabled, then detect_stack_drift and wait for "
                  "StackDriftStatus IN_SYNC.",
                  "s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={'Status': 'Enabled'}); "
                  "cfn.detect_stack_drift(StackName='workshop-04-iac')"],
           docs=f"{_CFN}/detect-drift-stack.html")
def drift_fixed(st: Iac) -> Finding:
    """Evidence: the DRIFTED detection of drift-detected, then a later DetectStackDrift of the
    stack (CloudTrail) whose outcome is IN_SYNC, and the bucket's versioning now."""
    if st.stack is None:
        return _no_stack(st, "Deploy the stack (step 2).")
    found = _drift_found(st)
    if isinstance(found, str):
        return failed(f"Detect the drift first (step 4): {found}")
    _, drifted = found
    after = parse_time(drifted.get("Timestamp"))
    in_sync = [d for d in reversed(st.detections) if d.get("StackDriftStatus") == "IN_SYNC"
               and after and (parse_time(d.get("Timestamp")) or after) > after]
    if not in_sync:
        later = [d for d in st.detections if (parse_time(d.get("Timestamp")) or after) > after]
        which = ", ".join(f"{d.get('StackDriftStatus')}" for d in later[:3])
        return failed(f"No drift detection after {drifted['StackDriftDetectionId'][:8]} (DRIFTED) found the stack "
                      f"IN_SYNC{' (later: ' + which + ')' if which else ''}: restore the bucket, then detect again.")
    if st.bucket.get("versioning") != "Enabled":
        return failed(f"The bucket's versioning is {st.bucket.get('versioning') or 'off'} again since the last "
                      "detection: enable it and detect drift again.")
    fixed = in_sync[0]
    return passed(f"Drift detection {fixed['StackDriftDetectionId'][:8]} at {_when(fixed.get('Timestamp'))}, after "
                  f"the DRIFTED one, found the stack IN_SYNC (CloudTrail DetectStackDrift, read back by id).")


# Part 2's checks register after Part 1's, in the notebook's order.
from checker.labs import lab04_cdk  # noqa: E402,F401
