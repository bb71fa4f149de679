"""Who is calling, and what they may see. TFE hides other organizations' resources behind 404."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Forbidden, NotFound

KIND_USER = "user"
KIND_ORGANIZATION = "organization"


@dataclass(frozen=True)
class Principal:
    kind: str
    token_id: str
    user_id: str | None = None
    org: str | None = None            # the organization of an organization token
    site_admin: bool = False
    orgs: frozenset[str] = field(default_factory=frozenset)  # a user's memberships

    def can_see_org(self, org: str) -> bool:
        if self.site_admin:
            return True
        if self.kind == KIND_ORGANIZATION:
            return org == self.org
        return org in self.orgs

    def require_org(self, org: str, *, what: str = "organization", ident: str | None = None) -> None:
        if not self.can_see_org(org):
            raise NotFound(f"{what} {ident or org} not found")

    def require_user_or_team(self, action: str) -> None:
        """The reference: 'This endpoint cannot be accessed with organization tokens.'"""
        if self.kind == KIND_ORGANIZATION:
            raise Forbidden(f"organization tokens cannot {action}; use a user or team token")

    def require_user(self, action: str) -> None:
        if self.kind != KIND_USER:
            raise Forbidden(f"only user tokens can {action}")
