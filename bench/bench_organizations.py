"""Organization names (issue: hardening — organization rename): what resolving a URL's
organization name costs a request. Every `/organizations/:org/...` route resolves the name
through its claim (one GetItem, remembered in-process for the token-cache TTL, as the stack
runs it: services/organization_names.py); an organization renamed once is resolved the same
way. Measured against the same workspace read by id (no organization in the URL), in one
stack, alternating: GET /workspaces/:id vs GET /organizations/:org/workspaces/:name of an
organization never renamed and of one renamed. Target: the by-name read <= +5 ms over by-id,
and a renamed organization no slower than one never renamed (<= 1.05x)."""
from __future__ import annotations

import statistics
import time

from .bench_reliability import _client
from .stack import running_stack

SAMPLES = 150


def _timed(http, path: str) -> float:
    start = time.perf_counter()
    http.get(path).raise_for_status()
    return time.perf_counter() - start


def run() -> dict:
    with running_stack(durable=False) as stack:
        http = _client(stack.api)
        ids = {}
        for org in ("bench-kept", "bench-old"):
            http.post("/api/v2/organizations", json={"data": {"attributes": {
                "name": org, "email": "b@b.b"}}}).raise_for_status()
            ids[org] = http.post(f"/api/v2/organizations/{org}/workspaces", json={"data": {
                "attributes": {"name": "w"}}}).json()["data"]["id"]
        http.patch("/api/v2/organizations/bench-old", json={"data": {"attributes": {
            "name": "bench-new"}}}).raise_for_status()
        paths = {"by_id": f"/api/v2/workspaces/{ids['bench-kept']}",
                 "by_name": "/api/v2/organizations/bench-kept/workspaces/w",
                 "by_name_renamed": "/api/v2/organizations/bench-new/workspaces/w"}
        times: dict[str, list[float]] = {k: [] for k in paths}
        for path in paths.values():
            _timed(http, path)                                       # warm every path
        for _ in range(SAMPLES):
            for kind, path in paths.items():
                times[kind].append(_timed(http, path))
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {"samples": SAMPLES, **{f"{k}_ms": round(v, 2) for k, v in med.items()},
            "by_name_added_ms": round(med["by_name"] - med["by_id"], 2),
            "renamed_ratio": round(med["by_name_renamed"] / med["by_name"], 3)}


def report(r: dict) -> str:
    return (f"organizations: workspace read, median of {r['samples']}: by id {r['by_id_ms']} ms, "
            f"by organization name {r['by_name_ms']} ms ({r['by_name_added_ms']:+} ms), by a renamed "
            f"organization's name {r['by_name_renamed_ms']} ms ({r['renamed_ratio']}x) "
            "(target <= +5 ms and <= 1.05x)")
