"""Sending work to the service's SQS queues (named by their logical name in infra/)."""
from __future__ import annotations

import json
from functools import lru_cache

from ..config import settings
from .clients import client


@lru_cache(maxsize=32)
def _url(name: str, _endpoint_key: int) -> str:
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def url(logical: str) -> str:
    # keyed by the client object too: tests swap emulators (and clients) between cases
    return _url(settings().queue(logical), id(client("sqs")))


def send(logical: str, body: dict, *, delay_seconds: int = 0, group: str | None = None,
         dedup: str | None = None) -> None:
    kwargs = {}
    if delay_seconds:
        kwargs["DelaySeconds"] = delay_seconds
    if group:
        kwargs["MessageGroupId"] = group
    if dedup:
        kwargs["MessageDeduplicationId"] = dedup
    client("sqs").send_message(QueueUrl=url(logical), MessageBody=json.dumps(body), **kwargs)
