"""CloudWatch alarms that evaluate: metric alarms stored whole, starting at
INSUFFICIENT_DATA, moved by the alarm evaluator on the workshop clock, with
alarm history and SNS actions; and ``AWS::CloudWatch::Alarm`` for CloudFormation.

This package file stays empty on purpose: the gateway imports
``alarm_evaluator`` eagerly at start, and that must not pull in moto's
CloudWatch models (``services.EXTENSIONS`` names ``responses`` and
``cfn_resources``, which load them on first use).
"""
