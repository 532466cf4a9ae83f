"""AWS/SQS per queue (QueueName): NumberOfMessagesSent and SentMessageSize for every
message added (by a learner, SNS, EventBridge), NumberOfMessagesReceived,
NumberOfEmptyReceives and NumberOfMessagesDeleted, counted on moto's own paths."""

from __future__ import annotations

from moto.sqs.models import SQSBackend

from workshop.cloud.services import extend
from workshop.cloud.services.cloudwatch import aws_metrics

_moto_send = SQSBackend.send_message
_moto_receive = SQSBackend.receive_message
_moto_delete = SQSBackend.delete_message


def _count(backend: SQSBackend, queue_name: str, values: dict[str, tuple[float, str]]) -> None:
    aws_metrics.publish(backend.account_id, backend.region_name, "AWS/SQS", values, [{"QueueName": queue_name}])


@extend(SQSBackend)
class MeasuredQueues:
    def send_message(self, queue_name: str, message_body: str, *args, **kwargs):
        message = _moto_send(self, queue_name, message_body, *args, **kwargs)
        _count(self, queue_name,
               {"NumberOfMessagesSent": (1.0, "Count"),
                "SentMessageSize": (float(len(message_body.encode("utf-8"))), "Bytes")})
        return message

    def receive_message(self, queue_name: str, *args, **kwargs):
        messages = _moto_receive(self, queue_name, *args, **kwargs)
        if messages:
            _count(self, queue_name, {"NumberOfMessagesReceived": (float(len(messages)), "Count")})
        else:
            _count(self, queue_name, {"NumberOfEmptyReceives": (1.0, "Count")})
        return messages

    def delete_message(self, queue_name: str, receipt_handle: str) -> None:
        _moto_delete(self, queue_name, receipt_handle)
        _count(self, queue_name, {"NumberOfMessagesDeleted": (1.0, "Count")})
