"""Basic scanning, as pure functions: an image's package inventory read from its
layers (Debian's ``var/lib/dpkg/status``; Python distributions' ``*.dist-info/METADATA``
and ``*.egg-info/PKG-INFO`` anywhere in the image), with OCI whiteouts applied, matched
against the advisory snapshot the project ships (``data/advisories.json``: where it
comes from is written in it), giving findings in ECR's shape.

The scanner engine (scanner.py) runs this off the request thread; a layer's
inventory is kept by digest (layers are content-addressed), so a base shared by
many images is read once."""

from __future__ import annotations

import email.parser
import json
import re
import tarfile
from functools import lru_cache
from pathlib import Path, PurePosixPath

_DATA = Path(__file__).with_name("data") / "advisories.json"
_DIST_INFO = re.compile(r"(^|/)[^/]+\.(dist-info/METADATA|egg-info/PKG-INFO)$")
DPKG_STATUS = "var/lib/dpkg/status"
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")


@lru_cache(maxsize=1)
def snapshot() -> dict:
    return json.loads(_DATA.read_text())


# -- inventory ---------------------------------------------------------------------
def layer_entries(path: Path) -> tuple[dict[str, tuple[str, str, str]], list[str]]:
    """One layer: {file path: (ecosystem, name, version)} of the package records it
    holds (several per dpkg status file: keyed 'status#name'), and its whiteouts."""
    found: dict[str, tuple[str, str, str]] = {}
    whiteouts: list[str] = []
    with open(path, "rb") as f:
        mode = "r:gz" if f.read(2) == b"\x1f\x8b" else "r:"
    with tarfile.open(path, mode) as tar:
        for member in tar:
            name = member.name.lstrip("./")
            base = PurePosixPath(name).name
            if base.startswith(".wh."):
                whiteouts.append(name)
                continue
            if not member.isreg():
                continue
            if name == DPKG_STATUS:
                for pkg, version in _dpkg_packages(tar.extractfile(member).read().decode("utf-8", "replace")):
                    found[f"{name}#{pkg}"] = ("Debian", pkg, version)
            elif _DIST_INFO.search(name) and member.size < 4 * 1024 * 1024:
                meta = email.parser.Parser().parsestr(
                    tar.extractfile(member).read().decode("utf-8", "replace"), headersonly=True)
                if meta.get("Name") and meta.get("Version"):
                    found[name] = ("PyPI", meta["Name"], meta["Version"])
    return found, whiteouts


def _dpkg_packages(text: str):
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Version") and "installed" in fields.get("Status", "installed"):
            yield fields["Package"], fields["Version"]


def inventory(layers: list[tuple[dict, list[str]]]) -> list[tuple[str, str, str]]:
    """The packages of the image whose layers (base first) hold these entries."""
    current: dict[str, tuple[str, str, str]] = {}
    for entries, whiteouts in layers:
        for whiteout in whiteouts:
            parent = str(PurePosixPath(whiteout).parent).lstrip(".")
            name = PurePosixPath(whiteout).name[4:]
            gone = f"{parent}/{name}".lstrip("/") if name != ".wh..opq" else parent.lstrip("/")
            current = {k: v for k, v in current.items()
                       if not (k == gone or k.startswith(gone + "/") or k.startswith(gone + "#"))}
        if any(k.startswith(DPKG_STATUS + "#") for k in entries):  # a new status file replaces the old
            current = {k: v for k, v in current.items() if not k.startswith(DPKG_STATUS + "#")}
        current.update(entries)
    return sorted(set(current.values()))


# -- matching ----------------------------------------------------------------------
def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def findings(packages: list[tuple[str, str, str]]) -> list[dict]:
    """ECR's ImageScanFinding for every advisory a package's version is affected by."""
    out = []
    for advisory in snapshot()["advisories"]:
        for ecosystem, name, version in packages:
            if ecosystem != advisory["ecosystem"].split(":")[0] or _normal(name) != _normal(advisory["package"]):
                continue
            if not _affected(ecosystem, version, advisory.get("introduced", "0"), advisory.get("fixed")):
                continue
            cve = next((a for a in advisory.get("aliases", []) if a.startswith("CVE-")), advisory["id"])
            attributes = [{"key": "package_version", "value": version}, {"key": "package_name", "value": name}]
            if advisory.get("cvss3") is not None:
                attributes.append({"key": "CVSS3_SCORE", "value": str(advisory["cvss3"])})
            attributes.append({"key": "advisory_id", "value": advisory["id"]})
            if advisory.get("fixed"):
                attributes.append({"key": "fixed_in_version", "value": advisory["fixed"]})
            out.append({"name": cve, "description": advisory["summary"], "uri": advisory["url"],
                        "severity": advisory["severity"], "attributes": attributes})
    return out


def severity_counts(found: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in found:
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    return counts


def _affected(ecosystem: str, version: str, introduced: str, fixed: str | None) -> bool:
    compare = debian_compare if ecosystem == "Debian" else python_compare
    if introduced not in ("0", "") and compare(version, introduced) < 0:
        return False
    return fixed is None or compare(version, fixed) < 0


def python_compare(a: str, b: str) -> int:
    try:
        from packaging.version import Version

        va, vb = Version(a), Version(b)
    except Exception:  # not PEP 440 (or no packaging): numbers, then text
        va, vb = _loose(a), _loose(b)
    return (va > vb) - (va < vb)


def _loose(version: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.+-]", version))


def debian_compare(a: str, b: str) -> int:
    """dpkg's version order (epoch, upstream version, Debian revision; '~' sorts first)."""
    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        return int(epoch or 0), upstream, revision

    def order(c: str) -> int:
        if c == "~":
            return -1
        if c.isalpha():
            return ord(c)
        return ord(c) + 256 if c else 0

    def part(x: str, y: str) -> int:
        while x or y:
            xs = re.match(r"\D*", x).group()
            ys = re.match(r"\D*", y).group()
            for i in range(max(len(xs), len(ys))):
                cx, cy = order(xs[i] if i < len(xs) else ""), order(ys[i] if i < len(ys) else "")
                if cx != cy:
                    return (cx > cy) - (cx < cy)
            x, y = x[len(xs):], y[len(ys):]
            xn = re.match(r"\d*", x).group()
            yn = re.match(r"\d*", y).group()
            if int(xn or 0) != int(yn or 0):
                return (int(xn or 0) > int(yn or 0)) - (int(xn or 0) < int(yn or 0))
            x, y = x[len(xn):], y[len(yn):]
        return 0

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return (ea > eb) - (ea < eb)
    return part(ua, ub) or part(ra, rb)
