"""The calling account, users and their authentication tokens."""
from __future__ import annotations

from chalice import Blueprint

from ..services import identity
from . import jsonapi, render
from .routing import route

bp = Blueprint(__name__)


@route(bp, "/api/v2/account/details")
def account_details(call):
    return jsonapi.document(render.user(identity.current_user(call.principal)))


@route(bp, "/api/v2/users/{user_id}")
def show_user(call, user_id):
    return jsonapi.document(render.user(identity.get_user(call.principal, user_id)))


@route(bp, "/api/v2/users/{user_id}/authentication-tokens")
def list_user_tokens(call, user_id):
    tokens = identity.list_user_tokens(call.principal, user_id)
    return jsonapi.document([render.token(t) for t in tokens],
                            meta=jsonapi.pagination(1, max(len(tokens), 1), len(tokens)))


@route(bp, "/api/v2/users/{user_id}/authentication-tokens", ("POST",))
def create_user_token(call, user_id):
    attrs = jsonapi.data_attributes(call.request, required=False)
    description = attrs.get("description")
    if description is not None and not isinstance(description, str):
        description = str(description)
    token, secret = identity.create_user_token(call.principal, user_id, description, attrs.get("expired-at"))
    return jsonapi.document(render.token(token, secret=secret), status=201)


@route(bp, "/api/v2/authentication-tokens/{token_id}")
def show_token(call, token_id):
    return jsonapi.document(render.token(identity.get_token(call.principal, token_id)))


@route(bp, "/api/v2/authentication-tokens/{token_id}", ("DELETE",))
def delete_token(call, token_id):
    identity.delete_token(call.principal, token_id)
    return jsonapi.no_content()
