"""EKS's engine: spends the workshop clock's time on the work under way in each account
and region (clusters, node groups, Fargate profiles and add-ons coming and going, updates
running), through the backend's ``advance``. One thread, started on the first piece of
work, idle (no wake-ups) while nothing is under way. Time the cloud was stopped does not
count: a restored account's work goes on where it was."""

from __future__ import annotations

import logging
import threading
import time

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock

log = logging.getLogger("workshop.cloud.eks")

TICK = 0.1                      # real seconds between steps while work is under way

_backends: dict[tuple[str, str], object] = {}
_lock = threading.Lock()
_wake = threading.Event()
_thread: threading.Thread | None = None


def _watch(backend) -> None:
    global _thread
    with _lock:
        _backends[(backend.account_id, backend.region_name)] = backend
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="eks-lifecycle", daemon=True)
            _thread.start()
    _wake.set()


@services.on("eks.work-started")
def _work_started(backend) -> None:
    _watch(backend)


@services.on(persistence.RESTORED)
def _restored(account_id: str) -> None:
    from moto.eks.models import eks_backends

    for backend in persistence.backends(eks_backends, account_id):
        if getattr(backend, "pending", lambda: False)():
            _watch(backend)


@services.on_account_reset
def _reset(account_id: str) -> None:
    with _lock:
        for key in [k for k in _backends if k[0] == account_id]:
            _backends.pop(key, None)


def _loop() -> None:
    last = time.monotonic()
    while True:
        with _lock:
            busy = {key: b for key, b in _backends.items() if b.pending()}
            for key in [k for k in _backends if k not in busy]:
                _backends.pop(key)
        if not busy:
            _wake.wait()            # nothing under way: sleep until new work
            _wake.clear()
            last = time.monotonic()
            continue
        _wake.wait(TICK)
        _wake.clear()
        moment = time.monotonic()
        spent = get_clock().aws_seconds(moment - last)
        last = moment
        for (account, region), backend in busy.items():
            try:
                if backend.advance(spent):
                    persistence.changed(account)
            except Exception:
                log.exception("eks work in %s %s", account, region)
