"""Consul-Terraform-Sync: trigger-to-run-start latency (a service event posted -> the task's
run starts planning) against the task's buffer_period.min, as a ratio (1.0 = no overhead)."""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from .stack import ADMIN, running_stack

MINS = (1, 3)
REPEATS = 3


def run() -> dict:
    results = {}
    with running_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        module = Path(tmp) / "module"
        module.mkdir()
        (module / "main.tf").write_text('variable "services" { type = any }\n'
                                        'resource "null_resource" "r" {\n  triggers = { n = length(var.services) }\n}\n')
        http = httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
        for minimum in MINS:
            samples = []
            for i in range(REPEATS):
                name = f"t{minimum}-{i}"
                http.post("/v1/tasks", json={"task": {
                    "name": name, "module": str(module), "condition": {"services": {"names": [name]}},
                    "buffer_period": {"min": f"{minimum}s", "max": f"{minimum * 4}s"}}}).raise_for_status()
                ws = http.get(f"/api/v2/organizations/cts/workspaces/{name}").json()["data"]["id"]
                entry = {"Node": {"Node": "n", "Datacenter": "dc1"}, "Service": {"ID": name, "Service": name}}
                start = time.perf_counter()
                http.post(f"/v1/watch/service/{name}", json=[entry]).raise_for_status()
                while True:
                    runs = http.get(f"/api/v2/workspaces/{ws}/runs").json()["data"]
                    if runs and runs[0]["attributes"]["status"] not in ("pending", "plan_queued"):
                        break
                    time.sleep(0.02)
                samples.append(time.perf_counter() - start)
                run_id = runs[0]["id"]
                while (status := http.get(f"/api/v2/runs/{run_id}").json()["data"]["attributes"]["status"]) \
                        not in ("applied", "errored"):    # finish before the next sample
                    time.sleep(0.05)
                assert status == "applied", status
            latency = statistics.median(samples)
            results[f"min_{minimum}s"] = {"latency_s": round(latency, 2), "buffer_min_s": minimum,
                                          "ratio": round(latency / minimum, 2)}
    return results


def report(r: dict) -> str:
    lines = ["consul-terraform-sync"]
    for v in r.values():
        lines.append(f"  service event -> run planning with buffer min {v['buffer_min_s']} s: "
                     f"{v['latency_s']} s -> ratio {v['ratio']}x")
    return "\n".join(lines)
