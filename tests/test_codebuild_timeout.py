"""timeoutInMinutes ends a build as TIMED_OUT and kills its processes. This
cloud counts a timeout minute as one real second
(WORKSHOP_CODEBUILD_TIMEOUT_MINUTE_SECONDS), so that AWS's 5-minute minimum
takes 5 s here; the behaviour is the one a learner gets in real minutes."""

from __future__ import annotations

import pytest

from tests.conftest import new_account, start_cloud, stop_cloud
from tests.test_codebuild_builds import build_processes, inline_project, log_text, phases, run


@pytest.fixture(scope="module")
def quick_timeouts(tmp_path_factory):
    cloud = start_cloud(tmp_path_factory.mktemp("codebuild-timeout"),
                        extra_env={"WORKSHOP_CODEBUILD_TIMEOUT_MINUTE_SECONDS": "1"})
    # Let the cloud finish loading its services before a build's short clock starts.
    cloud.client("cloudformation").list_stacks()
    cloud.client("codebuild").list_projects()
    yield cloud
    stop_cloud(cloud)


def test_a_build_past_its_timeout_is_timed_out_and_its_processes_killed(quick_timeouts):
    cloud, account = quick_timeouts, new_account()
    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "slow", """
version: 0.2
phases:
  build:
    commands:
      - sleep 120 &
      - echo waiting && sleep 120
  post_build:
    commands: [echo never-runs]
""", timeoutInMinutes=5)
    build = run(cb, "slow")
    assert build["buildStatus"] == "TIMED_OUT", build["phases"]
    assert build["timeoutInMinutes"] == 5
    timed_out = phases(build)["BUILD"]
    assert timed_out["phaseStatus"] == "TIMED_OUT"
    assert timed_out["contexts"][0]["statusCode"] == "BUILD_TIMED_OUT"
    assert "POST_BUILD" not in phases(build)
    assert [p["phaseType"] for p in build["phases"]][-2:] == ["FINALIZING", "COMPLETED"]
    assert build_processes(build["id"]) == []
    text = log_text(cloud, account, build)
    assert "waiting" in text and "never-runs" not in text.replace("echo never-runs", "")


def test_a_build_within_its_timeout_succeeds(quick_timeouts):
    cloud, account = quick_timeouts, new_account()
    cb = cloud.client("codebuild", account)
    inline_project(cb, account, "quick", "version: 0.2\nphases:\n  build:\n    commands: [sleep 0.2]\n")
    # start_build's override counts the same way.
    build = run(cb, "quick", timeoutInMinutesOverride=5)
    assert build["buildStatus"] == "SUCCEEDED", phases(build)
