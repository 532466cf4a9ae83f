"""Lab 02-build checks: one read of the learner's CodeBuild project
``workshop-02-build``, its builds, their test reports, artifact and logs (and
the repository, bucket and role the lab made), then eight checks over that read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from checker.labs import (
    LAB_TAG_KEY,
    bucket_name,
    differences,
    folder_blobs,
    missing,
    sample_app_blobs,
    sample_app_tests,
    statements,
    tag_dict,
    untagged,
    zip_blobs,
)
from checker.registry import Finding, failed, lab, passed

LAB_ID = "02-build"
REPO = "workshop-02-build-app"
PROJECT = "workshop-02-build"
ROLE = "workshop-02-build-codebuild"
BUCKET_PREFIX = "workshop-02-build"
BRANCH = "main"
FAILING_TEST = "test_bulk_discount_starts_at_ten"
# The planted bug (sample-app/tools/plant_bug.py) and the file it is planted in.
PRICING = "app/pricing.py"
PLANTED = "if quantity > threshold:"
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
_PYTEST_COUNTS = re.compile(r"\b(\d+) (passed|failed|skipped|errors?)\b")
# CodeBuild's own line before each buildspec command ([Container] <time> Running command <command>).
_RUNNING = re.compile(r"\[Container\] .*Running command (.+)$")


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
    failed_cases: list[dict] = field(default_factory=list)  # every test case of the failed build's report
    failed_source: str | None = None  # app/pricing.py at the failed build's commit
    failed_problem: str = ""
    fixed: dict | None = None  # the newest SUCCEEDED build after it, on a descendant commit
    fixed_problem: str = ""
    fixed_report: dict | None = None
    fixed_case: dict | None = None
    fixed_cases: list[dict] = field(default_factory=list)  # every test case of the fixed build's report
    fixed_files: dict[str, str] = field(default_factory=dict)  # path -> blob id at the fixed build's commit
    fixed_changes: set[str] | None = None  # paths changed from the failed commit to the fixed one
    fixed_source: str | None = None  # app/pricing.py at the fixed commit, when it is not the app's own
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
            cases = _test_cases(account, arn)
            case = next((c for c in cases if c.get("name") == FAILING_TEST and c.get("status") == "FAILED"), None)
            if case is None:
                names = ", ".join(str(c.get("name")) for c in cases if c.get("status") == "FAILED")
                problems.append(f"{label}'s report shows {names[:200] or 'no failing test case'}")
                continue
            st.failed, st.failed_case, st.failed_cases = build, case, cases
            summary = (account.call("codebuild", "batch_get_reports", reportArns=[arn]) or {}).get("reports") or []
            st.failed_total = int(((summary[0] if summary else {}).get("testSummary") or {}).get("total") or 0)
            commit = build.get("resolvedSourceVersion")
            if commit:
                st.failed_source = _file_text(account, commit, PRICING)
            return
    st.failed_problem = "No failed build reports the failing test " + FAILING_TEST + ": " + "; ".join(problems) + "."


def _test_cases(account, report_arn: str) -> list[dict]:
    """Every test case of a report (describe_test_cases, a few pages of 100)."""
    cases: list[dict] = []
    token = None
    for _ in range(5):
        answer = account.call("codebuild", "describe_test_cases", reportArn=report_arn, maxResults=100,
                              **({"nextToken": token} if token else {})) or {}
        cases += [c for c in answer.get("testCases") or [] if isinstance(c, dict)]
        token = answer.get("nextToken")
        if not token:
            break
    return cases


def _file_text(account, commit: str, path: str) -> str | None:
    answer = account.call("codecommit", "get_file", repositoryName=REPO, commitSpecifier=commit, filePath=path)
    if answer is None:
        return None
    content = answer.get("fileContent") or b""
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)


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
        st.fixed_cases = _test_cases(account, arns[0])
        st.fixed_case = next((c for c in st.fixed_cases if c.get("name") == FAILING_TEST), None)
    commit = st.fixed.get("resolvedSourceVersion")
    st.fixed_files = folder_blobs(account, REPO, commit)[0] or {}
    st.fixed_changes = differences(account, REPO, bad, commit)
    if st.fixed_files.get(PRICING) != sample_app_blobs().get(PRICING):
        st.fixed_source = _file_text(account, commit, PRICING)


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
    blobs, why = zip_blobs(account, where[0], where[1])
    if blobs is None:
        art["problem"] = (f"Build #{build.get('buildNumber')}'s artifact: {why}"
                          + (" (set the project's artifacts packaging to ZIP)." if "not a zip" in why else "."))
        return
    art["names"], art["blobs"] = sorted(blobs), blobs


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
    return missing(st.project_problem, "Create it in step 3.")


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
    for s in statements(document):
        if s.get("Effect") != "Allow":
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
    if not any(_runs_pytest(c) for c in build_cmds):
        return failed(f"The build phase of {where} does not run pytest: {build_cmds}.")
    if not any("junit" in c.lower() for c in build_cmds if _runs_pytest(c)):
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
    if st.repo is None:
        return failed(f"Repository {REPO} does not exist: run step 1 again.")
    if not st.bucket.get("exists"):
        return failed(f"Bucket {st.lab_bucket} does not exist: run step 1 again.")
    looked = {f"project {PROJECT}": st.project.get("tags"), f"repository {REPO}": st.repo_tags,
              f"bucket {st.lab_bucket}": st.bucket.get("tags")}
    if st.role is not None:
        looked[f"role {st.role_name}"] = st.role_tags
    return untagged(LAB_ID, looked)


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
    """Evidence: the failed build (batch_get_builds), every test case of its report
    (describe_test_cases: the sample app's whole suite, the planted bug's test FAILED) and
    app/pricing.py at the commit CodeBuild resolved (get_file: the planted bug is there)."""
    if st.project is None:
        return _no_project(st)
    if st.failed is None:
        return failed(st.failed_problem)
    label = f"Build #{st.failed.get('buildNumber')}"
    commit = str(st.failed.get("resolvedSourceVersion"))[:8]
    problem = _suite_problem(st.failed_cases, f"the report of {label}")
    if problem:
        return failed(problem)
    if st.failed_source is None or PLANTED not in st.failed_source:
        return failed(f"{label} failed, but its commit {commit} does not hold the planted bug ({PLANTED!r} in "
                      f"{PRICING}, read with get_file): build the commit the lab starts from (BUGGY_COMMIT).")
    case = st.failed_case or {}
    message = " ".join(str(case.get("message") or "").split())[:120]
    return passed(f"{label} FAILED on {commit}, whose {PRICING} holds the planted bug: its report's "
                  f"{len(st.failed_cases)} test cases are the sample app's suite, {case.get('prefix', '')}."
                  f"{FAILING_TEST} FAILED ({message}).")


def _suite_problem(cases: list[dict], where: str, all_pass: bool = False) -> str:
    """Why a report's test cases are not the sample app's whole test suite ('' when they are)."""
    ran: dict[str, list[str]] = {}
    for case in cases:
        ran.setdefault(str(case.get("name") or "").split("[", 1)[0], []).append(str(case.get("status")))
    absent = [name for name in sample_app_tests() if name not in ran]
    if absent:
        return (f"{where} lacks {len(absent)} of the sample app's {len(sample_app_tests())} tests "
                f"({', '.join(absent[:4])}): the report must come from running the app's whole test suite "
                "(python -m pytest --junitxml=...), not from a file written by hand.")
    skipped = sorted(n for n, statuses in ran.items() if "SKIPPED" in statuses)
    if skipped:
        return f"{where} shows {', '.join(skipped[:4])} SKIPPED: every test of the suite must run."
    if all_pass:
        bad = sorted(n for n, statuses in ran.items() if set(statuses) - {"SUCCEEDED"})
        if bad:
            return f"{where} shows {', '.join(bad[:4])} not SUCCEEDED."
    return ""


@LAB.check("fixed-then-succeeded", title="A later build of a fixing commit SUCCEEDED", points=15, step="fix",
           hints=["Fix the bug in the working copy, commit, push to main, and build again: the new build "
                  "must succeed on a commit that comes after the failed one.",
                  "git commit -am ... and git push (or codecommit put_file on main), then "
                  "codebuild.start_build(projectName=...) without sourceVersion builds the head of main.",
                  "git('commit', '-am', 'Fix the bulk discount threshold'); git('push', 'origin', 'main'); "
                  "build = wait_for_build(cb.start_build(projectName=PROJECT)['build']['id'])"],
           docs=f"{_CB}/run-build.html")
def fixed_then_succeeded(st: BuildLab) -> Finding:
    """Evidence: the successful build after the failed one (batch_get_builds), the commits both
    built, what changed between them (get_differences) and app/pricing.py at the fixed commit."""
    if st.project is None:
        return _no_project(st)
    if st.fixed is None:
        return failed(st.fixed_problem)
    label = f"Build #{st.fixed.get('buildNumber')}"
    good, bad = str(st.fixed.get("resolvedSourceVersion"))[:8], str(st.failed.get("resolvedSourceVersion"))[:8]
    changed = st.fixed_changes
    if changed is None:
        return failed(f"Cannot compare the failed commit {bad} with the fixed one {good} (get_differences).")
    elsewhere = sorted(p for p in changed if p.startswith("tests/") or p.rsplit("/", 1)[-1].startswith("buildspec"))
    if elsewhere:
        return failed(f"From {bad} to {good} you changed {', '.join(elsewhere)}: fix the application code "
                      f"({PRICING}), not the tests or the build.")
    if not any(p.startswith("app/") for p in changed):
        return failed(f"From {bad} to {good} nothing in app/ changed ({', '.join(sorted(changed)) or 'no file'}): "
                      f"the fix belongs in {PRICING}.")
    if st.fixed_source is not None and PLANTED in st.fixed_source:
        return failed(f"{PRICING} at {good} still holds the planted bug ({PLANTED!r}).")
    return passed(f"{label} SUCCEEDED on {good}, which descends from the failed build "
                  f"#{st.failed.get('buildNumber')}'s {bad} and changes only {', '.join(sorted(changed))} "
                  "(get_differences): the bug was fixed in the application code.")


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
        return failed(f"The report of {label} is {report.get('status')} with {total} tests, {counts}"
                      + (": every test must run, none skipped; fix the code, keep the test." if bad.get("SKIPPED")
                         else "."))
    if st.failed_total and total < st.failed_total:
        return failed(f"The report of {label} has {total} tests, fewer than the {st.failed_total} of the failed "
                      "build: a test was removed. Fix the code, not the tests.")
    if (st.fixed_case or {}).get("status") != "SUCCEEDED":
        return failed(f"The report of {label} does not show {FAILING_TEST} passing: fix the code, keep the test.")
    problem = _suite_problem(st.fixed_cases, f"The report of {label}", all_pass=True)
    if problem:
        return failed(problem)
    own = {p: b for p, b in sample_app_blobs().items() if p.startswith("tests/")}
    edited = sorted(p for p, blob in own.items() if st.fixed_files.get(p) != blob)
    if edited:
        return failed(f"At the commit {label} built, {', '.join(edited)} "
                      f"{'is' if len(edited) == 1 else 'are'} not the sample app's own test file: keep the tests "
                      "as they are and fix the code.")
    return passed(f"The report of {label}: {counts.get('SUCCEEDED', total)} of {total} tests SUCCEEDED, the "
                  f"sample app's whole suite ({len(sample_app_tests())} tests, {FAILING_TEST} among them; "
                  "describe_test_cases), and its tests/ files are the app's own (get_folder).")


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
    """Evidence: the successful build's artifact location (batch_get_builds), the zip's files
    (get_object) and the built commit's files (get_folder): same paths, same content."""
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
    commit = str(st.fixed.get("resolvedSourceVersion"))[:8]
    # Files the build made (not in the commit) may be there; the commit's own must be unchanged.
    foreign = [n for n in ARTIFACT_FILES if st.fixed_files.get(n) != art["blobs"].get(n)] + \
        [n for n, blob in art["blobs"].items() if n not in ARTIFACT_FILES and n in st.fixed_files
         and st.fixed_files[n] != blob]
    if foreign:
        return failed(f"s3://{art['bucket']}/{art['key']} holds {', '.join(foreign[:5])}, which "
                      f"{'is' if len(foreign) == 1 else 'are'} not the file of the built commit {commit} "
                      "(content compared with get_folder's blob ids): the artifact must be what the build packaged.")
    return passed(f"s3://{art['bucket']}/{art['key']}: {len(names)} files, {', '.join(ARTIFACT_FILES)} among them, "
                  f"each the same content as in the built commit {commit}.")


@LAB.check("logs-in-cloudwatch", title="The last build's log is in CloudWatch Logs", points=10, step="inspect",
           hints=["Keep CloudWatch Logs enabled for the project: every build then streams its output to a "
                  "log stream you can read with the logs API.",
                  "The project's logsConfig.cloudWatchLogs.status ENABLED (with a groupName); a build's "
                  "logs.groupName and logs.streamName say where; logs.get_log_events reads it.",
                  "logsConfig={'cloudWatchLogs': {'status': 'ENABLED', 'groupName': "
                  "'/aws/codebuild/workshop-02-build'}}"],
           docs=f"{_CB}/view-build-details.html")
def logs_in_cloudwatch(st: BuildLab) -> Finding:
    """Evidence: the last build's own log stream (named after the build by CodeBuild), read with
    get_log_events: CodeBuild's "Running command" line for pytest and pytest's summary, whose
    count matches the build's report."""
    if st.project is None:
        return _no_project(st)
    cw = ((st.project.get("logsConfig") or {}).get("cloudWatchLogs") or {})
    if cw.get("status", "ENABLED") != "ENABLED":
        return failed("The project's CloudWatch Logs are DISABLED: enable them in logsConfig.")
    if st.log_problem:
        return failed(st.log_problem)
    logs = (st.last or {}).get("logs") or {}
    where = f"{logs.get('groupName')} / {logs.get('streamName')}"
    build_uuid = str(st.last.get("id") or "").rsplit(":", 1)[-1]
    if not build_uuid or not str(logs.get("streamName") or "").endswith(build_uuid):
        return failed(f"The last build's log stream {where} is not named after the build ({build_uuid}): "
                      "CodeBuild writes each build to a stream of its own; keep logsConfig's streamName unset "
                      "or a prefix.")
    if not st.log_lines:
        return failed(f"The last build's log stream {where} is empty.")
    ran = [m.group(1).strip() for m in (_RUNNING.search(line) for line in st.log_lines) if m]
    pytest_runs = [c for c in ran if "pytest" in c and _runs_pytest(c)]
    if not pytest_runs:
        return failed(f"The last build's log ({len(st.log_lines)} lines in {where}) shows CodeBuild running "
                      f"{', '.join(ran[:4]) or 'no command'}, none of them pytest: the build phase must run the tests.")
    summaries = [line for line in st.log_lines if _PYTEST_SUMMARY.search(line)]
    if not summaries:
        return failed(f"The last build's log ({len(st.log_lines)} lines in {where}) shows no pytest summary: "
                      "did the build phase run the tests?")
    counted = sum(int(n) for n, _ in _PYTEST_COUNTS.findall(summaries[-1]))
    report = st.fixed_report if st.last is st.fixed else None
    total = int(((report or {}).get("testSummary") or {}).get("total") or 0)
    if report is not None and counted != total:
        return failed(f"The last build's log says {' '.join(summaries[-1].split()).strip('= ')}, but its report "
                      f"counts {total} tests: the report must be the one this run of pytest wrote.")
    return passed(f"Build #{st.last.get('buildNumber')} logged {len(st.log_lines)} lines to its own stream {where}: "
                  f"CodeBuild ran {pytest_runs[0]!r}, which said {' '.join(summaries[-1].split()).strip('= ')}.")


def _runs_pytest(command: str) -> bool:
    """A command that runs pytest (not one that only prints or comments on it)."""
    words = command.replace(";", " ; ").split()
    return bool(words) and words[0] not in ("echo", "printf", "true", ":", "#", "cat") and \
        any(w.endswith("pytest") or w == "pytest" for w in words)
