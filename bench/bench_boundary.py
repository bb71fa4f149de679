"""What the runner boundary costs a phase (issue: run isolation; target <= 150 ms per phase).

A phase's runner is a fresh process (`python -I`, its staged stdlib-only package) that reaches
the service over the runner API through one Unix socket (executor/local.py). Against the
worker doing the same work itself, that adds, per phase: the runner's start, and the calls on
its critical path going over HTTP through the door instead of being function calls (a plan:
configuration, state, plan upload, outcome; an apply: configuration, state, plan, state
upload, outcome), plus one extra conditional write (the lease's close). Each piece is measured
here against its baseline in the same run: the runner's start against `python -I -c pass`,
a request through the door (the runner's own client) against the same request straight to the
API's TCP port (http.client)."""
from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

SAMPLES = 30
CALLS = {"plan": 4, "apply": 5}


def _median_ms(fn, samples: int = SAMPLES) -> float:
    fn()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def _get(conn_factory, path: str) -> None:
    conn = conn_factory()
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200


def _checked(answer: tuple[int, bytes]) -> None:
    assert answer[0] == 200, answer


def run() -> dict:
    from bench.stack import running_stack
    from chalicelib.executor import isolation, local, staging
    from chalicelib.runner import client
    with running_stack() as stack:
        host, port = stack.api.split("//")[1].split(":")
        direct = _median_ms(lambda: _get(lambda: http.client.HTTPConnection(host, int(port), timeout=30),
                                         "/api/v2/ping"))
        with tempfile.TemporaryDirectory(prefix="tl-door-") as tmp:
            door_path = Path(tmp) / "api.sock"
            with local.ApiDoor(door_path, stack.api):
                send = client.unix_socket(str(door_path), timeout=30)   # the runner's own client
                door = _median_ms(lambda: _checked(send("GET", "/api/v2/ping", {}, b"")))
        code_root = staging.runner_code()
        python = local.interpreter()
        setup = isolation.child_setup if isolation.mode() != "none" else os.setsid

        def boot(argv):
            return lambda: subprocess.run(argv, check=True, preexec_fn=setup, cwd="/",
                                          env={"PATH": "/usr/bin:/bin"})
        bare_boot = _median_ms(boot([python, "-I", "-c", "pass"]), 10)
        runner_boot = _median_ms(boot([python, "-I", "-c",
                                       "import sys; sys.path.insert(0, sys.argv[1]); "
                                       "import terraless_runner.main", str(code_root)]), 10)
    per_call = max(door - direct, 0.0) + direct   # every call is new traffic, door included
    results = {"sandbox": isolation.mode(), "python_I_pass_ms": bare_boot, "runner_start_ms": runner_boot,
               "request_direct_ms": direct, "request_through_door_ms": door,
               "door_ratio": round(door / direct, 2)}
    for phase, calls in CALLS.items():
        results[f"{phase}_boundary_ms"] = round(runner_boot + calls * per_call, 1)
    return results


def report(r: dict) -> str:
    return "\n".join([
        f"runner boundary ({r['sandbox']}): start {r['runner_start_ms']} ms (python -I -c pass: "
        f"{r['python_I_pass_ms']} ms); a request through the door {r['request_through_door_ms']} ms "
        f"vs straight to the API {r['request_direct_ms']} ms ({r['door_ratio']}x)",
        f"  per phase: plan ~{r['plan_boundary_ms']} ms, apply ~{r['apply_boundary_ms']} ms "
        f"(start + the critical-path calls; target <= 150)"])
