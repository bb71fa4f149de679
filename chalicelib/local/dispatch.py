"""Plays Lambda's part for SQS event sources: receive, invoke the app's `on_sqs_message`
handler with a Lambda-shaped event, delete what succeeded. Failed records stay on the queue
and come back later; the queue's redrive policy moves poison messages to the DLQ, as with a
Lambda event source mapping.

Handlers are found from the Chalice app's own event sources (no second list). The handlers
that run a terraform phase here (the app's `PHASE_HANDLERS`: on AWS they hand it to the runner
function, here the local executor runs it inside the handler) run in worker processes — warm
"containers" that can be killed like a real Lambda, leaving the run to its lease. Short
handlers run in threads of the dev stack.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import traceback
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Callable

from chalice.app import SQSEventConfig

from ..aws.clients import client
from ..config import settings

log = logging.getLogger(__name__)
# A crashed invocation is retried after this delay (Lambda would wait for the queue's whole
# visibility timeout, which for terraform phases is 16 minutes).
RETRY_DELAY_SECONDS = int(os.environ.get("TERRALESS_RETRY_DELAY_SECONDS", "2"))


@dataclass
class Subscription:
    queue: str
    name: str
    handler: Callable
    batch_size: int
    isolated: bool = False
    url: str | None = None
    arn: str | None = None

    def resolve(self) -> tuple[str, str]:
        if self.url is None:
            sqs = client("sqs")
            self.url = sqs.get_queue_url(QueueName=self.queue)["QueueUrl"]
            self.arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
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
    phases = set(getattr(module, "PHASE_HANDLERS", ()))
    return [Subscription(src.queue, src.name, getattr(module, src.name), src.batch_size,
                         isolated=src.name in phases)
            for src in app.event_sources if isinstance(src, SQSEventConfig)]


def _receive(sub: Subscription, wait_seconds: int, max_messages: int) -> tuple[list, dict | None]:
    url, arn = sub.resolve()
    resp = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=max_messages,
                                         WaitTimeSeconds=wait_seconds, AttributeNames=["All"],
                                         MessageAttributeNames=["All"])
    messages = resp.get("Messages", [])
    if not messages:
        return [], None
    event = {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody"), "eventSource": "aws:sqs", "eventSourceARN": arn,
        "awsRegion": settings().region} for m in messages]}
    return messages, event


def _settle(sub: Subscription, messages: list, result: dict | None, crashed: bool) -> None:
    sqs = client("sqs")
    url, _ = sub.resolve()
    if crashed:
        for m in messages:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                          VisibilityTimeout=RETRY_DELAY_SECONDS)
        return
    failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
    for m in messages:
        if m["MessageId"] in failed:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                          VisibilityTimeout=RETRY_DELAY_SECONDS)
    done = [m for m in messages if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])


def dispatch_once(sub: Subscription, *, wait_seconds: int = 0) -> int:
    """One receive + invoke (in this thread) + delete round; returns messages received."""
    messages, event = _receive(sub, wait_seconds, min(sub.batch_size, 10))
    if not messages:
        return 0
    try:
        result, crashed = sub.handler(event, _Context(sub.name)) or {}, False
    except Exception:  # noqa: BLE001 - a crashed invocation leaves the batch for redelivery
        log.exception("handler %s failed; batch left for redelivery", sub.name)
        result, crashed = None, True
    _settle(sub, messages, result, crashed)
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


# -- worker processes ----------------------------------------------------------------------------

def _worker_main(conn) -> None:
    """A warm 'Lambda container': imports the app once, then runs invocations sent to it."""
    logging.basicConfig(level=os.environ.get("TERRALESS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s worker[%(process)d] %(name)s %(levelname)s %(message)s")
    from ..executor.isolation import protect_process  # lazy: a worker process only
    from .lifetime import watch_parent  # lazy: as above
    protect_process()   # a phase's processes (the same uid where the service is not root) stay out
    watch_parent()      # a stack killed outright takes its workers (and their phases) along
    # lazy: a worker process imports the app once it has the stack's environment
    import app as app_module
    from ..workers.runs import warm  # lazy: as above
    warm()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            name, event = conn.recv()
        except EOFError:
            return
        try:
            result = getattr(app_module, name)(event, _Context(name))
            conn.send(("ok", result))
        except Exception:  # noqa: BLE001 - reported to the dispatcher as a crash
            conn.send(("error", traceback.format_exc()))


class _Worker:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False

    def invoke(self, name: str, event: dict) -> tuple[dict | None, bool]:
        """Returns (result, crashed). A worker that dies mid-invocation counts as a crash."""
        try:
            if not self.ready:
                kind, _ = self.conn.recv()
                self.ready = kind == "ready"
            self.conn.send((name, event))
            kind, payload = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            return None, True
        if kind == "error":
            log.error("handler %s crashed:\n%s", name, payload)
            return None, True
        return payload or {}, False

    @property
    def alive(self) -> bool:
        return self.proc.is_alive()

    def stop(self) -> None:
        self.proc.terminate()


class WorkerPool:
    """Warm worker processes, handed out in the order they were asked for.

    A worker is taken only for a message in hand: a queue's loop first waits until some worker
    is free and not already promised (`wait_free`), then receives one message, then takes a
    worker (`take`, FIFO among the loops holding a message). A loop over an empty queue holds
    no worker, so a queue with work never waits behind idle ones; at most one message per queue
    can wait in hand for a worker (two loops may see the same free worker), never long."""

    def __init__(self, size: int, factory: Callable[[], "_Worker"] | None = None) -> None:
        self._factory = factory or _Worker
        self._cond = threading.Condition()
        self._idle: deque = deque()
        self._promised = 0
        self._all: list = []
        for _ in range(size):
            self._add()

    def _add(self) -> None:
        worker = self._factory()
        self._all.append(worker)
        self._idle.append(worker)

    def wait_free(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._idle) > self._promised, timeout)

    def take(self, stop: threading.Event) -> "_Worker | None":
        """The next free worker for a message in hand; None if the dispatcher stops first."""
        with self._cond:
            self._promised += 1
            try:
                while not self._idle:
                    if stop.is_set():
                        return None
                    self._cond.wait(0.5)
                return self._idle.popleft()
            finally:
                self._promised -= 1
                self._cond.notify_all()

    def release(self, worker) -> None:
        with self._cond:
            if worker.alive:
                self._idle.append(worker)
            else:
                log.warning("worker process %s died; starting a new one", worker.proc.pid)
                self._all.remove(worker)
                self._add()
                from ..executor.local import remove_workdirs_of  # lazy: only after a death
                remove_workdirs_of(worker.proc.pid)
            self._cond.notify_all()

    def stop(self) -> None:
        for worker in self._all:
            worker.stop()


class Dispatcher:
    """One long-polling thread per subscription; isolated ones hand work to the pool."""

    def __init__(self, subs: list[Subscription], workers: int | None = None,
                 pool: WorkerPool | None = None) -> None:
        self.subs = subs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        size = workers or int(os.environ.get("TERRALESS_WORKERS", "3"))
        self.pool = pool or (WorkerPool(size) if any(s.isolated for s in subs) else None)

    def start(self) -> None:
        for sub in self.subs:
            target = self._isolated_loop if sub.isolated else self._loop
            thread = threading.Thread(target=target, args=(sub,), daemon=True,
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

    def _isolated_loop(self, sub: Subscription) -> None:
        assert self.pool is not None
        while not self._stop.is_set():
            if not self.pool.wait_free(timeout=1):
                continue
            try:
                messages, event = _receive(sub, 1, 1)
            except Exception:  # noqa: BLE001 - keep dispatching; the emulator may be restarting
                log.exception("receive from %s failed", sub.queue)
                self._stop.wait(1)
                continue
            if not messages:
                continue
            worker = self.pool.take(self._stop)
            if worker is None:      # stopping: the message goes back to the queue now
                _settle(sub, messages, None, crashed=True)
                return
            threading.Thread(target=self._invoke, args=(sub, worker, messages, event),
                             daemon=True).start()

    def _invoke(self, sub: Subscription, worker: _Worker, messages: list, event: dict) -> None:
        try:
            result, crashed = worker.invoke(sub.name, event)
            _settle(sub, messages, result, crashed)
        except Exception:  # noqa: BLE001
            log.exception("invocation of %s failed", sub.name)
        finally:
            self.pool.release(worker)  # type: ignore[union-attr]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.pool:
            self.pool.stop()
