"""Consul-Terraform-Sync tasks, their events, and the Consul data their conditions read.
Access patterns: a task by (org, name), an organization's tasks (Query org); a task's events
newest first (Query task_key); a service's entries by (org, name); KV entries under a path
(Query org, begins_with)."""
from __future__ import annotations

import json

from ..domain.tasks import Task, TaskEvent
from . import base
from .models import ConsulKVModel, ConsulServiceModel, TaskEventModel, TaskModel


def _from(item: TaskModel) -> Task:
    return Task(org=item.org, name=item.name, definition=base.plain(item.definition),
                workspace_id=item.workspace_id, created_at=item.created_at,
                deleting=bool(item.deleting), next_run_at=item.next_run_at,
                buffer_first_at=item.buffer_first_at, buffer_last_at=item.buffer_last_at,
                owner=item.owner)


def find(org: str, name: str) -> Task | None:
    return base.find(TaskModel, _from, org, name)


def of_org(org: str) -> list[Task]:
    return [_from(i) for i in TaskModel.query(org)]


def due(org: str, at: str) -> list[Task]:
    """Schedule tasks whose next cron time has come (the organization's partition, filtered)."""
    return [_from(i) for i in TaskModel.query(org, filter_condition=TaskModel.next_run_at <= at)]


def insert(task: Task) -> None:
    with base.conditional(f"task with name {task.name} already exists"):
        TaskModel(**vars(task)).save(condition=TaskModel.name.does_not_exist())


def set_definition(task: Task, definition: dict) -> None:
    with base.conditional(f"task '{task.name}' changed concurrently"):
        TaskModel(org=task.org, name=task.name).update(
            actions=[TaskModel.definition.set(definition)],
            condition=TaskModel.deleting == False)  # noqa: E712 - a condition
    task.definition = definition


def mark_deleting(task: Task) -> None:
    with base.conditional(f"task '{task.name}' was deleted concurrently"):
        TaskModel(org=task.org, name=task.name).update(actions=[TaskModel.deleting.set(True)],
                                                       condition=TaskModel.name.exists())
    task.deleting = True


def delete(task: Task) -> None:
    TaskModel(org=task.org, name=task.name).delete()


def move_next_run(task: Task, next_run_at: str | None) -> None:
    """Conditional on the cron time read: each cron time fires once, however many ticks race
    (Conflict for the losers)."""
    with base.conditional(f"task '{task.name}' fired already"):
        TaskModel(org=task.org, name=task.name).update(
            actions=[TaskModel.next_run_at.set(next_run_at)],
            condition=TaskModel.next_run_at == task.next_run_at)
    task.next_run_at = next_run_at


def note_change(task: Task, at: float) -> float:
    """A condition changed inside a buffer period: the last change moves to `at`, the first
    stays (or becomes `at`). Returns the buffer's first change."""
    item = TaskModel(org=task.org, name=task.name)
    with base.conditional(f"task '{task.name}' was deleted concurrently"):
        item.update(actions=[TaskModel.buffer_last_at.set(at),
                             TaskModel.buffer_first_at.set(TaskModel.buffer_first_at | at)],
                    condition=TaskModel.name.exists())
    task.buffer_first_at, task.buffer_last_at = item.buffer_first_at, item.buffer_last_at
    return item.buffer_first_at


def close_buffer(task: Task) -> None:
    """Conditional on the burst read: one firing per buffered burst (Conflict otherwise)."""
    with base.conditional(f"task '{task.name}' buffer closed already"):
        TaskModel(org=task.org, name=task.name).update(
            actions=[TaskModel.buffer_first_at.remove(), TaskModel.buffer_last_at.remove()],
            condition=TaskModel.buffer_first_at == task.buffer_first_at)


# -- events ---------------------------------------------------------------------------------------

def _event_from(item: TaskEventModel) -> TaskEvent:
    return TaskEvent(id=item.id, task_key=item.task_key, success=item.success,
                     start_time=item.start_time, end_time=item.end_time, run_id=item.run_id,
                     task=base.plain(item.task), error=item.error)


def insert_event(event: TaskEvent) -> None:
    TaskEventModel(**vars(event)).save()


def events(task_key: str, limit: int | None = None) -> list[TaskEvent]:
    return [_event_from(i) for i in TaskEventModel.query(task_key, scan_index_forward=False,
                                                          limit=limit)]


# -- Consul data ----------------------------------------------------------------------------------

def save_service(org: str, name: str, entries: list[dict], at: str) -> None:
    ConsulServiceModel(org=org, name=name, entries_json=json.dumps(entries), updated_at=at).save()


def services(org: str) -> dict[str, list[dict]]:
    """Every service's latest entries: name -> health entries."""
    return {i.name: json.loads(i.entries_json) for i in ConsulServiceModel.query(org)}


def service_entries(org: str, name: str) -> list[dict] | None:
    return base.find(ConsulServiceModel, lambda i: json.loads(i.entries_json), org, name)


def kv_under(org: str, prefix: str, *, exact: bool = False) -> dict[str, str]:
    """KV entries whose key starts with `prefix` (or is it, with `exact`)."""
    condition = ConsulKVModel.key == prefix if exact else ConsulKVModel.key.startswith(prefix)
    return {i.key: i.value for i in ConsulKVModel.query(org, condition)}


def save_kv(org: str, key: str, value: str, at: str) -> None:
    ConsulKVModel(org=org, key=key, value=value, updated_at=at).save()


def delete_kv(org: str, key: str) -> None:
    ConsulKVModel(org=org, key=key).delete()
