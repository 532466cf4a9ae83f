"""CodeDeploy state and rules, per account and region: applications,
deployment configurations, deployment groups (kept whole, as they were
given), on-premises instances, application revisions, and deployments with
their targets and lifecycle events. The deployment runner moves deployments;
this module records them and decides what AWS would (one active deployment
per group, which revision a rollback restores). It replaces moto's backend in
moto's own ``codedeploy_backends``, so every caller finds this one.

The backend is composed of one class per concept: ``applications.py``
(applications, deployment configurations and groups, revisions),
``instances.py`` (on-premises and selected instances), ``deployments.py``
(deployments, targets, rollbacks); ``validation.py`` holds the checks and the
error shape they share.

For other engines (a pipeline's CodeDeploy action): ``create_deployment(account,
region, application, group, revision)`` and ``deployment_status(account, region,
deployment_id)`` at the bottom of this module.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from moto.codedeploy import models as moto_codedeploy
from moto.core.base_backend import BaseBackend
from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource
from moto.utilities.tagging_service import TaggingService

from workshop.cloud import persistence, services
from workshop.cloud.services.codedeploy import configs
from workshop.cloud.services.codedeploy.applications import Application, ApplicationOperations, DeploymentGroup
from workshop.cloud.services.codedeploy.configs import DeploymentConfig
from workshop.cloud.services.codedeploy.deployments import Deployment, DeploymentOperations
from workshop.cloud.services.codedeploy.instances import InstanceOperations, OnPremisesInstance
from workshop.cloud.services.codedeploy.validation import _check_tags, error

# What other modules import from here (they predate the split).
from workshop.cloud.services.codedeploy.applications import revision_bytes  # noqa: F401

log = logging.getLogger("workshop.cloud.codedeploy")


class CodeDeployBackend(ApplicationOperations, InstanceOperations, DeploymentOperations, BaseBackend,
                        TaggableResourcesMixin):
    SERVICE_NAMESPACE = "codedeploy"

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = threading.RLock()
        self.applications: dict[str, Application] = {}
        self.deployment_groups: dict[str, dict[str, DeploymentGroup]] = {}
        self.configs: dict[str, DeploymentConfig] = configs.predefined()
        self.deployments: dict[str, Deployment] = {}
        self.instances: dict[str, OnPremisesInstance] = {}
        self.revisions: dict[str, dict[str, dict[str, Any]]] = {}
        self.tagger = TaggingService()

    @property
    def _url_module(self):
        # moto finds a service's URLs next to its backend's module: they stay moto's.
        from moto.codedeploy import urls

        return urls

    def reset(self) -> None:
        # A reset account's running deployments stop (their scripts killed) and record nothing more.
        services.announce("codedeploy.backend-reset", account_id=self.account_id, region=self.region_name)
        super().reset()

    def arn(self, resource: str) -> str:
        return f"arn:{self.partition}:codedeploy:{self.region_name}:{self.account_id}:{resource}"

    def application_arn(self, name: str) -> str:
        return self.arn(f"application:{name}")

    def group_arn(self, application: str, group: str) -> str:
        return self.arn(f"deploymentgroup:{application}/{group}")

    def config_arn(self, name: str) -> str:
        return self.arn(f"deploymentconfig:{name}")

    # -- tags ---------------------------------------------------------------------------
    def _check_arn(self, arn: Any) -> None:
        if not arn:
            raise error("ResourceArnRequiredException", "The ARN of a resource is required.")
        prefix = f"arn:{self.partition}:codedeploy:{self.region_name}:{self.account_id}:"
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise error("InvalidArnException", f"The ARN {arn} is not valid.")
        if not arn.startswith(prefix):
            raise error("ArnNotSupportedException", f"The ARN {arn} is not a CodeDeploy resource of this "
                        "account and region.")
        resource = arn[len(prefix):]
        kind, _, name = resource.partition(":")
        if kind == "application":
            self.get_application(name)
        elif kind == "deploymentgroup":
            app, _, group = name.partition("/")
            self.get_deployment_group(app, group)
        elif kind == "deploymentconfig":
            self.get_deployment_config(name)
        else:
            raise error("ArnNotSupportedException", f"Tags are not supported for {arn}.")

    def list_tags_for_resource(self, arn: Any) -> list[dict[str, str]]:
        self._check_arn(arn)
        return self.tagger.list_tags_for_resource(arn)["Tags"]

    def tag_resource(self, arn: Any, tags: Any) -> None:   # also the Resource Groups Tagging API's
        if isinstance(tags, dict):   # the tagging API passes a dict
            tags = [{"Key": k, "Value": v} for k, v in tags.items()]
        self._check_arn(arn)
        self.tagger.tag_resource(arn, _check_tags(tags, required=True))

    def untag_resource(self, arn: Any, keys: Any) -> None:
        self._check_arn(arn)
        if not keys:
            raise error("TagRequiredException", "A tag was not specified.")
        self.tagger.untag_resource_using_names(arn, list(keys))

    def iter_tagged_resources(self) -> Iterator[TaggedResource]:
        for name in list(self.applications):
            arn = self.application_arn(name)
            yield TaggedResource(arn=arn, tags=self.tagger.get_tag_dict_for_resource(arn),
                                 resource_type="codedeploy:application")
        for app_name, groups in list(self.deployment_groups.items()):
            for group_name in list(groups):
                arn = self.group_arn(app_name, group_name)
                yield TaggedResource(arn=arn, tags=self.tagger.get_tag_dict_for_resource(arn),
                                     resource_type="codedeploy:deploymentgroup")


services.replace_backend(moto_codedeploy.codedeploy_backends, CodeDeployBackend)


codedeploy_backends = moto_codedeploy.codedeploy_backends


def codedeploy_backend(account_id: str, region: str) -> CodeDeployBackend:
    return codedeploy_backends[account_id][region]


LOST = "The workshop cloud stopped during this deployment: its work was lost."


@services.on(persistence.RESTORED)
def _end_lost_deployments(account_id: str) -> None:
    """Deployments the cloud's stop cut short are stopped (the lifecycle event under way fails),
    and rolled back where their group rolls back on failure."""
    for backend in persistence.backends(codedeploy_backends, account_id):
        for deployment in list(backend.deployments.values()):
            if not deployment.active:
                continue
            for target in list(deployment.targets.values()):
                for event in list(target.events):
                    if event["status"] == "InProgress":
                        target.end(event["lifecycleEventName"], "Failed", "UnknownError", LOST)
                if target.status in ("InProgress", "Pending"):
                    target.skip_rest()
                    target.set_status("Failed" if target.touched else "Skipped")
            backend.finish_deployment(deployment, "Stopped", "INTERNAL_ERROR", LOST, "lost")


def create_deployment(account: str, region: str, application: str, group: str, revision: dict[str, Any],
                      **options: Any) -> str:
    """Start a deployment as CreateDeployment does (same checks, same errors: moto
    ``CodeDeployException``s); ``options`` are CreateDeployment's other members
    (description, deploymentConfigName, ...). Returns the deployment id."""
    return codedeploy_backend(account, region).create_deployment(application, group, revision, options).id


def deployment_status(account: str, region: str, deployment_id: str) -> dict[str, Any]:
    """The deployment as GetDeployment's deploymentInfo has it: ``status`` (one of
    Created, Queued, InProgress, Baking, Ready, Succeeded, Failed, Stopped),
    ``errorInformation``, ``rollbackInfo``, ``completeTime``..."""
    return codedeploy_backend(account, region).get_deployment(deployment_id).to_dict()
