"""Where a learner reaches a load balancer: on AWS, its DNS name; in the workshop cloud, the
local URL the cloud serves each listener on (the ``workshop:url`` tag it sets on the
listener), never a guessed port. Through the one session factory, like the checker."""

from __future__ import annotations

URL_TAG = "workshop:url"


class NoListener(LookupError):
    """The load balancer does not exist, or has no listener to reach."""


def listener_urls(name_or_arn: str, client=None) -> dict[int, str]:
    """Each listener's AWS port -> the URL it is reached at (the local URL in the workshop
    cloud, ``PROTOCOL://DNSName:PORT`` elsewhere)."""
    from botocore.exceptions import ClientError

    if client is None:
        from checker.session import client as make_client

        client = make_client("elbv2")
    key = {"LoadBalancerArns": [name_or_arn]} if name_or_arn.startswith("arn:") else {"Names": [name_or_arn]}
    try:
        balancer = client.describe_load_balancers(**key)["LoadBalancers"][0]
    except (ClientError, IndexError) as exc:
        raise NoListener(f"no load balancer {name_or_arn!r} in this account and region ({exc})") from None
    listeners = client.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    if not listeners:
        raise NoListener(f"load balancer {balancer['LoadBalancerName']!r} has no listener yet: create one")
    tags = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d.get("Tags", [])}
            for d in client.describe_tags(ResourceArns=[l["ListenerArn"] for l in listeners])["TagDescriptions"]}
    urls = {}
    for listener in listeners:
        local = tags.get(listener["ListenerArn"], {}).get(URL_TAG)
        scheme = "https" if listener.get("Protocol") == "HTTPS" else "http"
        urls[int(listener["Port"])] = local or f"{scheme}://{balancer['DNSName']}:{listener['Port']}"
    return urls


def load_balancer_url(name_or_arn: str, port: int | None = None, client=None) -> str:
    """The URL to send requests to a load balancer's listener on ``port`` (its AWS port: 80,
    443, 8080...; default: the port-80 listener, else the lowest port)."""
    urls = listener_urls(name_or_arn, client)
    if port is not None:
        if int(port) not in urls:
            raise NoListener(f"{name_or_arn!r} has no listener on port {port} (it has {sorted(urls)})")
        return urls[int(port)]
    return urls.get(80) or urls[min(urls)]


def express_service_url(service_arn: str, client=None) -> str:
    """The URL to send requests to an ECS Express Mode service: in the workshop cloud, the local
    URL the cloud serves its endpoint on (the ``workshop:url`` tag on the ECS service: it
    reaches the shared load balancer with the endpoint's host name); on AWS, its endpoint."""
    from botocore.exceptions import ClientError

    if client is None:
        from checker.session import client as make_client

        client = make_client("ecs")
    try:
        service = client.describe_express_gateway_service(serviceArn=service_arn)["service"]
    except ClientError as exc:
        raise NoListener(f"no Express service {service_arn!r} ({exc})") from None
    tags = {t["key"]: t["value"] for t in client.list_tags_for_resource(resourceArn=service_arn).get("tags", [])}
    if tags.get(URL_TAG):
        return tags[URL_TAG]
    for config in service.get("activeConfigurations") or []:
        for path in config.get("ingressPaths") or []:
            if path.get("endpoint"):
                return path["endpoint"]
    raise NoListener(f"Express service {service_arn!r} has no endpoint yet")
