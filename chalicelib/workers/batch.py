"""SQS handlers that report partial batch failures (Powertools): a record that raises is
retried alone; the others of its batch are deleted."""
from __future__ import annotations

import json
import logging
import os
import socket
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:   # annotations only: Powertools costs ~130 ms to import (the API needs none)
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


log = logging.getLogger(__name__)


def sqs_handler(record_handler: Callable[[SQSRecord], None]) -> Callable[..., dict]:
    processors: list = []

    def handle(event: dict, context=None) -> dict:
        # lazy: Powertools loads when a queue's handler first runs, not with every function
        from aws_lambda_powertools.utilities.batch import (BatchProcessor, EventType,
                                                           process_partial_response)
        if not processors:
            processors.append(BatchProcessor(event_type=EventType.SQS))
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=processors[0], context=context)
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
