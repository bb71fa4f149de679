"""Delayed buffer-period re-checks of Consul-Terraform-Sync tasks, and the Consul polls within
the minute (CONSUL_HTTP_ADDR)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..services import consul_poll, task_conditions
from .batch import sqs_handler

if TYPE_CHECKING:   # annotations only: Powertools' data classes cost ~110 ms to import
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def handle_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    if message.get("consul_poll"):
        consul_poll.poll()
        return
    task_conditions.check_buffer(message["org"], message["task"])


handle = sqs_handler(handle_record)
