"""Where a phase's runner executes: one implementation per host, chosen by
TERRALESS_EXECUTOR. The privileged side (workers/) claims a phase, builds its work
description (services/run_phases.py, services/job_phases.py) and hands it to `execute`.

- "local" (local.py): a process on this host in the sandbox of isolation.py, reaching the API
  through one Unix socket; returns when the runner has exited.
- "lambda" (aws_lambda.py): the unprivileged runner function (role: logs only), invoked
  asynchronously; returns at once, the runner reports over HTTPS.
- "in-process" (inprocess.py): tests under the emulator; the runner in a thread of this
  process, talking to the app through Chalice's test client.

Agents and phases longer than Lambda's 15 minutes plug in here later: each is one more
implementation of `execute(work) -> bool` ("did it finish?")."""
from __future__ import annotations

from ..config import settings


def execute(work: dict, kind: str, name: str) -> bool:
    """Runs `work`; True when the runner has finished (so the caller can settle a phase its
    runner never reported), False when it was only started. `kind`/`name` name its
    working directory (runs/<run>-plan, jobs/<job>-<step>)."""
    chosen = settings().executor
    if chosen == "lambda":
        from . import aws_lambda  # lazy: boto3's Lambda client only where it is used
        return aws_lambda.execute(work)
    if chosen == "in-process":
        from . import inprocess  # lazy: tests only
        return inprocess.execute(work, kind, name)
    from . import local  # lazy: the dev stack's sandbox
    return local.execute(work, kind, name)
