"""Consul-Terraform-Sync's Tasks API at /v1/tasks, in CTS's JSON shapes: every response has a
`request_id`; errors are {"error": {"message": ...}}."""
from __future__ import annotations

import json
import logging
import uuid

from chalice import Blueprint, Response

from ..domain.errors import BadRequest, DomainError
from ..services import tasks
from . import jsonapi
from .errors import STATUS
from .routing import route

bp = Blueprint(__name__)
log = logging.getLogger(__name__)


def _reply(status: int, **fields) -> Response:
    return Response(body=json.dumps({"request_id": str(uuid.uuid4()), **fields}), status_code=status,
                    headers={"Content-Type": "application/json"})


def cts_error(exc: Exception) -> Response:
    if isinstance(exc, DomainError):
        status = next(code for cls, code in STATUS.items() if isinstance(exc, cls))
        return _reply(status, error={"message": exc.detail})
    log.exception("unhandled error")
    return _reply(500, error={"message": "internal error"})


def _run_mode(call) -> str | None:
    mode = jsonapi.query(call.request, "run")
    if mode not in (None, "inspect", "now"):
        raise BadRequest(f"unsupported run option '{mode}': use inspect or now")
    return mode


@route(bp, "/v1/tasks", render_error=cts_error)
def list_tasks(call):
    return _reply(200, tasks=tasks.list_tasks(call.principal))


@route(bp, "/v1/tasks", ("POST",), render_error=cts_error)
def create_task(call):
    body = jsonapi.body_json(call.request)
    mode = _run_mode(call)
    if mode == "inspect":
        return _reply(200, **tasks.create_inspect(call.principal, body))
    if mode == "now":
        return _reply(201, task=tasks.create_and_run(call.principal, body))
    return _reply(201, task=tasks.create(call.principal, body))


@route(bp, "/v1/tasks/{task_name}", render_error=cts_error)
def show_task(call, task_name):
    return _reply(200, task=tasks.get(call.principal, task_name).definition)


@route(bp, "/v1/tasks/{task_name}", ("PATCH",), render_error=cts_error)
def update_task(call, task_name):
    mode = _run_mode(call)
    if mode == "inspect":
        return _reply(200, inspect=tasks.inspect_update(call.principal, task_name,
                                                        jsonapi.body_json(call.request)))
    if mode == "now":
        return _reply(200, task=tasks.update_and_run(call.principal, task_name,
                                                     jsonapi.body_json(call.request)))
    return _reply(200, task=tasks.set_enabled(call.principal, task_name,
                                              jsonapi.body_json(call.request)))


@route(bp, "/v1/tasks/{task_name}", ("DELETE",), render_error=cts_error)
def delete_task(call, task_name):
    tasks.delete(call.principal, task_name)
    return _reply(202)


@route(bp, "/v1/watch/service/{service_name}", ("POST", "PUT"), render_error=cts_error)
def service_changed(call, service_name):
    """A Consul watch's HTTP handler: `consul watch -type=service -service=NAME
    -http-addr=...` (or `handler_type = "http"`) posts the service's health entries here."""
    notified = tasks.record_service(call.principal, service_name, jsonapi.body_json(call.request))
    return _reply(200, tasks=notified)


@route(bp, "/v1/status", render_error=cts_error)
def overall_status(call):
    return _reply(200, **tasks.overall_status(call.principal))


@route(bp, "/v1/status/tasks", render_error=cts_error)
def tasks_status(call):
    return _reply(200, **_status(call, None))


@route(bp, "/v1/status/tasks/{task_name}", render_error=cts_error)
def task_status(call, task_name):
    return _reply(200, **_status(call, task_name))


def _status(call, name: str | None) -> dict:
    return tasks.task_status(call.principal, name=name,
                             include_events="events" in (jsonapi.query(call.request, "include") or ""),
                             status=jsonapi.query(call.request, "status"))


@route(bp, "/v1/watch/kv", ("POST", "PUT"), render_error=cts_error)
def kv_changed(call):
    """A Consul key watch's HTTP handler (`consul watch -type=key -key=K`, or
    `-type=keyprefix -prefix=P` with `?prefix=P`) posts the entries here."""
    notified = tasks.record_kv(call.principal, jsonapi.body_json(call.request, required=False),
                               prefix=jsonapi.query(call.request, "prefix"))
    return _reply(200, tasks=notified)
