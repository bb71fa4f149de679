"""Reliability (issue: no run lost to load, crashes or restarts):
(a) drain: 30 plan-only runs on 30 workspaces queued at once, with W workers, against the
    ideal: runs x (one such run alone) / W. A run's phase ends when its worker is free again:
    after the outcome, the worker stores the JSON plan (terraform show -json), so both the run
    alone and the drain are timed until the JSON plans are stored. Target <= 1.2. W = 1 (the dispatcher's own cost)
    and W = 3 (the default; on a 2-core machine three terraform processes share two cores);
(b) the cost of durability on the API: GET and POST latency with the emulator's journal
    (the dev stack's default) vs without, each a fresh stack in the same run; and the
    journal's replay at the next start (entries per second)."""
from __future__ import annotations

import os
import re
import statistics
import time

import httpx


from .stack import ADMIN, running_stack, uploaded_workspace

RUNS = 30
SAMPLES = 40
CONFIG = {"main.tf": 'resource "null_resource" "r" {}\n'}


def _client(api: str) -> httpx.Client:
    return httpx.Client(base_url=api, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120)


def _plan_only(http, ws: str) -> str:
    return http.post("/api/v2/runs", json={"data": {"attributes": {"plan-only": True, "message": ws},
                     "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}}).json()["data"]["id"]


def _wait(http, run_ids: list[str], *, until_json: bool = False) -> None:
    """Until every run is planned_and_finished; `until_json`: and its JSON plan is stored, the
    rest of its worker's phase (terraform show -json runs after the outcome is reported).

    One run is polled at a time, in the order the runs were queued (the order they drain in):
    polling all 30 every 50 ms made the observer a load of its own — ~600 API requests a
    second on the two cores terraform needs — and slowed every phase it was timing."""
    for run_id in run_ids:
        while True:
            run = http.get(f"/api/v2/runs/{run_id}").json()["data"]
            status = run["attributes"]["status"]
            if status in ("planned_and_finished", "errored"):
                assert status == "planned_and_finished", run_id
                plan = run["relationships"]["plan"]["data"]["id"]
                if not until_json or http.get(f"/api/v2/plans/{plan}/json-output").status_code == 307:
                    break
            time.sleep(0.05)


def _drain(http) -> dict:
    workers = int(os.environ.get("TERRALESS_WORKERS", "3"))
    alone = []
    # the first run of a stack warms its workers (imports, terraform's caches): not measured
    _wait(http, [_plan_only(http, uploaded_workspace(http, "warm", CONFIG))], until_json=True)
    for i in range(5):
        ws = uploaded_workspace(http, f"alone-{i}", CONFIG)
        start = time.perf_counter()
        _wait(http, [_plan_only(http, ws)], until_json=True)
        alone.append(time.perf_counter() - start)
    # W runs at once, as many as the workers: what one round of the drain costs when the
    # workers share this machine's cores (the ideal above assumes a core per worker)
    rounds = []
    for i in range(3 if workers > 1 else 0):
        batch = [uploaded_workspace(http, f"round-{i}-{w}", CONFIG) for w in range(workers)]
        start = time.perf_counter()
        _wait(http, [_plan_only(http, ws) for ws in batch], until_json=True)
        rounds.append(time.perf_counter() - start)
    spaces = [uploaded_workspace(http, f"drain-{i}", CONFIG) for i in range(RUNS)]
    start = time.perf_counter()
    _wait(http, [_plan_only(http, ws) for ws in spaces], until_json=True)
    drained = time.perf_counter() - start
    one = statistics.median(alone)
    ideal = RUNS * one / workers
    result = {"workers": workers, "one_run_s": round(one, 2), "drain_s": round(drained, 2),
              "ideal_s": round(ideal, 2), "ratio": round(drained / ideal, 2)}
    if rounds:
        per_round = statistics.median(rounds)
        result.update(round_s=round(per_round, 2), ideal_contended_s=round(RUNS / workers * per_round, 2),
                      ratio_contended=round(drained / (RUNS / workers * per_round), 2))
    return result


def _latency(http, tag: str) -> dict:
    def median_ms(call) -> float:
        call(0)
        times = []
        for i in range(1, SAMPLES + 1):
            start = time.perf_counter()
            call(i)
            times.append(time.perf_counter() - start)
        return round(statistics.median(times) * 1000, 2)
    get = median_ms(lambda i: http.get("/api/v2/organizations/bench").raise_for_status())
    post = median_ms(lambda i: http.post("/api/v2/organizations/bench/workspaces", json={
        "data": {"attributes": {"name": f"lat-{tag}-{i}"}}}).raise_for_status())
    return {"get_ms": get, "post_ms": post}


def run() -> dict:
    results: dict = {}
    with running_stack(durable=True) as stack:
        http = _client(stack.api)
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "bench", "email": "b@b.b"}}})
        durable = _latency(http, "durable")
        results["drain"] = _drain(http)
        home = stack.home
    os.environ["TERRALESS_WORKERS"] = "1"
    try:
        with running_stack(durable=False) as stack:
            http = _client(stack.api)
            http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "bench", "email": "b@b.b"}}})
            plain = _latency(http, "plain")
            results["drain_one_worker"] = _drain(http)
    finally:
        os.environ.pop("TERRALESS_WORKERS", None)
    results["durability"] = {"durable": durable, "in_memory": plain,
                             "get_ratio": round(durable["get_ms"] / plain["get_ms"], 2),
                             "post_ratio": round(durable["post_ms"] / plain["post_ms"], 2)}
    # the next start of the durable stack's home replays its journal
    with running_stack(durable=True, home=home):
        pass
    replays = re.findall(r'journal replayed: \{"entries": (\d+), "failed": (\d+), "seconds": ([\d.]+)\}',
                         (home / "moto.log").read_text())
    entries, failed, seconds = replays[-1]
    results["replay"] = {"entries": int(entries), "failed": int(failed), "seconds": float(seconds),
                         "per_second": round(int(entries) / max(float(seconds), 1e-3))}
    return results


def report(r: dict) -> str:
    p, j = r["durability"], r["replay"]
    return "\n".join([
        *(f"drain: {RUNS} plan-only runs, {d['workers']} worker(s): {d['drain_s']} s vs ideal "
          f"{d['ideal_s']} s (one run alone {d['one_run_s']} s): {d['ratio']}x (target <= 1.2)"
          + (f"; vs {RUNS // d['workers']} rounds of {d['workers']} runs at once ({d['round_s']} s "
             f"each): {d['ideal_contended_s']} s, {d['ratio_contended']}x" if "round_s" in d else "")
          for d in (r["drain_one_worker"], r["drain"])),
        f"durability: GET {p['durable']['get_ms']} ms vs {p['in_memory']['get_ms']} ms in memory "
        f"({p['get_ratio']}x); POST workspace {p['durable']['post_ms']} ms vs "
        f"{p['in_memory']['post_ms']} ms ({p['post_ratio']}x)",
        f"replay at the next start: {j['entries']} journal entries in {j['seconds']} s "
        f"({j['per_second']}/s, {j['failed']} failed)"])
