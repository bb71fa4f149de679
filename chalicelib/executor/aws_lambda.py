"""The runner function on AWS: invoked asynchronously with the work description. Its role
(infra/resources.yaml, TerralessRunnerRole) allows writing its own logs and nothing else; it
reaches the service only through the runner API's public URL with the phase's credential, so a
run's code that reads the function's environment finds no AWS credential of the service."""
from __future__ import annotations

import json

from ..aws.clients import client
from ..config import settings


def execute(work: dict) -> bool:
    description = {**work, "api": {"url": settings().public_url}}
    client("lambda").invoke(FunctionName=settings().runner_function, InvocationType="Event",
                            Payload=json.dumps(description).encode())
    return False
