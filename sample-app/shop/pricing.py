"""The pricing service: a quote for a whole order, from inventory's unit prices and
the sample app's quoting rules (bulk discounts, promotion codes).

    POST /price {"items": [{"item": "widget", "quantity": 3}, ...], "promo_code": "..."}
"""

from __future__ import annotations

import os
from decimal import Decimal
from urllib.parse import quote as urlquote

from app.pricing import QuoteError, quote
from shop.web import HttpError, call

INVENTORY_URL = os.environ.get("INVENTORY_URL", "http://127.0.0.1:8082")


def look_up_stock(items: list[dict]) -> list[dict]:
    """Stock and unit price of every item of the order, in order."""
    return [call("GET", f"{INVENTORY_URL}/stock/{urlquote(item['item'])}") for item in items]


def price(order: dict) -> dict:
    items = order.get("items")
    if not isinstance(items, list) or not items or not all(
            isinstance(i, dict) and isinstance(i.get("item"), str) and i["item"] for i in items):
        raise HttpError(400, "the order needs a list of items, each with an 'item' name")
    stock = look_up_stock(items)
    lines, total = [], Decimal("0")
    for item, known in zip(items, stock):
        quantity = item.get("quantity", 1)
        if not isinstance(quantity, int) or quantity < 1:
            raise HttpError(400, f"quantity of {item['item']} must be a whole number above 0")
        if known["in_stock"] < quantity:
            raise HttpError(400, f"only {known['in_stock']} {item['item']} in stock")
        try:
            line = quote(known["unit_price"], quantity, order.get("promo_code"))
        except QuoteError as exc:
            raise HttpError(400, str(exc)) from None
        lines.append({"item": item["item"], **line})
        total += Decimal(line["total"])
    return {"lines": lines, "total": str(total)}


def route(method: str, parts: list[str], query: dict, body: dict) -> tuple[int, dict]:
    if parts == ["health"]:
        return 200, {"status": "ok", "service": "pricing"}
    if parts == ["price"] and method == "POST":
        return 200, price(body)
    raise HttpError(404, "no such route")
