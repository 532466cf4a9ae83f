"""Manual approval: the action waits (up to AWS's seven days, on the workshop
clock) for put_approval_result with its token; Approved succeeds, Rejected
fails the stage. A NotificationArn gets AWS's approval message over SNS."""

from __future__ import annotations

import json
import logging
import time
import uuid

from workshop.cloud import services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.codepipeline.actions.base import ActionContext, Handler, Result

log = logging.getLogger("workshop.cloud.codepipeline")

TIMEOUT_SECONDS = 7 * 24 * 3600  # AWS seconds
CHECK_EVERY = 30.0  # real seconds between timeout checks while nobody answers


class ManualApproval(Handler):
    def start(self, ctx: ActionContext) -> Result:
        run = ctx.run
        token = str(uuid.uuid4())
        run.token = run.state["token"] = token
        run.state.update(waited=0.0, checked=time.monotonic())
        if ctx.config.get("NotificationArn"):
            self._notify(ctx, token)
        return self._wait()

    def poll(self, ctx: ActionContext) -> Result:
        run = ctx.run
        answer = run.approval
        if answer is not None:
            run.updated_by = answer["by"]
            summary = answer.get("summary") or None
            if answer["status"] == "Approved":
                return Result.succeeded(summary)
            return Result.failed(summary or "Rejected", "Rejected")
        clock, moment = get_clock(), time.monotonic()
        run.state["waited"] += clock.aws_seconds(moment - run.state["checked"])
        run.state["checked"] = moment
        if run.state["waited"] >= TIMEOUT_SECONDS:
            return Result.failed("The approval request expired: nobody approved or rejected it within 7 days",
                                 "TimedOut")
        return self._wait(run.state["waited"])

    @staticmethod
    def _wait(waited: float = 0.0) -> Result:
        left = get_clock().real_seconds(TIMEOUT_SECONDS - waited)
        return Result.waiting(min(CHECK_EVERY, max(left, 0.05)))

    @staticmethod
    def _notify(ctx: ActionContext, token: str) -> None:
        execution = ctx.execution
        stage, action = ctx.run.stage, ctx.run.name
        console = (f"https://console.aws.amazon.com/codesuite/codepipeline/pipelines/{execution.name}/view"
                   f"?region={ctx.region}")
        message = {
            "region": ctx.region,
            "consoleLink": console,
            "approval": {
                "pipelineName": execution.name, "stageName": stage, "actionName": action, "token": token,
                "expires": None, "externalEntityLink": ctx.config.get("ExternalEntityLink"),
                "approvalReviewLink": f"{console}#{stage}/{action}/approve/{token}",
                "customData": ctx.config.get("CustomData"),
            },
        }
        try:
            services.ensure_loaded("sns")
            from moto.sns.models import sns_backends

            arn = ctx.config["NotificationArn"]
            sns_backends[ctx.account][arn.split(":")[3]].publish(
                json.dumps(message), arn=arn,
                subject=f"APPROVAL NEEDED: AWS CodePipeline {execution.name} for action {action}"[:100])
        except Exception as exc:  # as in AWS, a notification that cannot go out does not stop the approval
            log.info("approval notification to %s: %s", ctx.config.get("NotificationArn"), exc)
