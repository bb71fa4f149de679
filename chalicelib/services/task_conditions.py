"""Consul-Terraform-Sync conditions: when a task runs. The schedule condition (a minute tick
fires due cron times once each), the services / catalog-services and consul-kv conditions (fed
by Consul watches or by polling, services/consul_poll.py), and buffer periods that coalesce a
burst of changes into one run through delayed SQS re-checks."""
from __future__ import annotations

import logging
import math
import time

from ..aws import blobs, queues
from ..config import settings
from ..domain import consul
from ..domain import tasks as rules
from ..domain.archives import pack_tgz
from ..domain.clock import iso, now, now_iso
from ..domain.errors import Conflict
from ..domain.task_modules import root_module
from ..domain.tasks import Task
from ..storage import keys
from ..storage import tasks as store
from . import configuration_versions as cvs
from . import identity, runs

log = logging.getLogger(__name__)


def next_run(definition: dict, after) -> str | None:
    cron = definition["condition"].get("schedule", {}).get("cron")
    return iso(rules.next_cron_time(cron, after)) if cron else None


def fire_due_schedules(at=None) -> list[str]:
    """The scheduled tick: every enabled schedule task whose cron time has come gets a run
    (its generated module uploaded with auto-queue-runs on its auto-apply workspace). The
    conditional move of next_run_at makes each cron time fire once, however many ticks race."""
    moment = at or now()
    fired = []
    for task in store.due(settings().cts_organization, iso(moment)):
        if not task.enabled:
            continue
        try:
            store.move_next_run(task, next_run(task.definition, moment))
        except Conflict:
            continue        # another tick fired this cron time
        trigger(task)
        fired.append(task.name)
    return fired


def active_tasks(org: str) -> list[Task]:
    """The organization's enabled tasks not marked for deletion."""
    return [task for task in store.of_org(org) if task.enabled]


def store_service(org: str, name: str, entries: list[dict]) -> list[str]:
    """The health entries of service `name` changed: keep them, and let every task watching
    the service know (buffered as its buffer_period says)."""
    store.save_service(org, name, entries, now_iso())
    notified = []
    for task in active_tasks(org):
        if consul.watches(task.definition["condition"], name):
            changed(task)
            notified.append(task.name)
    return notified


def store_kv(org: str, items: list[dict], *, prefix: str | None, deleted: tuple[str, ...] = ()) -> list[str]:
    """KV entries changed (a keyprefix snapshot replaces the prefix's entries): keep them and
    notify the consul-kv tasks whose path they touch."""
    if prefix is not None:
        for key in store.kv_under(org, prefix):
            store.delete_kv(org, key)
    for key in deleted:
        store.delete_kv(org, key)
    stamp = now_iso()
    for entry in items:
        store.save_kv(org, entry["Key"], consul.decode_value(entry), stamp)
    touched = [e["Key"] for e in items] + list(deleted) or ([prefix] if prefix else [])
    notified = []
    for task in active_tasks(org):
        if any(consul.kv_matches(task.definition["condition"], key) for key in touched):
            changed(task)
            notified.append(task.name)
    return notified


def changed(task: Task) -> None:
    buffer = task.definition["buffer_period"]
    if not buffer.get("enabled"):
        trigger(task)
        return
    at = time.time()
    if store.note_change(task, at) == at:      # this event opened the buffer: schedule its check
        queues.send("task-triggers", {"org": task.org, "task": task.name},
                    delay_seconds=rules.duration_seconds(buffer["min"], "min"))


def check_buffer(org: str, name: str) -> bool:
    """A delayed re-check: fire once the task has been quiet for `min`, or `max` after the
    first change; otherwise look again when one of them can be true. Returns whether it fired.
    Only a lost race (another check fired the burst) is swallowed: any other failure (a
    throttled write) propagates, so the message is retried and the buffer is never left open
    without a check to come."""
    task = store.find(org, name)
    if task is None or task.buffer_first_at is None or task.deleting:
        return False
    low = rules.duration_seconds(task.definition["buffer_period"]["min"], "min")
    high = rules.duration_seconds(task.definition["buffer_period"]["max"], "max")
    at = time.time()
    quiet, total = at - task.buffer_last_at, at - task.buffer_first_at
    if quiet < low and total < high:
        wait = max(1, math.ceil(min(low - quiet, high - total)))
        queues.send("task-triggers", {"org": org, "task": name}, delay_seconds=min(wait, 900))
        return False
    try:   # one firing per buffered burst, whatever the number of checks in flight
        store.close_buffer(task)
    except Conflict:
        return False
    trigger(task)
    return True


def trigger(task: Task) -> None:
    """A run of the task: its module with the current condition data, on its auto-apply
    workspace, created on behalf of the task's owner (the run records who created the task).
    The small generated archive is validated here, not by waiting for its S3 event."""
    acting = identity.acting_for(task.owner)
    cv = cvs.create(acting, task.workspace_id, {"auto-queue-runs": False})
    body = pack_tgz(generated(task.org, task.definition))
    version = blobs.put(keys.cv_archive(cv.id), body, length=len(body))
    status = cvs.process_uploaded_object(keys.cv_archive(cv.id), version)
    if status is None or status.value != "uploaded":
        log.warning("task %s: its generated configuration was rejected (%s)", task.name, status)
        return
    runs.create(acting, {"message": f"Triggered by task {task.name}"}, task.workspace_id, cv.id,
                source="tfe-configuration-version")


def _services_for(org: str, definition: dict) -> dict:
    spec = definition["condition"].get("services") or definition["condition"].get("catalog-services")
    if not isinstance(spec, dict):
        return {}
    out = {}
    for name, entries in store.services(org).items():
        if consul.watches(definition["condition"], name):
            out.update(consul.services_input(entries, spec.get("cts_user_defined_meta")))
    return out


def generated(org: str, definition: dict) -> dict[str, str]:
    """The task's root module with its condition's current data."""
    spec = definition["condition"].get("consul-kv")
    kv = None
    if isinstance(spec, dict) and spec.get("use_as_module_input", True):
        kv = {key: value for key, value in store.kv_under(org, spec.get("path", "")).items()
              if consul.kv_matches(definition["condition"], key)}
    return root_module(definition, _services_for(org, definition), kv)
