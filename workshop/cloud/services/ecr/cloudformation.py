"""CloudFormation's ``AWS::ECR::Repository`` on the cfn_model base (in place of moto's,
which dropped LifecyclePolicy and RepositoryPolicyText): the template becomes the calls
the ECR API makes (create_repository, put_lifecycle_policy, set_repository_policy,
put_image_*), so the lifecycle policy is validated and enforced like one put by hand.
Ref is the name; GetAtt Arn and RepositoryUri (this cloud's registry)."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.ecr.exceptions import LifecyclePolicyNotFoundException, RepositoryPolicyNotFoundException
from moto.ecr.models import Repository

from workshop.cloud.services.cfn_model import CfnResource, flag
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register, tag_list
from workshop.cloud.services.ecr.models import ecr_backends


def _backend(account_id: str, region: str):
    return ecr_backends[account_id][region]


def _text(value: Any) -> str | None:
    """A policy given as a JSON object (YAML templates) or as its text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _scan_on_push(config: Any) -> bool:
    config = config or {}
    return flag(config.get("ScanOnPush", config.get("scanOnPush")))


def _encryption(props: dict[str, Any]) -> dict[str, str]:
    given = props.get("EncryptionConfiguration") or {}
    api = {"encryptionType": given.get("EncryptionType", "AES256")}
    if given.get("KmsKey"):
        api["kmsKey"] = given["KmsKey"]
    return api


class EcrRepository(CfnResource, CloudFormationModel):
    cfn_type = "AWS::ECR::Repository"
    cfn_name_property = "RepositoryName"
    cfn_attributes = {"Arn": "arn", "RepositoryUri": "uri"}
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> EcrRepository:
        mutability = props.get("ImageTagMutability") or "MUTABLE"
        filters = Repository._convert_cfn_mutability_exclusion_filters(
            props.get("ImageTagMutabilityExclusionFilters") or [])
        repo = backend.create_repository(name, None, _encryption(props),
                                         {"scanOnPush": _scan_on_push(props.get("ImageScanningConfiguration"))},
                                         mutability, tag_list(props.get("Tags")),
                                         image_tag_mutability_exclusion_filters=filters or None)
        model = cls(repo.name, arn=repo.arn, uri=repo.uri)
        try:
            model._policies(backend, props, {})
        except Exception:   # a policy AWS refuses: the repository is not left behind
            backend.delete_repository(repo.name, force=True)
            raise
        return model

    def _update(self, backend, name: str, props: dict[str, Any]) -> EcrRepository:
        old = self.properties
        if props.get("ImageTagMutability") != old.get("ImageTagMutability") or \
                props.get("ImageTagMutabilityExclusionFilters") != old.get("ImageTagMutabilityExclusionFilters"):
            filters = Repository._convert_cfn_mutability_exclusion_filters(
                props.get("ImageTagMutabilityExclusionFilters") or [])
            backend.put_image_tag_mutability(None, self.name, props.get("ImageTagMutability") or "MUTABLE",
                                             filters or None)
        if _scan_on_push(props.get("ImageScanningConfiguration")) != \
                _scan_on_push(old.get("ImageScanningConfiguration")):
            backend.put_image_scanning_configuration(
                None, self.name, {"scanOnPush": _scan_on_push(props.get("ImageScanningConfiguration"))})
        if props.get("Tags") != old.get("Tags"):
            backend.tagger.delete_all_tags_for_resource(self.arn)
            backend.tagger.tag_resource(self.arn, tag_list(props.get("Tags")))
        self._policies(backend, props, old)
        return self

    def _policies(self, backend, props: dict[str, Any], old: dict[str, Any]) -> None:
        lifecycle = _text((props.get("LifecyclePolicy") or {}).get("LifecyclePolicyText"))
        if lifecycle != _text((old.get("LifecyclePolicy") or {}).get("LifecyclePolicyText")):
            if lifecycle:
                backend.put_lifecycle_policy(None, self.name, lifecycle)
            else:
                try:
                    backend.delete_lifecycle_policy(None, self.name)
                except LifecyclePolicyNotFoundException:
                    pass
        policy = _text(props.get("RepositoryPolicyText"))
        if policy != _text(old.get("RepositoryPolicyText")):
            if policy:
                backend.set_repository_policy(None, self.name, policy)
            else:
                try:
                    backend.delete_repository_policy(None, self.name)
                except RepositoryPolicyNotFoundException:
                    pass

    def _delete(self, backend) -> None:
        if self.name in backend.repositories:
            # AWS refuses to delete a repository with images unless EmptyOnDelete says so.
            backend.delete_repository(self.name, force=flag(self.properties.get("EmptyOnDelete")))

    @classmethod
    def _restore(cls, backend, physical_id: str, props: dict[str, Any]) -> EcrRepository:
        repo = backend.repositories.get(physical_id)
        return cls(physical_id, arn=getattr(repo, "arn", ""), uri=getattr(repo, "uri", ""))


class RepositoryRules(TypeRules):
    type_name = "AWS::ECR::Repository"
    replace_on = frozenset({"RepositoryName", "EncryptionConfiguration"})
    drift_properties = frozenset({"RepositoryName", "ImageTagMutability", "ImageTagMutabilityExclusionFilters",
                                  "ImageScanningConfiguration", "EncryptionConfiguration", "LifecyclePolicy",
                                  "RepositoryPolicyText", "Tags"})

    def physical_name(self, generated: str) -> str:
        return generated.lower()   # repository names are lower case; moto's generated name is not

    def live(self, physical_id, props, account, region):
        backend = _backend(account, region)
        repo = backend.repositories.get(physical_id)
        if repo is None:
            return None
        enc = repo.encryption_configuration or {}
        live: dict[str, Any] = {
            "RepositoryName": repo.name,
            "ImageTagMutability": getattr(repo.image_tag_mutability, "value", repo.image_tag_mutability),
            "ImageScanningConfiguration": {"ScanOnPush": _scan_on_push(repo.image_scanning_configuration)},
            "EncryptionConfiguration": {"EncryptionType": enc.get("encryptionType", "AES256"),
                                        **({"KmsKey": enc["kmsKey"]} if enc.get("kmsKey") else {})},
        }
        if repo.image_tag_mutability_exclusion_filters:
            live["ImageTagMutabilityExclusionFilters"] = [
                {"FilterType": f.get("filterType"), "Filter": f.get("filter")}
                for f in repo.image_tag_mutability_exclusion_filters]
        if repo.lifecycle_policy:
            # The registry id is the account's own unless the template named another.
            live["LifecyclePolicy"] = {"LifecyclePolicyText": json.loads(repo.lifecycle_policy),
                                       "RegistryId": (props.get("LifecyclePolicy") or {}).get("RegistryId")
                                       or repo.registry_id}
        if repo.policy:
            live["RepositoryPolicyText"] = json.loads(repo.policy)
        tags = tag_list(backend.tagger.list_tags_for_resource(repo.arn).get("tags"))
        if tags:
            live["Tags"] = tags
        return live


register(RepositoryRules())
