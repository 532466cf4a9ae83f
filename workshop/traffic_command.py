"""``workshop traffic FUNCTION[:ALIAS]``: send invocations and print, per executed
version, how many succeeded and failed; ``workshop traffic URL`` (or ``--load-balancer
NAME``): the same for HTTP requests, per version named by a response header or a JSON
field. Exit 0 when none failed, 1 when some did, 2 when the traffic could not be sent.
Reaches the cloud through boto3 and the URL only."""

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
    target = args.function or ""
    if args.load_balancer or target.startswith(("http://", "https://")):
        return _http(args)
    if not target:
        print("workshop traffic: name a function, a URL or --load-balancer NAME", file=sys.stderr)
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


def _http(args) -> int:
    from labkit.traffic import TrafficError, send_http_traffic

    url = args.function
    if args.load_balancer:
        from checker.session import client, target
        from labkit.load_balancers import load_balancer_url

        try:
            elbv2 = client("elbv2", target(endpoint=args.endpoint, account=args.account))
            url = load_balancer_url(args.load_balancer, args.port, client=elbv2).rstrip("/") + args.path
        except LookupError as exc:
            print(f"workshop traffic: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # the cloud is down, the credentials are wrong: say so, no traceback
            print(f"workshop traffic: cannot read load balancer {args.load_balancer!r}: {exc}", file=sys.stderr)
            return 2
    try:
        result = send_http_traffic(url, count=args.count, rate=args.rate, concurrency=args.concurrency,
                                   version_header=args.version_header or None,
                                   version_field=args.version_field or None)
    except (TrafficError, ValueError) as exc:
        print(f"workshop traffic: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.table())
    return 1 if result.failed else 0
