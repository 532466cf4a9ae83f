"""Access logs as an application load balancer writes them: when its attributes say so
(``access_logs.s3.enabled``, ``.bucket``, ``.prefix``), one line per request in ELB's
format, gathered and written every 5 minutes of the workshop clock as a gzip object
``PREFIX/AWSLogs/ACCOUNT/elasticloadbalancing/REGION/YYYY/MM/DD/ACCOUNT_elasticloadbalancing_
REGION_app.NAME.ID_YYYYMMDDTHHMMZ_IP_RANDOM.log.gz`` in the account's own bucket.
Per-request records for the learner; the counters a check trusts are ``metrics.py``'s."""

from __future__ import annotations

import gzip
import logging
import threading
import time
import uuid
from datetime import datetime, timezone

from workshop.cloud import persistence
from workshop.cloud.clock import get_clock
from workshop.cloud.services.elbv2 import metrics

log = logging.getLogger(__name__)

EVERY = 300.0           # AWS seconds between the files of a load balancer

_lock = threading.Lock()
_lines: dict[tuple[str, str, str, str, str], list[str]] = {}   # (account, region, lb arn, bucket, prefix)
_thread: threading.Thread | None = None


def enabled(attributes: dict) -> bool:
    return str(attributes.get("access_logs.s3.enabled", "false")).lower() == "true" and \
        bool(attributes.get("access_logs.s3.bucket"))


def record(handler, status: int, sent_bytes: int) -> None:
    """The proxy answered a request: keep its line when the load balancer logs."""
    balancer = getattr(handler, "balancer", None)
    if balancer is None or not enabled(balancer.attrs):
        return
    try:
        line = entry(handler, status, sent_bytes)
    except Exception:   # a log line must never cost the request
        log.exception("access log entry")
        return
    server = handler.server
    key = (server.account_id, server.region, balancer.arn, balancer.attrs["access_logs.s3.bucket"],
           str(balancer.attrs.get("access_logs.s3.prefix") or ""))
    with _lock:
        _lines.setdefault(key, []).append(line)
    _start()


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quoted(text) -> str:
    return '"' + str(text if text not in (None, "") else "-").replace('"', '\\"') + '"'


def entry(handler, status: int, sent_bytes: int) -> str:
    """One line in ELB's access log format (fields in AWS's order)."""
    listener_port = handler.server.server_address[1]
    rule = handler.rule
    priority = "-" if rule is None else ("0" if rule.is_default or rule.priority == "default" else str(rule.priority))
    forwarded = handler.target is not None and handler.target_status is not None
    host = handler.headers.get("Host") or f"127.0.0.1:{listener_port}"
    scheme = getattr(handler, "scheme", "http")
    request = f"{handler.command} {scheme}://{host}{handler.path} {handler.request_version}"
    fields = [
        scheme, _iso(time.time()), metrics.dimension(handler.balancer.arn),
        f"{handler.client_address[0]}:{handler.client_address[1]}",
        handler.target or "-",
        "0.000" if handler.target else "-1",
        f"{handler.target_seconds:.3f}" if handler.target_seconds is not None else "-1",
        "0.000" if forwarded else "-1",
        str(status), str(handler.target_status) if handler.target_status is not None else "-",
        str(handler.received_bytes), str(sent_bytes), _quoted(request),
        _quoted(handler.headers.get("User-Agent")), "-", "-", handler.group_arn or "-",
        _quoted(handler.headers.get("X-Amzn-Trace-Id")), _quoted(None), _quoted(None), priority,
        _iso(handler.received_at), _quoted((handler.action or {}).get("Type")), _quoted(handler.redirect_url),
        _quoted(handler.error_reason), _quoted(handler.target),
        _quoted(handler.target_status), _quoted(None), _quoted(None), "-",
    ]
    return " ".join(fields)


def _start() -> None:
    global _thread
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_run, name="elb-access-logs", daemon=True)
        _thread.start()


def _run() -> None:
    while True:
        get_clock().wait(EVERY)
        try:
            flush()
        except Exception:
            log.exception("writing access logs")


def flush() -> None:
    """Write what each load balancer gathered since its last file."""
    from workshop.cloud.services.s3 import objects

    with _lock:
        taken = dict(_lines)
        _lines.clear()
    now = datetime.now(timezone.utc)
    for (account, region, lb_arn, bucket, prefix), lines in taken.items():
        name = metrics.dimension(lb_arn).replace("/", ".")
        key = "/".join(p for p in (prefix.strip("/"), "AWSLogs", account, "elasticloadbalancing", region,
                                   now.strftime("%Y/%m/%d"), f"{account}_elasticloadbalancing_{region}_{name}_"
                                   f"{now.strftime('%Y%m%dT%H%MZ')}_127.0.0.1_{uuid.uuid4().hex[:8]}.log.gz") if p)
        try:
            objects.write_object(account, bucket, key, gzip.compress(("\n".join(lines) + "\n").encode()))
            persistence.changed(account)
        except objects.S3ObjectError as exc:
            log.info("access log of %s not written: %s", lb_arn, exc.message)
