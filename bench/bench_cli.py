"""terraform CLI: `terraform plan` through the remote backend (the plan runs on a Terraless
worker and its log streams back) vs a local `terraform plan` of the same configuration."""
from __future__ import annotations

import tempfile

from .stack import remote_vs_local_plan, running_stack


def run() -> dict:
    from chalicelib.executor import staging as terraform
    with running_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        remote_s, local_s = remote_vs_local_plan(
            terraform.binary(), stack, tmp, "cli",
            f'  backend "remote" {{\n    hostname = "{stack.tls_host}"\n    organization = "cli"\n'
            '    workspaces { name = "bench" }\n  }\n')
    return {"remote_plan_s": round(remote_s, 2), "local_plan_s": round(local_s, 2),
            "ratio": round(remote_s / local_s, 2), "added_s": round(remote_s - local_s, 2)}


def report(r: dict) -> str:
    return ("terraform CLI\n"
            f"  terraform plan via remote backend {r['remote_plan_s']} s vs local plan {r['local_plan_s']} s "
            f"-> +{r['added_s']} s, ratio {r['ratio']}x")
