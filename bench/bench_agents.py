"""Agents (`terraless agent`), in the same run:
(a) pickup latency: a run's created -> planning on an idle agent (its long poll reads the
    pool's queue every POLL_INTERVAL_SECONDS) vs on the stack's own workers (the path of a
    Lambda worker: SQS -> Step Functions -> SQS -> worker);
(b) overhead: created -> applied of an auto-apply run of 1 null_resource on an agent vs bare
    `terraform init && plan && apply` of the same configuration."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from .bench_runs import bare
from .stack import ADMIN, running_stack, uploaded_workspace

REPEATS = 5
# a new trigger each run: every run plans a change and applies it (a run with nothing to change
# ends planned_and_finished, without the apply the overhead is measured on)
FILES = {"main.tf": 'resource "null_resource" "r" {\n  triggers = { at = timestamp() }\n}\n'}
DEADLINE_SECONDS = 300
ROOT = Path(__file__).resolve().parents[1]


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _run(http: httpx.Client, ws: str) -> dict:
    run = http.post("/api/v2/runs", json={"data": {"attributes": {"message": f"bench {time.time()}"},
                    "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}}).json()["data"]["id"]
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        attrs = http.get(f"/api/v2/runs/{run}").json()["data"]["attributes"]
        if attrs["status"] in ("applied", "errored", "canceled", "planned_and_finished"):
            assert attrs["status"] == "applied", attrs["status"]
            return attrs
        time.sleep(0.05)
    raise TimeoutError(f"run {run} did not end within {DEADLINE_SECONDS} s")


def _spans(attrs: dict) -> tuple[float, float]:
    stamps, created = attrs["status-timestamps"], _at(attrs["created-at"])
    return _at(stamps["planning-at"]) - created, _at(stamps["applied-at"]) - created


def run() -> dict:
    with running_stack() as stack:
        http = httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "bench", "email": "b@b.b"}}})
        pool = http.post("/api/v2/organizations/bench/agent-pools",
                         json={"data": {"attributes": {"name": "bench"}}}).json()["data"]["id"]
        token = http.post(f"/api/v2/agent-pools/{pool}/authentication-tokens",
                          json={"data": {"attributes": {"description": "bench"}}}).json()["data"]["attributes"]["token"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TERRALESS_"))}
        env.update(TERRALESS_AGENT_TOKEN=token, TERRALESS_HOME=str(stack.home / "agent"), TERRALESS_LOG_LEVEL="WARNING")
        agent = subprocess.Popen([sys.executable, "-m", "chalicelib.cli", "agent", "--url", stack.api,
                                  "--name", "bench"], cwd=ROOT, env=env, start_new_session=True)
        try:
            on_agent = uploaded_workspace(http, "on-agent", FILES)
            http.patch(f"/api/v2/workspaces/{on_agent}", json={"data": {"attributes": {
                "execution-mode": "agent", "agent-pool-id": pool, "auto-apply": True}}})
            on_worker = uploaded_workspace(http, "on-worker", FILES)
            http.patch(f"/api/v2/workspaces/{on_worker}", json={"data": {"attributes": {"auto-apply": True}}})
            _run(http, on_agent), _run(http, on_worker)          # warm both paths
            agent_spans = [_spans(_run(http, on_agent)) for _ in range(REPEATS)]
            worker_spans = [_spans(_run(http, on_worker)) for _ in range(REPEATS)]
        finally:
            agent.terminate()
            agent.wait(timeout=60)
    bare_s = statistics.median(bare(FILES, True)[0] for _ in range(3))
    pickup_agent = statistics.median(s[0] for s in agent_spans)
    pickup_worker = statistics.median(s[0] for s in worker_spans)
    applied_agent = statistics.median(s[1] for s in agent_spans)
    applied_worker = statistics.median(s[1] for s in worker_spans)
    return {"pickup_agent_s": round(pickup_agent, 2), "pickup_worker_s": round(pickup_worker, 2),
            "pickup_ratio": round(pickup_agent / pickup_worker, 2),
            "applied_agent_s": round(applied_agent, 2), "applied_worker_s": round(applied_worker, 2),
            "bare_terraform_s": round(bare_s, 2), "agent_vs_bare_ratio": round(applied_agent / bare_s, 2),
            "agent_added_s": round(applied_agent - bare_s, 2)}


def report(r: dict) -> str:
    return ("Agents\n"
            f"  (a) pickup (created -> planning): idle agent {r['pickup_agent_s']} s vs the stack's "
            f"workers {r['pickup_worker_s']} s -> ratio {r['pickup_ratio']}x\n"
            f"  (b) created -> applied on an agent {r['applied_agent_s']} s (workers {r['applied_worker_s']} s) "
            f"vs bare terraform init+plan+apply {r['bare_terraform_s']} s -> +{r['agent_added_s']} s, "
            f"ratio {r['agent_vs_bare_ratio']}x")
