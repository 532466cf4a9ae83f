"""The inventory service: stock and unit prices from its own SQLite database.

    GET /stock/ITEM          one item
    GET /stock?items=a,b,c   several items in one call (what pricing should use)

Each query waits ``INVENTORY_QUERY_DELAY`` seconds (default 0.03), the round trip
to a database on another host; one request in ``INVENTORY_FAULT_EVERY`` (default 9,
0: never) loses its database connection and answers 500."""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import time

from shop.web import HttpError

STOCK = [("widget", 120, "2.50"), ("gadget", 40, "12.00"), ("gizmo", 8, "40.00"),
         ("sprocket", 500, "0.75"), ("doohickey", 0, "5.00"), ("flange", 75, "3.20"),
         ("grommet", 1000, "0.10"), ("bracket", 60, "1.80")]


class Inventory:
    def __init__(self, delay: float | None = None, fault_every: int | None = None):
        self.delay = float(os.environ.get("INVENTORY_QUERY_DELAY", "0.03")) if delay is None else delay
        every = int(os.environ.get("INVENTORY_FAULT_EVERY", "9")) if fault_every is None else fault_every
        self.fault_every = max(0, every)
        self._requests = itertools.count(1)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("CREATE TABLE stock (item TEXT PRIMARY KEY, quantity INTEGER, unit_price TEXT)")
        self._db.executemany("INSERT INTO stock VALUES (?, ?, ?)", STOCK)

    def query(self, names: list[str]) -> list[dict]:
        time.sleep(self.delay)            # the database is on another host
        marks = ",".join("?" * len(names))
        with self._lock:
            rows = self._db.execute(
                f"SELECT item, quantity, unit_price FROM stock WHERE item IN ({marks})", names).fetchall()
        found = {item: {"item": item, "in_stock": quantity, "unit_price": price} for item, quantity, price in rows}
        missing = [name for name in names if name not in found]
        if missing:
            raise HttpError(404, f"no such item: {', '.join(missing)}")
        return [found[name] for name in names]

    def route(self, method: str, parts: list[str], query: dict, body: dict) -> tuple[int, dict]:
        if parts == ["health"]:
            return 200, {"status": "ok", "service": "inventory"}
        if method != "GET" or not parts or parts[0] != "stock" or len(parts) > 2:
            raise HttpError(404 if not parts or parts[0] != "stock" else 405, "no such route")
        if self.fault_every and next(self._requests) % self.fault_every == 0:
            time.sleep(self.delay)
            raise HttpError(500, "inventory database connection reset")
        if len(parts) == 2:
            return 200, self.query([parts[1]])[0]
        names = [name for name in query.get("items", "").split(",") if name]
        if not names:
            raise HttpError(400, "name the items: /stock?items=a,b")
        return 200, {"items": self.query(names)}
