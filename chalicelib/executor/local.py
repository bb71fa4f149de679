"""A phase's runner as a process on this host (the dev stack; later agents).

The runner gets a fresh phase directory, the staged runner code, terraform, provider mirror
and CLI configuration (staging.py, verified before every phase), and one Unix socket: the only
door out of its network namespace, and it leads to the API (the runner API, with its phase's
credential). Under root it runs as the runner user (isolation.py); the socket is its own, and
it disappears with the phase."""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..config import settings
from . import isolation, staging

log = logging.getLogger(__name__)
SOCKET_NAME = "api.sock"
# The runner is started like this: its own code only, no site-packages, no environment.
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from terraless_runner.main import main; main()"


@contextmanager
def fresh_workdir(kind: str, name: str) -> Iterator[Path]:
    """A new directory under the stack's work directory, removed when the phase ends. Its
    name carries the worker's pid: a worker killed mid-phase cannot remove it, the dev stack
    does (remove_workdirs_of)."""
    parent = Path(settings().work_dir) / kind
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-w{os.getpid()}-", dir=parent))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_workdirs_of(worker_pid: int) -> int:
    """The phase directories a dead worker left behind; returns how many were removed."""
    removed = 0
    for path in Path(settings().work_dir).glob(f"*/*-w{worker_pid}-*"):
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


class ApiDoor:
    """A Unix socket whose every connection is piped to the API's TCP port. The runner speaks
    plain HTTP through it; nothing else listens on it. An https API (an agent's: the service is
    elsewhere) is reached over TLS from here, verified against the system's CAs or `ca_file`."""

    def __init__(self, path: Path, api_url: str, ca_file: str | None = None) -> None:
        parts = urllib.parse.urlsplit(api_url)
        secure = parts.scheme == "https"
        self.target = (parts.hostname or "127.0.0.1", parts.port or (443 if secure else 80))
        self.tls = ssl.create_default_context(cafile=ca_file) if secure else None
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True, name="api-door")

    def __enter__(self) -> "ApiDoor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe_connection, args=(conn,), daemon=True).start()

    def _pipe_connection(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=30)
            if self.tls is not None:
                upstream = self.tls.wrap_socket(upstream, server_hostname=self.target[0])
        except OSError:
            conn.close()
            return
        if self.tls is not None:
            _relay_request(conn, upstream)
            return
        upstream.settimeout(None)
        threading.Thread(target=_pump, args=(upstream, conn), daemon=True).start()
        _pump(conn, upstream)


def _relay_request(conn: socket.socket, upstream: socket.socket) -> None:
    """Over TLS, one request then its response, in turn: an SSL socket must not be read and
    written by two threads at once (the plain pump's way). The runner sends one request per
    connection, with its Content-Length, and asks the server to close after answering."""
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk or len(data) > 64 * 1024:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk
        upstream.sendall(head + b"\r\n\r\n" + body)
        while True:
            chunk = upstream.recv(65536)
            if not chunk:
                break
            conn.sendall(chunk)
    except (OSError, ValueError):
        pass
    finally:
        for sock in (upstream, conn):
            try:
                sock.close()
            except OSError:
                pass


def _pump(source: socket.socket, dest: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            dest.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, dest):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        source.close()


def interpreter() -> str:
    """A Python the runner user can execute: this one unless it lives somewhere the runner
    user cannot reach (a pyenv under /root), else the system's. The runner needs nothing but
    the standard library."""
    chosen = os.environ.get("TERRALESS_RUNNER_PYTHON")
    if chosen:
        return chosen
    mine = Path(os.path.realpath(sys.executable))
    if not isolation.runs_as_runner_user() or _reachable_by_others(mine):
        return str(mine)
    return "/usr/bin/python3"


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & 0o001 for p in path.parents) and bool(path.stat().st_mode & 0o001)


def phase_view(root: Path, code_root: Path, python: str) -> isolation.View:
    """What the phase's processes see in "userns" mode (isolation.View): nothing of the
    service's files — the stack's home, the service user's home, the temporary directories,
    the work directory with every other phase's — but its own directory, and read-only the
    staged tools, the runner's code and the interpreter."""
    work_dir = Path(settings().work_dir).resolve()
    hidden = {Path(os.environ.get("TERRALESS_HOME", ".terraless")).resolve(), Path.home().resolve(),
              Path(tempfile.gettempdir()).resolve(), Path("/tmp"), Path("/var/tmp"),
              Path("/dev/shm"), work_dir}
    prefix = Path(os.path.realpath(python)).parents[1]
    return isolation.View(hidden=sorted(hidden), writable=[root.resolve()],
                          read_only=[code_root.resolve(), work_dir / "terraform", prefix])


def execute(work: dict, kind: str, name: str, api_url: str | None = None,
            ca_file: str | None = None) -> bool:
    """`api_url`: where the runner API is (an agent's service; the stack's own by default)."""
    code_root = staging.runner_code()
    tools = staging.tools(work.get("engine", "terraform"))
    with fresh_workdir(kind, name) as root:
        door_path = root / SOCKET_NAME
        with ApiDoor(door_path, api_url or settings().runner_api_url, ca_file):
            isolation.hand_over(root)           # the phase directory and its socket: the runner's
            description = {**{k: v for k, v in work.items() if k != "credential"},
                           "workdir": str(root), "tools": tools, "api": {"socket": str(door_path)}}
            # The credential is in the runner's environment, as HCP Terraform gives a phase its
            # run token: the one secret the phase's own code can find (and it is worth nothing
            # beyond this phase). Nothing of the service's environment is passed on.
            python = interpreter()
            proc = subprocess.Popen(
                [python, "-I", "-c", BOOT, str(code_root)], cwd=root, stdin=subprocess.PIPE,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(root),
                     "PHASE_CREDENTIAL": work["credential"],
                     "RUNNER_PID_NAMESPACE": "1" if isolation.mode() != "none" else "0",
                     "RUNNER_LOG_LEVEL": os.environ.get("TERRALESS_LOG_LEVEL", "INFO"),
                     **({"RUNNER_SANDBOX": phase_view(root, code_root, python).to_json()}
                        if isolation.mode() == "userns" else {})},
                preexec_fn=isolation.child_setup)
            try:
                proc.communicate(json.dumps(description).encode(),
                                 timeout=settings().phase_timeout_seconds + 60)
            except subprocess.TimeoutExpired:
                log.error("runner of %s outlived the phase timeout: killed", work["phase_id"])
            finally:
                proc.kill()
                proc.wait()
                left = isolation.end_session(proc.pid)
                if left:
                    log.warning("ended %d process(es) the runner of %s left", left, work["phase_id"])
    return True
