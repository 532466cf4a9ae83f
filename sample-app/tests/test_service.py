"""The HTTP API, called through WSGI the way a server would call it."""

import io
import json

import pytest

from app.service import App


@pytest.fixture
def app():
    return App()


def call(app, method, path, query="", body=None):
    raw = json.dumps(body).encode() if body is not None else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)}
    seen = {}

    def start_response(status, headers):
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(headers)

    payload = b"".join(app(environ, start_response))
    assert seen["headers"]["Content-Type"] == "application/json"
    return seen["status"], json.loads(payload)


def test_health(app):
    status, body = call(app, "GET", "/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"]


def test_quote(app):
    status, body = call(app, "GET", "/quote", "unit_price=3.00&quantity=2")
    assert status == 200
    assert body["total"] == "6.00"


def test_bad_quote_is_400(app):
    status, body = call(app, "GET", "/quote", "unit_price=x&quantity=2")
    assert status == 400
    assert "not a number" in body["error"]


def test_place_and_read_an_order(app):
    status, order = call(app, "POST", "/orders", body={"item": "mug", "unit_price": "8", "quantity": 12})
    assert status == 201
    assert order["total"] == "91.20"
    status, again = call(app, "GET", f"/orders/{order['id']}")
    assert status == 200 and again == order
    status, listing = call(app, "GET", "/orders")
    assert [o["id"] for o in listing["orders"]] == [order["id"]]


def test_unknown_order_and_route(app):
    assert call(app, "GET", "/orders/nope")[0] == 404
    assert call(app, "GET", "/nowhere")[0] == 404
    assert call(app, "DELETE", "/orders")[0] == 405


def test_order_needs_an_item(app):
    status, body = call(app, "POST", "/orders", body={"unit_price": "1", "quantity": 1})
    assert status == 400
