"""OpenTelemetry for the shop's services: a span for every request a service serves
(the WSGI middleware), for every call it makes to another service (urllib's
instrumentation, which also carries the trace context in ``traceparent``) and for
inventory's database queries (sqlite3's), sent over OTLP/HTTP to X-Ray's
``/v1/traces`` endpoint: the workshop cloud's, or AWS's.

Where the spans go: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` if set, else
``$AWS_ENDPOINT_URL/v1/traces`` (the workshop cloud), else
``https://xray.REGION.amazonaws.com/v1/traces``; with AWS credentials the requests
are SigV4-signed for the service ``xray`` (the AWS distro's exporter), as X-Ray
requires. ``OTEL_SDK_DISABLED=true`` turns tracing off."""

from __future__ import annotations

import os

_provider = None


def traces_endpoint() -> str | None:
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    if os.environ.get("AWS_ENDPOINT_URL"):
        return os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/v1/traces"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return f"https://xray.{region}.amazonaws.com/v1/traces" if region else None


def _exporter(endpoint: str):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    try:
        import botocore.session

        session = botocore.session.get_session()
        if session.get_credentials() is None:
            raise LookupError("no AWS credentials")
        from amazon.opentelemetry.distro.exporter.otlp.aws.traces.otlp_aws_span_exporter import (
            OTLPAwsSpanExporter)
    except (ImportError, LookupError):
        return OTLPSpanExporter(endpoint=endpoint)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return OTLPAwsSpanExporter(aws_region=region, session=session, endpoint=endpoint)


def start(service_name: str) -> bool:
    """Trace this process as ``service_name``; False when tracing is off or has nowhere to go."""
    global _provider
    endpoint = traces_endpoint()
    if endpoint is None or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    options = {}
    try:   # X-Ray's own trace ids (time-prefixed); AWS accepts W3C ids too
        from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator

        options["id_generator"] = AwsXRayIdGenerator()
    except ImportError:
        pass
    _provider = TracerProvider(resource=Resource.create({"service.name": service_name,
                                                         "cloud.provider": "aws"}), **options)
    _provider.add_span_processor(BatchSpanProcessor(_exporter(endpoint), schedule_delay_millis=500))
    trace.set_tracer_provider(_provider)
    URLLibInstrumentor().instrument()
    try:
        from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

        SQLite3Instrumentor().instrument()
    except ImportError:
        pass
    return True


def wrap(app):
    """The WSGI app with a server span per request (unchanged when tracing is off)."""
    if _provider is None:
        return app
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(app)


def stop() -> None:
    """Send the spans still waiting in the batch (at exit, before the process ends)."""
    if _provider is not None:
        _provider.shutdown()
