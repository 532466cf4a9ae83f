"""The engine that serves Express services' endpoints locally: AWS routes
``https://NAME.ecs.REGION.on.aws`` to the shared load balancer, whose listener rule matches
that host name; here each endpoint gets its own local port, served by the ELB listener's
proxy as if every request carried the endpoint's Host header (so the rule, the target
group, access logs and metrics are the load balancer's own)."""

from __future__ import annotations

import logging
import threading

from workshop.cloud import services
from workshop.cloud.services.elbv2 import metrics
from workshop.cloud.services.elbv2.proxy import ListenerServer

log = logging.getLogger(__name__)

_servers: dict[str, ListenerServer] = {}        # endpoint host -> its local server
_lock = threading.Lock()


class EndpointServer(ListenerServer):
    """A listener's proxy reached on another port, for one host name (``host_header``)."""

    def __init__(self, port: int, account_id: str, region: str, load_balancer_arn: str, listener_arn: str,
                 host: str):
        self.host_header = host
        super().__init__(port, account_id, region, load_balancer_arn, listener_arn)


@services.on("ecs.express-endpoint-opened")
def open_endpoint(account_id: str, region: str, load_balancer_arn: str, listener_arn: str, host: str,
                  preferred_port: int | None = None) -> int:
    with _lock:
        server = _servers.get(host)
        if server is not None:
            return server.port
        if preferred_port:
            try:
                server = EndpointServer(int(preferred_port), account_id, region, load_balancer_arn, listener_arn,
                                        host)
            except OSError:
                log.info("express endpoint %s: port %s is taken, picking another", host, preferred_port)
        if server is None:
            server = EndpointServer(0, account_id, region, load_balancer_arn, listener_arn, host)
        _servers[host] = server
        server.thread.start()
    metrics.start()
    return server.port


@services.on("ecs.express-endpoint-closed")
def close_endpoint(host: str) -> None:
    with _lock:
        server = _servers.pop(host, None)
    if server is not None:
        threading.Thread(target=_stop, args=(server,), daemon=True).start()


def _stop(server: ListenerServer) -> None:
    server.shutdown()
    server.server_close()


@services.on_account_reset
def _close_account(account_id: str) -> None:
    with _lock:
        hosts = [h for h, s in _servers.items() if s.account_id == account_id]
    for host in hosts:
        close_endpoint(host)


def served() -> dict[str, int]:
    """Endpoint host -> local port, of every endpoint being served."""
    with _lock:
        return {host: server.port for host, server in _servers.items()}
