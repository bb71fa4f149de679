"""`terraless dev` as a user runs it: ready when ping answers, and Ctrl-C stops every process
it started (the emulator and the worker processes included)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, _free_port, poll

pytestmark = pytest.mark.e2e


def _descendants(pid: int) -> set[int]:
    found, stack = set(), [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.update(children)
            stack.extend(children)
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def test_ctrl_c_stops_every_process(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TERRALESS_"))}
    env.update(TERRALESS_PORT=str(port), TERRALESS_TLS_PORT=str(_free_port()),
               TERRALESS_MOTO_PORT=str(_free_port()), TERRALESS_HOME=str(tmp_path),
               TERRALESS_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "chalicelib.cli", "dev"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        poll(lambda: _ping(port), lambda code: code == 200, timeout=60, interval=0.2)
        token = (tmp_path / "admin-token").read_text().strip()       # generated: none was given
        assert httpx.get(f"http://127.0.0.1:{port}/api/v2/account/details",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
        children = poll(lambda: _descendants(proc.pid), lambda c: len(c) >= 2, timeout=30)
        proc.send_signal(signal.SIGINT)                                  # Ctrl-C
        out, _ = proc.communicate(timeout=30)
        assert token in out                                              # printed for the user
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in children if _alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()


def _ping(port: int):
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/v2/ping", timeout=2).status_code
    except httpx.HTTPError:
        return None
