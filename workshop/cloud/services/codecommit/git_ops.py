"""Git plumbing on the bare repositories behind CodeCommit: flat path maps
to trees and back, commits, specifier resolution, diffs and the three-way
merge that pull requests use. No AWS rules here; models.py applies them."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field

from dulwich.graph import can_fast_forward, find_merge_base
from dulwich.object_store import iter_tree_contents
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

MODE_NORMAL = 0o100644
MODE_EXECUTABLE = 0o100755
MODE_SYMLINK = 0o120000
MODE_GITLINK = 0o160000

FILE_MODES = {"NORMAL": MODE_NORMAL, "EXECUTABLE": MODE_EXECUTABLE, "SYMLINK": MODE_SYMLINK}
_MODE_NAMES = {MODE_NORMAL: "NORMAL", MODE_EXECUTABLE: "EXECUTABLE", MODE_SYMLINK: "SYMLINK",
               0o100664: "NORMAL"}

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")

# A flat tree: path (str, no leading slash) -> (mode, sha hex str).
Entries = dict[str, tuple[int, str]]


def mode_name(mode: int) -> str:
    return _MODE_NAMES.get(mode, "NORMAL")


def is_sha(text: str | None) -> bool:
    return bool(text) and bool(_SHA_RE.match(text))


def init_bare(path: str) -> Repo:
    return Repo.init_bare(path, mkdir=True)


# -- reading ------------------------------------------------------------------
def commit_of(repo: Repo, sha: str) -> Commit | None:
    try:
        obj = repo.object_store[sha.encode()]
    except (KeyError, ValueError):
        return None
    return obj if isinstance(obj, Commit) else None


def flatten(repo: Repo, tree_id: str | bytes | None) -> Entries:
    if tree_id is None:
        return {}
    if isinstance(tree_id, str):
        tree_id = tree_id.encode()
    out: Entries = {}
    for entry in iter_tree_contents(repo.object_store, tree_id):
        out[entry.path.decode("utf-8", "surrogateescape")] = (entry.mode, entry.sha.decode())
    return out


def commit_entries(repo: Repo, commit_id: str | None) -> Entries:
    if not commit_id:
        return {}
    commit = commit_of(repo, commit_id)
    return flatten(repo, commit.tree) if commit else {}


def subtree_id(repo: Repo, commit_id: str, folder: str) -> str | None:
    """The tree id of a folder ('' is the root) in a commit, or None."""
    commit = commit_of(repo, commit_id)
    if commit is None:
        return None
    tree = repo.object_store[commit.tree]
    if not folder:
        return tree.id.decode()
    for part in folder.split("/"):
        try:
            mode, sha = tree[part.encode()]
        except KeyError:
            return None
        if not stat.S_ISDIR(mode):
            return None
        tree = repo.object_store[sha]
    return tree.id.decode()


def read_tree(repo: Repo, tree_id: str) -> list[tuple[str, int, str]]:
    tree = repo.object_store[tree_id.encode()]
    return [(e.path.decode("utf-8", "surrogateescape"), e.mode, e.sha.decode())
            for e in tree.iteritems(name_order=True)]


def blob_data(repo: Repo, sha: str) -> bytes | None:
    try:
        obj = repo.object_store[sha.encode()]
    except (KeyError, ValueError):
        return None
    return obj.as_raw_string() if isinstance(obj, Blob) else None


def branches(repo: Repo) -> dict[str, str]:
    return {name.decode(): sha.decode() for name, sha in repo.refs.as_dict(b"refs/heads").items()}


def tags(repo: Repo) -> dict[str, str]:
    return {name.decode(): sha.decode() for name, sha in repo.refs.as_dict(b"refs/tags").items()}


def all_refs(repo: Repo) -> dict[str, str]:
    return {name.decode(): sha.decode() for name, sha in repo.get_refs().items()
            if name.startswith(b"refs/")}


def peel(repo: Repo, sha: str) -> str:
    """A tag object's target commit; a commit id unchanged."""
    try:
        obj = repo.object_store[sha.encode()]
    except KeyError:
        return sha
    seen = 0
    while not isinstance(obj, Commit) and hasattr(obj, "object") and seen < 10:
        obj = repo.object_store[obj.object[1]]
        seen += 1
    return obj.id.decode()


def resolve(repo: Repo, specifier: str) -> str | None:
    """A commit id for a commit id, branch, tag or full ref name; None if unknown."""
    spec = specifier.strip()
    if is_sha(spec):
        return spec if commit_of(repo, spec) else None
    refs = repo.get_refs()
    for candidate in (spec, f"refs/heads/{spec}", f"refs/tags/{spec}"):
        sha = refs.get(candidate.encode())
        if sha is not None:
            return peel(repo, sha.decode())
    return None


def is_ancestor(repo: Repo, ancestor: str, descendant: str) -> bool:
    if ancestor == descendant:
        return True
    return can_fast_forward(repo, ancestor.encode(), descendant.encode())


def merge_base(repo: Repo, a: str, b: str) -> str | None:
    bases = find_merge_base(repo, [a.encode(), b.encode()])
    return bases[0].decode() if bases else None


def history(repo: Repo, commit_id: str, limit: int = 10000) -> list[str]:
    out = []
    for entry in repo.get_walker(include=[commit_id.encode()], max_entries=limit):
        out.append(entry.commit.id.decode())
    return out


# -- writing ------------------------------------------------------------------
# Every push lands as a pack of its own, and a repository is opened afresh for each
# operation, which reads pack indexes one by one until it finds an object: past this many
# packs they are merged into one (git's `gc --auto` does the same at 50), so that a
# repository pushed to all day still opens in about a millisecond with a few descriptors.
MAX_PACKS = 10


def compact(repo: Repo, max_packs: int = MAX_PACKS) -> bool:
    """Merge the packs (and loose objects) into one when there are more than max_packs.
    Readers without the lock cope with packs that disappear (dulwich rescans, as git does)."""
    if len(repo.object_store.packs) <= max_packs:
        return False
    repo.object_store.repack()
    return True


def add_blob(repo: Repo, data: bytes) -> str:
    blob = Blob.from_string(data)
    repo.object_store.add_object(blob)
    return blob.id.decode()


def build_tree(repo: Repo, entries: Entries, keep_dirs: set[str] | None = None) -> str:
    """Write the trees for a flat path map; returns the root tree id."""
    root: dict = {}
    for path, (mode, sha) in entries.items():
        node = root
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (mode, sha)
    for folder in keep_dirs or ():
        node = root
        for part in folder.split("/"):
            child = node.get(part)
            if isinstance(child, tuple):
                break
            node = node.setdefault(part, {})

    def write(node: dict) -> bytes:
        tree = Tree()
        for name, value in node.items():
            if isinstance(value, dict):
                tree.add(name.encode("utf-8", "surrogateescape"), stat.S_IFDIR, write(value))
            else:
                mode, sha = value
                tree.add(name.encode("utf-8", "surrogateescape"), mode, sha.encode())
        repo.object_store.add_object(tree)
        return tree.id

    return write(root).decode()


@dataclass
class Signature:
    name: str
    email: str
    when: int
    tz: int = 0

    @property
    def ident(self) -> bytes:
        return f"{self.name} <{self.email}>".encode()


def make_commit(repo: Repo, tree_id: str, parents: list[str], message: str,
                author: Signature, committer: Signature | None = None) -> str:
    committer = committer or author
    commit = Commit()
    commit.tree = tree_id.encode()
    commit.parents = [p.encode() for p in parents]
    commit.author = author.ident
    commit.committer = committer.ident
    commit.author_time = author.when
    commit.commit_time = committer.when
    commit.author_timezone = author.tz
    commit.commit_timezone = committer.tz
    text = message if message.endswith("\n") else message + "\n"
    commit.message = text.encode()
    repo.object_store.add_object(commit)
    return commit.id.decode()


def set_ref(repo: Repo, ref: str, new: str | None, old: str | None) -> bool:
    """Compare-and-set a ref (None: must not exist / delete). False if it moved meanwhile."""
    name = ref.encode()
    if new is None:
        return repo.refs.remove_if_equals(name, old.encode() if old else None)
    if old is None:
        return repo.refs.add_if_new(name, new.encode())
    return repo.refs.set_if_equals(name, old.encode(), new.encode())


def set_head(repo: Repo, branch: str | None) -> None:
    if branch:
        repo.refs.set_symbolic_ref(b"HEAD", f"refs/heads/{branch}".encode())


# -- comparing and merging ----------------------------------------------------
@dataclass
class Difference:
    change: str  # A, M, D
    path: str
    before: tuple[int, str] | None
    after: tuple[int, str] | None


def differences(before: Entries, after: Entries) -> list[Difference]:
    out = []
    for path in sorted(set(before) | set(after)):
        b, a = before.get(path), after.get(path)
        if b == a:
            continue
        change = "A" if b is None else "D" if a is None else "M"
        out.append(Difference(change, path, b, a))
    return out


@dataclass
class Conflict:
    path: str
    base: tuple[int, str] | None
    destination: tuple[int, str] | None
    source: tuple[int, str] | None
    content: bool = False
    mode: bool = False
    object_type: bool = False
    hunks: int = 1


@dataclass
class MergeResult:
    entries: Entries
    conflicts: list[Conflict] = field(default_factory=list)


def merge(repo: Repo, base: Entries, destination: Entries, source: Entries,
          line_level: bool = True, strategy: str = "NONE") -> MergeResult:
    """Three-way merge of flat trees, as CodeCommit does it.

    A path changed on one side only takes that side. Changed on both sides:
    identical changes agree; otherwise, at LINE_LEVEL, text files merge line
    by line (merge3) and only overlapping edits conflict; at FILE_LEVEL any
    such path conflicts. ACCEPT_SOURCE / ACCEPT_DESTINATION settle conflicts.
    """
    result: Entries = {}
    conflicts: list[Conflict] = []
    for path in sorted(set(base) | set(destination) | set(source)):
        b, d, s = base.get(path), destination.get(path), source.get(path)
        if d == s:
            chosen = d
        elif b == d:
            chosen = s
        elif b == s:
            chosen = d
        else:
            chosen, conflict = _merge_both_changed(repo, path, b, d, s, line_level)
            if conflict is not None:
                if strategy == "ACCEPT_SOURCE":
                    chosen = s
                elif strategy == "ACCEPT_DESTINATION":
                    chosen = d
                else:
                    conflicts.append(conflict)
                    chosen = d
        if chosen is not None:
            result[path] = chosen
    # A file on one side where the other side has a folder of the same name.
    folders = {p.rsplit("/", i)[0] for p in result for i in range(1, p.count("/") + 1)}
    for path in sorted(set(result) & folders):
        if strategy == "NONE":
            conflicts.append(Conflict(path, base.get(path), destination.get(path), source.get(path),
                                      object_type=True))
        result.pop(path, None)
    return MergeResult(result, conflicts)


def _merge_both_changed(repo: Repo, path: str, b, d, s, line_level: bool):
    if d is None or s is None:  # deleted on one side, modified on the other
        return d, Conflict(path, b, d, s, content=True)
    d_mode, d_sha = d
    s_mode, s_sha = s
    b_mode = b[0] if b else None
    mode = d_mode if s_mode == b_mode else s_mode if d_mode == b_mode else None
    if mode is None:
        return d, Conflict(path, b, d, s, mode=True, content=d_sha != s_sha)
    if d_sha == s_sha:
        return (mode, d_sha), None
    if not line_level or mode == MODE_GITLINK:
        return d, Conflict(path, b, d, s, content=True)
    merged, hunks = _merge_text(repo, b[1] if b else None, d_sha, s_sha)
    if merged is None:
        return d, Conflict(path, b, d, s, content=True, hunks=max(1, hunks))
    return (mode, add_blob(repo, merged)), None


def _merge_text(repo: Repo, base_sha: str | None, d_sha: str, s_sha: str) -> tuple[bytes | None, int]:
    import merge3

    base = blob_data(repo, base_sha) if base_sha else b""
    dest, src = blob_data(repo, d_sha) or b"", blob_data(repo, s_sha) or b""
    if b"\0" in base + dest + src:  # binary: no line merge
        return None, 1
    m = merge3.Merge3(base.splitlines(True), dest.splitlines(True), src.splitlines(True))
    out: list[bytes] = []
    hunks = 0
    for group in m.merge_regions():
        kind = group[0]
        if kind == "unchanged":
            out.extend(m.base[group[1]:group[2]])
        elif kind in ("a", "same"):
            out.extend(m.a[group[1]:group[2]])
        elif kind == "b":
            out.extend(m.b[group[1]:group[2]])
        else:  # conflict
            hunks += 1
    if hunks:
        return None, hunks
    return b"".join(out), 0
