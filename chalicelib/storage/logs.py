"""Live log chunks in DynamoDB: one item per flush; a phase's chunks by Query in seq order."""
from __future__ import annotations

import time

from .models import LogChunkModel as Model

RETENTION_SECONDS = 7 * 24 * 3600   # the whole log is in S3 once the phase is over


def append(log_id: str, seq: int, data: str) -> None:
    Model(log_id=log_id, seq=seq, data=data, expires_at=int(time.time()) + RETENTION_SECONDS).save()


def text(log_id: str) -> str:
    return "".join(c.data for c in Model.query(log_id, scan_index_forward=True))
