"""App Runner's state, which moto lacks: services built from an ECR image of the cloud's
registry, their operations (CREATE_SERVICE, START_DEPLOYMENT, UPDATE_SERVICE, PAUSE_SERVICE,
RESUME_SERVICE, DELETE_SERVICE) and tags, per account and region, with App Runner's rules
and errors. The engine (service_runner.py) runs each service's instance and ends its operations on
the clock; the models only announce (``apprunner.*``) and never import it."""

from __future__ import annotations

import re
import shlex
import threading
import uuid
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import JsonRESTError

from workshop.cloud import persistence, services
from workshop.cloud.clock import get_clock

LOCK = threading.RLock()        # the API and the engine change services and operations under it

MAX_SERVICES = 30               # App Runner's quota of services per region
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_]{3,39}$")
ECR_IMAGE = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z\-]+-[0-9])\.amazonaws\.com/"
                       r"(?P<repo>(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*)"
                       r"(?::(?P<tag>[\w+\-=.:/@]+)|@(?P<digest>[\w:]+))?$")
# The cloud's own registry (the repositoryUri ECR answers here: 127.0.0.1:4566/NAME).
LOCAL_IMAGE = re.compile(r"^(?P<host>(?:localhost|[0-9.]+|\[[0-9a-f:]+\])(?::[0-9]+)?)/"
                         r"(?P<repo>(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*)"
                         r"(?::(?P<tag>[\w+\-=.:/@]+)|@(?P<digest>[\w:]+))?$")
ROLE = re.compile(r"^arn:aws[\w-]*:iam::[0-9]{12}:(role|role/service-role)/[\w+=,.@\-/]{1,1000}$")
# Cpu -> the Memory values App Runner accepts with it (MB).
SIZES = {"256": ("512", "1024"), "512": ("1024",), "1024": ("2048", "3072", "4096"),
         "2048": ("4096",), "4096": ("8192", "10240", "12288")}
DEFAULT_HEALTH = {"Protocol": "TCP", "Path": "/", "Interval": 5, "Timeout": 2,
                  "HealthyThreshold": 1, "UnhealthyThreshold": 5}
BUSY = "OPERATION_IN_PROGRESS"


class AppRunnerError(JsonRESTError):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(code, message)
        self.code = status


def invalid(message: str) -> AppRunnerError:
    return AppRunnerError("InvalidRequestException", message)


def not_found(arn: Any) -> AppRunnerError:
    return AppRunnerError("ResourceNotFoundException", f"Resource not found: {arn}")


def invalid_state(message: str) -> AppRunnerError:
    return AppRunnerError("InvalidStateException", message)


class Operation:
    def __init__(self, kind: str, target_arn: str, status: str = "IN_PROGRESS"):
        now = get_clock().timestamp()
        self.id = uuid.uuid4().hex
        self.type = kind
        self.status = status
        self.target_arn = target_arn
        self.started_at = now if status == "IN_PROGRESS" else None
        self.ended_at: float | None = None
        self.updated_at = now
        self.reason: str | None = None      # why it failed or rolled back (the service's log says it)
        self.previous: tuple | None = None   # UPDATE_SERVICE: the configuration before it

    def summary(self) -> dict[str, Any]:
        out = {"Id": self.id, "Type": self.type, "Status": self.status, "TargetArn": self.target_arn,
               "UpdatedAt": self.updated_at}
        if self.started_at is not None:
            out["StartedAt"] = self.started_at
        if self.ended_at is not None:
            out["EndedAt"] = self.ended_at
        return out


class Service:
    def __init__(self, backend: "AppRunnerBackend", name: str, source: dict, instance: dict, health: dict,
                 network: dict, observability: dict, encryption: dict | None):
        self.name = name
        self.id = uuid.uuid4().hex
        self.arn = f"arn:aws:apprunner:{backend.region_name}:{backend.account_id}:service/{name}/{self.id}"
        self.account_id = backend.account_id
        self.region = backend.region_name
        now = get_clock().timestamp()
        self.created_at = self.updated_at = now
        self.deleted_at: float | None = None
        self.status = BUSY
        self.source = source
        self.instance = instance
        self.health = health
        self.network = network
        self.observability = observability
        self.encryption = encryption
        self.auto_scaling_arn = backend.default_auto_scaling_arn()
        self.local_port: int | None = None      # where the engine serves the service's URL
        self.deployed_digest: str | None = None  # the image digest serving (the engine sets it)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.local_port}" if self.local_port else ""

    def image(self) -> dict:
        return self.source["ImageRepository"]

    def summary(self) -> dict[str, Any]:
        return {"ServiceName": self.name, "ServiceId": self.id, "ServiceArn": self.arn, "ServiceUrl": self.url,
                "CreatedAt": self.created_at, "UpdatedAt": self.updated_at, "Status": self.status}

    def describe(self, backend: "AppRunnerBackend") -> dict[str, Any]:
        out = {**self.summary(), "SourceConfiguration": self.source, "InstanceConfiguration": self.instance,
               "HealthCheckConfiguration": self.health, "NetworkConfiguration": self.network,
               "ObservabilityConfiguration": self.observability,
               "AutoScalingConfigurationSummary": backend.auto_scaling_summary()}
        if self.encryption:
            out["EncryptionConfiguration"] = self.encryption
        if self.deleted_at is not None:
            out["DeletedAt"] = self.deleted_at
        return out


# -- what a request asks for, checked as App Runner checks it ----------------------------

def _source(value: Any, account_id: str) -> dict:
    if not isinstance(value, dict):
        raise invalid("SourceConfiguration is required.")
    code, image = value.get("CodeRepository"), value.get("ImageRepository")
    if bool(code) == bool(image):
        raise invalid("Exactly one of CodeRepository and ImageRepository must be provided in SourceConfiguration.")
    if code:
        raise invalid("A source code repository needs a GitHub or Bitbucket connection (ConnectionArn), which the "
                      "workshop cloud cannot make offline: deploy from an ECR image (ImageRepository).")
    if not isinstance(image, dict) or not isinstance(image.get("ImageIdentifier"), str):
        raise invalid("ImageRepository.ImageIdentifier is required.")
    kind = image.get("ImageRepositoryType")
    identifier = image["ImageIdentifier"]
    if kind not in ("ECR", "ECR_PUBLIC"):
        raise invalid(f"Value '{kind}' at 'sourceConfiguration.imageRepository.imageRepositoryType' failed to "
                      "satisfy constraint: Member must satisfy enum value set: [ECR, ECR_PUBLIC]")
    if kind == "ECR_PUBLIC":
        raise invalid("Amazon ECR Public is not reachable from the workshop cloud (it is offline): push the "
                      "image to a private ECR repository of your account and use ImageRepositoryType ECR.")
    if not (ECR_IMAGE.match(identifier) or LOCAL_IMAGE.match(identifier)):
        raise invalid(f"Value '{identifier}' at 'sourceConfiguration.imageRepository.imageIdentifier' failed to "
                      "satisfy constraint: Member must be an ECR image URI (REGISTRY/REPOSITORY:TAG or "
                      "REGISTRY/REPOSITORY@DIGEST)")
    config = image.get("ImageConfiguration") or {}
    if not isinstance(config, dict):
        raise invalid("ImageConfiguration must be an object.")
    port = str(config.get("Port", "8080"))
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise invalid(f"Port '{port}' is not valid: it must be a number from 1 to 65535.")
    variables = config.get("RuntimeEnvironmentVariables") or {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise invalid("RuntimeEnvironmentVariables must map names to string values.")
    reserved = [k for k in variables if k.startswith("AWSAPPRUNNER")]
    if reserved:
        raise invalid(f"Environment variable names starting with AWSAPPRUNNER are reserved: {reserved[0]}")
    start = config.get("StartCommand")
    if start is not None:
        try:
            if not isinstance(start, str) or not shlex.split(start):
                raise ValueError
        except ValueError:
            raise invalid("StartCommand must be a command line.") from None
    auth = value.get("AuthenticationConfiguration") or {}
    role = auth.get("AccessRoleArn")
    if not role:
        raise invalid("Authentication configuration is invalid: an AccessRoleArn is required for an image in a "
                      "private Amazon ECR repository (a role that build.apprunner.amazonaws.com can assume, "
                      "with AWSAppRunnerServicePolicyForECRAccess).")
    _check_access_role(role, account_id)
    auto = value.get("AutoDeploymentsEnabled", True)
    if not isinstance(auto, bool):
        raise invalid("AutoDeploymentsEnabled must be a boolean.")
    out_config = {"Port": port}
    if variables:
        out_config["RuntimeEnvironmentVariables"] = dict(variables)
    if start is not None:
        out_config["StartCommand"] = start
    if config.get("RuntimeEnvironmentSecrets"):
        out_config["RuntimeEnvironmentSecrets"] = dict(config["RuntimeEnvironmentSecrets"])
    return {"ImageRepository": {"ImageIdentifier": identifier, "ImageConfiguration": out_config,
                                "ImageRepositoryType": kind},
            "AutoDeploymentsEnabled": auto, "AuthenticationConfiguration": {"AccessRoleArn": role}}


def _check_access_role(arn: str, account_id: str) -> None:
    """App Runner assumes the access role to pull: it must exist and trust build.apprunner."""
    if not ROLE.match(arn):
        raise invalid(f"Value '{arn}' at 'sourceConfiguration.authenticationConfiguration.accessRoleArn' failed "
                      "to satisfy constraint: Member must be an IAM role ARN")
    owner = arn.split(":")[4]
    try:
        from moto.iam.models import iam_backends

        role = iam_backends[owner]["global"].get_role(arn.split(":role/", 1)[1].split("/")[-1])
    except Exception:
        raise invalid(f"Error in assuming access role {arn}: the role does not exist") from None
    import json
    from urllib.parse import unquote

    policy = role.assume_role_policy_document
    try:
        document = json.loads(unquote(policy)) if isinstance(policy, str) else policy
    except ValueError:
        document = {}
    statements = document.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    for statement in statements:
        principal = (statement.get("Principal") or {}) if isinstance(statement, dict) else {}
        service = principal.get("Service") if isinstance(principal, dict) else None
        names = service if isinstance(service, list) else [service]
        if statement.get("Effect") == "Allow" and "build.apprunner.amazonaws.com" in names:
            return
    raise invalid(f"Error in assuming access role {arn}: its trust policy does not let "
                  "build.apprunner.amazonaws.com assume it")


def _instance(value: Any, current: dict | None = None) -> dict:
    value = value if isinstance(value, dict) else {}
    current = current or {"Cpu": "1024", "Memory": "2048"}
    cpu = _size(value.get("Cpu", current["Cpu"]), "vCPU", "Cpu")
    memory = _size(value.get("Memory", current["Memory"]), "GB", "Memory")
    if memory not in SIZES.get(cpu, ()):
        raise invalid(f"The combination of Cpu {cpu} and Memory {memory} is not supported. Supported: "
                      + "; ".join(f"{c} with {', '.join(m)}" for c, m in SIZES.items()))
    out = {"Cpu": cpu, "Memory": memory}
    role = value.get("InstanceRoleArn", current.get("InstanceRoleArn"))
    if role:
        if not ROLE.match(str(role)):
            raise invalid(f"Value '{role}' at 'instanceConfiguration.instanceRoleArn' failed to satisfy constraint: "
                          "Member must be an IAM role ARN")
        out["InstanceRoleArn"] = role
    return out


def _size(value: Any, unit: str, field: str) -> str:
    text = str(value).strip()
    if text.endswith(unit):
        number = text[:-len(unit)].strip()
        try:
            return str(int(float(number) * 1024))
        except ValueError:
            pass
    if text.isdigit():
        return text
    raise invalid(f"Value '{value}' at 'instanceConfiguration.{field.lower()}' failed to satisfy constraint: "
                  f"Member must be a number of {'CPU units' if field == 'Cpu' else 'MB'} or 'N {unit}'")


def _health(value: Any, current: dict | None = None) -> dict:
    out = dict(current or DEFAULT_HEALTH)
    if value is None:
        return out
    if not isinstance(value, dict):
        raise invalid("HealthCheckConfiguration must be an object.")
    for key, given in value.items():
        if key == "Protocol":
            if given not in ("TCP", "HTTP"):
                raise invalid(f"Value '{given}' at 'healthCheckConfiguration.protocol' failed to satisfy constraint: "
                              "Member must satisfy enum value set: [TCP, HTTP]")
        elif key == "Path":
            if not isinstance(given, str) or not given.startswith("/"):
                raise invalid("HealthCheckConfiguration.Path must be a path starting with /.")
        elif key in ("Interval", "Timeout", "HealthyThreshold", "UnhealthyThreshold"):
            if not isinstance(given, int) or not 1 <= given <= 20:
                raise invalid(f"Value '{given}' at 'healthCheckConfiguration.{key[0].lower() + key[1:]}' failed to "
                              "satisfy constraint: Member must have value between 1 and 20")
        else:
            continue
        out[key] = given
    return out


def _network(value: Any) -> dict:
    value = value if isinstance(value, dict) else {}
    egress = value.get("EgressConfiguration") or {"EgressType": "DEFAULT"}
    if egress.get("EgressType", "DEFAULT") not in ("DEFAULT", "VPC"):
        raise invalid("EgressConfiguration.EgressType must be DEFAULT or VPC.")
    if egress.get("EgressType") == "VPC" and not egress.get("VpcConnectorArn"):
        raise invalid("A VpcConnectorArn is required when EgressType is VPC.")
    ingress = value.get("IngressConfiguration") or {"IsPubliclyAccessible": True}
    return {"EgressConfiguration": egress, "IngressConfiguration": ingress,
            "IpAddressType": value.get("IpAddressType", "IPV4")}


def _tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list) or not all(isinstance(t, dict) and isinstance(t.get("Key"), str)
                                              and 1 <= len(t["Key"]) <= 128 and len(str(t.get("Value", ""))) <= 256
                                              for t in value):
        raise invalid("Tags must be a list of Key (1-128 characters) and Value (up to 256 characters).")
    if any(t["Key"].lower().startswith("aws:") for t in value):
        raise invalid("Tag keys starting with aws: are reserved.")
    return {t["Key"]: str(t.get("Value", "")) for t in value}


class AppRunnerBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.services: dict[str, Service] = {}
        self.operations: dict[str, list[Operation]] = {}      # service arn -> newest first
        self.tags: dict[str, dict[str, str]] = {}
        self.auto_scaling_created = get_clock().timestamp()

    def __getstate__(self) -> dict:
        return self.__dict__.copy()

    # -- the default auto scaling configuration every service uses here ---------------
    def default_auto_scaling_arn(self) -> str:
        return (f"arn:aws:apprunner:{self.region_name}:{self.account_id}:autoscalingconfiguration/"
                "DefaultConfiguration/1/00000000000000000000000000000001")

    def auto_scaling_summary(self) -> dict:
        return {"AutoScalingConfigurationArn": self.default_auto_scaling_arn(),
                "AutoScalingConfigurationName": "DefaultConfiguration", "AutoScalingConfigurationRevision": 1,
                "Status": "ACTIVE", "CreatedAt": self.auto_scaling_created,
                "HasAssociatedService": any(s.status != "DELETED" for s in self.services.values()),
                "IsDefault": True}

    # -- services -----------------------------------------------------------------------
    def service(self, arn: Any) -> Service:
        if not isinstance(arn, str) or not arn:
            raise invalid("ServiceArn is required.")
        found = self.services.get(arn)
        if found is None:
            if not arn.startswith("arn:aws:apprunner:"):
                raise invalid(f"Value '{arn}' at 'serviceArn' failed to satisfy constraint: "
                              "Member must be an App Runner service ARN")
            raise not_found(arn)
        return found

    def live(self) -> list[Service]:
        return [s for s in self.services.values() if s.status != "DELETED"]

    def create_service(self, params: dict) -> tuple[Service, Operation]:
        name = params.get("ServiceName")
        if not isinstance(name, str) or not NAME.match(name):
            raise invalid(f"Value '{name}' at 'serviceName' failed to satisfy constraint: Member must satisfy "
                          "regular expression pattern: [A-Za-z0-9][A-Za-z0-9-_]{3,39}")
        source = _source(params.get("SourceConfiguration"), self.account_id)
        instance = _instance(params.get("InstanceConfiguration"))
        health = _health(params.get("HealthCheckConfiguration"))
        network = _network(params.get("NetworkConfiguration"))
        observability = params.get("ObservabilityConfiguration") or {"ObservabilityEnabled": False}
        tags = _tags(params.get("Tags"))
        scaling = params.get("AutoScalingConfigurationArn")
        if scaling and scaling.split("/")[1:2] != ["DefaultConfiguration"]:
            raise invalid(f"Auto scaling configuration {scaling} does not exist: the workshop cloud offers "
                          "DefaultConfiguration only.")
        with LOCK:
            if any(s.name == name for s in self.live()):
                raise invalid(f"Service with the provided name already exists: {name}")
            if len(self.live()) >= MAX_SERVICES:
                raise AppRunnerError("ServiceQuotaExceededException",
                                     f"You have reached the maximum number of services ({MAX_SERVICES}) in this region.")
            service = Service(self, name, source, instance, health, network, observability,
                              params.get("EncryptionConfiguration"))
            service.local_port = services.ask("apprunner.url-opened", service_arn=service.arn,
                                              account_id=self.account_id, region=self.region_name)
            self.services[service.arn] = service
            if tags:
                self.tags[service.arn] = tags
            operation = self._begin(service, "CREATE_SERVICE")
        return service, operation

    def _begin(self, service: Service, kind: str) -> Operation:
        """A new operation: in progress now, or PENDING behind the one in progress."""
        busy = any(o.status == "IN_PROGRESS" for o in self.operations.get(service.arn, []))
        operation = Operation(kind, service.arn, "PENDING" if busy else "IN_PROGRESS")
        self.operations.setdefault(service.arn, []).insert(0, operation)
        if not busy:
            service.status = BUSY
        service.updated_at = operation.updated_at
        persistence.changed(self.account_id)
        services.announce("apprunner.operation-started", backend=self, service=service, operation=operation)
        return operation

    def _in_progress(self, service: Service) -> Operation | None:
        return next((o for o in self.operations.get(service.arn, []) if o.status in ("IN_PROGRESS", "PENDING")),
                    None)

    def list_services(self) -> list[Service]:
        return sorted(self.live(), key=lambda s: s.created_at)

    def delete_service(self, arn: Any) -> tuple[Service, Operation]:
        with LOCK:
            service = self.service(arn)
            if service.status == "DELETED" or any(o.type == "DELETE_SERVICE" and o.status in ("IN_PROGRESS", "PENDING")
                                                  for o in self.operations.get(service.arn, [])):
                raise invalid_state(f"Service {service.name} is already being deleted.")
            if service.status == BUSY:
                raise invalid_state(f"Service {service.name} cannot be deleted while an operation is in progress: "
                                    "wait until it is RUNNING, PAUSED or CREATE_FAILED.")
            return service, self._begin(service, "DELETE_SERVICE")

    def pause_service(self, arn: Any) -> tuple[Service, Operation]:
        with LOCK:
            service = self.service(arn)
            if service.status != "RUNNING":
                raise invalid_state(f"Service {service.name} cannot be paused in state {service.status}: "
                                    "only a RUNNING service can be paused.")
            return service, self._begin(service, "PAUSE_SERVICE")

    def resume_service(self, arn: Any) -> tuple[Service, Operation]:
        with LOCK:
            service = self.service(arn)
            if service.status != "PAUSED":
                raise invalid_state(f"Service {service.name} cannot be resumed in state {service.status}: "
                                    "only a PAUSED service can be resumed.")
            return service, self._begin(service, "RESUME_SERVICE")

    def start_deployment(self, arn: Any) -> Operation:
        with LOCK:
            service = self.service(arn)
            if service.status not in ("RUNNING", BUSY) or self._in_progress(service) and \
                    self._in_progress(service).type in ("DELETE_SERVICE", "PAUSE_SERVICE", "CREATE_SERVICE"):
                raise invalid(f"Service {service.name} cannot be deployed in state {service.status}.")
            return self._begin(service, "START_DEPLOYMENT")

    def update_service(self, params: dict) -> tuple[Service, Operation]:
        with LOCK:
            service = self.service(params.get("ServiceArn"))
            if service.status != "RUNNING":
                raise invalid_state(f"Service {service.name} cannot be updated in state {service.status}: "
                                    "only a RUNNING service can be updated.")
            source = service.source
            if params.get("SourceConfiguration") is not None:
                given = params["SourceConfiguration"]
                merged = {**service.source, **given}
                if "AuthenticationConfiguration" not in given:
                    merged["AuthenticationConfiguration"] = service.source["AuthenticationConfiguration"]
                source = _source(merged, self.account_id)
            instance = _instance(params.get("InstanceConfiguration"), service.instance)
            health = _health(params.get("HealthCheckConfiguration"), service.health)
            network = _network(params.get("NetworkConfiguration") or service.network)
            previous = (service.source, service.instance, service.health, service.network)
            service.source, service.instance, service.health, service.network = source, instance, health, network
            if params.get("ObservabilityConfiguration") is not None:
                service.observability = params["ObservabilityConfiguration"]
            operation = self._begin(service, "UPDATE_SERVICE")
            operation.previous = previous   # what a failed update rolls back to
            return service, operation

    def list_operations(self, arn: Any) -> list[Operation]:
        service = self.service(arn)
        return list(self.operations.get(service.arn, []))

    # -- tags ---------------------------------------------------------------------------
    def _taggable(self, arn: Any) -> str:
        if not isinstance(arn, str) or arn not in self.services:
            raise not_found(arn)
        return arn

    def tag_resource(self, arn: Any, tags: Any) -> None:
        arn = self._taggable(arn)
        self.tags[arn] = {**self.tags.get(arn, {}), **_tags(tags)}

    def untag_resource(self, arn: Any, keys: Any) -> None:
        arn = self._taggable(arn)
        for key in keys or []:
            self.tags.get(arn, {}).pop(key, None)

    def list_tags(self, arn: Any) -> list[dict[str, str]]:
        arn = self._taggable(arn)
        return [{"Key": k, "Value": v} for k, v in self.tags.get(arn, {}).items()]

    # -- the engine's side --------------------------------------------------------------
    def finish(self, service: Service, operation: Operation, status: str, service_status: str,
               reason: str | None = None) -> None:
        """End an operation (the engine, under LOCK); the next PENDING one starts."""
        now = get_clock().timestamp()
        operation.status, operation.ended_at, operation.updated_at = status, now, now
        operation.reason = reason
        service.status, service.updated_at = service_status, now
        if operation.type == "DELETE_SERVICE" and status == "SUCCEEDED":
            service.deleted_at = now
        waiting = [o for o in self.operations.get(service.arn, []) if o.status == "PENDING"]
        if waiting and service_status != "DELETED":
            following = waiting[-1]
            following.status, following.started_at, following.updated_at = "IN_PROGRESS", now, now
            service.status = BUSY
        persistence.changed(self.account_id)

    def pushed(self, repository: str, tag: str) -> list[Operation]:
        """An image was pushed to ``repository:tag`` of this account and region: each RUNNING
        service with auto deployments from that tag starts a deployment."""
        started = []
        with LOCK:
            for service in self.live():
                image = service.image()
                if not service.source.get("AutoDeploymentsEnabled") or image["ImageRepositoryType"] != "ECR":
                    continue
                owner, name, wanted = image_reference(image["ImageIdentifier"])
                if (name, wanted) != (repository, tag) or owner not in (None, self.account_id):
                    continue
                if service.status == "RUNNING" or (service.status == BUSY and self._in_progress(service).type in
                                                   ("START_DEPLOYMENT", "UPDATE_SERVICE")):
                    started.append(self._begin(service, "START_DEPLOYMENT"))
        return started


def image_reference(identifier: str) -> tuple[str | None, str, str | None]:
    """(the account whose ECR holds it or None for the cloud's registry, repository, tag or None)."""
    match = ECR_IMAGE.match(identifier) or LOCAL_IMAGE.match(identifier)
    if match is None:
        return None, identifier, None
    account = match.groupdict().get("account")
    tag = match.group("tag") or (None if match.group("digest") else "latest")
    return account, match.group("repo"), tag


apprunner_backends = BackendDict(AppRunnerBackend, "apprunner")
