"""The gateway: one WSGI app on one port in front of moto's own dispatcher.

It owns what every request shares: the control API (``/_localstack/health``,
``/_workshop/...``), the account rule (a 12-digit access key is the account,
passed to moto in its ``x-moto-account-id`` header; in class mode only with
a verified signature), the cross-account rule (cross_account.py), the
project's services first, and AWS-shaped errors
where moto would answer an HTML 500 or 404.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterable

from botocore.model import OperationNotFoundError

from workshop.cloud import accounts, class_mode, cross_account, errors, persistence, quotas, services
from workshop.cloud.clock import WorkshopClock
from workshop.cloud.control import ControlAPI
from workshop.cloud.services.cloudtrail import recorder

log = logging.getLogger("workshop.cloud")

_FORM = "application/x-www-form-urlencoded"
_MAX_BUFFERED_FORM = 8 * 1024 * 1024
# Operations that change nothing (an account's snapshot is written after any other request).
_READS = ("Get", "List", "Describe", "BatchGet", "Lookup", "Filter", "Search", "Query", "Scan", "Test",
          "Validate", "Estimate", "Simulate")
# ... except these, named as reads, which issue credentials the cloud must remember.
_ISSUING = {"GetSessionToken", "GetFederationToken", "GetAuthorizationToken"}


def _dispatcher():
    """moto's dispatcher (which of its apps serves a request), less its cost per request:
    to tell a host that names a moto module from one its URL patterns must match, moto
    lists its own package folder (a listdir and a stat per entry, ~170) on every request,
    under the dispatcher's one lock: measured, a quarter of the cloud's CPU for the grader's
    reads. The folder does not change while the cloud runs; the answer per host is kept."""
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    class Dispatcher(DomainDispatcherApplication):
        modules = frozenset(backends.list_of_moto_modules())
        _unknown = object()

        def __init__(self, create_app):
            super().__init__(create_app)
            self._by_host: dict = {}

        def get_backend_for_host(self, host):
            if host is None or host == "moto_api" or host in self.modules:
                return host
            found = self._by_host.get(host, self._unknown)
            if found is self._unknown:
                found = super().get_backend_for_host(host)
                if len(self._by_host) < 4096:  # hosts are few (SERVICE.REGION.amazonaws.com)
                    self._by_host[host] = found
            return found

    def create_app(service):
        # A service's first request imports its backend: never beside another import of moto
        # (the warm-up's). Later requests find the app made and take no lock but moto's.
        with services.importing():
            return create_backend_app(service)

    return Dispatcher(create_app)


class _MethodNames:
    """What moto's ``call_action`` asks of ``method_names_from_class(cls)``: whether the
    action is one of the class's functions. moto builds the list of every function of the
    response class (inspect.getmembers, per request); one lookup answers the same, and
    stays true for the methods ``services.extend`` adds."""

    def __init__(self, clazz: type):
        self.clazz = clazz

    def __contains__(self, name: object) -> bool:
        import inspect

        return isinstance(name, str) and inspect.isfunction(getattr(self.clazz, name, None))


def _quicker_moto_dispatch() -> None:
    from moto.core import responses

    responses.method_names_from_class = _MethodNames


class Gateway:
    def __init__(self, clock: WorkshopClock, admin_token: str, data_dir: str):
        self.clock = clock
        self.data_dir = data_dir
        self._moto = _dispatcher()
        _quicker_moto_dispatch()
        self._moto_lock = threading.Lock()
        self.control = ControlAPI(self, admin_token)
        # Class mode (issued keys, verified signatures) when $WORKSHOP_CLASS_KEYS names a keys file.
        class_mode.configure_from_environment(admin_token)
        services.load_eager()

    # -- WSGI ---------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path.startswith(("/_localstack/", "/_workshop/")):
            return self.control(environ, start_response)
        if path.startswith("/moto-api"):
            # moto's own reset wipes every account: only the control API resets, per account.
            return self._send(start_response, *errors.error_response(
                environ, 404, "NotFound", "Use /_workshop/accounts/ACCOUNT/reset to reset an account."))

        own = _own_auth_app(path, environ)
        if own is not None:  # the registry: its ECR tokens say the account
            return own(environ, start_response)

        environ["workshop.received"] = self.clock.now()     # CloudTrail's eventTime
        account = accounts.account_from_environ(environ)
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = account
        environ["workshop.account"] = account
        environ["workshop.gateway"] = self
        too_large = quotas.refusal(environ)   # from Content-Length: the body is never read
        if too_large is not None:
            return self._send(start_response, *too_large)
        self._buffer_form(environ)
        refusal = class_mode.refusal(environ)
        if refusal is not None:
            return self._send(start_response, *refusal)

        persistence.seen(account)
        for prefix, app in services.mounts():
            if path.startswith(prefix):
                if _changes_state(environ):  # a git push: written once the mount's answer is sent
                    return _then_changed(app(environ, start_response), account)
                return app(environ, start_response)

        try:
            # A service moto lacks (App Runner) is the project's own app, by its signing name.
            app = services.own_app(errors.signing_name(environ)) or self._moto.get_application(environ)
        except Exception:  # no moto backend for this service at all
            log.debug("no backend for %s %s", environ.get("REQUEST_METHOD"), path, exc_info=True)
            return self._send(start_response, *errors.not_implemented(environ))
        try:
            services.ensure_loaded(getattr(app, "service", None))
        except Exception as exc:  # the project's own extension failed to load: ours, not "not implemented"
            log.exception("loading the extensions of %s failed", getattr(app, "service", None))
            return self._send(start_response, *errors.internal_failure(environ, exc))
        # AWS's rule: another account's bucket, topic or queue only as its policy allows.
        refused = cross_account.refusal(environ, getattr(app, "service", None))
        if refused is not None:
            recorder.request_done(environ, refused[0], refused[1], [refused[2]])
            return self._send(start_response, *refused)
        recorder.keep_body(environ)  # for CloudTrail's requestParameters
        if not _changes_state(environ):
            return self._call_moto(app, environ, start_response)
        # The account's snapshot is never taken half-way through a change; another account's
        # bucket, topic or queue that a policy opened to the caller changes too.
        owner = environ.get("HTTP_X_MOTO_ACCOUNT_ID", account)
        if owner == account and getattr(app, "service", None) == "s3":
            owner = cross_account.s3_owner(environ) or account
        if owner != account:
            persistence.changed(owner)
        with persistence.writing(account):
            return self._call_moto(app, environ, start_response)

    def _call_moto(self, app, environ: dict, start_response: Callable) -> Iterable[bytes]:
        captured: dict = {}

        def capture(status: str, headers: list, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            # Defer: an HTML 404 from moto's router means "no such operation here".
            return lambda data: None

        try:
            body = app(environ, capture)
            chunks = list(body)
            if hasattr(body, "close"):
                body.close()
        except NotImplementedError:
            log.debug("not implemented: %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), exc_info=True)
            return self._send(start_response, *errors.not_implemented(environ))
        except UnicodeDecodeError as exc:    # moto reads every body as UTF-8 text
            return self._send(start_response, *errors.unreadable_body(environ, exc))
        except json.JSONDecodeError as exc:  # and JSON bodies (and documents in them) with json.loads
            return self._send(start_response, *errors.unreadable_json(environ, exc))
        except OperationNotFoundError as exc:  # an Action the service's API does not have
            return self._send(start_response, *errors.unknown_operation(environ, str(exc)))
        except Exception as exc:
            log.exception("moto failed on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return self._send(start_response, *errors.internal_failure(environ, exc))

        status, headers = captured["status"], captured["headers"]
        if status.startswith("404") and _is_html(headers) and errors.signing_name(environ):
            return self._send(start_response, *errors.not_implemented(environ))
        recorder.request_done(environ, status, headers, chunks)
        start_response(status, headers)
        return chunks

    @staticmethod
    def _buffer_form(environ: dict) -> None:
        """Keep a form body readable after moto has read it (to name the operation in errors)."""
        if not environ.get("CONTENT_TYPE", "").startswith(_FORM):
            return
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return
        if 0 < length <= _MAX_BUFFERED_FORM:
            body = environ["wsgi.input"].read(length)
            environ["workshop.body"] = body
            environ["wsgi.input"] = io.BytesIO(body)

    @staticmethod
    def _send(start_response: Callable, status: str, headers: list, body: bytes) -> list[bytes]:
        start_response(status, headers)
        return [body]

    # -- accounts -----------------------------------------------------------
    def reset_account(self, account_id: str) -> None:
        """Empty one account in every service, leaving the others untouched (and so it
        stays after a restart: the emptied account is written like any change)."""
        from moto.core.base_backend import BackendDict

        with persistence.writing(account_id), self._moto_lock:
            for backend_dict in list(BackendDict._instances):
                if account_id not in dict.keys(backend_dict):
                    continue
                for region_backend in list(dict.values(backend_dict[account_id])):
                    _reset_backend(region_backend)
            # Read moto's S3 module whole: the start-up warm-up may be importing it right now.
            with services.importing():
                _forget_s3_bucket_names(account_id)
        for hook in services.reset_hooks():
            hook(account_id)


def _changes_state(environ: dict) -> bool:
    """Whether a request may change the account: any but a read (REST's GET and HEAD,
    an operation named as a read)."""
    method = environ.get("REQUEST_METHOD", "GET")
    target = environ.get("HTTP_X_AMZ_TARGET")
    operation = target.rsplit(".", 1)[-1] if target else errors.query_action(environ)
    if operation:
        return operation in _ISSUING or not operation.startswith(_READS)
    return method not in ("GET", "HEAD", "OPTIONS")


def _then_changed(body: Iterable[bytes], account: str) -> Iterable[bytes]:
    try:
        yield from body
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
        persistence.changed(account)


def _reset_backend(backend) -> None:
    """Reset one account's backend of one service and region. moto's S3 reset
    also disposes the data of every object of EVERY account (its list of keys,
    ``FakeKey.instances_tracked``, is global): for S3, dispose only this
    account's objects, then reset as any other backend."""
    import sys

    s3_models = sys.modules.get("moto.s3.models")
    if s3_models is None or not isinstance(backend, s3_models.S3Backend):
        backend.reset()
        return
    from itertools import chain

    from moto.core.base_backend import BaseBackend

    for bucket in chain(backend.buckets.values(), backend.table_buckets.values()):
        for _, versions in bucket.keys._iterlists():
            for key in versions:
                if isinstance(key, s3_models.FakeKey):
                    key.dispose()
        for part in bucket.multiparts.values():
            part.dispose()
    BaseBackend.reset(backend)


def _forget_s3_bucket_names(account_id: str) -> None:
    """Bucket names are global (as in AWS): free the reset account's names."""
    import sys

    s3_models = sys.modules.get("moto.s3.models")
    if s3_models is None:
        return
    names = s3_models.s3_backends.bucket_accounts
    for name, (_, owner) in list(names.items()):
        if owner == account_id:
            names.pop(name, None)


def _own_auth_app(path: str, environ: dict) -> Callable | None:
    """The app that authenticates this request itself (the registry at /v2/), if any;
    never for a request signed as an AWS API call (API Gateway v2's /v2/apis...)."""
    for prefix, app in services.own_auth_mounts():
        if path.startswith(prefix):
            auth = environ.get("HTTP_AUTHORIZATION", "")
            if auth.startswith("AWS") or "X-Amz-Signature" in environ.get("QUERY_STRING", ""):
                return None
            return app
    return None


def _is_html(headers: list) -> bool:
    for name, value in headers:
        if name.lower() == "content-type":
            return value.startswith("text/html")
    return False
