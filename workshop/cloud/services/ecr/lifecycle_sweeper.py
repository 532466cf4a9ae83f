"""The lifecycle sweeper engine: ECR applies lifecycle policies within 24 hours of an
image meeting their criteria; here a sweep of every repository with a policy runs
every 24 hours of workshop time (24 h divided by the time scale: 24 min at the
default 60, 1 s at 86400), expiring what lifecycle.py says, recorded in CloudTrail
as ECR's PolicyExecutionEvent. Started when ECR's extension loads."""

from __future__ import annotations

import logging
import threading
import time

from workshop.cloud.clock import get_clock

log = logging.getLogger("workshop.cloud.ecr")

SWEEP_EVERY = 24 * 3600.0  # AWS seconds
_started = threading.Event()


def _sweep_all() -> None:
    from workshop.cloud.services.ecr import models

    for account, per_region in list(models.ecr_backends.items()):
        for region, backend in list(dict.items(per_region)):
            for repository, gone in backend.sweep_lifecycle():
                _record(account, region, repository, gone)


def _record(account: str, region: str, repository: str, gone: list[dict]) -> None:
    try:
        from workshop.cloud.services.cloudtrail import recorder
    except ImportError:  # no CloudTrail in this cloud
        return
    try:
        recorder.on_behalf(account, region, "ecr.amazonaws.com", "ecr", "PolicyExecutionEvent",
                           {"repositoryName": repository},
                           resources=[{"ResourceType": "AWS::ECR::Repository", "ResourceName": repository}],
                           additional={"expiredImages": gone})
    except Exception:  # the record must never stop the sweep
        log.debug("recording the lifecycle expiry of %s failed", repository, exc_info=True)


def _run() -> None:
    clock = get_clock()
    while True:
        # Sleep in real time, at most 1 s at once, counting workshop time at the scale of each
        # moment (a change of scale applies to what is left), without waking 20 times a second.
        left = SWEEP_EVERY
        while left > 0:
            step = min(clock.real_seconds(left), 1.0)
            time.sleep(step)
            left -= clock.aws_seconds(step)
        try:
            _sweep_all()
        except Exception:
            log.exception("lifecycle sweep failed")


def start() -> None:
    if not _started.is_set():
        _started.set()
        threading.Thread(target=_run, name="ecr-lifecycle", daemon=True).start()


start()
