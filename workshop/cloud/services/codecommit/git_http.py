"""Git over HTTP at each repository's cloneUrlHttp (``/v1/repos/NAME``): dulwich's
smart-HTTP server on the same bare repositories the CodeCommit API writes.

Git authenticates with HTTP basic auth, as with CodeCommit's HTTPS Git
credentials: the user name is the access key id (a 12-digit key is the
account), the password its secret. Learners give git the credentials either in
the URL::

    git clone http://ACCOUNT:test@localhost:4566/v1/repos/NAME

or once, to git's credential store, and then use the plain cloneUrlHttp::

    git config --global credential.helper store
    printf 'protocol=http\nhost=localhost:4566\nusername=ACCOUNT\npassword=test\n' | git credential approve

As with API signatures outside class mode, the secret is not checked; the
account from the user name decides which repositories git reaches (any other
account's repository is a 404). Without credentials git gets a 401 with
``WWW-Authenticate: Basic``, so it asks for them.

Importing this module is cheap (no moto): it is an eager module that mounts
the app when the gateway starts; the models load on the first git request.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from collections.abc import Callable, Iterable

from workshop.cloud import accounts, services

log = logging.getLogger(__name__)

PREFIX = "/v1/repos/"
_REALM = 'Basic realm="workshop CodeCommit"'


def _reply(start_response: Callable, status: str, text: str, extra: list | None = None) -> list[bytes]:
    body = (text + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body)))] + (extra or []))
    return [body]


def _basic_credentials(environ: dict) -> tuple[str, str] | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if not auth.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return (user, password) if user else None


def _split(path: str) -> tuple[str, str] | None:
    """'/v1/repos/NAME/info/refs' -> ('NAME', '/info/refs'); a '.git' suffix is allowed."""
    rest = path[len(PREFIX):]
    name, slash, tail = rest.partition("/")
    if not name or not slash:
        return None
    if name.endswith(".git"):
        name = name[:-4]
    return name, "/" + tail


class GitHTTPApp:
    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            return self._serve(environ, start_response)
        except Exception:  # git must get an answer, and the cloud must stay up
            log.exception("git request failed: %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return _reply(start_response, "500 Internal Server Error", "The workshop cloud failed on this "
                                                                       "git request; see the cloud's log.")

    def _serve(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        credentials = _basic_credentials(environ)
        if credentials is None:
            return _reply(start_response, "401 Unauthorized",
                          "Git needs credentials: the access key id as the user name and its secret as the "
                          "password, e.g. http://ACCOUNT:test@HOST/v1/repos/NAME",
                          [("WWW-Authenticate", _REALM)])
        account = accounts.account_for_key(credentials[0])
        parts = _split(environ.get("PATH_INFO", ""))
        if parts is None:
            return _reply(start_response, "404 Not Found", "Not a repository URL: use /v1/repos/NAME.")
        name, tail = parts

        from workshop.cloud.services.codecommit import models

        found = models.find_repository(account, name)
        if found is None:
            return _reply(start_response, "404 Not Found",
                          f"repository '{name}' not found in account {account}")
        backend, repo = found
        environ = dict(environ, PATH_INFO=f"{PREFIX}{name}{tail}")
        if environ.get("REQUEST_METHOD") == "POST" and tail == "/git-receive-pack":
            return self._receive(f"{PREFIX}{name}", backend, repo, account, credentials[0], environ,
                                 start_response)
        # Reads (clone, fetch, ref discovery) open their own handle: no shared pack caches across threads.
        from dulwich.repo import Repo

        reader = Repo(str(repo.path))
        if environ.get("REQUEST_METHOD") == "POST" and tail == "/git-upload-pack":
            refused = _unreadable_upload_request(environ, reader)
            if refused is not None:
                reader.close()
                status, text = refused
                if status.startswith("200"):   # git's own ERR packet: "fatal: remote error: ..."
                    body = _pkt(f"ERR {text}\n".encode())
                    start_response(status, [("Content-Type", "application/x-git-upload-pack-result"),
                                            ("Content-Length", str(len(body)))])
                    return [body]
                return _reply(start_response, status, text)
        return _closing(_git_app(reader, f"{PREFIX}{name}")(environ, start_response), reader)

    @staticmethod
    def _receive(prefix: str, backend, repo, account: str, access_key: str, environ: dict,
                 start_response: Callable) -> list[bytes]:
        """A push: apply it under the account's lock, then let CodeCommit react to the moved refs.
        The repository's handle lives as long as the lock is held (models.OperationLock)."""
        from workshop.cloud.services.codecommit import git_ops, models

        with backend.lock:
            app = _git_app(repo.git, prefix)
            before = git_ops.all_refs(repo.git)
            body = app(environ, start_response)
            chunks = list(body)
            if hasattr(body, "close"):
                body.close()
            after = git_ops.all_refs(repo.git)
            changes = [(ref, before.get(ref), after.get(ref)) for ref in sorted(set(before) | set(after))
                       if before.get(ref) != after.get(ref)]
            if changes:
                backend.after_ref_changes(repo, changes, accounts.caller(access_key)["arn"])
            _record_push(environ, repo, changes)
            try:
                git_ops.compact(repo.git)
            except Exception:  # the push is in; a failed compaction leaves the packs as they were
                log.exception("compacting the packs of %s", repo.path)
        return chunks


def _record_push(environ: dict, repo, changes: list) -> None:
    """CloudTrail's GitPush: the pusher, the repository and the references it moved."""
    from workshop.cloud.services.cloudtrail import recorder

    name = repo.name
    references = [{"ref": ref, "commit": after} if after else {"ref": ref, "deleted": True}
                  for ref, _, after in changes]
    recorder.learner_call(
        environ, "codecommit", "GitPush", {"references": references} if references else {},
        resources=[{"ResourceType": "AWS::CodeCommit::Repository", "ResourceName": name}],
        additional={"protocol": "HTTP", "dataTransferred": bool(changes), "repositoryName": name,
                    "repositoryId": repo.id})


def _pkt(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data


MAX_NEGOTIATION = 16 * 1024 * 1024


def _unreadable_upload_request(environ: dict, repo) -> tuple[str, str] | None:
    """git's answer to an upload-pack request that is not git's pkt-line protocol, or that
    wants an object the repository does not have, before dulwich reads it (it asserts)."""
    import gzip
    import zlib

    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_NEGOTIATION:
        return "413 Request Entity Too Large", "fatal: the upload-pack request is too large"
    body = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read(MAX_NEGOTIATION)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    data = body
    if environ.get("HTTP_CONTENT_ENCODING", "").lower() in ("gzip", "x-gzip"):
        try:
            data = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return "400 Bad Request", "fatal: the request body is not valid gzip"
    position = 0
    while position < len(data):
        head = data[position:position + 4]
        try:
            size = int(head, 16) if len(head) == 4 and all(c in b"0123456789abcdefABCDEF" for c in head) else -1
        except ValueError:
            size = -1
        if size < 0:
            return "400 Bad Request", f"fatal: protocol error: bad line length character: {head.decode('latin-1')}"
        if size in (0, 1, 2):            # flush, delimiter, response end
            position += 4
            continue
        if size < 4 or position + size > len(data):
            return "400 Bad Request", f"fatal: protocol error: bad line length {size}"
        line = data[position + 4:position + size]
        position += size
        if line.startswith(b"want "):
            sha = line[5:45]
            if len(sha) != 40 or any(c not in b"0123456789abcdef" for c in sha):
                return "400 Bad Request", f"fatal: protocol error: expected sha, got '{line[5:].decode('latin-1').strip()}'"
            if sha not in repo.object_store:
                return "200 OK", f"upload-pack: not our ref {sha.decode()}"
    return None


def _closing(body: Iterable[bytes], repo) -> Iterable[bytes]:
    try:
        yield from body
    except Exception:   # mid-stream: git sees the answer end early ("early EOF"), never a traceback
        log.exception("serving a git read failed")
    finally:
        if hasattr(body, "close"):
            body.close()
        repo.close()


def _git_app(git_repo, prefix: str):
    from dulwich.server import Backend
    from dulwich.web import make_wsgi_chain
    from dulwich.errors import NotGitRepository

    class OneRepository(Backend):
        def open_repository(self, path):
            text = path.decode() if isinstance(path, bytes) else path
            if text.rstrip("/") != prefix:
                raise NotGitRepository(f"No git repository at {text}")
            return git_repo

    return make_wsgi_chain(OneRepository())


app = GitHTTPApp()
services.mount(PREFIX, app)
