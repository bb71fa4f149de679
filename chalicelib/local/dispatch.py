"""Plays Lambda's part for SQS event sources: receive, invoke the app's `on_sqs_message`
handler with a Lambda-shaped event, delete what succeeded. Failed records stay on the queue
and come back after the visibility timeout; the queue's redrive policy moves poison messages
to the DLQ, exactly as with a Lambda event source mapping.

The handlers are found from the Chalice app's own event sources, so there is no second list.
"""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Callable

from chalice.app import SQSEventConfig

from ..aws.clients import client
from ..config import settings

log = logging.getLogger(__name__)


@dataclass
class Subscription:
    queue: str
    handler: Callable
    batch_size: int
    url: str | None = None
    arn: str | None = None

    def resolve(self) -> tuple[str, str]:
        if self.url is None:
            self.url, self.arn = _queue_meta(self.queue)
        return self.url, self.arn  # type: ignore[return-value]


class _Context:
    """The parts of a Lambda context that handlers read."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:{settings().region}:000000000000:function:{name}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def subscriptions(app, module) -> list[Subscription]:
    return [Subscription(src.queue, getattr(module, src.name), src.batch_size)
            for src in app.event_sources if isinstance(src, SQSEventConfig)]


def _queue_meta(queue: str) -> tuple[str, str]:
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def dispatch_once(sub: Subscription, *, wait_seconds: int = 0) -> int:
    """One receive + invoke + delete round. Returns the number of messages received."""
    sqs = client("sqs")
    url, arn = sub.resolve()
    resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(sub.batch_size, 10),
                               WaitTimeSeconds=wait_seconds, AttributeNames=["All"],
                               MessageAttributeNames=["All"])
    messages = resp.get("Messages", [])
    if not messages:
        return 0
    event = {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody"), "eventSource": "aws:sqs", "eventSourceARN": arn,
        "awsRegion": settings().region} for m in messages]}
    try:
        result = sub.handler(event, _Context(sub.queue)) or {}
    except Exception:  # noqa: BLE001 - a crashed invocation leaves the batch for redelivery
        log.exception("handler for %s failed; batch left for redelivery", sub.queue)
        return len(messages)
    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    done = [m for m in messages if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
    return len(messages)


def drain(sub: Subscription, *, max_rounds: int = 100) -> int:
    """Dispatch until the queue answers empty (tests under mock_aws use this)."""
    total = 0
    for _ in range(max_rounds):
        received = dispatch_once(sub)
        if not received:
            break
        total += received
    return total


class Dispatcher:
    """One long-polling thread per subscription."""

    def __init__(self, subs: list[Subscription]) -> None:
        self.subs = subs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for sub in self.subs:
            thread = threading.Thread(target=self._loop, args=(sub,), daemon=True,
                                      name=f"dispatch-{sub.queue}")
            thread.start()
            self._threads.append(thread)

    def _loop(self, sub: Subscription) -> None:
        while not self._stop.is_set():
            try:
                dispatch_once(sub, wait_seconds=1)
            except Exception:  # noqa: BLE001 - keep dispatching; the emulator may be restarting
                log.exception("dispatch round for %s failed", sub.queue)
                self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
