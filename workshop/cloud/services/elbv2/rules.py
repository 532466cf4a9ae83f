"""How an application load balancer picks what to do with a request, as ELB's user guide
says: rules in priority order (the default rule last), every condition of a rule must
match (any of a condition's values), wildcards ``*`` and ``?``; then the rule's action:
forward (one group, or weighted groups), fixed-response or redirect. Pure functions over
moto's listener and rule records, for the proxy engine."""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl


@dataclass
class Request:
    method: str
    path: str
    query: str
    host: str                     # the Host header as sent (may carry a port)
    headers: dict[str, str]       # lower-case names
    client_ip: str
    port: int                     # the listener's AWS port
    protocol: str = "http"
    query_pairs: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.query_pairs = parse_qsl(self.query, keep_blank_values=True)

    @property
    def host_name(self) -> str:
        host = self.host or ""
        if host.startswith("["):
            return host.split("]")[0] + "]"
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@lru_cache(maxsize=1024)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _any(patterns, value: str, ignore_case: bool) -> bool:
    return any(_wildcard(str(p), ignore_case).match(value) for p in patterns or ())


def _config_values(condition: dict, config: str) -> list:
    return list((condition.get(config) or {}).get("Values") or condition.get("Values") or [])


def condition_matches(condition: dict, request: Request) -> bool:
    name = condition.get("Field")
    if name == "path-pattern":
        return _any(_config_values(condition, "PathPatternConfig"), request.path, False)
    if name == "host-header":
        return _any(_config_values(condition, "HostHeaderConfig"), request.host_name, True)
    if name == "http-header":
        config = condition.get("HttpHeaderConfig") or {}
        value = request.headers.get(str(config.get("HttpHeaderName", "")).lower())
        return value is not None and _any(config.get("Values"), value, True)
    if name == "http-request-method":
        return request.method in (condition.get("HttpRequestMethodConfig") or {}).get("Values", [])
    if name == "query-string":
        for pair in (condition.get("QueryStringConfig") or {}).get("Values", []):
            for key, value in request.query_pairs:
                if ("Key" not in pair or _wildcard(pair["Key"], True).match(key)) and \
                        _wildcard(pair.get("Value", ""), True).match(value):
                    return True
        return False
    if name == "source-ip":
        try:
            ip = ipaddress.ip_address(request.client_ip)
            return any(ip in ipaddress.ip_network(cidr, strict=False)
                       for cidr in (condition.get("SourceIpConfig") or {}).get("Values", []))
        except ValueError:
            return False
    return False


def ordered_rules(listener) -> list:
    """The listener's rules by priority, the default rule last."""
    rules = list(listener.rules.values())
    default = [r for r in rules if r.is_default or r.priority == "default"]
    others = sorted((r for r in rules if r not in default), key=lambda r: int(r.priority))
    return others + default


def matching_rule(listener, request: Request):
    for rule in ordered_rules(listener):
        if all(condition_matches(c, request) for c in rule.conditions or []):
            return rule
    return None


def final_action(actions) -> dict | None:
    """The action that answers (authenticate-* actions run before it; none here)."""
    data = [getattr(a, "data", a) for a in actions or []]
    data.sort(key=lambda d: int(d.get("Order") or 0))
    answering = [d for d in data if d.get("Type") in ("forward", "fixed-response", "redirect")]
    return answering[-1] if answering else None


def forward_group(action: dict, rng: random.Random = random._inst) -> str | None:
    """The target group a forward action sends this request to (weighted when several)."""
    if action.get("TargetGroupArn") and not action.get("ForwardConfig"):
        return action["TargetGroupArn"]
    groups = [(g["TargetGroupArn"], int(g.get("Weight", 1) if g.get("Weight") is not None else 1))
              for g in (action.get("ForwardConfig") or {}).get("TargetGroups", [])]
    groups = [(arn, w) for arn, w in groups if w > 0]
    if not groups:
        return action.get("TargetGroupArn")
    if len(groups) == 1:
        return groups[0][0]
    return rng.choices([arn for arn, _ in groups], weights=[w for _, w in groups])[0]


def redirect(config: dict, request: Request, local_ports: dict[int, int]) -> tuple[int, str]:
    """Status and Location of a redirect action. ``#{port}`` and a port of another listener of
    the same load balancer name the local port that listener is served on (443 is HTTP here)."""
    protocol = _fill(config.get("Protocol", "#{protocol}"), request).lower()
    host = _fill(config.get("Host", "#{host}"), request)
    port_text = _fill(config.get("Port", "#{port}"), request)
    path = _fill(config.get("Path", "/#{path}"), request)
    query = _fill(config.get("Query", "#{query}"), request)
    try:
        aws_port = int(port_text)
    except ValueError:
        aws_port = request.port
    local = local_ports.get(aws_port) if config.get("Host", "#{host}") == "#{host}" else None
    if local is not None:
        protocol = "http"
        host = f"{request.host_name}:{local}"
    elif not (protocol == "http" and aws_port == 80 or protocol == "https" and aws_port == 443):
        host = f"{host}:{aws_port}"
    status = 301 if config.get("StatusCode", "HTTP_301") == "HTTP_301" else 302
    location = f"{protocol}://{host}{path if path.startswith('/') else '/' + path}"
    return status, location + (f"?{query}" if query else "")


def _fill(text: str, request: Request) -> str:
    return (str(text).replace("#{protocol}", request.protocol).replace("#{host}", request.host_name)
            .replace("#{port}", str(request.port)).replace("#{path}", request.path.lstrip("/"))
            .replace("#{query}", request.query))
