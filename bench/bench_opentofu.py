"""OpenTofu: `tofu plan` through the `cloud` block (the plan runs on a Terraless worker, with
OpenTofu, and its log streams back) vs a local `tofu plan` of the same configuration, in the same
run. Where the added time goes: the run's own span on the service (created -> planned, from its
status timestamps) and the rest, which is the client's side (packing and uploading the
configuration, creating the run, and its polling: OpenTofu's cloud backend reads the run with a
1-3 s backoff and the log every ~0.5-1 s, so a run done between two reads waits for the next)."""
from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from .stack import ADMIN, running_stack

REPEATS = 5
RESOURCES = 'resource "null_resource" "r" {\n  count = 10\n}\n'


def _timed(args, cwd, env) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 2), done.stdout + done.stderr
    return time.perf_counter() - start


def _span(attrs: dict) -> float:
    stamps = attrs["status-timestamps"]
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    # a CLI plan is speculative: it ends planned_and_finished, not planned
    done = stamps.get("planned-at") or stamps["planned-and-finished-at"]
    return (parse(done) - parse(attrs["created-at"])).total_seconds()


def run() -> dict:
    from tests.peers.build import build
    tofu = str(build("opentofu"))
    os.environ["TERRALESS_TOFU_BIN"] = tofu          # before the stack reads its settings
    with running_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        http = httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {ADMIN}"})
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "tofu", "email": "t@t.t"}}})
        cloud, local = Path(tmp) / "cloud", Path(tmp) / "local"
        cloud.mkdir()
        local.mkdir()
        (cloud / "main.tf").write_text(
            f'terraform {{\n  cloud {{\n    hostname = "{stack.tls_host}"\n    organization = "tofu"\n'
            f'    workspaces {{ name = "bench" }}\n  }}\n}}\n' + RESOURCES)
        (local / "main.tf").write_text(RESOURCES)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TF_CLI_CONFIG_FILE": stack.cli_rc,
               "SSL_CERT_FILE": stack.cert, "TF_IN_AUTOMATION": "1"}
        for cwd in (cloud, local):
            subprocess.run([tofu, "init", "-input=false"], cwd=cwd, env=env, check=True,
                           capture_output=True)
        plan = [tofu, "plan", "-input=false", "-no-color"]
        _timed(plan, cloud, env)                         # unmeasured warm-up
        cloud_s = statistics.median(_timed(plan, cloud, env) for _ in range(REPEATS))
        local_s = statistics.median(_timed(plan, local, env) for _ in range(REPEATS))
        ws = http.get("/api/v2/organizations/tofu/workspaces/bench").json()["data"]["id"]
        runs = http.get(f"/api/v2/workspaces/{ws}/runs?page%5Bsize%5D={REPEATS}").json()["data"]
        service_s = statistics.median(_span(r["attributes"]) for r in runs)
    return {"cloud_plan_s": round(cloud_s, 2), "local_plan_s": round(local_s, 2),
            "ratio": round(cloud_s / local_s, 2), "added_s": round(cloud_s - local_s, 2),
            "service_span_s": round(service_s, 2), "client_side_s": round(cloud_s - service_s, 2)}


def report(r: dict) -> str:
    return ("OpenTofu\n"
            f"  tofu plan via the cloud block {r['cloud_plan_s']} s vs local plan {r['local_plan_s']} s "
            f"-> +{r['added_s']} s, ratio {r['ratio']}x\n"
            f"  of it: the run on the service (created -> planned) {r['service_span_s']} s, "
            f"the client's side (upload, run creation, its polling) {r['client_side_s']} s")
