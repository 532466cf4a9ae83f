"""App Runner's wire format (JSON 1.0, ``X-Amz-Target: AppRunner.Operation``) on moto's
BaseResponse, and the WSGI app the gateway serves for requests signed for ``apprunner``
(services.serve). An operation App Runner has and the cloud lacks gets the cloud's
not-implemented error."""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import BaseResponse

from workshop.cloud.services import paging
from workshop.cloud.services.apprunner.models import AppRunnerBackend, apprunner_backends, invalid


class AppRunnerResponse(BaseResponse):
    def __init__(self) -> None:
        super().__init__(service_name="apprunner")

    @property
    def backend(self) -> AppRunnerBackend:
        return apprunner_backends[self.current_account][self.region]

    def _params(self) -> dict[str, Any]:
        try:
            params = json.loads(self.body or "{}")
        except ValueError:
            raise invalid("The request body is not JSON.") from None
        if not isinstance(params, dict):
            raise invalid("The request body must be a JSON object.")
        return params

    def _page(self, items: list, params: dict) -> tuple[list, str | None]:
        size = params.get("MaxResults", 20)
        if not isinstance(size, int) or not 1 <= size <= 20:
            raise invalid(f"Value '{size}' at 'maxResults' failed to satisfy constraint: "
                          "Member must have value between 1 and 20")
        return paging.page(items, params.get("NextToken"), size, lambda: invalid("The NextToken is not valid."))

    @staticmethod
    def _json(value: dict) -> str:
        return json.dumps(value)

    # -- services -----------------------------------------------------------------------
    def create_service(self) -> str:
        service, operation = self.backend.create_service(self._params())
        return self._json({"Service": service.describe(self.backend), "OperationId": operation.id})

    def describe_service(self) -> str:
        service = self.backend.service(self._params().get("ServiceArn"))
        return self._json({"Service": service.describe(self.backend)})

    def list_services(self) -> str:
        params = self._params()
        found, token = self._page(self.backend.list_services(), params)
        out: dict[str, Any] = {"ServiceSummaryList": [s.summary() for s in found]}
        if token:
            out["NextToken"] = token
        return self._json(out)

    def delete_service(self) -> str:
        service, operation = self.backend.delete_service(self._params().get("ServiceArn"))
        return self._json({"Service": service.describe(self.backend), "OperationId": operation.id})

    def pause_service(self) -> str:
        service, operation = self.backend.pause_service(self._params().get("ServiceArn"))
        return self._json({"Service": service.describe(self.backend), "OperationId": operation.id})

    def resume_service(self) -> str:
        service, operation = self.backend.resume_service(self._params().get("ServiceArn"))
        return self._json({"Service": service.describe(self.backend), "OperationId": operation.id})

    def update_service(self) -> str:
        service, operation = self.backend.update_service(self._params())
        return self._json({"Service": service.describe(self.backend), "OperationId": operation.id})

    def start_deployment(self) -> str:
        operation = self.backend.start_deployment(self._params().get("ServiceArn"))
        return self._json({"OperationId": operation.id})

    def list_operations(self) -> str:
        params = self._params()
        found, token = self._page(self.backend.list_operations(params.get("ServiceArn")), params)
        out: dict[str, Any] = {"OperationSummaryList": [o.summary() for o in found]}
        if token:
            out["NextToken"] = token
        return self._json(out)

    # -- tags ---------------------------------------------------------------------------
    def tag_resource(self) -> str:
        params = self._params()
        self.backend.tag_resource(params.get("ResourceArn"), params.get("Tags"))
        return "{}"

    def untag_resource(self) -> str:
        params = self._params()
        self.backend.untag_resource(params.get("ResourceArn"), params.get("TagKeys"))
        return "{}"

    def list_tags_for_resource(self) -> str:
        return self._json({"Tags": self.backend.list_tags(self._params().get("ResourceArn"))})


class App:
    """The WSGI app the gateway calls for App Runner requests (as moto's apps are called)."""

    service = "apprunner"

    def __call__(self, environ: dict, start_response):
        from moto.moto_server.werkzeug_app import BackendRequest

        request = BackendRequest(environ)
        status, headers, body = AppRunnerResponse.dispatch(request, request.url, request.headers)
        headers = {k: str(v) for k, v in dict(headers).items() if k.lower() != "status"}
        headers.setdefault("Content-Type", "application/x-amz-json-1.0")
        data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        headers["Content-Length"] = str(len(data))
        start_response(f"{int(status)} {_REASONS.get(int(status), 'OK')}", list(headers.items()))
        return [data]


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
