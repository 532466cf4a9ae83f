"""The workshop clock: AWS-imposed waits divided by the time scale; wall-clock timestamps."""

import threading
import time
from datetime import datetime, timezone

import pytest

from workshop.cloud.clock import WorkshopClock


def test_waits_are_divided_by_the_scale():
    clock = WorkshopClock(time_scale=60)
    assert clock.real_seconds(300) == pytest.approx(5.0)
    assert clock.aws_seconds(5) == pytest.approx(300)
    assert WorkshopClock(time_scale=1).real_seconds(7) == 7


def test_timestamps_are_wall_clock():
    clock = WorkshopClock(time_scale=1000)
    now = clock.now()
    assert now.tzinfo is not None
    assert abs((now - datetime.now(timezone.utc)).total_seconds()) < 1


def test_wait_lasts_the_scaled_time_and_follows_a_new_scale():
    clock = WorkshopClock(time_scale=100)
    started = time.monotonic()
    assert clock.wait(10) is True  # 10 AWS seconds at 100x
    assert time.monotonic() - started >= 0.09
    # A wait of 1000 AWS-seconds at scale 1 would take minutes; speeding the
    # clock up mid-wait must shorten what is left of it.
    slow = WorkshopClock(time_scale=1)
    done = threading.Event()
    threading.Thread(target=lambda: (slow.wait(1000), done.set()), daemon=True).start()
    time.sleep(0.1)
    slow.set_time_scale(100000)
    assert done.wait(5)


def test_wait_stops_early_when_asked():
    clock = WorkshopClock(time_scale=1)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert clock.wait(60, stop=stop) is False


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_scale_must_be_positive(bad):
    with pytest.raises(ValueError):
        WorkshopClock(time_scale=bad)
