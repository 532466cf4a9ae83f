"""The engine that serves Express services' endpoints locally: AWS routes
``https://NAME.ecs.REGION.on.aws`` to the shared load balancer, whose listener rule matches
that host name; here each endpoint gets its own local port, served by the ELB listener's
proxy as if every request carried the endpoint's Host header (so the rule, the target
group, access logs and metrics are the load balancer's own)."""

from __future__ import annotations

from workshop.cloud import services
from workshop.cloud.services.elbv2 import metrics
from workshop.cloud.services.elbv2.proxy import ListenerServer, Servers

_endpoints = Servers("express endpoint")         # endpoint host -> its local server


class EndpointServer(ListenerServer):
    """A listener's proxy reached on another port, for one host name (``host_header``)."""

    def __init__(self, port: int, account_id: str, region: str, load_balancer_arn: str, listener_arn: str,
                 host: str):
        self.host_header = host
        super().__init__(port, account_id, region, load_balancer_arn, listener_arn)


@services.on("ecs.express-endpoint-opened")
def open_endpoint(account_id: str, region: str, load_balancer_arn: str, listener_arn: str, host: str,
                  preferred_port: int | None = None) -> int:
    port = _endpoints.open(host, lambda port: EndpointServer(port, account_id, region, load_balancer_arn,
                                                             listener_arn, host), preferred_port)
    metrics.start()
    return port


@services.on("ecs.express-endpoint-closed")
def close_endpoint(host: str) -> None:
    _endpoints.close(host)


@services.on_account_reset
def _close_account(account_id: str) -> None:
    _endpoints.close_account(account_id)


def served() -> dict[str, int]:
    """Endpoint host -> local port, of every endpoint being served."""
    return _endpoints.served()
