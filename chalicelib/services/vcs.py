"""Fetching a VCS-style configuration version: clone, check out, archive to the blob bucket.

Only ordinary git transports are allowed (`ext::` would run commands); `file://` and plain
paths are allowed only when TERRALESS_ALLOW_LOCAL_REPOS=1 (the dev stack and tests)."""
from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

GIT_TIMEOUT = 120


class FetchFailed(Exception):
    pass


def _protocols() -> str:
    allowed = ["https", "http", "ssh", "git"]
    if os.environ.get("TERRALESS_ALLOW_LOCAL_REPOS") == "1":
        allowed.append("file")
    return ":".join(allowed)


def _git(*args: str, cwd: str | None = None) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir(),
           "GIT_ALLOW_PROTOCOL": _protocols(), "GIT_TERMINAL_PROMPT": "0",
           "GIT_CONFIG_NOSYSTEM": "1"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchFailed(f"git {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        raise FetchFailed(f"git {args[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def fetch_archive(clone_url: str, *, commit: str | None, branch: str | None) -> tuple[bytes, str]:
    """Returns (tar.gz of the tree without .git, the commit sha checked out)."""
    if clone_url.startswith(("/", "file:")) and "file" not in _protocols().split(":"):
        raise FetchFailed("local repositories are not allowed (TERRALESS_ALLOW_LOCAL_REPOS)")
    if clone_url.startswith("-"):
        raise FetchFailed("invalid clone URL")
    with tempfile.TemporaryDirectory() as tmp:
        repo = str(Path(tmp) / "repo")
        _git("clone", "--quiet", "--no-checkout", "--", clone_url, repo)
        _git("checkout", "--quiet", "--detach", commit or (f"origin/{branch}" if branch else "HEAD"),
             cwd=repo)
        sha = _git("rev-parse", "HEAD", cwd=repo)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for path in sorted(Path(repo).rglob("*")):
                rel = path.relative_to(repo)
                if rel.parts[0] == ".git":
                    continue
                tar.add(str(path), arcname=str(rel), recursive=False)
        return buf.getvalue(), sha
