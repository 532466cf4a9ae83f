"""The control API: LocalStack-shaped health, and the workshop's own
``/_workshop/`` endpoints (health; reset one account; read and set the clock).

Resetting an account is allowed with that account's own credentials (the
access key id in the request's signature) or with the admin token; the clock
needs the admin token.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Iterable

from workshop import __version__
from workshop.cloud import accounts, class_mode


class ControlAPI:
    def __init__(self, gateway, admin_token: str):
        self.gateway = gateway
        self._admin_token = admin_token
        self.started = time.time()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = (environ.get("PATH_INFO") or "/").rstrip("/")
        parts = path.split("/")[1:]
        if path in ("/_localstack/health", "/_localstack/info"):
            return self._json(start_response, 200, self._localstack_health())
        if path == "/_workshop/health":
            return self._json(start_response, 200, self._health())
        if path == "/_workshop/clock":
            if not self._is_admin(environ):
                return self._denied(start_response, "the clock needs the admin token")
            if method == "GET":
                return self._json(start_response, 200, self._clock())
            if method in ("PUT", "POST"):
                return self._set_clock(environ, start_response)
            return self._json(start_response, 405, {"error": "use GET or PUT"})
        if len(parts) == 4 and parts[:2] == ["_workshop", "accounts"] and parts[3] == "reset":
            if method != "POST":
                return self._json(start_response, 405, {"error": "use POST"})
            return self._reset(environ, start_response, parts[2])
        return self._json(start_response, 404, {"error": f"no control endpoint {path}"})

    # -- endpoints ----------------------------------------------------------
    def _health(self) -> dict:
        clock = self.gateway.clock
        return {
            "status": "running",
            "version": __version__,
            "time_scale": clock.time_scale,
            "uptime_seconds": round(time.time() - self.started, 3),
        }

    def _localstack_health(self) -> dict:
        import sys

        from moto.backends import list_of_moto_modules

        running = {name.split(".")[1] for name in sys.modules
                   if name.startswith("moto.") and name.endswith(".models")}
        states = {name: ("running" if name in running else "available")
                  for name in sorted(list_of_moto_modules())}
        return {"services": states, "edition": "workshop", "version": __version__}

    def _clock(self) -> dict:
        clock = self.gateway.clock
        return {"time_scale": clock.time_scale, "now": clock.now().isoformat()}

    def _set_clock(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            body = json.loads(_read_body(environ) or b"{}")
            self.gateway.clock.set_time_scale(body["time_scale"])
        except (ValueError, KeyError, TypeError) as exc:
            return self._json(start_response, 400, {
                "error": f"send {{\"time_scale\": N}} with N > 0 ({exc})"})
        return self._json(start_response, 200, self._clock())

    def _reset(self, environ: dict, start_response: Callable, account_id: str) -> Iterable[bytes]:
        if not accounts.is_account_id(account_id):
            return self._json(start_response, 400, {"error": f"{account_id!r} is not a 12-digit account id"})
        # In class mode only a verified signature makes the caller the account's owner.
        own = class_mode.caller_account(environ) == account_id
        if not (own or self._is_admin(environ)):
            return self._denied(start_response,
                                f"resetting account {account_id} needs its own credentials or the admin token")
        self.gateway.reset_account(account_id)
        return self._json(start_response, 200, {"account": account_id, "reset": True})

    # -- helpers ------------------------------------------------------------
    def _is_admin(self, environ: dict) -> bool:
        given = environ.get("HTTP_X_WORKSHOP_ADMIN_TOKEN", "")
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if not given and auth.startswith("Bearer "):
            given = auth[7:].strip()
        return bool(given) and hmac.compare_digest(given.encode(), self._admin_token.encode())

    def _denied(self, start_response: Callable, why: str) -> Iterable[bytes]:
        return self._json(start_response, 403, {"error": f"access denied: {why}"})

    @staticmethod
    def _json(start_response: Callable, status: int, payload: dict) -> list[bytes]:
        body = json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  405: "Method Not Allowed"}.get(status, "Error")
        start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(body)))])
        return [body]


def _read_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""
