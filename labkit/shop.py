"""The shop (``sample-app/shop``: orders -> pricing -> inventory) for lab 06: start
its three services as local processes, send them orders, stop them. The services
trace themselves with OpenTelemetry and send their spans to X-Ray's ``/v1/traces``
on the endpoint the notebook uses (``AWS_ENDPOINT_URL``) with the notebook's
credentials, so the traces land in the learner's account.

    shop = start_shop("my-shop")          # a copy of the shop in ./my-shop, started
    send_orders(shop, count=40)           # a table: ok / failed, latency
    shop.stop()
"""

from __future__ import annotations

import atexit
import html
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from checker.labs import GENERATED
from labkit.sample import sample_app_path

SERVICES = ("inventory", "pricing", "orders")       # started in this order: each needs the next
ITEMS = ("widget", "gadget", "gizmo", "sprocket", "flange", "grommet", "bracket")
START_TIMEOUT = 30.0

_running: list["Shop"] = []


class ShopError(Exception):
    """The shop cannot start (no copy of it, a service that exits at start)."""


@dataclass
class Shop:
    app_dir: Path
    urls: dict[str, str]
    processes: dict[str, subprocess.Popen]
    logs: dict[str, Path]

    @property
    def url(self) -> str:
        """The front door: the orders service."""
        return self.urls["orders"]

    def running(self) -> bool:
        return all(p.poll() is None for p in self.processes.values())

    def stop(self) -> None:
        """Stop the services (each sends the spans it still holds first)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self in _running:
            _running.remove(self)

    def __enter__(self) -> "Shop":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def copy_shop(dest: str | Path) -> Path:
    """Copy the sample app (the shop and the quoting rules it uses) into ``dest``
    unless a copy is there already: the learner's changes are kept."""
    dest = Path(dest)
    if not (dest / "shop" / "pricing.py").is_file():
        shutil.copytree(sample_app_path(), dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*GENERATED))
    return dest


def start_shop(app_dir: str | Path | None = None, *, fault_every: int | None = None,
               query_delay: float | None = None, env: dict[str, str] | None = None) -> Shop:
    """Start inventory, pricing and orders from ``app_dir`` (a copy of the sample
    app: ``copy_shop``; default the project's own) on free local ports."""
    root = Path(app_dir) if app_dir is not None else sample_app_path()
    if not (root / "shop" / "__main__.py").is_file():
        raise ShopError(f"no shop in {root}: make a copy with labkit.shop.copy_shop({str(root)!r})")
    base = {**os.environ, "PORT": "0", "PYTHONUNBUFFERED": "1", **(env or {})}
    base["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [base.get("PYTHONPATH")])])
    if fault_every is not None:
        base["INVENTORY_FAULT_EVERY"] = str(fault_every)
    if query_delay is not None:
        base["INVENTORY_QUERY_DELAY"] = str(query_delay)
    log_dir = Path(tempfile.mkdtemp(prefix="shop-logs-"))     # never inside the app's files
    shop = Shop(root, {}, {}, {})
    try:
        for name in SERVICES:
            service_env = dict(base)
            if name == "pricing":
                service_env["INVENTORY_URL"] = shop.urls["inventory"]
            if name == "orders":
                service_env["PRICING_URL"] = shop.urls["pricing"]
            shop.logs[name] = log_dir / f"{name}.log"
            log = open(shop.logs[name], "w")
            shop.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "shop", name], cwd=root, env=service_env, stdout=subprocess.PIPE,
                stderr=log, text=True, start_new_session=True)
            log.close()
            shop.urls[name] = _listening(name, shop.processes[name], shop.logs[name])
    except BaseException:
        shop.stop()
        raise
    _running.append(shop)
    return shop


def _listening(name: str, process: subprocess.Popen, log: Path) -> str:
    """The URL a service prints when it listens (then its output goes on to nowhere)."""
    found: list[str] = []

    def read():
        line = process.stdout.readline()
        if " listening on " in line:
            found.append(line.rsplit(" ", 1)[-1].strip())
        for _ in process.stdout:       # keep the pipe drained
            pass

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while not found and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    if not found:
        tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
        raise ShopError(f"the {name} service did not start:\n{tail}")
    return found[0]


@dataclass
class OrderRun:
    ok: int = 0
    failed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return round(statistics.median(self.latencies) * 1000, 1) if self.latencies else 0.0

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{status}</td><td>{n}</td></tr>" for status, n in sorted(self.statuses.items()))
        return (f"<p>{self.ok} orders placed, {self.failed} failed; median latency {self.median_ms} ms</p>"
                f"<table><tr><th>HTTP status</th><th>orders</th></tr>{rows}</table>"
                + "".join(f"<p><code>{html.escape(e)}</code></p>" for e in self.errors[:3]))


def send_orders(shop: Shop | str, count: int = 40, *, items_per_order: tuple[int, int] = (2, 6),
                seed: int = 6, pause: float = 0.0) -> OrderRun:
    """Place ``count`` orders of a random 2-6 different items (seeded: the same orders each
    run) one after the other, and tally how they went."""
    url = shop.url if isinstance(shop, Shop) else shop
    rng = random.Random(seed)
    run = OrderRun()
    for _ in range(count):
        items = rng.sample(ITEMS, rng.randint(*items_per_order))
        body = json.dumps({"items": [{"item": item, "quantity": rng.randint(1, 4)} for item in items]}).encode()
        request = urllib.request.Request(f"{url}/orders", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status = answer.status
                answer.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            run.errors.append(exc.read().decode(errors="replace"))
        except OSError as exc:
            status = 0
            run.errors.append(str(exc))
        run.latencies.append(time.monotonic() - started)
        run.statuses[status] = run.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            run.ok += 1
        else:
            run.failed += 1
        if pause:
            time.sleep(pause)
    return run


@atexit.register
def _stop_all() -> None:
    for shop in list(_running):
        shop.stop()
