"""Agent pools and their tokens (issue 17's API; the agents themselves: services/agents.py). An organization's owners — its users, and its
organization token — manage its pools; another organization's are 404. Agent tokens belong to
a pool and authenticate agents only: on every other route they are refused (identity)."""
from __future__ import annotations

from ..domain import agent_pools as rules
from ..domain.access import Principal
from ..domain.agent_pools import KIND_AGENT, AgentPool
from ..domain.clock import now_iso
from ..domain.errors import NotFound, Unprocessable
from ..domain.identity import Token
from ..domain.ids import new_id
from ..storage import agent_pools as store
from ..storage import agents as agent_store
from ..storage import identity as token_store
from ..storage import workspaces as workspace_store
from . import identity


def _owner(pool_id: str) -> str:
    return f"agent-pool:{pool_id}"


def _workspaces_of(org: str, ids: list[str] | None, pointer: str) -> list[str] | None:
    """Workspace ids a pool names: each must be a workspace of the pool's organization."""
    if ids is None:
        return None
    ids = rules.check_workspace_refs(ids, pointer)
    for workspace_id in ids:
        ws = workspace_store.find(workspace_id) if workspace_id.startswith("ws-") else None
        if ws is None or ws.org != org:
            raise Unprocessable(f"workspace {workspace_id[:40]} is not a workspace of this organization",
                                pointer=pointer)
    return ids


def create(principal: Principal, org: str, attrs: dict, allowed: list[str] | None,
           excluded: list[str] | None) -> AgentPool:
    identity.get_org(principal, org)
    fields = rules.validate_pool(attrs, new=True)
    pool = AgentPool(id=new_id("apool"), org=org, created_at=now_iso(), **fields,
                     allowed_workspace_ids=_workspaces_of(org, allowed, "/data/relationships/allowed-workspaces") or [],
                     excluded_workspace_ids=_workspaces_of(org, excluded, "/data/relationships/excluded-workspaces") or [])
    store.insert(pool)
    return pool


SORTS = {"name": lambda p: p.name, "created-at": lambda p: (p.created_at, p.id)}


def list_in_org(principal: Principal, org: str, query: str | None = None,
                allowed_workspace_name: str | None = None, sort: str | None = None) -> list[AgentPool]:
    """`query` (HCP's q): a part of the name, any case; `allowed_workspace_name`: the pools
    that serve the organization's workspace of that name; `sort`: name or created-at, `-` first
    for descending (name order by default)."""
    identity.get_org(principal, org)
    key = SORTS.get((sort or "name").removeprefix("-"))
    if key is None:
        raise Unprocessable(f"sort must be one of {', '.join(SORTS)}, optionally with '-' first")
    pools = sorted(store.of_org(org), key=key, reverse=(sort or "").startswith("-"))
    if query:
        pools = [p for p in pools if query.lower() in p.name.lower()]
    if allowed_workspace_name:
        ws = workspace_store.find_by_name(org, allowed_workspace_name)
        pools = [p for p in pools if ws is not None and p.serves(ws.id)]
    return pools


def get(principal: Principal, pool_id: str) -> AgentPool:
    pool = store.find(pool_id) if pool_id.startswith("apool-") else None
    if pool is None or not principal.can_see_org(pool.org):
        raise NotFound(f"agent pool {pool_id} not found")
    return pool


def update(principal: Principal, pool_id: str, attrs: dict, allowed: list[str] | None,
           excluded: list[str] | None) -> AgentPool:
    pool = get(principal, pool_id)
    values = rules.validate_pool(attrs, new=False)
    allowed = _workspaces_of(pool.org, allowed, "/data/relationships/allowed-workspaces")
    excluded = _workspaces_of(pool.org, excluded, "/data/relationships/excluded-workspaces")
    if allowed is not None:
        values["allowed_workspace_ids"] = allowed
    if excluded is not None:
        values["excluded_workspace_ids"] = excluded
    if values:
        store.update(pool.id, values)
        for name, value in values.items():
            setattr(pool, name, value)
    return pool


def delete(principal: Principal, pool_id: str) -> None:
    """The pool, its agent tokens, its agents and the phases waiting for them."""
    pool = get(principal, pool_id)
    for token in token_store.tokens_of(_owner(pool.id)):
        token_store.delete_token(token.token_hash)
    agent_store.delete_of_pool(pool.id)
    store.delete(pool.id)
    identity.principal_cache.clear()


def create_token(principal: Principal, pool_id: str, description: object) -> tuple[Token, str]:
    pool = get(principal, pool_id)
    if not isinstance(description, str) or not description.strip() or len(description) > 512:
        raise Unprocessable("an agent token needs a description (1-512 characters)",
                            pointer="/data/attributes/description")
    secret = identity.new_token_secret()
    token = Token(token_hash=identity.hash_token(secret), id=new_id("at"), owner=_owner(pool.id),
                  kind=KIND_AGENT, org=pool.org, description=description, created_at=now_iso(),
                  created_by=principal.user_id)
    token_store.insert_token(token)
    return token, secret


def tokens(principal: Principal, pool_id: str) -> list[Token]:
    return token_store.tokens_of(_owner(get(principal, pool_id).id))
