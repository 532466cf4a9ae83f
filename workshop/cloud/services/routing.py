"""Which operation a REST request is, read from the path as the client sent it: an ARN in
one path segment (an EKS access entry's principal, ``role/team``) arrives as ``%2F``, which
the server decodes to ``/`` before moto's router reads the path, and a segment followed by
more path then no longer matches. Shared by the services that take such paths and CloudTrail."""

from __future__ import annotations

from urllib.parse import unquote


def match(service_name: str, environ: dict):
    """(botocore operation, URI parameters) for a request whose raw path encodes slashes in
    a segment, else None (moto's own routing reads the path as it is)."""
    from moto.core.request import Request
    from moto.core.routing import get_service_router

    raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").split("?")[0]
    if "%2f" not in raw.lower():
        return None
    # Decode all but the encoded slashes, so each segment stays one segment.
    kept = unquote(raw.replace("%2F", "%252F").replace("%2f", "%252F"))
    operation, params = get_service_router(service_name).match(Request(dict(environ, PATH_INFO=kept)))
    return operation, {key: unquote(value) if isinstance(value, str) else value for key, value in params.items()}
