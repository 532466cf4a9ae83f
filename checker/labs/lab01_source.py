"""Lab 01-source checks: one read of the learner's CodeCommit repository
``workshop-01-source`` (branches, history and content, approval rule templates,
pull requests, triggers), of the trigger's SNS topic and SQS queue, of the
learner's git pushes (CloudTrail) and what the topic delivered since (AWS/SNS,
AWS/SQS); then eight checks over it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from checker.labs import (
    LAB_TAG_KEY,
    bucket_name,
    by_learner,
    differences,
    folder_blobs,
    loads_json,
    metric_sum,
    missing,
    param,
    parse_time,
    sample_app_blobs,
    statements,
    tag_dict,
    trail_events,
)
from checker.registry import Finding, failed, lab, passed

LAB_ID = "01-source"
REPO_NAME = "workshop-01-source"
TEMPLATE_NAME = "workshop-01-source-protect-main"
TOPIC_NAME = "workshop-01-source-main-pushes"
QUEUE_NAME = "workshop-01-source-main-pushes"
TRIGGER_NAME = "main-pushes"
REVIEWER_ROLE = "workshop-01-source-reviewer"
BUCKET_PREFIX = "workshop-01-source"
MESSAGE_KEY = "trigger/message.json"
MAIN = "main"
MAIN_REF = "refs/heads/main"
TAG = f"{LAB_TAG_KEY}={LAB_ID}"

# Bounds on the read: a lab repository is small; a huge one must not stall the checker.
MAX_COMMITS = 600
MAX_PULL_REQUESTS = 30
MAX_TEMPLATES = 20
MAX_TRIGGERS = 10

LAB = lab(LAB_ID, "Source control with CodeCommit")

_CC = "https://docs.aws.amazon.com/codecommit/latest/userguide"
_BRANCHING = ("https://docs.aws.amazon.com/prescriptive-guidance/latest/choosing-git-branch-approach/"
              "git-branching-strategies.html")


@dataclass
class Source:
    """What the checks look at, read once."""

    account: str
    region: str
    repo: dict | None = None
    repo_problem: str = ""
    other_repos: list[str] = field(default_factory=list)
    tags: dict = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name -> tip commit id
    commits: dict[str, dict] = field(default_factory=dict)  # commit id -> commit (batch_get_commits shape)
    missing_commits: set[str] = field(default_factory=set)
    main_files: dict[str, str] = field(default_factory=dict)  # path -> blob id of every file on main
    main_problem: str = ""
    templates: dict[str, dict] = field(default_factory=dict)  # name -> template (account-wide, bounded)
    associated: list[str] = field(default_factory=list)  # template names associated with the repo
    pull_requests: list[dict] = field(default_factory=list)  # PRs of the repo, newest first
    approvals: dict[str, list[dict]] = field(default_factory=dict)  # PR id -> approval states of its revision
    overridden: dict[str, bool] = field(default_factory=dict)  # PR id -> rules overridden
    triggers: list[dict] = field(default_factory=list)
    triggers_problem: str = ""
    topics: dict[str, dict] = field(default_factory=dict)  # topic ARN -> {exists, subscriptions}
    queues: dict[str, dict] = field(default_factory=dict)  # queue ARN -> {exists, url, policy}
    errors_trail: str = ""
    pushes: list[dict] | None = None  # CloudTrail: the learner's git pushes that moved main, newest first
    deliveries: dict[str, dict] = field(default_factory=dict)  # topic ARN -> AWS/SNS and AWS/SQS counts since
    merge_changes: dict[str, set[str]] = field(default_factory=dict)  # develop's merge commit -> paths it brought
    release_changes: dict[str, set[str]] = field(default_factory=dict)  # release branch -> paths of its own commits
    release_versions: dict[str, str] = field(default_factory=dict)  # release branch -> VERSION at its tip

    @property
    def lab_bucket(self) -> str:
        return bucket_name(BUCKET_PREFIX, self.account, self.region)

    @property
    def repo_arn(self) -> str:
        return (self.repo or {}).get("Arn") or f"arn:aws:codecommit:{self.region}:{self.account}:{REPO_NAME}"

    # -- history, from the commits read ---------------------------------------------
    def reach(self, tip: str | None) -> set[str]:
        """Every commit reachable from ``tip`` (among those read)."""
        seen: set[str] = set()
        stack = [tip] if tip else []
        while stack:
            commit_id = stack.pop()
            if commit_id in seen or commit_id not in self.commits:
                continue
            seen.add(commit_id)
            stack.extend(self.commits[commit_id].get("parents") or [])
        return seen

    def first_parents(self, tip: str | None) -> list[str]:
        """The branch's own line: ``tip``, its first parent, that one's first parent..."""
        line: list[str] = []
        commit_id = tip
        while commit_id and commit_id in self.commits and commit_id not in line:
            line.append(commit_id)
            parents = self.commits[commit_id].get("parents") or []
            commit_id = parents[0] if parents else None
        return line

    def merged_into_main(self) -> list[dict]:
        return [pr for pr in self.pull_requests if _is_merged(_main_target(pr))]


def _main_target(pr: dict) -> dict | None:
    for target in pr.get("pullRequestTargets") or []:
        if target.get("repositoryName") == REPO_NAME and target.get("destinationReference") in (MAIN_REF, MAIN):
            return target
    return None


def _is_merged(target: dict | None) -> bool:
    return bool(target and (target.get("mergeMetadata") or {}).get("isMerged"))


def _branch_of(ref: str | None) -> str:
    ref = ref or ""
    return ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref


# -- the read ---------------------------------------------------------------------

@LAB.reader
def read(account) -> Source:
    st = Source(account.id, account.region)
    got = account.call("codecommit", "get_repository", repositoryName=REPO_NAME)
    if got is None:
        why = account.errors.get("codecommit.get_repository", "")
        listed = account.call("codecommit", "list_repositories") or {}
        st.other_repos = sorted(r.get("repositoryName", "") for r in listed.get("repositories", []))[:10]
        st.repo_problem = (f"There is no CodeCommit repository {REPO_NAME} in account {account.id} "
                           f"({account.region})" + ("" if not why or "does not exist" in why else f": {why}") + ".")
        return st
    st.repo = got.get("repositoryMetadata") or {}
    tags = account.call("codecommit", "list_tags_for_resource", resourceArn=st.repo_arn) or {}
    st.tags = tag_dict(tags.get("tags"))
    _read_branches(account, st)
    _read_main_files(account, st)
    _read_templates(account, st)
    _read_pull_requests(account, st)
    _read_triggers(account, st)
    _read_deliveries(account, st)
    # The history of every branch, and the commits the evidence names.
    _read_commits(account, st, list(st.branches.values()))
    _read_gitflow(account, st)
    return st


def _read_gitflow(account, st: Source) -> None:
    """What develop's merges brought in, and what the release branches' own commits changed."""
    develop = st.branches.get("develop")
    if develop is None:
        return
    own_line = st.first_parents(develop)
    for commit_id in [c for c in own_line if len(st.commits[c].get("parents") or []) >= 2][:3]:
        changed = differences(account, REPO_NAME, st.commits[commit_id]["parents"][0], commit_id)
        if changed is not None:
            st.merge_changes[commit_id] = changed
    on_develop = st.reach(develop)
    for name, tip in sorted(st.branches.items()):
        if not name.startswith("release/") or len(st.release_changes) >= 3:
            continue
        base = next((c for c in st.first_parents(tip) if c in on_develop), None)
        if base is None or base == tip:
            continue
        changed = differences(account, REPO_NAME, base, tip)
        if changed is not None:
            st.release_changes[name] = changed
        got = account.call("codecommit", "get_file", repositoryName=REPO_NAME, commitSpecifier=tip,
                           filePath="VERSION")
        if got is not None:
            content = got.get("fileContent") or b""
            st.release_versions[name] = (content.decode("utf-8", "replace") if isinstance(content, bytes)
                                         else str(content)).strip()


def _read_branches(account, st: Source) -> None:
    names: list[str] = []
    token = None
    for _ in range(10):
        page = account.call("codecommit", "list_branches", repositoryName=REPO_NAME,
                            **({"nextToken": token} if token else {})) or {}
        names += page.get("branches", [])
        token = page.get("nextToken")
        if not token:
            break
    for name in sorted(names)[:50]:
        got = account.call("codecommit", "get_branch", repositoryName=REPO_NAME, branchName=name)
        commit_id = ((got or {}).get("branch") or {}).get("commitId")
        if commit_id:
            st.branches[name] = commit_id


def _read_commits(account, st: Source, tips: list[str]) -> None:
    """Every commit reachable from ``tips`` (bounded), a hundred per call."""
    frontier = [t for t in dict.fromkeys(tips) if t and t not in st.commits]
    while frontier and len(st.commits) < MAX_COMMITS:
        batch, frontier = frontier[:100], frontier[100:]
        got = account.call("codecommit", "batch_get_commits", repositoryName=REPO_NAME, commitIds=batch)
        if got is None:
            st.missing_commits.update(batch)
            return
        for commit in got.get("commits") or []:
            commit_id = commit.get("commitId")
            if not commit_id:
                continue
            st.commits[commit_id] = commit
            for parent in commit.get("parents") or []:
                if parent not in st.commits and parent not in frontier and parent not in st.missing_commits:
                    frontier.append(parent)
        st.missing_commits.update(c for c in batch if c not in st.commits)


def _read_main_files(account, st: Source) -> None:
    if MAIN not in st.branches:
        return
    blobs, why = folder_blobs(account, REPO_NAME, st.branches[MAIN])
    if blobs is None:
        st.main_problem = why
        return
    st.main_files = blobs


def _read_templates(account, st: Source) -> None:
    listed = account.call("codecommit", "list_associated_approval_rule_templates_for_repository",
                          repositoryName=REPO_NAME) or {}
    st.associated = list(listed.get("approvalRuleTemplateNames") or [])
    names = list(st.associated)
    everything = account.call("codecommit", "list_approval_rule_templates") or {}
    names += [n for n in everything.get("approvalRuleTemplateNames") or [] if n not in names]
    for name in names[:MAX_TEMPLATES]:
        got = account.call("codecommit", "get_approval_rule_template", approvalRuleTemplateName=name)
        if got and got.get("approvalRuleTemplate"):
            st.templates[name] = got["approvalRuleTemplate"]


def _read_pull_requests(account, st: Source) -> None:
    ids: list[str] = []
    for status in ("CLOSED", "OPEN"):
        token = None
        for _ in range(5):
            page = account.call("codecommit", "list_pull_requests", repositoryName=REPO_NAME,
                                pullRequestStatus=status, **({"nextToken": token} if token else {})) or {}
            ids += page.get("pullRequestIds") or []
            token = page.get("nextToken")
            if not token or len(ids) >= MAX_PULL_REQUESTS:
                break
    ids = sorted(set(ids), key=lambda i: -int(i) if str(i).isdigit() else 0)[:MAX_PULL_REQUESTS]
    for pr_id in ids:
        got = account.call("codecommit", "get_pull_request", pullRequestId=pr_id)
        pr = (got or {}).get("pullRequest")
        if not pr:
            continue
        st.pull_requests.append(pr)
        target = _main_target(pr)
        if _is_merged(target) and pr.get("revisionId"):
            states = account.call("codecommit", "get_pull_request_approval_states", pullRequestId=pr_id,
                                  revisionId=pr["revisionId"]) or {}
            st.approvals[pr_id] = states.get("approvals") or []
            override = account.call("codecommit", "get_pull_request_override_state", pullRequestId=pr_id,
                                    revisionId=pr["revisionId"]) or {}
            st.overridden[pr_id] = bool(override.get("overridden"))


def _read_triggers(account, st: Source) -> None:
    got = account.call("codecommit", "get_repository_triggers", repositoryName=REPO_NAME)
    if got is None:
        st.triggers_problem = account.errors.get("codecommit.get_repository_triggers", "cannot read the triggers")
        return
    st.triggers = [t for t in got.get("triggers") or [] if isinstance(t, dict)][:MAX_TRIGGERS]
    for trigger in st.triggers:
        arn = trigger.get("destinationArn") or ""
        if arn.startswith("arn:aws:sns:") and arn not in st.topics:
            _read_topic(account, st, arn)


def _read_topic(account, st: Source, arn: str) -> None:
    attrs = account.call("sns", "get_topic_attributes", TopicArn=arn)
    topic: dict = {"exists": attrs is not None, "subscriptions": []}
    st.topics[arn] = topic
    if attrs is None:
        return
    subs = account.call("sns", "list_subscriptions_by_topic", TopicArn=arn) or {}
    topic["subscriptions"] = subs.get("Subscriptions") or []
    for sub in topic["subscriptions"][:5]:
        endpoint = sub.get("Endpoint") or ""
        if sub.get("Protocol") == "sqs" and endpoint.startswith("arn:aws:sqs:") and endpoint not in st.queues:
            _read_queue(account, st, endpoint)


def _read_queue(account, st: Source, arn: str) -> None:
    parts = arn.split(":")
    queue: dict = {"exists": False, "url": "", "policy": None}
    st.queues[arn] = queue
    if len(parts) < 6:
        return
    found = account.call("sqs", "get_queue_url", QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])
    if not found or not found.get("QueueUrl"):
        return
    queue["url"] = found["QueueUrl"]
    attrs = account.call("sqs", "get_queue_attributes", QueueUrl=queue["url"], AttributeNames=["Policy"])
    queue["exists"] = attrs is not None
    try:
        text = ((attrs or {}).get("Attributes") or {}).get("Policy")
        queue["policy"] = json.loads(text) if text else None
    except ValueError:
        queue["policy"] = None


def _read_deliveries(account, st: Source) -> None:
    """The learner's pushes to main (CloudTrail GitPush) and what the triggers' topics delivered
    from the first of them on (AWS/SNS per topic, AWS/SQS per subscribed queue)."""
    events = trail_events(account, "GitPush")
    if events is None:
        st.errors_trail = account.errors.get("cloudtrail.lookup_events", "")
        return
    st.pushes = [e for e in events if by_learner(e) and _pushed_repo(e) == REPO_NAME
                 and any(isinstance(r, dict) and r.get("ref") == MAIN_REF and not r.get("deleted")
                         for r in param(e, "references") or [])]
    if not st.pushes:
        return
    start = (parse_time(st.pushes[-1].get("eventTime")) or datetime.now(timezone.utc)).replace(second=0)
    end = datetime.now(timezone.utc) + timedelta(minutes=1)
    for arn in st.topics:
        counts = {metric: metric_sum(account, "AWS/SNS", metric, {"TopicName": arn.rsplit(":", 1)[-1]}, start, end)
                  for metric in ("NumberOfNotificationsDelivered", "NumberOfNotificationsFailed")}
        for sub in st.topics[arn]["subscriptions"][:2]:
            queue = str(sub.get("Endpoint") or "")
            if sub.get("Protocol") == "sqs" and queue.startswith("arn:aws:sqs:"):
                counts[queue] = metric_sum(account, "AWS/SQS", "NumberOfMessagesSent",
                                           {"QueueName": queue.rsplit(":", 1)[-1]}, start, end)
        st.deliveries[arn] = counts


def _pushed_repo(event: dict) -> str | None:
    extra = event.get("additionalEventData") or {}
    if isinstance(extra, dict) and extra.get("repositoryName"):
        return extra["repositoryName"]
    return next((r.get("ResourceName") for r in event.get("resources") or [] if isinstance(r, dict)), None)


# -- the saved trigger message ------------------------------------------------------

def trigger_records(message: Any, depth: int = 0) -> list[dict]:
    """The CodeCommit trigger records in what the learner saved: the trigger's
    payload ({"Records": [...]}), the SNS notification around it (its
    "Message" is that payload as text), the SQS message around that ("Body"),
    one record, or a list of any of these."""
    if depth > 8:  # a list of SQS messages holding SNS notifications holding the payload: 6 levels
        return []
    if isinstance(message, (str, bytes)):
        try:
            return trigger_records(loads_json(message), depth + 1)
        except ValueError:
            return []
    if isinstance(message, list):
        return [r for m in message for r in trigger_records(m, depth + 1)]
    if not isinstance(message, dict):
        return []
    if isinstance(message.get("Records"), list):
        return [r for r in message["Records"] if isinstance(r, dict) and "eventSource" in r]
    for wrapper in ("Message", "Body", "body"):
        if wrapper in message:
            return trigger_records(message[wrapper], depth + 1)
    return [message] if "eventSource" in message else []


# -- helpers shared by the checks -------------------------------------------------------

def _no_repo(st: Source, then: str) -> Finding:
    return missing(st.repo_problem, then)


def _rule_needs(content: Any) -> tuple[int, list[str] | None]:
    """(approvals needed by the rule's strictest Approvers statement, its destination refs or None)."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return 0, None
    if not isinstance(content, dict):
        return 0, None
    statements = content.get("Statements") or []
    needed = 0
    for s in statements if isinstance(statements, list) else []:
        if isinstance(s, dict) and s.get("Type") == "Approvers":
            try:
                needed = max(needed, int(s.get("NumberOfApprovalsNeeded") or 0))
            except (TypeError, ValueError):
                pass
    refs = content.get("DestinationReferences")
    return needed, (list(refs) if isinstance(refs, list) else None)


def _protects_main(template: dict) -> str:
    """Why a template does not require an approval on main ('' when it does)."""
    name = template.get("approvalRuleTemplateName")
    needed, refs = _rule_needs(template.get("approvalRuleTemplateContent"))
    if needed < 1:
        return (f"Template {name} requires no approval: give it an Approvers statement with "
                "NumberOfApprovalsNeeded of at least 1.")
    if refs is None:
        return (f"Template {name} has no DestinationReferences, so it applies to every branch (develop and "
                f"feature branches too): limit it to {MAIN_REF}.")
    if MAIN_REF not in refs:
        return f"Template {name} applies to {', '.join(map(str, refs)) or 'no branch'}, not to {MAIN_REF}."
    return ""


def _approvals_of(st: Source, pr: dict) -> list[dict]:
    author = pr.get("authorArn")
    return [a for a in st.approvals.get(pr.get("pullRequestId"), [])
            if a.get("approvalState") == "APPROVE" and a.get("userArn") and a.get("userArn") != author]


def _pool(content: Any) -> list[str]:
    """The approval pool members of a rule's Approvers statements ([]: anyone in the account)."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return []
    members: list[str] = []
    for s in (content or {}).get("Statements") or [] if isinstance(content, dict) else []:
        if isinstance(s, dict) and s.get("Type") == "Approvers":
            members += [str(m) for m in s.get("ApprovalPoolMembers") or []]
    return members


def _in_pool(user_arn: str, members: list[str]) -> bool:
    """Whether an approver's ARN is one of the pool's (ARN patterns with *, or
    CodeCommitApprovers:ACCOUNT:NAME, which matches an IAM user or a role session of that name)."""
    from fnmatch import fnmatchcase

    for member in members:
        if member.startswith("CodeCommitApprovers:"):
            _, account, name = (member.split(":", 2) + ["", ""])[:3]
            if f":{account}:" in user_arn and user_arn.rsplit("/", 1)[-1] == name:
                return True
        elif fnmatchcase(user_arn, member):
            return True
    return False


def _merge_result(pr: dict) -> str | None:
    target = _main_target(pr) or {}
    meta = target.get("mergeMetadata") or {}
    return meta.get("mergeCommitId") or target.get("sourceCommit")


def _describe_pr(pr: dict) -> str:
    target = _main_target(pr) or (pr.get("pullRequestTargets") or [{}])[0]
    return (f"pull request {pr.get('pullRequestId')} ({_branch_of(target.get('sourceReference'))} -> "
            f"{_branch_of(target.get('destinationReference'))}, {pr.get('pullRequestStatus')})")


# -- the checks -----------------------------------------------------------------------

@LAB.check("repo-created", title="Repository workshop-01-source exists and is tagged", points=10, step="repo",
           hints=["Create a CodeCommit repository named workshop-01-source with a description, tagged "
                  "workshop:lab=01-source.",
                  "codecommit.create_repository takes repositoryName, repositoryDescription and tags (a map); "
                  "codecommit.tag_resource tags a repository that already exists.",
                  "codecommit.create_repository(repositoryName='workshop-01-source', repositoryDescription="
                  "'The sample app', tags={'workshop:lab': '01-source'})"],
           docs=f"{_CC}/how-to-create-repository.html")
def repo_created(st: Source) -> Finding:
    if st.repo is None:
        others = f" (it has: {', '.join(st.other_repos)})" if st.other_repos else ""
        return failed(f"{st.repo_problem.rstrip('.')}{others}. Create it in step 1.")
    if st.tags.get(LAB_TAG_KEY) != LAB_ID:
        have = ", ".join(f"{k}={v}" for k, v in st.tags.items()) or "no tags"
        return failed(f"Repository {REPO_NAME} has {have}, not {TAG}: tag it (tag_resource with its ARN).")
    return passed(f"{REPO_NAME} ({st.repo_arn}) tagged {TAG}.")


@LAB.check("trigger-on-main", title="A trigger on main notifies an SNS topic with a subscribed SQS queue",
           points=10, step="trigger",
           hints=["Create an SNS topic and an SQS queue subscribed to it (with a queue policy that lets the "
                  "topic send), then a repository trigger for pushes to main that targets the topic.",
                  "sns.create_topic, sqs.create_queue with a Policy attribute allowing sns.amazonaws.com to "
                  "sqs:SendMessage from the topic, sns.subscribe(Protocol='sqs'), then "
                  "codecommit.put_repository_triggers with branches=['main'].",
                  "codecommit.put_repository_triggers(repositoryName='workshop-01-source', triggers=[{'name': "
                  "'main-pushes', 'destinationArn': TOPIC_ARN, 'branches': ['main'], 'events': ['all']}])"],
           docs=f"{_CC}/how-to-notify-sns.html")
def trigger_on_main(st: Source) -> Finding:
    if st.repo is None:
        return _no_repo(st, "Create it (step 1), then add the trigger (step 2).")
    if st.triggers_problem:
        return failed(f"Cannot read the repository's triggers: {st.triggers_problem}")
    if not st.triggers:
        return failed(f"{REPO_NAME} has no triggers yet (step 2).")
    problems = []
    for trigger in st.triggers:
        name = trigger.get("name")
        branches, events = trigger.get("branches") or [], trigger.get("events") or []
        arn = trigger.get("destinationArn") or ""
        if MAIN not in branches:
            problems.append(f"trigger {name} fires for {', '.join(branches) if branches else 'every branch'}, "
                            "not for main only: set branches=['main']")
            continue
        if not {"all", "updateReference"} & set(events):
            problems.append(f"trigger {name} fires on {', '.join(events) or 'no event'}: a push to main is an "
                            "updateReference event (or use 'all')")
            continue
        topic = st.topics.get(arn)
        if topic is None:
            problems.append(f"trigger {name} targets {arn or 'nothing'}, not an SNS topic")
            continue
        if not topic["exists"]:
            problems.append(f"trigger {name} targets topic {arn}, which does not exist")
            continue
        subs = [s for s in topic["subscriptions"] if s.get("Protocol") == "sqs"]
        if not subs:
            problems.append(f"topic {arn} has no SQS subscription: subscribe the queue to it")
            continue
        for sub in subs:
            queue = st.queues.get(sub.get("Endpoint") or "", {})
            if sub.get("SubscriptionArn") in (None, "", "PendingConfirmation"):
                problems.append(f"the subscription of {sub.get('Endpoint')} is not confirmed")
            elif not queue.get("exists"):
                problems.append(f"topic {arn} is subscribed by {sub.get('Endpoint')}, which does not exist")
            elif not _lets_topic_send(queue.get("policy"), arn):
                problems.append(f"queue {sub.get('Endpoint')} has no policy letting the topic send to it "
                                "(Allow sns.amazonaws.com sqs:SendMessage, condition aws:SourceArn = the topic): "
                                "on AWS, SNS could not deliver")
            else:
                return passed(f"Trigger {name}: pushes to main -> {arn} -> {sub.get('Endpoint')}.")
    return failed("No trigger delivers pushes to main to a subscribed queue: " + "; ".join(problems) + ".")


def _lets_topic_send(policy: Any, topic_arn: str) -> bool:
    for s in statements(policy):
        if s.get("Effect") != "Allow":
            continue
        principal = s.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else principal
        services = services if isinstance(services, list) else [services]
        if not ({"sns.amazonaws.com", "*"} & {str(x) for x in services}):
            continue
        actions = s.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if not ({"sqs:SendMessage", "sqs:*", "*"} & {str(a) for a in actions}):
            continue
        cond = s.get("Condition") or {}
        sources = [v.get("aws:SourceArn") for op, v in cond.items() if isinstance(v, dict)
                   and op in ("ArnEquals", "ArnLike", "StringEquals", "StringLike")]
        sources = [x for v in sources for x in (v if isinstance(v, list) else [v]) if x is not None]
        if not sources or topic_arn in sources:
            return True
    return False


@LAB.check("sample-app-on-main", title="The sample app is pushed to main, the default branch", points=15,
           step="push",
           hints=["Copy the sample app into a working folder, commit it on a branch named main and push it "
                  "to the repository's cloneUrlHttp with git.",
                  "git init -b main; git add .; git commit; git remote add origin <cloneUrlHttp>; "
                  "git push -u origin main (git authenticates with your access key id and secret).",
                  "labkit.sample.copy_sample_app(WORK); git('init', '-b', 'main'); git('add', '.'); "
                  "git('commit', '-m', 'Sample app'); git('remote', 'add', 'origin', CLONE_URL); "
                  "git('push', '-u', 'origin', 'main')"],
           docs=f"{_CC}/how-to-migrate-repository-local.html")
def sample_app_on_main(st: Source) -> Finding:
    """Evidence: every file on main, read with get_folder (its git blob id), compared with the
    sample app's own files. On real AWS the same; a Windows checkout with core.autocrlf changes
    line endings and so the blob ids (the app's files are committed with LF)."""
    if st.repo is None:
        return _no_repo(st, "Create it (step 1), then push the sample app (step 3).")
    if MAIN not in st.branches:
        have = ", ".join(sorted(st.branches)) or "no branches: nothing has been pushed yet"
        return failed(f"{REPO_NAME} has no branch main ({have}). Push the sample app to main: "
                      "git push -u origin main (or HEAD:main from another local branch).")
    if st.main_problem:
        return failed(f"Cannot read the files on main: {st.main_problem}")
    expected = sample_app_blobs()
    absent = [p for p in expected if p not in st.main_files]
    if absent:
        return failed(f"main does not have the sample app: {', '.join(absent[:6])} missing. Commit the whole "
                      "sample app folder (app/, tests/, tools/, buildspec.yml, VERSION...) at the top of the "
                      "repository.")
    changed = [p for p in expected if st.main_files[p] != expected[p]]
    if changed:
        return failed(f"main has the sample app's paths, but {', '.join(changed[:6])} "
                      f"{'differs' if len(changed) == 1 else 'differ'} from the sample app (git blob ids compared "
                      "with sample-app/): copy the app unchanged (labkit.sample.copy_sample_app), commit and push.")
    caches = sorted({p.split(c)[0] + c for p in st.main_files for c in ("__pycache__", ".pytest_cache")
                     if c in p.split("/")})
    if caches:
        return failed(f"main holds generated files ({', '.join(caches)}): add a .gitignore with __pycache__/ and "
                      ".pytest_cache/, remove them from git (git rm -r --cached) and push again.")
    default = (st.repo or {}).get("defaultBranch")
    if default != MAIN:
        return failed(f"The repository's default branch is {default or 'not set'}, not main: "
                      "update_default_branch(repositoryName=..., defaultBranchName='main').")
    return passed(f"main ({st.branches[MAIN][:8]}) holds the sample app's {len(expected)} files, each the same "
                  "content as sample-app/ (git blob ids read with get_folder), and is the default branch.")


@LAB.check("trigger-delivered", title="A push to main was delivered by the trigger's topic to the queue", points=10,
           step="push",
           hints=["With the trigger in place, push a commit to main: CodeCommit notifies the topic, and the topic "
                  "delivers to the queue. The checker reads your push from CloudTrail and the deliveries from the "
                  "topic's and the queue's own metrics.",
                  "git push to main after put_repository_triggers; cloudtrail.lookup_events(EventName='GitPush') "
                  "shows the push; cloudwatch.get_metric_statistics(Namespace='AWS/SNS', MetricName="
                  "'NumberOfNotificationsDelivered', Dimensions=[{'Name': 'TopicName', 'Value': TOPIC}]) the "
                  "deliveries; sqs.receive_message reads what arrived.",
                  "git('push', '-u', 'origin', 'main'); then sqs.receive_message(QueueUrl=queue_url, "
                  "WaitTimeSeconds=5) shows CodeCommit's message (its Body's Message holds {'Records': [...]})"],
           docs=f"{_CC}/how-to-notify.html")
def trigger_delivered(st: Source) -> Finding:
    """Evidence: the learner's GitPush events that moved main (CloudTrail) and, from the first
    of them on, the trigger topic's NumberOfNotificationsDelivered (AWS/SNS) and its queue's
    NumberOfMessagesSent (AWS/SQS). SNS Publish is a data event, not in Event History: a
    message published by hand after a push would count as a delivery; a saved message is
    no evidence. CloudWatch keeps one-minute points: the count runs from the push's minute."""
    if st.repo is None:
        return _no_repo(st, "Create it (step 1), add the trigger (step 2), then push (step 3).")
    if st.pushes is None:
        return failed(f"CloudTrail cannot be read ({st.errors_trail or 'no answer'}): the checker reads your git "
                      "pushes from it.")
    if not st.pushes:
        return failed(f"CloudTrail shows no git push by you that moved main of {REPO_NAME} (GitPush events): push "
                      "the sample app to main with git (step 3).")
    pushed = f"{len(st.pushes)} push(es) to main since {parse_time(st.pushes[-1].get('eventTime'))}"
    if not st.deliveries:
        return failed(f"CloudTrail shows {pushed}, but no trigger of {REPO_NAME} targets an SNS topic: add the "
                      "trigger (step 2) and push again.")
    for arn, counts in st.deliveries.items():
        delivered, queued = counts.get("NumberOfNotificationsDelivered"), \
            [v for k, v in counts.items() if k.startswith("arn:aws:sqs:") and v]
        if delivered and queued:
            return passed(f"CloudTrail: {pushed}; AWS/SNS: topic {arn.rsplit(':', 1)[-1]} delivered "
                          f"{delivered:g} notification(s) since; AWS/SQS: {queued[0]:g} message(s) sent to the queue.")
    shown = "; ".join(f"{a.rsplit(':', 1)[-1]}: {c.get('NumberOfNotificationsDelivered') or 0:g} delivered, "
                      f"{c.get('NumberOfNotificationsFailed') or 0:g} failed" for a, c in st.deliveries.items())
    return failed(f"CloudTrail shows {pushed}, but the trigger's topic delivered nothing to a queue since "
                  f"(AWS/SNS and AWS/SQS: {shown}): put the trigger on main before pushing, subscribe the queue "
                  "with a policy that lets the topic send, then push a new commit to main.")


@LAB.check("protect-main", title="An approval rule template requires an approval on main", points=15,
           step="protect",
           hints=["Create an approval rule template that needs one approval for pull requests into main, and "
                  "associate it with the repository.",
                  "codecommit.create_approval_rule_template with content {'Version': '2018-11-08', "
                  "'DestinationReferences': ['refs/heads/main'], 'Statements': [{'Type': 'Approvers', "
                  "'NumberOfApprovalsNeeded': 1}]}, then associate_approval_rule_template_with_repository.",
                  "codecommit.associate_approval_rule_template_with_repository(approvalRuleTemplateName="
                  "'workshop-01-source-protect-main', repositoryName='workshop-01-source')"],
           docs=f"{_CC}/approval-rule-templates.html")
def protect_main(st: Source) -> Finding:
    if st.repo is None:
        return _no_repo(st, "Create it (step 1) before you protect its main branch (step 4).")
    reasons = []
    for name in st.associated:
        template = st.templates.get(name)
        if template is None:
            reasons.append(f"cannot read template {name}")
            continue
        why = _protects_main(template)
        if not why:
            needed, _ = _rule_needs(template.get("approvalRuleTemplateContent"))
            return passed(f"Template {name} ({needed} approval(s) on {MAIN_REF}) is associated with {REPO_NAME}.")
        reasons.append(why)
    if reasons:
        return failed(" ".join(reasons))
    unassociated = [n for n, t in st.templates.items() if not _protects_main(t)]
    if unassociated:
        return failed(f"Template {unassociated[0]} protects main but is not associated with {REPO_NAME}: "
                      "associate_approval_rule_template_with_repository.")
    if st.templates:
        return failed(f"No template is associated with {REPO_NAME} (templates in the account: "
                      f"{', '.join(st.templates)}).")
    return failed("There is no approval rule template in the account yet (step 4).")


@LAB.check("pr-approved", title="A pull request into main was merged with an approval", points=15,
           step="pull-request",
           hints=["Open a pull request into main, approve it as a second identity (the reviewer role), then "
                  "merge it: the approval rule from the template must be satisfied, not overridden.",
                  "create_pull_request, then (as the reviewer) update_pull_request_approval_state(..., "
                  "approvalState='APPROVE') with the pull request's revisionId, then "
                  "merge_pull_request_by_fast_forward.",
                  "reviewer.update_pull_request_approval_state(pullRequestId=PR_ID, revisionId=REVISION, "
                  "approvalState='APPROVE'); codecommit.merge_pull_request_by_fast_forward(pullRequestId=PR_ID, "
                  "repositoryName='workshop-01-source')"],
           docs=f"{_CC}/how-to-merge-pull-request.html")
def pr_approved(st: Source) -> Finding:
    if st.repo is None:
        return _no_repo(st, "Create it (step 1) first.")
    merged = st.merged_into_main()
    if not merged:
        open_prs = [_describe_pr(pr) for pr in st.pull_requests if _main_target(pr)
                    and pr.get("pullRequestStatus") == "OPEN"]
        if open_prs:
            return failed(f"No pull request into main has been merged yet; open: {', '.join(open_prs)}. "
                          "Get it approved, then merge it.")
        return failed(f"No pull request into main of {REPO_NAME} has been merged yet (step 5).")
    problems = []
    for pr in merged:
        what = _describe_pr(pr)
        rules = pr.get("approvalRules") or []
        if not rules:
            problems.append(f"{what} had no approval rule (a template applies to pull requests opened after it "
                            "was associated)")
            continue
        needed = max((_rule_needs(r.get("approvalRuleContent"))[0] for r in rules), default=0)
        if st.overridden.get(pr.get("pullRequestId")):
            problems.append(f"{what} was merged by overriding its approval rules")
            continue
        from_template = [r for r in rules if (r.get("originApprovalRuleTemplate") or {}).get(
            "approvalRuleTemplateName") in st.associated]
        if not from_template:
            problems.append(f"{what}'s approval rules ({', '.join(str(r.get('approvalRuleName')) for r in rules)}) "
                            "do not come from the template associated with the repository")
            continue
        rule = from_template[0]
        template = st.templates.get(rule["originApprovalRuleTemplate"]["approvalRuleTemplateName"]) or {}
        if _rule_needs(rule.get("approvalRuleContent"))[0] != _rule_needs(template.get("approvalRuleTemplateContent"))[0] \
                or _pool(rule.get("approvalRuleContent")) != _pool(template.get("approvalRuleTemplateContent")):
            problems.append(f"{what}'s rule {rule.get('approvalRuleName')} was changed from its template "
                            f"{template.get('approvalRuleTemplateName')} (approvals needed or pool)")
            continue
        pool = _pool(template.get("approvalRuleTemplateContent"))
        approvals = [a for a in _approvals_of(st, pr) if not pool or _in_pool(a["userArn"], pool)]
        if needed < 1 or len(approvals) < needed:
            others = [a["userArn"] for a in _approvals_of(st, pr) if a not in approvals]
            problems.append(f"{what} has {len(approvals)} approval(s) from the template's approval pool "
                            f"({', '.join(pool) or 'anyone but the author'}; its rules need {needed})"
                            + (f"; approved by {', '.join(others)}, who is not in the pool" if others else ""))
            continue
        who = ", ".join(sorted({a['userArn'].rsplit(':', 1)[-1] for a in approvals}))
        return passed(f"{what} merged with {len(approvals)} approval(s) from the approval pool of template "
                      f"{template.get('approvalRuleTemplateName')} ({who}; read with "
                      "get_pull_request_approval_states), rules not overridden.")
    return failed("; ".join(problems) + ".")


@LAB.check("trunk-merged", title="Trunk-based: a short-lived branch merged into main, then deleted", points=10,
           step="pull-request",
           hints=["Work trunk-based: cut a branch from main for one small change, merge it into main through "
                  "the pull request the same day, then delete the branch.",
                  "After the merge, the change is on main (git pull shows it) and the branch is deleted: "
                  "git push origin --delete BRANCH, or codecommit.delete_branch.",
                  "git('push', 'origin', '--delete', 'contributing-guide'); git('branch', '-D', "
                  "'contributing-guide')"],
           docs=_BRANCHING)
def trunk_merged(st: Source) -> Finding:
    if st.repo is None:
        return _no_repo(st, "Create it (step 1) first.")
    merged = st.merged_into_main()
    if not merged:
        return failed("No short-lived branch has been merged into main through a pull request yet (step 5).")
    on_main = st.reach(st.branches.get(MAIN))
    problems = []
    for pr in merged:
        source = _branch_of((_main_target(pr) or {}).get("sourceReference"))
        if source == "develop" or source.startswith("release/"):
            problems.append(f"{source} is a long-lived GitFlow branch, not a short-lived one")
            continue
        if _merge_result(pr) not in on_main:
            problems.append(f"the merge of {source} is no longer on main (main was reset?)")
            continue
        if source in st.branches:
            problems.append(f"branch {source} is merged but still exists: a short-lived branch goes once its "
                            "change is on main (git push origin --delete " + source + ")")
            continue
        return passed(f"{source} was merged into main ({_describe_pr(pr)}) and deleted.")
    return failed("; ".join(problems) + ".")


@LAB.check("gitflow-branches", title="GitFlow: develop, a feature merged into it, and a release branch",
           points=15, step="gitflow",
           hints=["Do GitFlow beside trunk: a develop branch from main; a feature/... branch from develop with "
                  "a commit, merged back into develop with a merge commit; then a release/... branch from "
                  "develop with its own commit (the version bump). Push them all.",
                  "git checkout -b develop origin/main; git checkout -b feature/changelog develop; commit; "
                  "git checkout develop; git merge --no-ff feature/changelog; git checkout -b release/1.1.0; "
                  "commit the version bump; git push origin develop feature/changelog release/1.1.0",
                  "git('merge', '--no-ff', 'feature/changelog', '-m', \"Merge branch 'feature/changelog' into "
                  "develop\"); git('push', 'origin', 'develop', 'feature/changelog', 'release/1.1.0')"],
           docs=_BRANCHING)
def gitflow_branches(st: Source) -> Finding:
    if st.repo is None:
        return _no_repo(st, "Create it (step 1) first.")
    develop = st.branches.get("develop")
    if develop is None:
        return failed("There is no branch develop: GitFlow integrates features on a long-lived develop branch "
                      "cut from main.")
    develop_reach = st.reach(develop)
    if MAIN not in st.branches or not develop_reach & st.reach(st.branches[MAIN]):
        return failed("develop shares no history with main: create it from main (git checkout -b develop "
                      "origin/main).")
    own_line = set(st.first_parents(develop))
    features = {n: c for n, c in st.branches.items() if n.startswith("feature/")}
    merged = {n: c for n, c in features.items() if c in develop_reach and c not in own_line}
    if not merged:
        merged = _features_named_in_merges(st, own_line)
    if not merged:
        if not features:
            return failed("There is no feature/... branch: cut one from develop, commit on it and merge it into "
                          "develop (keep the branch until the release ships, so its shape can be seen).")
        state = []
        for name, tip in features.items():
            if tip not in develop_reach:
                state.append(f"{name} is not merged into develop")
            else:
                state.append(f"{name} is on develop's own line (no commit of its own, or fast-forwarded)")
        return failed("; ".join(state) + ": commit on the feature branch, then git merge --no-ff it into develop.")
    # The merges of those features: develop's merge commits whose second parent carries the feature.
    merges = {}
    for name, tip in merged.items():
        merge = next((c for c in st.first_parents(develop) if len(st.commits[c].get("parents") or []) >= 2
                      and tip in st.reach(st.commits[c]["parents"][1])), None)
        if merge is not None:
            merges[name] = merge
    with_changelog = {n: m for n, m in merges.items() if any(_is_changelog(p) for p in st.merge_changes.get(m, ()))}
    if not with_changelog:
        brought = "; ".join(f"{n} brought {', '.join(sorted(st.merge_changes.get(m, ()))) or 'no change'}"
                            for n, m in merges.items())
        return failed(f"No merge of a feature branch into develop brought the changelog (CHANGELOG.md), read with "
                      f"get_differences{': ' + brought if brought else ''}. Commit CHANGELOG.md on the feature "
                      "branch, then merge it with git merge --no-ff.")
    releases = {n: c for n, c in st.branches.items() if n.startswith("release/")}
    if not releases:
        return failed(f"develop has {', '.join(sorted(with_changelog))} merged; now cut a release/... branch from "
                      "develop and commit the version bump on it.")
    for name, tip in sorted(releases.items()):
        release_reach = st.reach(tip)
        carried = [f for f in with_changelog if merges[f] in release_reach]
        if not carried:
            continue
        if tip in own_line:
            return failed(f"{name} has no commit of its own: commit the version bump (VERSION) on it.")
        if "VERSION" not in st.release_changes.get(name, ()):
            changed = ", ".join(sorted(st.release_changes.get(name, ()))) or "nothing"
            return failed(f"{name}'s own commits change {changed}, not VERSION: bump the version on the release "
                          "branch.")
        wanted = name.split("/", 1)[1]
        version = st.release_versions.get(name, "")
        if wanted[:1].isdigit() and version != wanted:
            return failed(f"{name} sets VERSION to {version!r}, not {wanted!r}.")
        return passed(f"develop from main; {', '.join(sorted(carried))} merged into develop by merge commit "
                      f"{merges[carried[0]][:8]}, which brought the changelog; {name} cut from develop, its own "
                      f"commit sets VERSION to {version!r} (read with get_differences and get_file).")
    return failed(f"No release branch carries a merged feature ({', '.join(sorted(releases))}): cut the release "
                  "branch from develop after merging the feature.")


def _is_changelog(path: str) -> bool:
    return path.rsplit("/", 1)[-1].lower().startswith("changelog")


def _features_named_in_merges(st: Source, own_line: set[str]) -> dict[str, str]:
    """Features merged into develop (--no-ff) whose branch was deleted afterwards, as GitFlow
    does on finishing a feature: develop's merge commits that name a feature/ branch."""
    found: dict[str, str] = {}
    for commit_id in own_line:
        commit = st.commits.get(commit_id) or {}
        parents = commit.get("parents") or []
        message = commit.get("message") or ""
        if len(parents) == 2 and parents[1] not in own_line and "feature/" in message:
            name = "feature/" + message.split("feature/", 1)[1].split("'", 1)[0].split()[0]
            found[name] = parents[1]
    return found
