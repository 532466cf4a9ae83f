"""The orders service, the shop's front door.

    POST /orders {"items": [{"item": "widget", "quantity": 3}], "promo_code": "..."}
    GET  /orders/ID
"""

from __future__ import annotations

import os
import threading
import uuid

from shop.web import HttpError, call

PRICING_URL = os.environ.get("PRICING_URL", "http://127.0.0.1:8081")

_orders: dict[str, dict] = {}
_lock = threading.Lock()


def place(body: dict) -> dict:
    priced = call("POST", f"{PRICING_URL}/price", {"items": body.get("items"),
                                                   "promo_code": body.get("promo_code")})
    order = {"id": uuid.uuid4().hex[:12], **priced}
    with _lock:
        _orders[order["id"]] = order
    return order


def route(method: str, parts: list[str], query: dict, body: dict) -> tuple[int, dict]:
    if parts == ["health"]:
        return 200, {"status": "ok", "service": "orders"}
    if parts == ["orders"] and method == "POST":
        return 201, place(body)
    if len(parts) == 2 and parts[0] == "orders" and method == "GET":
        with _lock:
            order = _orders.get(parts[1])
        if order is None:
            raise HttpError(404, f"no order {parts[1]}")
        return 200, order
    raise HttpError(404, "no such route")
