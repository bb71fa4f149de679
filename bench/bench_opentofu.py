"""OpenTofu: `tofu plan` through the `cloud` block (the plan runs on a Terraless worker, with
OpenTofu, and its log streams back) vs a local `tofu plan` of the same configuration, in the same
run. Where the added time goes: the run's own span on the service (created -> planned, from its
status timestamps) and the rest, which is the client's side (packing and uploading the
configuration, creating the run, and its polling: OpenTofu's cloud backend reads the run with a
1-3 s backoff and the log every ~0.5-1 s, so a run done between two reads waits for the next)."""
from __future__ import annotations

import os
import statistics
import tempfile
from datetime import datetime

import httpx

from .stack import ADMIN, remote_vs_local_plan, running_stack

REPEATS = 5


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
        cloud_s, local_s = remote_vs_local_plan(
            tofu, stack, tmp, "tofu",
            f'  cloud {{\n    hostname = "{stack.tls_host}"\n    organization = "tofu"\n'
            '    workspaces { name = "bench" }\n  }\n', repeats=REPEATS)
        http = httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {ADMIN}"})
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
