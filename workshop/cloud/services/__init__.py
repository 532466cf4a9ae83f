"""The project's own services and operations, and the one way to register them.

Each sub-package here deepens a moto service (or adds one) the way moto
itself is laid out: ``models.py`` holds state and rules, ``responses.py``
the wire format. A sub-package registers itself with the decorators below;
the gateway loads every sub-package named in ``EXTENSIONS`` before the
first request reaches the moto service it extends.

Models and engines meet here, never by import: a model announces work
(``announce("codebuild.build-queued", build=build)``) and the engine that does
it subscribes (``@on("codebuild.build-queued")`` on a function taking the same
keywords); ``ask`` is the one-answer form (``ask("lambda.invoke", ...)``
returns the engine's answer). Events are named ``service.what-happened``. An
engine module is imported by whatever loads its service (the package's
``__init__`` or ``EXTENSIONS``/``EAGER``), so it has subscribed before its
models can announce; it still starts its threads lazily, on the first event.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

# moto service name -> the modules that extend it (imported before the
# service's first request; CloudFormation resource models must exist before
# moto's first stack lists CloudFormationModel subclasses).
EXTENSIONS: dict[str, list[str]] = {
    "cloudformation": ["workshop.cloud.services.cloudformation",
                       "workshop.cloud.services.cloudwatch.cfn_resources",
                       "workshop.cloud.services.logs.cloudformation",
                       "workshop.cloud.services.awslambda.cloudformation",
                       "workshop.cloud.services.codecommit.cloudformation",
                       "workshop.cloud.services.codebuild.cloudformation",
                       "workshop.cloud.services.codedeploy.cloudformation",
                       "workshop.cloud.services.codepipeline.cloudformation",
                       "workshop.cloud.services.xray.cloudformation",
                       "workshop.cloud.services.ecr.cloudformation",
                       "workshop.cloud.services.ecs.cloudformation",
                       "workshop.cloud.services.elbv2.cloudformation",
                       "workshop.cloud.services.eks.cloudformation",
                       "workshop.cloud.services.apprunner_cloudformation"],
    "codebuild": ["workshop.cloud.services.codebuild"],
    "codepipeline": ["workshop.cloud.services.codepipeline"],
    "codecommit": ["workshop.cloud.services.codecommit.responses"],
    "codedeploy": ["workshop.cloud.services.codedeploy"],
    "awslambda": ["workshop.cloud.services.awslambda"],
    "cloudwatch": ["workshop.cloud.services.cloudwatch.responses",
                   "workshop.cloud.services.cloudwatch.alarm_states"],
    "logs": ["workshop.cloud.services.logs"],
    "s3": ["workshop.cloud.services.s3"],
    "cloudtrail": ["workshop.cloud.services.cloudtrail"],
    "ecr": ["workshop.cloud.services.ecr.responses", "workshop.cloud.services.ecr.scanner",
            "workshop.cloud.services.ecr.lifecycle_sweeper"],
    "ecs": ["workshop.cloud.services.ecs"],
    # moto serves ELB and ELBv2 on one endpoint and its dispatcher names the app "elb".
    "elb": ["workshop.cloud.services.elbv2"],
    "elbv2": ["workshop.cloud.services.elbv2"],
    "eks": ["workshop.cloud.services.eks"],
    "sns": ["workshop.cloud.services.sns"],
    "sqs": ["workshop.cloud.services.sqs"],
    "sts": ["workshop.cloud.services.sts"],
    "xray": ["workshop.cloud.services.xray", "workshop.cloud.services.xray.queries"],
    # Services moto lacks (OWN below): the module calls serve() when imported.
    "apprunner": ["workshop.cloud.services.apprunner"],
}

# Services moto does not have at all, served by the project alone: the SigV4 signing
# name of their botocore model -> the EXTENSIONS key whose modules ``serve`` their app.
OWN: dict[str, str] = {"apprunner": "apprunner"}

# Modules imported when the gateway is built (keep them light): those that
# mount WSGI apps or start engines that must run before any request.
EAGER: list[str] = ["workshop.cloud.services.cloudwatch.alarm_evaluator",
                    "workshop.cloud.services.codecommit.git_http",
                    "workshop.cloud.services.ecr.registry",
                    # mounts clusters' /eks-api/; EKS's routes exist before moto builds its URL map
                    "workshop.cloud.services.eks.endpoint",
                    # mounts /v1/traces; X-Ray's routes exist before moto builds its URL map
                    "workshop.cloud.services.xray"]

_loaded: set[str] = set()
# One lock for every import of moto and of the project's extensions of it. moto's modules
# import each other in circles (cloudformation -> awslambda -> ecr -> iam -> ...): two threads
# importing into such a circle from different ends get a partially initialised module
# ("cannot import name 'iam_backends' ... circular import"), which failed both the start-up
# warm-up and a first STS request (a 501) in a CI run. Reentrant: an import may ask again.
_importing = threading.RLock()


def importing() -> threading.RLock:
    """Held while moto's modules may be imported: the warm-up, a service's extensions, the
    gateway's first request to a moto service (which imports its backend); and while a reset
    reads moto's S3 module, which must not be half-imported."""
    return _importing


_reset_hooks: list[Callable[[str], None]] = []
_mounts: list[tuple[str, Callable]] = []
_subscribers: dict[str, list[Callable]] = {}


def on(event: str) -> Callable[[Callable], Callable]:
    """Decorator: call the decorated function with the keywords of every
    ``announce(event, ...)`` / ``ask(event, ...)`` (an engine's side)."""

    def subscribe(handler: Callable) -> Callable:
        _subscribers.setdefault(event, []).append(handler)
        return handler

    return subscribe


def announce(event: str, /, **details) -> list:
    """Tell every subscriber of ``event`` (in the order they subscribed) and
    return their answers; nobody subscribed is no error (no engine wants it).
    A subscriber's exception reaches the announcer, as a direct call's would:
    an announcer that must not fail (a push, a state change) catches it."""
    return [handler(**details) for handler in list(_subscribers.get(event, ()))]


def ask(event: str, /, **details):
    """The answer of the one subscriber of ``event`` (e.g. an invocation's
    outcome); LookupError when none or several subscribed."""
    handlers = _subscribers.get(event, ())
    if len(handlers) != 1:
        raise LookupError(f"{len(handlers)} subscribers of {event!r}: its engine module must be imported once")
    return handlers[0](**details)
_own_auth_mounts: list[tuple[str, Callable]] = []
_own_apps: dict[str, Callable] = {}


def serve(signing_name: str, app: Callable) -> None:
    """Serve every request signed for ``signing_name`` (a service moto lacks) with the
    WSGI app ``app``; its ``service`` attribute names it as moto's apps are named."""
    _own_apps[signing_name] = app


def own_app(signing_name: str | None) -> Callable | None:
    """The project's own app for requests signed for this service, loaded on first use;
    None for the services moto serves."""
    service = OWN.get(signing_name or "")
    if service is None:
        return None
    ensure_loaded(service)
    return _own_apps.get(signing_name)


def extend(moto_class: type) -> Callable[[type], type]:
    """Class decorator: the decorated class's methods are served in place of, or
    beside, moto's. Methods named after an operation in snake_case become that
    operation (moto's dispatcher finds them by name)."""

    def apply(ours: type) -> type:
        for name, value in vars(ours).items():
            if name.startswith("__") and name.endswith("__"):
                continue
            setattr(moto_class, name, value)
        return ours

    return apply


def replace_backend(backend_dict, ours: type) -> None:
    """Make one of moto's per-account/region backend dicts build ``ours`` (a
    subclass of moto's backend), also for accounts it already holds, so every
    caller (responses, CloudFormation, other engines) finds the same state."""
    backend_dict.backend = ours
    for account_backends in dict.values(backend_dict):
        account_backends.backend = ours
        for region, backend in list(dict.items(account_backends)):
            if not isinstance(backend, ours):
                dict.__setitem__(account_backends, region, ours(region, backend.account_id))


def on_account_reset(hook: Callable[[str], None]) -> Callable[[str], None]:
    """Register a function called with an account id when that account is reset."""
    _reset_hooks.append(hook)
    return hook


def mount(prefix: str, app: Callable, own_auth: bool = False) -> None:
    """Serve a WSGI app for request paths under ``prefix`` (e.g. git over HTTP).
    ``own_auth``: the app authenticates requests itself (the registry's ECR tokens),
    so it sees them before the account rule and class mode, unless they are signed
    as AWS API calls (API Gateway v2's ``/v2/apis`` beside the registry's ``/v2/``)."""
    (_own_auth_mounts if own_auth else _mounts).append((prefix, app))


def mounts() -> list[tuple[str, Callable]]:
    return list(_mounts)


def own_auth_mounts() -> list[tuple[str, Callable]]:
    return list(_own_auth_mounts)


def reset_hooks() -> list[Callable[[str], None]]:
    return list(_reset_hooks)


def ensure_loaded(moto_service: str) -> None:
    """Import the extensions of one moto service (once; cheap afterwards)."""
    if moto_service in _loaded:
        return
    if moto_service not in EXTENSIONS:
        _loaded.add(moto_service)
        return
    # The warm-up takes the lock a service at a time: a request waits for one service's
    # import at most (CloudFormation's is most of moto), never for the whole warm-up.
    with _importing:
        if moto_service in _loaded:
            return
        for module in EXTENSIONS.get(moto_service, ()):
            importlib.import_module(module)
        _loaded.add(moto_service)


def load_eager() -> None:
    for module in EAGER:
        importlib.import_module(module)


def load_all() -> None:
    for service in EXTENSIONS:
        ensure_loaded(service)
