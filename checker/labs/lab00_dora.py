"""Lab 00-dora checks: the learner's figures for the Checkout team's month
(labkit/data/team-history.json), kept as a JSON document in the lab's bucket,
against the key computed by hand from docs/dora.md's definitions; the metric
that holds the team back, and a target for it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from checker.labs import bucket_name
from checker.registry import Finding, failed, lab, passed

LAB_ID = "00-dora"
BUCKET_PREFIX = "workshop-00-dora"
ANSWERS_KEY = "dora/answers.json"

# By hand, from the team history file and the definitions (docs/dora.md): 6 succeeded production
# deployments over 28 days; lead times 3,3,3,6,6,23,24,25,29,71,116 h (median 23); 3 failed of 9
# (P2 failed, P5 stopped and rolled back, P6 failed); restored after 17, 22 and 113 h (median 22);
# rework P3 and P7 of 9.
KEY = {
    "deployment_frequency_per_day": 0.2143,
    "lead_time_hours": 23.0,
    "change_failure_rate": 0.3333,
    "time_to_restore_hours": 22.0,
    "rework_rate": 0.2222,
}
HOLDING_BACK = "change_failure_rate"   # the only figure in the 2024 report's low level
TOLERANCE = 0.02                       # relative: 0.21 per day or 1.5 per week / 7 both pass

LAB = lab(LAB_ID, "DevOps culture and the DORA metrics")
_DORA = "https://dora.dev/guides/dora-metrics-four-keys/"
STEPS = ("by-hand", "compare", "target")
FIGURES = {  # answer key -> (what it is, unit shown)
    "deployment_frequency_per_day": ("deployment frequency", "per day"),
    "lead_time_hours": ("lead time for changes", "h"),
    "change_failure_rate": ("change failure rate", "(fraction)"),
    "time_to_restore_hours": ("time to restore service", "h"),
    "rework_rate": ("rework rate", "(fraction)"),
}
METRIC_NAMES = {"deployment_frequency", "lead_time_for_changes", "change_failure_rate", "time_to_restore",
                "rework_rate"}


@dataclass
class Answers:
    bucket: str
    found: dict | None = None
    problem: str = ""


@LAB.reader
def read(account) -> Answers:
    st = Answers(bucket_name(BUCKET_PREFIX, account.id, account.region))
    obj = account.call("s3", "get_object", Bucket=st.bucket, Key=ANSWERS_KEY)
    if obj is None:
        st.problem = (f"No answers at s3://{st.bucket}/{ANSWERS_KEY} yet: run the cell that calls "
                      "labkit.lab00_dora.save_answers(ANSWERS).")
        return st
    try:
        found = json.loads(obj["Body"].read())
        if not isinstance(found, dict):
            raise ValueError("not a JSON object")
        st.found = found
    except (ValueError, KeyError) as exc:
        st.problem = f"s3://{st.bucket}/{ANSWERS_KEY} is not the answers' JSON object ({exc})."
    return st


def _close(value, key: str) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    expected = KEY[key]
    if key in ("change_failure_rate", "rework_rate") and number > 1:
        number /= 100.0   # given as a percentage
    return abs(number - expected) <= TOLERANCE * expected


def _figures(st: Answers, keys: tuple[str, ...]) -> Finding:
    if st.found is None:
        return failed(st.problem)
    wrong = [k for k in keys if not _close(st.found.get(k), k)]
    if wrong:
        shown = ", ".join(f"{FIGURES[k][0]} = {st.found.get(k)!r}" for k in wrong)
        return failed(f"Not what the definitions give for the Checkout team's month: {shown}. Recount the events "
                      "(which deployments are production? which count as failed?).")
    return passed(", ".join(f"{FIGURES[k][0]} {st.found[k]} {FIGURES[k][1]}" for k in keys) + ": right.")


@LAB.check("throughput", title="Deployment frequency and lead time for changes, by hand", points=25, step="by-hand",
           hints=["Deployment frequency counts succeeded *production* deployments only, over the window's days.",
                  "Lead time: each commit to the end of the first succeeded production deployment containing it; "
                  "the median over all deployed commits.",
                  "6 succeeded production deployments / 28 days; sort the 11 lead times and take the middle one."],
           docs=_DORA)
def throughput(st: Answers) -> Finding:
    return _figures(st, ("deployment_frequency_per_day", "lead_time_hours"))


@LAB.check("stability", title="Change failure rate and time to restore, by hand", points=25, step="by-hand",
           hints=["A failed change ended Failed or Stopped, or was rolled back; staging does not count.",
                  "Time to restore: from each failed deployment's end to the end of the next succeeded one; "
                  "the median.",
                  "3 failed of 9 production deployments; restores of 17, 113 and 22 hours."],
           docs=_DORA)
def stability(st: Answers) -> Finding:
    return _figures(st, ("change_failure_rate", "time_to_restore_hours"))


@LAB.check("rework-rate", title="Rework rate (the 2025 report's fifth metric), by hand", points=20, step="by-hand",
           hints=["Rework: deployments made within 24 h after a failed change to fix it.",
                  "After each failed change, count the deployments begun within 24 h of its end, up to the first "
                  "that succeeded; divide by all production deployments.",
                  "P3 (16 h after P2) and P7 (21 h after P6): 2 of 9."],
           docs="https://dora.dev/research/2025/dora-report/")
def rework_rate(st: Answers) -> Finding:
    return _figures(st, ("rework_rate",))


@LAB.check("holding-back", title="The metric that holds the team back, and a target for it", points=30,
           step="target",
           hints=["Place each figure in the 2024 report's levels (workshop dora shows them): which one is lowest?",
                  "Set ANSWERS['holding_back'] to that metric's name as `workshop dora --json` spells it, and "
                  "ANSWERS['target'] to a better value of it.",
                  "holding_back = 'change_failure_rate', target = a rate below 0.3333 (e.g. 0.15, the high level "
                  "is 20%)."],
           docs="https://dora.dev/research/2024/dora-report/")
def holding_back(st: Answers) -> Finding:
    if st.found is None:
        return failed(st.problem)
    metric = st.found.get("holding_back")
    if metric not in METRIC_NAMES:
        return failed(f"holding_back is {metric!r}: name one of {', '.join(sorted(METRIC_NAMES))}.")
    if metric != HOLDING_BACK:
        return failed(f"{metric} is not the figure furthest behind the 2024 report's levels: compare each "
                      "figure's level.")
    try:
        target = float(st.found.get("target"))
    except (TypeError, ValueError):
        return failed("Set a target: ANSWERS['target'], a better change failure rate than today's.")
    if target > 1:
        target /= 100.0
    if not 0 <= target < KEY["change_failure_rate"]:
        return failed(f"A target of {st.found.get('target')} is no better than today's "
                      f"{KEY['change_failure_rate']:.1%}.")
    return passed(f"The change failure rate holds the team back; target {target:.0%}.")
