"""SQS handlers that report partial batch failures (Powertools): a record that raises is
retried alone; the others of its batch are deleted."""
from __future__ import annotations

from typing import Callable

from aws_lambda_powertools.utilities.batch import (BatchProcessor, EventType,
                                                   process_partial_response)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def sqs_handler(record_handler: Callable[[SQSRecord], None]) -> Callable[..., dict]:
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(event: dict, context=None) -> dict:
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=processor, context=context)
    handle.__name__ = f"handle_{record_handler.__name__.lstrip('_')}"
    return handle
