"""Lab 02-build checks: one read of the learner's CodeBuild project
``workshop-02-build``, its builds, their test reports, artifact and logs (and
the repository, bucket and role the lab made), then eight checks over that read."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from checker.labs import LAB_TAG_KEY, bucket_name, has_lab_tag, tag_dict
from checker.registry import Finding, failed, lab, passed

LAB_ID = "02-build"
REPO = "workshop-02-build-app"
PROJECT = "workshop-02-build"
ROLE = "workshop-02-build-codebuild"
BUCKET_PREFIX = "workshop-02-build"
BRANCH = "main"
FAILING_TEST = "test_bulk_discount_starts_at_ten"
# What the artifact must carry (the application and its version) and what it must not (tests, reports).
ARTIFACT_FILES = ("app/__init__.py", "app/pricing.py", "app/service.py", "VERSION")
ARTIFACT_EXCLUDED = ("tests/", "reports/")
PHASES = ("install", "pre_build", "build", "post_build")
TAG = f"{LAB_TAG_KEY}={LAB_ID}"

# Bounds of the read: how many failed builds to open, how far back a fixing commit may be.
FAILED_BUILDS_READ = 5
COMMITS_WALKED = 50

LAB = lab(LAB_ID, "Build and test with CodeBuild")

_CB = "https://docs.aws.amazon.com/codebuild/latest/userguide"
_PYTEST_SUMMARY = re.compile(r"\b\d+ (passed|failed)\b")


@dataclass
class BuildLab:
    """What the checks look at, read once."""

    account: str
    region: str
    project: dict | None = None
    project_problem: str = ""
    buildspec: dict | None = None
    buildspec_where: str = ""
    buildspec_problem: str = ""
    repo: dict | None = None
    repo_tags: dict = field(default_factory=dict)
    role_name: str = ""
    role: dict | None = None
    role_tags: dict = field(default_factory=dict)
    bucket: dict = field(default_factory=dict)
    builds: list[dict] = field(default_factory=list)  # newest first
    failed: dict | None = None  # the newest FAILED build whose report shows FAILING_TEST failing
    failed_case: dict | None = None
    failed_total: int = 0
    failed_problem: str = ""
    fixed: dict | None = None  # the newest SUCCEEDED build after it, on a descendant commit
    fixed_problem: str = ""
    fixed_report: dict | None = None
    fixed_case: dict | None = None
    artifact: dict = field(default_factory=dict)
    last: dict | None = None  # the newest finished build
    log_lines: list[str] = field(default_factory=list)
    log_problem: str = ""

    @property
    def lab_bucket(self) -> str:
        return bucket_name(BUCKET_PREFIX, self.account, self.region)

    @property
    def finished(self) -> list[dict]:
        return [b for b in self.builds if b.get("buildComplete")]


# -- the read ---------------------------------------------------------------------

@LAB.reader
def read(account) -> BuildLab:
    st = BuildLab(account.id, account.region)
    _read_repo(account, st)
    _read_bucket(account, st, st.lab_bucket)
    answer = account.call("codebuild", "batch_get_projects", names=[PROJECT]) or {}
    projects = [p for p in answer.get("projects") or [] if isinstance(p, dict)]
    if not projects:
        why = account.errors.get("codebuild.batch_get_projects", "")
        st.project_problem = (f"There is no CodeBuild project named {PROJECT} in account {account.id} "
                              f"({account.region})" + (f": {why}" if why else "") + ".")
        return st
    st.project = projects[0]
    _read_role(account, st)
    _read_buildspec(account, st)
    _read_builds(account, st)
    _read_failed(account, st)
    _read_fixed(account, st)
    _read_artifact(account, st)
    _read_logs(account, st)
    return st


def _read_repo(account, st: BuildLab) -> None:
    answer = account.call("codecommit", "get_repository", repositoryName=REPO)
    st.repo = (answer or {}).get("repositoryMetadata")
    if st.repo and st.repo.get("Arn"):
        tags = account.call("codecommit", "list_tags_for_resource", resourceArn=st.repo["Arn"]) or {}
        st.repo_tags = tag_dict(tags.get("tags"))


def _read_bucket(account, st: BuildLab, name: str) -> None:
    st.bucket = {"name": name, "exists": account.call("s3", "head_bucket", Bucket=name) is not None}
    if st.bucket["exists"]:
        st.bucket["tags"] = tag_dict((account.call("s3", "get_bucket_tagging", Bucket=name) or {}).get("TagSet"))


def _read_role(account, st: BuildLab) -> None:
    arn = st.project.get("serviceRole") or ""
    st.role_name = arn.rsplit("/", 1)[-1] if isinstance(arn, str) else ""
    if not st.role_name:
        return
    st.role = (account.call("iam", "get_role", RoleName=st.role_name) or {}).get("Role")
    if st.role is not None:
        st.role_tags = tag_dict((account.call("iam", "list_role_tags", RoleName=st.role_name) or {}).get("Tags"))


def _read_buildspec(account, st: BuildLab) -> None:
    """The buildspec the project runs: inline in the project, or a file of the repository."""
    import yaml

    source = st.project.get("source") or {}
    text = source.get("buildspec") or ""
    if not isinstance(text, str):
        text = ""
    if "\n" in text.strip() or text.strip().startswith("version"):
        st.buildspec_where = "the project's inline buildspec"
    else:
        path = text.strip() or "buildspec.yml"
        if path.startswith("arn:"):
            st.buildspec_problem = (f"The project's buildspec is the S3 object {path}: for this lab, write it "
                                    "inline in the project (source.buildspec) or as buildspec.yml in the repository.")
            return
        st.buildspec_where = f"{path} in repository {REPO}"
        answer = account.call("codecommit", "get_file", repositoryName=REPO, filePath=path,
                              commitSpecifier=BRANCH)
        if answer is None:
            st.buildspec_problem = (f"The project has no inline buildspec, and {path} is not on branch {BRANCH} "
                                    f"of {REPO}: put your BUILDSPEC in the project's source.buildspec.")
            return
        content = answer.get("fileContent") or b""
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        st.buildspec_problem = f"{st.buildspec_where} is not valid YAML ({' '.join(str(exc).split())[:200]})."
        return
    if not isinstance(data, dict):
        st.buildspec_problem = f"{st.buildspec_where} is not a YAML mapping (version, phases, reports, artifacts)."
        return
    st.buildspec = data


def _is_done(answer: Any) -> bool:
    builds = (answer or {}).get("builds") or []
    return all(b.get("buildComplete") for b in builds if isinstance(b, dict))


def _read_builds(account, st: BuildLab) -> None:
    listed = account.call("codebuild", "list_builds_for_project", projectName=PROJECT, sortOrder="DESCENDING") or {}
    ids = [i for i in listed.get("ids") or [] if isinstance(i, str)][:100]
    if not ids:
        return
    # A build still running gets a little time to finish (the learner may check while it runs).
    answer = account.poll(lambda: account.call("codebuild", "batch_get_builds", ids=ids), _is_done, timeout=20)
    builds = [b for b in (answer or {}).get("builds") or [] if isinstance(b, dict)]
    builds.sort(key=lambda b: (b.get("buildNumber") or 0), reverse=True)
    st.builds = builds
    st.last = next(iter(st.finished), None)


def _report_arns(build: dict) -> list[str]:
    return [a for a in build.get("reportArns") or [] if isinstance(a, str)]


def _read_failed(account, st: BuildLab) -> None:
    failed_builds = [b for b in st.finished if b.get("buildStatus") == "FAILED"]
    if not st.builds:
        st.failed_problem = f"Project {PROJECT} has not built anything yet (step 4)."
        return
    if not failed_builds:
        statuses = ", ".join(f"#{b.get('buildNumber')} {b.get('buildStatus')}" for b in st.builds[:5])
        st.failed_problem = (f"No build of {PROJECT} has FAILED (builds: {statuses}). Step 4 builds the commit "
                             "with the planted bug (sourceVersion=BUGGY_COMMIT): its tests must fail.")
        return
    problems = []
    for build in failed_builds[:FAILED_BUILDS_READ]:
        label = f"build #{build.get('buildNumber')}"
        reports = _report_arns(build)
        if not reports:
            problems.append(f"{label} FAILED {_failure_of(build)} and has no test report")
            continue
        for arn in reports:
            answer = account.call("codebuild", "describe_test_cases", reportArn=arn,
                                  filter={"status": "FAILED"}) or {}
            cases = [c for c in answer.get("testCases") or [] if isinstance(c, dict)]
            case = next((c for c in cases if c.get("name") == FAILING_TEST), None)
            if case is None:
                names = ", ".join(str(c.get("name")) for c in cases[:3]) or "no failing test case"
                problems.append(f"{label}'s report shows {names}")
                continue
            st.failed, st.failed_case = build, case
            summary = (account.call("codebuild", "batch_get_reports", reportArns=[arn]) or {}).get("reports") or []
            st.failed_total = int(((summary[0] if summary else {}).get("testSummary") or {}).get("total") or 0)
            return
    st.failed_problem = "No failed build reports the failing test " + FAILING_TEST + ": " + "; ".join(problems) + "."


def _failure_of(build: dict) -> str:
    """Where a build failed: the failed phase and its message."""
    for phase in build.get("phases") or []:
        if isinstance(phase, dict) and phase.get("phaseStatus") in ("FAILED", "FAULT", "TIMED_OUT"):
            context = (phase.get("contexts") or [{}])[0] or {}
            message = context.get("message") or context.get("statusCode") or ""
            return f"in {phase.get('phaseType')}" + (f" ({message[:200]})" if message else "")
    return ""


def _ancestors(account, start: str, goal: str) -> tuple[bool, str]:
    """Whether commit ``goal`` is ``start`` or one of its ancestors (a bounded walk of the repository)."""
    seen, frontier = set(), [start]
    while frontier and len(seen) < COMMITS_WALKED:
        commit_id = frontier.pop(0)
        if commit_id in seen:
            continue
        seen.add(commit_id)
        if commit_id == goal:
            return True, ""
        answer = account.call("codecommit", "get_commit", repositoryName=REPO, commitId=commit_id)
        if answer is None:
            return False, account.errors.get("codecommit.get_commit", "cannot read the commit")
        frontier += [p for p in (answer.get("commit") or {}).get("parents") or [] if isinstance(p, str)]
    return False, ""


def _read_fixed(account, st: BuildLab) -> None:
    if st.failed is None:
        st.fixed_problem = "First a build must fail on the planted bug (step 4): " + st.failed_problem
        return
    after = [b for b in st.finished if (b.get("buildNumber") or 0) > (st.failed.get("buildNumber") or 0)]
    succeeded = [b for b in after if b.get("buildStatus") == "SUCCEEDED"]
    if not succeeded:
        if after:
            last = after[0]
            st.fixed_problem = (f"The build after the failed one, #{last.get('buildNumber')}, is "
                                f"{last.get('buildStatus')} {_failure_of(last)}. Fix the bug, commit, push, build again.")
        else:
            st.fixed_problem = (f"No build of {PROJECT} after the failed build #{st.failed.get('buildNumber')} yet: "
                                "fix the bug with a commit and start a new build (step 5).")
        return
    bad = st.failed.get("resolvedSourceVersion")
    reasons = []
    for build in succeeded:
        commit = build.get("resolvedSourceVersion")
        label = f"build #{build.get('buildNumber')}"
        if not commit or not bad:
            reasons.append(f"{label} has no resolved commit (is its source the repository {REPO}?)")
            continue
        if commit == bad:
            reasons.append(f"{label} SUCCEEDED on the same commit {bad[:8]} that failed")
            continue
        descends, why = _ancestors(account, commit, bad)
        if not descends:
            reasons.append(f"{label} built {commit[:8]}, which does not descend from the failed commit {bad[:8]}"
                           + (f" ({why})" if why else ""))
            continue
        st.fixed = build
        break
    if st.fixed is None:
        st.fixed_problem = "; ".join(reasons) + "."
        return
    arns = _report_arns(st.fixed)
    if arns:
        reports = (account.call("codebuild", "batch_get_reports", reportArns=arns[:1]) or {}).get("reports") or []
        st.fixed_report = reports[0] if reports else None
        cases = (account.call("codebuild", "describe_test_cases", reportArn=arns[0],
                              filter={"keyword": FAILING_TEST}) or {}).get("testCases") or []
        st.fixed_case = next((c for c in cases if isinstance(c, dict) and c.get("name") == FAILING_TEST), None)


def _s3_location(location: Any) -> tuple[str, str] | None:
    """(bucket, key) of an artifact location ``arn:aws:s3:::bucket/key``."""
    if not isinstance(location, str) or ":::" not in location:
        return None
    bucket, _, key = location.split(":::", 1)[1].partition("/")
    return (bucket, key) if bucket and key else None


def _read_artifact(account, st: BuildLab) -> None:
    art: dict = {}
    st.artifact = art
    build = st.fixed
    if build is None:
        art["problem"] = "There is no successful build after the fix yet, so no artifact to look at (step 5)."
        return
    where = _s3_location((build.get("artifacts") or {}).get("location"))
    if where is None:
        art["problem"] = (f"Build #{build.get('buildNumber')} uploaded no artifact to S3: give the project "
                          "S3 artifacts and the buildspec an artifacts section.")
        return
    art["bucket"], art["key"] = where
    obj = account.call("s3", "get_object", Bucket=where[0], Key=where[1])
    if obj is None:
        art["problem"] = (f"Build #{build.get('buildNumber')}'s artifact s3://{where[0]}/{where[1]} is not there "
                          f"({account.errors.get('s3.get_object', 'no such object')}).")
        return
    body = obj["Body"].read()
    try:
        art["names"] = zipfile.ZipFile(io.BytesIO(body)).namelist()
    except zipfile.BadZipFile:
        art["problem"] = (f"s3://{where[0]}/{where[1]} is not a zip file: set the project's artifacts "
                          "packaging to ZIP.")


def _read_logs(account, st: BuildLab) -> None:
    build = st.last
    if build is None:
        st.log_problem = f"Project {PROJECT} has no finished build yet."
        return
    logs = build.get("logs") or {}
    group, stream = logs.get("groupName"), logs.get("streamName")
    if not group or not stream:
        st.log_problem = (f"The last build, #{build.get('buildNumber')}, wrote no CloudWatch Logs stream: "
                          "enable cloudWatchLogs in the project's logsConfig.")
        return
    answer = account.call("logs", "get_log_events", logGroupName=group, logStreamName=stream, startFromHead=True)
    if answer is None:
        st.log_problem = (f"The last build's log stream {group} / {stream} cannot be read "
                          f"({account.errors.get('logs.get_log_events', '')}).")
        return
    st.log_lines = [str(e.get("message", "")) for e in answer.get("events") or [] if isinstance(e, dict)]


# -- the checks -----------------------------------------------------------------------

def _no_project(st: BuildLab) -> Finding:
    return failed(f"{st.project_problem} Create it in step 3.")


@LAB.check("project-source", title="Project workshop-02-build builds main of the lab repository with a CodeBuild role",
           points=10, step="project",
           hints=["Create a CodeBuild project named workshop-02-build whose source is your CodeCommit "
                  "repository workshop-02-build-app (branch main), with a build image and the service role "
                  "the setup made.",
                  "codebuild.create_project with source type CODECOMMIT and the repository's cloneUrlHttp as "
                  "location, sourceVersion refs/heads/main, an environment (LINUX_CONTAINER, an image, a "
                  "compute type) and serviceRole = ROLE_ARN.",
                  "cb.create_project(name=PROJECT, source={'type': 'CODECOMMIT', 'location': CLONE_URL, "
                  "'buildspec': BUILDSPEC}, sourceVersion='refs/heads/main', artifacts=..., environment="
                  "{'type': 'LINUX_CONTAINER', 'image': 'aws/codebuild/standard:7.0', 'computeType': "
                  "'BUILD_GENERAL1_SMALL'}, serviceRole=ROLE_ARN, logsConfig=..., tags=[{'key': "
                  "'workshop:lab', 'value': '02-build'}])"],
           docs=f"{_CB}/create-project.html")
def project_source(st: BuildLab) -> Finding:
    if st.project is None:
        return _no_project(st)
    source = st.project.get("source") or {}
    if source.get("type") != "CODECOMMIT":
        return failed(f"The project's source type is {source.get('type')}, not CODECOMMIT.")
    location = str(source.get("location") or "")
    if not location.rstrip("/").endswith(f"/v1/repos/{REPO}"):
        return failed(f"The project's source is {location or 'empty'}: use the cloneUrlHttp of {REPO}.")
    if st.repo is None:
        return failed(f"The project builds {REPO}, but that repository does not exist: run step 1 again.")
    version = st.project.get("sourceVersion") or ""
    if version not in ("", BRANCH, f"refs/heads/{BRANCH}"):
        return failed(f"The project builds {version!r} by default: build the branch main (refs/heads/main).")
    image = (st.project.get("environment") or {}).get("image")
    if not st.role_name:
        return failed("The project has no service role.")
    if st.role is None:
        return failed(f"The project's service role {st.role_name} does not exist in IAM: use ROLE_ARN from step 1.")
    if not _trusts_codebuild(st.role.get("AssumeRolePolicyDocument")):
        return failed(f"Role {st.role_name} does not trust codebuild.amazonaws.com: CodeBuild could not assume it.")
    return passed(f"{PROJECT} builds {REPO} ({version or 'default branch'}) on {image}, as role {st.role_name}.")


def _trusts_codebuild(document: Any) -> bool:
    if isinstance(document, str):
        import json
        from urllib.parse import unquote

        try:
            document = json.loads(unquote(document))
        except ValueError:
            return False
    statements = (document or {}).get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    for s in statements or []:
        if not isinstance(s, dict) or s.get("Effect") != "Allow":
            continue
        services = (s.get("Principal") or {}).get("Service") if isinstance(s.get("Principal"), dict) else None
        services = [services] if isinstance(services, str) else services or []
        actions = s.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        if "codebuild.amazonaws.com" in services and ("sts:AssumeRole" in actions or "sts:*" in actions):
            return True
    return False


def _commands(phase: Any) -> list[str]:
    if not isinstance(phase, dict):
        return []
    return [str(c) for c in phase.get("commands") or [] if c is not None]


@LAB.check("buildspec", title="The buildspec installs, runs pytest with a JUnit report and packages the app",
           points=15, step="project",
           hints=["Write a buildspec (version 0.2) with the four phases install, pre_build, build (running the "
                  "tests with a JUnit XML report) and post_build, a reports section for the JUnit file, and an "
                  "artifacts section listing the application's files.",
                  "phases.build.commands runs python -m pytest --junitxml=reports/junit.xml; reports: a group "
                  "(e.g. unit-tests) with files [junit.xml], base-directory reports, file-format JUNITXML; "
                  "artifacts: files [app/**/*, VERSION, README.md].",
                  "See step 2: BUILDSPEC = '''version: 0.2\\nphases:\\n  install: ...\\n  build:\\n    commands:\\n"
                  "      - python -m pytest --junitxml=reports/junit.xml\\nreports:\\n  unit-tests:\\n    files:"
                  "\\n      - junit.xml\\n    base-directory: reports\\n    file-format: JUNITXML\\nartifacts:\\n"
                  "  files:\\n    - app/**/*\\n    - VERSION'''; then update_project with it as source.buildspec."],
           docs=f"{_CB}/build-spec-ref.html")
def buildspec_check(st: BuildLab) -> Finding:
    if st.project is None:
        return _no_project(st)
    if st.buildspec is None:
        return failed(st.buildspec_problem or "The project has no buildspec.")
    spec, where = st.buildspec, st.buildspec_where
    if str(spec.get("version")) not in ("0.2", "0.20"):
        return failed(f"{where} has version {spec.get('version')!r}: use version: 0.2.")
    phases = spec.get("phases") if isinstance(spec.get("phases"), dict) else {}
    missing = [p for p in PHASES if not _commands(phases.get(p))]
    if missing:
        return failed(f"{where} has no commands in phase(s) {', '.join(missing)}: give each of install, "
                      "pre_build, build and post_build its commands.")
    build_cmds = _commands(phases.get("build"))
    if not any("pytest" in c for c in build_cmds):
        return failed(f"The build phase of {where} does not run pytest: {build_cmds}.")
    if not any("junit" in c.lower() for c in build_cmds):
        return failed(f"The build phase runs pytest without a JUnit report: add --junitxml=reports/junit.xml.")
    reports = spec.get("reports") if isinstance(spec.get("reports"), dict) else {}
    junit = [name for name, r in reports.items() if isinstance(r, dict) and r.get("files")
             and str(r.get("file-format", "JUNITXML")).upper() == "JUNITXML"]
    if not junit:
        return failed(f"{where} has no reports section with JUnit XML files: CodeBuild would not show the tests.")
    artifacts = spec.get("artifacts") if isinstance(spec.get("artifacts"), dict) else {}
    if not artifacts.get("files"):
        return failed(f"{where} has no artifacts files: list what the build packages (app/**/*, VERSION).")
    return passed(f"{where}: phases {', '.join(PHASES)}; pytest with a JUnit report '{junit[0]}'; "
                  f"artifacts {artifacts.get('files')}.")


@LAB.check("resources-tagged", title="The project, repository, bucket and role carry workshop:lab=02-build",
           points=10, step="project",
           hints=["Tag the CodeBuild project with workshop:lab=02-build (the setup tagged the rest).",
                  "create_project and update_project take tags as a list of {key, value} (lower case, unlike "
                  "most AWS APIs).",
                  "tags=[{'key': 'workshop:lab', 'value': '02-build'}] in create_project / update_project"],
           docs=f"{_CB}/how-to-tag-project-update.html")
def resources_tagged(st: BuildLab) -> Finding:
    if st.project is None:
        return _no_project(st)
    untagged = []
    if not has_lab_tag(st.project.get("tags"), LAB_ID):
        untagged.append(f"project {PROJECT}")
    if st.repo is None:
        return failed(f"Repository {REPO} does not exist: run step 1 again.")
    if st.repo_tags.get(LAB_TAG_KEY) != LAB_ID:
        untagged.append(f"repository {REPO}")
    if not st.bucket.get("exists"):
        return failed(f"Bucket {st.lab_bucket} does not exist: run step 1 again.")
    if not has_lab_tag(st.bucket.get("tags"), LAB_ID):
        untagged.append(f"bucket {st.lab_bucket}")
    if st.role is not None and st.role_tags.get(LAB_TAG_KEY) != LAB_ID:
        untagged.append(f"role {st.role_name}")
    if untagged:
        return failed(f"Without the tag {TAG}: {'; '.join(untagged)}.")
    return passed(f"{TAG} on the project, the repository, the bucket" + (" and the role." if st.role else "."))


@LAB.check("build-failed-on-test", title="A build failed, and its report shows the failing test",
           points=15, step="first-build",
           hints=["Start a build of the commit with the planted bug and let it finish: its tests fail, and the "
                  "JUnit report names the failing test.",
                  "codebuild.start_build(projectName=..., sourceVersion=BUGGY_COMMIT); poll batch_get_builds "
                  "until buildComplete; then describe_test_cases on its reportArns with filter status FAILED.",
                  "build_id = cb.start_build(projectName=PROJECT, sourceVersion=BUGGY_COMMIT)['build']['id']; "
                  "build = wait_for_build(build_id)"],
           docs=f"{_CB}/test-reporting.html")
def build_failed_on_test(st: BuildLab) -> Finding:
    if st.project is None:
        return _no_project(st)
    if st.failed is None:
        return failed(st.failed_problem)
    case = st.failed_case or {}
    message = " ".join(str(case.get("message") or "").split())[:120]
    return passed(f"Build #{st.failed.get('buildNumber')} FAILED on {str(st.failed.get('resolvedSourceVersion'))[:8]}: "
                  f"{case.get('prefix', '')}.{FAILING_TEST} FAILED ({message}).")


@LAB.check("fixed-then-succeeded", title="A later build of a fixing commit SUCCEEDED", points=15, step="fix",
           hints=["Fix the bug in the working copy, commit, push to main, and build again: the new build "
                  "must succeed on a commit that comes after the failed one.",
                  "git commit -am ... and git push (or codecommit put_file on main), then "
                  "codebuild.start_build(projectName=...) without sourceVersion builds the head of main.",
                  "git('commit', '-am', 'Fix the bulk discount threshold'); git('push', PUSH_URL, 'main'); "
                  "build = wait_for_build(cb.start_build(projectName=PROJECT)['build']['id'])"],
           docs=f"{_CB}/run-build.html")
def fixed_then_succeeded(st: BuildLab) -> Finding:
    if st.project is None:
        return _no_project(st)
    if st.fixed is None:
        return failed(st.fixed_problem)
    return passed(f"Build #{st.fixed.get('buildNumber')} SUCCEEDED on {str(st.fixed.get('resolvedSourceVersion'))[:8]}, "
                  f"a commit after the failed build #{st.failed.get('buildNumber')}'s "
                  f"{str(st.failed.get('resolvedSourceVersion'))[:8]}.")


@LAB.check("tests-all-pass", title="The successful build's report: every test passed, none removed",
           points=10, step="fix",
           hints=["The successful build's test report should count every test, all passed, including the "
                  "one that failed before. Fix the code, not the test.",
                  "batch_get_reports on the build's reportArns shows testSummary.statusCounts; "
                  "describe_test_cases lists each case.",
                  "cb.batch_get_reports(reportArns=build['reportArns'])['reports'][0]['testSummary']"],
           docs=f"{_CB}/test-view-project-reports.html")
def tests_all_pass(st: BuildLab) -> Finding:
    if st.project is None:
        return _no_project(st)
    if st.fixed is None:
        return failed(st.fixed_problem)
    label = f"build #{st.fixed.get('buildNumber')}"
    report = st.fixed_report
    if report is None:
        return failed(f"The successful {label} has no test report: keep the reports section in the buildspec.")
    summary = report.get("testSummary") or {}
    counts = summary.get("statusCounts") or {}
    total = int(summary.get("total") or 0)
    bad = {k: v for k, v in counts.items() if k != "SUCCEEDED" and v}
    if report.get("status") != "SUCCEEDED" or bad or not total:
        return failed(f"The report of {label} is {report.get('status')} with {total} tests, {counts}.")
    if st.failed_total and total < st.failed_total:
        return failed(f"The report of {label} has {total} tests, fewer than the {st.failed_total} of the failed "
                      "build: a test was removed. Fix the code, not the tests.")
    if (st.fixed_case or {}).get("status") != "SUCCEEDED":
        return failed(f"The report of {label} does not show {FAILING_TEST} passing: fix the code, keep the test.")
    return passed(f"The report of {label}: {counts.get('SUCCEEDED', total)} of {total} tests SUCCEEDED, "
                  f"{FAILING_TEST} among them.")


@LAB.check("artifact-in-s3", title="The successful build's zip artifact in the lab bucket holds the app",
           points=15, step="inspect",
           hints=["The project uploads a ZIP artifact to your lab bucket; the successful build's zip holds the "
                  "application (app/ and VERSION) and not the tests.",
                  "The project's artifacts: type S3, location BUCKET, packaging ZIP (and namespaceType BUILD_ID "
                  "so each build keeps its own); the buildspec's artifacts.files choose what goes in.",
                  "artifacts={'type': 'S3', 'location': BUCKET, 'path': 'artifacts', 'namespaceType': "
                  "'BUILD_ID', 'name': 'sample-app.zip', 'packaging': 'ZIP'}; buildspec artifacts files: "
                  "[app/**/*, VERSION, README.md]"],
           docs=f"{_CB}/build-spec-ref.html#build-spec.artifacts")
def artifact_in_s3(st: BuildLab) -> Finding:
    if st.project is None:
        return _no_project(st)
    artifacts = st.project.get("artifacts") or {}
    if artifacts.get("type") != "S3":
        return failed(f"The project's artifacts type is {artifacts.get('type')}: upload them to S3.")
    if artifacts.get("location") != st.lab_bucket:
        return failed(f"The project uploads to {artifacts.get('location')!r}: use your lab bucket {st.lab_bucket}.")
    if artifacts.get("packaging") != "ZIP":
        return failed(f"The project's artifacts packaging is {artifacts.get('packaging') or 'NONE'}: use ZIP.")
    art = st.artifact
    if art.get("problem"):
        return failed(art["problem"])
    names = art.get("names") or []
    missing = [n for n in ARTIFACT_FILES if n not in names]
    if missing:
        return failed(f"s3://{art['bucket']}/{art['key']} lacks {', '.join(missing)} (it holds "
                      f"{', '.join(names[:8]) or 'nothing'}).")
    extra = sorted({n.split('/')[0] + '/' for n in names if n.startswith(ARTIFACT_EXCLUDED)})
    if extra:
        return failed(f"s3://{art['bucket']}/{art['key']} also holds {', '.join(extra)}: the artifact is what "
                      "you deploy; list only app/**/*, VERSION and README.md.")
    return passed(f"s3://{art['bucket']}/{art['key']}: {len(names)} files, {', '.join(ARTIFACT_FILES)} among them.")


@LAB.check("logs-in-cloudwatch", title="The last build's log is in CloudWatch Logs", points=10, step="inspect",
           hints=["Keep CloudWatch Logs enabled for the project: every build then streams its output to a "
                  "log stream you can read with the logs API.",
                  "The project's logsConfig.cloudWatchLogs.status ENABLED (with a groupName); a build's "
                  "logs.groupName and logs.streamName say where; logs.get_log_events reads it.",
                  "logsConfig={'cloudWatchLogs': {'status': 'ENABLED', 'groupName': "
                  "'/aws/codebuild/workshop-02-build'}}"],
           docs=f"{_CB}/view-build-details.html")
def logs_in_cloudwatch(st: BuildLab) -> Finding:
    if st.project is None:
        return _no_project(st)
    cw = ((st.project.get("logsConfig") or {}).get("cloudWatchLogs") or {})
    if cw.get("status", "ENABLED") != "ENABLED":
        return failed("The project's CloudWatch Logs are DISABLED: enable them in logsConfig.")
    if st.log_problem:
        return failed(st.log_problem)
    logs = (st.last or {}).get("logs") or {}
    where = f"{logs.get('groupName')} / {logs.get('streamName')}"
    if not st.log_lines:
        return failed(f"The last build's log stream {where} is empty.")
    if not any(_PYTEST_SUMMARY.search(line) for line in st.log_lines):
        return failed(f"The last build's log ({len(st.log_lines)} lines in {where}) shows no pytest summary: "
                      "did the build phase run the tests?")
    return passed(f"Build #{st.last.get('buildNumber')} logged {len(st.log_lines)} lines to {where}.")
