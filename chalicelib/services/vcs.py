"""Fetching a VCS-style configuration version: fetch, pick the commit, archive its tree to S3.

The fetch is done by dulwich, a git client in Python: Lambda's python3.11 image has no `git`
binary, and one code path serves the dev stack and a deployed stack alike. Nothing is checked
out: the archive is written from the commit's tree objects, so a hostile repository's paths never
touch the disk (the upload event then inspects the archive like any other).

Clone URLs are the tenant's: only `https://`, `http://` and `git://` are fetched (no SSH: Terraless
holds no key, and `ext::`-style transports would run commands), and only from hosts whose every
address is public (no loopback, private, link-local or metadata address: the fetch must not
become a way into the service's own network). `TERRALESS_ALLOW_LOCAL_REPOS=1` (the dev stack and
tests) also allows local paths, `file://` and local hosts."""
from __future__ import annotations

import io
import ipaddress
import os
import socket
import stat
import tarfile
import tempfile
from urllib.parse import urlsplit

# seconds a connection or a read may stall; the fetch function's own timeout bounds the whole
NETWORK_TIMEOUT = 60
REMOTE_SCHEMES = ("https", "http", "git")


class FetchFailed(Exception):
    pass


def _local_allowed() -> bool:
    return os.environ.get("TERRALESS_ALLOW_LOCAL_REPOS") == "1"


def _is_local_path(url: str) -> bool:
    return url.startswith(("/", "file:"))


def _check_clone_url(url: str) -> None:
    if not url or url.startswith("-") or any(ch in url for ch in "\r\n\0"):
        raise FetchFailed("invalid clone URL")
    if _is_local_path(url):
        if not _local_allowed():
            raise FetchFailed("local repositories are not allowed (TERRALESS_ALLOW_LOCAL_REPOS)")
        return
    parts = urlsplit(url)
    if parts.scheme not in REMOTE_SCHEMES or not parts.hostname:
        raise FetchFailed("only https://, http:// and git:// clone URLs are fetched")
    if _local_allowed():
        return
    try:
        port = parts.port
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port or None)}
    except (OSError, ValueError) as exc:
        raise FetchFailed(f"cannot resolve {parts.hostname}: {exc}") from exc
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise FetchFailed(f"{parts.hostname} resolves to a non-public address")


def _redacted(message: str, url: str) -> str:
    """Error messages may quote the URL; a token in its user part must not reach the API."""
    userinfo = urlsplit(url).netloc.rpartition("@")[0] if not _is_local_path(url) else ""
    return message.replace(userinfo, "***") if userinfo else message


def _describe(exc: Exception, url: str) -> str:
    from dulwich.errors import NotGitRepository   # lazy: fetch only
    if isinstance(exc, NotGitRepository):
        return f"no git repository at {url}"
    return f"fetch failed: {type(exc).__name__}: {exc}" if str(exc) else f"fetch failed: {exc!r}"


def _fetch(url: str, target):
    from dulwich.client import default_urllib3_manager, get_transport_and_path  # lazy: fetch only
    pool = default_urllib3_manager(None, timeout=NETWORK_TIMEOUT)
    client, path = get_transport_and_path(url, pool_manager=pool, quiet=True)
    return client.fetch(path, target)


def _pick_commit(repo, refs: dict[bytes, bytes], commit: str | None, branch: str | None):
    from dulwich.objects import Commit, Tag   # lazy: fetch only
    if commit:
        wanted = commit.encode()
        candidates = [wanted] if len(commit) == 40 else []
        candidates += [refs.get(b"refs/heads/" + wanted), refs.get(b"refs/tags/" + wanted)]
    elif branch:
        candidates = [refs.get(b"refs/heads/" + branch.encode())]
    else:
        candidates = [refs.get(b"HEAD")]
    for sha in filter(None, candidates):
        try:
            obj = repo[sha]
            while isinstance(obj, Tag):     # an annotated tag names the commit it points at
                obj = repo[obj.object[1]]
        except (KeyError, ValueError):
            continue
        if isinstance(obj, Commit):
            return obj
    what = f"commit {commit}" if commit else f"branch {branch}" if branch else "a default branch"
    raise FetchFailed(f"the repository has no {what}")


def _archive(repo, commit, *, max_unpacked_bytes: int) -> bytes:
    from dulwich.object_store import iter_tree_contents   # lazy: fetch only
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        entries = sorted(iter_tree_contents(repo.object_store, commit.tree), key=lambda e: e.path)
        for entry in entries:
            if stat.S_ISDIR(entry.mode) or entry.mode == 0o160000:
                continue                    # a submodule (gitlink) is not fetched, as by git clone
            data = repo[entry.sha].data
            info = tarfile.TarInfo(entry.path.decode("utf-8", "surrogateescape"))
            info.mtime = commit.commit_time
            if stat.S_ISLNK(entry.mode):
                info.type, info.linkname = tarfile.SYMTYPE, data.decode("utf-8", "surrogateescape")
                tar.addfile(info)
                continue
            total += len(data)
            if total > max_unpacked_bytes:
                raise FetchFailed(f"the tree is larger than {max_unpacked_bytes} bytes")
            info.size, info.mode = len(data), 0o755 if entry.mode & 0o111 else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def fetch_archive(clone_url: str, *, commit: str | None, branch: str | None,
                  max_unpacked_bytes: int = 100 * 1024 * 1024) -> tuple[bytes, str]:
    """Returns (tar.gz of the commit's tree, the commit sha fetched)."""
    _check_clone_url(clone_url)
    from dulwich.repo import Repo   # lazy: dulwich is for the fetch worker only
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo.init_bare(tmp)
        try:
            result = _fetch(clone_url, repo)
            picked = _pick_commit(repo, result.refs, commit, branch)
            return _archive(repo, picked, max_unpacked_bytes=max_unpacked_bytes), picked.id.decode()
        except FetchFailed:
            raise
        except Exception as exc:    # dulwich raises many types (HangupException, GitProtocolError, …)
            raise FetchFailed(_redacted(_describe(exc, clone_url), clone_url)[-500:]) from exc
        finally:
            repo.close()
