"""Steady traffic to a Lambda function or alias, tallied per executed version:
how many requests each version served and how many of them failed, the
learner's measure of blast radius. It reaches the cloud only through boto3
(``checker.session``), so it runs unchanged against LocalStack or real AWS.
The same for a URL (a load balancer's listener): HTTP requests tallied per version
named by a response header or a JSON body field (the sample app's ``version``).

    from labkit.traffic import send_traffic, start_http_traffic
    send_traffic("orders:live", count=200, rate=20)        # a table in the notebook
    run = start_traffic("orders:live", count=400, rate=20) # in the background...
    run.result()                                           # ...until it is done
    run = start_http_traffic(url + "/health", count=600, rate=10)   # during a rollout
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

NO_VERSION = "-"          # requests that failed before any version ran (throttled, refused)
MAX_ERROR_SAMPLES = 5


class TrafficError(Exception):
    """The traffic cannot be sent at all (no such function or alias, no cloud)."""


@dataclass
class VersionTally:
    version: str
    succeeded: int = 0
    failed: int = 0

    @property
    def requests(self) -> int:
        return self.succeeded + self.failed

    @property
    def failure_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0


@dataclass
class TrafficResult:
    """What a burst of traffic met, per executed version."""

    function: str
    requested: int
    seconds: float = 0.0
    versions: dict[str, VersionTally] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    stopped: bool = False
    noun: str = "invocations"     # what was sent: invocations of a function, requests to a URL

    @property
    def succeeded(self) -> int:
        return sum(t.succeeded for t in self.versions.values())

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.versions.values())

    @property
    def sent(self) -> int:
        return self.succeeded + self.failed

    @property
    def failure_rate(self) -> float:
        return self.failed / self.sent if self.sent else 0.0

    def tally(self, version: str) -> VersionTally:
        """The counts of one version (zeros if it served nothing)."""
        return self.versions.get(str(version), VersionTally(str(version)))

    def rows(self) -> list[VersionTally]:
        def order(t: VersionTally):
            v = t.version
            return (0, int(v), v) if v.isdigit() else (1 if v == "$LATEST" else 2, 0, v)

        return sorted(self.versions.values(), key=order)

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function, "requested": self.requested, "sent": self.sent,
            "succeeded": self.succeeded, "failed": self.failed, "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "versions": {t.version: {"requests": t.requests, "succeeded": t.succeeded, "failed": t.failed}
                         for t in self.rows()},
            "error_samples": list(self.error_samples),
        }

    # -- views --------------------------------------------------------------
    def _title(self) -> str:
        rate = f", {self.sent / self.seconds:.1f}/s" if self.seconds > 0 else ""
        note = " (stopped early)" if self.stopped else ""
        where = "of" if self.noun == "invocations" else "to"
        return f"{self.sent} {self.noun} {where} {self.function} in {self.seconds:.1f} s{rate}{note}"

    def table(self) -> str:
        header = ("version", "requests", "succeeded", "failed", "failed %")
        rows = [(t.version, str(t.requests), str(t.succeeded), str(t.failed), f"{100 * t.failure_rate:.1f}")
                for t in self.rows()]
        rows.append(("total", str(self.sent), str(self.succeeded), str(self.failed),
                     f"{100 * self.failure_rate:.1f}"))
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(cells) -> str:
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        out = [self._title(), line(header), line(["-" * w for w in widths])]
        out += [line(r) for r in rows[:-1]]
        out += [line(["-" * w for w in widths]), line(rows[-1])]
        if self.error_samples:
            out.append("errors seen:")
            out += [f"  {e}" for e in self.error_samples]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        esc = html.escape
        cells = "".join
        body = []
        for t in self.rows():
            colour = ' style="color:#b00020;font-weight:bold"' if t.failed else ""
            body.append(f"<tr><td>{esc(t.version)}</td><td>{t.requests}</td><td>{t.succeeded}</td>"
                        f"<td{colour}>{t.failed}</td><td>{100 * t.failure_rate:.1f}%</td></tr>")
        body.append(f"<tr style=\"border-top:2px solid #888\"><th>total</th><th>{self.sent}</th>"
                    f"<th>{self.succeeded}</th><th>{self.failed}</th><th>{100 * self.failure_rate:.1f}%</th></tr>")
        errors = ""
        if self.error_samples:
            errors = "<p>Errors seen:</p><ul>" + cells(f"<li><code>{esc(e)}</code></li>"
                                                    for e in self.error_samples) + "</ul>"
        return (f"<div class=\"workshop-traffic\"><table><caption>{esc(self._title())}</caption>"
                "<thead><tr><th>version</th><th>requests</th><th>succeeded</th><th>failed</th>"
                f"<th>failed %</th></tr></thead><tbody>{cells(body)}</tbody></table>{errors}</div>")


class TrafficRun:
    """Traffic being sent in the background; ``result()`` waits for the tally."""

    def __init__(self, function: str, count: int, rate: float | None, payload: Any, concurrency: int,
                 client, on_result: Callable[[str, bool], None] | None = None):
        self.function = function
        self.count = count
        self.rate = rate
        self.payload = _encode(payload)
        self.concurrency = max(1, min(int(concurrency), 10))   # botocore pools 10 connections
        self._client = client
        self._on_result = on_result
        self._result = TrafficResult(function=function, requested=count)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next = 0
        self._thread: threading.Thread | None = None

    def start(self) -> TrafficRun:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Send no more requests (those under way finish)."""
        self._stop.set()

    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def result(self, timeout: float | None = None) -> TrafficResult:
        if self._thread is None:
            self.start()
        self._thread.join(timeout)
        with self._lock:
            return self._result

    def _run(self) -> None:
        started = time.monotonic()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="traffic") as pool:
            for _ in range(self.concurrency):
                pool.submit(self._worker, started)
        with self._lock:
            self._result.seconds = time.monotonic() - started
            self._result.stopped = self._stop.is_set() and self._result.sent < self.count

    def _claim(self) -> int | None:
        with self._lock:
            if self._next >= self.count or self._stop.is_set():
                return None
            index = self._next
            self._next += 1
            return index

    def _worker(self, started: float) -> None:
        while (index := self._claim()) is not None:
            if self.rate:
                delay = started + index / self.rate - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
            version, ok, error = self._invoke_once()
            with self._lock:
                tally = self._result.versions.setdefault(version, VersionTally(version))
                if ok:
                    tally.succeeded += 1
                else:
                    tally.failed += 1
                    samples = self._result.error_samples
                    if error and error not in samples and len(samples) < MAX_ERROR_SAMPLES:
                        samples.append(error)
            if self._on_result is not None:
                self._on_result(version, ok)

    def _invoke_once(self) -> tuple[str, bool, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.invoke(FunctionName=self.function, Payload=self.payload)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            return NO_VERSION, False, f"{err.get('Code', 'Error')}: {err.get('Message', '')}"
        except BotoCoreError as exc:
            return NO_VERSION, False, f"{type(exc).__name__}: {exc}"
        version = response.get("ExecutedVersion") or NO_VERSION
        body = response["Payload"].read()
        if response.get("FunctionError"):
            return version, False, _error_summary(body)
        return version, True, None


class HttpTrafficRun(TrafficRun):
    """Requests to a URL, tallied per version: the ``version_header`` of the answer, else the
    ``version_field`` of its JSON body. A request failed when it got no answer or a 4xx/5xx."""

    def __init__(self, url: str, count: int, rate: float | None, concurrency: int, version_header: str | None,
                 version_field: str | None, timeout: float,
                 on_result: Callable[[str, bool], None] | None = None):
        super().__init__(url, count, rate, None, concurrency, None, on_result)
        self.concurrency = max(1, min(int(concurrency), 32))
        self._result.noun = "requests"
        self.version_header = version_header
        self.version_field = version_field
        self.timeout = timeout

    def _invoke_once(self) -> tuple[str, bool, str | None]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.function, timeout=self.timeout) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, headers, body = exc.code, exc.headers, exc.read()
        except (OSError, ValueError) as exc:
            return NO_VERSION, False, f"{type(exc).__name__}: {exc}"[:300]
        version = self._version(headers, body)
        if status >= 400:
            return version, False, f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
        return version, True, None

    def _version(self, headers, body: bytes) -> str:
        if self.version_header and headers.get(self.version_header):
            return str(headers.get(self.version_header))
        if self.version_field:
            try:
                value = json.loads(body)
                for part in self.version_field.split("."):
                    value = value[part]
                return str(value)
            except (ValueError, KeyError, TypeError, IndexError):
                pass
        return NO_VERSION


def start_http_traffic(url: str, count: int = 100, rate: float | None = None, *, concurrency: int = 4,
                       version_header: str | None = "X-App-Version", version_field: str | None = "version",
                       timeout: float = 10.0, on_result: Callable[[str, bool], None] | None = None) -> HttpTrafficRun:
    """Start sending ``count`` GET requests to ``url`` in the background (at most ``rate`` a second):
    ``.result()`` waits for the tally per version, ``.stop()`` ends it early."""
    if count < 0:
        raise ValueError("count must be 0 or more")
    if rate is not None and not rate > 0:
        raise ValueError("rate must be greater than 0")
    if not url.startswith(("http://", "https://")):
        raise TrafficError(f"{url!r} is not an http:// or https:// URL")
    return HttpTrafficRun(url, count, rate, concurrency, version_header, version_field, timeout, on_result).start()


def send_http_traffic(url: str, count: int = 100, rate: float | None = None, **options: Any) -> TrafficResult:
    """Send ``count`` GET requests to ``url`` and return the tally per version (a table in a notebook)."""
    return start_http_traffic(url, count, rate, **options).result()


def _encode(payload: Any) -> bytes:
    if payload is None:
        return b"{}"
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        json.loads(payload)   # a clear error now rather than N failed requests
        return payload.encode("utf-8")
    return json.dumps(payload).encode("utf-8")


def _error_summary(body: bytes) -> str:
    try:
        err = json.loads(body)
        return f"{err.get('errorType', 'Error')}: {err.get('errorMessage', '')}"[:300]
    except (ValueError, AttributeError):
        return body[:300].decode("utf-8", "replace")


def _lambda_client(endpoint: str | None, account: str | None, region: str | None, session=None):
    if session is not None:
        return session.client("lambda")
    from checker.session import session as make_session
    from checker.session import target

    return make_session(target(endpoint=endpoint, account=account, region=region)).client("lambda")


def _check_target(client, function: str) -> None:
    """Fail fast, with a message a learner can act on, when the function or alias is missing."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.get_function_configuration(FunctionName=function)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        if err.get("Code") == "ResourceNotFoundException":
            name, _, alias = function.partition(":")
            what = f"function {name!r} has no alias or version {alias!r}" if alias else f"no function {name!r}"
            raise TrafficError(f"{what} in this account ({err.get('Message', '')})") from None
        raise TrafficError(f"cannot reach {function}: {err.get('Code')}: {err.get('Message')}") from None
    except BotoCoreError as exc:
        raise TrafficError(f"cannot reach the cloud: {exc}") from None


def start_traffic(function: str, count: int = 100, rate: float | None = None, payload: Any = None, *,
                  alias: str | None = None, concurrency: int = 4, endpoint: str | None = None,
                  account: str | None = None, region: str | None = None, session=None,
                  on_result: Callable[[str, bool], None] | None = None) -> TrafficRun:
    """Start sending ``count`` invocations of ``function`` (``name`` or ``name:alias``) in the
    background, at most ``rate`` a second if given; ``.result()`` waits for the tally."""
    if count < 0:
        raise ValueError("count must be 0 or more")
    if rate is not None and not rate > 0:
        raise ValueError("rate must be greater than 0")
    if alias:
        function = f"{function}:{alias}"
    client = _lambda_client(endpoint, account, region, session)
    _check_target(client, function)
    return TrafficRun(function, count, rate, payload, concurrency, client, on_result).start()


def send_traffic(function: str, count: int = 100, rate: float | None = None, payload: Any = None,
                 **options: Any) -> TrafficResult:
    """Send ``count`` invocations of ``function`` (``name`` or ``name:alias``) and return the
    tally per executed version (a table when displayed in a notebook)."""
    return start_traffic(function, count, rate, payload, **options).result()


# -- what the load balancer itself counted ---------------------------------------------------------

ELB_COUNTS = ("RequestCount", "HTTPCode_Target_2XX_Count", "HTTPCode_Target_4XX_Count", "HTTPCode_Target_5XX_Count",
              "HTTPCode_ELB_4XX_Count", "HTTPCode_ELB_5XX_Count")


def load_balancer_counts(name_or_arn: str, start, end, target_group: str | None = None,
                         client=None, elbv2=None) -> dict[str, int]:
    """The requests a load balancer (or one of its target groups) answered between ``start`` and
    ``end``, by its own ``AWS/ApplicationELB`` metrics (which no learner can write): RequestCount
    and the 2XX/4XX/5XX counts, from the targets and from the load balancer itself. What the
    checker reads; the learner's own tally (``send_http_traffic``) should agree with it."""
    from datetime import timedelta

    from checker.session import client as make_client

    elbv2 = elbv2 or make_client("elbv2")
    cw = client or make_client("cloudwatch")
    key = {"LoadBalancerArns": [name_or_arn]} if name_or_arn.startswith("arn:") else {"Names": [name_or_arn]}
    arn = elbv2.describe_load_balancers(**key)["LoadBalancers"][0]["LoadBalancerArn"]
    dims = [{"Name": "LoadBalancer", "Value": arn.split(":loadbalancer/", 1)[-1]}]
    if target_group:
        key = {"TargetGroupArns": [target_group]} if target_group.startswith("arn:") else {"Names": [target_group]}
        group = elbv2.describe_target_groups(**key)["TargetGroups"][0]["TargetGroupArn"]
        dims.append({"Name": "TargetGroup", "Value": group.split(":", 5)[-1]})
    counts = {}
    for metric in ELB_COUNTS:
        points = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName=metric, Dimensions=dims,
                                          StartTime=start.replace(microsecond=0), EndTime=end + timedelta(seconds=1),
                                          Period=60, Statistics=["Sum"])["Datapoints"]
        counts[metric] = int(sum(p["Sum"] for p in points))
    return counts
