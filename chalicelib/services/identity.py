"""Organizations, users, memberships and tokens. Only SHA-256 hashes of tokens are stored."""
from __future__ import annotations

import hashlib
import re
import secrets

from ..domain.access import KIND_ORGANIZATION, KIND_USER, Principal
from ..domain import clock
from ..domain import workspaces as workspace_rules
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound, Unauthorized, Unprocessable
from ..domain.identity import USER_TOKEN_YEARS, Membership, Organization, Token, User, token_expiry
from ..domain.ids import new_id
from ..storage import identity as store
from ..storage import workspaces as workspace_store
from . import organization_names as names
from .caching import TtlCache
from .organization_names import ORG_NAME

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\Z")   # at most 254 characters, as SMTP
ADMIN_USER_ID = "user-siteadmin0000001"
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token_secret() -> str:
    # The shape of HCP Terraform tokens: <14>.atlasv1.<67>
    part = lambda n: "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(n))  # noqa: E731
    return f"{part(14)}.atlasv1.{part(67)}"


# -- authentication ----------------------------------------------------------------------------

# a resolved token, remembered for a few seconds (caching.py): a request costs one read, not three
principal_cache: TtlCache[Principal] = TtlCache()


def authenticate(secret: str | None) -> Principal:
    if not secret:
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    token_hash = hash_token(secret)
    cached = principal_cache.get(token_hash)
    if cached:
        return cached
    token = store.find_token(token_hash)
    if token is None:
        raise Unauthorized("the token is invalid or has been revoked")
    seconds_left = token.seconds_left(clock.now())
    if seconds_left is not None and seconds_left <= 0:
        raise Unauthorized("the token has expired")
    if token.kind not in (KIND_ORGANIZATION, KIND_USER):
        # an agent token (agent_pools) authenticates agents only, on their own routes
        raise Unauthorized("this token authenticates agents only")
    if token.kind == KIND_ORGANIZATION:
        principal = Principal(kind=KIND_ORGANIZATION, token_id=token.id, org=token.org)
    else:
        user = store.find_user(token.user_id)
        if user is None:
            raise Unauthorized("the token's user no longer exists")
        principal = Principal(kind=KIND_USER, token_id=token.id, user_id=user.id,
                              site_admin=user.site_admin, orgs=store.orgs_of_user(user.id))
    # an expiring token is remembered no longer than it lives
    principal_cache.put(token_hash, principal, ttl=seconds_left)
    return principal


def ensure_site_admin(secret: str) -> None:
    """The bootstrap token: that exact string becomes a site-admin user token (idempotent)."""
    if store.find_user(ADMIN_USER_ID) is None:
        _ignoring_conflict(store.insert_user, User(
            id=ADMIN_USER_ID, username="admin", email="admin@terraless.local", site_admin=True,
            created_at=now_iso()))
    token_hash = hash_token(secret)
    if store.find_token(token_hash) is None:
        _ignoring_conflict(store.insert_token, Token(
            token_hash=token_hash, id=new_id("at"), owner=f"user:{ADMIN_USER_ID}", kind=KIND_USER,
            user_id=ADMIN_USER_ID, description="bootstrap site-admin token", created_at=now_iso()))


def first_site_admin_token() -> str | None:
    """A new stack's first site-admin token, once: None when its site admin exists already
    (tokens are shown only when created; more come from the API)."""
    if store.find_user(ADMIN_USER_ID) is not None:
        return None
    secret = new_token_secret()
    ensure_site_admin(secret)
    return secret


def _ignoring_conflict(insert, entity) -> None:
    """Another process of the stack created it first: that is the same outcome."""
    try:
        insert(entity)
    except Conflict:
        pass


# -- organizations -----------------------------------------------------------------------------
#
# Routes name an organization by its current name; the service works with its key (the name it
# was created with, which a rename keeps): organization_names.py resolves one into the other.

def get_org(principal: Principal, key: str) -> Organization:
    principal.require_org(key)
    org = store.find_org(key)
    if org is None:
        raise NotFound(f"organization {key} not found")
    return names.remember(org)


def list_orgs(principal: Principal, query: str | None = None) -> list[Organization]:
    """The organizations the principal sees; `query` (HCP's `q`) keeps those whose name or
    email contains it, case-insensitively."""
    if principal.site_admin:
        orgs = store.all_orgs()
    else:
        keys = [principal.org] if principal.kind == KIND_ORGANIZATION else list(principal.orgs)
        orgs = store.orgs_keyed(keys)
    if query:
        wanted = query.lower()
        orgs = [org for org in orgs if wanted in org.name.lower() or wanted in (org.email or "").lower()]
    return sorted(orgs, key=lambda org: org.name)


def _valid_name(name: object) -> str:
    if not isinstance(name, str) or not ORG_NAME.match(name):
        raise Unprocessable("name must be 1-40 letters, digits, '-' or '_'",
                            pointer="/data/attributes/name")
    return name


def create_org(principal: Principal, name: str, email: str, default_mode: object = "remote") -> Organization:
    """`default_mode`: the execution mode of its workspaces that do not choose one ('agent'
    needs a pool, which a new organization has not: set it afterwards)."""
    principal.require_user("create organizations")
    _valid_name(name)
    if not isinstance(email, str) or not EMAIL.match(email):
        raise Unprocessable("email is invalid", pointer="/data/attributes/email")
    if not isinstance(default_mode, str):
        raise Unprocessable("default-execution-mode must be a string", pointer="/data/attributes/default-execution-mode")
    workspace_rules.check_default_execution(default_mode, None)
    # the name is the key, unless a renamed organization still holds that key: then a key no
    # name can be ('.' is not allowed in names)
    key = name if store.find_org(name) is None else f"{name}.{secrets.token_hex(4)}"
    org = Organization(key=key, name=name, email=email, created_at=now_iso(), default_execution_mode=default_mode)
    store.insert_org(org)
    # The creator joins the owners team, as in HCP Terraform.
    _add_member(key, principal.user_id)
    principal_cache.clear()
    return org


def _default_execution(org: Organization, attrs: dict, default_pool: str | None | bool) -> dict:
    """default-execution-mode and the default-agent-pool relationship (`default_pool`: False
    when the request does not name it). Leaving 'agent' drops the pool."""
    if "default-execution-mode" not in attrs and default_pool is False:
        return {}
    mode = attrs.get("default-execution-mode", org.default_execution_mode)
    if not isinstance(mode, str):
        raise Unprocessable("default-execution-mode must be a string", pointer="/data/attributes/default-execution-mode")
    pool = org.default_agent_pool_id if default_pool is False else default_pool
    if mode != "agent" and default_pool is False:
        pool = None
    workspace_rules.check_default_execution(mode, pool)
    from . import workspaces  # lazy: workspaces reads organizations through this module
    workspaces.check_pool(org.key, pool, None, pointer="/data/relationships/default-agent-pool")
    return {"default_execution_mode": mode, "default_agent_pool_id": pool}


def update_org(principal: Principal, key: str, attrs: dict,
               default_pool: str | None | bool = False) -> Organization:
    org = get_org(principal, key)
    values = _default_execution(org, attrs, default_pool)
    if "email" in attrs:
        if not isinstance(attrs["email"], str) or not EMAIL.match(attrs["email"]):
            raise Unprocessable("email is invalid", pointer="/data/attributes/email")
        values["email"] = attrs["email"]
    for attr, field in (("session-timeout", "session_timeout"),
                        ("session-remember", "session_remember")):
        if attr in attrs:
            if not isinstance(attrs[attr], int) or isinstance(attrs[attr], bool):
                raise Unprocessable(f"{attr} must be an integer", pointer=f"/data/attributes/{attr}")
            values[field] = attrs[attr]
    if "cost-estimation-enabled" in attrs:
        if not isinstance(attrs["cost-estimation-enabled"], bool):
            raise Unprocessable("cost-estimation-enabled must be a boolean")
        values["cost_estimation_enabled"] = attrs["cost-estimation-enabled"]
    new_name = _valid_name(attrs["name"]) if "name" in attrs else org.name
    if new_name != org.name:
        # every URL of the organization changes: its owners only, not its token
        principal.require_user("rename organizations")
    if new_name != org.name:
        store.rename_org(org, new_name, values)
        names.forget(org)
        org.name = new_name
    elif values:
        store.update_org(key, values)
    for field, value in values.items():
        setattr(org, field, value)
    if "default_execution_mode" in values:
        from . import workspaces  # lazy: see _default_execution
        workspaces.follow_org_defaults(org.key, org.default_execution_mode, org.default_agent_pool_id)
    return names.remember(org)


def delete_org(principal: Principal, key: str) -> None:
    org = get_org(principal, key)
    principal.require_user("delete organizations")
    for ws in workspace_store.of_org(key):     # the workspaces of an organization go with it
        workspace_store.delete(ws.id)
    for member in store.members_of(key):
        store.delete_membership(member.org, member.user_id)
    if org.token_id:
        _delete_tokens_of(f"organization:{key}")
    store.delete_org(org)
    names.forget(org)
    principal_cache.clear()


# -- organization tokens -----------------------------------------------------------------------

def create_org_token(principal: Principal, key: str, expired_at: object = None) -> tuple[Token, str]:
    """One organization token at a time: creating a new one revokes the previous one."""
    expiry = token_expiry(expired_at, clock.now(), default_years=None)
    get_org(principal, key)
    principal.require_user("manage organization tokens")
    _delete_tokens_of(f"organization:{key}")
    secret = new_token_secret()
    token = Token(token_hash=hash_token(secret), id=new_id("at"), owner=f"organization:{key}",
                  kind=KIND_ORGANIZATION, org=key, description="organization token",
                  created_at=now_iso(), expired_at=expiry)
    store.insert_token(token)
    store.update_org(key, {"token_id": token.id})
    return token, secret


def get_org_token(principal: Principal, key: str) -> Token:
    """The organization token's metadata (never its secret)."""
    organization = get_org(principal, key)
    principal.require_user("read organization tokens")
    token = store.find_token_by_id(organization.token_id) if organization.token_id else None
    if token is None:
        raise NotFound(f"organization {organization.name} has no authentication token")
    return token


def delete_org_token(principal: Principal, key: str) -> None:
    get_org(principal, key)
    principal.require_user("manage organization tokens")
    if not _delete_tokens_of(f"organization:{key}"):
        raise NotFound(f"organization {key} has no token")
    store.update_org(key, {"token_id": None})


def _delete_tokens_of(owner: str) -> int:
    tokens = store.tokens_of(owner)
    for token in tokens:
        store.delete_token(token.token_hash)
    principal_cache.clear()
    return len(tokens)


# -- users, memberships, user tokens -------------------------------------------------------------

def _add_member(org: str, user_id: str | None) -> Membership | None:
    if not user_id:
        return None
    member = store.find_membership(org, user_id)
    if member is None:
        member = Membership(org=org, user_id=user_id, id=new_id("ou"), created_at=now_iso())
        store.insert_membership(member)
    return member


def _user(user_id: str) -> User:
    user = store.find_user(user_id) if user_id else None
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def get_user(principal: Principal, user_id: str) -> User:
    """Visible to themself, site admins, and anyone who shares an organization with them."""
    user = _user(user_id)
    if principal.site_admin or principal.user_id == user_id:
        return user
    if any(principal.can_see_org(org) for org in store.orgs_of_user(user_id)):
        return user
    raise NotFound(f"user {user_id} not found")


def find_user(user_id: str) -> User | None:
    """For rendering who did something (a run's created-by); None if the user is gone."""
    return store.find_user(user_id)


def invite_member(principal: Principal, key: str, email: str) -> tuple[Membership, User]:
    # a member can create runs: an organization token (which cannot) must not make one
    principal.require_user_or_team("invite organization members")
    get_org(principal, key)
    if not isinstance(email, str) or not EMAIL.match(email):
        raise Unprocessable("email is invalid", pointer="/data/attributes/email")
    user = store.find_user_by_email(email)
    if user is None:
        user = User(id=new_id("user"), username=email.split("@")[0], email=email,
                    created_at=now_iso())
        store.insert_user(user)
    if store.find_membership(key, user.id) is not None:
        raise Conflict(f"{email} is already a member of {key}")
    member = _add_member(key, user.id)
    principal_cache.clear()
    return member, user  # type: ignore[return-value]


def list_members(principal: Principal, key: str) -> list[Membership]:
    get_org(principal, key)
    return store.members_of(key)


def get_membership(principal: Principal, membership_id: str) -> Membership:
    member = store.find_membership_by_id(membership_id)
    if member is None or not principal.can_see_org(member.org):
        raise NotFound(f"organization membership {membership_id} not found")
    return member


def delete_membership(principal: Principal, membership_id: str) -> None:
    principal.require_user_or_team("remove organization members")
    member = get_membership(principal, membership_id)
    store.delete_membership(member.org, member.user_id)
    principal_cache.clear()


def create_user_token(principal: Principal, user_id: str, description: str | None,
                      expired_at: object = None) -> tuple[Token, str]:
    expiry = token_expiry(expired_at, clock.now(), default_years=USER_TOKEN_YEARS)
    user = _user(user_id)
    if not (principal.site_admin or principal.user_id == user_id):
        raise NotFound(f"user {user_id} not found")
    secret = new_token_secret()
    token = Token(token_hash=hash_token(secret), id=new_id("at"), owner=f"user:{user.id}",
                  kind=KIND_USER, user_id=user.id, description=description, created_at=now_iso(),
                  expired_at=expiry)
    store.insert_token(token)
    return token, secret


def list_user_tokens(principal: Principal, user_id: str) -> list[Token]:
    if not (principal.site_admin or principal.user_id == user_id):
        raise NotFound(f"user {user_id} not found")
    return store.tokens_of(f"user:{user_id}")


def get_token(principal: Principal, token_id: str) -> Token:
    token = store.find_token_by_id(token_id)
    if token is None:
        raise NotFound(f"authentication token {token_id} not found")
    allowed = principal.site_admin or (token.user_id and token.user_id == principal.user_id) or \
        (token.org and principal.kind == KIND_USER and token.org in principal.orgs)
    if not allowed:
        raise NotFound(f"authentication token {token_id} not found")
    return token


def delete_token(principal: Principal, token_id: str) -> None:
    token = get_token(principal, token_id)
    store.delete_token(token.token_hash)
    principal_cache.clear()


def current_user(principal: Principal) -> User:
    principal.require_user("read account details")
    return _user(principal.user_id)


def acting_for(user_id: str | None) -> Principal:
    """The service acting on a user's behalf (a CTS task's triggered runs): what it creates
    records that user."""
    return Principal(kind=KIND_USER, token_id="system", user_id=user_id, site_admin=True)


def system_principal() -> Principal:
    """The service acting on its own (auto-queued runs, signed log URLs)."""
    return Principal(kind=KIND_USER, token_id="system", site_admin=True)
