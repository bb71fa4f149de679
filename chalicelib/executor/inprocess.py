"""Tests under the emulator (mock_aws lives in the test's process, so nothing outside it can
reach the emulated account): the runner runs in this thread, its API calls go to the app
in-process (InProcessHttp), its commands run without the sandbox. The runner's code is the
same as everywhere; only the transport and the host differ."""
from __future__ import annotations

from ..runner import main as runner_main
from . import staging
from .local import fresh_workdir


class InProcessHttp:
    """Requests to the app through Chalice's LocalGateway, safe from several threads at once.

    Not chalice.test's client: around every request it replaces `os.environ` with a copy (the
    stage's environment variables) and afterwards puts back the object it found. Two requests
    in two threads (a runner's heartbeat next to its log uploads, or next to a test's own
    calls) leave the process with one of those copies for good: a plain dict, detached from the
    real environment, that a later request can swap back over a change a test made (a
    TERRALESS_TERRAFORM_BIN it had removed came back and every later run ran its shim). The app
    reads its settings from the process's environment, which the tests set."""

    def __init__(self, app) -> None:
        from chalice.config import Config  # lazy: only tests use this executor
        from chalice.local import LocalGateway  # lazy: as above

        self._gateway = LocalGateway(app, Config())

    def request(self, method: str, path: str, headers: dict | None = None, body: bytes = b""):
        from chalice.local import LocalGatewayException  # lazy: as above
        from chalice.test import HTTPResponse  # lazy: as above

        try:
            answer = self._gateway.handle_request(method=method.upper(), path=path,
                                                  headers=headers or {}, body=body or b"")
        except LocalGatewayException as exc:
            return HTTPResponse(headers=exc.headers, body=exc.body or b"", status_code=exc.CODE)
        return HTTPResponse.create_from_dict(answer)


def _transport():
    import app as app_module  # lazy: only tests use this executor

    http = InProcessHttp(app_module.app)

    def send(method: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        resp = http.request(method, path, headers=headers, body=body)
        return resp.status_code, resp.body or b""
    return send


def execute(work: dict, kind: str, name: str) -> bool:
    with fresh_workdir(kind, name) as root:
        description = {**work, "workdir": str(root), "tools": staging.tools(work.get("engine", "terraform"))}
        runner_main.execute(description, _transport())
    return True
