"""What every reference change sets off (a push, an API write, a merge): open pull
requests refreshed, repository triggers published to SNS, EventBridge events,
and ``codecommit.references-changed`` announced; and the triggers' own API."""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from workshop.cloud import services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.codecommit import git_ops
from workshop.cloud.services.codecommit.exceptions import CodeCommitError, error
from workshop.cloud.services.codecommit.repositories import (
    _locked,
    _now,
    Repository,
    Trigger,
    validate_branch_name,
)
log = logging.getLogger(__name__)
_TRIGGER_EVENTS = {"all", "updateReference", "createReference", "deleteReference"}


class TriggerOperations:
    """Repository triggers, and the one place every reference change passes."""

    # -- triggers ----------------------------------------------------------------------
    def _parse_triggers(self, repo: Repository, triggers: Any) -> list[Trigger]:
        if triggers is None:
            raise error("RepositoryTriggersListRequiredException", "The list of triggers for the repository is "
                                                                   "required, but was not specified.")
        if not isinstance(triggers, list):
            raise error("RepositoryTriggersListRequiredException", "The list of triggers must be a list.")
        if len(triggers) > 10:
            raise error("MaximumRepositoryTriggersExceededException", "The number of triggers allowed for the "
                                                                      "repository was exceeded (10).")
        parsed, names = [], set()
        for item in triggers:
            item = item if isinstance(item, dict) else {}
            name = item.get("name")
            if not name:
                raise error("RepositoryTriggerNameRequiredException", "A name for the trigger is required.")
            if not isinstance(name, str) or len(name) > 100 or name in names:
                raise error("InvalidRepositoryTriggerNameException", f"The name of the trigger {name} is not "
                                                                     "valid (or is used twice).")
            names.add(name)
            arn = item.get("destinationArn")
            if not arn:
                raise error("RepositoryTriggerDestinationArnRequiredException",
                            "A destination ARN for the target service for the trigger is required.")
            match = re.match(r"^arn:aws[\w-]*:(sns|lambda):([\w-]+):(\d{12}):(.+)$", str(arn))
            if not match:
                raise error("InvalidRepositoryTriggerDestinationArnException",
                            f"The Amazon Resource Name (ARN) {arn} for the trigger is not valid. Specify the ARN "
                            "of an Amazon SNS topic or an AWS Lambda function.")
            if match.group(2) != repo.region:
                raise error("InvalidRepositoryTriggerRegionException",
                            "The AWS Region for the trigger target does not match the AWS Region for the "
                            "repository. Triggers must be created in the same AWS Region as the target.")
            events = item.get("events")
            if events is None:
                raise error("RepositoryTriggerEventsListRequiredException", "At least one event for the trigger "
                                                                            "is required.")
            if not isinstance(events, list) or not events \
                    or any(not isinstance(e, str) or e not in _TRIGGER_EVENTS for e in events) \
                    or ("all" in events and len(events) > 1):
                raise error("InvalidRepositoryTriggerEventsException",
                            "One or more events specified for the trigger is not valid. Use all, "
                            "updateReference, createReference or deleteReference (all alone).")
            branches = item.get("branches", [])
            if not isinstance(branches, list):
                raise error("InvalidRepositoryTriggerBranchNameException", "The branches must be a list.")
            if len(branches) > 100:
                raise error("MaximumBranchesExceededException", "The number of branches for the trigger was "
                                                                "exceeded (100).")
            for branch in branches:
                try:
                    validate_branch_name(branch)
                except CodeCommitError:
                    raise error("InvalidRepositoryTriggerBranchNameException",
                                f"The branch name {branch!r} for the trigger is not valid.")
            custom = item.get("customData") or ""
            if not isinstance(custom, str) or len(custom) > 1000:
                raise error("InvalidRepositoryTriggerCustomDataException", "The custom data for the trigger is "
                                                                           "not valid (1000 characters at most).")
            parsed.append(Trigger(name, arn, list(events), list(branches), custom))
        return parsed

    @_locked
    def put_triggers(self, repo_name: Any, triggers: Any) -> str:
        repo = self.get_repo(repo_name)
        repo.triggers = self._parse_triggers(repo, triggers)
        repo.trigger_config_id = str(uuid.uuid4())
        return repo.trigger_config_id

    @_locked
    def get_triggers(self, repo_name: Any) -> tuple[str, list[Trigger]]:
        repo = self.get_repo(repo_name)
        return repo.trigger_config_id, list(repo.triggers)

    @_locked
    def test_triggers(self, repo_name: Any, triggers: Any, user_arn: str) -> tuple[list[str], list[dict]]:
        repo = self.get_repo(repo_name)
        ok, failed = [], []
        for trigger in self._parse_triggers(repo, triggers):
            branch = (trigger.branches or [repo.default_branch or "main"])[0]
            commit = repo.branch_sha(branch) or ""
            problem = self._publish(repo, trigger, [{"commit": commit, "ref": f"refs/heads/{branch}"}],
                                    user_arn, "TriggerEventTest")
            if problem:
                failed.append({"trigger": trigger.name, "failureMessage": problem})
            else:
                ok.append(trigger.name)
        return ok, failed

    def _publish(self, repo: Repository, trigger: Trigger, references: list[dict], user_arn: str,
                 event_name: str) -> str | None:
        """Send AWS's trigger message to the target; a problem is returned, never raised."""
        now = get_clock().now()
        record = {
            "awsRegion": repo.region,
            "codecommit": {"references": references},
            "customData": trigger.custom_data,
            "eventId": str(uuid.uuid4()),
            "eventName": event_name,
            "eventPartNumber": 1,
            "eventSource": "aws:codecommit",
            "eventSourceARN": repo.arn,
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000",
            "eventTotalParts": 1,
            "eventTriggerConfigId": repo.trigger_config_id,
            "eventTriggerName": trigger.name,
            "eventVersion": "1.0",
            "userIdentityARN": user_arn,
        }
        parts = trigger.destination_arn.split(":")
        service, region, account = parts[2], parts[3], parts[4]
        if service != "sns":
            return (f"The workshop cloud does not invoke Lambda functions from triggers: "
                    f"{trigger.destination_arn} was not called.")
        try:
            from moto.sns.models import sns_backends

            sns_backends[account][region].publish(json.dumps({"Records": [record]}), arn=trigger.destination_arn)
        except Exception as exc:  # a missing topic must not fail a push
            log.info("trigger %s on %s: %s", trigger.name, repo.arn, exc)
            return f"Could not publish to {trigger.destination_arn}: {exc}"
        return None

    # -- every reference change passes here ------------------------------------------------
    def _move_ref(self, repo: Repository, ref: str, new: str | None, old: str | None, user_arn: str,
                  outdated: str = "ParentCommitIdOutdatedException") -> None:
        if not git_ops.set_ref(repo.git, ref, new, old):
            raise error(outdated, f"The reference {ref} was changed by someone else meanwhile. "
                                  "Get its latest commit ID and try again.")
        self.after_ref_changes(repo, [(ref, old, new)], user_arn)

    @_locked
    def after_ref_changes(self, repo: Repository, changes: list[tuple[str, str | None, str | None]],
                          user_arn: str) -> None:
        """What follows a push or an API write: default branch, pull requests, triggers, events."""
        if not changes:
            return
        repo.last_modified = _now()
        if repo.default_branch is None or repo.branch_sha(repo.default_branch) is None:
            names = git_ops.branches(repo.git)
            pushed = [ref[len("refs/heads/"):] for ref, _, new in changes
                      if new and ref.startswith("refs/heads/")]
            choice = "main" if "main" in names else (pushed[0] if pushed else (sorted(names)[0] if names else None))
            repo.default_branch = choice
            git_ops.set_head(repo.git, choice)
        moved = {ref: (old, new) for ref, old, new in changes}
        for pr in list(self.pull_requests.values()):
            if pr.repository is repo and pr.status == "OPEN":
                self._refresh(pr)
                if pr.destination_ref in moved:
                    self._close_if_merged(pr, *moved[pr.destination_ref], user_arn)
        for trigger in repo.triggers:
            references = []
            for ref, old, new in changes:
                kind = "createReference" if old is None else "deleteReference" if new is None else "updateReference"
                if trigger.matches(ref, kind):
                    item = {"commit": new or old, "ref": ref}
                    if old is None:
                        item["created"] = True
                    if new is None:
                        item["deleted"] = True
                    references.append(item)
            if references:
                self._publish(repo, trigger, references, user_arn, "ReferenceChanges")
        _put_events(repo, changes, user_arn)
        try:
            services.announce("codecommit.references-changed", repo=repo, changes=changes, user_arn=user_arn)
        except Exception:  # a subscriber never fails a push
            log.exception("a subscriber of codecommit.references-changed failed on %s", repo.arn)


def _put_events(repo: Repository, changes: list, user_arn: str) -> None:
    """EventBridge's "CodeCommit Repository State Change" events, when the account uses EventBridge."""
    import sys

    events_models = sys.modules.get("moto.events.models")
    if events_models is None or repo.account_id not in dict.keys(events_models.events_backends):
        return
    entries = []
    for ref, old, new in changes:
        kind = "referenceCreated" if old is None else "referenceDeleted" if new is None else "referenceUpdated"
        ref_type = "branch" if ref.startswith("refs/heads/") else "tag" if ref.startswith("refs/tags/") else "ref"
        detail = {"event": kind, "repositoryName": repo.name, "repositoryId": repo.id, "referenceType": ref_type,
                  "referenceName": ref.split("/", 2)[-1], "referenceFullName": ref, "callerUserArn": user_arn}
        if new:
            detail["commitId"] = new
        if old:
            detail["oldCommitId"] = old
        entries.append({"Source": "aws.codecommit", "DetailType": "CodeCommit Repository State Change",
                        "Detail": json.dumps(detail), "Resources": [repo.arn], "EventBusName": "default"})
    try:
        backend = events_models.events_backends[repo.account_id][repo.region]
        for i in range(0, len(entries), 10):
            backend.put_events(entries[i:i + 10])
    except Exception:  # events are a courtesy; a push never fails on them
        log.debug("could not put CodeCommit events", exc_info=True)
