"""S3 ObjectCreated events for configuration archives -> validate -> uploaded | errored.

Batches go through Powertools' BatchProcessor so one bad record does not redeliver the whole
batch (the event source mapping sets ReportBatchItemFailures in infra)."""
from __future__ import annotations

import json
from urllib.parse import unquote_plus
from typing import TYPE_CHECKING

from ..services import configuration_versions
from .batch import sqs_handler

if TYPE_CHECKING:   # annotations only: Powertools' data classes cost ~110 ms to import
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def handle_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    for entry in message.get("Records", []):       # s3:TestEvent messages have none
        if not str(entry.get("eventName", "")).startswith("ObjectCreated"):
            continue
        obj = entry["s3"]["object"]
        # S3 (and moto) send keys quote_plus-encoded: '/' arrives as %2F.
        configuration_versions.process_uploaded_object(unquote_plus(obj["key"]),
                                                       obj.get("versionId"))


handle = sqs_handler(handle_record)
