"""What the workshop knows about a resource type beyond moto's model: which
property changes replace the resource, how to update it in place, and how to
read the live resource back (for drift detection). One ``TypeRules`` per type.

moto's models create resources; their update paths are uneven (an SNS topic
is deleted and recreated to change its DisplayName, S3 ignores versioning), so
for the types here the workshop applies in-place updates itself.
"""

from __future__ import annotations

import json
from typing import Any

from moto.utilities.utils import get_partition

# RequiresRecreation values, as the change set API spells them.
NEVER, ALWAYS, CONDITIONALLY = "Never", "Always", "Conditionally"


class TypeRules:
    """Default rules: moto's model updates itself, drift is NOT_CHECKED.

    A type with its own rules subclasses this and is registered with
    ``register(...)``; see ``resources.py`` for types the workshop adds.
    """

    type_name = ""
    # Changing any of these creates a new physical resource (AWS's "Replacement: True").
    replace_on: frozenset[str] = frozenset()
    # Properties drift detection reads back from the live resource; empty = NOT_CHECKED.
    drift_properties: frozenset[str] = frozenset()
    # Properties the workshop applies in place; None = the model's own update does it all.
    in_place: bool = False

    def requires_recreation(self, prop: str, name_property: str | None) -> str:
        if prop in self.replace_on or (name_property and prop == name_property):
            return ALWAYS
        if self.in_place or self.drift_properties:
            return NEVER
        # moto decides for types the workshop does not know: say so honestly.
        return CONDITIONALLY

    @property
    def checks_drift(self) -> bool:
        return bool(self.drift_properties)

    def physical_name(self, generated: str) -> str:
        return generated

    def create_properties(self, props: dict[str, Any]) -> dict[str, Any]:
        """The properties handed to moto's create (fix-ups for what it misreads)."""
        return props

    def after_create(self, model: Any, props: dict[str, Any], account: str, region: str) -> None:
        """Apply what moto's create ignores."""

    def update(self, model: Any, new: dict[str, Any], old: dict[str, Any], account: str, region: str) -> Any:
        raise NotImplementedError

    def before_delete(self, physical_id: str, props: dict[str, Any], account: str, region: str) -> None:
        """Raise the service's error when AWS would refuse the delete (moto may not)."""

    def live(self, physical_id: str, props: dict[str, Any], account: str, region: str) -> dict[str, Any] | None:
        """The live resource in template shape (`props`: as last deployed); None when it no longer exists."""
        raise NotImplementedError


_RULES: dict[str, TypeRules] = {}
_DEFAULT = TypeRules()


def register(rules: TypeRules) -> TypeRules:
    _RULES[rules.type_name] = rules
    return rules


def rules_for(type_name: str) -> TypeRules:
    if type_name.startswith("Custom::"):   # every custom type is a custom resource
        type_name = "AWS::CloudFormation::CustomResource"
    return _RULES.get(type_name, _DEFAULT)


# -- helpers -----------------------------------------------------------------

def tag_list(tags: Any) -> list[dict[str, str]]:
    """CloudFormation tags (a list of Key/Value, or SSM's map) as a list, without aws: tags."""
    if isinstance(tags, dict):
        items = [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
    else:
        items = [{"Key": str(t["Key"]), "Value": str(t.get("Value", ""))} for t in tags or []]
    return [t for t in items if not t["Key"].startswith("aws:")]


def tag_dict(tags: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list(tags)}


def as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def changed(new: dict[str, Any], old: dict[str, Any], key: str) -> bool:
    return new.get(key) != old.get(key)


# API member names whose CloudFormation property is not just the first letter raised.
_PASCAL_EXCEPTIONS = {"buildspec": "BuildSpec"}


def pascal(value: Any) -> Any:
    """An API (camelCase) shape in CloudFormation's PascalCase property names, for drift read-backs."""
    if isinstance(value, dict):
        return {_PASCAL_EXCEPTIONS.get(k, k[:1].upper() + k[1:]) if isinstance(k, str) else k: pascal(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [pascal(v) for v in value]
    return value


# -- S3 ----------------------------------------------------------------------

def _s3(account: str, region: str):
    from moto.s3.models import s3_backends

    return s3_backends[account][get_partition(region)]


def encryption_to_api(cfn: dict[str, Any]) -> dict[str, Any]:
    rules = []
    for rule in cfn.get("ServerSideEncryptionConfiguration") or []:
        default = rule.get("ServerSideEncryptionByDefault") or {}
        api_default = {"SSEAlgorithm": default.get("SSEAlgorithm", "AES256")}
        if default.get("KMSMasterKeyID"):
            api_default["KMSMasterKeyID"] = default["KMSMasterKeyID"]
        api_rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": api_default}
        if "BucketKeyEnabled" in rule:
            api_rule["BucketKeyEnabled"] = "true" if as_bool(rule["BucketKeyEnabled"]) else "false"
        rules.append(api_rule)
    return {"Rule": rules[0] if len(rules) == 1 else rules}


def encryption_from_api(api: dict[str, Any]) -> dict[str, Any]:
    rules = api.get("Rule") or []
    rules = rules if isinstance(rules, list) else [rules]
    out = []
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        cfn_default = {"SSEAlgorithm": default.get("SSEAlgorithm")}
        if default.get("KMSMasterKeyID"):
            cfn_default["KMSMasterKeyID"] = default["KMSMasterKeyID"]
        cfn_rule: dict[str, Any] = {"ServerSideEncryptionByDefault": cfn_default}
        if rule.get("BucketKeyEnabled") is not None:
            cfn_rule["BucketKeyEnabled"] = as_bool(rule["BucketKeyEnabled"])
        out.append(cfn_rule)
    return {"ServerSideEncryptionConfiguration": out}


class BucketRules(TypeRules):
    type_name = "AWS::S3::Bucket"
    replace_on = frozenset({"BucketName", "ObjectLockEnabled"})
    drift_properties = frozenset({"BucketName", "VersioningConfiguration", "Tags", "BucketEncryption"})
    in_place = True

    def after_create(self, model, props, account, region):
        self.update(model, props, {}, account, region)

    def before_delete(self, physical_id, props, account, region):
        bucket = _s3(account, region).buckets.get(physical_id)
        if bucket is not None and bucket.keys:
            # moto's CloudFormation delete leaves a non-empty bucket and says nothing.
            from moto.s3.exceptions import BucketNotEmpty

            raise BucketNotEmpty(bucket_name=physical_id)

    def update(self, model, new, old, account, region):
        backend = _s3(account, region)
        name = model.name
        if changed(new, old, "VersioningConfiguration"):
            status = (new.get("VersioningConfiguration") or {}).get("Status")
            # A versioned bucket cannot go back to unversioned: removing the property suspends.
            backend.put_bucket_versioning(name, status or "Suspended")
        if changed(new, old, "BucketEncryption"):
            if new.get("BucketEncryption"):
                backend.put_bucket_encryption(name, encryption_to_api(new["BucketEncryption"]))
            else:
                backend.delete_bucket_encryption(name)
        if changed(new, old, "Tags"):
            backend.put_bucket_tagging(name, tag_dict(new.get("Tags")))
        return model

    def live(self, physical_id, props, account, region):
        backend = _s3(account, region)
        bucket = backend.buckets.get(physical_id)
        if bucket is None:
            return None
        live: dict[str, Any] = {"BucketName": bucket.name}
        if bucket.versioning_status:
            live["VersioningConfiguration"] = {"Status": bucket.versioning_status}
        if bucket.encryption:
            live["BucketEncryption"] = encryption_from_api(bucket.encryption)
        tags = tag_list(backend.tagger.list_tags_for_resource(bucket.arn).get("Tags"))
        if tags:
            live["Tags"] = tags
        return live


# -- SNS ---------------------------------------------------------------------

def _sns(account: str, region: str):
    from moto.sns.models import sns_backends

    return sns_backends[account][region]


class TopicRules(TypeRules):
    type_name = "AWS::SNS::Topic"
    replace_on = frozenset({"TopicName", "FifoTopic"})
    drift_properties = frozenset({"TopicName", "DisplayName", "Tags", "KmsMasterKeyId", "FifoTopic",
                                  "ContentBasedDeduplication"})
    in_place = True

    def create_properties(self, props):
        # moto copies every property onto the topic as an attribute: Tags would land
        # beside the topic's real tags, so the workshop applies them itself.
        return {k: v for k, v in props.items() if k != "Tags"}

    def after_create(self, model, props, account, region):
        model._tags = tag_dict(props.get("Tags"))

    def update(self, model, new, old, account, region):
        backend = _sns(account, region)
        topic = backend.topics.get(model.arn, model)
        topic.display_name = new.get("DisplayName", "")
        topic.kms_master_key_id = new.get("KmsMasterKeyId", "")
        if "ContentBasedDeduplication" in new or "ContentBasedDeduplication" in old:
            topic.content_based_deduplication = as_bool(new.get("ContentBasedDeduplication", False))
        if changed(new, old, "Tags"):
            topic._tags = tag_dict(new.get("Tags"))
        if changed(new, old, "Subscription"):
            wanted = {(s["Endpoint"], s["Protocol"]) for s in new.get("Subscription") or []}
            had = {(s["Endpoint"], s["Protocol"]) for s in old.get("Subscription") or []}
            for endpoint, protocol in wanted - had:
                backend.subscribe(topic.arn, endpoint, protocol)
            for endpoint, protocol in had - wanted:
                sub = backend._find_subscription(topic.arn, endpoint, protocol)
                if sub is not None:
                    backend.unsubscribe(sub.arn)
        return topic

    def live(self, physical_id, props, account, region):
        topic = _sns(account, region).topics.get(physical_id)
        if topic is None:
            return None
        live: dict[str, Any] = {"TopicName": topic.name, "FifoTopic": as_bool(topic.fifo_topic),
                                "ContentBasedDeduplication": as_bool(topic.content_based_deduplication)}
        if topic.display_name:
            live["DisplayName"] = topic.display_name
        if topic.kms_master_key_id:
            live["KmsMasterKeyId"] = topic.kms_master_key_id
        tags = tag_list(topic._tags)
        if tags:
            live["Tags"] = tags
        return live


# -- SQS ---------------------------------------------------------------------

def _sqs(account: str, region: str):
    from moto.sqs.models import sqs_backends

    return sqs_backends[account][region]


_QUEUE_ATTRIBUTES = {  # CloudFormation property -> (queue attribute, default when removed)
    "VisibilityTimeout": ("visibility_timeout", 30),
    "MessageRetentionPeriod": ("message_retention_period", 345600),
    "DelaySeconds": ("delay_seconds", 0),
    "MaximumMessageSize": ("maximum_message_size", 262144),
    "ReceiveMessageWaitTimeSeconds": ("receive_message_wait_time_seconds", 0),
    "ContentBasedDeduplication": ("content_based_deduplication", False),
    "KmsMasterKeyId": ("kms_master_key_id", None),
    "SqsManagedSseEnabled": ("sqs_managed_sse_enabled", True),
}


def queue_name(physical_id: str) -> str:
    return physical_id.rstrip("/").rsplit("/", 1)[-1]


class QueueRules(TypeRules):
    type_name = "AWS::SQS::Queue"
    replace_on = frozenset({"QueueName", "FifoQueue"})
    drift_properties = frozenset(set(_QUEUE_ATTRIBUTES) | {"QueueName", "FifoQueue", "RedrivePolicy", "Tags"})
    in_place = True

    def update(self, model, new, old, account, region):
        backend = _sqs(account, region)
        queue = backend.get_queue(model.name)
        attributes: dict[str, Any] = {}
        for prop, (_, default) in _QUEUE_ATTRIBUTES.items():
            if changed(new, old, prop):
                value = new.get(prop, default)
                if value is not None:
                    attributes[prop] = value
                elif prop == "KmsMasterKeyId":
                    queue.kms_master_key_id = None
        if changed(new, old, "RedrivePolicy"):
            policy = new.get("RedrivePolicy")
            attributes["RedrivePolicy"] = json.loads(policy) if isinstance(policy, str) else (policy or {})
        if attributes:
            policy = queue.policy  # moto's attribute setter resets a Policy it was not given
            backend.set_queue_attributes(queue.name, attributes)
            queue.policy = policy
        if changed(new, old, "Tags"):
            queue.tags = tag_dict(new.get("Tags"))
        return queue

    def live(self, physical_id, props, account, region):
        queue = _sqs(account, region).queues.get(queue_name(physical_id))
        if queue is None:
            return None
        live: dict[str, Any] = {"QueueName": queue.name, "FifoQueue": as_bool(queue.fifo_queue)}
        for prop, (attribute, _) in _QUEUE_ATTRIBUTES.items():
            value = getattr(queue, attribute, None)
            if value is not None:
                live[prop] = value
        if getattr(queue, "redrive_policy", None):
            live["RedrivePolicy"] = dict(queue.redrive_policy)
        tags = tag_list(queue.tags)
        if tags:
            live["Tags"] = tags
        return live


# -- SSM ---------------------------------------------------------------------

def _ssm(account: str, region: str):
    from moto.ssm.models import ssm_backends

    return ssm_backends[account][region]


class ParameterRules(TypeRules):
    type_name = "AWS::SSM::Parameter"
    replace_on = frozenset({"Name"})
    drift_properties = frozenset({"Name", "Type", "Value", "Description", "AllowedPattern", "Tier", "DataType",
                                  "Tags"})
    in_place = True

    def create_properties(self, props):
        # moto reads CloudFormation's tag map as a Key/Value list and fails; tags come after.
        return {k: v for k, v in props.items() if k != "Tags"}

    def after_create(self, model, props, account, region):
        if props.get("Tags"):
            _ssm(account, region).add_tags_to_resource("Parameter", model.name, tag_dict(props["Tags"]))

    def update(self, model, new, old, account, region):
        backend = _ssm(account, region)
        name = model.name
        if any(changed(new, old, p) for p in ("Type", "Value", "Description", "AllowedPattern", "Tier",
                                                "DataType")):
            model = backend.put_parameter(
                name=name, description=new.get("Description", ""), value=new.get("Value"),
                parameter_type=new.get("Type"), allowed_pattern=new.get("AllowedPattern", ""), keyid=None,
                overwrite=True, tags=[], data_type=new.get("DataType", "text"), tier=new.get("Tier"),
                policies=new.get("Policies"))
        if changed(new, old, "Tags"):
            wanted, had = tag_dict(new.get("Tags")), tag_dict(old.get("Tags"))
            gone = [k for k in had if k not in wanted]
            if gone:
                backend.remove_tags_from_resource("Parameter", name, gone)
            if wanted:
                backend.add_tags_to_resource("Parameter", name, wanted)
        return model

    def live(self, physical_id, props, account, region):
        backend = _ssm(account, region)
        param = backend.get_parameter(physical_id)
        if param is None:
            return None
        live: dict[str, Any] = {"Name": param.name, "Type": param.parameter_type, "Value": param.value}
        for prop, attribute in (("Description", "description"), ("AllowedPattern", "allowed_pattern"),
                                ("Tier", "tier"), ("DataType", "data_type")):
            value = getattr(param, attribute, None)
            if value:
                live[prop] = value
        tags = backend._resource_tags.get("Parameter", {}).get(param.name) or {}
        if tags:
            live["Tags"] = dict(tags)
        return live


# -- IAM ---------------------------------------------------------------------

def _iam(account: str):
    from moto.iam.models import iam_backends

    return iam_backends[account]["global"]


def _policy_document(text: Any) -> Any:
    from urllib.parse import unquote

    if isinstance(text, str):
        for candidate in (text, unquote(text)):
            try:
                return json.loads(candidate)
            except ValueError:
                continue
    return text


class RoleRules(TypeRules):
    type_name = "AWS::IAM::Role"
    replace_on = frozenset({"RoleName", "Path"})
    drift_properties = frozenset({"RoleName", "Description", "MaxSessionDuration", "Path",
                                  "AssumeRolePolicyDocument", "ManagedPolicyArns", "Tags"})

    def live(self, physical_id, props, account, region):
        role = next((r for r in _iam(account).roles.values() if r.name == physical_id), None)
        if role is None:
            return None
        live: dict[str, Any] = {"RoleName": role.name, "Path": role.path,
                                "AssumeRolePolicyDocument": _policy_document(role.assume_role_policy_document),
                                "MaxSessionDuration": role.max_session_duration,
                                "ManagedPolicyArns": sorted(role.managed_policies)}
        if role.description:
            live["Description"] = role.description
        tags = tag_list(list(role.tags.values()) if isinstance(role.tags, dict) else role.tags)
        if tags:
            live["Tags"] = tags
        if props.get("ManagedPolicyArns") is not None:
            # A set, as AWS compares it: in the template's order where the same.
            wanted = [str(a) for a in props["ManagedPolicyArns"]]
            live["ManagedPolicyArns"] = [a for a in wanted if a in role.managed_policies] + \
                [a for a in sorted(role.managed_policies) if a not in wanted]
        return live


class ManagedPolicyRules(TypeRules):
    type_name = "AWS::IAM::ManagedPolicy"
    replace_on = frozenset({"ManagedPolicyName", "Path", "Description"})
    drift_properties = frozenset({"ManagedPolicyName", "Description", "Path", "PolicyDocument"})

    def before_delete(self, physical_id, props, account, region):
        # moto's model has no delete: the policy outlived its stack. Detach it, then delete it.
        backend = _iam(account)
        if physical_id not in backend.managed_policies:
            return
        for kind, holders in (("role", backend.roles), ("user", backend.users), ("group", backend.groups)):
            for holder in list(holders.values()):
                if physical_id in getattr(holder, "managed_policies", {}):
                    getattr(backend, f"detach_{kind}_policy")(physical_id, holder.name)
        backend.delete_policy(physical_id)

    def live(self, physical_id, props, account, region):
        policy = _iam(account).managed_policies.get(physical_id)
        if policy is None:
            return None
        live: dict[str, Any] = {"ManagedPolicyName": policy.name, "Path": policy.path}
        if policy.description:
            live["Description"] = policy.description
        version = next((v for v in policy.versions if v.is_default), None)
        if version is not None:
            live["PolicyDocument"] = _policy_document(version.document)
        return live


for _rules in (BucketRules(), TopicRules(), QueueRules(), ParameterRules(), RoleRules(), ManagedPolicyRules()):
    register(_rules)
