"""Delayed buffer-period re-checks of Consul-Terraform-Sync tasks."""
from __future__ import annotations

import json

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..services import tasks
from .batch import sqs_handler



def handle_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    tasks.check_buffer(message["org"], message["task"])


handle = sqs_handler(handle_record)
