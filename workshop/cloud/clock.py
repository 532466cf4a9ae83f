"""The workshop clock: the one source of time for every engine in the cloud.

Timestamps are wall-clock time. The waits that AWS imposes (bake times,
termination waits, alarm periods, provisioning delays) are divided by the
time scale; the learner's own work and its timeouts run in real time.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

DEFAULT_TIME_SCALE = 60.0


class WorkshopClock:
    def __init__(self, time_scale: float = DEFAULT_TIME_SCALE):
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._scale = 1.0
        self.set_time_scale(time_scale)

    @property
    def time_scale(self) -> float:
        return self._scale

    def set_time_scale(self, scale: float) -> None:
        scale = float(scale)
        if not scale > 0 or scale != scale or scale == float("inf"):
            raise ValueError("time scale must be a positive number")
        with self._changed:
            self._scale = scale
            # Wake sleepers so that a wait already under way follows the new scale.
            self._changed.notify_all()

    # Wall-clock time: what every timestamp the cloud reports is made of.
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def timestamp(self) -> float:
        return time.time()

    def real_seconds(self, aws_seconds: float) -> float:
        """How long a wait that AWS would impose lasts here."""
        return max(0.0, float(aws_seconds)) / self._scale

    def aws_seconds(self, real_seconds: float) -> float:
        """The inverse: how much AWS time a real duration stands for."""
        return max(0.0, float(real_seconds)) * self._scale

    def wait(self, aws_seconds: float, stop: threading.Event | None = None) -> bool:
        """Wait out an AWS-imposed delay on the workshop clock.

        Returns False when `stop` was set before the wait ended. A change of
        time scale during the wait applies to what is left of it.
        """
        remaining_aws = max(0.0, float(aws_seconds))
        step = 0.05
        while remaining_aws > 0:
            if stop is not None and stop.is_set():
                return False
            with self._changed:
                scale = self._scale
                chunk = min(remaining_aws / scale, step)
                started = time.monotonic()
                self._changed.wait(chunk)
                elapsed = time.monotonic() - started
            remaining_aws -= elapsed * scale
        return not (stop is not None and stop.is_set())


_default_clock: WorkshopClock | None = None


def get_clock() -> WorkshopClock:
    """The cloud's one clock (created on first use)."""
    global _default_clock
    if _default_clock is None:
        _default_clock = WorkshopClock()
    return _default_clock
