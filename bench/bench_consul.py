"""Consul polls (issue 16, part 3): what a poll of an unchanged Consul costs with X-Consul-Index
(an answer at the index this container saw last is not compared with, nor read from, DynamoDB)
vs without it (every answer compared with the entries stored for the service), in one stack,
alternating, against a real Consul v1.16.1 agent (built by tests/peers) with 20 services of
2 instances, each watched by a task. Target: fewer DynamoDB reads and no slower."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from .bench_reliability import _client
from .stack import ItemCounter, running_stack

SERVICES, SAMPLES = 20, 15


def run() -> dict:
    from tests.conftest import ConsulAgent
    from tests.peers.build import build
    agent = ConsulAgent(build("consul"), Path(tempfile.mkdtemp()) / "consul.log")
    try:
        for n in range(SERVICES):
            for i in range(2):
                agent.put("/v1/agent/service/register", {"ID": f"svc{n}-{i}", "Name": f"svc{n}", "Port": 1000 + i})
        os.environ["CONSUL_HTTP_ADDR"] = agent.address
        with running_stack(durable=False) as stack:
            from chalicelib.config import settings
            from chalicelib.services import consul_poll, task_conditions
            org = settings().cts_organization
            # what Consul says now is what Terraless saw last: the polls find no change
            for n in range(SERVICES):
                task_conditions.store_service(org, f"svc{n}", agent.http.get(f"/v1/health/service/svc{n}").json())
            http = _client(stack.api)
            for n in range(SERVICES):
                http.post("/v1/tasks", json={"task": {"name": f"t{n}", "module": "/srv/m",
                                                      "condition": {"services": {"names": [f"svc{n}"]}}}}).raise_for_status()
            times: dict[str, list[float]] = {"index": [], "compare": []}
            reads: dict[str, list[int]] = {"index": [], "compare": []}
            consul_poll.poll()                                   # warm; sees the indexes
            with ItemCounter() as counter:
                for _ in range(SAMPLES):
                    for kind in ("index", "compare"):
                        if kind == "compare":
                            consul_poll._last_index.clear()      # as a container that saw none
                        counter.reset()
                        start = time.perf_counter()
                        result = consul_poll.poll()
                        times[kind].append(time.perf_counter() - start)
                        reads[kind].append(counter.items)
                        assert not result["services"] and not result["errors"], result
    finally:
        os.environ.pop("CONSUL_HTTP_ADDR", None)
        agent.stop()
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {"services": SERVICES, "samples": SAMPLES, "index_ms": round(med["index"], 1),
            "compare_ms": round(med["compare"], 1), "ratio": round(med["index"] / med["compare"], 2),
            "index_items": statistics.median(reads["index"]), "compare_items": statistics.median(reads["compare"])}


def report(r: dict) -> str:
    return (f"consul poll of {r['services']} unchanged services, median of {r['samples']}: with X-Consul-Index "
            f"{r['index_ms']} ms, {r['index_items']} DynamoDB items read; comparing every answer with what is "
            f"stored {r['compare_ms']} ms, {r['compare_items']} items: {r['ratio']}x")
