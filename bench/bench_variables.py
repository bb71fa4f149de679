"""Variables (issue: variables, variable sets and sensitive values): a plan-only run of the same
one-resource configuration on a workspace with no variables vs one with 100 (60 terraform
variables the configuration declares — 10 of them sensitive, 10 HCL — and 40 env variables, 10
sensitive), alternating, in one stack. What variables add to a run: resolving them by
precedence, the snapshot, one KMS Decrypt per owner, the files and the environment the runner
writes, the masking of its log. Target <= 1.1x and <= +150 ms."""
from __future__ import annotations

import itertools
import statistics
import time

from .bench_reliability import _client, _wait
from .stack import running_stack, uploaded_workspace

ROUNDS = 8
TERRAFORM_VARS, ENV_VARS = 60, 40


def _config() -> dict:
    # defaults, so that the run without variables plans the same configuration
    declared = "".join(f'variable "v{i}" {{\n  type    = any\n  default = null\n}}\n'
                       for i in range(TERRAFORM_VARS))
    return {"main.tf": declared + 'resource "null_resource" "r" {}\n'}


def _add_variables(http, ws: str) -> None:
    for i in range(TERRAFORM_VARS):
        attrs = {"key": f"v{i}", "category": "terraform", "value": f"value-{i}-plain"}
        if i < 10:
            attrs.update(sensitive=True, value=f"secret-terraform-value-{i}")
        elif i < 20:
            attrs.update(hcl=True, value=f'{{ n = {i}, tags = ["a", "b"] }}')
        http.post(f"/api/v2/workspaces/{ws}/vars", json={"data": {"attributes": attrs}}).raise_for_status()
    for i in range(ENV_VARS):
        attrs = {"key": f"BENCH_ENV_{i}", "category": "env", "value": f"env-value-{i}",
                 "sensitive": i < 10}
        http.post(f"/api/v2/workspaces/{ws}/vars", json={"data": {"attributes": attrs}}).raise_for_status()


_counter = itertools.count()


def _plan_only(http, ws: str) -> str:
    # a distinct message each time: identical bodies within the dedup window are one run
    return http.post("/api/v2/runs", json={"data": {"attributes": {
        "plan-only": True, "message": f"bench {next(_counter)}"},
        "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}}).json()["data"]["id"]


def _timed_plan(http, ws: str) -> float:
    start = time.perf_counter()
    _wait(http, [_plan_only(http, ws)])
    return time.perf_counter() - start


def run() -> dict:
    with running_stack(durable=False) as stack:
        http = _client(stack.api)
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "bench", "email": "b@b.b"}}})
        bare = uploaded_workspace(http, "vars-none", _config())
        loaded = uploaded_workspace(http, "vars-100", _config())
        _add_variables(http, loaded)
        _timed_plan(http, bare), _timed_plan(http, loaded)            # warm both paths
        without, with_vars = [], []
        for _ in range(ROUNDS):
            without.append(_timed_plan(http, bare))
            with_vars.append(_timed_plan(http, loaded))
    a, b = statistics.median(without), statistics.median(with_vars)
    return {"rounds": ROUNDS, "no_variables_s": round(a, 3), "with_100_s": round(b, 3),
            "ratio": round(b / a, 3), "added_ms": round((b - a) * 1000, 1),
            "min_max_without": [round(min(without), 3), round(max(without), 3)],
            "min_max_with": [round(min(with_vars), 3), round(max(with_vars), 3)]}


def report(r: dict) -> str:
    return (f"variables: plan-only run with 0 vs 100 workspace variables (20 sensitive), median of "
            f"{r['rounds']}: {r['no_variables_s']} s vs {r['with_100_s']} s: {r['ratio']}x, "
            f"{r['added_ms']:+} ms (target <= 1.1x and <= +150 ms)")
