"""One account's state as one file: that account's backends in every moto
``BackendDict`` (moto's services and the project's, found where they live), plus
module state kept with ``persistence.keep``, pickled with reducers for what a
backend holds that pickle cannot take as is (locks, conditions, weak mappings),
behind a header whose format version the loader checks."""

from __future__ import annotations

import collections
import copyreg
import hashlib
import importlib
import io
import json
import logging
import os
import pickle
import sys
import threading
import time
import weakref
from pathlib import Path

log = logging.getLogger("workshop.cloud.persistence")

# Raise it when a change makes older snapshots unreadable or wrong (a class renamed or
# moved, a field whose meaning changed), and regenerate tests/data's snapshot with
# tests/data/make_snapshot.py: the loader refuses other versions, clearly.
FORMAT = 1
MAGIC = b"WORKSHOP-SNAPSHOT\n"
SUFFIX = ".snapshot"


class SnapshotError(Exception):
    """A snapshot cannot be read: corrupt, truncated, or from another format version."""


# -- reducers: what backends hold that pickle refuses ---------------------------------
# A lock or condition is restored new and free (nobody holds it in a new process); a weak
# mapping is restored with the entries it had (their objects are held elsewhere in the
# same snapshot). Per pickler, not in copyreg's global table: copy.deepcopy keeps its rules.

_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())


def _new_lock():
    return threading.Lock()


def _new_rlock():
    return threading.RLock()


def _new_condition():
    return threading.Condition()


def _new_event(is_set: bool):
    event = threading.Event()
    if is_set:
        event.set()
    return event


def _reduce_weak_values(mapping):
    return weakref.WeakValueDictionary, (), None, None, iter(list(mapping.items()))


def _reduce_weak_keys(mapping):
    return weakref.WeakKeyDictionary, (), None, None, iter(list(mapping.items()))


def _new_weak_set(items):
    return weakref.WeakSet(items)


def _reduce_defaultdict(mapping):
    # moto makes some with a lambda (``defaultdict(lambda: {})``), which pickle refuses: a
    # lambda that makes an empty dict, list or set is that type.
    factory = mapping.default_factory
    if getattr(factory, "__name__", "") == "<lambda>":
        sample = factory()
        if type(sample) in (dict, list, set) and not sample:
            factory = type(sample)
    return collections.defaultdict, (factory,), None, None, iter(list(mapping.items()))


def _crypto_reducers() -> dict:
    """cryptography's certificates and private keys (ACM's imported and issued certificates
    hold both), kept as their PEM and loaded again at restore. The classes are the Rust
    bindings' (the public ones are abstract)."""
    try:
        from cryptography.hazmat.bindings._rust import openssl, x509
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        return {}

    def certificate(cert):
        return _load_certificate, (cert.public_bytes(serialization.Encoding.PEM),)

    def private_key(key):
        return _load_private_key, (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()),)

    found = {x509.Certificate: certificate}
    for module, name in (("rsa", "RSAPrivateKey"), ("ec", "ECPrivateKey"), ("ed25519", "Ed25519PrivateKey")):
        kind = getattr(getattr(openssl, module, None), name, None)
        if kind is not None:
            found[kind] = private_key
    return found


def _load_certificate(pem: bytes):
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem)


def _load_private_key(pem: bytes):
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, password=None)


REDUCERS = {
    _LOCK: lambda lock: (_new_lock, ()),
    _RLOCK: lambda lock: (_new_rlock, ()),
    threading.Condition: lambda cond: (_new_condition, ()),
    threading.Event: lambda event: (_new_event, (event.is_set(),)),
    weakref.WeakValueDictionary: _reduce_weak_values,
    weakref.WeakKeyDictionary: _reduce_weak_keys,
    weakref.WeakSet: lambda items: (_new_weak_set, (list(items),)),
    collections.defaultdict: _reduce_defaultdict,
}


REDUCERS.update(_crypto_reducers())


class _Pickler(pickle.Pickler):
    dispatch_table = {**copyreg.dispatch_table, **REDUCERS}


def dumps(value) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


# -- where backends live ----------------------------------------------------------------

_homes: dict[int, str] = {}


def backend_dicts():
    """Every BackendDict that holds an account, with its home ``module:attribute``."""
    from moto.core.base_backend import BackendDict

    found = []
    for backend_dict in list(BackendDict._instances):
        home = _homes.get(id(backend_dict)) or _find_home(backend_dict)
        if home is None:
            log.error("snapshot: a %s BackendDict lives in no module: its state is not kept",
                      getattr(backend_dict, "service_name", "?"))
            continue
        found.append((home, backend_dict))
    return found


def _find_home(backend_dict) -> str | None:
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("moto.", "workshop.")):
            continue
        for attr, value in list(vars(module).items()):
            if value is backend_dict:
                _homes[id(backend_dict)] = f"{name}:{attr}"
                return _homes[id(backend_dict)]
    return None


def backend_dict_at(home: str):
    module, _, attr = home.partition(":")
    return getattr(importlib.import_module(module), attr)


def account_backends(account_id: str) -> dict[str, dict]:
    """{home: {region: backend}} of one account (a copy of the mappings, not of the backends)."""
    from moto.core.base_backend import backend_lock

    out = {}
    for home, backend_dict in backend_dicts():
        with backend_lock:  # moto adds regions (and accounts) under it
            if account_id not in dict.keys(backend_dict):
                continue
            regions = dict(dict.items(dict.__getitem__(backend_dict, account_id)))
        if regions:
            out[home] = regions
    return out


# -- one account's file -------------------------------------------------------------------

def encode(account_id: str, state: dict) -> bytes:
    """The file's bytes: magic, a JSON header line, the pickle."""
    payload = dumps(state)
    header = {
        "format": FORMAT,
        "account": account_id,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "workshop": _version("workshop"),
        "moto": _version("moto"),
        "python": "%d.%d" % sys.version_info[:2],
        "length": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    return MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload


def decode(data: bytes, where: str) -> tuple[dict, dict]:
    """(header, state) of a snapshot file's bytes; SnapshotError when it cannot be used."""
    if not data.startswith(MAGIC):
        raise SnapshotError(f"{where} is not a workshop snapshot (it does not start with {MAGIC.strip().decode()})")
    line_end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC):line_end])
    except ValueError:
        raise SnapshotError(f"{where}: its header is damaged") from None
    if header.get("format") != FORMAT:
        raise SnapshotError(
            f"{where} was written in snapshot format {header.get('format')} (devops-workshop "
            f"{header.get('workshop')}); this cloud reads format {FORMAT}")
    payload = data[line_end + 1:]
    if len(payload) != header.get("length") or hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise SnapshotError(f"{where} is damaged (its content does not match its checksum)")
    try:
        state = pickle.loads(payload)
    except Exception as exc:  # a class moved or changed since it was written
        raise SnapshotError(f"{where} cannot be read by this version of the cloud "
                            f"({type(exc).__name__}: {exc})") from None
    return header, state


def write_atomically(path: Path, data: bytes) -> None:
    """Temporary file, fsync, rename, fsync of the folder: the file is the old one or the new one."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("devops-workshop" if package == "workshop" else package)
    except PackageNotFoundError:
        return "?"
