"""``workshop doctor``: what the labs will talk to (endpoint, account), the
versions of the pieces, whether the cloud is healthy, and what is wrong with
the fix to try. Exit 0 when nothing is wrong, 1 when something is."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata

from workshop import __version__, settings

PACKAGES = ("moto", "boto3", "jupyterlab", "nbgrader")
START_HINT = "start it with `python3 -m workshop up` (or `python3 -m workshop cloud` for the cloud alone)"


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, label: str, value: str) -> None:
        self.lines.append((label, value))


def doctor(args) -> int:
    report = Report()
    endpoint, account = _aws(args, report)
    _versions(report)
    if endpoint is not None:
        _cloud(endpoint, report)
        _kubernetes(report)
    if account is not None:
        _load_balancers(args, report)
        _express_services(args, report)
        _app_runner(args, report)
    _admin_token(args, endpoint, report)
    _images(args, report)
    print(render(report))
    return 1 if report.problems else 0


def render(report: Report) -> str:
    width = max(len(label) for label, _ in report.lines) + 2
    out = [f"{label:<{width}}{value}" for label, value in report.lines]
    for note in report.notes:
        out.append(f"note: {note}")
    if report.problems:
        out.append("")
        out.append(f"{len(report.problems)} problem{'s' if len(report.problems) > 1 else ''}:")
        out += [f"  - {problem}" for problem in report.problems]
    else:
        out.append("")
        out.append("All good.")
    return "\n".join(out)


# -- the endpoint and the account --------------------------------------------
def _aws(args, report: Report) -> tuple[str | None, str | None]:
    from checker.session import session, target

    try:
        where = target(endpoint=args.endpoint, account=args.account)
    except LookupError as exc:
        report.add("endpoint", "real AWS")
        report.problems.append(f"{exc}: configure AWS credentials, or use the workshop cloud "
                               f"(--endpoint {settings.DEFAULT_ENDPOINT})")
        return None, None
    report.add("endpoint", where.endpoint or f"real AWS ({where.region})")
    report.add("region", where.region)
    report.add("access key", where.access_key_id if where.is_emulator else _mask(where.access_key_id))
    try:
        identity = session(where).client("sts").get_caller_identity()
    except Exception as exc:  # a doctor reports, it never raises
        report.add("account", f"unknown ({_short(exc)})")
        if where.is_emulator:
            report.problems.append(f"nothing answers at {where.endpoint}: the cloud is not running; {START_HINT}")
        else:
            report.problems.append(f"real AWS did not answer get_caller_identity: {_short(exc)}")
        return where.endpoint, None
    account = identity.get("Account", "?")
    report.add("account", account)
    return where.endpoint, account


# -- versions ----------------------------------------------------------------
def _versions(report: Report) -> None:
    report.add("workshop", __version__)
    for name in PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
            report.problems.append(f"{name} is not installed: run `python3 -m pip install -e .` in the project")
        report.add(name, version)
    pinned = _pinned("moto")
    moto = dict(report.lines).get("moto")
    if pinned and moto not in (None, "not installed") and moto != pinned:
        report.problems.append(f"moto {moto} is installed but the cloud is built on moto {pinned}: "
                               "run `python3 -m pip install -e .` in the project")
    report.add("python", f"{platform.python_version()} ({sys.executable})")
    if sys.version_info < (3, 11):
        report.problems.append("Python 3.11 or newer is needed")
    report.add("node", _node_version())


def _pinned(name: str) -> str | None:
    try:
        requires = metadata.requires("devops-workshop") or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requires:
        head = requirement.split(";")[0].replace(" ", "")
        if head.lower().startswith(name) and "==" in head:
            return head.split("==", 1)[1]
    return None


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "not found (only the CDK part of lab 04 needs it)"
    try:
        return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"


# -- the cloud ---------------------------------------------------------------
def _cloud(endpoint: str, report: Report) -> None:
    health = _get_json(f"{endpoint}/_workshop/health")
    if health is not None:
        report.add("cloud", f"healthy, workshop cloud {health.get('version', '?')}, "
                            f"time scale {health.get('time_scale', '?')}, "
                            f"up {health.get('uptime_seconds', '?')} s")
        return
    other = _get_json(f"{endpoint}/_localstack/health")
    if other is not None:
        report.add("cloud", f"an AWS emulator answers (edition {other.get('edition', '?')}), "
                            "not the workshop cloud")
        report.notes.append("the workshop's own services (builds, pipelines, deployments, drift) "
                            "need the workshop cloud")
        return
    report.add("cloud", "not answering")
    if not any("not running" in problem for problem in report.problems):
        report.problems.append(f"the cloud does not answer {endpoint}/_workshop/health; {START_HINT}")


def _kubernetes(report: Report) -> None:
    """What EKS is here: its API (clusters, node groups, updates on the clock), no Kubernetes."""
    report.add("kubernetes", "none: EKS clusters here have no Kubernetes API (their API, node groups, updates, "
                             "add-ons and kubeconfig work; kubectl and pods need a real EKS cluster)")


def _load_balancers(args, report: Report) -> None:
    """Where each of the account's load balancers answers (the URL a learner curls; in the
    workshop cloud a local port the cloud picked, never a guessed one)."""
    from checker.session import client, target
    from labkit.load_balancers import NoListener, listener_urls

    try:
        elbv2 = client("elbv2", target(endpoint=args.endpoint, account=args.account))
        names = [lb["LoadBalancerName"] for page in elbv2.get_paginator("describe_load_balancers").paginate()
                 for lb in page["LoadBalancers"]]
    except Exception as exc:  # a doctor reports, it never raises
        report.add("load balancers", f"unknown ({_short(exc)})")
        return
    if not names:
        report.add("load balancers", "none in this account and region")
        return
    for name in names:
        try:
            urls = listener_urls(name, client=elbv2)
            report.add(f"load balancer {name}", ", ".join(f"{port} -> {url}" for port, url in sorted(urls.items())))
        except NoListener as exc:
            report.add(f"load balancer {name}", str(exc))
        except Exception as exc:
            report.add(f"load balancer {name}", f"unknown ({_short(exc)})")


def _express_services(args, report: Report) -> None:
    """Where each ECS Express Mode service answers: its endpoint is AWS's host name on the shared
    load balancer; in the workshop cloud, the local URL the cloud serves it on (workshop:url)."""
    from checker.session import client, target
    from labkit.load_balancers import URL_TAG

    try:
        ecs = client("ecs", target(endpoint=args.endpoint, account=args.account))
        found = []
        for cluster in ecs.list_clusters().get("clusterArns", []):
            arns = [a for page in ecs.get_paginator("list_services").paginate(cluster=cluster)
                    for a in page["serviceArns"]]
            for start in range(0, len(arns), 10):
                for service in ecs.describe_services(cluster=cluster, services=arns[start:start + 10],
                                                     include=["TAGS"])["services"]:
                    url = {t["key"]: t["value"] for t in service.get("tags") or []}.get(URL_TAG)
                    if url and service.get("status") == "ACTIVE":
                        found.append((service["serviceName"], service["serviceArn"], url))
    except Exception as exc:  # a doctor reports, it never raises
        report.add("express services", f"unknown ({_short(exc)})")
        return
    for name, arn, url in found:
        try:
            config = ecs.describe_express_gateway_service(serviceArn=arn)["service"]["activeConfigurations"][0]
            endpoint = config["ingressPaths"][0]["endpoint"]
        except Exception:
            continue
        report.add(f"express service {name}", f"{endpoint} -> {url}")


def _app_runner(args, report: Report) -> None:
    """Where each App Runner service answers (its URL: in the workshop cloud the local
    listener its ServiceUrl names, plain HTTP; on AWS https:// and the ServiceUrl)."""
    from checker.session import client, target
    from labkit.app_runner import NoService, service_url, services

    try:
        apprunner = client("apprunner", target(endpoint=args.endpoint, account=args.account))
        found = services(apprunner)
    except Exception as exc:  # a doctor reports, it never raises (a new AWS account may not have App Runner)
        report.add("app runner", f"unknown ({_short(exc)})")
        return
    if not found:
        report.add("app runner", "no services in this account and region")
        return
    for summary in found:
        try:
            url = service_url(summary["ServiceArn"], client=apprunner)
            report.add(f"app runner {summary['ServiceName']}", f"{url} ({summary['Status']})")
        except NoService as exc:
            report.add(f"app runner {summary['ServiceName']}", str(exc))


def _admin_token(args, endpoint: str | None, report: Report) -> None:
    data = settings.data_dir(getattr(args, "data_dir", None))
    path = data / settings.ADMIN_TOKEN_FILE
    if os.environ.get("WORKSHOP_ADMIN_TOKEN"):
        source = "$WORKSHOP_ADMIN_TOKEN"
    elif path.exists():
        source = str(path)
    else:
        report.add("admin token", f"none ({path} does not exist)")
        report.notes.append("the admin token is only for instructors (clock, resetting other accounts); "
                            "the cloud writes it into its data dir when it starts (see --data-dir)")
        return
    token = settings.admin_token(data)
    accepted = _get_json(f"{endpoint}/_workshop/clock", token) if endpoint and token else None
    if accepted is not None:
        report.add("admin token", f"{source} (accepted by the cloud)")
    else:
        report.add("admin token", source)
        if endpoint and _get_json(f"{endpoint}/_workshop/health") is not None:
            report.notes.append(f"the cloud at {endpoint} does not accept the admin token from {source}: "
                                "it was started with another data dir or $WORKSHOP_ADMIN_TOKEN")


def _images(args, report: Report) -> None:
    """How this machine builds and runs container images (lab 05), and the base image."""
    from workshop.images import base, podman

    build, run = podman.how_images_build_and_run()
    report.add("images build", build)
    report.add("images run", run)
    image = base.get(settings.data_dir(getattr(args, "data_dir", None)))
    if image is None:
        report.add("base image", "none yet")
        report.notes.append("containers (lab 05) build on a Python base image: make it once with "
                            "`python3 -m workshop image base`")
    else:
        report.add("base image", f"{base.BASE_TAG} {image.digest[:19]} "
                                  f"({sum(l.size for l in image.layers) / 1e6:.0f} MB)")


# -- helpers -----------------------------------------------------------------
def _get_json(url: str, token: str | None = None) -> dict | None:
    request = urllib.request.Request(url)
    if token:
        request.add_header("X-Workshop-Admin-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=3) as resp:
            return json.loads(resp.read() or b"{}")
    except (OSError, urllib.error.URLError, ValueError):
        return None


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _mask(key: str) -> str:
    return key[:4] + "..." + key[-4:] if len(key) > 8 else key
