"""An in-process dev stack for benchmarks: moto_server child, provisioned resources, the HTTP
API and the SQS dispatcher in this process (so DynamoDB reads can be counted here)."""
from __future__ import annotations

import os
import secrets
import socket
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import botocore.client

ADMIN = "bench-admin.atlasv1.benchbenchbench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ItemCounter:
    """Counts DynamoDB items returned to this process (GetItem, Query, BatchGetItem)."""

    def __init__(self) -> None:
        self.items = 0
        self.calls = 0
        self._lock = threading.Lock()
        self._original = botocore.client.BaseClient._make_api_call

    def __enter__(self):
        counter = self

        def counting(client, operation, params):
            result = counter._original(client, operation, params)
            if client.meta.service_model.service_name == "dynamodb":
                n = result.get("ScannedCount", result.get("Count"))
                if n is None:
                    n = 1 if result.get("Item") else sum(
                        len(v) for v in result.get("Responses", {}).values()) if "Responses" in result else 0
                with counter._lock:
                    counter.items += n
                    counter.calls += 1
            return result
        botocore.client.BaseClient._make_api_call = counting
        return self

    def __exit__(self, *exc):
        botocore.client.BaseClient._make_api_call = self._original

    def reset(self) -> None:
        with self._lock:
            self.items = self.calls = 0


@dataclass
class Stack:
    api: str
    aws: str
    dispatcher: object
    tls_host: str
    cert: str
    cli_rc: str
    home: Path


@contextmanager
def running_stack(*, durable: bool = True, home: Path | None = None):
    """`durable`: the emulator journals its durable writes, as the dev stack's does."""
    home = home or Path(tempfile.mkdtemp(prefix="terraless-bench-"))
    port = free_port()
    os.environ.setdefault("TERRALESS_SIGNING_SECRET", secrets.token_urlsafe(32))
    os.environ.update(TERRALESS_PORT=str(port), TERRALESS_PUBLIC_URL=f"http://127.0.0.1:{port}",
                      AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1", TERRALESS_TOKEN_CACHE_SECONDS="300",
                      TERRALESS_LOG_LEVEL=os.environ.get("TERRALESS_LOG_LEVEL", "WARNING"))
    from chalicelib.local.devstack import Emulator
    emulator = Emulator(free_port(), home, durable=durable)
    emulator.start()
    os.environ["AWS_ENDPOINT_URL"] = emulator.url
    try:
        from chalicelib import config
        from chalicelib.aws import clients
        config.reset()
        clients.reset()
        from chalicelib.storage import models
        models.reset_connections()      # pynamodb caches its client (and so its endpoint)
        from chalicelib.local import dispatch, provision
        from chalicelib.local.server import HTTPServer
        from chalicelib.services import identity
        emulator.use("admin")
        provision.provision()
        emulator.use("service")
        identity.ensure_site_admin(ADMIN)
        import app as app_module
        from chalicelib.local.devstack import write_cli_config
        from chalicelib.local.tls import ensure_certificate, server_context
        server = HTTPServer(app_module.app, "127.0.0.1", port)
        server.start()
        tls_port = free_port()
        cert, key = ensure_certificate(home / "tls")
        tls_server = HTTPServer(app_module.app, "127.0.0.1", tls_port, server_context(cert, key))
        tls_server.start()
        dispatcher = dispatch.Dispatcher(dispatch.subscriptions(app_module.app, app_module))
        dispatcher.start()
        stack = Stack(api=f"http://127.0.0.1:{port}", aws=emulator.url, dispatcher=dispatcher,
                      home=home,
                      tls_host=f"localhost:{tls_port}", cert=str(cert),
                      cli_rc=str(write_cli_config(home, f"localhost:{tls_port}", ADMIN)))
        try:
            yield stack
        finally:
            dispatcher.stop()
            server.stop()
            tls_server.stop()
    finally:
        emulator.stop()


def uploaded_workspace(http, name: str, files: dict[str, str]) -> str:
    """A new workspace of the `bench` organization whose current configuration is `files`."""
    import time

    import httpx

    from chalicelib.domain.archives import pack_tgz
    ws = http.post("/api/v2/organizations/bench/workspaces",
                   json={"data": {"attributes": {"name": name}}}).json()["data"]["id"]
    cv = http.post(f"/api/v2/workspaces/{ws}/configuration-versions",
                   json={"data": {"attributes": {"auto-queue-runs": False}}}).json()["data"]
    assert httpx.put(cv["attributes"]["upload-url"], content=pack_tgz(files)).status_code == 200
    while http.get(f"/api/v2/configuration-versions/{cv['id']}").json()["data"]["attributes"]["status"] != "uploaded":
        time.sleep(0.02)
    return ws


def measure_page(http, counter: ItemCounter, url: str, total: int, samples: int = 30) -> dict:
    """One listing page: DynamoDB items read by a single warm request, and the median time."""
    import statistics
    import time
    for _ in range(3):
        http.get(url)
    counter.reset()
    body = http.get(url).json()
    items = counter.items
    assert len(body["data"]) == 20 and body["meta"]["pagination"]["total-count"] == total
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        http.get(url).raise_for_status()
        times.append(time.perf_counter() - start)
    return {"ms": round(statistics.median(times) * 1000, 1), "dynamodb_items_read": items}


REMOTE_VS_LOCAL_RESOURCES = 'resource "null_resource" "r" {\n  count = 10\n}\n'


def remote_vs_local_plan(binary: str, stack: Stack, tmp: str, org: str, backend: str,
                         repeats: int = 5) -> tuple[float, float]:
    """Median seconds of `<binary> plan` of 10 null resources through `backend` (a block of
    `terraform {}` naming the stack's TLS host, the organization `org` and the workspace
    `bench`) and of the same configuration planned locally, after one unmeasured remote plan."""
    import statistics
    import subprocess
    import time

    import httpx
    http = httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {ADMIN}"})
    http.post("/api/v2/organizations", json={"data": {"attributes": {"name": org, "email": "b@b.b"}}})
    remote, local = Path(tmp) / "remote", Path(tmp) / "local"
    remote.mkdir()
    local.mkdir()
    (remote / "main.tf").write_text("terraform {\n" + backend + "}\n" + REMOTE_VS_LOCAL_RESOURCES)
    (local / "main.tf").write_text(REMOTE_VS_LOCAL_RESOURCES)
    env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TF_CLI_CONFIG_FILE": stack.cli_rc,
           "SSL_CERT_FILE": stack.cert, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    for cwd in (remote, local):
        subprocess.run([binary, "init", "-input=false"], cwd=cwd, env=env, check=True, capture_output=True)

    def timed(cwd) -> float:
        start = time.perf_counter()
        done = subprocess.run([binary, "plan", "-input=false", "-no-color"], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode in (0, 2), done.stdout + done.stderr
        return time.perf_counter() - start
    timed(remote)                                    # unmeasured warm-up
    remote_s = statistics.median(timed(remote) for _ in range(repeats))
    local_s = statistics.median(timed(local) for _ in range(repeats))
    return remote_s, local_s
