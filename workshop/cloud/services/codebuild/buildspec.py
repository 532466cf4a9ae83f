"""The buildspec (version 0.1 and 0.2): parsed and checked into plain data the
build runner follows. Anything CodeBuild would refuse raises BuildspecError
with the YAML_FILE_ERROR message the build's phase context shows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

PHASES = ("install", "pre_build", "build", "post_build")
RUNTIMES = ("android", "dotnet", "golang", "java", "nodejs", "php", "python", "ruby")
SHELLS = {"bash": "/bin/bash", "/bin/bash": "/bin/bash", "sh": "/bin/sh", "/bin/sh": "/bin/sh"}
REPORT_FORMATS = ("JUNITXML", "CUCUMBERJSON", "TESTNGXML", "VISUALSTUDIOTRX", "NUNITXML",
                  "NUNIT3XML", "CLOVERXML", "COBERTURAXML", "JACOCOXML", "SIMPLECOV")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BuildspecError(ValueError):
    status_code = "YAML_FILE_ERROR"


@dataclass
class Phase:
    name: str
    commands: list[str] = field(default_factory=list)
    finally_commands: list[str] = field(default_factory=list)
    on_failure: str | None = None  # ABORT | CONTINUE | None (the default transitions)
    runtime_versions: dict[str, str] = field(default_factory=dict)


@dataclass
class FileSet:
    """What `artifacts` and each report select: globs under a base directory."""

    files: list[str]
    base_directory: str = ""
    discard_paths: bool = False
    exclude_paths: list[str] = field(default_factory=list)
    name: str | None = None
    file_format: str = "JUNITXML"


@dataclass
class Buildspec:
    version: str
    shell: str = "/bin/bash"
    variables: dict[str, str] = field(default_factory=dict)
    parameter_store: dict[str, str] = field(default_factory=dict)
    secrets_manager: dict[str, str] = field(default_factory=dict)
    exported_variables: list[str] = field(default_factory=list)
    phases: dict[str, Phase] = field(default_factory=dict)
    reports: dict[str, FileSet] = field(default_factory=dict)
    artifacts: FileSet | None = None
    secondary_artifacts: dict[str, FileSet] = field(default_factory=dict)

    @property
    def persistent_shell(self) -> bool:
        """Version 0.2 runs every command of the build in one shell session."""
        return self.version == "0.2"


def parse(text: str) -> Buildspec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BuildspecError(f"Invalid buildspec YAML: {_one_line(exc)}") from None
    if not isinstance(data, dict):
        raise BuildspecError("The buildspec must be a YAML mapping with a version and phases")

    version = data.get("version")
    if version is None:
        raise BuildspecError("Missing version in buildspec")
    version = f"{version:.1f}" if isinstance(version, float) else str(version).strip()
    if version not in ("0.1", "0.2"):
        raise BuildspecError(f"Invalid buildspec version {version}: use 0.2")

    spec = Buildspec(version=version)
    _parse_env(data.get("env"), spec)

    phases = data.get("phases")
    if phases is None:
        phases = {}
    if not isinstance(phases, dict):
        raise BuildspecError("Expected phases to be a mapping of phase names")
    for name, body in phases.items():
        if name not in PHASES:
            raise BuildspecError(f"Unknown phase {name!r}: use one of {', '.join(PHASES)}")
        spec.phases[name] = _parse_phase(name, body)

    reports = data.get("reports")
    if reports is not None:
        if not isinstance(reports, dict):
            raise BuildspecError("Expected reports to be a mapping of report group names")
        for name, body in reports.items():
            spec.reports[str(name)] = _parse_fileset(f"reports/{name}", body, report=True)

    artifacts = data.get("artifacts")
    if artifacts is not None:
        if not isinstance(artifacts, dict):
            raise BuildspecError("Expected artifacts to be a mapping")
        secondary = artifacts.get("secondary-artifacts") or {}
        if not isinstance(secondary, dict):
            raise BuildspecError("Expected artifacts/secondary-artifacts to be a mapping")
        for ident, body in secondary.items():
            spec.secondary_artifacts[str(ident)] = _parse_fileset(f"secondary-artifacts/{ident}", body)
        if "files" in artifacts:
            spec.artifacts = _parse_fileset("artifacts", artifacts)
    return spec


def _parse_env(env, spec: Buildspec) -> None:
    if env is None:
        return
    if not isinstance(env, dict):
        raise BuildspecError("Expected env to be a mapping")
    shell = env.get("shell")
    if shell is not None:
        if str(shell) not in SHELLS:
            raise BuildspecError(f"Unsupported shell {shell!r}: use bash or /bin/sh")
        spec.shell = SHELLS[str(shell)]
    for key, target in (("variables", spec.variables), ("parameter-store", spec.parameter_store),
                        ("secrets-manager", spec.secrets_manager)):
        block = env.get(key)
        if block is None:
            continue
        if not isinstance(block, dict):
            raise BuildspecError(f"Expected env/{key} to be a mapping of names to values")
        for name, value in block.items():
            name = str(name)
            if not _NAME.match(name):
                raise BuildspecError(f"Invalid environment variable name {name!r} in env/{key}")
            target[name] = _scalar(value, f"env/{key}/{name}")
    exported = env.get("exported-variables")
    if exported is not None:
        if not isinstance(exported, list):
            raise BuildspecError("Expected env/exported-variables to be a list of names")
        for name in exported:
            name = _scalar(name, "env/exported-variables")
            if not _NAME.match(name):
                raise BuildspecError(f"Invalid exported variable name {name!r}")
            spec.exported_variables.append(name)


def _parse_phase(name: str, body) -> Phase:
    phase = Phase(name=name)
    if body is None:
        return phase
    if not isinstance(body, dict):
        raise BuildspecError(f"Expected phase {name} to be a mapping with commands")
    phase.commands = _commands(body.get("commands"), f"{name}/commands")
    phase.finally_commands = _commands(body.get("finally"), f"{name}/finally")
    on_failure = body.get("on-failure")
    if on_failure is not None:
        on_failure = str(on_failure).upper()
        if on_failure not in ("ABORT", "CONTINUE"):
            raise BuildspecError(f"Invalid on-failure {body.get('on-failure')!r} in phase {name}: "
                                 "use ABORT or CONTINUE")
        phase.on_failure = on_failure
    runtimes = body.get("runtime-versions")
    if runtimes is not None:
        if name != "install":
            raise BuildspecError(f"runtime-versions is only allowed in the install phase, not {name}")
        if not isinstance(runtimes, dict):
            raise BuildspecError("Expected install/runtime-versions to be a mapping of runtimes")
        for runtime, version in runtimes.items():
            value = f"{version:g}" if isinstance(version, float) else _scalar(version, "runtime-versions")
            phase.runtime_versions[str(runtime)] = value
    return phase


def _commands(value, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise BuildspecError(f"Expected {where} to be a list of commands")
    commands = []
    for i, item in enumerate(value):
        if isinstance(item, (dict, list)):
            kind = "subkeys" if isinstance(item, dict) else "a list"
            raise BuildspecError(f"Expected {where}[{i}] to be of string type: found {kind} instead "
                                 "(quote a command that contains ': ')")
        if item is None:
            raise BuildspecError(f"Expected {where}[{i}] to be of string type: found an empty value")
        commands.append(_scalar(item, where))
    return commands


def _parse_fileset(where: str, body, report: bool = False) -> FileSet:
    if not isinstance(body, dict):
        raise BuildspecError(f"Expected {where} to be a mapping with files")
    files = body.get("files")
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not files:
        raise BuildspecError(f"Expected {where}/files to be a non-empty list of paths")
    exclude = body.get("exclude-paths") or []
    if isinstance(exclude, str):
        exclude = [exclude]
    fileset = FileSet(
        files=[_scalar(f, f"{where}/files") for f in files],
        base_directory=_scalar(body.get("base-directory") or "", f"{where}/base-directory"),
        discard_paths=_yes(body.get("discard-paths"), f"{where}/discard-paths"),
        exclude_paths=[_scalar(f, f"{where}/exclude-paths") for f in exclude],
        name=_scalar(body["name"], f"{where}/name") if body.get("name") is not None else None,
    )
    if report:
        fmt = str(body.get("file-format") or "JUNITXML").upper()
        if fmt not in REPORT_FORMATS:
            raise BuildspecError(f"Invalid file-format {fmt!r} in {where}")
        fileset.file_format = fmt
    return fileset


def _yes(value, where: str) -> bool:
    if value is None or value is False:
        return False
    if value is True:
        return True
    text = str(value).strip().lower()
    if text in ("yes", "true"):
        return True
    if text in ("no", "false"):
        return False
    raise BuildspecError(f"Expected {where} to be yes or no, found {value!r}")


def _scalar(value, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise BuildspecError(f"Expected {where} to be a string, found {type(value).__name__}")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
