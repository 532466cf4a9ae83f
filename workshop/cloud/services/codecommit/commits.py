"""CodeCommit's git content through the API: files, folders, blobs, commits and
differences, commits made by PutFile/DeleteFile/CreateCommit, and merges with
their conflicts (git plumbing in ``git_ops.py``)."""

from __future__ import annotations

import re
from typing import Any

from workshop.cloud.services.codecommit import git_ops
from workshop.cloud.services.codecommit.exceptions import error
from workshop.cloud.services.codecommit.repositories import (
    _identity_name,
    _locked,
    _now,
    _page,
    Repository,
    normalize_path,
    validate_branch_name,
    validate_file_path,
)


_MAX_FILE_BYTES = 6 * 1024 * 1024
MERGE_OPTIONS = ("FAST_FORWARD_MERGE", "SQUASH_MERGE", "THREE_WAY_MERGE")


class CommitOperations:
    """Reading and writing a repository's files and commits, and merging branches."""

    # -- files, folders, commits -----------------------------------------------------
    def _commit_id(self, repo: Repository, commit_id: Any, required_code: str) -> str:
        if not commit_id:
            raise error(required_code, "A commit ID is required, but was not specified.")
        if not git_ops.is_sha(str(commit_id)):
            raise error("InvalidCommitIdException", f"The specified commit ID {commit_id} is not valid.")
        if git_ops.commit_of(repo.git, commit_id) is None:
            raise error("CommitDoesNotExistException", f"The specified commit {commit_id} does not exist.")
        return commit_id

    def _specifier(self, repo: Repository, specifier: Any) -> str:
        """A commit specifier (commit id, branch, tag, ref; default branch if absent) -> commit id."""
        if specifier is None or specifier == "":
            if not repo.default_branch or repo.branch_sha(repo.default_branch) is None:
                raise error("CommitDoesNotExistException", "The repository is empty: it has no commits yet.")
            return repo.branch_sha(repo.default_branch)
        if not isinstance(specifier, str):
            raise error("InvalidCommitException", f"The specified commit {specifier} is not valid.")
        sha = git_ops.resolve(repo.git, specifier)
        if sha is None:
            raise error("CommitDoesNotExistException", f"The specified commit {specifier} does not exist.")
        return sha

    def _branch_tip_for_write(self, repo: Repository, branch: Any, parent: Any) -> str | None:
        """The parent commit of a write to a branch, by CodeCommit's parentCommitId rules."""
        validate_branch_name(branch)
        if git_ops.tags(repo.git).get(branch) is not None:
            raise error("BranchNameIsTagNameException", f"The specified branch name {branch} is a tag name.")
        tip = repo.branch_sha(branch)
        if parent is not None and parent != "":
            if not git_ops.is_sha(str(parent)):
                raise error("InvalidParentCommitIdException", f"The parent commit ID {parent} is not valid.")
            if git_ops.commit_of(repo.git, parent) is None:
                raise error("ParentCommitDoesNotExistException",
                            f"The parent commit ID {parent} does not exist in the repository.")
            if tip is not None and tip != parent:
                raise error("ParentCommitIdOutdatedException",
                            f"The parent commit ID {parent} is not the tip of branch {branch} ({tip}). "
                            "Get the branch's latest commit ID and try again.")
            return parent
        if tip is not None or not repo.is_empty():
            raise error("ParentCommitIdRequiredException",
                        "A parent commit ID is required. To view the full commit ID of a branch, use GetBranch.")
        return None

    def _signature(self, name: Any, email: Any, user_arn: str) -> git_ops.Signature:
        if name is not None and (not isinstance(name, str) or len(name) > 1024):
            raise error("NameLengthExceededException", "The user name is not valid: it is too long.")
        if email is not None and (not isinstance(email, str) or "\n" in email or "<" in email or ">" in email):
            raise error("InvalidEmailException", f"The specified email address {email} is not valid.")
        return git_ops.Signature(name or _identity_name(user_arn), email or "", int(_now()))

    @staticmethod
    def _message(message: Any, default: str) -> str:
        if message is not None and (not isinstance(message, str) or len(message) > 10 * 1024):
            raise error("CommitMessageLengthExceededException", "The commit message is too long.")
        return message or default

    @_locked
    def put_file(self, repo_name: Any, branch: Any, content: bytes | None, path: Any, mode: Any,
                 parent: Any, message: Any, name: Any, email: Any, user_arn: str) -> dict:
        repo = self.get_repo(repo_name)
        path = validate_file_path(path)
        if not content:
            raise error("FileContentRequiredException", "The file cannot be added because it is empty. "
                                                        "Empty files cannot be added to the repository.")
        if len(content) > _MAX_FILE_BYTES:
            raise error("FileContentSizeLimitExceededException", "The file cannot be added because it is too "
                                                                 "large. The maximum file size is 6 MB.")
        base = self._branch_tip_for_write(repo, branch, parent)
        entries = git_ops.commit_entries(repo.git, base)
        mode_value = self._mode(mode or _current_mode(entries, path))
        blob_id = git_ops.add_blob(repo.git, content)
        if entries.get(path) == (mode_value, blob_id):
            raise error("SameFileContentException", "The file could not be added because the provided file "
                                                    "content is the same as the current file content.")
        _check_path_conflicts(entries, path)
        entries[path] = (mode_value, blob_id)
        signature = self._signature(name, email, user_arn)
        tree_id = git_ops.build_tree(repo.git, entries)
        commit_id = git_ops.make_commit(repo.git, tree_id, [base] if base else [],
                                        self._message(message, f"Added {path}"), signature)
        self._move_ref(repo, f"refs/heads/{branch}", commit_id, repo.branch_sha(branch), user_arn)
        return {"commitId": commit_id, "blobId": blob_id, "treeId": tree_id}

    @_locked
    def delete_file(self, repo_name: Any, branch: Any, path: Any, parent: Any, keep_empty: bool,
                    message: Any, name: Any, email: Any, user_arn: str) -> dict:
        repo = self.get_repo(repo_name)
        path = validate_file_path(path)
        if not parent:
            raise error("ParentCommitIdRequiredException", "A parent commit ID is required.")
        base = self._branch_tip_for_write(repo, branch, parent)
        if repo.branch_sha(branch) is None:
            raise error("BranchDoesNotExistException", f"Branch {branch} does not exist")
        entries = git_ops.commit_entries(repo.git, base)
        if path not in entries:
            raise error("FileDoesNotExistException", f"The specified file {path} does not exist.")
        blob_id = entries.pop(path)[1]
        keep = {path.rsplit("/", 1)[0]} if keep_empty and "/" in path else set()
        tree_id = git_ops.build_tree(repo.git, entries, keep)
        commit_id = git_ops.make_commit(repo.git, tree_id, [base], self._message(message, f"Deleted {path}"),
                                        self._signature(name, email, user_arn))
        self._move_ref(repo, f"refs/heads/{branch}", commit_id, base, user_arn)
        return {"commitId": commit_id, "blobId": blob_id, "treeId": tree_id, "filePath": path}

    @_locked
    def create_commit(self, repo_name: Any, branch: Any, parent: Any, author: Any, email: Any, message: Any,
                      keep_empty: bool, put_files: Any, delete_files: Any, set_modes: Any, user_arn: str) -> dict:
        repo = self.get_repo(repo_name)
        put_files, delete_files, set_modes = ([i if isinstance(i, dict) else {} for i in items or []]
                                              for items in (put_files, delete_files, set_modes))
        if not (put_files or delete_files or set_modes):
            raise error("FileEntryRequiredException", "The commit cannot be created because no files have "
                                                      "been specified as added, updated, or changed.")
        if len(put_files) + len(delete_files) + len(set_modes) > 100:
            raise error("MaximumFileEntriesExceededException", "The number of specified files to change as "
                                                               "part of this commit exceeds the maximum (100).")
        base = self._branch_tip_for_write(repo, branch, parent)
        before = git_ops.commit_entries(repo.git, base)
        entries = dict(before)
        seen: set[str] = set()

        def claim(path: str) -> None:
            if path in seen:
                raise error("SamePathRequestException", f"The path {path} is specified more than once.")
            seen.add(path)

        added, updated, deleted = [], [], []
        for item in put_files:
            path = validate_file_path((item or {}).get("filePath"))
            claim(path)
            content, source = item.get("fileContent"), item.get("sourceFile")
            if source is not None and not isinstance(source, dict):
                source = {}
            if content is not None and source:
                raise error("FileContentAndSourceFileSpecifiedException",
                            "The commit cannot be created because both a source file and file content "
                            "have been specified for the same file.")
            if source:
                src_path = validate_file_path(source.get("filePath"))
                if src_path not in before:
                    raise error("FileDoesNotExistException", f"The specified file {src_path} does not exist.")
                mode_value, blob_id = before[src_path]
                if item.get("fileMode"):
                    mode_value = self._mode(item["fileMode"])
                if source.get("isMove"):
                    claim(src_path)
                    entries.pop(src_path, None)
                    deleted.append(_file_json(src_path, before[src_path]))
            elif content is None:
                raise error("SourceFileOrContentRequiredException",
                            "The commit cannot be created because no source files or file content "
                            "have been specified for the commit.")
            else:
                if len(content) > _MAX_FILE_BYTES:
                    raise error("FileContentSizeLimitExceededException", "The file is too large (6 MB at most).")
                blob_id = git_ops.add_blob(repo.git, content)
                mode_value = self._mode(item.get("fileMode") or _current_mode(before, path))
            _check_path_conflicts(entries, path)
            entries[path] = (mode_value, blob_id)
            (updated if path in before else added).append(_file_json(path, entries[path]))
        for item in delete_files:
            path = validate_file_path((item or {}).get("filePath"))
            claim(path)
            if path not in entries:
                raise error("FileDoesNotExistException", f"The specified file {path} does not exist.")
            deleted.append(_file_json(path, entries.pop(path)))
        for item in set_modes:
            path = validate_file_path((item or {}).get("filePath"))
            claim(path)
            if not item.get("fileMode"):
                raise error("FileModeRequiredException", "The commit cannot be created because no file mode "
                                                         "has been specified.")
            if path not in entries:
                raise error("FileDoesNotExistException", f"The specified file {path} does not exist.")
            entries[path] = (self._mode(item["fileMode"]), entries[path][1])
            updated.append(_file_json(path, entries[path]))
        if entries == before and base is not None:
            raise error("NoChangeException", "The commit cannot be created because no changes will be made "
                                             "to the repository as a result of this commit.")
        keep = ({p.rsplit("/", 1)[0] for p in before if "/" in p} if keep_empty else set())
        tree_id = git_ops.build_tree(repo.git, entries, keep)
        commit_id = git_ops.make_commit(repo.git, tree_id, [base] if base else [],
                                        self._message(message, "Commit"), self._signature(author, email, user_arn))
        self._move_ref(repo, f"refs/heads/{branch}", commit_id, repo.branch_sha(branch), user_arn)
        return {"commitId": commit_id, "treeId": tree_id, "filesAdded": added, "filesUpdated": updated,
                "filesDeleted": deleted}

    @staticmethod
    def _mode(mode: Any) -> int:
        if mode not in git_ops.FILE_MODES:
            raise error("InvalidFileModeException", f"The specified file mode {mode} is not valid.")
        return git_ops.FILE_MODES[mode]

    @_locked
    def get_file(self, repo_name: Any, specifier: Any, path: Any) -> dict:
        repo = self.get_repo(repo_name)
        path = validate_file_path(path)
        commit_id = self._specifier(repo, specifier)
        entry = git_ops.commit_entries(repo.git, commit_id).get(path)
        if entry is None or entry[0] == git_ops.MODE_GITLINK:
            raise error("FileDoesNotExistException", f"The specified file {path} does not exist.")
        data = git_ops.blob_data(repo.git, entry[1]) or b""
        return {"commitId": commit_id, "blobId": entry[1], "filePath": path, "fileMode": git_ops.mode_name(entry[0]),
                "fileSize": len(data), "fileContent": data}

    @_locked
    def get_folder(self, repo_name: Any, specifier: Any, folder: Any) -> dict:
        repo = self.get_repo(repo_name)
        if folder is None or folder == "":
            raise error("PathRequiredException", "The folder path is required, but was not specified.")
        clean = normalize_path(folder) if not isinstance(folder, str) or folder.strip("/") else ""
        commit_id = self._specifier(repo, specifier)
        tree_id = git_ops.subtree_id(repo.git, commit_id, clean)
        if tree_id is None:
            raise error("FolderDoesNotExistException", f"The specified folder {folder} does not exist.")
        out = {"commitId": commit_id, "folderPath": clean or "/", "treeId": tree_id, "subFolders": [],
               "files": [], "symbolicLinks": [], "subModules": []}
        for name, mode, sha in git_ops.read_tree(repo.git, tree_id):
            absolute = f"{clean}/{name}" if clean else name
            if mode == 0o040000:
                out["subFolders"].append({"treeId": sha, "absolutePath": absolute, "relativePath": name})
            elif mode == git_ops.MODE_GITLINK:
                out["subModules"].append({"commitId": sha, "absolutePath": absolute, "relativePath": name})
            else:
                item = {"blobId": sha, "absolutePath": absolute, "relativePath": name,
                        "fileMode": git_ops.mode_name(mode)}
                out["symbolicLinks" if mode == git_ops.MODE_SYMLINK else "files"].append(item)
        return out

    @_locked
    def get_blob(self, repo_name: Any, blob_id: Any) -> bytes:
        repo = self.get_repo(repo_name)
        if not blob_id:
            raise error("BlobIdRequiredException", "A blob ID is required, but was not specified.")
        if not git_ops.is_sha(str(blob_id)):
            raise error("InvalidBlobIdException", f"The specified blob {blob_id} is not valid.")
        data = git_ops.blob_data(repo.git, blob_id)
        if data is None:
            raise error("BlobIdDoesNotExistException", f"The specified blob {blob_id} does not exist.")
        return data

    @_locked
    def get_commit(self, repo_name: Any, commit_id: Any) -> dict:
        repo = self.get_repo(repo_name)
        if not commit_id:
            raise error("CommitIdRequiredException", "A commit ID is required, but was not specified.")
        if not git_ops.is_sha(str(commit_id)):
            raise error("InvalidCommitIdException", f"The specified commit ID {commit_id} is not valid.")
        commit = git_ops.commit_of(repo.git, commit_id)
        if commit is None:
            raise error("CommitIdDoesNotExistException", f"The specified commit ID {commit_id} does not exist.")
        return commit_json(commit)

    @_locked
    def batch_get_commits(self, repo_name: Any, commit_ids: Any) -> tuple[list[dict], list[dict]]:
        repo = self.get_repo(repo_name)
        if not commit_ids:
            raise error("CommitIdsListRequiredException", "A list of commit IDs is required.")
        if not isinstance(commit_ids, list) or len(commit_ids) > 100:
            raise error("CommitIdsLimitExceededException", "The maximum number of commit IDs (100) was exceeded.")
        commits, errors = [], []
        for commit_id in commit_ids:
            commit = git_ops.commit_of(repo.git, commit_id) if git_ops.is_sha(str(commit_id)) else None
            if commit is None:
                errors.append({"commitId": commit_id, "errorCode": "CommitDoesNotExistException",
                               "errorMessage": f"The commit {commit_id} does not exist."})
            else:
                commits.append(commit_json(commit))
        return commits, errors

    @_locked
    def get_differences(self, repo_name: Any, before: Any, after: Any, before_path: Any, after_path: Any,
                        max_results: Any, next_token: Any):
        repo = self.get_repo(repo_name)
        if not after:
            raise error("CommitRequiredException", "A commit specifier is required.")
        after_id = self._specifier(repo, after)
        before_id = self._specifier(repo, before) if before else None
        old = git_ops.commit_entries(repo.git, before_id)
        new = git_ops.commit_entries(repo.git, after_id)
        old = _under(old, before_path, "before")
        new = _under(new, after_path, "after")
        diffs = []
        for d in git_ops.differences(old, new):
            item: dict = {"changeType": d.change}
            if d.before:
                item["beforeBlob"] = {"blobId": d.before[1], "path": d.path, "mode": oct(d.before[0])[2:].zfill(6)}
            if d.after:
                item["afterBlob"] = {"blobId": d.after[1], "path": d.path, "mode": oct(d.after[0])[2:].zfill(6)}
            diffs.append(item)
        return _page(diffs, next_token, max_results, 100)

    # -- merging -----------------------------------------------------------------------
    def _merge_commit(self, repo: Repository, source: str, destination: str, option: str, *,
                      level: Any = None, strategy: Any = None, message: Any = None, author: Any = None,
                      email: Any = None, keep_empty: bool = False, user_arn: str,
                      default_message: str) -> tuple[str, str]:
        """The commit a merge produces (nothing moves yet): (commit id, tree id)."""
        level, strategy = _merge_settings(level, strategy)
        if option == "FAST_FORWARD_MERGE":
            if not git_ops.is_ancestor(repo.git, destination, source):
                raise error("ManualMergeRequiredException",
                            "The branches cannot be merged by fast-forward: the destination has commits that "
                            "the source does not. Use a squash or three-way merge, or merge manually.")
            return source, git_ops.commit_of(repo.git, source).tree.decode()
        base = git_ops.merge_base(repo.git, source, destination)
        result = git_ops.merge(repo.git, git_ops.commit_entries(repo.git, base),
                               git_ops.commit_entries(repo.git, destination),
                               git_ops.commit_entries(repo.git, source),
                               line_level=level == "LINE_LEVEL", strategy=strategy)
        if result.conflicts:
            paths = ", ".join(c.path for c in result.conflicts[:10])
            raise error("ManualMergeRequiredException",
                        f"The pull request cannot be merged automatically into the destination branch: "
                        f"conflicts in {paths}. Resolve them manually, or choose a conflict resolution strategy.")
        keep = ({p.rsplit("/", 1)[0] for p in git_ops.commit_entries(repo.git, destination) if "/" in p}
                if keep_empty else set())
        tree_id = git_ops.build_tree(repo.git, result.entries, keep)
        parents = [destination] if option == "SQUASH_MERGE" else [destination, source]
        commit_id = git_ops.make_commit(repo.git, tree_id, parents, self._message(message, default_message),
                                        self._signature(author, email, user_arn))
        return commit_id, tree_id

    @_locked
    def merge_branches(self, repo_name: Any, option: str, source_spec: Any, dest_spec: Any, target_branch: Any,
                       level: Any, strategy: Any, message: Any, author: Any, email: Any, keep_empty: bool,
                       user_arn: str) -> tuple[str, str]:
        repo = self.get_repo(repo_name)
        if not source_spec or not dest_spec:
            raise error("CommitRequiredException", "Both a source and a destination commit specifier are required.")
        source = self._specifier(repo, source_spec)
        destination = self._specifier(repo, dest_spec)
        if target_branch is None:
            target_branch = dest_spec if repo.branch_sha(dest_spec) else None
        if target_branch is None:
            raise error("BranchNameRequiredException", "A target branch is required when the destination is "
                                                       "not a branch.")
        validate_branch_name(target_branch)
        tip = repo.branch_sha(target_branch)
        if tip is None:
            raise error("BranchDoesNotExistException", f"Branch {target_branch} does not exist")
        commit_id, tree_id = self._merge_commit(
            repo, source, destination, option, level=level, strategy=strategy, message=message, author=author,
            email=email, keep_empty=keep_empty, user_arn=user_arn,
            default_message=f"Merge {source_spec} into {target_branch}")
        if commit_id != tip:
            self._move_ref(repo, f"refs/heads/{target_branch}", commit_id, tip, user_arn,
                           outdated="ConcurrentReferenceUpdateException")
        return commit_id, tree_id

    @_locked
    def get_merge_conflicts(self, repo_name: Any, dest_spec: Any, source_spec: Any, option: Any, level: Any,
                            strategy: Any) -> dict:
        repo = self.get_repo(repo_name)
        if not option:
            raise error("MergeOptionRequiredException", "A merge option is required.")
        if option not in MERGE_OPTIONS:
            raise error("InvalidMergeOptionException", f"The merge option {option} is not valid.")
        if not dest_spec or not source_spec:
            raise error("CommitRequiredException", "Both commit specifiers are required.")
        destination = self._specifier(repo, dest_spec)
        source = self._specifier(repo, source_spec)
        level, strategy = _merge_settings(level, strategy)
        base = git_ops.merge_base(repo.git, source, destination)
        out = {"destinationCommitId": destination, "sourceCommitId": source, "conflictMetadataList": []}
        if base:
            out["baseCommitId"] = base
        if option == "FAST_FORWARD_MERGE":
            out["mergeable"] = git_ops.is_ancestor(repo.git, destination, source)
            return out
        result = git_ops.merge(repo.git, git_ops.commit_entries(repo.git, base),
                               git_ops.commit_entries(repo.git, destination),
                               git_ops.commit_entries(repo.git, source),
                               line_level=level == "LINE_LEVEL", strategy=strategy)
        out["mergeable"] = not result.conflicts
        out["conflictMetadataList"] = [_conflict_json(repo, c) for c in result.conflicts]
        return out

    @_locked
    def get_merge_options(self, repo_name: Any, source_spec: Any, dest_spec: Any, level: Any,
                          strategy: Any) -> dict:
        """The merge kinds that would work now: fast-forward when the destination is behind, squash
        and three-way when the changes merge without conflicts."""
        repo = self.get_repo(repo_name)
        if not source_spec or not dest_spec:
            raise error("CommitRequiredException", "Both commit specifiers are required.")
        source, destination = self._specifier(repo, source_spec), self._specifier(repo, dest_spec)
        level, strategy = _merge_settings(level, strategy)
        base = git_ops.merge_base(repo.git, source, destination)
        options = []
        if git_ops.is_ancestor(repo.git, destination, source):
            options.append("FAST_FORWARD_MERGE")
        result = git_ops.merge(repo.git, git_ops.commit_entries(repo.git, base),
                               git_ops.commit_entries(repo.git, destination),
                               git_ops.commit_entries(repo.git, source),
                               line_level=level == "LINE_LEVEL", strategy=strategy)
        if not result.conflicts:
            options += ["SQUASH_MERGE", "THREE_WAY_MERGE"]
        return {"mergeOptions": options, "sourceCommitId": source, "destinationCommitId": destination,
                "baseCommitId": base or ""}


def _merge_settings(level: Any, strategy: Any) -> tuple[str, str]:
    level = level or "LINE_LEVEL"
    strategy = strategy or "NONE"
    if level not in ("FILE_LEVEL", "LINE_LEVEL"):
        raise error("InvalidConflictDetailLevelException", f"The conflict detail level {level} is not valid.")
    if strategy not in ("NONE", "ACCEPT_SOURCE", "ACCEPT_DESTINATION", "AUTOMERGE"):
        raise error("InvalidConflictResolutionStrategyException",
                    f"The conflict resolution strategy {strategy} is not valid.")
    return level, strategy


def _check_path_conflicts(entries: git_ops.Entries, path: str) -> None:
    parts = path.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in entries:
            raise error("DirectoryNameConflictsWithFileNameException",
                        f"A file exists at {'/'.join(parts[:i])}, where {path} needs a folder.")
    prefix = path + "/"
    if any(p.startswith(prefix) for p in entries):
        raise error("FileNameConflictsWithDirectoryNameException",
                    f"A folder exists at {path}; a file cannot have the same name.")


def _under(entries: git_ops.Entries, path: Any, which: str) -> git_ops.Entries:
    if not path:
        return entries
    clean = normalize_path(path)
    if clean in entries:
        return {clean: entries[clean]}
    prefix = clean + "/"
    picked = {p: e for p, e in entries.items() if p.startswith(prefix)}
    if not picked:
        raise error("PathDoesNotExistException", f"The specified {which} path {path} does not exist.")
    return picked


def _current_mode(entries: git_ops.Entries, path: str) -> str:
    return git_ops.mode_name(entries[path][0]) if path in entries else "NORMAL"


def _file_json(path: str, entry: tuple[int, str]) -> dict:
    return {"absolutePath": path, "blobId": entry[1], "fileMode": git_ops.mode_name(entry[0])}


def _parse_ident(ident: bytes, when: int, tz: int) -> dict:
    text = ident.decode("utf-8", "replace")
    match = re.match(r"^(.*?)\s*<([^>]*)>\s*$", text)
    name, email = (match.group(1), match.group(2)) if match else (text, "")
    sign = "-" if tz < 0 else "+"
    tz = abs(tz)
    return {"name": name, "email": email, "date": f"{when} {sign}{tz // 3600:02d}{(tz % 3600) // 60:02d}"}


def commit_json(commit) -> dict:
    return {"commitId": commit.id.decode(), "treeId": commit.tree.decode(),
            "parents": [p.decode() for p in commit.parents],
            "message": commit.message.decode("utf-8", "replace"),
            "author": _parse_ident(commit.author, commit.author_time, commit.author_timezone),
            "committer": _parse_ident(commit.committer, commit.commit_time, commit.commit_timezone),
            "additionalData": ""}


def _conflict_json(repo: Repository, conflict: git_ops.Conflict) -> dict:
    def size(entry):
        if not entry or entry[0] == git_ops.MODE_GITLINK:
            return 0
        return len(git_ops.blob_data(repo.git, entry[1]) or b"")

    def kind(entry):
        if entry is None:
            return None
        return {git_ops.MODE_GITLINK: "GIT_LINK", git_ops.MODE_SYMLINK: "SYMBOLIC_LINK"}.get(entry[0], "FILE")

    def operation(side):
        if side is None:
            return "D"
        return "A" if conflict.base is None else "M"

    sides = {"source": conflict.source, "destination": conflict.destination, "base": conflict.base}
    return {
        "filePath": conflict.path,
        "fileSizes": {k: size(v) for k, v in sides.items()},
        "fileModes": {k: git_ops.mode_name(v[0]) for k, v in sides.items() if v},
        "objectTypes": {k: kind(v) for k, v in sides.items() if v},
        "numberOfConflicts": conflict.hunks,
        "isBinaryFile": {k: b"\0" in (git_ops.blob_data(repo.git, v[1]) or b"") if v else False
                         for k, v in sides.items()},
        "contentConflict": conflict.content,
        "fileModeConflict": conflict.mode,
        "objectTypeConflict": conflict.object_type,
        "mergeOperations": {"source": operation(conflict.source), "destination": operation(conflict.destination)},
    }
