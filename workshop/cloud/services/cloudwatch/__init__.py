"""CloudWatch alarms that evaluate: metric alarms stored whole, starting at
INSUFFICIENT_DATA, moved by the alarm evaluator on the workshop clock, with
alarm history and SNS actions; and ``AWS::CloudWatch::Alarm`` for CloudFormation.

This package file imports only the evaluator (it subscribes to what the
models announce, and starts with the cloud), never moto's CloudWatch models:
``services.EXTENSIONS`` names ``responses`` and ``cfn_resources``, which load
them on first use.
"""

from workshop.cloud.services.cloudwatch import alarm_evaluator  # noqa: F401  (subscribes)
