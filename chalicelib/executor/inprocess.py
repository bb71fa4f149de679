"""Tests under the emulator (mock_aws lives in the test's process, so nothing outside it can
reach the emulated account): the runner runs in this thread, its API calls go to the app
through Chalice's test client, its commands run without the sandbox. The runner's code is the
same as everywhere; only the transport and the host differ."""
from __future__ import annotations

from ..runner import main as runner_main
from . import staging
from .local import fresh_workdir


def _transport():
    from chalice.test import Client  # lazy: only tests use this executor

    import app as app_module  # lazy: as above

    client = Client(app_module.app)

    def send(method: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        resp = client.http.request(method, path, headers=headers, body=body or b"")
        return resp.status_code, resp.body or b""
    return send


def execute(work: dict, kind: str, name: str) -> bool:
    with fresh_workdir(kind, name) as root:
        description = {**work, "workdir": str(root), "tools": staging.tools()}
        runner_main.execute(description, _transport())
    return True
