"""What the cloud answers where an EKS cluster's endpoint points (``/eks-api/ID``): the
workshop has no Kubernetes API server, and says so in a Kubernetes ``Status`` that
kubectl prints. Also adds EKS's paths that moto's URL map lacks (updates, add-ons,
access entries, cluster versions): imported eagerly, before moto builds that map."""

from __future__ import annotations

import json
from functools import lru_cache

from workshop.cloud import services

PREFIX = "/eks-api/"
MESSAGE = ("This EKS cluster lives in the workshop cloud, which runs EKS's control plane API (clusters, node "
           "groups, updates, add-ons, access entries) but no Kubernetes API server: kubectl and Kubernetes "
           "objects need a real EKS cluster.")


def kubernetes_api(environ: dict, start_response):
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": MESSAGE, "reason": "ServiceUnavailable", "code": 503}).encode()
    start_response("503 Service Unavailable", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(body)))])
    return [body]


@lru_cache(maxsize=1)
def _paths() -> list[str]:
    from botocore.loaders import create_loader

    # From botocore's data files, not a session: a session reads the environment's AWS_PROFILE.
    model = create_loader().load_service_model("eks", "service-2")
    return sorted({op["http"]["requestUri"].split("?")[0].rstrip("/") for op in model["operations"].values()})


def add_routes() -> None:
    """Every EKS operation's path reaches moto's EKS response class (its map has nine)."""
    import re

    from moto.eks import urls as moto_urls

    for path in _paths():
        # ARNs in a path (an access entry's principal, a policy) hold slashes once decoded.
        pattern = re.sub(r"\{(\w+)\+?\}", lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(1).endswith('Arn') else '[^/]+'})",
                         path)
        if "{resourceArn}" in path or pattern.startswith("/tags/"):
            continue        # moto's own (an ARN holds slashes)
        moto_urls.url_paths.setdefault("{0}" + pattern + "$", moto_urls.response.dispatch)


services.mount(PREFIX, kubernetes_api, own_auth=True)
add_routes()
