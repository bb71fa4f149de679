"""Organizations, users, tokens and memberships in DynamoDB. Access patterns: an organization
by name, all of them (site admin) through by_kind_name; a user by id or email; a token by the
SHA-256 of its secret (every request), by id, by owner; an organization's members (Query org),
a user's organizations (by_user), a membership by id (by_id)."""
from __future__ import annotations

from ..domain.identity import Membership, Organization, Token, User
from . import base
from .models import MembershipModel, OrganizationModel, TokenModel, UserModel


def _converter(entity_type):
    """item -> entity, for entities whose fields are the model's attributes of the same name."""
    return lambda item: entity_type(**{name: getattr(item, name)
                                       for name in entity_type.__dataclass_fields__})


# -- organizations ------------------------------------------------------------------------------

def _org_from(item: OrganizationModel) -> Organization:
    org = _converter(Organization)(item)
    org.job_seq = int(org.job_seq or 0)
    return org


def org_item(org: Organization) -> OrganizationModel:
    return OrganizationModel(**vars(org))


def find_org(name: str) -> Organization | None:
    return base.find(OrganizationModel, _org_from, name)


def all_orgs() -> list[Organization]:
    return [_org_from(i) for i in OrganizationModel.by_kind.query("organization")]


def orgs_named(names: list[str]) -> list[Organization]:
    return [_org_from(i) for i in OrganizationModel.batch_get(names)] if names else []


def insert_org(org: Organization) -> None:
    with base.conditional(f"organization {org.name} already exists"):
        org_item(org).save(condition=OrganizationModel.name.does_not_exist())


def update_org(name: str, values: dict) -> None:
    """`values`: field -> new value (None removes it)."""
    actions = [getattr(OrganizationModel, k).set(v) if v is not None
               else getattr(OrganizationModel, k).remove() for k, v in values.items()]
    with base.conditional(f"organization {name} was deleted concurrently"):
        OrganizationModel(name=name).update(actions=actions,
                                            condition=OrganizationModel.name.exists())


def delete_org(name: str) -> None:
    OrganizationModel(name=name).delete()


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
