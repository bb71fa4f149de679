"""Organizations, their token, entitlements and memberships."""
from __future__ import annotations

from chalice import Blueprint

from ..services import identity
from . import jsonapi, render
from .routing import route

bp = Blueprint(__name__)


@route(bp, "/api/v2/organizations")
def list_organizations(call):
    orgs = identity.list_orgs(call.principal, jsonapi.query(call.request, "q"))
    page, size = jsonapi.page_params(call.request)
    chunk = orgs[(page - 1) * size: page * size]
    return jsonapi.document([render.organization(o) for o in chunk],
                            meta=jsonapi.pagination(page, size, len(orgs)))


@route(bp, "/api/v2/organizations", ("POST",))
def create_organization(call):
    attrs = jsonapi.data_attributes(call.request)
    org = identity.create_org(call.principal, attrs.get("name"), attrs.get("email"),
                              attrs.get("default-execution-mode", "remote"))
    return jsonapi.document(render.organization(org), status=201)


@route(bp, "/api/v2/organizations/{org}")
def show_organization(call, org):
    return jsonapi.document(render.organization(identity.get_org(call.principal, org)))


@route(bp, "/api/v2/organizations/{org}", ("PATCH",))
def update_organization(call, org):
    attrs = jsonapi.data_attributes(call.request)
    pool = jsonapi.relationship_id(call.request, "default-agent-pool")
    return jsonapi.document(render.organization(identity.update_org(
        call.principal, org, attrs, default_pool=pool if pool is not None else False)))


@route(bp, "/api/v2/organizations/{org}", ("DELETE",))
def delete_organization(call, org):
    identity.delete_org(call.principal, org)
    return jsonapi.no_content()


@route(bp, "/api/v2/organizations/{org}/entitlement-set")
def show_entitlements(call, org):
    return jsonapi.document(render.entitlement_set(identity.get_org(call.principal, org).name))


@route(bp, "/api/v2/organizations/{org}/authentication-token", ("POST",))
def create_organization_token(call, org):
    attrs = jsonapi.data_attributes(call.request, required=False)
    token, secret = identity.create_org_token(call.principal, org, attrs.get("expired-at"))
    return jsonapi.document(render.token(token, secret=secret), status=201)


@route(bp, "/api/v2/organizations/{org}/authentication-token")
def show_organization_token(call, org):
    return jsonapi.document(render.token(identity.get_org_token(call.principal, org)))


@route(bp, "/api/v2/organizations/{org}/authentication-token", ("DELETE",))
def delete_organization_token(call, org):
    identity.delete_org_token(call.principal, org)
    return jsonapi.no_content()


@route(bp, "/api/v2/organizations/{org}/organization-memberships")
def list_memberships(call, org):
    members = identity.list_members(call.principal, org)
    page, size = jsonapi.page_params(call.request)
    return jsonapi.document([render.membership(m) for m in members[(page - 1) * size: page * size]],
                            meta=jsonapi.pagination(page, size, len(members)))


@route(bp, "/api/v2/organizations/{org}/organization-memberships", ("POST",))
def create_membership(call, org):
    attrs = jsonapi.data_attributes(call.request)
    member, user = identity.invite_member(call.principal, org, attrs.get("email"))
    return jsonapi.document(render.membership(member, user), status=201,
                            included=[render.user(user)])


@route(bp, "/api/v2/organization-memberships/{membership_id}")
def show_membership(call, membership_id):
    member = identity.get_membership(call.principal, membership_id)
    return jsonapi.document(render.membership(member, identity.find_user(member.user_id)))


@route(bp, "/api/v2/organization-memberships/{membership_id}", ("DELETE",))
def delete_membership(call, membership_id):
    identity.delete_membership(call.principal, membership_id)
    return jsonapi.no_content()
