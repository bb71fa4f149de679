"""HCP Terraform's Variables and Variable Sets APIs, and Terrakube's workspace variables, over
the one set of variables (services/variables.py). A sensitive variable's value is null in every
answer, including the one that created it."""
from __future__ import annotations

from chalice import Blueprint

from ..domain.errors import Unprocessable
from ..services import organization_names, variables
from . import jsonapi
from .routing import route

bp = Blueprint(__name__)
V2 = "/api/v2"


def _var_doc(var) -> dict:
    in_set = var.owner_id.startswith("varset-")
    owner_type = "varsets" if in_set else "workspaces"
    doc = {
        "id": var.id, "type": "vars",
        "attributes": {"key": var.key, "value": None if var.sensitive else var.value,
                       "sensitive": var.sensitive, "category": var.category, "hcl": var.hcl,
                       "created-at": var.created_at, "description": var.description,
                       "version-id": var.version_id},
        "relationships": {"configurable": {"data": {"id": var.owner_id, "type": owner_type},
                                           "links": {"related": f"{V2}/{owner_type}/{var.owner_id}"}}},
        "links": {"self": f"{V2}/{owner_type}/{var.owner_id}/"
                          f"{'relationships/vars' if in_set else 'vars'}/{var.id}"},
    }
    if in_set:
        doc["relationships"]["varset"] = {"data": {"id": var.owner_id, "type": "varsets"}}
    return doc


def _set_doc(varset, var_ids: list[str] | None = None) -> dict:
    rel = {"organization": {"data": {"id": organization_names.name_of(varset.org), "type": "organizations"}},
           "workspaces": {"data": [{"id": w, "type": "workspaces"} for w in varset.workspace_ids]},
           "projects": {"data": []}}
    if var_ids is not None:
        rel["vars"] = {"data": [{"id": v, "type": "vars"} for v in var_ids]}
    attrs = {"name": varset.name, "description": varset.description, "global": varset.global_,
             "priority": varset.priority, "created-at": varset.created_at,
             "updated-at": varset.updated_at, "workspace-count": len(varset.workspace_ids),
             "project-count": 0}
    if var_ids is not None:
        attrs["var-count"] = len(var_ids)
    return {"id": varset.id, "type": "varsets", "attributes": attrs, "relationships": rel,
            "links": {"self": f"{V2}/varsets/{varset.id}"}}


def _vars_document(found: list, status: int = 200):
    # /vars is not paginated (python-tfe and go-tfe read it in one request)
    return jsonapi.document([_var_doc(v) for v in found], status=status,
                            meta=jsonapi.pagination(1, max(len(found), 1), len(found)))


# -- workspace variables ---------------------------------------------------------------------------

@route(bp, V2 + "/workspaces/{workspace_id}/vars")
def list_workspace_vars(call, workspace_id):
    return _vars_document(variables.of_workspace(call.principal, workspace_id))


@route(bp, V2 + "/workspaces/{workspace_id}/all-vars")
def list_all_workspace_vars(call, workspace_id):
    return _vars_document(variables.all_of_workspace(call.principal, workspace_id))


@route(bp, V2 + "/workspaces/{workspace_id}/vars", ("POST",))
def create_workspace_var(call, workspace_id):
    var = variables.create_in_workspace(call.principal, workspace_id, jsonapi.data_attributes(call.request))
    return jsonapi.document(_var_doc(var), status=201)


@route(bp, V2 + "/workspaces/{workspace_id}/vars/{var_id}")
def show_workspace_var(call, workspace_id, var_id):
    return jsonapi.document(_var_doc(variables.get(call.principal, var_id, workspace_id)))


@route(bp, V2 + "/workspaces/{workspace_id}/vars/{var_id}", ("PATCH",))
def update_workspace_var(call, workspace_id, var_id):
    var = variables.update(call.principal, var_id, jsonapi.data_attributes(call.request), workspace_id)
    return jsonapi.document(_var_doc(var))


@route(bp, V2 + "/workspaces/{workspace_id}/vars/{var_id}", ("DELETE",))
def delete_workspace_var(call, workspace_id, var_id):
    variables.delete(call.principal, var_id, workspace_id)
    return jsonapi.no_content()


# -- the older /vars endpoints ---------------------------------------------------------------------

@route(bp, V2 + "/vars")
def list_vars(call):
    ws = variables.workspace_by_name(call.principal,
                                     jsonapi.query(call.request, "filter[organization][name]"),
                                     jsonapi.query(call.request, "filter[workspace][name]"))
    return _vars_document(variables.of_workspace(call.principal, ws.id))


@route(bp, V2 + "/vars", ("POST",))
def create_var(call):
    attrs = jsonapi.data_attributes(call.request)
    workspace_id = (jsonapi.relationship_id(call.request, "workspace")
                    or jsonapi.relationship_id(call.request, "configurable"))
    if not workspace_id:
        raise Unprocessable("relationships.workspace is required",
                                    pointer="/data/relationships/workspace")
    var = variables.create_in_workspace(call.principal, workspace_id, attrs)
    return jsonapi.document(_var_doc(var), status=201)


@route(bp, V2 + "/vars/{var_id}", ("PATCH",))
def update_var(call, var_id):
    var = variables.update(call.principal, var_id, jsonapi.data_attributes(call.request))
    return jsonapi.document(_var_doc(var))


@route(bp, V2 + "/vars/{var_id}", ("DELETE",))
def delete_var(call, var_id):
    variables.delete(call.principal, var_id)
    return jsonapi.no_content()


# -- variable sets ---------------------------------------------------------------------------------

def _set_answer(varset, status: int = 200):
    return jsonapi.document(_set_doc(varset, variables.var_ids_of(varset)), status=status)


@route(bp, V2 + "/organizations/{org}/varsets")
def list_org_varsets(call, org):
    found = variables.sets_of_org(call.principal, org, jsonapi.query(call.request, "q"))
    page, size = jsonapi.page_params(call.request)
    return jsonapi.document([_set_doc(s) for s in found[(page - 1) * size: page * size]],
                            meta=jsonapi.pagination(page, size, len(found)))


@route(bp, V2 + "/organizations/{org}/varsets", ("POST",))
def create_varset(call, org):
    attrs = jsonapi.data_attributes(call.request)
    varset = variables.create_set(call.principal, org, attrs,
                                  jsonapi.relationship_ids(call.request, "workspaces") or [])
    return _set_answer(varset, 201)


@route(bp, V2 + "/workspaces/{workspace_id}/varsets")
def list_workspace_varsets(call, workspace_id):
    found = variables.sets_of_workspace(call.principal, workspace_id)
    page, size = jsonapi.page_params(call.request)
    return jsonapi.document([_set_doc(s) for s in found[(page - 1) * size: page * size]],
                            meta=jsonapi.pagination(page, size, len(found)))


@route(bp, V2 + "/varsets/{varset_id}")
def show_varset(call, varset_id):
    return _set_answer(variables.get_set(call.principal, varset_id))


@route(bp, V2 + "/varsets/{varset_id}", ("PATCH", "PUT"))
def update_varset(call, varset_id):
    attrs = jsonapi.data_attributes(call.request)
    varset = variables.update_set(call.principal, varset_id, attrs,
                                  jsonapi.relationship_ids(call.request, "workspaces"))
    return _set_answer(varset)


@route(bp, V2 + "/varsets/{varset_id}", ("DELETE",))
def delete_varset(call, varset_id):
    variables.delete_set(call.principal, varset_id)
    return jsonapi.no_content()


@route(bp, V2 + "/varsets/{varset_id}/relationships/workspaces", ("POST",))
def apply_varset(call, varset_id):
    variables.apply_to_workspaces(call.principal, varset_id, jsonapi.data_ids(call.request), remove=False)
    return jsonapi.no_content()


@route(bp, V2 + "/varsets/{varset_id}/relationships/workspaces", ("DELETE",))
def remove_varset(call, varset_id):
    variables.apply_to_workspaces(call.principal, varset_id, jsonapi.data_ids(call.request), remove=True)
    return jsonapi.no_content()


@route(bp, V2 + "/varsets/{varset_id}/relationships/vars")
def list_varset_vars(call, varset_id):
    return _vars_document(variables.vars_of_set(call.principal, varset_id))


@route(bp, V2 + "/varsets/{varset_id}/relationships/vars", ("POST",))
def create_varset_var(call, varset_id):
    var = variables.create_in_set(call.principal, varset_id, jsonapi.data_attributes(call.request))
    return jsonapi.document(_var_doc(var), status=201)


@route(bp, V2 + "/varsets/{varset_id}/relationships/vars/{var_id}")
def show_varset_var(call, varset_id, var_id):
    return jsonapi.document(_var_doc(variables.get(call.principal, var_id, varset_id)))


@route(bp, V2 + "/varsets/{varset_id}/relationships/vars/{var_id}", ("PATCH",))
def update_varset_var(call, varset_id, var_id):
    var = variables.update(call.principal, var_id, jsonapi.data_attributes(call.request), varset_id)
    return jsonapi.document(_var_doc(var))


@route(bp, V2 + "/varsets/{varset_id}/relationships/vars/{var_id}", ("DELETE",))
def delete_varset_var(call, varset_id, var_id):
    variables.delete(call.principal, var_id, varset_id)
    return jsonapi.no_content()


# -- Terrakube: /api/v1/organization/{org}/workspace/{id}/variable -----------------------------------

TERRAKUBE_CATEGORY = {"TERRAFORM": "terraform", "ENV": "env"}


def _terrakube_doc(var) -> dict:
    return {"id": var.id, "type": "variable",
            "attributes": {"key": var.key, "value": None if var.sensitive else var.value,
                           "description": var.description,
                           "category": var.category.upper(), "sensitive": var.sensitive,
                           "hcl": var.hcl},
            "relationships": {"workspace": {"data": {"type": "workspace", "id": var.owner_id}}}}


def _terrakube_attrs(call) -> dict:
    attrs = dict(jsonapi.data_attributes(call.request))
    if "category" in attrs:
        category = attrs["category"]
        attrs["category"] = TERRAKUBE_CATEGORY.get(category, category) \
            if isinstance(category, str) else category
    return attrs


def _terrakube_workspace(call, org: str, workspace_id: str):
    return variables.workspace_in_org(call.principal, org, workspace_id).id


TK = "/api/v1/organization/{org}/workspace/{workspace_id}/variable"


@route(bp, TK)
def terrakube_list_vars(call, org, workspace_id):
    found = variables.of_workspace(call.principal, _terrakube_workspace(call, org, workspace_id))
    return jsonapi.document([_terrakube_doc(v) for v in found])


@route(bp, TK, ("POST",))
def terrakube_create_var(call, org, workspace_id):
    ws_id = _terrakube_workspace(call, org, workspace_id)
    var = variables.create_in_workspace(call.principal, ws_id, _terrakube_attrs(call))
    return jsonapi.document(_terrakube_doc(var), status=201)


@route(bp, TK + "/{var_id}")
def terrakube_show_var(call, org, workspace_id, var_id):
    ws_id = _terrakube_workspace(call, org, workspace_id)
    return jsonapi.document(_terrakube_doc(variables.get(call.principal, var_id, ws_id)))


@route(bp, TK + "/{var_id}", ("PATCH",))
def terrakube_update_var(call, org, workspace_id, var_id):
    ws_id = _terrakube_workspace(call, org, workspace_id)
    var = variables.update(call.principal, var_id, _terrakube_attrs(call), ws_id)
    return jsonapi.document(_terrakube_doc(var))


@route(bp, TK + "/{var_id}", ("DELETE",))
def terrakube_delete_var(call, org, workspace_id, var_id):
    variables.delete(call.principal, var_id, _terrakube_workspace(call, org, workspace_id))
    return jsonapi.no_content()
