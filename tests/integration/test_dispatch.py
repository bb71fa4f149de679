"""The dev stack's dispatcher (local/dispatch.py) over the emulator's real SQS queues: a worker
is taken only for a message in hand, so loops over empty queues never hold idle workers while
a queue with work waits, and every queue gets workers in its turn."""
from __future__ import annotations

import threading

import pytest

from chalicelib.aws.clients import client
from chalicelib.local import dispatch
from tests.conftest import poll


class _Gate:
    """Workers that run in threads of the test (the pool and the loops are what is tested):
    each invocation holds its worker until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.done: list[str] = []

    def worker(self):
        gate = self

        class Worker:
            alive = True

            def invoke(self, name, event):
                with gate.lock:
                    gate.running += 1
                    gate.peak = max(gate.peak, gate.running)
                gate.opened.wait(30)
                with gate.lock:
                    gate.running -= 1
                    gate.done.extend(r["body"] for r in event["Records"])
                return {}, False

            def stop(self):
                pass
        return Worker()


@pytest.fixture
def queues(aws):
    sqs = client("sqs")
    names = [f"dispatch-test-{i}" for i in range(3)]
    for name in names:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "60"})
    yield [dispatch.Subscription(name, "handler", lambda e, c: {}, 1, isolated=True) for name in names]


def _send(sub: dispatch.Subscription, *bodies: str) -> None:
    url, _ = sub.resolve()
    for body in bodies:
        client("sqs").send_message(QueueUrl=url, MessageBody=body)


def test_one_busy_queue_gets_every_worker_while_others_are_empty(queues):
    gate = _Gate()
    pool = dispatch.WorkerPool(2, factory=gate.worker)
    dispatcher = dispatch.Dispatcher(queues, pool=pool)
    _send(queues[0], "a1", "a2", "a3")
    dispatcher.start()
    try:
        # two loops poll empty queues all along; the busy one must still run two at once
        poll(lambda: gate.running, lambda n: n == 2, timeout=20)
        gate.opened.set()
        poll(lambda: sorted(gate.done), lambda d: d == ["a1", "a2", "a3"], timeout=20)
    finally:
        gate.opened.set()
        dispatcher.stop()
    assert gate.peak == 2


def test_queues_take_turns_for_a_single_worker(queues):
    # Which loop's receive lands first when the one worker frees is a race the pool does not
    # order (a loop over an empty queue must never hold a worker), so turns are close to a coin
    # toss each: with 12 messages a queue, one draining entirely before the other starts would
    # happen by chance about once in 2,000 runs, and every time if a loop hogged the worker.
    gate = _Gate()
    pool = dispatch.WorkerPool(1, factory=gate.worker)
    dispatcher = dispatch.Dispatcher(queues, pool=pool)
    count = 12
    _send(queues[0], *[f"a{i}" for i in range(count)])
    _send(queues[1], *[f"b{i}" for i in range(count)])
    dispatcher.start()
    try:
        poll(lambda: gate.running, lambda n: n == 1, timeout=20)  # every loop has started
        gate.opened.set()
        poll(lambda: len(gate.done), lambda n: n == 2 * count, timeout=60)
    finally:
        gate.opened.set()
        dispatcher.stop()
    order = gate.done
    last = count - 1
    assert order.index("b0") < order.index(f"a{last}") and order.index("a0") < order.index(f"b{last}"), order
    assert gate.peak == 1


def test_a_message_in_hand_goes_back_when_the_dispatcher_stops(queues):
    gate = _Gate()
    pool = dispatch.WorkerPool(1, factory=gate.worker)
    dispatcher = dispatch.Dispatcher(queues[:1], pool=pool)
    _send(queues[0], "first", "second")
    dispatcher.start()
    poll(lambda: gate.running, lambda n: n == 1, timeout=20)
    # the loop may now hold "second" while it waits for the one busy worker
    dispatcher.stop()
    gate.opened.set()
    url, _ = queues[0].resolve()
    # "first" ran and was deleted; "second" is not lost: visible again, never deleted
    received = poll(lambda: client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=1,
                                                          VisibilityTimeout=0).get("Messages", []),
                    lambda m: m, timeout=20)
    assert [m["Body"] for m in received] == ["second"]
    assert poll(lambda: list(gate.done), lambda d: d, timeout=20) == ["first"]
