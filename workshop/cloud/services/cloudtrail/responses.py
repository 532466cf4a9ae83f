"""LookupEvents on moto's CloudTrail (the wire format; the history is models.py).
No operation writes or deletes history: only the recorder appends, only a reset clears."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from moto.cloudtrail.responses import CloudTrailResponse
from moto.core.exceptions import JsonRESTError

from workshop.cloud import services
from workshop.cloud.clock import get_clock
from workshop.cloud.services.cloudtrail import models, recorder


class LookupFailed(JsonRESTError):
    code = 400


@services.extend(CloudTrailResponse)
class Lookups:
    def lookup_events(self) -> str:
        params = json.loads(self.body or "{}")
        category = params.get("EventCategory")
        if category not in (None, "insight"):
            raise LookupFailed("InvalidEventCategoryException", "The event category is not valid.")
        recorder.flush()
        try:
            page = models.lookup(self.current_account, self.region, get_clock().now(),
                                 attributes=params.get("LookupAttributes"),
                                 start=_time(params.get("StartTime")), end=_time(params.get("EndTime")),
                                 max_results=params.get("MaxResults"), next_token=params.get("NextToken"))
        except models.LookupRefused as exc:
            raise LookupFailed(exc.code, exc.message) from None
        events = [] if category == "insight" else [models.as_api(e) for e in page.events]
        body = {"Events": events}
        if page.next_token and category != "insight":
            body["NextToken"] = page.next_token
        return json.dumps(body)


def _time(value) -> datetime | None:
    """A JSON-protocol timestamp: epoch seconds (boto3) or ISO 8601 (other clients)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    try:
        return datetime.fromtimestamp(float(value), timezone.utc)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise LookupFailed("InvalidTimeRangeException", f"Invalid time: {value}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
