"""Agent pools, their agent tokens and their agents (HCP Terraform's shapes; issue 17)."""
from __future__ import annotations

from chalice import Blueprint

from ..services import agent_pools
from . import jsonapi, render
from .routing import route

bp = Blueprint(__name__)
V2 = "/api/v2"


def _refs(call) -> tuple[list[str] | None, list[str] | None]:
    return (jsonapi.relationship_ids(call.request, "allowed-workspaces"),
            jsonapi.relationship_ids(call.request, "excluded-workspaces"))


@route(bp, V2 + "/organizations/{org}/agent-pools")
def list_agent_pools(call, org):
    pools = agent_pools.list_in_org(call.principal, org, jsonapi.query(call.request, "q"),
                                    jsonapi.query(call.request, "filter[allowed_workspaces][name]"),
                                    jsonapi.query(call.request, "sort"))
    page, size = jsonapi.page_params(call.request)
    return jsonapi.document([render.agent_pool(p) for p in pools[(page - 1) * size: page * size]],
                            meta=jsonapi.pagination(page, size, len(pools)))


@route(bp, V2 + "/organizations/{org}/agent-pools", ("POST",))
def create_agent_pool(call, org):
    pool = agent_pools.create(call.principal, org, jsonapi.data_attributes(call.request), *_refs(call))
    return jsonapi.document(render.agent_pool(pool), status=201)


@route(bp, V2 + "/agent-pools/{pool_id}")
def show_agent_pool(call, pool_id):
    return jsonapi.document(render.agent_pool(agent_pools.get(call.principal, pool_id)))


@route(bp, V2 + "/agent-pools/{pool_id}", ("PATCH",))
def update_agent_pool(call, pool_id):
    attrs = jsonapi.data_attributes(call.request, required=False)
    return jsonapi.document(render.agent_pool(agent_pools.update(call.principal, pool_id, attrs, *_refs(call))))


@route(bp, V2 + "/agent-pools/{pool_id}", ("DELETE",))
def delete_agent_pool(call, pool_id):
    agent_pools.delete(call.principal, pool_id)
    return jsonapi.no_content()


@route(bp, V2 + "/agent-pools/{pool_id}/authentication-tokens")
def list_agent_tokens(call, pool_id):
    found = agent_pools.tokens(call.principal, pool_id)
    page, size = jsonapi.page_params(call.request)
    return jsonapi.document([render.token(t) for t in found[(page - 1) * size: page * size]],
                            meta=jsonapi.pagination(page, size, len(found)))


@route(bp, V2 + "/agent-pools/{pool_id}/authentication-tokens", ("POST",))
def create_agent_token(call, pool_id):
    attrs = jsonapi.data_attributes(call.request)
    token, secret = agent_pools.create_token(call.principal, pool_id, attrs.get("description"))
    return jsonapi.document(render.token(token, secret=secret), status=201)
