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
