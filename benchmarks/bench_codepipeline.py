"""CodePipeline figures at the default time scale: a four-stage pipeline
(CodeCommit source -> CodeBuild with a trivial buildspec -> manual approval,
approved by this script as soon as its token shows -> CloudFormation deploy),
timed from `git push` to the execution's Succeeded. Prints the first (cold)
run, the median of the others, and each stage's median, beside the issue's
target (at most 10 s).

    python benchmarks/bench_codepipeline.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import new_account, start_cloud, stop_cloud  # noqa: E402
from tests.test_codepipeline_executions import (  # noqa: E402
    Repo,
    approval_stage,
    artifact_bucket,
    build_project,
    build_stage,
    codecommit_source,
    create_pipeline,
    deploy_stage,
    pipeline_role,
)

TARGET = 10.0
BUILDSPEC = """version: 0.2
phases:
  build:
    commands:
      - echo trivial
artifacts:
  files:
    - template.yml
"""
TEMPLATE = """Parameters:
  Stage:
    Type: String
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: {timeout}
"""
STAGES = ("Source", "Build", "Approval", "Deploy")


def one_run(cp, repo: Repo, i: int) -> tuple[float, dict[str, float]]:
    known = {e["pipelineExecutionId"] for e in
             cp.list_pipeline_executions(pipelineName="bench")["pipelineExecutionSummaries"]}
    repo.commit({"buildspec.yml": BUILDSPEC, "template.yml": TEMPLATE.format(timeout=30 + i)}, f"release {i}")
    started = time.perf_counter()
    repo.push()
    run_id = None
    approved = False
    while True:
        if run_id is None:
            fresh = [e for e in cp.list_pipeline_executions(pipelineName="bench")["pipelineExecutionSummaries"]
                     if e["pipelineExecutionId"] not in known]
            run_id = fresh[0]["pipelineExecutionId"] if fresh else None
        if run_id and not approved:
            states = {s["stageName"]: s for s in cp.get_pipeline_state(name="bench")["stageStates"]}
            latest = states["Approval"]["actionStates"][0].get("latestExecution") or {}
            if latest.get("status") == "InProgress" and latest.get("token") and \
                    states["Approval"]["latestExecution"]["pipelineExecutionId"] == run_id:
                cp.put_approval_result(pipelineName="bench", stageName="Approval", actionName="Approve",
                                       result={"summary": "benchmark", "status": "Approved"}, token=latest["token"])
                approved = True
        if run_id:
            status = cp.get_pipeline_execution(pipelineName="bench", pipelineExecutionId=run_id)[
                "pipelineExecution"]["status"]
            if status != "InProgress":
                break
        time.sleep(0.02)
    total = time.perf_counter() - started
    if status != "Succeeded":
        raise SystemExit(f"run {i}: the execution ended {status}")
    details = cp.list_action_executions(pipelineName="bench", filter={"pipelineExecutionId": run_id})[
        "actionExecutionDetails"]
    stages = {d["stageName"]: (d["lastUpdateTime"] - d["startTime"]).total_seconds() for d in details}
    return total, stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs after the first (cold) one")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cloud = start_cloud(tmp_path)
        try:
            account = new_account()
            iam, s3, cc, cb, cp = (cloud.client(s, account)
                                   for s in ("iam", "s3", "codecommit", "codebuild", "codepipeline"))
            role, bucket = pipeline_role(iam), artifact_bucket(s3, account)
            repo = Repo(cc, account, tmp_path)
            repo.commit({"buildspec.yml": BUILDSPEC, "template.yml": TEMPLATE.format(timeout=29)}, "initial")
            repo.push()
            project = build_project(cb, role)
            create_pipeline(cp, "bench", role, bucket, [codecommit_source(repo.name), build_stage(project),
                                                        approval_stage(), deploy_stage("bench-stack", role)])
            first = cp.list_pipeline_executions(pipelineName="bench")["pipelineExecutionSummaries"][0]
            cp.stop_pipeline_execution(pipelineName="bench", pipelineExecutionId=first["pipelineExecutionId"],
                                       abandon=True)

            cold, _ = one_run(cp, repo, 0)
            totals, per_stage = [], {s: [] for s in STAGES}
            for i in range(1, args.runs + 1):
                total, stages = one_run(cp, repo, i)
                totals.append(total)
                for stage in STAGES:
                    per_stage[stage].append(stages[stage])
        finally:
            stop_cloud(cloud)

    median = statistics.median(totals)
    print(f"CodePipeline, time scale 60, Source -> Build (trivial) -> Approval (approved at once) -> "
          f"Deploy (CloudFormation), git push to Succeeded, {args.runs} runs after a cold one")
    print(f"  cold first run:                  {cold:6.2f} s")
    print(f"  median:                          {median:6.2f} s   (min {min(totals):.2f}, max {max(totals):.2f})"
          f"   target <= {TARGET:.0f} s: {'met' if median <= TARGET else 'MISSED'}")
    for stage in STAGES:
        print(f"    {stage:<9} action median:     {statistics.median(per_stage[stage]):6.2f} s")
    print(json.dumps({"cold_s": round(cold, 3), "median_s": round(median, 3), "target_s": TARGET,
                      "stages_median_s": {s: round(statistics.median(v), 3) for s, v in per_stage.items()}}))
    return 0 if median <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
