"""SQS handlers that report partial batch failures (Powertools): a record that raises is
retried alone; the others of its batch are deleted."""
from __future__ import annotations

import json
import logging
import os
import socket
from typing import Callable

from aws_lambda_powertools.utilities.batch import (BatchProcessor, EventType,
                                                   process_partial_response)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

log = logging.getLogger(__name__)


def sqs_handler(record_handler: Callable[[SQSRecord], None]) -> Callable[..., dict]:
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(event: dict, context=None) -> dict:
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=processor, context=context)
    handle.__name__ = f"handle_{record_handler.__name__.lstrip('_')}"
    return handle


def dead_letter(record: SQSRecord, key: str) -> dict | None:
    """A dead-lettered task message naming `key` (run_id, job_id). Anything else is logged and
    dropped: retrying an unreadable message cannot help."""
    try:
        message = json.loads(record.body)
    except ValueError:
        message = None
    if isinstance(message, dict) and message.get(key):
        return message
    log.error("unreadable dead letter dropped: %r", record.body[:200])
    return None


def worker_name() -> str:
    """Which worker holds a phase (shown on runs and steps)."""
    return f"{socket.gethostname()}:{os.getpid()}"
