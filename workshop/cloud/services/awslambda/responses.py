"""Lambda wire format for what the workshop changes: Invoke (its invocation types,
headers and status codes), InvokeAsync, and UpdateAlias with RevisionId."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.awslambda.responses import LambdaResponse
from moto.core.responses import BaseResponse

from workshop.cloud.services import extend
from workshop.cloud.services.awslambda import validation

# The invocation's own request id (the one in its logs and context) is the response's,
# as in AWS; moto would put a random one of its own in its place.
_REQUEST_ID = "x-workshop-request-id"


def _query(response: LambdaResponse, name: str) -> str | None:
    values = response.querystring.get(name) or [None]
    return values[0]


_moto_create_function = LambdaResponse.create_function


@extend(LambdaResponse)
class _LambdaResponses:
    @property
    def json_body(self) -> dict[str, Any]:
        """The request body, read once, as AWS reads it: a JSON object, else a 400."""
        cached = self.__dict__.get("_workshop_json")
        if cached is None:
            cached = self.__dict__["_workshop_json"] = validation.json_object(self.body)
        return cached

    def create_function(self):
        validation.check_create(self.json_body)   # before moto reads a FunctionName that may be missing
        return _moto_create_function(self)

    def invoke(self) -> tuple[int, dict[str, str], bytes]:
        function_name = unquote(self.path.rsplit("/", 2)[-2])
        result = self.backend.invoke_function(
            function_name, _query(self, "Qualifier"), self.raw_body or b"",
            invocation_type=self.headers.get("X-Amz-Invocation-Type") or "RequestResponse",
            client_context=self.headers.get("X-Amz-Client-Context"),
            log_tail=(self.headers.get("X-Amz-Log-Type") or "None") == "Tail",
            trace_header=self.headers.get("X-Amzn-Trace-Id"))
        headers = {"content-type": "application/json", _REQUEST_ID: result.request_id,
                   "status": str(result.status)}
        if result.executed_version and result.status == 200:
            headers["X-Amz-Executed-Version"] = result.executed_version
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if result.log_result is not None:
            headers["X-Amz-Log-Result"] = result.log_result
        return result.status, headers, result.payload

    def invoke_async(self) -> tuple[int, dict[str, Any], str]:
        # The deprecated InvokeAsync API: an Event invocation that answers {"Status": 202}.
        parts = [p for p in self.path.split("/") if p]
        function_name = unquote(parts[-2])
        self.backend.invoke_function(function_name, None, self.raw_body or b"", invocation_type="Event")
        return 202, {"status": 202}, json.dumps({"Status": 202})

    @staticmethod
    def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        ours = headers.pop(_REQUEST_ID, None)
        headers, body = BaseResponse._enrich_response(headers, body)
        if ours:
            headers["x-amzn-requestid"] = ours
        return headers, body

    def update_alias(self) -> tuple[int, dict[str, Any], str]:
        function_name = unquote(self.path.rsplit("/")[-3])
        alias_name = unquote(self.path.rsplit("/", 2)[-1])
        params = json.loads(self.body or "{}")
        alias = self.backend.update_alias(
            name=alias_name, function_name=function_name,
            function_version=params.get("FunctionVersion"), description=params.get("Description"),
            routing_config=params.get("RoutingConfig"), revision_id=params.get("RevisionId"))
        return 200, {"status": 200}, json.dumps(alias.to_json())
