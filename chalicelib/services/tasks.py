"""Consul-Terraform-Sync tasks on the run engine: each task is backed by a workspace of the
CTS organization (TERRALESS_CTS_ORGANIZATION), named after the task. When tasks run is
services/task_conditions.py."""
from __future__ import annotations

import time

from ..aws import blobs
from ..config import settings
from ..domain import consul
from ..domain import tasks as rules
from ..domain.access import Principal
from ..domain.archives import pack_tgz
from ..domain.clock import now, now_iso
from ..domain.errors import BadRequest, Conflict, NotFound
from ..domain.tasks import Task, TaskEvent
from ..storage import identity as identity_store
from ..storage import keys
from ..storage import tasks as store
from ..storage import workspaces as workspace_store
from . import configuration_versions as cvs
from . import identity, logs, runs, task_conditions, workspaces

# run=now / run=inspect answer when the task's run has ended, within this bound: below the API
# function's 300 s timeout (.chalice/config.json `http`), so a run that takes longer is answered
# 409 naming the run to poll rather than cut off by Lambda (tests/unit/test_task_rules.py)
INSPECT_TIMEOUT = 270


def organization(principal: Principal) -> str:
    org = settings().cts_organization
    principal.require_org(org)
    if identity_store.find_org(org) is None:
        if not principal.site_admin:
            raise NotFound(f"organization {org} not found")
        identity.create_org(principal, org, "cts@terraless.local")
    return org


def list_tasks(principal: Principal) -> list[dict]:
    return [t.definition for t in store.of_org(organization(principal))
            if not t.deleting and t.visible_to(principal.user_id, principal.site_admin)]


def get(principal: Principal, name: str) -> Task:
    task = store.find(organization(principal), name)
    if task is None or not task.visible_to(principal.user_id, principal.site_admin):
        raise NotFound(f"task '{name}' not found")
    if task.deleting:
        raise NotFound(f"task '{name}' is marked for deletion")
    return task


def _parse(body: object) -> dict:
    if not isinstance(body, dict) or set(body) - {"task"}:
        raise BadRequest("the request body must be {\"task\": {...}}")
    return rules.normalize(body.get("task"))


def _enabled_only(body: object) -> bool:
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise BadRequest("only 'enabled' (a boolean) can be updated")
    return body["enabled"]


def _refuse_existing(org: str, name: str) -> None:
    if store.find(org, name) is not None:
        raise Conflict(f"task with name {name} already exists")


def _may_change_tasks(principal: Principal) -> None:
    # a task starts runs: organization tokens, which cannot create runs, cannot create one
    principal.require_user_or_team("create or change tasks (a task starts runs)")


def create(principal: Principal, body: object) -> dict:
    _may_change_tasks(principal)
    definition = _parse(body)
    org = organization(principal)
    name = definition["name"]
    _refuse_existing(org, name)
    try:   # a task deleted earlier left its workspace (and state): a new task takes it over
        ws = workspaces.get_by_name(principal, org, name)
    except NotFound:
        ws = workspaces.create(principal, org, {"name": name, "auto-apply": True,
                                                "description": f"Consul-Terraform-Sync task {name}"})
    store.insert(Task(org=org, name=name, definition=definition, workspace_id=ws.id,
                      next_run_at=task_conditions.next_run(definition, now()), created_at=now_iso(),
                      owner=principal.user_id))
    return definition


def set_enabled(principal: Principal, name: str, body: object) -> dict:
    _may_change_tasks(principal)
    enabled = _enabled_only(body)
    task = get(principal, name)
    store.set_definition(task, {**task.definition, "enabled": enabled})
    return task.definition


def delete(principal: Principal, name: str) -> None:
    """Marked for deletion; deleted at once when its workspace has no active run (a running
    task is deleted when its run ends)."""
    _may_change_tasks(principal)
    task = get(principal, name)
    store.mark_deleting(task)
    ws = workspace_store.find(task.workspace_id)
    if ws is None or not ws.current_run_id:
        store.delete(task)


def record_run_event(run) -> None:
    """Subscribed to `run_finished`: a task's run ended, record its event; a task marked for
    deletion while its run was active goes now."""
    ws = workspace_store.find(run.workspace_id)
    task = store.find(ws.org, ws.name) if ws else None
    if task is None or task.workspace_id != ws.id or run.speculative:
        return                         # inspect plans are not task events
    success = run.status.value in ("applied", "planned_and_finished")
    store.insert_event(TaskEvent(
        id=run.id.replace("run-", "ev-"), task_key=f"{task.org}/{task.name}", success=success,
        start_time=run.created_at, end_time=now_iso(), run_id=run.id,
        error=None if success else (run.error_text or run.status.value),
        task={"name": task.name, "providers": task.definition.get("providers", []),
              "services": [], "source": task.definition["module"]}))
    if task.deleting:
        store.delete(task)


# -- the condition feeds (Consul watches post here) ----------------------------------------------

def record_service(principal: Principal, name: str, entries: object) -> list[str]:
    """A Consul watch posted the health entries of service `name`."""
    return task_conditions.store_service(organization(principal), name, consul.validate_entries(entries))


def record_kv(principal: Principal, entries: object, *, prefix: str | None) -> list[str]:
    """A Consul key/keyprefix watch posted entries."""
    return task_conditions.store_kv(organization(principal), consul.validate_kv(entries), prefix=prefix)


# -- running a task now, or inspecting it ----------------------------------------------------------

def create_inspect(principal: Principal, body: object) -> dict:
    """POST /v1/tasks?run=inspect: the plan the task would make; nothing is created (a
    temporary workspace holds the speculative plan and is removed afterwards)."""
    _may_change_tasks(principal)
    definition = _parse(body)
    org = organization(principal)
    _refuse_existing(org, definition["name"])
    scratch = workspaces.create(principal, org, {"name": f"inspect-{definition['name']}-{int(time.time() * 1000)}"})
    try:
        return {"task": definition, "run": execute(principal, definition, scratch.id, apply=False)}
    finally:
        workspaces.delete(principal, scratch)


def inspect_update(principal: Principal, name: str, body: object) -> dict:
    """PATCH /v1/tasks/:name?run=inspect: the plan with the proposed change; the task is left
    untouched."""
    _may_change_tasks(principal)
    enabled = _enabled_only(body)
    task = get(principal, name)
    return execute(principal, {**task.definition, "enabled": enabled}, task.workspace_id, apply=False)


def create_and_run(principal: Principal, body: object) -> dict:
    """POST /v1/tasks?run=now: the task is created, run at once, and kept only if its run
    succeeds (as CTS does)."""
    definition = create(principal, body)
    task = get(principal, definition["name"])
    try:
        execute(principal, definition, task.workspace_id, apply=True)
    except Exception:
        store.delete(task)
        raise
    return definition


def update_and_run(principal: Principal, name: str, body: object) -> dict:
    """PATCH /v1/tasks/:name?run=now: update, then run the task at once if it is enabled."""
    definition = set_enabled(principal, name, body)
    if definition["enabled"]:
        execute(principal, definition, get(principal, name).workspace_id, apply=True)
    return definition


def execute(principal: Principal, definition: dict, workspace_id: str, *, apply: bool) -> dict:
    """Runs the task's generated root module on its workspace and answers when the run ended:
    a speculative plan (inspect) or a plan applied at once (run=now). The upload is validated
    here, not by waiting for its S3 event (which then finds it done)."""
    cv = cvs.create(principal, workspace_id, {"auto-queue-runs": False, "speculative": not apply})
    # with the condition's current data, as the task's next triggered run would see it
    body = pack_tgz(task_conditions.generated(settings().cts_organization, definition))
    version = blobs.put(keys.cv_archive(cv.id), body, length=len(body))
    status = cvs.process_uploaded_object(keys.cv_archive(cv.id), version)
    if status is None or status.value != "uploaded":
        raise BadRequest(f"the task's generated configuration was rejected ({getattr(status, 'value', status)})")
    verb = "run" if apply else "inspect"
    run = runs.create(principal, {"message": f"{verb} task {definition['name']}", "auto-apply": apply},
                      workspace_id, cv.id, source="tfe-api")
    done = runs.await_final(principal, run.id, INSPECT_TIMEOUT)
    plan = logs.read(done.plan.id, archived=done.plan.log_archived, finished=True)
    if done.status.value not in ("applied", "planned_and_finished"):
        raise BadRequest(f"{verb} of task {definition['name']} ended {done.status.value}: "
                         f"{done.error_text or ''}".strip())
    return {"changes_present": done.has_changes, "plan": plan.strip(logs.STX + logs.ETX), "run_id": done.id}


# -- status --------------------------------------------------------------------------------------

def _event_doc(event: TaskEvent) -> dict:
    # run_id: beyond CTS's fields (its clients ignore it): the run the event was, for the console
    doc = {"id": event.id, "success": event.success, "start_time": event.start_time,
           "end_time": event.end_time, "task": event.task, "run_id": event.run_id}
    if event.error:
        doc["error"] = {"message": event.error}
    return doc


def task_status(principal: Principal, *, name: str | None, include_events: bool,
                status: str | None) -> dict:
    """GET /v1/status/tasks[/:name]: each task's health from its 5 most recent events."""
    if status is not None and status not in rules.STATUSES:
        raise BadRequest(f"status must be one of {', '.join(rules.STATUSES)}")
    org = organization(principal)
    chosen = [get(principal, name)] if name else [t for t in store.of_org(org) if not t.deleting]
    out = {}
    for task in chosen:
        recent = store.events(f"{org}/{task.name}", None if include_events else 5)
        health = rules.health([e.success for e in recent[:5]])
        if status and health != status:
            continue
        entry = {"task_name": task.name, "status": health,
                 "enabled": task.definition.get("enabled", True),
                 "providers": task.definition.get("providers", []), "services": [],
                 "events_url": f"/v1/status/tasks/{task.name}?include=events"}
        if include_events:
            entry["events"] = [_event_doc(e) for e in recent]
        out[task.name] = entry
    return out


def overall_status(principal: Principal) -> dict:
    summary = task_status(principal, name=None, include_events=False, status=None)
    counts = {s: 0 for s in rules.STATUSES}
    enabled = {"true": 0, "false": 0}
    for entry in summary.values():
        counts[entry["status"]] += 1
        enabled["true" if entry["enabled"] else "false"] += 1
    return {"task_summary": {"status": counts, "enabled": enabled}}
