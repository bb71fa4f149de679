"""Polling a Consul HTTP API (CONSUL_HTTP_ADDR) for the conditions of Consul-Terraform-Sync
tasks, for deployments where no Consul watch pushes changes to /v1/watch/*.

Each poll reads what the enabled tasks watch — `/v1/health/service/:name` for `services` and
`catalog-services` conditions (`/v1/catalog/services` first when a condition selects services by
`regexp`), `/v1/kv/:path[?recurse]` for `consul-kv` conditions — and hands whatever differs from
what Terraless last saw to the same code the watch endpoints use, so a change triggers the tasks
(through their buffer periods) exactly as a pushed event does. An unreachable Consul changes
nothing: an error is never read as "no instances".

A poll runs on the minute schedule and at every TERRALESS_CONSUL_POLL_SECONDS within the minute
(delayed SQS messages on the task-triggers queue): no process sleeps between polls.

Consul's blocking queries (`?index=&wait=`) are not held open: a function waiting on one is
billed for its whole wait, so watching continuously would cost as much as a server that never
idles. What the polls take from them is `X-Consul-Index`: an answer whose index is the one this
container saw last for the same query is unchanged (Consul raises the index on every write that
touches the result), and is not compared with, nor read from, DynamoDB. A change is what a task
would see: the `services` input built from the entries, not the raw entries, whose indexes and
check outputs change on every health check."""
from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request

from ..aws import queues
from ..config import settings
from ..domain import consul, patterns
from ..storage import tasks as task_store
from . import task_conditions

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10
# query (path and parameters) -> the X-Consul-Index of its last answer in this container
_last_index: dict[str, int] = {}


class ConsulUnavailable(Exception):
    pass


def address() -> str | None:
    """CONSUL_HTTP_ADDR as Consul's own tools read it: host:port or a URL; CONSUL_HTTP_SSL=true
    means https for a bare host:port."""
    raw = (os.environ.get("CONSUL_HTTP_ADDR") or "").strip().rstrip("/")
    if not raw:
        return None
    if "://" in raw:
        return raw
    secure = (os.environ.get("CONSUL_HTTP_SSL") or "").lower() in ("1", "true", "yes")
    return f"{'https' if secure else 'http'}://{raw}"


def _get(path: str, params: dict[str, str] | None = None, *, missing_ok: bool = False):
    return _get_indexed(path, params, missing_ok=missing_ok)[0]


def _get_indexed(path: str, params: dict[str, str] | None = None, *,
                 missing_ok: bool = False) -> tuple[object, int | None]:
    """The answer and its X-Consul-Index (None where Consul sends none)."""
    base = address()
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})
    url = f"{base}{path}" + (f"?{query}" if query else "")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    token = os.environ.get("CONSUL_HTTP_TOKEN")
    if token:
        request.add_header("X-Consul-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310
            index = resp.headers.get("X-Consul-Index")
            return json.loads(resp.read() or b"null"), int(index) if (index or "").isdigit() else None
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            index = exc.headers.get("X-Consul-Index") if exc.headers else None
            return None, int(index) if (index or "").isdigit() else None
        raise ConsulUnavailable(f"GET {path}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConsulUnavailable(f"GET {path}: {exc}") from None


# -- what the tasks watch -----------------------------------------------------------------------------

def _services_spec(definition: dict) -> dict | None:
    spec = definition["condition"].get("services") or definition["condition"].get("catalog-services")
    return spec if isinstance(spec, dict) else None


def service_queries(definitions: list[dict], catalog: dict[str, list] | None) -> dict[str, dict]:
    """Service name -> the query parameters of /v1/health/service/:name (datacenter, namespace,
    filter of the condition that selected it). `catalog` (name -> tags) resolves regexps."""
    out: dict[str, dict] = {}
    for definition in definitions:
        spec = _services_spec(definition)
        if spec is None:
            continue
        params = {"dc": spec.get("datacenter"), "ns": spec.get("namespace"),
                  "filter": spec.get("filter")}
        names = list(spec.get("names") or [])
        if spec.get("regexp") and catalog is not None:
            names += [n for n in catalog if patterns.search(spec["regexp"], n)]
        for name in names:
            out.setdefault(name, params)
    return out


def needs_catalog(definitions: list[dict]) -> bool:
    return any((_services_spec(d) or {}).get("regexp") for d in definitions)


def kv_queries(definitions: list[dict]) -> dict[str, bool]:
    """KV path -> recurse, for every consul-kv condition."""
    out: dict[str, bool] = {}
    for definition in definitions:
        spec = definition["condition"].get("consul-kv")
        if isinstance(spec, dict) and spec.get("path"):
            out[spec["path"]] = out.get(spec["path"], False) or bool(spec.get("recurse"))
    return out


def _canonical(entries) -> str:
    return json.dumps(entries, sort_keys=True)


def unchanged_since_last_poll(query: str, index: int | None) -> bool:
    """Has this container seen this query answered at this index already? An index that goes
    backwards (a restarted Consul, a new leader's snapshot) resets what was seen, as Consul's
    blocking-query rules say."""
    seen = _last_index.get(query)
    if index is None:
        _last_index.pop(query, None)
        return False
    _last_index[query] = index
    return seen is not None and seen == index


def forget(query: str) -> None:
    """What was seen is not trusted after the answer could not be stored."""
    _last_index.pop(query, None)


def same_for_tasks(known: list[dict] | None, entries: list[dict]) -> bool:
    """Would a task see the same `services` input from both? (Indexes and check outputs, which
    change with every health check, do not reach a task.)"""
    return known is not None and _canonical(consul.services_input(known)) == _canonical(consul.services_input(entries))


def kv_snapshot(entries: list[dict]) -> dict[str, str]:
    return {e["Key"]: consul.decode_value(e) for e in entries}


# -- one poll ----------------------------------------------------------------------------------------

def poll() -> dict:
    """One pass over what the enabled tasks watch. Returns what changed."""
    if address() is None:
        return {"polled": False}
    org = settings().cts_organization
    definitions = [task.definition for task in task_conditions.active_tasks(org)]
    changed: dict[str, list] = {"services": [], "kv": [], "unchanged": [], "errors": []}
    catalog = None
    if needs_catalog(definitions):
        try:
            catalog = _get("/v1/catalog/services") or {}
        except ConsulUnavailable as exc:
            changed["errors"].append(str(exc))
    for name, params in service_queries(definitions, catalog).items():
        path = f"/v1/health/service/{urllib.parse.quote(name)}"
        query = f"{path}?{_canonical(params)}"
        try:
            got, index = _get_indexed(path, params)
            if unchanged_since_last_poll(query, index):
                changed["unchanged"].append(name)
                continue
            entries = consul.validate_entries(got or [])
        except Exception as exc:  # noqa: BLE001 - one bad answer skips one service, changes nothing
            forget(query)
            changed["errors"].append(str(exc))
            continue
        known = task_store.service_entries(org, name)
        if not same_for_tasks(known, entries):
            try:
                task_conditions.store_service(org, name, entries)
            except Exception:
                forget(query)
                raise
            changed["services"].append(name)
    for path, recurse in kv_queries(definitions).items():
        query = f"/v1/kv/{path}?recurse={recurse}"
        try:
            got, index = _get_indexed(f"/v1/kv/{urllib.parse.quote(path)}",
                                      {"recurse": "true" if recurse else None}, missing_ok=True)
            if unchanged_since_last_poll(query, index):
                changed["unchanged"].append(path)
                continue
            entries = consul.validate_kv(got or [])
        except Exception as exc:  # noqa: BLE001
            forget(query)
            changed["errors"].append(str(exc))
            continue
        known = task_store.kv_under(org, path, exact=not recurse)
        if known != kv_snapshot(entries):
            gone = tuple(k for k in known if k not in kv_snapshot(entries)) if not recurse else ()
            try:
                task_conditions.store_kv(org, entries, prefix=path if recurse else None, deleted=gone)
            except Exception:
                forget(query)
                raise
            changed["kv"].append(path)
    for error in changed["errors"]:
        log.warning("consul poll: %s", error)
    return {"polled": True, **changed}


def poll_and_schedule_within_the_minute() -> dict:
    """The minute tick: poll now, and queue the polls for the rest of the minute."""
    result = poll()
    every = settings().consul_poll_seconds
    if result["polled"] and 0 < every < 60:
        for delay in range(every, 60, every):
            queues.send("task-triggers", {"consul_poll": True}, delay_seconds=delay)
    return result
