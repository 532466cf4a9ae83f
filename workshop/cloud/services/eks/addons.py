"""EKS add-ons (CREATING/UPDATING/DELETING on the clock, versions from catalog.py) and
access entries with their access policies (immediate, as in EKS), per cluster: a mixin
of the EKS backend (models.py). Add-ons are dicts in EKS's wire shape (``ws_addons``);
an access entry is its wire dict and its associated policies (``ws_access_entries``)."""

from __future__ import annotations

import re
import uuid

from moto.eks.models import CLUSTER_NOT_READY_MSG

from workshop.cloud.services.eks import catalog
from workshop.cloud.services.eks.common import LOCK, in_use, invalid, invalid_request, not_found, now

ADDON_CREATE = 90               # AWS seconds
ADDON_UPDATE = 120
ADDON_DELETE = 60
ENTRY_TYPES = ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX",
               "HYPERPOD_LINUX")
_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):(role|user)/(?:.*/)?([^/]+)$")
_NEEDS_API = ("The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
              "to perform this operation.")


class AddonsAndAccessMixin:
    # -- add-ons -------------------------------------------------------------------------
    def _addon(self, cluster_name: str, addon_name: str) -> dict:
        cluster = self._cluster(cluster_name)
        addon = cluster.ws_addons.get(addon_name)
        if addon is None:
            raise not_found(f"No addon: {addon_name} found in cluster: {cluster_name}")
        return addon

    def describe_addon(self, cluster_name: str, addon_name: str) -> dict:
        return self._addon(cluster_name, addon_name)

    def list_addons(self, cluster_name: str) -> list[str]:
        return sorted(self._cluster(cluster_name).ws_addons)

    def _check_addon_version(self, cluster, addon_name: str, version: str | None) -> str:
        if addon_name not in catalog.ADDONS or not catalog.addon_versions(addon_name, cluster.version):
            raise invalid(f"Addon {addon_name} specified is not supported in {cluster.version} kubernetes version")
        version = version or catalog.default_addon_version(addon_name, cluster.version)
        if version not in catalog.addon_versions(addon_name, cluster.version):
            raise invalid(f"Addon version {version} specified is not supported for {addon_name} in "
                          f"{cluster.version} kubernetes version")
        return version

    def create_addon(self, cluster_name: str, addon_name: str, addon_version: str | None = None,
                     service_account_role_arn: str | None = None, configuration_values: str | None = None,
                     tags: dict | None = None, **_ignored) -> dict:
        with LOCK:
            cluster = self._cluster(cluster_name)
            if cluster.status not in ("ACTIVE", "UPDATING"):
                raise invalid_request(CLUSTER_NOT_READY_MSG.format(clusterName=cluster_name))
            version = self._check_addon_version(cluster, addon_name, addon_version)
            if addon_name in cluster.ws_addons:
                raise in_use("Addon already exists.")
            at = now()
            addon = {"addonName": addon_name, "clusterName": cluster_name, "status": "CREATING",
                     "addonVersion": version, "health": {"issues": []},
                     "addonArn": f"arn:aws:eks:{self.region_name}:{self.account_id}:addon/{cluster_name}/"
                                 f"{addon_name}/{uuid.uuid4()}",
                     "createdAt": at, "modifiedAt": at, "tags": dict(tags or {}), "publisher": "eks",
                     "owner": "aws"}
            if service_account_role_arn:
                addon["serviceAccountRoleArn"] = service_account_role_arn
            if configuration_values:
                addon["configurationValues"] = configuration_values
            cluster.ws_addons[addon_name] = addon
            self._start("addon-create", cluster_name, ADDON_CREATE, name=addon_name)
        return addon

    def update_addon(self, cluster_name: str, addon_name: str, addon_version: str | None = None,
                     service_account_role_arn: str | None = None, resolve_conflicts: str | None = None,
                     configuration_values: str | None = None, **_ignored) -> dict:
        with LOCK:
            cluster = self._cluster(cluster_name)
            addon = self._addon(cluster_name, addon_name)
            if addon["status"] != "ACTIVE" or self._running_update(cluster, addon=addon_name):
                raise in_use(f"Addon {addon_name} is in {addon['status']} status; it can be updated once ACTIVE")
            apply: dict = {}
            params: list[tuple[str, object]] = []
            if addon_version:
                apply["addonVersion"] = self._check_addon_version(cluster, addon_name, addon_version)
                params.append(("AddonVersion", addon_version))
            if service_account_role_arn is not None:
                apply["serviceAccountRoleArn"] = service_account_role_arn
                params.append(("ServiceAccountRoleArn", service_account_role_arn))
            if configuration_values is not None:
                apply["configurationValues"] = configuration_values
                params.append(("ConfigurationValues", configuration_values))
            if resolve_conflicts:
                params.append(("ResolveConflicts", resolve_conflicts))
            addon["status"] = "UPDATING"
            return self._new_update(cluster, "AddonUpdate", params, ADDON_UPDATE, apply, addon=addon_name)

    def delete_addon(self, cluster_name: str, addon_name: str) -> dict:
        with LOCK:
            addon = self._addon(cluster_name, addon_name)
            if addon["status"] not in ("ACTIVE", "DEGRADED", "CREATE_FAILED", "UPDATE_FAILED"):
                raise in_use(f"Addon {addon_name} is in {addon['status']} status; it can be deleted once ACTIVE")
            addon["status"] = "DELETING"
            self._start("addon-delete", cluster_name, ADDON_DELETE, name=addon_name)
        return addon

    def _finish_addon(self, cluster, work: dict) -> None:
        addon = cluster.ws_addons.get(work["name"])
        if addon is None:
            return
        if work["kind"] == "addon-create":
            addon["status"] = "ACTIVE"
        elif work["kind"] == "addon-delete":
            cluster.ws_addons.pop(work["name"], None)

    # -- access entries ------------------------------------------------------------------
    def _access_cluster(self, cluster_name: str):
        cluster = self._cluster(cluster_name)
        if cluster.ws_access_config["authenticationMode"] == "CONFIG_MAP":
            raise invalid_request(_NEEDS_API)
        return cluster

    def _entry(self, cluster_name: str, principal_arn: str) -> dict:
        cluster = self._access_cluster(cluster_name)
        found = cluster.ws_access_entries.get(principal_arn)
        if found is None:
            raise not_found(f"The specified principalArn could not be found. You can view your available access "
                            f"entries with 'list-access-entries'.")
        return found

    def _bootstrap_creator(self, cluster, principal_arn: str) -> None:
        """The cluster creator as an admin (EKS's bootstrapClusterCreatorAdminPermissions)."""
        self._new_entry(cluster, principal_arn, [], None, "STANDARD", {})
        self._associate(cluster, principal_arn, catalog.ACCESS_POLICY_ARN + "AmazonEKSClusterAdminPolicy",
                        {"type": "cluster"})

    def _new_entry(self, cluster, principal_arn: str, groups: list, username: str | None, kind: str,
                   tags: dict) -> dict:
        match = _PRINCIPAL.match(principal_arn or "")
        account, what, name = match.groups() if match else (self.account_id, "root", "root")
        if kind == "STANDARD":
            username = username or (f"arn:aws:sts::{account}:assumed-role/{name}/{{{{SessionName}}}}"
                                    if what == "role" else principal_arn)
        else:
            username = username or "system:node:{{EC2PrivateDNSName}}"
        at = now()
        entry = {"clusterName": cluster.name, "principalArn": principal_arn, "kubernetesGroups": list(groups),
                 "accessEntryArn": f"arn:aws:eks:{self.region_name}:{self.account_id}:access-entry/"
                                   f"{cluster.name}/{what}/{account}/{name}/{uuid.uuid4()}",
                 "createdAt": at, "modifiedAt": at, "tags": dict(tags), "username": username, "type": kind}
        cluster.ws_access_entries[principal_arn] = {"entry": entry, "policies": {}}
        return entry

    def create_access_entry(self, cluster_name: str, principal_arn: str, kubernetes_groups: list | None = None,
                            tags: dict | None = None, username: str | None = None, type: str | None = None,
                            **_ignored) -> dict:
        with LOCK:
            cluster = self._access_cluster(cluster_name)
            if not _PRINCIPAL.match(principal_arn or ""):
                raise invalid(f"The specified principalArn is invalid: {principal_arn!r} is not the ARN of an "
                              "IAM role or user")
            kind = type or "STANDARD"
            if kind not in ENTRY_TYPES:
                raise invalid(f"The access entry type {kind} is invalid; valid types: {', '.join(ENTRY_TYPES)}")
            if kind != "STANDARD" and (kubernetes_groups or username):
                raise invalid(f"kubernetesGroups and username cannot be specified for an access entry of "
                              f"type {kind}")
            if principal_arn in cluster.ws_access_entries:
                raise in_use("The specified access entry resource is already in use on this cluster.")
            return self._new_entry(cluster, principal_arn, kubernetes_groups or [], username, kind, tags or {})

    def describe_access_entry(self, cluster_name: str, principal_arn: str) -> dict:
        return self._entry(cluster_name, principal_arn)["entry"]

    def list_access_entries(self, cluster_name: str, associated_policy_arn: str | None = None) -> list[str]:
        cluster = self._access_cluster(cluster_name)
        return sorted(arn for arn, found in cluster.ws_access_entries.items()
                      if not associated_policy_arn or associated_policy_arn in found["policies"])

    def update_access_entry(self, cluster_name: str, principal_arn: str, kubernetes_groups: list | None = None,
                            username: str | None = None, **_ignored) -> dict:
        with LOCK:
            entry = self._entry(cluster_name, principal_arn)["entry"]
            if kubernetes_groups is not None:
                entry["kubernetesGroups"] = list(kubernetes_groups)
            if username:
                entry["username"] = username
            entry["modifiedAt"] = now()
            return entry

    def delete_access_entry(self, cluster_name: str, principal_arn: str) -> None:
        with LOCK:
            self._entry(cluster_name, principal_arn)
            self._cluster(cluster_name).ws_access_entries.pop(principal_arn, None)

    def _associate(self, cluster, principal_arn: str, policy_arn: str, scope: dict | None) -> dict:
        if not (policy_arn or "").startswith(catalog.ACCESS_POLICY_ARN) or \
                policy_arn[len(catalog.ACCESS_POLICY_ARN):] not in catalog.ACCESS_POLICIES:
            raise not_found(f"The specified policyArn {policy_arn} could not be found. You can view the available "
                            "access policies with 'list-access-policies'.")
        scope = dict(scope or {})
        if scope.get("type") not in ("cluster", "namespace"):
            raise invalid("accessScope type must be cluster or namespace")
        if scope["type"] == "namespace" and not scope.get("namespaces"):
            raise invalid("At least one namespace must be specified for an access scope of type namespace")
        if scope["type"] == "cluster" and scope.get("namespaces"):
            raise invalid("Namespaces cannot be specified for an access scope of type cluster")
        found = cluster.ws_access_entries[principal_arn]
        if found["entry"]["type"] != "STANDARD":
            raise invalid("Access policies can only be associated with access entries of type STANDARD")
        at = now()
        previous = found["policies"].get(policy_arn)
        policy = {"policyArn": policy_arn, "accessScope": {"type": scope["type"],
                                                           "namespaces": list(scope.get("namespaces") or [])},
                  "associatedAt": previous["associatedAt"] if previous else at, "modifiedAt": at}
        found["policies"][policy_arn] = policy
        return policy

    def associate_access_policy(self, cluster_name: str, principal_arn: str, policy_arn: str,
                                access_scope: dict | None) -> dict:
        with LOCK:
            self._entry(cluster_name, principal_arn)
            return self._associate(self._cluster(cluster_name), principal_arn, policy_arn, access_scope)

    def disassociate_access_policy(self, cluster_name: str, principal_arn: str, policy_arn: str) -> None:
        with LOCK:
            found = self._entry(cluster_name, principal_arn)
            if found["policies"].pop(policy_arn, None) is None:
                raise not_found(f"The specified policyArn {policy_arn} is not associated with this access entry.")

    def list_associated_access_policies(self, cluster_name: str, principal_arn: str) -> list[dict]:
        return list(self._entry(cluster_name, principal_arn)["policies"].values())
