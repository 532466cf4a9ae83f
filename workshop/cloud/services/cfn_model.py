"""The one base of the project's own CloudFormation resource types: moto's
``CloudFormationModel`` interface (type, Ref, Fn::GetAtt, create, update,
delete, AWS-worded failures) written once over three hooks.

A resource type says only what differs (``codebuild/cloudformation.py`` is a
short example)::

    class Thing(CfnResource, CloudFormationModel):  # name CloudFormationModel itself: moto
        cfn_type = "AWS::Svc::Thing"                  # finds types by its __subclasses__()
        cfn_name_property = "ThingName"               # "" when the type has no name property
        cfn_attributes = {"Arn": "arn"}               # Fn::GetAtt name -> the model's attribute
        ref_attribute = "name"                        # what Ref answers (the physical id)
        backend = staticmethod(svc_backend)           # (account_id, region) -> the backend

        @classmethod
        def _create(cls, backend, name, props): ...   # the API's create; returns cls(name, ...)
        def _update(self, backend, name, props): ...  # in place (return self) or self._replace(...)
        def _delete(self, backend): ...

The hooks raise the service's own errors (the stack engine reports them as
the resource's status reason, then rolls back) or ``PropertyError`` through
``integer`` / ``number`` for a property of the wrong type. After each create
and update the model carries ``account_id``, ``region`` and the
``properties`` it was given. Without ``_update`` an update fails (the type's
rules must then replace on every property). Beside the class, a ``TypeRules``
(``cloudformation/resource_types.py``) names the properties whose change
replaces the resource and reads it back for drift; the module goes in
``EXTENSIONS["cloudformation"]``. Defining a type clears moto's cached model
list, so a stack made before the import still finds it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel


class PropertyError(Exception):
    """A template property of the wrong type: CloudFormation's validation failure."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"#/{path}: {problem}")
        self.path, self.problem = path, problem


def _kind(value: Any) -> str:
    kinds = {str: "String", bool: "Boolean", int: "Integer", float: "Number", dict: "Object", list: "Array"}
    return kinds.get(type(value), type(value).__name__)


def integer(value: Any, path: str) -> int | None:
    """A template integer (templates may spell it "5"); None stays None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise PropertyError(path, f"expected type: Integer, found: {_kind(value)}")


def number(value: Any, path: str) -> float | None:
    """A template number ("0.5" or 0.5); None stays None."""
    if value is None:
        return None
    if not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise PropertyError(path, f"expected type: Number, found: {_kind(value)}")


def flag(value: Any, default: bool = False) -> bool:
    """A template boolean (true, "true", "True"); absent is ``default``."""
    if value is None:
        return default
    return value.lower() == "true" if isinstance(value, str) else bool(value)


def failure(reason: str) -> Exception:
    """The stack engine's failure of a resource, in AWS's words (raise it from a hook)."""
    # (imported here: the engine's package imports the types that import this module)
    from workshop.cloud.services.cloudformation.engine import ResourceFailure

    return ResourceFailure(reason)


# CloudFormation waits up to 3 hours for a resource to stabilize (on the clock); real work
# (tasks starting: images unpack, apps boot) does not scale, so never less than 10 real minutes.
STABILIZE_SECONDS = 3 * 3600
MIN_REAL_WAIT = 600


def wait_until(done: Callable[[], bool], timeout_reason: str, every: float = 0.5) -> None:
    """Poll ``done`` (which raises ``failure(...)`` when the resource failed) as CloudFormation
    waits on a resource it created, updated or deleted."""
    from workshop.cloud.clock import get_clock

    deadline = time.monotonic() + max(get_clock().real_seconds(STABILIZE_SECONDS), MIN_REAL_WAIT)
    while not done():
        if time.monotonic() > deadline:
            raise failure(timeout_reason)
        time.sleep(every)


@contextmanager
def cfn_failures(logical_id: str | None) -> Iterator[None]:
    """A PropertyError raised inside becomes the stack's failure in AWS's words."""
    try:
        yield
    except PropertyError as exc:
        # (imported here: the engine's package imports the types that import this module)
        from workshop.cloud.services.cloudformation.engine import ResourceFailure

        raise ResourceFailure(f"Properties validation failed for resource {logical_id or 'the resource'} "
                              f"with message: {exc}") from exc


class CfnResource:
    """Mixin for a resource type; list it before ``CloudFormationModel`` in the bases."""

    cfn_type: ClassVar[str] = ""
    cfn_name_property: ClassVar[str] = ""
    cfn_attributes: ClassVar[dict[str, str]] = {}
    ref_attribute: ClassVar[str] = "name"
    # True when a create, update or delete waits on real work (an ECS service until it is
    # stable): stacks with such a resource then run in the background, as every one does on AWS.
    cfn_takes_time: ClassVar[bool] = False

    account_id: str
    region: str
    properties: dict[str, Any]

    def __init__(self, name: str = "", **state: Any):
        self.name = name
        self.__dict__.update(state)
        self.properties = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if CloudFormationModel not in cls.__bases__:
            raise TypeError(f"{cls.__name__}: list CloudFormationModel itself among the bases "
                            "(moto finds resource types through CloudFormationModel.__subclasses__())")
        # moto caches its model list on first use. The module may be half-imported by another
        # thread (the start-up warm-up) this very moment: then it has no caches to clear yet.
        parsing = sys.modules.get("moto.cloudformation.parsing")
        for name in ("get_model_list", "get_model_map", "get_name_type_map"):
            cached = getattr(parsing, name, None)
            if cached is not None:
                cached.cache_clear()

    @staticmethod
    def backend(account_id: str, region: str) -> Any:
        raise NotImplementedError

    # -- the hooks a type implements ----------------------------------------------------
    @classmethod
    def _create(cls, backend: Any, name: str, props: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _update(self, backend: Any, name: str, props: dict[str, Any]) -> Any:
        from workshop.cloud.services.cloudformation.engine import ResourceFailure

        raise ResourceFailure(f"Update of {self.cfn_type} is not supported by the workshop cloud")

    def _delete(self, backend: Any) -> None:
        raise NotImplementedError

    @classmethod
    def _restore(cls, backend: Any, physical_id: str, props: dict[str, Any]) -> Any:
        """The model of a resource known only by its physical id and properties."""
        model = cls()
        setattr(model, cls.ref_attribute, physical_id)
        return model

    def _replace(self, backend: Any, name: str, props: dict[str, Any]) -> Any:
        """An update that needs a new physical resource: the new one first, then this one goes."""
        new = type(self)._create(backend, name, props)
        self._delete(backend)
        return new

    # -- moto's CloudFormationModel interface ----------------------------------------------
    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.cfn_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.cfn_name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.cfn_attributes

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.cfn_attributes:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()
        return getattr(self, self.cfn_attributes[attribute_name])

    @property
    def physical_resource_id(self) -> str:
        return getattr(self, self.ref_attribute)

    def is_created(self) -> bool:
        return True

    def _bind(self, account_id: str, region: str, props: dict[str, Any]) -> Any:
        self.account_id, self.region, self.properties = account_id, region, props
        return self

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> Any:
        props = cloudformation_json.get("Properties") or {}
        with cfn_failures(kwargs.get("LogicalId")):
            model = cls._create(cls.backend(account_id, region_name), resource_name, props)
        return model._bind(account_id, region_name, props)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> Any:
        props = cloudformation_json.get("Properties") or {}
        with cfn_failures(getattr(original_resource, "logical_resource_id", None)):
            model = original_resource._update(cls.backend(account_id, region_name), new_resource_name, props)
        return model._bind(account_id, region_name, props)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str) -> None:
        props = cloudformation_json.get("Properties") or {}
        backend = cls.backend(account_id, region_name)
        cls._restore(backend, resource_name, props)._bind(account_id, region_name, props)._delete(backend)

    def delete(self, account_id: str, region: str) -> None:
        self._delete(self.backend(account_id, region))
