"""STS's GetCallerIdentity by the cloud's one caller rule (``accounts.caller``): a 12-digit
key is the account's root (UserId the account id, as AWS answers for root), a learner's
issued key in class mode their IAM user, an IAM user's key that user, a session its role."""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.sts.responses import TokenResponse

from workshop.cloud import accounts
from workshop.cloud.services import extend


@extend(TokenResponse)
class CallerIdentityResponse:
    def get_caller_identity(self) -> ActionResult:
        identity = accounts.request_caller(self.headers.environ)
        return ActionResult({"UserId": identity["principalId"], "Account": identity["accountId"],
                             "Arn": identity["arn"]})
