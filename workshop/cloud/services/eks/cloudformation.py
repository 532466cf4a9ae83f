"""CloudFormation's ``AWS::EKS::Cluster`` and ``AWS::EKS::Nodegroup`` on the cfn_model base
(in place of moto's, which were ACTIVE at once and updated nothing): each goes through the
workshop's EKS backend, so a stack's cluster is CREATING for 10 clock minutes and its version
upgrade is an update that describe_update reports; as CloudFormation does, every create,
update and delete waits for EKS (ACTIVE, the update Successful, gone), in the background."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from workshop.cloud.services.cfn_model import CfnResource, failure, flag, integer, wait_until
from workshop.cloud.services.cloudformation.resource_types import TypeRules, register, tag_dict, tag_list
from workshop.cloud.services.ecs.cloudformation import api_shape, cfn_shape
from workshop.cloud.services.eks.common import LOCK
from workshop.cloud.services.eks.models import eks_backends


def _backend(account_id: str, region: str):
    return eks_backends[account_id][region]


def _logging(props: dict[str, Any]) -> dict | None:
    """CloudFormation's Logging (the enabled types) as the API's clusterLogging."""
    if "Logging" not in props:
        return None
    enabled = [t["Type"] for t in ((props.get("Logging") or {}).get("ClusterLogging") or {}).get("EnabledTypes") or []]
    disabled = [t for t in ("api", "audit", "authenticator", "controllerManager", "scheduler") if t not in enabled]
    return {"clusterLogging": [entry for entry in ({"types": enabled, "enabled": True} if enabled else None,
                                                   {"types": disabled, "enabled": False} if disabled else None)
                               if entry]}


def _wait_update(backend, cluster: str, update: dict, nodegroup: str | None = None) -> None:
    def done() -> bool:
        status = backend.describe_update(cluster, update["id"], nodegroup=nodegroup)["status"]
        if status in ("Failed", "Cancelled"):
            raise failure(f"Resource handler returned message: \"Update {update['id']} of {cluster} {status}\"")
        return status == "Successful"

    wait_until(done, f"Update {update['id']} of {cluster} did not finish.")


# -- AWS::EKS::Cluster ------------------------------------------------------------------

class EksCluster(CfnResource, CloudFormationModel):
    cfn_type = "AWS::EKS::Cluster"
    cfn_name_property = "Name"
    cfn_attributes = {"Arn": "arn", "Endpoint": "endpoint", "CertificateAuthorityData": "certificate_authority",
                      "ClusterSecurityGroupId": "security_group", "OpenIdConnectIssuerUrl": "issuer", "Id": "id"}
    cfn_takes_time = True
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> EksCluster:
        cluster = backend.create_cluster(
            name=name, role_arn=props.get("RoleArn"), resources_vpc_config=api_shape(props.get("ResourcesVpcConfig")),
            version=props.get("Version"), kubernetes_network_config=api_shape(props.get("KubernetesNetworkConfig")),
            logging=_logging(props), tags=tag_dict(props.get("Tags")),
            encryption_config=api_shape(props.get("EncryptionConfig")),
            access_config=api_shape(props.get("AccessConfig")), upgrade_policy=api_shape(props.get("UpgradePolicy")),
            # CloudFormation creates the cluster with the account's identity (no role given here).
            creator_arn=f"arn:aws:iam::{backend.account_id}:root")
        model = cls(cluster.name)
        wait_until(lambda: model._status(backend) == "ACTIVE", f"Cluster {name} did not become ACTIVE.")
        return model._read(backend)

    def _status(self, backend) -> str | None:
        cluster = backend.clusters.get(self.name)
        return None if cluster is None else cluster.status

    def _read(self, backend) -> EksCluster:
        from workshop.cloud.services.eks.responses import endpoint_of

        cluster = backend.clusters[self.name]
        self.arn, self.endpoint, self.id = cluster.arn, endpoint_of(cluster), cluster.ws_id.lower()
        self.certificate_authority = cluster.certificate_authority["data"]
        self.security_group = cluster.resources_vpc_config.get("clusterSecurityGroupId")
        self.issuer = cluster.identity["oidc"]["issuer"]
        return self

    def _update(self, backend, name: str, props: dict[str, Any]) -> EksCluster:
        old = self.properties
        # EKS takes one update at a time: CloudFormation makes them one after the other.
        if props.get("Version") and props.get("Version") != backend.clusters[self.name].version:
            _wait_update(backend, self.name, backend.update_cluster_version(self.name, props["Version"]))
        vpc, old_vpc = api_shape(props.get("ResourcesVpcConfig")) or {}, api_shape(old.get("ResourcesVpcConfig")) or {}
        access = {k: vpc[k] for k in ("endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs")
                  if k in vpc and vpc[k] != old_vpc.get(k)}
        changes = [{"resources_vpc_config": access} if access else None,
                   {"logging": _logging(props)} if props.get("Logging") != old.get("Logging") else None,
                   {"access_config": api_shape(props.get("AccessConfig"))}
                   if props.get("AccessConfig") != old.get("AccessConfig") and props.get("AccessConfig") else None,
                   {"upgrade_policy": api_shape(props.get("UpgradePolicy"))}
                   if props.get("UpgradePolicy") != old.get("UpgradePolicy") and props.get("UpgradePolicy") else None]
        for change in changes:
            if change and all(change.values()):
                _wait_update(backend, self.name, backend.update_cluster_config(self.name, **change))
        if props.get("Tags") != old.get("Tags"):
            with LOCK:
                backend.clusters[self.name].tags = tag_dict(props.get("Tags"))
        return self._read(backend)

    def _delete(self, backend) -> None:
        def settled() -> bool:    # EKS deletes an ACTIVE cluster with no update under way
            cluster = backend.clusters.get(self.name)
            return cluster is None or cluster.status == "DELETING" or (
                cluster.status == "ACTIVE" and not backend._running_update(cluster))

        wait_until(settled, f"Cluster {self.name} did not settle before its delete.")
        if self._status(backend) == "ACTIVE":
            backend.delete_cluster(self.name)
        wait_until(lambda: self._status(backend) is None, f"Cluster {self.name} was not deleted.")


class ClusterRules(TypeRules):
    type_name = "AWS::EKS::Cluster"
    replace_on = frozenset({"Name", "RoleArn", "EncryptionConfig", "KubernetesNetworkConfig"})
    drift_properties = frozenset({"Name", "RoleArn", "Version", "ResourcesVpcConfig", "KubernetesNetworkConfig",
                                  "Logging", "AccessConfig", "UpgradePolicy", "EncryptionConfig", "Tags"})

    def live(self, physical_id, props, account, region):
        cluster = _backend(account, region).clusters.get(physical_id)
        if cluster is None or cluster.status == "DELETING":
            return None
        enabled = [t for entry in (cluster.logging or {}).get("clusterLogging") or [] if entry.get("enabled")
                   for t in entry.get("types") or []]
        wanted = [t["Type"] for t in ((props.get("Logging") or {}).get("ClusterLogging") or {}).get(
            "EnabledTypes") or []]
        vpc = cfn_shape({k: v for k, v in (cluster.resources_vpc_config or {}).items()
                         if k not in ("clusterSecurityGroupId", "vpcId")})
        live: dict[str, Any] = {
            "Name": cluster.name, "RoleArn": cluster.role_arn, "Version": cluster.version, "ResourcesVpcConfig": vpc,
            "Logging": {"ClusterLogging": {"EnabledTypes": [{"Type": t} for t in wanted if t in enabled]
                                           + [{"Type": t} for t in enabled if t not in wanted]}},
            "AccessConfig": cfn_shape(getattr(cluster, "ws_access_config", {}) or {}),
            "UpgradePolicy": cfn_shape(getattr(cluster, "ws_upgrade_policy", {}) or {}),
        }
        if cluster.kubernetes_network_config:
            live["KubernetesNetworkConfig"] = cfn_shape(cluster.kubernetes_network_config)
        if cluster.encryption_config:
            live["EncryptionConfig"] = cfn_shape(cluster.encryption_config)
        if tag_list(cluster.tags):
            live["Tags"] = tag_list(cluster.tags)
        return live


# -- AWS::EKS::Nodegroup ------------------------------------------------------------------

def _scaling(props: dict[str, Any]) -> dict | None:
    given = props.get("ScalingConfig")
    if not given:
        return None
    return {api: integer(given[cfn], f"ScalingConfig/{cfn}") for cfn, api in
            (("MinSize", "minSize"), ("MaxSize", "maxSize"), ("DesiredSize", "desiredSize")) if cfn in given}


class EksNodegroup(CfnResource, CloudFormationModel):
    cfn_type = "AWS::EKS::Nodegroup"
    cfn_name_property = "NodegroupName"
    cfn_attributes = {"Arn": "arn", "ClusterName": "cluster", "NodegroupName": "name", "Id": "id"}
    ref_attribute = "id"      # ClusterName/NodegroupName, as CloudFormation's physical id
    cfn_takes_time = True
    backend = staticmethod(_backend)

    @classmethod
    def _create(cls, backend, name: str, props: dict[str, Any]) -> EksNodegroup:
        cluster = props.get("ClusterName")
        group = backend.create_nodegroup(
            cluster_name=cluster, node_role=props.get("NodeRole"), nodegroup_name=name,
            subnets=props.get("Subnets"), scaling_config=_scaling(props),
            disk_size=integer(props.get("DiskSize"), "DiskSize"), instance_types=props.get("InstanceTypes"),
            ami_type=props.get("AmiType"), remote_access=api_shape(props.get("RemoteAccess")),
            labels=dict(props.get("Labels") or {}), taints=api_shape(props.get("Taints")),
            tags=dict(props.get("Tags") or {}), launch_template=api_shape(props.get("LaunchTemplate")),
            capacity_type=props.get("CapacityType"), version=props.get("Version"),
            release_version=props.get("ReleaseVersion"), update_config=api_shape(props.get("UpdateConfig")))
        model = cls(group.nodegroup_name, arn=group.arn, cluster=cluster, id=f"{cluster}/{group.nodegroup_name}")
        wait_until(lambda: model._status(backend) == "ACTIVE", f"Nodegroup {name} did not become ACTIVE.")
        return model

    def _group(self, backend):
        cluster = backend.clusters.get(self.cluster)
        return None if cluster is None else cluster.nodegroups.get(self.name)

    def _status(self, backend) -> str | None:
        group = self._group(backend)
        return None if group is None else group.status

    def _update(self, backend, name: str, props: dict[str, Any]) -> EksNodegroup:
        old, group = self.properties, self._group(backend)
        if (props.get("Version") and props["Version"] != group.version) or \
                (props.get("ReleaseVersion") and props["ReleaseVersion"] != group.release_version):
            _wait_update(backend, self.cluster, backend.update_nodegroup_version(
                self.cluster, self.name, version=props.get("Version"), release_version=props.get("ReleaseVersion")),
                nodegroup=self.name)
        config: dict[str, Any] = {}
        if _scaling(props) and _scaling(props) != _scaling(old):
            config["scaling_config"] = _scaling(props)
        labels, old_labels = dict(props.get("Labels") or {}), dict(old.get("Labels") or {})
        if labels != old_labels:
            config["labels"] = {"addOrUpdateLabels": labels,
                                "removeLabels": [k for k in old_labels if k not in labels]}
        if props.get("Taints") != old.get("Taints"):
            taints = api_shape(props.get("Taints")) or []
            config["taints"] = {"addOrUpdateTaints": taints,
                                "removeTaints": [t for t in api_shape(old.get("Taints")) or [] if t not in taints]}
        if props.get("UpdateConfig") and props.get("UpdateConfig") != old.get("UpdateConfig"):
            config["update_config"] = api_shape(props["UpdateConfig"])
        if config:
            _wait_update(backend, self.cluster, backend.update_nodegroup_config(self.cluster, self.name, **config),
                         nodegroup=self.name)
        if props.get("Tags") != old.get("Tags"):
            with LOCK:
                self._group(backend).tags = dict(props.get("Tags") or {})
        return self

    def _delete(self, backend) -> None:
        if self._status(backend) in (None, "DELETING"):
            return
        wait_until(lambda: self._status(backend) not in ("CREATING", "UPDATING"),
                   f"Nodegroup {self.name} did not settle before its delete.")
        if self._status(backend) is not None:
            backend.delete_nodegroup(self.cluster, self.name)
        wait_until(lambda: self._status(backend) is None, f"Nodegroup {self.name} was not deleted.")

    @classmethod
    def _restore(cls, backend, physical_id: str, props: dict[str, Any]) -> EksNodegroup:
        cluster, _, name = physical_id.partition("/")
        return cls(name, arn="", cluster=cluster, id=physical_id)


class NodegroupRules(TypeRules):
    type_name = "AWS::EKS::Nodegroup"
    replace_on = frozenset({"ClusterName", "NodegroupName", "NodeRole", "Subnets", "InstanceTypes", "AmiType",
                            "CapacityType", "DiskSize", "RemoteAccess", "LaunchTemplate"})
    drift_properties = frozenset({"ClusterName", "NodegroupName", "NodeRole", "Subnets", "ScalingConfig",
                                  "InstanceTypes", "AmiType", "CapacityType", "DiskSize", "Labels", "Taints",
                                  "Version", "ReleaseVersion", "UpdateConfig", "Tags"})

    def live(self, physical_id, props, account, region):
        cluster_name, _, name = physical_id.partition("/")
        cluster = _backend(account, region).clusters.get(cluster_name)
        group = None if cluster is None else cluster.nodegroups.get(name)
        if group is None or group.status == "DELETING":
            return None
        live: dict[str, Any] = {
            "ClusterName": cluster_name, "NodegroupName": name, "NodeRole": group.node_role,
            "Subnets": list(group.subnets or []), "ScalingConfig": cfn_shape(group.scaling_config),
            "InstanceTypes": list(group.instance_types or []), "AmiType": group.ami_type,
            "CapacityType": group.capacity_type, "Labels": dict(group.labels or {}),
            "Taints": cfn_shape(group.taints or []), "Version": group.version,
            "ReleaseVersion": group.release_version, "UpdateConfig": cfn_shape(group.update_config or {}),
        }
        if group.disk_size:
            live["DiskSize"] = int(group.disk_size)
        if group.tags:
            live["Tags"] = dict(group.tags)
        return live


for _rules in (ClusterRules(), NodegroupRules()):
    register(_rules)
