"""Workspaces: by id and by organization + name, list, and the lock actions."""
from __future__ import annotations

from chalice import Blueprint

from ..domain.workspaces import engine_for_client
from ..services import identity, workspaces
from . import jsonapi, render
from .routing import route

bp = Blueprint(__name__)


@route(bp, "/api/v2/organizations/{org}/workspaces")
def list_workspaces(call, org):
    found = workspaces.list_in_org(call.principal, org, jsonapi.query(call.request, "search[name]"),
                                   jsonapi.query(call.request, "search[tags]"),
                                   jsonapi.query(call.request, "search[exclude-tags]"))
    page, size = jsonapi.page_params(call.request)
    included = [render.organization(identity.get_org(call.principal, org))] \
        if "organization" in jsonapi.includes(call.request) else None
    return jsonapi.document([render.workspace(w) for w in found[(page - 1) * size: page * size]],
                            included=included, meta=jsonapi.pagination(page, size, len(found)))


@route(bp, "/api/v2/organizations/{org}/workspaces", ("POST",))
def create_workspace(call, org):
    attrs = jsonapi.data_attributes(call.request)
    tags = jsonapi.relationship_tag_names(call.request)
    if tags is not None:       # go-tfe sends the tags of a new workspace as a relationship
        attrs = {**attrs, "tag-names": list(attrs.get("tag-names") or []) + tags}
    if "engine" not in attrs:
        attrs = {**attrs, "engine": engine_for_client(call.request.headers.get("user-agent"))}
    ws = workspaces.create(call.principal, org, attrs)
    return jsonapi.document(render.workspace(ws), status=201)


@route(bp, "/api/v2/organizations/{org}/workspaces/{name}")
def show_workspace_by_name(call, org, name):
    return jsonapi.document(render.workspace(workspaces.get_by_name(call.principal, org, name)))


@route(bp, "/api/v2/organizations/{org}/workspaces/{name}", ("PATCH",))
def update_workspace_by_name(call, org, name):
    ws = workspaces.get_by_name(call.principal, org, name)
    ws = workspaces.update(call.principal, ws, jsonapi.data_attributes(call.request))
    return jsonapi.document(render.workspace(ws))


@route(bp, "/api/v2/organizations/{org}/workspaces/{name}", ("DELETE",))
def delete_workspace_by_name(call, org, name):
    workspaces.delete(call.principal, workspaces.get_by_name(call.principal, org, name))
    return jsonapi.no_content()


@route(bp, "/api/v2/workspaces/{workspace_id}")
def show_workspace(call, workspace_id):
    return jsonapi.document(render.workspace(workspaces.get(call.principal, workspace_id)))


@route(bp, "/api/v2/workspaces/{workspace_id}", ("PATCH",))
def update_workspace(call, workspace_id):
    ws = workspaces.get(call.principal, workspace_id)
    ws = workspaces.update(call.principal, ws, jsonapi.data_attributes(call.request))
    return jsonapi.document(render.workspace(ws))


@route(bp, "/api/v2/workspaces/{workspace_id}", ("DELETE",))
def delete_workspace(call, workspace_id):
    workspaces.delete(call.principal, workspaces.get(call.principal, workspace_id))
    return jsonapi.no_content()


@route(bp, "/api/v2/workspaces/{workspace_id}/actions/lock", ("POST",))
def lock_workspace(call, workspace_id):
    body = jsonapi.body_json(call.request, required=False) or {}
    reason = body.get("reason") if isinstance(body, dict) else None
    ws = workspaces.lock(call.principal, workspaces.get(call.principal, workspace_id),
                         reason if isinstance(reason, str) else None)
    return jsonapi.document(render.workspace(ws))


@route(bp, "/api/v2/workspaces/{workspace_id}/actions/unlock", ("POST",))
def unlock_workspace(call, workspace_id):
    ws = workspaces.unlock(call.principal, workspaces.get(call.principal, workspace_id), force=False)
    return jsonapi.document(render.workspace(ws))


@route(bp, "/api/v2/workspaces/{workspace_id}/actions/force-unlock", ("POST",))
def force_unlock_workspace(call, workspace_id):
    ws = workspaces.unlock(call.principal, workspaces.get(call.principal, workspace_id), force=True)
    return jsonapi.document(render.workspace(ws))


@route(bp, "/api/v2/workspaces/{workspace_id}/relationships/tags")
def list_workspace_tags(call, workspace_id):
    ws = workspaces.get(call.principal, workspace_id)
    return jsonapi.document([render.tag(ws.org, name) for name in ws.tag_names or []])


@route(bp, "/api/v2/workspaces/{workspace_id}/relationships/tags", ("POST",))
def add_workspace_tags(call, workspace_id):
    ws = workspaces.get(call.principal, workspace_id)
    workspaces.change_tags(call.principal, ws, jsonapi.data_tag_names(call.request), add=True)
    return jsonapi.no_content()


@route(bp, "/api/v2/workspaces/{workspace_id}/relationships/tags", ("DELETE",))
def remove_workspace_tags(call, workspace_id):
    ws = workspaces.get(call.principal, workspace_id)
    workspaces.change_tags(call.principal, ws, jsonapi.data_tag_names(call.request), add=False)
    return jsonapi.no_content()
