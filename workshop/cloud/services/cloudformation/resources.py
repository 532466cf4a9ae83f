"""Resource types moto lacks, built on moto's own service backends so stacks
create, update and delete them: AWS::S3::BucketPolicy, AWS::SNS::Subscription
and AWS::SQS::QueuePolicy (lab 04 subscribes a queue to a topic).

How a service adds a resource type: a ``CfnResource`` subclass
(``workshop/cloud/services/cfn_model.py``: the pattern, shown there once), a
``TypeRules`` registered in ``resource_types.py`` for replacement and drift,
and its module listed in ``EXTENSIONS["cloudformation"]``.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from workshop.cloud.services.cfn_model import CfnResource
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


class BucketPolicy(CfnResource, CloudFormationModel):
    cfn_type = "AWS::S3::BucketPolicy"
    backend = staticmethod(_s3)

    @property
    def bucket(self) -> str | None:
        return self.properties.get("Bucket")  # a new Bucket replaces the policy

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> BucketPolicy:
        backend.put_bucket_policy(props["Bucket"], _json_text(props["PolicyDocument"]).encode("utf-8"))
        return cls(name)

    def _update(self, backend, name: str, props: dict[str, Any]) -> BucketPolicy:
        backend.put_bucket_policy(props["Bucket"], _json_text(props["PolicyDocument"]).encode("utf-8"))
        return self

    def _delete(self, backend) -> None:
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


class SnsSubscription(CfnResource, CloudFormationModel):
    cfn_type = "AWS::SNS::Subscription"
    cfn_attributes = {"Arn": "arn"}
    ref_attribute = "arn"
    backend = staticmethod(_sns)

    @staticmethod
    def _set_attributes(backend, arn: str, new: dict[str, Any], old: dict[str, Any]) -> None:
        for name in _SUBSCRIPTION_ATTRIBUTES:  # scope before policy: moto validates the policy by scope
            if name in new and new.get(name) != old.get(name):
                backend.set_subscription_attributes(arn, name, _attribute_value(name, new[name]))
            elif name in old and name not in new:
                backend.set_subscription_attributes(arn, name, "false" if name == "RawMessageDelivery" else "")

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> SnsSubscription:
        topic_arn, protocol, endpoint = props["TopicArn"], props["Protocol"], props["Endpoint"]
        subscription = backend.subscribe(topic_arn, endpoint, protocol)
        cls._set_attributes(backend, subscription.arn, props, {})
        return cls(arn=subscription.arn, topic_arn=topic_arn)

    def _update(self, backend, name: str, props: dict[str, Any]) -> SnsSubscription:
        subscription = backend.subscriptions.get(self.arn)
        old = {n: subscription.attributes.get(n) for n in _SUBSCRIPTION_ATTRIBUTES
               if subscription is not None and n in subscription.attributes}
        self._set_attributes(backend, self.arn, props, old)
        return self

    def _delete(self, backend) -> None:
        backend.unsubscribe(self.arn)


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


def _queue(backend, url: str):
    return backend.queues.get(str(url).rstrip("/").rsplit("/", 1)[-1])


class QueuePolicy(CfnResource, CloudFormationModel):
    cfn_type = "AWS::SQS::QueuePolicy"
    backend = staticmethod(_sqs)

    @property
    def queues(self) -> list[str]:
        return list(self.properties.get("Queues") or [])

    @staticmethod
    def _apply(backend, queues: list[str], document: Any) -> None:
        for url in queues:
            queue = _queue(backend, url)
            if queue is None:
                from moto.sqs.exceptions import QueueDoesNotExist

                raise QueueDoesNotExist()
            queue.policy = _json_text(document) if document else None

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> QueuePolicy:
        queues, document = props["Queues"], props["PolicyDocument"]
        cls._apply(backend, queues, document)
        return cls(name)

    def _update(self, backend, name: str, props: dict[str, Any]) -> QueuePolicy:
        dropped = [q for q in self.queues if q not in props["Queues"]]
        self._apply(backend, [q for q in dropped if _queue(backend, q)], None)
        self._apply(backend, props["Queues"], props["PolicyDocument"])
        return self

    def _delete(self, backend) -> None:
        self._apply(backend, [q for q in self.queues if _queue(backend, q)], None)


class QueuePolicyRules(TypeRules):
    type_name = "AWS::SQS::QueuePolicy"
    drift_properties = frozenset({"Queues", "PolicyDocument"})

    def live(self, physical_id, props, account, region):
        backend = _sqs(account, region)
        queues = [q for q in props.get("Queues") or [] if _queue(backend, q) is not None]
        policies = [_queue(backend, q).policy for q in queues]
        if not queues or not any(policies):
            return None
        return {"Queues": queues, "PolicyDocument": _json_value(next(p for p in policies if p))}


for _rules in (BucketPolicyRules(), SubscriptionRules(), QueuePolicyRules()):
    register(_rules)

