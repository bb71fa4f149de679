"""What every storage module shares: the one way a failed condition becomes a domain
`Conflict`, the one conditional save of a lifecycle entity, the retry-on-stale loop, dense
per-owner numbering, and the process's transaction connection.

A failed DynamoDB condition is never an internal error: `conditional()` turns it into
`Conflict` (409 at the API), or into `Stale` when the caller should re-read and decide again.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from ..config import settings
from ..domain.errors import Conflict, NotFound
from . import models

_CONDITION_FAILED = ("ConditionalCheckFailedException", "TransactionCanceledException")


class Stale(Conflict):
    """The entity changed since it was read: reload and decide again."""


@contextmanager
def conditional(message: str, *, error: type[Conflict] = Conflict) -> Iterator[None]:
    """The one place a failed condition is recognised: it becomes `error(message)`. Any other
    failure (throttling, a lost connection) propagates as it is, so a caller that ignores
    conflicts never ignores those."""
    try:
        yield
    except (PutError, UpdateError, DeleteError, TransactWriteError) as exc:
        if exc.cause_response_code in _CONDITION_FAILED:
            raise error(message) from exc
        raise


def save(item, status_attr, expected_status: str, what: str) -> None:
    """The one save of a lifecycle entity (configuration versions, runs, jobs): the whole item,
    on the condition that the stored status is still the one the move started from (or, for a
    field-only write, the status read) AND the stored version is the one read (pynamodb adds
    that clause for the model's VersionAttribute). Either failing is `Stale`."""
    with conditional(f"{what} changed concurrently; retry", error=Stale):
        item.save(condition=status_attr == expected_status)


def lease_index(*leases) -> dict:
    """The open_leases index's attributes for an item whose phases hold these leases: set
    while one is open (at most one is), absent otherwise (the index is sparse)."""
    open_ = [lease for lease in leases if lease is not None and not lease.closed]
    if not open_:
        return {"lease_open": None, "lease_due": None}
    return {"lease_open": "open", "lease_due": min(lease.due for lease in open_)}


def overdue_lease_ids(model, now: float, limit: int) -> list[str]:
    return [item.id for item in model.open_leases.query(
        "open", model.lease_due <= int(now), limit=limit)]


def unfinished_at_start(model, convert, final_statuses) -> list:
    """Every item whose status is not final: a Scan, for a restart's reconciliation only (it
    runs once, before the service answers; no request path reads this)."""
    finals = [s.value for s in final_statuses]
    return [convert(item) for item in model.scan(~model.status.is_in(*finals))]


def retry_change(what: str, load: Callable, store: Callable, change: Callable, *,
                 attempts: int = 5):
    """Load, apply a domain change, store conditionally; a concurrent write (`Stale`) means
    reload and decide again. Domain refusals (Conflict from the change itself) propagate."""
    for _ in range(attempts):
        entity = load()
        if entity is None:
            raise NotFound(f"{what} not found")
        result = change(entity)
        try:
            store(entity, result)
            return entity, result
        except Stale:
            continue
    raise Conflict(f"{what} is changing too quickly; retry")


_connections: dict[int, Connection] = {}


def transaction() -> TransactWrite:
    """pynamodb needs an explicit connection for transactions. A new one costs a botocore
    client (~75 ms, measured): one per process, renewed when the service's AWS clients are
    (tests swap emulators between cases)."""
    from ..aws.clients import client  # lazy: aws.clients imports boto3, not needed by reads
    key = id(client("dynamodb"))
    connection = _connections.get(key)
    if connection is None:
        _connections.clear()
        connection = _connections[key] = Connection(region=settings().region)
    return TransactWrite(connection=connection)


def insert_in_sequence(counters: list[tuple[object, object]], build: Callable, to_item: Callable,
                       *, extra_actions: Callable | None = None):
    """Allocate the next dense number on each (owner item, counter attribute) and store
    `to_item(build(*numbers))` in the same transaction, so page N of a list is one seq range.
    `extra_actions(entity)` adds updates to the first owner. A concurrent creation makes a
    counter condition fail: re-read the owners and try again."""
    for _ in range(8):
        numbers = [int(getattr(owner, attr.attr_name) or 0) + 1 for owner, attr in counters]
        entity = build(*numbers)
        item = to_item(entity)
        try:
            with transaction() as tx:
                for index, ((owner, attr), n) in enumerate(zip(counters, numbers)):
                    more = list(extra_actions(entity)) if extra_actions and index == 0 else []
                    tx.update(owner, actions=[attr.set(n), *more], condition=(attr == n - 1) if n > 1
                              else attr.does_not_exist() | (attr == 0))
                tx.save(item, condition=type(item).id.does_not_exist())
            return entity, item
        except TransactWriteError as exc:
            if exc.cause_response_code not in _CONDITION_FAILED:
                raise
            for owner, _ in counters:
                owner.refresh()
    raise Conflict("too many concurrent creations; retry")


def find(model, convert: Callable, hash_key, range_key=None):
    """The entity, or None when there is no item."""
    try:
        item = model.get(hash_key, range_key) if range_key is not None else model.get(hash_key)
    except model.DoesNotExist:
        return None
    return convert(item)


def first(items, convert: Callable):
    """The first item of a query (an index lookup by a unique attribute), converted, or None."""
    for item in items:
        return convert(item)
    return None


def plain(value) -> dict:
    """A MapAttribute (or a dict already) as a plain dict."""
    if value is None:
        return {}
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)


def reset_connections() -> None:
    """pynamodb caches a client per model, and with it the credentials and endpoint it was made
    with: forget them (the dev stack switches identity after provisioning; tests swap
    emulators)."""
    models.reset_connections()
