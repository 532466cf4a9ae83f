"""EKS's wire format for what the workshop's backend holds: clusters (with the endpoint
this cloud serves and their CA once ACTIVE), node groups, Fargate profiles, updates,
cluster versions, add-ons and access entries. These methods replace or join moto's on
its response class; the paths moto's URL map lacks are added in endpoint.py."""

from __future__ import annotations


from moto.core.responses import ActionResult, EmptyResult
from moto.eks.exceptions import InvalidParameterException
from moto.eks.models import Cluster, FargateProfile, Nodegroup
from moto.eks.responses import EKSResponse

from workshop.cloud import accounts, runtime
from workshop.cloud.services import extend, paging, routing
from workshop.cloud.services.eks import catalog
from workshop.cloud.services.eks.common import now
from workshop.cloud.services.eks.models import WorkshopEKSBackend, backend

API_PATH = "/eks-api/"          # a cluster's endpoint: the cloud answers it, never as Kubernetes


def endpoint_of(cluster: Cluster) -> str:
    return f"{runtime.endpoint()}{API_PATH}{cluster.ws_id.lower()}"


def cluster_view(cluster: Cluster) -> dict:
    out = {"name": cluster.name, "arn": cluster.arn, "createdAt": cluster.created_at, "version": cluster.version,
           "roleArn": cluster.role_arn, "resourcesVpcConfig": cluster.resources_vpc_config,
           "kubernetesNetworkConfig": cluster.kubernetes_network_config, "logging": cluster.logging,
           "identity": cluster.identity, "status": cluster.status, "platformVersion": cluster.platformVersion,
           "tags": cluster.tags, "encryptionConfig": cluster.encryption_config, "health": {"issues": []},
           "certificateAuthority": {}}
    if hasattr(cluster, "ws_id"):
        out.update(id=cluster.ws_id.lower(), accessConfig=cluster.ws_access_config,
                   upgradePolicy=cluster.ws_upgrade_policy)
    if cluster.client_request_token:
        out["clientRequestToken"] = cluster.client_request_token
    if cluster.status != "CREATING" and hasattr(cluster, "ws_id"):
        out["endpoint"] = endpoint_of(cluster)
        out["certificateAuthority"] = cluster.certificate_authority
    return out


def nodegroup_view(group: Nodegroup) -> dict:
    out = {"nodegroupName": group.nodegroup_name, "nodegroupArn": group.arn, "clusterName": group.cluster_name,
           "version": group.version, "releaseVersion": group.release_version, "createdAt": group.created_at,
           "modifiedAt": group.modified_at, "status": group.status, "capacityType": group.capacity_type,
           "scalingConfig": group.scaling_config, "instanceTypes": group.instance_types, "subnets": group.subnets,
           "amiType": group.ami_type, "nodeRole": group.node_role, "labels": group.labels, "taints": group.taints,
           "resources": group.resources, "health": {"issues": []}, "updateConfig": group.update_config,
           "tags": group.tags}
    if group.disk_size:
        out["diskSize"] = int(group.disk_size)
    for key, value in (("remoteAccess", group.remote_access), ("launchTemplate", group.launch_template),
                       ("nodeRepairConfig", group.node_repair_config)):
        if value:
            out[key] = value
    return out


def fargate_view(profile: FargateProfile) -> dict:
    return {"fargateProfileName": profile.fargate_profile_name, "fargateProfileArn": profile.fargate_profile_arn,
            "clusterName": profile.cluster_name, "createdAt": profile.created_at,
            "podExecutionRoleArn": profile.pod_execution_role_arn, "subnets": profile.subnets,
            "selectors": profile.selectors, "status": profile.status, "tags": profile.tags,
            "health": {"issues": []}}


_route = EKSResponse._get_action_from_method_and_request_uri


def _bad_token() -> Exception:
    return InvalidParameterException(message="The nextToken is invalid")


@extend(EKSResponse)
class _Responses:
    @property
    def eks_backend(self) -> WorkshopEKSBackend:
        return backend(self.current_account, self.region)

    def _get_action_from_method_and_request_uri(self, request) -> str:
        # An access entry's principal ARN holds slashes (a role's path, its name).
        found = routing.match(self.boto3_service_name, request.environ)
        if found is None:
            return _route(self, request)
        operation, self.uri_match = found
        return operation.name

    def _page(self, items: list, key: str, default: int = 100) -> ActionResult:
        size = self._get_int_param("maxResults") or default
        if not 1 <= size <= 100:
            raise InvalidParameterException(message="maxResults must be between 1 and 100")
        found, token = paging.page(items, self._get_param("nextToken"), size, _bad_token)
        out = {key: found}
        if token:
            out["nextToken"] = token
        return ActionResult(out)

    def _creator_arn(self) -> str:
        key = accounts.access_key_from_environ({"HTTP_AUTHORIZATION": self.headers.get("Authorization", "")})
        who = accounts.caller(key)
        # An assumed role's entry names the role, as EKS's bootstrap entry does.
        return who.get("sessionContext", {}).get("sessionIssuer", {}).get("arn") or who["arn"]

    # -- clusters ------------------------------------------------------------------------
    def create_cluster(self) -> ActionResult:
        cluster = self.eks_backend.create_cluster(
            name=self._get_param("name"), role_arn=self._get_param("roleArn"),
            resources_vpc_config=self._get_param("resourcesVpcConfig"), version=self._get_param("version"),
            kubernetes_network_config=self._get_param("kubernetesNetworkConfig"),
            logging=self._get_param("logging"), client_request_token=self._get_param("clientRequestToken"),
            tags=self._get_param("tags"), encryption_config=self._get_param("encryptionConfig"),
            remote_network_config=self._get_param("remoteNetworkConfig"),
            access_config=self._get_param("accessConfig"), upgrade_policy=self._get_param("upgradePolicy"),
            creator_arn=self._creator_arn())
        return ActionResult({"cluster": cluster_view(cluster)})

    def describe_cluster(self) -> ActionResult:
        return ActionResult({"cluster": cluster_view(self.eks_backend.describe_cluster(self._get_param("name")))})

    def delete_cluster(self) -> ActionResult:
        return ActionResult({"cluster": cluster_view(self.eks_backend.delete_cluster(self._get_param("name")))})

    def list_clusters(self) -> ActionResult:
        return self._page(sorted(self.eks_backend.clusters), "clusters")

    def describe_cluster_versions(self) -> ActionResult:
        versions = catalog.cluster_versions(now())
        wanted = self._get_param("clusterVersions")
        if wanted:
            versions = [v for v in versions if v["clusterVersion"] in wanted]
        if self._get_bool_param("defaultOnly"):
            versions = [v for v in versions if v["defaultVersion"]]
        status = self._get_param("versionStatus")
        if status:
            versions = [v for v in versions if v["versionStatus"] == status]
        elif not self._get_bool_param("includeAll"):
            versions = [v for v in versions if v["versionStatus"] != "UNSUPPORTED"]
        return self._page(versions, "clusterVersions")

    def update_cluster_version(self) -> ActionResult:
        return ActionResult({"update": self.eks_backend.update_cluster_version(
            self._get_param("name"), self._get_param("version"))})

    def update_cluster_config(self) -> ActionResult:
        return ActionResult({"update": self.eks_backend.update_cluster_config(
            self._get_param("name"), resources_vpc_config=self._get_param("resourcesVpcConfig"),
            logging=self._get_param("logging"), access_config=self._get_param("accessConfig"),
            upgrade_policy=self._get_param("upgradePolicy"))})

    def list_updates(self) -> ActionResult:
        return self._page(self.eks_backend.list_updates(self._get_param("name"), self._get_param("nodegroupName"),
                                                        self._get_param("addonName")), "updateIds")

    def describe_update(self) -> ActionResult:
        return ActionResult({"update": self.eks_backend.describe_update(
            self._get_param("name"), self._get_param("updateId"), self._get_param("nodegroupName"),
            self._get_param("addonName"))})

    # -- node groups and Fargate profiles --------------------------------------------------
    def create_nodegroup(self) -> ActionResult:
        group = self.eks_backend.create_nodegroup(
            cluster_name=self._get_param("name"), nodegroup_name=self._get_param("nodegroupName"),
            scaling_config=self._get_param("scalingConfig"), disk_size=self._get_int_param("diskSize"),
            subnets=self._get_param("subnets"), instance_types=self._get_param("instanceTypes"),
            ami_type=self._get_param("amiType"), remote_access=self._get_param("remoteAccess"),
            node_role=self._get_param("nodeRole"), labels=self._get_param("labels"),
            taints=self._get_param("taints"), tags=self._get_param("tags"),
            client_request_token=self._get_param("clientRequestToken"),
            launch_template=self._get_param("launchTemplate"), capacity_type=self._get_param("capacityType"),
            version=self._get_param("version"), release_version=self._get_param("releaseVersion"),
            update_config=self._get_param("updateConfig"))
        return ActionResult({"nodegroup": nodegroup_view(group)})

    def describe_nodegroup(self) -> ActionResult:
        return ActionResult({"nodegroup": nodegroup_view(self.eks_backend.describe_nodegroup(
            self._get_param("name"), self._get_param("nodegroupName")))})

    def delete_nodegroup(self) -> ActionResult:
        return ActionResult({"nodegroup": nodegroup_view(self.eks_backend.delete_nodegroup(
            self._get_param("name"), self._get_param("nodegroupName")))})

    def list_nodegroups(self) -> ActionResult:
        names = sorted(self.eks_backend._cluster(self._get_param("name")).nodegroups)
        return self._page(names, "nodegroups")

    def update_nodegroup_version(self) -> ActionResult:
        return ActionResult({"update": self.eks_backend.update_nodegroup_version(
            self._get_param("name"), self._get_param("nodegroupName"), self._get_param("version"),
            self._get_param("releaseVersion"))})

    def update_nodegroup_config(self) -> ActionResult:
        return ActionResult({"update": self.eks_backend.update_nodegroup_config(
            self._get_param("name"), self._get_param("nodegroupName"), labels=self._get_param("labels"),
            taints=self._get_param("taints"), scaling_config=self._get_param("scalingConfig"),
            update_config=self._get_param("updateConfig"),
            node_repair_config=self._get_param("nodeRepairConfig"))})

    def create_fargate_profile(self) -> ActionResult:
        profile = self.eks_backend.create_fargate_profile(
            fargate_profile_name=self._get_param("fargateProfileName"), cluster_name=self._get_param("name"),
            selectors=self._get_param("selectors"), pod_execution_role_arn=self._get_param("podExecutionRoleArn"),
            subnets=self._get_param("subnets"), client_request_token=self._get_param("clientRequestToken"),
            tags=self._get_param("tags"))
        return ActionResult({"fargateProfile": fargate_view(profile)})

    def describe_fargate_profile(self) -> ActionResult:
        return ActionResult({"fargateProfile": fargate_view(self.eks_backend.describe_fargate_profile(
            self._get_param("name"), self._get_param("fargateProfileName")))})

    def delete_fargate_profile(self) -> ActionResult:
        return ActionResult({"fargateProfile": fargate_view(self.eks_backend.delete_fargate_profile(
            self._get_param("name"), self._get_param("fargateProfileName")))})

    def list_fargate_profiles(self) -> ActionResult:
        names = sorted(self.eks_backend._cluster(self._get_param("name")).fargate_profiles)
        return self._page(names, "fargateProfileNames")

    # -- add-ons -------------------------------------------------------------------------
    def create_addon(self) -> ActionResult:
        return ActionResult({"addon": self.eks_backend.create_addon(
            self._get_param("name"), self._get_param("addonName"), self._get_param("addonVersion"),
            self._get_param("serviceAccountRoleArn"), self._get_param("configurationValues"),
            self._get_param("tags"))})

    def describe_addon(self) -> ActionResult:
        return ActionResult({"addon": self.eks_backend.describe_addon(self._get_param("name"),
                                                                      self._get_param("addonName"))})

    def list_addons(self) -> ActionResult:
        return self._page(self.eks_backend.list_addons(self._get_param("name")), "addons")

    def update_addon(self) -> ActionResult:
        return ActionResult({"update": self.eks_backend.update_addon(
            self._get_param("name"), self._get_param("addonName"), self._get_param("addonVersion"),
            self._get_param("serviceAccountRoleArn"), self._get_param("resolveConflicts"),
            self._get_param("configurationValues"))})

    def delete_addon(self) -> ActionResult:
        return ActionResult({"addon": self.eks_backend.delete_addon(self._get_param("name"),
                                                                    self._get_param("addonName"))})

    def describe_addon_versions(self) -> ActionResult:
        minor = self._get_param("kubernetesVersion")
        name = self._get_param("addonName")
        names = [name] if name else sorted(catalog.ADDONS)
        if name and name not in catalog.ADDONS:
            names = []
        infos = [catalog.addon_info(n, minor, now()) for n in names]
        types = self._get_param("types")
        if types:
            infos = [i for i in infos if i["type"] in types]
        return self._page([i for i in infos if i["addonVersions"]], "addons")

    # -- access entries ------------------------------------------------------------------
    def create_access_entry(self) -> ActionResult:
        return ActionResult({"accessEntry": self.eks_backend.create_access_entry(
            self._get_param("name"), self._get_param("principalArn"), self._get_param("kubernetesGroups"),
            self._get_param("tags"), self._get_param("username"), self._get_param("type"))})

    def describe_access_entry(self) -> ActionResult:
        return ActionResult({"accessEntry": self.eks_backend.describe_access_entry(
            self._get_param("name"), self._get_param("principalArn"))})

    def list_access_entries(self) -> ActionResult:
        return self._page(self.eks_backend.list_access_entries(
            self._get_param("name"), self._get_param("associatedPolicyArn")), "accessEntries")

    def update_access_entry(self) -> ActionResult:
        return ActionResult({"accessEntry": self.eks_backend.update_access_entry(
            self._get_param("name"), self._get_param("principalArn"), self._get_param("kubernetesGroups"),
            self._get_param("username"))})

    def delete_access_entry(self) -> ActionResult:
        self.eks_backend.delete_access_entry(self._get_param("name"), self._get_param("principalArn"))
        return EmptyResult()

    def associate_access_policy(self) -> ActionResult:
        policy = self.eks_backend.associate_access_policy(
            self._get_param("name"), self._get_param("principalArn"), self._get_param("policyArn"),
            self._get_param("accessScope"))
        return ActionResult({"clusterName": self._get_param("name"), "principalArn": self._get_param("principalArn"),
                             "associatedAccessPolicy": policy})

    def disassociate_access_policy(self) -> ActionResult:
        self.eks_backend.disassociate_access_policy(self._get_param("name"), self._get_param("principalArn"),
                                                    self._get_param("policyArn"))
        return EmptyResult()

    def list_associated_access_policies(self) -> ActionResult:
        name, principal = self._get_param("name"), self._get_param("principalArn")
        result = self._page(self.eks_backend.list_associated_access_policies(name, principal),
                            "associatedAccessPolicies")
        result.result.update(clusterName=name, principalArn=principal)
        return result

    def list_access_policies(self) -> ActionResult:
        return self._page([{"name": n, "arn": catalog.ACCESS_POLICY_ARN + n} for n in catalog.ACCESS_POLICIES],
                          "accessPolicies")
