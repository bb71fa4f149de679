"""Workspaces: by id and by organization + name, list, and the lock actions."""
from __future__ import annotations

from chalice import Blueprint

from ..config import settings
from ..domain.clock import now
from ..domain.errors import NotFound
from ..domain.workspaces import engine_for_client
from ..services import identity, runs, state_versions, variables, workspaces
from . import jsonapi, render
from .routing import route

bp = Blueprint(__name__)


def _with_includes(call, found: list) -> tuple[list, list | None]:
    """Workspace documents and what `include` asks for beside them: `current-state-version`,
    `current-run` and `outputs` (the current state's, as workspace-outputs, sensitive values
    null); one read each per workspace of the page."""
    wanted = jsonapi.includes(call.request)
    docs, included = [], []
    for ws in found:
        doc = render.workspace(ws)
        sv = state_versions.current_version(ws) if wanted & {"current_state_version", "outputs"} else None
        if sv is not None and "current_state_version" in wanted:
            included.append(render.state_version(sv, settings().public_url))
        if "outputs" in wanted:
            outputs = render.workspace_outputs(sv) if sv else []
            doc["relationships"]["outputs"] = {"data": [{"type": o["type"], "id": o["id"]} for o in outputs]}
            included += outputs
        run_id = doc["relationships"]["current-run"]["data"]
        if "current_run" in wanted and run_id:
            try:
                included.append(render.run(runs.get(call.principal, run_id["id"]), now()))
            except NotFound:        # deleted meanwhile
                pass
        docs.append(doc)
    return docs, included or None


def _one(call, ws):
    """A single workspace also names its variables (`vars`, as HCP Terraform does; go-tfe reads
    them there): one Query of the workspace's variables, on this route only, not on lists."""
    [doc], included = _with_includes(call, [ws])
    doc["relationships"]["vars"] = {"data": [
        {"type": "vars", "id": v.id} for v in variables.of_workspace(call.principal, ws.id)]}
    return jsonapi.document(doc, included=included)


@route(bp, "/api/v2/organizations/{org}/workspaces")
def list_workspaces(call, org):
    found = workspaces.list_in_org(call.principal, org, jsonapi.query(call.request, "search[name]"),
                                   jsonapi.query(call.request, "search[tags]"),
                                   jsonapi.query(call.request, "search[exclude-tags]"),
                                   jsonapi.query(call.request, "search[wildcard-name]"))
    page, size = jsonapi.page_params(call.request)
    docs, included = _with_includes(call, found[(page - 1) * size: page * size])
    if "organization" in jsonapi.includes(call.request):
        included = [render.organization(identity.get_org(call.principal, org)), *(included or [])]
    return jsonapi.document(docs, included=included, meta=jsonapi.pagination(page, size, len(found)))


def _settings(call) -> dict:
    """The attributes, with an `agent-pool` relationship as agent-pool-id (go-tfe sends the
    attribute; HCP's API documents both)."""
    attrs = jsonapi.data_attributes(call.request)
    pool = jsonapi.relationship_id(call.request, "agent-pool")
    return {**attrs, "agent-pool-id": pool} if pool is not None else attrs


@route(bp, "/api/v2/organizations/{org}/workspaces", ("POST",))
def create_workspace(call, org):
    attrs = _settings(call)
    tags = jsonapi.relationship_tag_names(call.request)
    if tags is not None:       # go-tfe sends the tags of a new workspace as a relationship
        attrs = {**attrs, "tag-names": list(attrs.get("tag-names") or []) + tags}
    if "engine" not in attrs:
        attrs = {**attrs, "engine": engine_for_client(call.request.headers.get("user-agent"))}
    ws = workspaces.create(call.principal, org, attrs)
    return jsonapi.document(render.workspace(ws), status=201)


@route(bp, "/api/v2/organizations/{org}/workspaces/{name}")
def show_workspace_by_name(call, org, name):
    return _one(call, workspaces.get_by_name(call.principal, org, name))


@route(bp, "/api/v2/organizations/{org}/workspaces/{name}", ("PATCH",))
def update_workspace_by_name(call, org, name):
    ws = workspaces.get_by_name(call.principal, org, name)
    ws = workspaces.update(call.principal, ws, _settings(call))
    return jsonapi.document(render.workspace(ws))


@route(bp, "/api/v2/organizations/{org}/workspaces/{name}", ("DELETE",))
def delete_workspace_by_name(call, org, name):
    workspaces.delete(call.principal, workspaces.get_by_name(call.principal, org, name))
    return jsonapi.no_content()


@route(bp, "/api/v2/organizations/{org}/workspaces/{name}/actions/safe-delete", ("POST",))
def safe_delete_workspace_by_name(call, org, name):
    workspaces.safe_delete(call.principal, workspaces.get_by_name(call.principal, org, name))
    return jsonapi.no_content()


@route(bp, "/api/v2/workspaces/{workspace_id}/actions/safe-delete", ("POST",))
def safe_delete_workspace(call, workspace_id):
    workspaces.safe_delete(call.principal, workspaces.get(call.principal, workspace_id))
    return jsonapi.no_content()


@route(bp, "/api/v2/workspaces/{workspace_id}")
def show_workspace(call, workspace_id):
    return _one(call, workspaces.get(call.principal, workspace_id))


@route(bp, "/api/v2/workspaces/{workspace_id}", ("PATCH",))
def update_workspace(call, workspace_id):
    ws = workspaces.get(call.principal, workspace_id)
    ws = workspaces.update(call.principal, ws, _settings(call))
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
    workspaces.change_tags(call.principal, ws, *jsonapi.data_tag_refs(call.request), add=True)
    return jsonapi.no_content()


@route(bp, "/api/v2/workspaces/{workspace_id}/relationships/tags", ("DELETE",))
def remove_workspace_tags(call, workspace_id):
    ws = workspaces.get(call.principal, workspace_id)
    workspaces.change_tags(call.principal, ws, *jsonapi.data_tag_refs(call.request), add=False)
    return jsonapi.no_content()


# -- Terrakube: /api/v1/organization/{org}/workspace ------------------------------------------------
# The same workspaces in Terrakube's shape (terraform-provider-terrakube's workspace entity):
# `iacType` is the engine ("terraform" | "tofu"), `terraformVersion` the version either runs,
# `folder` the working directory.
TK_WORKSPACES = "/api/v1/organization/{org}/workspace"
TERRAKUBE_SETTINGS = {"name": "name", "description": "description", "iacType": "engine",
                      "terraformVersion": "terraform-version", "executionMode": "execution-mode"}


def _terrakube_attrs(call) -> dict:
    given = jsonapi.data_attributes(call.request)
    attrs = {ours: given[theirs] for theirs, ours in TERRAKUBE_SETTINGS.items() if theirs in given}
    if "folder" in given:
        folder = given["folder"]
        attrs["working-directory"] = folder.strip("/") if isinstance(folder, str) else folder
    return attrs


def _terrakube_doc(ws) -> dict:
    return {"id": ws.id, "type": "workspace",
            "attributes": {"name": ws.name, "description": ws.description or "",
                           "iacType": ws.engine, "terraformVersion": ws.terraform_version,
                           "executionMode": ws.execution_mode,
                           "folder": "/" + (ws.working_directory or ""), "deleted": False},
            "relationships": {"organization": {"data": {"type": "organization", "id": ws.org}}}}


@route(bp, TK_WORKSPACES)
def terrakube_list_workspaces(call, org):
    found = workspaces.list_in_org(call.principal, org, jsonapi.query(call.request, "filter[workspace]"))
    page, size = jsonapi.page_params(call.request)
    return jsonapi.document([_terrakube_doc(w) for w in found[(page - 1) * size: page * size]],
                            meta=jsonapi.pagination(page, size, len(found)))


@route(bp, TK_WORKSPACES, ("POST",))
def terrakube_create_workspace(call, org):
    ws = workspaces.create(call.principal, org, {"engine": "terraform", **_terrakube_attrs(call)})
    return jsonapi.document(_terrakube_doc(ws), status=201)


@route(bp, TK_WORKSPACES + "/{workspace_id}")
def terrakube_show_workspace(call, org, workspace_id):
    return jsonapi.document(_terrakube_doc(workspaces.get_in_org(call.principal, org, workspace_id)))


@route(bp, TK_WORKSPACES + "/{workspace_id}", ("PATCH",))
def terrakube_update_workspace(call, org, workspace_id):
    ws = workspaces.get_in_org(call.principal, org, workspace_id)
    return jsonapi.document(_terrakube_doc(workspaces.update(call.principal, ws, _terrakube_attrs(call))))


@route(bp, TK_WORKSPACES + "/{workspace_id}", ("DELETE",))
def terrakube_delete_workspace(call, org, workspace_id):
    workspaces.delete(call.principal, workspaces.get_in_org(call.principal, org, workspace_id))
    return jsonapi.no_content()
