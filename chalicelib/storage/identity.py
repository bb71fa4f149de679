"""Organizations, users, tokens and memberships in DynamoDB. Access patterns: an organization
by key, its key by its current name (a claim item), all of them (site admin) through by_kind_name; a user by id or email; a token by the
SHA-256 of its secret (every request), by id, by owner; an organization's members (Query org),
a user's organizations (by_user), a membership by id (by_id)."""
from __future__ import annotations

from ..domain.errors import Conflict
from ..domain.identity import Membership, Organization, Token, User
from . import base
from .models import MembershipModel, OrganizationModel, OrganizationNameModel, TokenModel, UserModel


def _converter(entity_type):
    """item -> entity, for entities whose fields are the model's attributes of the same name."""
    return lambda item: entity_type(**{name: getattr(item, name)
                                       for name in entity_type.__dataclass_fields__})


# -- organizations ------------------------------------------------------------------------------
#
# An organization is keyed by the name it was created with (Organization.key) and found by its
# current name through a claim item `name#<name>` (OrganizationNameModel). Organizations made
# before claims existed have none: their key is their name as long as they carry no
# display_name (find_org_key).

_ORG_FIELDS = [f for f in Organization.__dataclass_fields__ if f not in ("key", "name")]


def _claim(name: str) -> str:
    return f"name#{name}"


def _org_from(item: OrganizationModel) -> Organization:
    org = Organization(key=item.name, name=item.display_name or item.name,
                       **{f: getattr(item, f) for f in _ORG_FIELDS})
    org.job_seq = int(org.job_seq or 0)
    return org


def org_item(org: Organization) -> OrganizationModel:
    return OrganizationModel(name=org.key, display_name=org.name if org.name != org.key else None,
                             **{f: getattr(org, f) for f in _ORG_FIELDS})


def find_org(key: str) -> Organization | None:
    return base.find(OrganizationModel, _org_from, key)


def find_org_key(name: str) -> str | None:
    """The key of the organization named `name` now: its claim (one GetItem); an organization
    older than claims is found under its own name, unless it was renamed since."""
    try:
        return OrganizationNameModel.get(_claim(name)).org_key
    except OrganizationNameModel.DoesNotExist:
        pass
    legacy = find_org(name)
    return legacy.key if legacy is not None and legacy.name == name else None


def all_orgs() -> list[Organization]:
    return [_org_from(i) for i in OrganizationModel.by_kind.query("organization")]


def orgs_keyed(keys: list[str]) -> list[Organization]:
    return [_org_from(i) for i in OrganizationModel.batch_get(keys)] if keys else []


def insert_org(org: Organization) -> None:
    """The organization and the claim of its name, in one transaction: two creators of one
    name cannot both succeed."""
    legacy = find_org(org.name)
    if legacy is not None and legacy.name == org.name:
        raise Conflict(f"organization {org.name} already exists")
    with base.conditional(f"organization {org.name} already exists"), base.transaction() as tx:
        tx.save(OrganizationNameModel(_claim(org.name), org_key=org.key),
                condition=OrganizationNameModel.name.does_not_exist())
        tx.save(org_item(org), condition=OrganizationModel.name.does_not_exist())


def rename_org(org: Organization, new_name: str, values: dict) -> None:
    """The claim moves from the old name to the new one and the organization takes the new
    name (and the other `values` of the same request: a refused rename changes nothing), in
    one transaction conditioned on its name being still the one read."""
    legacy = find_org(new_name)
    if legacy is not None and legacy.name == new_name:
        raise Conflict(f"organization {new_name} already exists")
    display = OrganizationModel.display_name
    still_named = (display == org.name) if org.name != org.key else display.does_not_exist()
    with base.conditional(f"organization {new_name} already exists, or {org.name} changed "
                          "concurrently"), base.transaction() as tx:
        tx.delete(OrganizationNameModel(_claim(org.name)))
        tx.save(OrganizationNameModel(_claim(new_name), org_key=org.key),
                condition=OrganizationNameModel.name.does_not_exist())
        tx.update(OrganizationModel(name=org.key),
                  actions=[display.set(new_name) if new_name != org.key else display.remove(),
                           *_actions(values)],
                  condition=OrganizationModel.name.exists() & still_named)


def _actions(values: dict) -> list:
    return [getattr(OrganizationModel, k).set(v) if v is not None
            else getattr(OrganizationModel, k).remove() for k, v in values.items()]


def update_org(key: str, values: dict) -> None:
    """`values`: field -> new value (None removes it)."""
    actions = _actions(values)
    with base.conditional(f"organization {key} was deleted concurrently"):
        OrganizationModel(name=key).update(actions=actions,
                                           condition=OrganizationModel.name.exists())


def delete_org(org: Organization) -> None:
    with base.transaction() as tx:
        tx.delete(OrganizationNameModel(_claim(org.name)))
        tx.delete(OrganizationModel(name=org.key))


# -- users ----------------------------------------------------------------------------------------

_user_from = _converter(User)


def find_user(user_id: str) -> User | None:
    return base.find(UserModel, _user_from, user_id)


def find_user_by_email(email: str) -> User | None:
    return base.first(UserModel.by_email.query(email, limit=1), _user_from)


def insert_user(user: User) -> None:
    with base.conditional(f"user {user.id} already exists"):
        UserModel(**vars(user)).save(condition=UserModel.id.does_not_exist())


# -- tokens ---------------------------------------------------------------------------------------

_token_from = _converter(Token)


def find_token(token_hash: str) -> Token | None:
    return base.find(TokenModel, _token_from, token_hash)


def find_token_by_id(token_id: str) -> Token | None:
    return base.first(TokenModel.by_id.query(token_id, limit=1), _token_from)


def tokens_of(owner: str) -> list[Token]:
    return [_token_from(i) for i in TokenModel.by_owner.query(owner)]


def insert_token(token: Token) -> None:
    with base.conditional("token collision"):
        TokenModel(**vars(token)).save(condition=TokenModel.token_hash.does_not_exist())


def delete_token(token_hash: str) -> None:
    TokenModel(token_hash=token_hash).delete()


# -- memberships ----------------------------------------------------------------------------------

_member_from = _converter(Membership)


def find_membership(org: str, user_id: str) -> Membership | None:
    return base.find(MembershipModel, _member_from, org, user_id)


def find_membership_by_id(membership_id: str) -> Membership | None:
    return base.first(MembershipModel.by_id.query(membership_id, limit=1), _member_from)


def members_of(org: str) -> list[Membership]:
    return [_member_from(i) for i in MembershipModel.query(org)]


def orgs_of_user(user_id: str) -> frozenset[str]:
    return frozenset(m.org for m in MembershipModel.by_user.query(user_id))


def insert_membership(member: Membership) -> None:
    with base.conditional(f"user {member.user_id} is already a member of {member.org}"):
        MembershipModel(**vars(member)).save(condition=MembershipModel.user_id.does_not_exist())


def delete_membership(org: str, user_id: str) -> None:
    MembershipModel(org=org, user_id=user_id).delete()
