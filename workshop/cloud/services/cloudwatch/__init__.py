"""CloudWatch alarms that evaluate: metric alarms stored whole, starting at
INSUFFICIENT_DATA, moved by the alarm evaluator on the workshop clock, with
alarm history and SNS actions; composite alarms settled from their children with
an actions suppressor; dashboards rendered as pictures; and CloudFormation types.

This package file imports only the engines (they subscribe to what the models
announce, and start with the cloud), never moto's CloudWatch models:
``services.EXTENSIONS`` names ``responses`` and ``cfn_resources``, which load
them on first use.
"""

from workshop.cloud.services.cloudwatch import alarm_evaluator  # noqa: F401  (subscribes)
from workshop.cloud.services.cloudwatch import composite_evaluator  # noqa: F401  (subscribes)
