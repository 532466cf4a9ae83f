"""Quoting rules: unit price times quantity, a bulk discount, promotion codes.

Money is Decimal, rounded half-up to cents, as a till would.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")

# quantity threshold -> discount rate; the largest threshold reached applies
BULK_DISCOUNTS = {10: Decimal("0.05"), 50: Decimal("0.10"), 100: Decimal("0.15")}

# promotion code -> extra discount rate, applied after the bulk discount
PROMO_CODES = {"WELCOME10": Decimal("0.10"), "DEVOPS5": Decimal("0.05")}


class QuoteError(ValueError):
    """The request cannot be quoted (bad number, unknown code)."""


def to_money(value) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise QuoteError(f"not a number: {value!r}") from None
    if not amount.is_finite():
        raise QuoteError(f"not a number: {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def bulk_rate(quantity: int) -> Decimal:
    rate = Decimal("0")
    for threshold, discount in sorted(BULK_DISCOUNTS.items()):
        if quantity >= threshold:
            rate = discount
    return rate


def quote(unit_price, quantity, promo_code: str | None = None) -> dict:
    """A price quote: subtotal, the discounts that apply, and the total."""
    price = to_money(unit_price)
    if price < 0:
        raise QuoteError("unit price must not be negative")
    try:
        qty = int(quantity)
    except (TypeError, ValueError):
        raise QuoteError(f"quantity must be a whole number: {quantity!r}") from None
    if qty < 1:
        raise QuoteError("quantity must be at least 1")

    subtotal = price * qty
    rate = bulk_rate(qty)
    bulk_discount = (subtotal * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    after_bulk = subtotal - bulk_discount

    promo_discount = Decimal("0.00")
    if promo_code:
        code = promo_code.strip().upper()
        if code not in PROMO_CODES:
            raise QuoteError(f"unknown promotion code: {promo_code}")
        promo_discount = (after_bulk * PROMO_CODES[code]).quantize(CENT, rounding=ROUND_HALF_UP)

    total = after_bulk - promo_discount
    return {
        "unit_price": str(price),
        "quantity": qty,
        "subtotal": str(subtotal.quantize(CENT)),
        "bulk_discount": str(bulk_discount),
        "promo_discount": str(promo_discount),
        "total": str(total.quantize(CENT)),
    }
