"""What EKS offers, as its API lists it: Kubernetes versions with their support dates
(``describe_cluster_versions``; which are offered follows the clock's date), the add-ons
and their versions (``describe_addon_versions``), the access policies, node AMI releases.

Dates: the EKS release calendar (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html,
standard support 14 months, extended support 12 more); patch and platform versions as
EKS reported them in January 2026."""

from __future__ import annotations

from datetime import datetime, timezone

# minor -> (release, end of standard support, end of extended support, kubernetes patch, platform)
VERSIONS: dict[str, tuple[str, str, str, str, str]] = {
    "1.29": ("2024-01-23", "2025-03-23", "2026-03-23", "1.29.15", "eks.61"),
    "1.30": ("2024-05-23", "2025-07-23", "2026-07-23", "1.30.14", "eks.58"),
    "1.31": ("2024-09-26", "2025-11-26", "2026-11-26", "1.31.13", "eks.50"),
    "1.32": ("2025-01-23", "2026-03-23", "2027-03-23", "1.32.9", "eks.34"),
    "1.33": ("2025-05-29", "2026-07-29", "2027-07-29", "1.33.5", "eks.27"),
    "1.34": ("2025-10-02", "2026-12-02", "2027-12-02", "1.34.1", "eks.13"),
    "1.35": ("2026-01-27", "2027-03-27", "2028-03-27", "1.35.0", "eks.3"),
}
AMI_RELEASE_DATE = "20260128"       # the node AMIs' release (the suffix of a releaseVersion)

ACCESS_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/"
ACCESS_POLICIES = ("AmazonEKSAdminPolicy", "AmazonEKSAdminViewPolicy", "AmazonEKSAutoNodePolicy",
                   "AmazonEKSBlockStoragePolicy", "AmazonEKSClusterAdminPolicy", "AmazonEKSComputePolicy",
                   "AmazonEKSEditPolicy", "AmazonEKSLoadBalancingPolicy", "AmazonEKSNetworkingPolicy",
                   "AmazonEKSSecretReaderPolicy", "AmazonEKSViewPolicy")

# add-on -> (type, requires IAM permissions, [(version, first minor, last minor)]), newest first;
# the default for a Kubernetes version is the newest version compatible with it.
ADDONS: dict[str, tuple[str, bool, list[tuple[str, str, str]]]] = {
    "vpc-cni": ("networking", True, [("v1.20.4-eksbuild.2", "1.29", "1.35"),
                                     ("v1.19.6-eksbuild.7", "1.29", "1.34"),
                                     ("v1.18.6-eksbuild.1", "1.29", "1.32")]),
    "coredns": ("networking", False, [("v1.12.4-eksbuild.1", "1.33", "1.35"),
                                      ("v1.11.4-eksbuild.24", "1.29", "1.33"),
                                      ("v1.11.3-eksbuild.2", "1.29", "1.31")]),
    "kube-proxy": ("networking", False, [(f"v{VERSIONS[m][3]}-eksbuild.2", m, m) for m in reversed(VERSIONS)]
                   + [(f"v{m}.0-eksbuild.1", m, m) for m in reversed(VERSIONS)]),
    "eks-pod-identity-agent": ("security", False, [("v1.3.9-eksbuild.3", "1.29", "1.35"),
                                                   ("v1.3.8-eksbuild.2", "1.29", "1.34")]),
    "aws-ebs-csi-driver": ("storage", True, [("v1.51.1-eksbuild.1", "1.29", "1.35"),
                                             ("v1.48.0-eksbuild.2", "1.29", "1.34")]),
    "metrics-server": ("observability", False, [("v0.8.0-eksbuild.2", "1.29", "1.35"),
                                                ("v0.7.2-eksbuild.4", "1.29", "1.33")]),
}


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _key(minor: str) -> tuple[int, int]:
    major, _, rest = minor.partition(".")
    return int(major), int(rest)


def support(minor: str, now: datetime) -> str:
    """STANDARD_SUPPORT, EXTENDED_SUPPORT or UNSUPPORTED on ``now``'s date."""
    release, standard_end, extended_end = (_date(d) for d in VERSIONS[minor][:3])
    if now < release:
        return "UNSUPPORTED"
    if now < standard_end:
        return "STANDARD_SUPPORT"
    if now < extended_end:
        return "EXTENDED_SUPPORT"
    stale = all(now >= _date(dates[2]) for dates in VERSIONS.values())
    # Past this table's last date the cloud keeps its two newest versions (it must keep working).
    return "EXTENDED_SUPPORT" if stale and minor in sorted(VERSIONS, key=_key)[-2:] else "UNSUPPORTED"


def offered(now: datetime) -> list[str]:
    """The versions a cluster can be created on or updated to, oldest first."""
    return [m for m in sorted(VERSIONS, key=_key) if support(m, now) != "UNSUPPORTED"]


def default_version(now: datetime) -> str:
    """EKS's default: the newest version in standard support (else the newest offered)."""
    standard = [m for m in offered(now) if support(m, now) == "STANDARD_SUPPORT"]
    return (standard or offered(now) or sorted(VERSIONS, key=_key))[-1]


def next_minor(minor: str) -> str:
    major, rest = _key(minor)
    return f"{major}.{rest + 1}"


def platform_version(minor: str) -> str:
    return VERSIONS[minor][4] if minor in VERSIONS else "eks.1"


def release_version(minor: str) -> str:
    """A node AMI release for a Kubernetes version (``1.33.5-20260128``)."""
    patch = VERSIONS[minor][3] if minor in VERSIONS else f"{minor}.0"
    return f"{patch}-{AMI_RELEASE_DATE}"


def cluster_versions(now: datetime) -> list[dict]:
    """DescribeClusterVersions' ClusterVersionInformation, newest first."""
    default = default_version(now)
    out = []
    for minor in sorted(VERSIONS, key=_key, reverse=True):
        release, standard_end, extended_end, patch, platform = VERSIONS[minor]
        status = support(minor, now)
        out.append({"clusterVersion": minor, "clusterType": "eks", "defaultPlatformVersion": platform,
                    "defaultVersion": minor == default, "releaseDate": _date(release),
                    "endOfStandardSupportDate": _date(standard_end),
                    "endOfExtendedSupportDate": _date(extended_end),
                    "status": status.lower().replace("_", "-"),
                    "versionStatus": status, "kubernetesPatchVersion": patch})
    return out


def addon_versions(name: str, minor: str | None) -> list[str]:
    """The add-on's versions compatible with ``minor`` (all of them for None), newest first."""
    _, _, versions = ADDONS[name]
    return [v for v, first, last in versions
            if minor is None or _key(first) <= _key(minor) <= _key(last)]


def default_addon_version(name: str, minor: str) -> str | None:
    found = addon_versions(name, minor)
    return found[0] if found else None


def addon_info(name: str, minor: str | None, now: datetime) -> dict:
    """DescribeAddonVersions' AddonInfo for one add-on (versions for ``minor``, or all)."""
    kind, iam, versions = ADDONS[name]
    infos = []
    for version, first, last in versions:
        minors = [m for m in offered(now) if _key(first) <= _key(m) <= _key(last)]
        if minor is not None:
            if minor not in minors:
                continue
            minors = [minor]
        infos.append({"addonVersion": version, "architecture": ["amd64", "arm64"],
                      "computeTypes": ["ec2", "auto", "hybrid"],
                      "compatibilities": [{"clusterVersion": m, "platformVersions": ["*"],
                                           "defaultVersion": default_addon_version(name, m) == version}
                                          for m in minors],
                      "requiresConfiguration": False, "requiresIamPermissions": iam})
    return {"addonName": name, "type": kind, "addonVersions": infos, "publisher": "eks", "owner": "aws",
            "defaultNamespace": "kube-system"}
