"""Fetch requests for VCS-style configuration versions (clone -> archive -> S3)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..services import configuration_versions
from .batch import sqs_handler

if TYPE_CHECKING:   # annotations only: Powertools' data classes cost ~110 ms to import
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def handle_record(record: SQSRecord) -> None:
    configuration_versions.fetch_from_vcs(json.loads(record.body)["cv_id"])


handle = sqs_handler(handle_record)
