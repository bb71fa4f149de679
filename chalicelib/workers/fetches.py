"""Fetch requests for VCS-style configuration versions (clone -> archive -> S3)."""
from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import (BatchProcessor, EventType,
                                                   process_partial_response)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..services import configuration_versions

processor = BatchProcessor(event_type=EventType.SQS)


def handle_record(record: SQSRecord) -> None:
    configuration_versions.fetch_from_vcs(json.loads(record.body)["cv_id"])


def handle(event: dict, context=None) -> dict:
    return process_partial_response(event=event, record_handler=handle_record,
                                    processor=processor, context=context)
