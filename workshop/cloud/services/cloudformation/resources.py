"""Resource types moto lacks, built on moto's own service backends so stacks
create, update and delete them: AWS::S3::BucketPolicy, AWS::SNS::Subscription
and AWS::SQS::QueuePolicy (lab 04 subscribes a queue to a topic).

How a later service adds its resource type (the pattern, shown here once):

1. Subclass moto's ``CloudFormationModel`` directly (moto finds models through
   ``CloudFormationModel.__subclasses__()``) with ``cloudformation_type()``,
   ``cloudformation_name_type()`` ("" when the type has no name property),
   ``create_from_cloudformation_json`` (create through the service's backend,
   return the model), ``update_from_cloudformation_json`` (an in-place update:
   the engine does replacements itself), ``delete`` (or
   ``delete_from_cloudformation_json``), ``physical_resource_id`` (what Ref
   returns) and, for Fn::GetAtt, ``has_cfn_attr`` / ``get_cfn_attribute``.
   Raise the service's own errors: the engine turns them into CREATE_FAILED
   with the message as ResourceStatusReason, and rolls back.
2. ``register(...)`` a ``TypeRules`` (``resource_types.py``) naming the
   properties whose change replaces the resource (change sets report
   Replacement from it; the engine replaces) and, for drift detection, the
   properties it reads back and a ``live()`` reader returning the resource in
   template shape (None once it is gone).
3. Make sure the module is imported before the first stack: put it in this
   package's ``__init__`` or list it in ``EXTENSIONS["cloudformation"]``
   (``workshop/cloud/services/__init__.py``); this module clears moto's cached
   model list on import in case a stack came first.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from workshop.cloud.services.cloudformation.resource_types import TypeRules, as_bool, register


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- AWS::S3::BucketPolicy -----------------------------------------------------

def _s3(account: str, region: str):
    from moto.s3.models import s3_backends

    return s3_backends[account][get_partition(region)]


class BucketPolicy(CloudFormationModel):
    def __init__(self, name: str, bucket: str, account_id: str, region_name: str):
        self.name = name
        self.bucket = bucket
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> BucketPolicy:
        props = cloudformation_json["Properties"]
        bucket, document = props["Bucket"], props["PolicyDocument"]
        _s3(account_id, region_name).put_bucket_policy(bucket, _json_text(document).encode("utf-8"))
        return cls(resource_name, bucket, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: BucketPolicy, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> BucketPolicy:
        props = cloudformation_json["Properties"]
        _s3(account_id, region_name).put_bucket_policy(props["Bucket"],
                                                       _json_text(props["PolicyDocument"]).encode("utf-8"))
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str) -> None:
        bucket = (cloudformation_json.get("Properties") or {}).get("Bucket")
        if bucket:
            cls(resource_name, bucket, account_id, region_name).delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _s3(account_id, region_name)
        if self.bucket in backend.buckets:
            backend.delete_bucket_policy(self.bucket)


class BucketPolicyRules(TypeRules):
    type_name = "AWS::S3::BucketPolicy"
    replace_on = frozenset({"Bucket"})
    drift_properties = frozenset({"Bucket", "PolicyDocument"})

    def live(self, physical_id, props, account, region):
        bucket = _s3(account, region).buckets.get(props.get("Bucket", ""))
        if bucket is None or not bucket.policy:
            return None
        return {"Bucket": bucket.name, "PolicyDocument": _json_value(bucket.policy)}


# -- AWS::SNS::Subscription ----------------------------------------------------

def _sns(account: str, region: str):
    from moto.sns.models import sns_backends

    return sns_backends[account][region]


_SUBSCRIPTION_ATTRIBUTES = ("DeliveryPolicy", "FilterPolicyScope", "FilterPolicy", "RawMessageDelivery",
                            "RedrivePolicy", "SubscriptionRoleArn")


def _attribute_value(name: str, value: Any) -> str:
    if name == "RawMessageDelivery":
        return "true" if as_bool(value) else "false"
    return value if isinstance(value, str) else json.dumps(value)


class SnsSubscription(CloudFormationModel):
    def __init__(self, arn: str, topic_arn: str, account_id: str, region_name: str):
        self.arn = arn
        self.topic_arn = topic_arn
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @staticmethod
    def _set_attributes(account_id: str, region_name: str, arn: str, new: dict[str, Any],
                        old: dict[str, Any]) -> None:
        backend = _sns(account_id, region_name)
        for name in _SUBSCRIPTION_ATTRIBUTES:  # scope before policy: moto validates the policy by scope
            if name in new and new.get(name) != old.get(name):
                backend.set_subscription_attributes(arn, name, _attribute_value(name, new[name]))
            elif name in old and name not in new:
                backend.set_subscription_attributes(arn, name, "false" if name == "RawMessageDelivery" else "")

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> SnsSubscription:
        props = cloudformation_json["Properties"]
        topic_arn, protocol, endpoint = props["TopicArn"], props["Protocol"], props["Endpoint"]
        subscription = _sns(account_id, region_name).subscribe(topic_arn, endpoint, protocol)
        cls._set_attributes(account_id, region_name, subscription.arn, props, {})
        return cls(subscription.arn, topic_arn, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: SnsSubscription, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> SnsSubscription:
        props = cloudformation_json["Properties"]
        subscription = _sns(account_id, region_name).subscriptions.get(original_resource.arn)
        old = {n: subscription.attributes.get(n) for n in _SUBSCRIPTION_ATTRIBUTES
               if subscription is not None and n in subscription.attributes}
        cls._set_attributes(account_id, region_name, original_resource.arn, props, old)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str) -> None:
        _sns(account_id, region_name).unsubscribe(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        _sns(account_id, region_name).unsubscribe(self.arn)


class SubscriptionRules(TypeRules):
    type_name = "AWS::SNS::Subscription"
    replace_on = frozenset({"TopicArn", "Protocol", "Endpoint"})
    drift_properties = frozenset({"TopicArn", "Protocol", "Endpoint", "RawMessageDelivery", "FilterPolicy",
                                  "FilterPolicyScope"})

    def live(self, physical_id, props, account, region):
        subscription = _sns(account, region).subscriptions.get(physical_id)
        if subscription is None:
            return None
        attributes = subscription.attributes
        live: dict[str, Any] = {"TopicArn": subscription.topic.arn, "Protocol": subscription.protocol,
                                "Endpoint": subscription.endpoint,
                                "RawMessageDelivery": as_bool(attributes.get("RawMessageDelivery", False))}
        if attributes.get("FilterPolicy"):
            live["FilterPolicy"] = _json_value(attributes["FilterPolicy"])
        if attributes.get("FilterPolicyScope"):
            live["FilterPolicyScope"] = attributes["FilterPolicyScope"]
        return live


# -- AWS::SQS::QueuePolicy -----------------------------------------------------

def _sqs(account: str, region: str):
    from moto.sqs.models import sqs_backends

    return sqs_backends[account][region]


def _queue(account: str, region: str, url: str):
    return _sqs(account, region).queues.get(str(url).rstrip("/").rsplit("/", 1)[-1])


class QueuePolicy(CloudFormationModel):
    def __init__(self, name: str, queues: list[str], account_id: str, region_name: str):
        self.name = name
        self.queues = list(queues)
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @staticmethod
    def _apply(account_id: str, region_name: str, queues: list[str], document: Any) -> None:
        for url in queues:
            queue = _queue(account_id, region_name, url)
            if queue is None:
                from moto.sqs.exceptions import QueueDoesNotExist

                raise QueueDoesNotExist()
            queue.policy = _json_text(document) if document else None

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> QueuePolicy:
        props = cloudformation_json["Properties"]
        queues, document = props["Queues"], props["PolicyDocument"]
        cls._apply(account_id, region_name, queues, document)
        return cls(resource_name, queues, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: QueuePolicy, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> QueuePolicy:
        props = cloudformation_json["Properties"]
        dropped = [q for q in original_resource.queues if q not in props["Queues"]]
        cls._apply(account_id, region_name, [q for q in dropped if _queue(account_id, region_name, q)], None)
        cls._apply(account_id, region_name, props["Queues"], props["PolicyDocument"])
        original_resource.queues = list(props["Queues"])
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        self._apply(account_id, region_name, [q for q in self.queues if _queue(account_id, region_name, q)], None)


class QueuePolicyRules(TypeRules):
    type_name = "AWS::SQS::QueuePolicy"
    drift_properties = frozenset({"Queues", "PolicyDocument"})

    def live(self, physical_id, props, account, region):
        queues = [q for q in props.get("Queues") or [] if _queue(account, region, q) is not None]
        policies = [_queue(account, region, q).policy for q in queues]
        if not queues or not any(policies):
            return None
        return {"Queues": queues, "PolicyDocument": _json_value(next(p for p in policies if p))}


for _rules in (BucketPolicyRules(), SubscriptionRules(), QueuePolicyRules()):
    register(_rules)


def _forget_cached_models() -> None:
    """moto caches its model list on first use; a stack made before this import would miss ours."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


_forget_cached_models()
