"""``python -m shop orders|pricing|inventory``: serve one of the shop's services on
``PORT`` (0 or unset: a free port, printed). ``PRICING_URL`` and ``INVENTORY_URL``
say where orders and pricing find the others."""

from __future__ import annotations

import sys

from shop import telemetry
from shop.web import json_app, serve

SERVICES = ("orders", "pricing", "inventory")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SERVICES:
        print(f"usage: python -m shop {{{'|'.join(SERVICES)}}}", file=sys.stderr)
        return 2
    name = argv[0]
    telemetry.start(name)          # before the services build what it instruments
    if name == "inventory":
        from shop.inventory import Inventory

        route = Inventory().route
    elif name == "pricing":
        from shop.pricing import route
    else:
        from shop.orders import route
    try:
        serve(name, telemetry.wrap(json_app(route, name)))
    finally:
        telemetry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
