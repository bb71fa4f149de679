"""Consul-Terraform-Sync tasks on the run engine: each task is backed by a workspace of the
CTS organization (TERRALESS_CTS_ORGANIZATION), named after the task."""
from __future__ import annotations

import json
import math
import time

from ..aws import queues
from ..config import settings
from ..domain import consul
from ..domain.archives import pack_tgz
from ..domain import tasks as rules
from ..domain.access import Principal
from ..domain.clock import iso, now, now_iso
from ..domain.errors import BadRequest, Conflict, NotFound
from ..storage.models import (ConsulKVModel, ConsulServiceModel, OrganizationModel, TaskEventModel,
                              TaskModel, WorkspaceModel)
from ..storage.repositories import conditional
from . import hooks, identity, workspaces


def organization(principal: Principal) -> str:
    org = settings().cts_organization
    principal.require_org(org)
    try:
        OrganizationModel.get(org)
    except OrganizationModel.DoesNotExist:
        if not principal.site_admin:
            raise NotFound(f"organization {org} not found") from None
        identity.create_org(principal, org, "cts@terraless.local")
    return org


def _definition(item: TaskModel) -> dict:
    return item.definition.as_dict() if hasattr(item.definition, "as_dict") else dict(item.definition)


def list_tasks(principal: Principal) -> list[dict]:
    org = organization(principal)
    return [_definition(t) for t in TaskModel.query(org) if not t.deleting]


def get(principal: Principal, name: str) -> TaskModel:
    org = organization(principal)
    try:
        task = TaskModel.get(org, name)
    except TaskModel.DoesNotExist:
        raise NotFound(f"task '{name}' not found") from None
    if task.deleting:
        raise NotFound(f"task '{name}' is marked for deletion")
    return task


def create_inspect(principal: Principal, body: object) -> dict:
    """POST /v1/tasks?run=inspect: the plan the task would make; nothing is created (a
    temporary workspace holds the speculative plan and is removed afterwards)."""
    definition = _parse(body)
    org = organization(principal)
    try:
        TaskModel.get(org, definition["name"])
        raise Conflict(f"task with name {definition['name']} already exists")
    except TaskModel.DoesNotExist:
        pass
    scratch = workspaces.create(principal, org, {"name": f"inspect-{definition['name']}-{int(time.time() * 1000)}"})
    try:
        return {"task": definition, "run": inspect(principal, definition, scratch.id)}
    finally:
        workspaces.delete(principal, scratch)


def inspect_update(principal: Principal, name: str, body: object) -> dict:
    """PATCH /v1/tasks/:name?run=inspect: the plan with the proposed change; the task is left
    untouched."""
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise BadRequest("only 'enabled' (a boolean) can be updated")
    task = get(principal, name)
    proposed = {**_definition(task), "enabled": body["enabled"]}
    return inspect(principal, proposed, task.workspace_id)


def _parse(body: object) -> dict:
    if not isinstance(body, dict) or set(body) - {"task"}:
        raise BadRequest("the request body must be {\"task\": {...}}")
    return rules.normalize(body.get("task"))


def create_and_run(principal: Principal, body: object) -> dict:
    """POST /v1/tasks?run=now: the task is created, run at once, and kept only if its run
    succeeds (as CTS does)."""
    definition = create(principal, body)
    task = get(principal, definition["name"])
    try:
        execute(principal, definition, task.workspace_id, apply=True)
    except Exception:
        task.delete()
        raise
    return definition


def update_and_run(principal: Principal, name: str, body: object) -> dict:
    """PATCH /v1/tasks/:name?run=now: update, then run the task at once if it is enabled."""
    definition = set_enabled(principal, name, body)
    if definition["enabled"]:
        execute(principal, definition, get(principal, name).workspace_id, apply=True)
    return definition


def create(principal: Principal, body: object) -> dict:
    definition = _parse(body)
    org = organization(principal)
    name = definition["name"]
    try:
        TaskModel.get(org, name)
        raise Conflict(f"task with name {name} already exists")
    except TaskModel.DoesNotExist:
        pass
    try:   # a task deleted earlier left its workspace (and state): a new task takes it over
        ws = workspaces.get_by_name(principal, org, name)
    except NotFound:
        ws = workspaces.create(principal, org, {"name": name, "auto-apply": True,
                                                "description": f"Consul-Terraform-Sync task {name}"})
    task = TaskModel(org=org, name=name, definition=definition, workspace_id=ws.id,
                     next_run_at=_next_run(definition, now()), created_at=now_iso())
    with conditional(f"task with name {name} already exists"):
        task.save(condition=TaskModel.name.does_not_exist())
    return definition


def set_enabled(principal: Principal, name: str, body: object) -> dict:
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise BadRequest("only 'enabled' (a boolean) can be updated")
    task = get(principal, name)
    definition = {**_definition(task), "enabled": body["enabled"]}
    with conditional(f"task '{name}' changed concurrently"):
        task.update(actions=[TaskModel.definition.set(definition)],
                    condition=TaskModel.deleting == False)  # noqa: E712
    return definition


def delete(principal: Principal, name: str) -> None:
    """Marked for deletion; deleted at once when its workspace has no active run (a running
    task is deleted when its run ends)."""
    task = get(principal, name)
    task.update(actions=[TaskModel.deleting.set(True)])
    try:
        ws = WorkspaceModel.get(task.workspace_id)
    except WorkspaceModel.DoesNotExist:
        ws = None
    if ws is None or not ws.current_run_id:
        task.delete()


@hooks.on_run_finished
def _after_run(run) -> None:
    """A task's run ended: record its event; a task marked for deletion while its run was
    active goes now."""
    try:
        ws = WorkspaceModel.get(run.workspace_id)
        task = TaskModel.get(ws.org, ws.name)
    except (WorkspaceModel.DoesNotExist, TaskModel.DoesNotExist):
        return
    if task.workspace_id != ws.id or run.speculative:
        return                         # inspect plans are not task events
    definition = _definition(task)
    success = run.status.value in ("applied", "planned_and_finished")
    TaskEventModel(task_key=f"{task.org}/{task.name}", end_time=now_iso(), id=run.id.replace("run-", "ev-"),
                   success=success, start_time=run.created_at, run_id=run.id,
                   error=None if success else (run.error_text or run.status.value),
                   task={"name": task.name, "providers": definition.get("providers", []),
                         "services": [], "source": definition["module"]}).save()
    if task.deleting:
        task.delete()


# -- running a task ------------------------------------------------------------------------------

def _hcl(value) -> str:
    return json.dumps(value)   # JSON strings, lists and objects are valid HCL expressions


def root_module(definition: dict, services: dict | None = None,
                consul_kv: dict | None = None) -> dict[str, str]:
    """The root module CTS generates for a task: the task's module called with `services`
    (the condition's data; empty until a service feed is configured) and its variables."""
    name = definition["name"]
    lines = [f'module "{name}" {{', f"  source = {_hcl(definition['module'])}"]
    if definition.get("version"):
        lines.append(f"  version = {_hcl(definition['version'])}")
    lines.append("  services = var.services")
    if consul_kv is not None:
        lines.append("  consul_kv = var.consul_kv")
    for key, value in sorted({**definition.get("variables", {}),
                              **definition.get("module_input", {})}.items()):
        if key != "services":
            lines.append(f"  {key} = {_hcl(value)}")
    lines.append("}")
    providers = "".join(f'    {p} = {{ source = "hashicorp/{p}" }}\n' for p in definition.get("providers", []))
    inputs = {"services": services} if services is not None else {}
    if consul_kv is not None:
        inputs["consul_kv"] = consul_kv
    # the condition's data, as CTS passes it (a tfvars file of the root module)
    files = {"inputs.auto.tfvars.json": json.dumps(inputs, indent=2)} if inputs else {}
    kv_variable = ('variable "consul_kv" {\n  description = "Consul KV entries of the condition"\n'
                   "  type = map(string)\n  default = {}\n}\n") if consul_kv is not None else ""
    return {
        **files,
        "main.tf": (f"terraform {{\n  required_providers {{\n{providers}  }}\n}}\n\n" if providers else "")
        + "\n".join(lines) + "\n",
        "variables.tf": 'variable "services" {\n  description = "Consul services monitored by the task"\n'
                        "  type = any\n  default = {}\n}\n" + kv_variable,
    }


def _wait(read, done, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise Conflict("the task's run did not finish in time")
        time.sleep(0.2)


def inspect(principal: Principal, definition: dict, workspace_id: str) -> dict:
    """A speculative plan of the task's generated root module on its workspace: nothing is
    applied and nothing of the task changes. Returns CTS's {changes_present, plan}."""
    return execute(principal, definition, workspace_id, apply=False)


def execute(principal: Principal, definition: dict, workspace_id: str, *, apply: bool) -> dict:
    """Runs the task's generated root module on its workspace and waits for the run: a
    speculative plan (inspect) or a plan applied at once (run=now)."""
    from ..aws import blobs
    from . import configuration_versions as cvs
    from . import logs, runs
    cv, _ = cvs.create(principal, workspace_id, {"auto-queue-runs": False, "speculative": not apply})
    # with the condition's current data, as the task's next triggered run would see it
    body = pack_tgz(_generated(settings().cts_organization, definition))
    blobs.put(blobs.cv_key(cv.id), body, length=len(body))
    uploaded = _wait(lambda: cvs.get(principal, cv.id).status.value,
                     lambda s: s in ("uploaded", "errored"), INSPECT_TIMEOUT)
    if uploaded != "uploaded":
        raise BadRequest(f"the task's generated configuration was rejected ({uploaded})")
    verb = "run" if apply else "inspect"
    run = runs.create(principal, {"message": f"{verb} task {definition['name']}", "auto-apply": apply},
                      workspace_id, cv.id, source="tfe-api")
    done = _wait(lambda: runs.get(principal, run.id),
                 lambda r: r.is_final, INSPECT_TIMEOUT)
    plan = logs.read(done.plan.id, archived=done.plan.log_archived, finished=True)
    if done.status.value not in ("applied", "planned_and_finished"):
        raise BadRequest(f"{verb} of task {definition['name']} ended {done.status.value}: "
                         f"{done.error_text or ''}".strip())
    return {"changes_present": done.has_changes, "plan": plan.strip("\x02\x03"), "run_id": done.id}


INSPECT_TIMEOUT = 300


# -- the schedule condition ----------------------------------------------------------------------

def _next_run(definition: dict, after) -> str | None:
    cron = definition["condition"].get("schedule", {}).get("cron")
    return iso(rules.next_cron_time(cron, after)) if cron else None


def fire_due_schedules(at=None) -> list[str]:
    """The scheduled tick: every enabled schedule task whose cron time has come gets a run
    (its generated module uploaded with auto-queue-runs on its auto-apply workspace). The
    conditional move of next_run_at makes each cron time fire once, however many ticks race."""
    moment = at or now()
    fired = []
    for task in TaskModel.query(settings().cts_organization,
                                filter_condition=TaskModel.next_run_at <= iso(moment)):
        definition = _definition(task)
        if task.deleting or not definition.get("enabled", True):
            continue
        try:
            task.update(actions=[TaskModel.next_run_at.set(_next_run(definition, moment))],
                        condition=TaskModel.next_run_at == task.next_run_at)
        except Exception:  # noqa: BLE001 - another tick fired this cron time
            continue
        trigger(task, definition)
        fired.append(task.name)
    return fired


# -- the services condition and buffer periods ---------------------------------------------------

def record_service(principal: Principal, name: str, entries: object) -> list[str]:
    """A Consul watch posted the health entries of service `name`: keep them, and let every
    task watching the service know (buffered as its buffer_period says)."""
    return store_service(organization(principal), name, consul.validate_entries(entries))


def store_service(org: str, name: str, entries: list[dict]) -> list[str]:
    ConsulServiceModel(org=org, name=name, entries_json=json.dumps(entries),
                       updated_at=now_iso()).save()
    notified = []
    for task, definition in active_tasks(org):
        if consul.watches(definition["condition"], name):
            _changed(task, definition)
            notified.append(task.name)
    return notified


def active_tasks(org: str):
    """The organization's enabled tasks not marked for deletion, with their definitions."""
    for task in TaskModel.query(org):
        definition = _definition(task)
        if not task.deleting and definition.get("enabled", True):
            yield task, definition


def _changed(task: TaskModel, definition: dict) -> None:
    buffer = definition["buffer_period"]
    if not buffer.get("enabled"):
        trigger(task, definition)
        return
    at = time.time()
    task.update(actions=[TaskModel.buffer_last_at.set(at),
                         TaskModel.buffer_first_at.set(TaskModel.buffer_first_at | at)])
    if task.buffer_first_at == at:      # this event opened the buffer: schedule its check
        queues.send("task-triggers", {"org": task.org, "task": task.name},
                    delay_seconds=rules.duration_seconds(buffer["min"], "min"))


def check_buffer(org: str, name: str) -> bool:
    """A delayed re-check: fire once the task has been quiet for `min`, or `max` after the
    first change; otherwise look again when one of them can be true. Returns whether it fired."""
    try:
        task = TaskModel.get(org, name)
    except TaskModel.DoesNotExist:
        return False
    if task.buffer_first_at is None or task.deleting:
        return False
    definition = _definition(task)
    low = rules.duration_seconds(definition["buffer_period"]["min"], "min")
    high = rules.duration_seconds(definition["buffer_period"]["max"], "max")
    at = time.time()
    quiet, total = at - task.buffer_last_at, at - task.buffer_first_at
    if quiet < low and total < high:
        wait = max(1, math.ceil(min(low - quiet, high - total)))
        queues.send("task-triggers", {"org": org, "task": name}, delay_seconds=min(wait, 900))
        return False
    try:   # one firing per buffered burst, whatever the number of checks in flight
        task.update(actions=[TaskModel.buffer_first_at.remove(), TaskModel.buffer_last_at.remove()],
                    condition=TaskModel.buffer_first_at == task.buffer_first_at)
    except Exception:  # noqa: BLE001 - another check fired it
        return False
    trigger(task, definition)
    return True


def trigger(task: TaskModel, definition: dict) -> None:
    """A run of the task: its module with the current services data, uploaded with
    auto-queue-runs on its auto-apply workspace."""
    from ..aws import blobs
    from . import configuration_versions as cvs
    cv, _ = cvs.create(identity.system_principal(), task.workspace_id, {"auto-queue-runs": True})
    body = pack_tgz(_generated(task.org, definition))
    blobs.put(blobs.cv_key(cv.id), body, length=len(body))


def _services_for(org: str, definition: dict) -> dict:
    spec = definition["condition"].get("services") or definition["condition"].get("catalog-services")
    if not isinstance(spec, dict):
        return {}
    out = {}
    for item in ConsulServiceModel.query(org):
        if consul.watches(definition["condition"], item.name):
            out.update(consul.services_input(json.loads(item.entries_json),
                                             spec.get("cts_user_defined_meta")))
    return out


# -- status --------------------------------------------------------------------------------------

def _events(org: str, name: str, limit: int | None = None) -> list[TaskEventModel]:
    return list(TaskEventModel.query(f"{org}/{name}", scan_index_forward=False, limit=limit))


def _event_doc(event: TaskEventModel) -> dict:
    doc = {"id": event.id, "success": event.success, "start_time": event.start_time,
           "end_time": event.end_time, "task": event.task.as_dict() if hasattr(event.task, "as_dict") else dict(event.task)}
    if event.error:
        doc["error"] = {"message": event.error}
    return doc


def task_status(principal: Principal, *, name: str | None, include_events: bool,
                status: str | None) -> dict:
    """GET /v1/status/tasks[/:name]: each task's health from its 5 most recent events."""
    if status is not None and status not in rules.STATUSES:
        raise BadRequest(f"status must be one of {', '.join(rules.STATUSES)}")
    org = organization(principal)
    chosen = [get(principal, name)] if name else [t for t in TaskModel.query(org) if not t.deleting]
    out = {}
    for task in chosen:
        recent = _events(org, task.name, None if include_events else 5)
        health = rules.health([e.success for e in recent[:5]])
        if status and health != status:
            continue
        definition = _definition(task)
        entry = {"task_name": task.name, "status": health, "enabled": definition.get("enabled", True),
                 "providers": definition.get("providers", []), "services": [],
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


def _generated(org: str, definition: dict) -> dict[str, str]:
    """The task's root module with its condition's current data."""
    spec = definition["condition"].get("consul-kv")
    kv = None
    if isinstance(spec, dict) and spec.get("use_as_module_input", True):
        kv = {item.key: item.value for item in ConsulKVModel.query(
            org, ConsulKVModel.key.startswith(spec.get("path", "")))
            if consul.kv_matches(definition["condition"], item.key)}
    return root_module(definition, _services_for(org, definition), kv)


def record_kv(principal: Principal, entries: object, *, prefix: str | None) -> list[str]:
    """A Consul key/keyprefix watch posted entries: keep them (a keyprefix snapshot replaces
    the prefix's entries) and notify the consul-kv tasks whose path they touch."""
    return store_kv(organization(principal), consul.validate_kv(entries), prefix=prefix)


def store_kv(org: str, items: list[dict], *, prefix: str | None, deleted: tuple[str, ...] = ()) -> list[str]:
    if prefix is not None:
        for old in ConsulKVModel.query(org, ConsulKVModel.key.startswith(prefix)):
            old.delete()
    for key in deleted:
        ConsulKVModel(org=org, key=key).delete()
    for entry in items:
        ConsulKVModel(org=org, key=entry["Key"], value=consul.decode_value(entry),
                      updated_at=now_iso()).save()
    touched = [e["Key"] for e in items] + list(deleted) or ([prefix] if prefix else [])
    notified = []
    for task, definition in active_tasks(org):
        if any(consul.kv_matches(definition["condition"], key) for key in touched):
            _changed(task, definition)
            notified.append(task.name)
    return notified
