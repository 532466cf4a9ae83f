"""EKS's control plane on the clock, on moto's backend: clusters CREATING for 10 minutes
then ACTIVE, managed node groups and Fargate profiles with their own waits, and updates
(a version step, a configuration change) that run InProgress -> Successful, each wait
divided by the time scale. What is under way is ``ws_work`` on the backend (how many AWS
seconds each piece still needs); the engine (lifecycle_runner.py, told through
``services.announce``) spends the clock's time on it through ``advance``. Add-ons and
access entries: addons.py. The state is picklable (one module lock serialises changes)."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime, timedelta, timezone

from moto.eks import models as moto_eks
from moto.eks.exceptions import ResourceInUseException
from moto.eks.models import Cluster, EKSBackend, FargateProfile, Nodegroup

from workshop.cloud import services
from workshop.cloud.services.eks import catalog
from workshop.cloud.services.eks.addons import AddonsAndAccessMixin
from workshop.cloud.services.eks.common import LOCK, in_use as _in_use, invalid as _invalid, now as _now
from workshop.cloud.services.eks.common import NotFoundException, not_found as _not_found

# AWS seconds each piece of work takes (the EKS user guide's typical times).
CLUSTER_CREATE = 600
CLUSTER_DELETE = 600
NODEGROUP_CREATE = 300
NODEGROUP_DELETE = 300
FARGATE_PROFILE = 120           # creating or deleting a Fargate profile
CLUSTER_VERSION_UPDATE = 1500
CLUSTER_CONFIG_UPDATE = 300
NODEGROUP_VERSION_UPDATE = 900
NODEGROUP_CONFIG_UPDATE = 120

_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")
DEFAULT_SCALING = {"minSize": 1, "maxSize": 2, "desiredSize": 2}
AUTH_MODES = ("API", "API_AND_CONFIG_MAP", "CONFIG_MAP")


def _certificate_authority(name: str) -> str:
    """A self-signed CA certificate, base64 of its PEM (what a kubeconfig's
    certificate-authority-data holds)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()


def check_scaling(config: dict) -> dict:
    """A node group's scalingConfig as EKS checks it."""
    merged = {**DEFAULT_SCALING, **{k: v for k, v in (config or {}).items() if v is not None}}
    low, high, desired = (int(merged[k]) for k in ("minSize", "maxSize", "desiredSize"))
    if low < 0 or desired < 0:
        raise _invalid("Minimum capacity and desired size must be greater than or equal to 0")
    if high < 1:
        raise _invalid("Maximum capacity must be greater than or equal to 1")
    if low > high:
        raise _invalid(f"Minimum capacity {low} can't be greater than max size {high}")
    if desired > high:
        raise _invalid(f"Desired capacity {desired} can't be greater than max size {high}")
    if desired < low:
        raise _invalid(f"Minimum capacity {low} can't be greater than desired size {desired}")
    return {"minSize": low, "maxSize": high, "desiredSize": desired}


class WorkshopEKSBackend(AddonsAndAccessMixin, EKSBackend):
    """moto's EKS backend whose resources and updates take the time AWS takes."""

    lock = property(lambda self: LOCK)   # snapshots are taken under it (never pickled)

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.ws_work: list[dict] = []

    @property
    def _url_module(self):
        from moto.eks import urls  # moto finds a backend's URLs beside its module: these are moto's

        return urls

    # -- work on the clock ---------------------------------------------------------------
    def _start(self, kind: str, cluster: str, seconds: float, name: str | None = None,
               update: str | None = None, apply: dict | None = None) -> None:
        self.ws_work.append({"kind": kind, "cluster": cluster, "name": name, "update": update,
                             "apply": apply or {}, "left": float(seconds)})
        services.announce("eks.work-started", backend=self)

    def pending(self) -> bool:
        return bool(getattr(self, "ws_work", None))

    def advance(self, aws_seconds: float) -> bool:
        """Spend ``aws_seconds`` of the clock on every piece of work under way; finish what is
        done. True when something finished (the account's state changed)."""
        finished = False
        with LOCK:
            for work in list(self.ws_work):
                work["left"] -= aws_seconds
                if work["left"] <= 0:
                    self.ws_work.remove(work)
                    self._finish(work)
                    finished = True
        return finished

    def _finish(self, work: dict) -> None:
        cluster = self.clusters.get(work["cluster"])
        if cluster is None:
            return
        kind, name = work["kind"], work["name"]
        if kind == "cluster-create":
            cluster.status = "ACTIVE"
        elif kind == "cluster-delete":
            self.clusters.pop(cluster.name, None)
            self.cluster_count -= 1
        elif kind == "nodegroup-create" and name in cluster.nodegroups:
            cluster.nodegroups[name].status = "ACTIVE"
        elif kind == "nodegroup-delete" and cluster.nodegroups.pop(name, None) is not None:
            cluster.nodegroup_count -= 1
        elif kind == "fargate-create" and name in cluster.fargate_profiles:
            cluster.fargate_profiles[name].status = "ACTIVE"
        elif kind == "fargate-delete" and cluster.fargate_profiles.pop(name, None) is not None:
            cluster.fargate_profile_count -= 1
        elif kind == "update":
            self._apply_update(cluster, work)
        else:
            self._finish_addon(cluster, work)

    def _apply_update(self, cluster: Cluster, work: dict) -> None:
        record = cluster.ws_updates.get(work["update"])
        target = cluster
        if record and record.get("nodegroup"):
            target = cluster.nodegroups.get(record["nodegroup"])
        elif record and record.get("addon"):
            target = cluster.ws_addons.get(record["addon"])
        if target is None:
            return
        apply = work["apply"]
        if isinstance(target, dict):    # an add-on
            target.update(apply)
            target["status"] = "ACTIVE"
            target["modifiedAt"] = _now()
        else:
            for attribute, value in apply.items():
                setattr(target, attribute, value)
            if isinstance(target, Nodegroup):
                target.modified_at = _now()
            if target is cluster and "version" in apply:
                cluster.platformVersion = catalog.platform_version(cluster.version)
            target.status = "ACTIVE"
        if record:
            record["update"]["status"] = "Successful"

    def _running_update(self, cluster: Cluster, nodegroup: str | None = None, addon: str | None = None) -> bool:
        return any(r["update"]["status"] == "InProgress" and r.get("nodegroup") == nodegroup
                   and r.get("addon") == addon for r in cluster.ws_updates.values())

    def _new_update(self, cluster: Cluster, kind: str, params: list[dict], seconds: float, apply: dict,
                    nodegroup: str | None = None, addon: str | None = None) -> dict:
        update = {"id": str(uuid.uuid4()), "status": "InProgress", "type": kind,
                  "params": [{"type": t, "value": str(v)} for t, v in params], "createdAt": _now(),
                  "errors": []}
        cluster.ws_updates[update["id"]] = {"update": update, "nodegroup": nodegroup, "addon": addon}
        self._start("update", cluster.name, seconds, update=update["id"], apply=apply)
        return update

    # -- clusters ------------------------------------------------------------------------
    def _cluster(self, name: str) -> Cluster:
        cluster = self.clusters.get(name)
        if cluster is None:
            raise _not_found(moto_eks.CLUSTER_NOT_FOUND_MSG.format(clusterName=name))
        return cluster

    def create_cluster(self, name, role_arn, resources_vpc_config, version=None, kubernetes_network_config=None,
                       logging=None, client_request_token=None, tags=None, encryption_config=None,
                       remote_network_config=None, access_config=None, upgrade_policy=None,
                       creator_arn: str | None = None, **_ignored) -> Cluster:
        if not name or not _NAME.match(name):
            raise _invalid("The cluster name must start with an alphanumeric character and contain only "
                           "alphanumeric characters, hyphens and underscores (at most 100).")
        offered = catalog.offered(_now())
        version = version or catalog.default_version(_now())
        if version not in offered:
            raise _invalid(f"unsupported Kubernetes version {version}; supported versions: {', '.join(offered)}")
        access = dict(access_config or {})
        mode = access.get("authenticationMode") or "CONFIG_MAP"
        if mode not in AUTH_MODES:
            raise _invalid(f"authenticationMode must be one of {', '.join(AUTH_MODES)}")
        access = {"authenticationMode": mode,
                  "bootstrapClusterCreatorAdminPermissions": access.get("bootstrapClusterCreatorAdminPermissions",
                                                                        True) is not False}
        vpc = dict(resources_vpc_config or {})
        with LOCK:
            cluster = EKSBackend.create_cluster(
                self, name=name, role_arn=role_arn, resources_vpc_config=vpc, version=version,
                kubernetes_network_config=kubernetes_network_config, logging=logging,
                client_request_token=client_request_token, tags=tags, encryption_config=encryption_config,
                remote_network_config=remote_network_config)
            cluster.status = "CREATING"
            cluster.platformVersion = catalog.platform_version(version)
            cluster.ws_id = uuid.uuid4().hex.upper()
            cluster.identity = {"oidc": {"issuer": f"https://oidc.eks.{self.region_name}.amazonaws.com/id/"
                                                   f"{cluster.ws_id}"}}
            cluster.certificate_authority = {"data": _certificate_authority(name)}
            cluster.resources_vpc_config = {
                "subnetIds": vpc.get("subnetIds", []), "securityGroupIds": vpc.get("securityGroupIds", []),
                "clusterSecurityGroupId": "sg-" + cluster.ws_id[:17].lower(), "vpcId": vpc.get("vpcId") or
                _vpc_of(self.account_id, self.region_name, vpc.get("subnetIds") or []),
                "endpointPublicAccess": vpc.get("endpointPublicAccess", True),
                "endpointPrivateAccess": vpc.get("endpointPrivateAccess", False),
                "publicAccessCidrs": vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]}
            cluster.ws_access_config = access
            cluster.ws_upgrade_policy = dict(upgrade_policy or {"supportType": "EXTENDED"})
            cluster.ws_updates = {}
            cluster.ws_addons = {}
            cluster.ws_access_entries = {}
            if mode != "CONFIG_MAP" and access["bootstrapClusterCreatorAdminPermissions"] and creator_arn:
                self._bootstrap_creator(cluster, creator_arn)
            self._start("cluster-create", name, CLUSTER_CREATE)
        return cluster

    def delete_cluster(self, name: str) -> Cluster:
        with LOCK:
            cluster = self._cluster(name)
            if cluster.nodegroups:
                raise ResourceInUseException(clusterName=name, nodegroupName=",".join(cluster.nodegroups),
                                             addonName=None, message=moto_eks.CLUSTER_IN_USE_MSG)
            if cluster.fargate_profiles:
                raise _in_use("Cluster has fargate profiles attached")
            if cluster.status != "ACTIVE":
                raise _in_use(f"Cluster {name} is in {cluster.status} status; it can be deleted once ACTIVE")
            cluster.status = "DELETING"
            cluster.ws_addons.clear()    # EKS removes the cluster's add-ons and access entries with it
            cluster.ws_access_entries.clear()
            self._start("cluster-delete", name, CLUSTER_DELETE)
        return cluster

    def update_cluster_version(self, name: str, version: str) -> dict:
        with LOCK:
            cluster = self._cluster(name)
            if cluster.status != "ACTIVE" or self._running_update(cluster):
                raise _in_use(f"Cluster {name} has an update in progress or is not ACTIVE ({cluster.status})"
                              if cluster.status != "ACTIVE" else
                              "An update is already in progress for this cluster")
            if not version or version != catalog.next_minor(cluster.version) or \
                    version not in catalog.offered(_now()):
                raise _invalid(f"Unsupported Kubernetes minor version update from {cluster.version} to {version}")
            behind = sorted(n for n, g in cluster.nodegroups.items() if g.version != cluster.version)
            if behind:
                raise _invalid(f"Nodegroup(s) {', '.join(behind)} must be updated to match cluster version "
                               f"{cluster.version} before updating cluster version")
            cluster.status = "UPDATING"
            return self._new_update(cluster, "VersionUpdate",
                                    [("Version", version), ("PlatformVersion", catalog.platform_version(version))],
                                    CLUSTER_VERSION_UPDATE, {"version": version})

    def update_cluster_config(self, name, resources_vpc_config=None, logging=None, client_request_token=None,
                              kubernetes_network_config=None, remote_network_config=None, access_config=None,
                              upgrade_policy=None, **_ignored) -> dict:
        with LOCK:
            cluster = self._cluster(name)
            if cluster.status != "ACTIVE" or self._running_update(cluster):
                raise _in_use("An update is already in progress for this cluster"
                              if cluster.status == "UPDATING" else f"Cluster {name} is in {cluster.status} status")
            given = [x for x in (resources_vpc_config, logging, access_config, upgrade_policy) if x]
            if len(given) != 1:
                raise _invalid("Only one type of update (resourcesVpcConfig, logging, accessConfig or "
                               "upgradePolicy) can be made per call" if given else "No changes needed")
            if logging:
                kind, apply = "LoggingUpdate", {"logging": logging}
                params = [("ClusterLogging", logging.get("clusterLogging"))]
            elif resources_vpc_config:
                vpc = {**cluster.resources_vpc_config, **resources_vpc_config}
                access_keys = ("endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs")
                kind = ("EndpointAccessUpdate" if set(resources_vpc_config) <= set(access_keys)
                        else "VpcConfigUpdate")
                apply = {"resources_vpc_config": vpc}
                params = [(_PARAM_NAMES.get(k, k), v) for k, v in resources_vpc_config.items()]
            elif access_config:
                mode = access_config.get("authenticationMode")
                current = cluster.ws_access_config["authenticationMode"]
                if mode not in AUTH_MODES or AUTH_MODES.index(mode) > AUTH_MODES.index(current):
                    raise _invalid(f"Unsupported authentication mode update from {current} to {mode}")
                kind = "AccessConfigUpdate"
                apply = {"ws_access_config": {**cluster.ws_access_config, "authenticationMode": mode}}
                params = [("AuthenticationMode", mode)]
            else:
                kind, apply = "UpgradePolicyUpdate", {"ws_upgrade_policy": dict(upgrade_policy)}
                params = [("UpgradePolicy", upgrade_policy)]
            cluster.status = "UPDATING"
            return self._new_update(cluster, kind, params, CLUSTER_CONFIG_UPDATE, apply)

    def list_updates(self, name: str, nodegroup: str | None = None, addon: str | None = None) -> list[str]:
        cluster = self._cluster(name)
        if nodegroup:
            self.describe_nodegroup(name, nodegroup)
        if addon:
            self.describe_addon(name, addon)
        return [uid for uid, r in cluster.ws_updates.items()
                if r.get("nodegroup") == (nodegroup or None) and r.get("addon") == (addon or None)]

    def describe_update(self, name: str, update_id: str, nodegroup: str | None = None,
                        addon: str | None = None) -> dict:
        cluster = self._cluster(name)
        if nodegroup:
            self.describe_nodegroup(name, nodegroup)
        if addon:
            self.describe_addon(name, addon)
        record = cluster.ws_updates.get(update_id)
        if record is None or record.get("nodegroup") != (nodegroup or None) or \
                record.get("addon") != (addon or None):
            raise _not_found(f"No update found for ID: {update_id}")
        return record["update"]

    # -- node groups ---------------------------------------------------------------------
    def create_nodegroup(self, cluster_name, node_role, nodegroup_name, subnets, scaling_config=None,
                         disk_size=None, instance_types=None, ami_type=None, remote_access=None, labels=None,
                         taints=None, tags=None, client_request_token=None, launch_template=None,
                         capacity_type=None, version=None, release_version=None, update_config=None,
                         **_ignored) -> Nodegroup:
        with LOCK:
            cluster = self._cluster(cluster_name)
            if not nodegroup_name or not _NAME.match(nodegroup_name):
                raise _invalid("The nodegroup name must start with an alphanumeric character and contain only "
                               "alphanumeric characters, hyphens and underscores (at most 100).")
            if not subnets:
                raise _invalid("Subnets are required")
            version = version or cluster.version
            if version not in catalog.VERSIONS or catalog._key(version) > catalog._key(cluster.version):
                raise _invalid(f"Requested Nodegroup Kubernetes version {version} is not supported: it must be "
                               f"the cluster's version {cluster.version} or older")
            scaling = check_scaling(scaling_config)
            nodegroup = EKSBackend.create_nodegroup(
                self, cluster_name=cluster_name, node_role=node_role, nodegroup_name=nodegroup_name,
                subnets=subnets, scaling_config=scaling, disk_size=disk_size or (None if launch_template else 20),
                instance_types=instance_types, ami_type=ami_type or "AL2023_x86_64_STANDARD",
                remote_access=remote_access, labels=dict(labels or {}), taints=list(taints or []),
                tags=dict(tags or {}),
                client_request_token=client_request_token, launch_template=launch_template,
                capacity_type=capacity_type, version=version,
                release_version=release_version or catalog.release_version(version))
            nodegroup.status = "CREATING"
            nodegroup.remote_access = remote_access
            nodegroup.update_config = update_config or {"maxUnavailable": 1}
            nodegroup.resources = {"autoScalingGroups": [{"name": f"eks-{nodegroup_name}-{nodegroup.uuid}"}]}
            if remote_access:
                nodegroup.resources["remoteAccessSecurityGroup"] = "sg-" + nodegroup.uuid.replace("-", "")[:17]
            self._start("nodegroup-create", cluster_name, NODEGROUP_CREATE, name=nodegroup_name)
        return nodegroup

    def delete_nodegroup(self, cluster_name: str, nodegroup_name: str) -> Nodegroup:
        with LOCK:
            nodegroup = self.describe_nodegroup(cluster_name, nodegroup_name)
            if nodegroup.status not in ("ACTIVE", "DEGRADED", "CREATE_FAILED"):
                raise _in_use(f"Nodegroup {nodegroup_name} is in {nodegroup.status} status; "
                              "it can be deleted once ACTIVE")
            nodegroup.status = "DELETING"
            self._start("nodegroup-delete", cluster_name, NODEGROUP_DELETE, name=nodegroup_name)
        return nodegroup

    def _updatable_nodegroup(self, cluster_name: str, nodegroup_name: str) -> tuple[Cluster, Nodegroup]:
        cluster = self._cluster(cluster_name)
        nodegroup = self.describe_nodegroup(cluster_name, nodegroup_name)
        if nodegroup.status != "ACTIVE" or self._running_update(cluster, nodegroup=nodegroup_name):
            raise _in_use("Nodegroup cannot be updated as it is currently not in Active State")
        return cluster, nodegroup

    def update_nodegroup_version(self, cluster_name: str, nodegroup_name: str, version: str | None = None,
                                 release_version: str | None = None, **_ignored) -> dict:
        with LOCK:
            cluster, nodegroup = self._updatable_nodegroup(cluster_name, nodegroup_name)
            version = version or cluster.version
            if version not in catalog.VERSIONS or catalog._key(version) > catalog._key(cluster.version):
                raise _invalid(f"Requested Nodegroup Kubernetes version {version} is greater than the cluster's "
                               f"Kubernetes version {cluster.version}")
            if catalog._key(version) < catalog._key(nodegroup.version):
                raise _invalid(f"Requested Nodegroup Kubernetes version {version} is older than the nodegroup's "
                               f"version {nodegroup.version}")
            release = release_version or catalog.release_version(version)
            if version == nodegroup.version and release == nodegroup.release_version:
                raise _invalid(f"Nodegroup {nodegroup_name} is already at version {version} "
                               f"(release {release})")
            nodegroup.status = "UPDATING"
            return self._new_update(cluster, "VersionUpdate", [("Version", version), ("ReleaseVersion", release)],
                                    NODEGROUP_VERSION_UPDATE, {"version": version, "release_version": release},
                                    nodegroup=nodegroup_name)

    def update_nodegroup_config(self, cluster_name, nodegroup_name, labels=None, taints=None, scaling_config=None,
                                update_config=None, node_repair_config=None, client_request_token=None,
                                **_ignored) -> dict:
        with LOCK:
            cluster, nodegroup = self._updatable_nodegroup(cluster_name, nodegroup_name)
            apply: dict = {}
            params: list[tuple[str, object]] = []
            if scaling_config:
                scaling = check_scaling({**nodegroup.scaling_config, **scaling_config})
                apply["scaling_config"] = scaling
                params += [(_PARAM_NAMES[k], scaling[k]) for k in ("minSize", "maxSize", "desiredSize")
                           if k in scaling_config]
            if labels:
                merged = {**nodegroup.labels, **(labels.get("addOrUpdateLabels") or {})}
                for key in labels.get("removeLabels") or []:
                    merged.pop(key, None)
                apply["labels"] = merged
                if labels.get("addOrUpdateLabels"):
                    params.append(("LabelsToAdd", labels["addOrUpdateLabels"]))
                if labels.get("removeLabels"):
                    params.append(("LabelsToRemove", labels["removeLabels"]))
            if taints:
                gone = {(t.get("key"), t.get("effect")) for t in (taints.get("addOrUpdateTaints") or [])
                        + (taints.get("removeTaints") or [])}
                apply["taints"] = ([t for t in nodegroup.taints if (t.get("key"), t.get("effect")) not in gone]
                                   + list(taints.get("addOrUpdateTaints") or []))
                if taints.get("addOrUpdateTaints"):
                    params.append(("TaintsToAdd", taints["addOrUpdateTaints"]))
                if taints.get("removeTaints"):
                    params.append(("TaintsToRemove", taints["removeTaints"]))
            if update_config:
                apply["update_config"] = update_config
                params += [(_PARAM_NAMES.get(k, k), v) for k, v in update_config.items()]
            if node_repair_config:
                apply["node_repair_config"] = node_repair_config
                params.append(("NodeRepairEnabled", node_repair_config.get("enabled")))
            if not apply:
                raise _invalid("No changes needed")
            nodegroup.status = "UPDATING"
            return self._new_update(cluster, "ConfigUpdate", params, NODEGROUP_CONFIG_UPDATE, apply,
                                    nodegroup=nodegroup_name)

    # -- Fargate profiles ----------------------------------------------------------------
    def create_fargate_profile(self, fargate_profile_name, cluster_name, selectors, pod_execution_role_arn,
                               subnets=None, client_request_token=None, tags=None) -> FargateProfile:
        with LOCK:
            cluster = self._cluster(cluster_name)
            if any(p.status == "CREATING" for p in cluster.fargate_profiles.values()):
                raise _in_use("Another Fargate profile is being created in this cluster: one at a time")
            profile = EKSBackend.create_fargate_profile(
                self, fargate_profile_name=fargate_profile_name, cluster_name=cluster_name, selectors=selectors,
                pod_execution_role_arn=pod_execution_role_arn, subnets=subnets,
                client_request_token=client_request_token, tags=tags)
            profile.status = "CREATING"
            self._start("fargate-create", cluster_name, FARGATE_PROFILE, name=fargate_profile_name)
        return profile

    def delete_fargate_profile(self, cluster_name: str, fargate_profile_name: str) -> FargateProfile:
        with LOCK:
            profile = self.describe_fargate_profile(cluster_name, fargate_profile_name)
            if profile.status != "ACTIVE":
                raise _in_use(f"Fargate profile {fargate_profile_name} is in {profile.status} status")
            profile.status = "DELETING"
            self._start("fargate-delete", cluster_name, FARGATE_PROFILE, name=fargate_profile_name)
        return profile

    # -- tags: every EKS resource with an ARN (moto tagged clusters only) ------------------
    def _tags_of(self, arn: str) -> dict:
        for cluster in self.clusters.values():
            if cluster.arn == arn:
                return cluster.tags
            for group in cluster.nodegroups.values():
                if group.arn == arn:
                    return group.tags
            for profile in cluster.fargate_profiles.values():
                if profile.fargate_profile_arn == arn:
                    return profile.tags
            for addon in getattr(cluster, "ws_addons", {}).values():
                if addon["addonArn"] == arn:
                    return addon["tags"]
            for found in getattr(cluster, "ws_access_entries", {}).values():
                if found["entry"]["accessEntryArn"] == arn:
                    return found["entry"]["tags"]
        raise NotFoundException(message=f"Resource {arn} was not found")

    def tag_resource(self, resource_arn: str, tags: dict) -> None:
        with LOCK:
            self._tags_of(resource_arn).update(tags or {})

    def untag_resource(self, resource_arn: str, tag_keys) -> None:
        with LOCK:
            found = self._tags_of(resource_arn)
            for key in [tag_keys] if isinstance(tag_keys, str) else tag_keys or []:
                found.pop(key, None)

    def list_tags_for_resource(self, resource_arn: str) -> dict:
        return dict(self._tags_of(resource_arn))

    def list_fargate_profiles(self, cluster_name, max_results, next_token):
        self._cluster(cluster_name)
        return EKSBackend.list_fargate_profiles(self, cluster_name, max_results, next_token)

    def list_nodegroups(self, cluster_name, max_results, next_token):
        self._cluster(cluster_name)
        return EKSBackend.list_nodegroups(self, cluster_name, max_results, next_token)


# UpdateParamType names for request members.
_PARAM_NAMES = {"minSize": "MinSize", "maxSize": "MaxSize", "desiredSize": "DesiredSize",
                "maxUnavailable": "MaxUnavailable", "maxUnavailablePercentage": "MaxUnavailablePercentage",
                "endpointPublicAccess": "EndpointPublicAccess", "endpointPrivateAccess": "EndpointPrivateAccess",
                "publicAccessCidrs": "PublicAccessCidrs", "subnetIds": "Subnets",
                "securityGroupIds": "SecurityGroups"}


def _vpc_of(account_id: str, region: str, subnet_ids: list[str]) -> str | None:
    if not subnet_ids:
        return None
    try:
        from moto.ec2.models import ec2_backends

        return ec2_backends[account_id][region].describe_subnets(subnet_ids=subnet_ids[:1])[0].vpc_id
    except Exception:  # subnets EC2 does not know: EKS's answer just has no vpcId
        return None


def adopt(cluster: Cluster) -> Cluster:
    """A cluster moto made (a snapshot written before this extension): as this backend keeps one."""
    if not hasattr(cluster, "ws_id"):
        cluster.ws_id = uuid.uuid4().hex.upper()
        cluster.platformVersion = catalog.platform_version(cluster.version)
        cluster.certificate_authority = {"data": _certificate_authority(cluster.name)}
        cluster.ws_access_config = {"authenticationMode": "CONFIG_MAP",
                                    "bootstrapClusterCreatorAdminPermissions": True}
        cluster.ws_upgrade_policy = {"supportType": "EXTENDED"}
        cluster.ws_updates, cluster.ws_addons, cluster.ws_access_entries = {}, {}, {}
        for group in cluster.nodegroups.values():
            group.scaling_config = dict(group.scaling_config)    # moto shared one default dict
    return cluster


def backend(account_id: str, region: str) -> WorkshopEKSBackend:
    found = eks_backends[account_id][region]
    if not isinstance(found, WorkshopEKSBackend):
        # Restored from a snapshot written before this extension (moto's own backend).
        ours = WorkshopEKSBackend(region, account_id)
        ours.clusters = {name: adopt(c) for name, c in found.clusters.items()}
        ours.cluster_count = len(ours.clusters)
        dict.__setitem__(eks_backends[account_id], region, ours)
        found = ours
    return found


eks_backends = moto_eks.eks_backends
services.replace_backend(eks_backends, WorkshopEKSBackend)
