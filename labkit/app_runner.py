"""Where a learner reaches an App Runner service: on AWS, ``https://`` and its ServiceUrl
(a host name under awsapprunner.com); in the workshop cloud, the local listener the cloud
serves the service on (its ServiceUrl is that ``127.0.0.1:PORT``, plain HTTP). Through the
one session factory, like the checker."""

from __future__ import annotations


class NoService(LookupError):
    """No such App Runner service, or it has no URL yet."""


def services(client) -> list[dict]:
    """Every service's summary (App Runner's ListServices has no boto3 paginator)."""
    found, token = [], None
    while True:
        page = client.list_services(**({"NextToken": token} if token else {}))
        found += page["ServiceSummaryList"]
        token = page.get("NextToken")
        if not token:
            return found


def service_url(name_or_arn: str, client=None) -> str:
    """The URL of an App Runner service, by name or ARN."""
    from botocore.exceptions import ClientError

    if client is None:
        from checker.session import client as make_client

        client = make_client("apprunner")
    arn = name_or_arn
    try:
        if not name_or_arn.startswith("arn:"):
            summaries = [s for s in services(client) if s["ServiceName"] == name_or_arn]
            if not summaries:
                raise NoService(f"no App Runner service {name_or_arn!r} in this account and region")
            arn = summaries[0]["ServiceArn"]
        service = client.describe_service(ServiceArn=arn)["Service"]
    except ClientError as exc:
        raise NoService(f"no App Runner service {name_or_arn!r} in this account and region ({exc})") from None
    host = service.get("ServiceUrl")
    if not host:
        raise NoService(f"App Runner service {service['ServiceName']!r} has no URL yet ({service['Status']})")
    return f"https://{host}" if host.endswith(".awsapprunner.com") else f"http://{host}"
