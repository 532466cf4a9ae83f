"""The HTTP face of the sample application: a WSGI app (``application``)
with a health check, price quotes and an in-memory order book."""

from __future__ import annotations

import json
import threading
import uuid
from urllib.parse import parse_qs

from app import __version__
from app.pricing import QuoteError, quote

MAX_BODY = 64 * 1024


class OrderBook:
    """Orders placed since the process started (a real service would use a database)."""

    def __init__(self):
        self._orders: dict[str, dict] = {}
        self._lock = threading.Lock()

    def place(self, payload: dict) -> dict:
        if not isinstance(payload, dict):
            raise QuoteError("the order must be a JSON object")
        item = payload.get("item")
        if not isinstance(item, str) or not item.strip():
            raise QuoteError("the order needs an 'item' name")
        priced = quote(payload.get("unit_price"), payload.get("quantity"), payload.get("promo_code"))
        order = {"id": uuid.uuid4().hex[:12], "item": item.strip(), **priced}
        with self._lock:
            self._orders[order["id"]] = order
        return order

    def get(self, order_id: str) -> dict | None:
        with self._lock:
            return self._orders.get(order_id)

    def all(self) -> list[dict]:
        with self._lock:
            return list(self._orders.values())


class App:
    def __init__(self):
        self.orders = OrderBook()

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        try:
            status, payload = self.route(method, path, environ)
        except QuoteError as exc:
            status, payload = 400, {"error": str(exc)}
        except Exception as exc:  # the service answers, it does not crash
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}"}
        body = json.dumps(payload).encode()
        start_response(f"{status} {_REASONS.get(status, 'Error')}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def route(self, method: str, path: str, environ) -> tuple[int, dict]:
        parts = [p for p in path.split("/") if p]
        if parts == ["health"] and method == "GET":
            return 200, {"status": "ok", "version": __version__}
        if parts == ["quote"] and method == "GET":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            return 200, quote(query.get("unit_price"), query.get("quantity"), query.get("promo_code"))
        if parts == ["orders"] and method == "POST":
            return 201, self.orders.place(_json_body(environ))
        if parts == ["orders"] and method == "GET":
            return 200, {"orders": self.orders.all()}
        if len(parts) == 2 and parts[0] == "orders" and method == "GET":
            order = self.orders.get(parts[1])
            if order is None:
                return 404, {"error": f"no order {parts[1]}"}
            return 200, order
        if parts in (["health"], ["quote"], ["orders"]) or (len(parts) == 2 and parts[0] == "orders"):
            return 405, {"error": f"{method} is not allowed on {path}"}
        return 404, {"error": f"no route {path}"}


def _json_body(environ) -> dict:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        raise QuoteError("request body too large")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        raise QuoteError("the body is not valid JSON") from None


_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 500: "Internal Server Error"}

application = App()
