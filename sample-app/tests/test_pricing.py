"""The quoting rules: what a customer pays."""

import pytest

from app.pricing import QuoteError, bulk_rate, quote


def test_single_item_has_no_discount():
    q = quote("4.50", 1)
    assert q["subtotal"] == "4.50"
    assert q["bulk_discount"] == "0.00"
    assert q["total"] == "4.50"


def test_bulk_discount_starts_at_ten():
    # Ten items is the first tier: 5 % off.
    assert str(bulk_rate(9)) == "0"
    assert str(bulk_rate(10)) == "0.05"
    q = quote("2.00", 10)
    assert q["bulk_discount"] == "1.00"
    assert q["total"] == "19.00"


def test_largest_tier_applies():
    assert str(bulk_rate(75)) == "0.10"
    assert str(bulk_rate(1000)) == "0.15"


def test_promo_code_applies_after_bulk_discount():
    q = quote("10.00", 20, "welcome10")
    # 200.00 - 5 % = 190.00, then - 10 % = 171.00
    assert q["promo_discount"] == "19.00"
    assert q["total"] == "171.00"


def test_rounding_is_half_up_to_cents():
    assert quote("0.125", 1)["unit_price"] == "0.13"


@pytest.mark.parametrize("price,qty,code", [
    ("abc", 1, None), ("1.00", 0, None), ("1.00", "two", None), ("-1", 1, None),
    ("1.00", 1, "NOPE"), ("NaN", 1, None),
])
def test_bad_requests_are_refused(price, qty, code):
    with pytest.raises(QuoteError):
        quote(price, qty, code)
