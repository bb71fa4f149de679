"""Delayed buffer-period re-checks of Consul-Terraform-Sync tasks."""
from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import (BatchProcessor, EventType,
                                                   process_partial_response)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..services import tasks

processor = BatchProcessor(event_type=EventType.SQS)


def handle_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    tasks.check_buffer(message["org"], message["task"])


def handle(event: dict, context=None) -> dict:
    return process_partial_response(event=event, record_handler=handle_record,
                                    processor=processor, context=context)
