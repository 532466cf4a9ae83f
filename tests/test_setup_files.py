"""The set-up files agree with each other: environment.yml lists what
pyproject.toml lists, README's Quick start has exactly its two commands and
.ci/run runs the test one, and docker-compose.yml parses and names only paths
that exist. No Docker engine is needed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

# conda-only tools in environment.yml that are not Python dependencies.
CONDA_TOOLS = {"python", "pip", "git", "nodejs"}


# -- dependencies ---------------------------------------------------------------
def _normalized(requirement: str) -> tuple[str, str]:
    req = Requirement(requirement)
    extras = ",".join(sorted(canonicalize_name(e) for e in req.extras))
    name = canonicalize_name(req.name) + (f"[{extras}]" if extras else "")
    spec = ",".join(sorted(str(s) for s in req.specifier))
    return name, spec + (f";{req.marker}" if req.marker else "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + project.get("optional-dependencies", {}).get("test", [])
    return dict(_normalized(r) for r in listed)


def environment_requirements() -> tuple[dict[str, str], list[str], list[str]]:
    """(pip requirements, conda packages, pip options such as `-e .`)"""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip, options = [], {}, []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            for line in item.get("pip", []):
                if line.startswith("-"):
                    options.append(line)
                else:
                    name, spec = _normalized(line)
                    assert name not in pip, f"{name} is listed twice in environment.yml"
                    pip[name] = spec
        else:
            conda.append(item)
    return pip, conda, options


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    ours = pyproject_requirements()
    theirs, conda, options = environment_requirements()
    missing = sorted(set(ours) - set(theirs))
    extra = sorted(set(theirs) - set(ours))
    differ = sorted(f"{n}: pyproject {ours[n]!r} vs environment.yml {theirs[n]!r}"
                    for n in set(ours) & set(theirs) if ours[n] != theirs[n])
    assert not (missing or extra or differ), (
        f"pyproject.toml and environment.yml disagree:\n  missing from environment.yml: {missing}\n"
        f"  only in environment.yml: {extra}\n  different specs: {differ}")
    # Conda brings only the tools pip cannot, and the same Python floor.
    names = {re.split(r"[<>=!~ ]", c, maxsplit=1)[0] for c in conda}
    assert names <= CONDA_TOOLS, f"unexpected conda packages: {names - CONDA_TOOLS}"
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    python = next(c for c in conda if c.startswith("python"))
    assert floor.replace(" ", "") in python.replace(" ", ""), (python, floor)
    assert "-e ." in options  # the environment has the `workshop` command


def test_the_dependency_comparison_notices_a_difference():
    assert _normalized("moto[server]==5.2.5") == ("moto[server]", "==5.2.5")
    assert _normalized("Moto[Server] == 5.2.5") == _normalized("moto[server]==5.2.5")
    assert _normalized("moto==5.2.5") != _normalized("moto[server]==5.2.5")
    assert _normalized("boto3>=1.40") != _normalized("boto3>=1.41")
    assert _normalized("PyYAML>=6.0")[0] == _normalized("pyyaml>=6.0")[0]


# -- README and CI ----------------------------------------------------------------
def quick_start_commands(readme: str) -> list[str]:
    match = re.search(r"^## Quick start\s*$(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert match, "README.md has no '## Quick start' section"
    commands = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", match.group(1), re.M | re.S):
        commands += [line.strip() for line in block.splitlines()
                     if line.strip() and not line.strip().startswith("#")]
    return commands


def test_readme_quick_start_has_exactly_two_commands():
    commands = quick_start_commands((ROOT / "README.md").read_text())
    assert len(commands) == 2, commands
    start, test = commands
    assert "pip install -e ." in start and start.endswith("-m workshop up")
    assert "pip install -e '.[test]'" in test and test.endswith("-m pytest -n 2 --dist loadgroup")


def test_ci_runs_the_readme_test_command():
    test_command = quick_start_commands((ROOT / "README.md").read_text())[1]
    script = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines()]
    assert lines[0].startswith("#!") and "bash" in lines[0]
    assert "set -euo pipefail" in lines
    assert "README" in script  # names where the command comes from
    runs = [line for line in lines if test_command in line and not line.startswith("#")]
    assert len(runs) == 1, f".ci/run does not run README's test command {test_command!r}"
    # Whatever surrounds the command must not turn a failure (exit 5: no tests) into success.
    rest = runs[0].replace(test_command, "", 1).strip()
    assert rest in ("", "|| status=$?"), rest
    assert 'exit "$status"' in lines
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111, ".ci/run is not executable"


# -- docker-compose.yml ----------------------------------------------------------
def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_paths(compose: dict) -> list[str]:
    """Every host path the file names: build contexts, Dockerfiles, bind mounts, env files."""
    paths = []
    named_volumes = set(compose.get("volumes") or {})
    for service in compose["services"].values():
        build = service.get("build")
        if isinstance(build, str):
            paths.append(build)
        elif isinstance(build, dict):
            context = build.get("context", ".")
            paths.append(context)
            paths.append(str(Path(context) / build.get("dockerfile", "Dockerfile")))
        for volume in service.get("volumes", []):
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":", 1)[0]
            if source and source not in named_volumes:
                paths.append(source)
        env_file = service.get("env_file", [])
        for entry in [env_file] if isinstance(env_file, str) else env_file:
            paths.append(entry["path"] if isinstance(entry, dict) else entry)
    return paths


def test_docker_compose_parses_and_every_path_it_names_exists():
    compose = _compose()
    paths = compose_paths(compose)
    assert str(Path(".") / "Dockerfile") in paths and "./labs" in paths
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"docker-compose.yml names paths that do not exist: {missing}"


def test_docker_compose_runs_the_workshop_and_a_localstack_profile():
    services = _compose()["services"]
    cloud, lab = services["cloud"], services["lab"]
    assert cloud["image"] == lab["image"]  # one workshop image for both
    assert "4566" in " ".join(cloud["ports"]) and "8888" in " ".join(lab["ports"])
    assert cloud["command"][:4] == ["python", "-m", "workshop", "cloud"]
    assert lab["command"][:4] == ["python", "-m", "workshop", "up"]
    assert "profiles" not in cloud and "profiles" not in lab

    localstack = services["localstack"]
    assert localstack["profiles"] == ["localstack"]
    assert localstack["image"].startswith("localstack/localstack-pro")
    assert "LOCALSTACK_AUTH_TOKEN" in localstack["environment"]
    pointed = [s for s in services.values()
               if s.get("profiles") == ["localstack"] and s is not localstack]
    assert pointed and all(s["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566" for s in pointed)


@pytest.mark.parametrize("volume, expected", [
    ("./labs:/workshop/labs", ["./labs"]),
    ("cache:/data", []),
    ({"type": "bind", "source": "./missing", "target": "/x"}, ["./missing"]),
])
def test_compose_path_listing(volume, expected):
    compose = {"volumes": {"cache": None}, "services": {"s": {"image": "x", "volumes": [volume]}}}
    assert compose_paths(compose) == expected


# -- what `workshop up` gives JupyterLab (the end-to-end run is tests/test_up.py) --
def test_shipped_jupyter_settings_turn_off_news_and_instructor_extensions():
    import json

    from workshop import up

    settings_dir = ROOT / "jupyter" / "lab" / "settings"
    assert up.LAB_SETTINGS_DIR == settings_dir
    overrides = json.loads((settings_dir / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false",
                                                                         "checkForUpdates": False}
    disabled = json.loads((settings_dir / "page_config.json").read_text())["disabledExtensions"]
    # The "Nbgrader" menu and the notebook's Validate button are plugins of their own.
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:menu",
            "@jupyter/nbgrader:validate-assignment"} <= set(disabled)
    # Instructors: the same defaults, nbgrader's extensions on.
    instructor = up.INSTRUCTOR_SETTINGS_DIR
    assert sorted(p.name for p in instructor.iterdir()) == ["overrides.json"]
    assert json.loads((instructor / "overrides.json").read_text()) == overrides


def test_jupyter_command_and_learner_environment(monkeypatch):
    import argparse
    import os

    from workshop import up

    args = argparse.Namespace(host="localhost", jupyter_port=8123)
    command = up.jupyter_command(args, ROOT / "labs", Path("/x/config.json"), no_browser=True)
    assert "--config=/x/config.json" in command and not [a for a in command if "token" in a.lower()]
    assert f"--LabApp.app_settings_dir={up.LAB_SETTINGS_DIR}" in command
    assert f"--ServerApp.root_dir={ROOT / 'labs'}" in command
    assert "--no-browser" in command and "--ServerApp.port_retries=0" in command
    assert ("--allow-root" in command) == (os.geteuid() == 0)
    assert "nbgrader.server_extensions.formgrader=False" in command
    assert "nbgrader.server_extensions.validate_assignment=False" in command
    command = up.jupyter_command(args, ROOT / "labs", Path("/x/config.json"), no_browser=False, instructor=True)
    assert f"--LabApp.app_settings_dir={up.INSTRUCTOR_SETTINGS_DIR}" in command
    assert "--no-browser" not in command and not [a for a in command if "nbgrader" in a]

    monkeypatch.setenv("AWS_PROFILE", "mine")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "secret")
    monkeypatch.setenv("WORKSHOP_ACCOUNT", "111111111111")
    env = up.learner_env("http://localhost:4566", ROOT)
    assert env["AWS_ENDPOINT_URL"] == "http://localhost:4566"
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == "111111111111" and env["AWS_SECRET_ACCESS_KEY"] == "test"
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env
    monkeypatch.delenv("WORKSHOP_ACCOUNT")
    assert up.learner_env("http://localhost:4566", ROOT)["AWS_ACCESS_KEY_ID"] == "test"


def test_up_opens_no_browser_on_linux_without_a_display(monkeypatch):
    from workshop import up

    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not up.has_display()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert up.has_display()
    assert up.url_host("localhost") == up.url_host("127.0.0.1") == up.url_host("0.0.0.0") == "localhost"


def test_cloud_on_localhost_listens_on_both_loopbacks():
    from workshop.cloud.server import listen_addresses

    assert listen_addresses("localhost", 4566) in ("127.0.0.1:4566 [::1]:4566", "127.0.0.1:4566")
    assert listen_addresses("0.0.0.0", 4566) == "0.0.0.0:4566"
    assert listen_addresses("::", 4566) == "[::]:4566"


def test_hub_servers_hide_nbgrader_from_learners_and_show_it_to_instructors():
    from workshop import up

    hub = pytest.importorskip("hub.workshop_hub")
    learner = hub.singleuser_args()
    assert f"--LabApp.app_settings_dir={up.LAB_SETTINGS_DIR}" in learner
    assert "nbgrader.server_extensions.validate_assignment=False" in learner
    instructor = hub.singleuser_args(instructor=True)
    assert f"--LabApp.app_settings_dir={up.INSTRUCTOR_SETTINGS_DIR}" in instructor
    assert not [a for a in instructor if "nbgrader" in a]
