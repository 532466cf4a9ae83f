"""AWS/SNS per topic (TopicName): NumberOfMessagesPublished and PublishSize when a
message reaches a topic (from a learner, an alarm, a trigger, an approval), and per
subscription NumberOfNotificationsDelivered, NumberOfNotificationsFailed and
NumberOfNotificationsFilteredOut. A delivery that fails (a deleted queue, a failing
function) is counted, not raised: on AWS the publish has succeeded already."""

from __future__ import annotations

import logging

from moto.sns.models import Subscription, Topic

from workshop.cloud.services import extend
from workshop.cloud.services.cloudwatch import aws_metrics

log = logging.getLogger(__name__)

_moto_topic_publish = Topic.publish
_moto_subscription_publish = Subscription.publish


def _count(topic_arn: str, values: dict[str, tuple[float, str]]) -> None:
    _, _, _, region, account, name = topic_arn.split(":", 5)
    aws_metrics.publish(account, region, "AWS/SNS", values, [{"TopicName": name}])


@extend(Topic)
class MeasuredTopic:
    def publish(self, message: str, *args, **kwargs) -> str:
        message_id = _moto_topic_publish(self, message, *args, **kwargs)
        _count(self.arn, {"NumberOfMessagesPublished": (1.0, "Count"),
                          "PublishSize": (float(len(message.encode("utf-8"))), "Bytes")})
        return message_id


@extend(Subscription)
class MeasuredSubscription:
    def publish(self, message: str, message_id: str, *args, **kwargs) -> None:
        matcher = self._filter_policy_matcher
        if matcher is not None and not matcher.matches(kwargs.get("message_attributes"), message):
            _count(self.topic.arn, {"NumberOfNotificationsFilteredOut": (1.0, "Count")})
            return
        try:
            _moto_subscription_publish(self, message, message_id, *args, **kwargs)
        except Exception:
            log.info("SNS could not deliver %s to %s", message_id, self.endpoint, exc_info=True)
            _count(self.topic.arn, {"NumberOfNotificationsFailed": (1.0, "Count")})
            return
        _count(self.topic.arn, {"NumberOfNotificationsDelivered": (1.0, "Count")})
