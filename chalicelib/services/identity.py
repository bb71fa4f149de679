"""Organizations, users, memberships and tokens. Only SHA-256 hashes of tokens are stored."""
from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time

from pynamodb.exceptions import DoesNotExist

from ..config import settings
from ..domain.access import KIND_ORGANIZATION, KIND_USER, Principal
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound, Unauthorized, Unprocessable
from ..domain.ids import new_id
from ..storage.models import MembershipModel, OrganizationModel, TokenModel, UserModel
from ..storage.repositories import conditional, get_or_404

ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
ADMIN_USER_ID = "user-siteadmin0000001"
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token_secret() -> str:
    # The shape of HCP Terraform tokens: <14>.atlasv1.<67>
    part = lambda n: "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(n))  # noqa: E731
    return f"{part(14)}.atlasv1.{part(67)}"


# -- authentication ----------------------------------------------------------------------------

class _PrincipalCache:
    """Lambda containers are reused: remember a resolved token for a few seconds so a request
    costs one read, not three. Revocations in this process drop the entry at once; other
    processes see them within TERRALESS_TOKEN_CACHE_SECONDS."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, token_hash: str, principal: Principal) -> None:
        ttl = settings().token_cache_seconds
        if ttl > 0:
            with self._lock:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                self._entries[token_hash] = (time.monotonic() + ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


principal_cache = _PrincipalCache()


def authenticate(secret: str | None) -> Principal:
    if not secret:
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    token_hash = hash_token(secret)
    cached = principal_cache.get(token_hash)
    if cached:
        return cached
    try:
        token = TokenModel.get(token_hash)
    except DoesNotExist:
        raise Unauthorized("the token is invalid or has been revoked") from None
    if token.kind == KIND_ORGANIZATION:
        principal = Principal(kind=KIND_ORGANIZATION, token_id=token.id, org=token.org)
    else:
        try:
            user = UserModel.get(token.user_id)
        except DoesNotExist:
            raise Unauthorized("the token's user no longer exists") from None
        orgs = frozenset(m.org for m in MembershipModel.by_user.query(user.id))
        principal = Principal(kind=KIND_USER, token_id=token.id, user_id=user.id,
                              site_admin=user.site_admin, orgs=orgs)
    principal_cache.put(token_hash, principal)
    return principal


def ensure_site_admin(secret: str) -> None:
    """The bootstrap token: that exact string becomes a site-admin user token (idempotent)."""
    try:
        UserModel.get(ADMIN_USER_ID)
    except DoesNotExist:
        UserModel(id=ADMIN_USER_ID, username="admin", email="admin@terraless.local",
                  site_admin=True, created_at=now_iso()).save()
    token_hash = hash_token(secret)
    try:
        TokenModel.get(token_hash)
    except DoesNotExist:
        TokenModel(token_hash=token_hash, id=new_id("at"), owner=f"user:{ADMIN_USER_ID}",
                   kind=KIND_USER, user_id=ADMIN_USER_ID, description="bootstrap site-admin token",
                   created_at=now_iso()).save()


# -- organizations -----------------------------------------------------------------------------

def get_org(principal: Principal, name: str) -> OrganizationModel:
    principal.require_org(name)
    return get_or_404(OrganizationModel, name, "organization")


def list_orgs(principal: Principal) -> list[OrganizationModel]:
    if principal.site_admin:
        return list(OrganizationModel.by_kind.query("organization"))
    names = [principal.org] if principal.kind == KIND_ORGANIZATION else sorted(principal.orgs)
    return [o for o in OrganizationModel.batch_get(names)] if names else []


def create_org(principal: Principal, name: str, email: str) -> OrganizationModel:
    principal.require_user("create organizations")
    if not isinstance(name, str) or not ORG_NAME.match(name):
        raise Unprocessable("name must be 1-40 letters, digits, '-' or '_'",
                            pointer="/data/attributes/name")
    if not isinstance(email, str) or not EMAIL.match(email):
        raise Unprocessable("email is invalid", pointer="/data/attributes/email")
    org = OrganizationModel(name=name, email=email, created_at=now_iso())
    with conditional(f"organization {name} already exists"):
        org.save(condition=OrganizationModel.name.does_not_exist())
    # The creator joins the owners team, as in HCP Terraform.
    _add_member(name, principal.user_id)
    principal_cache.clear()
    return org


def update_org(principal: Principal, name: str, attrs: dict) -> OrganizationModel:
    org = get_org(principal, name)
    actions = []
    if "email" in attrs:
        if not isinstance(attrs["email"], str) or not EMAIL.match(attrs["email"]):
            raise Unprocessable("email is invalid", pointer="/data/attributes/email")
        actions.append(OrganizationModel.email.set(attrs["email"]))
    for attr, field in (("session-timeout", OrganizationModel.session_timeout),
                        ("session-remember", OrganizationModel.session_remember)):
        if attr in attrs:
            if not isinstance(attrs[attr], int) or isinstance(attrs[attr], bool):
                raise Unprocessable(f"{attr} must be an integer", pointer=f"/data/attributes/{attr}")
            actions.append(field.set(attrs[attr]))
    if "cost-estimation-enabled" in attrs:
        if not isinstance(attrs["cost-estimation-enabled"], bool):
            raise Unprocessable("cost-estimation-enabled must be a boolean")
        actions.append(OrganizationModel.cost_estimation_enabled.set(attrs["cost-estimation-enabled"]))
    if "name" in attrs and attrs["name"] != name:
        raise Unprocessable("renaming organizations is not supported", pointer="/data/attributes/name")
    if actions:
        with conditional(f"organization {name} was deleted concurrently"):
            org.update(actions=actions, condition=OrganizationModel.name.exists())
    return org


def delete_org(principal: Principal, name: str) -> None:
    from . import workspaces  # the workspaces of an organization go with it

    org = get_org(principal, name)
    principal.require_user("delete organizations")
    for ws in list(workspaces.list_all_in_org(name)):
        ws.delete()
    for member in list(MembershipModel.query(name)):
        member.delete()
    if org.token_id:
        _delete_tokens_of(f"organization:{name}")
    org.delete()
    principal_cache.clear()


# -- organization tokens -----------------------------------------------------------------------

def create_org_token(principal: Principal, org_name: str) -> tuple[TokenModel, str]:
    """One organization token at a time: creating a new one revokes the previous one."""
    org = get_org(principal, org_name)
    principal.require_user("manage organization tokens")
    _delete_tokens_of(f"organization:{org_name}")
    secret = new_token_secret()
    token = TokenModel(token_hash=hash_token(secret), id=new_id("at"),
                       owner=f"organization:{org_name}", kind=KIND_ORGANIZATION, org=org_name,
                       description="organization token", created_at=now_iso())
    token.save()
    org.update(actions=[OrganizationModel.token_id.set(token.id)])
    return token, secret


def delete_org_token(principal: Principal, org_name: str) -> None:
    org = get_org(principal, org_name)
    principal.require_user("manage organization tokens")
    if not _delete_tokens_of(f"organization:{org_name}"):
        raise NotFound(f"organization {org_name} has no token")
    org.update(actions=[OrganizationModel.token_id.remove()])


def _delete_tokens_of(owner: str) -> int:
    count = 0
    for token in list(TokenModel.by_owner.query(owner)):
        TokenModel(token_hash=token.token_hash).delete()
        count += 1
    principal_cache.clear()
    return count


# -- users, memberships, user tokens -------------------------------------------------------------

def _add_member(org: str, user_id: str | None) -> MembershipModel | None:
    if not user_id:
        return None
    try:
        return MembershipModel.get(org, user_id)
    except DoesNotExist:
        member = MembershipModel(org=org, user_id=user_id, id=new_id("ou"), created_at=now_iso())
        member.save()
        return member


def get_user(principal: Principal, user_id: str) -> UserModel:
    """Visible to themself, site admins, and anyone who shares an organization with them."""
    user = get_or_404(UserModel, user_id, "user")
    if principal.site_admin or principal.user_id == user_id:
        return user
    if any(principal.can_see_org(m.org) for m in MembershipModel.by_user.query(user_id)):
        return user
    raise NotFound(f"user {user_id} not found")


def invite_member(principal: Principal, org_name: str, email: str) -> tuple[MembershipModel, UserModel]:
    get_org(principal, org_name)
    if not isinstance(email, str) or not EMAIL.match(email):
        raise Unprocessable("email is invalid", pointer="/data/attributes/email")
    users = list(UserModel.by_email.query(email, limit=1))
    if users:
        user = users[0]
    else:
        user = UserModel(id=new_id("user"), username=email.split("@")[0], email=email,
                         created_at=now_iso())
        user.save()
    try:
        MembershipModel.get(org_name, user.id)
        raise Conflict(f"{email} is already a member of {org_name}")
    except DoesNotExist:
        pass
    member = _add_member(org_name, user.id)
    principal_cache.clear()
    return member, user  # type: ignore[return-value]


def list_members(principal: Principal, org_name: str) -> list[MembershipModel]:
    get_org(principal, org_name)
    return list(MembershipModel.query(org_name))


def get_membership(principal: Principal, membership_id: str) -> MembershipModel:
    found = list(MembershipModel.by_id.query(membership_id, limit=1))
    if not found or not principal.can_see_org(found[0].org):
        raise NotFound(f"organization membership {membership_id} not found")
    return found[0]


def delete_membership(principal: Principal, membership_id: str) -> None:
    member = get_membership(principal, membership_id)
    MembershipModel(org=member.org, user_id=member.user_id).delete()
    principal_cache.clear()


def create_user_token(principal: Principal, user_id: str, description: str | None) -> tuple[TokenModel, str]:
    user = get_or_404(UserModel, user_id, "user")
    if not (principal.site_admin or principal.user_id == user_id):
        raise NotFound(f"user {user_id} not found")
    secret = new_token_secret()
    token = TokenModel(token_hash=hash_token(secret), id=new_id("at"), owner=f"user:{user.id}",
                       kind=KIND_USER, user_id=user.id, description=description,
                       created_at=now_iso())
    token.save()
    return token, secret


def list_user_tokens(principal: Principal, user_id: str) -> list[TokenModel]:
    if not (principal.site_admin or principal.user_id == user_id):
        raise NotFound(f"user {user_id} not found")
    return list(TokenModel.by_owner.query(f"user:{user_id}"))


def get_token(principal: Principal, token_id: str) -> TokenModel:
    found = list(TokenModel.by_id.query(token_id, limit=1))
    if not found:
        raise NotFound(f"authentication token {token_id} not found")
    token = found[0]
    allowed = principal.site_admin or (token.user_id and token.user_id == principal.user_id) or \
        (token.org and principal.kind == KIND_USER and token.org in principal.orgs)
    if not allowed:
        raise NotFound(f"authentication token {token_id} not found")
    return token


def delete_token(principal: Principal, token_id: str) -> None:
    token = get_token(principal, token_id)
    TokenModel(token_hash=token.token_hash).delete()
    principal_cache.clear()


def current_user(principal: Principal) -> UserModel:
    principal.require_user("read account details")
    return get_or_404(UserModel, principal.user_id, "user")


def system_principal() -> Principal:
    """The service acting on its own (auto-queued runs, signed log URLs)."""
    return Principal(kind=KIND_USER, token_id="system", site_admin=True)
