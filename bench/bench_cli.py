"""terraform CLI: `terraform plan` through the remote backend (the plan runs on a Terraless
worker and its log streams back) vs a local `terraform plan` of the same configuration."""
from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
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


def run() -> dict:
    from chalicelib.executor import staging as terraform
    tf = terraform.binary()
    with running_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        http = httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {ADMIN}"})
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "cli", "email": "c@c.c"}}})
        remote, local = Path(tmp) / "remote", Path(tmp) / "local"
        remote.mkdir()
        local.mkdir()
        (remote / "main.tf").write_text(
            f'terraform {{\n  backend "remote" {{\n    hostname = "{stack.tls_host}"\n'
            f'    organization = "cli"\n    workspaces {{ name = "bench" }}\n  }}\n}}\n' + RESOURCES)
        (local / "main.tf").write_text(RESOURCES)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TF_CLI_CONFIG_FILE": stack.cli_rc,
               "SSL_CERT_FILE": stack.cert, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
        for cwd in (remote, local):
            subprocess.run([tf, "init", "-input=false"], cwd=cwd, env=env, check=True,
                           capture_output=True)
        plan = [tf, "plan", "-input=false", "-no-color"]
        _timed(plan, remote, env)                        # unmeasured warm-up
        remote_s = statistics.median(_timed(plan, remote, env) for _ in range(REPEATS))
        local_s = statistics.median(_timed(plan, local, env) for _ in range(REPEATS))
    return {"remote_plan_s": round(remote_s, 2), "local_plan_s": round(local_s, 2),
            "ratio": round(remote_s / local_s, 2), "added_s": round(remote_s - local_s, 2)}


def report(r: dict) -> str:
    return ("terraform CLI\n"
            f"  terraform plan via remote backend {r['remote_plan_s']} s vs local plan {r['local_plan_s']} s "
            f"-> +{r['added_s']} s, ratio {r['ratio']}x")
