"""``workshop accounts ROSTER.csv``: give each learner of a class a stable 12-digit
account id and an access key with a random secret. The roster gets the public
half (``account_id``, ``access_key_id``); the secrets go to a keys file (0600)
that the cloud (``--class-keys``) and the hub read. Re-running keeps what was issued.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import secrets
import sys
import tempfile
from pathlib import Path

from workshop.cloud.class_mode import ClassKeys, ClassKeysError, IssuedKey

LEARNER = "learner"
ACCOUNT = "account_id"
ACCESS_KEY = "access_key_id"
KEYS_FILE = "class-keys.json"
# Never a learner's: the laptop's default account and moto's own default account.
RESERVED = frozenset({"000000000000", "123456789012"})


class RosterError(Exception):
    pass


def derive_account_id(class_secret: str, learner: str, taken: set[str]) -> str:
    """The learner's account id: HMAC(class secret, name) reduced to 12 digits,
    stepping on (deterministically) past reserved and already-taken ids."""
    attempt = 0
    while True:
        message = f"account:{learner}" + (f":{attempt}" if attempt else "")
        digest = hmac.new(class_secret.encode(), message.encode(), hashlib.sha256).digest()
        candidate = f"{int.from_bytes(digest[:8], 'big') % 10**12:012d}"
        if candidate not in RESERVED and candidate not in taken:
            return candidate
        attempt += 1


def read_roster(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError(f"no roster at {path}") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if LEARNER not in fields:
        raise RosterError(f"{path} has no '{LEARNER}' column (its columns: {', '.join(fields) or 'none'})")
    rows = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        name = row.get(LEARNER, "")
        if not name:
            if any(row.values()):
                raise RosterError(f"{path}, line {line}: the '{LEARNER}' column is empty")
            continue  # a blank line
        if name in seen:
            raise RosterError(f"{path}: learner {name!r} appears twice (lines {seen[name]} and {line})")
        seen[name] = line
        rows.append(row)
    return fields, rows


def issue(keys: ClassKeys, rows: list[dict[str, str]]) -> tuple[list[str], list[str]]:
    """Give every roster row a key, keeping what was issued before. Returns (new, kept) learner names."""
    taken = {k.account_id for k in keys.learners.values()}
    new, kept = [], []
    for row in rows:
        name, given = row[LEARNER], row.get(ACCOUNT, "")
        have = keys.learners.get(name)
        if have is not None:
            if given and given != have.account_id:
                raise RosterError(f"learner {name!r}: the roster says account {given}, the keys file "
                                  f"{have.account_id}; fix one of them (the keys file is what the cloud uses)")
            kept.append(name)
            continue
        if given:
            # The roster remembers an account whose secret is lost: keep the account, issue a new secret.
            if not given.isdigit() or len(given) != 12 or given in RESERVED or given in taken:
                raise RosterError(f"learner {name!r}: account id {given!r} in the roster cannot be used "
                                  "(not 12 digits, reserved, or another learner's)")
            account = given
        else:
            account = derive_account_id(keys.class_secret, name, taken)
        taken.add(account)
        # The access key id is the account id (LocalStack's rule); the secret is what proves it.
        keys.learners[name] = IssuedKey(name, account, account, secrets.token_urlsafe(30))
        new.append(name)
    return new, kept


def write_roster(path: Path, fields: list[str], rows: list[dict[str, str]], keys: ClassKeys) -> None:
    columns = list(fields) + [c for c in (ACCOUNT, ACCESS_KEY) if c not in fields]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        key = keys.learners[row[LEARNER]]
        writer.writerow(dict(row, **{ACCOUNT: key.account_id, ACCESS_KEY: key.access_key_id}))
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(out.getvalue())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def accounts_command(args) -> int:
    roster = Path(args.roster).expanduser().resolve()
    keys_path = Path(args.keys).expanduser().resolve() if args.keys else roster.with_name(KEYS_FILE)
    out = Path(args.out).expanduser().resolve() if args.out else roster
    try:
        fields, rows = read_roster(roster)
        keys = ClassKeys.load(keys_path) if keys_path.exists() else ClassKeys.new()
        new, kept = issue(keys, rows)
        keys.save(keys_path)   # secrets first: a roster must never name an account whose secret is lost
        write_roster(out, fields, rows, keys)
    except (RosterError, ClassKeysError, OSError) as exc:
        print(f"workshop accounts: {exc}", file=sys.stderr)
        return 1
    listed = {row[LEARNER] for row in rows}
    absent = sorted(set(keys.learners) - listed)
    print(f"{len(rows)} learners: {len(new)} new, {len(kept)} kept.")
    print(f"  roster  {out} (columns {ACCOUNT}, {ACCESS_KEY}; no secrets: it may be shared)")
    print(f"  keys    {keys_path} (mode 0600: every learner's secret; give it to the cloud and the hub only)")
    if absent:
        print(f"  kept the keys of {len(absent)} learner(s) no longer in the roster: {', '.join(absent)}")
    print(f"Start the cloud in class mode: workshop cloud --class-keys {keys_path}")
    return 0
