"""What EKS's state modules share: the one lock its changes are made under, the clock's
now, and EKS's errors in its own words (moto's exception classes)."""

from __future__ import annotations

import threading
from datetime import datetime

from moto.eks.exceptions import (
    EKSError,
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)

from workshop.cloud.clock import get_clock

LOCK = threading.RLock()        # the API and the engine change EKS state under it


def now() -> datetime:
    return get_clock().now()


def not_found(message: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(clusterName=None, nodegroupName=None, fargateProfileName=None,
                                     addonName=None, message=message)


def in_use(message: str) -> ResourceInUseException:
    return ResourceInUseException(clusterName=None, nodegroupName=None, addonName=None, message=message)


def invalid(message: str) -> InvalidParameterException:
    return InvalidParameterException(message=message)


def invalid_request(message: str) -> InvalidRequestException:
    return InvalidRequestException(message=message)


class NotFoundException(EKSError):
    """The tagging operations' answer for an ARN EKS does not hold."""
    TYPE = "NotFoundException"
    STATUS = 404
