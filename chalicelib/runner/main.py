"""The runner's entry point: `python -c ...` in the dev stack's sandbox (the work
description on stdin), or the handler of the runner function on AWS (the invocation's event).

Stdlib only, and nothing of the service imported (tests/unit/test_architecture.py): the runner
is staged on its own into the stack's work directory, where the sandbox user can read it."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from . import client, phases, process, sandbox


def execute(work: dict, transport: client.Transport | None = None) -> None:
    credential = work.get("credential") or os.environ.get("PHASE_CREDENTIAL", "")
    api = client.PhaseApi(transport or client.transport_for(work["api"]), work["phase_id"], credential)
    phases.execute(work, api)


def main() -> None:
    view = os.environ.pop("RUNNER_SANDBOX", None)
    if view is not None:
        sandbox.enter(view)                 # the service is not root: the runner's own sandbox
    if os.environ.get("RUNNER_PID_NAMESPACE") == "1":
        process.enter_pid_namespace()       # from here on, this is the namespace's init
    if view is not None:
        sandbox.settle_as_init()
    execute(json.loads(sys.stdin.read()))


# What the runner function keeps of its invocation's time after stopping terraform: the grace
# for a second interrupt, storing the state, the log and the outcome.
STOP_MARGIN_SECONDS = 90


def time_limit(event: dict, remaining_ms: int) -> int:
    """The phase's limit inside this invocation: its own, within what the invocation has left."""
    left = max(1, remaining_ms // 1000 - STOP_MARGIN_SECONDS)
    own = int(event.get("time_limit_seconds") or 0)
    return min(own, left) if own > 0 else left


def cli_config(mirror: str, tmp: str) -> str:
    """The runner function's terraform CLI configuration: the layer's provider mirror first,
    other providers installed directly into a plugin cache under /tmp, which a warm container
    keeps for its next phases (a provider such as AWS's is ~450 MB to fetch and unpack)."""
    cache = Path(tmp) / "terraform-plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    mirrored = Path(mirror).is_dir()
    installation = (f'  filesystem_mirror {{\n    path = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/null"]\n  }}\n'
                    '  direct {\n    exclude = ["registry.terraform.io/hashicorp/null"]\n  }\n'
                    if mirrored else "  direct {}\n")
    return f'plugin_cache_dir = "{cache}"\nprovider_installation {{\n{installation}}}\n'


def handler(event, context) -> dict:
    """The AWS runner function: invoked by the privileged side with the work description.
    Lambda keeps /tmp between invocations of one container: each phase gets a fresh directory
    and a CLI configuration written into it, both removed when it ends; terraform comes from a
    read-only layer (/opt)."""
    root = Path(tempfile.mkdtemp(prefix="phase-", dir=os.environ.get("RUNNER_TMP", "/tmp")))
    try:
        config = root / "terraformrc"
        config.write_text(cli_config(os.environ.get("RUNNER_PROVIDER_MIRROR", "/opt/terraform/plugins"),
                                     os.environ.get("RUNNER_TMP", "/tmp")))
        tools = {"binary": os.environ.get("RUNNER_TERRAFORM", "/opt/bin/terraform"),
                 "cli_config": str(config), "version": os.environ.get("RUNNER_TERRAFORM_VERSION", ""),
                 "engine": "terraform"}
        execute({**event, "workdir": str(root), "tools": tools,
                 "time_limit_seconds": time_limit(event, context.get_remaining_time_in_millis())})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"done": event.get("phase_id")}
