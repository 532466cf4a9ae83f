"""``workshop traffic FUNCTION[:ALIAS]``: send invocations and print, per executed
version, how many succeeded and failed. Exit 0 when none failed, 1 when some
did, 2 when the traffic could not be sent. Reaches the cloud through boto3 only."""

from __future__ import annotations

import json
import sys


def traffic_command(args) -> int:
    from labkit.traffic import TrafficError, send_traffic

    payload = None
    if args.payload is not None:
        try:
            payload = json.loads(args.payload)
        except ValueError as exc:
            print(f"workshop traffic: --payload is not JSON: {exc}", file=sys.stderr)
            return 2
    if args.count < 0:
        print("workshop traffic: --count must be 0 or more", file=sys.stderr)
        return 2
    try:
        result = send_traffic(args.function, count=args.count, rate=args.rate, payload=payload,
                              concurrency=args.concurrency, endpoint=args.endpoint, account=args.account)
    except (TrafficError, LookupError) as exc:
        print(f"workshop traffic: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.table())
    return 1 if result.failed else 0
