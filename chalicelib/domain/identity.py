"""Organizations, users, memberships and tokens as the service sees them (storage/identity.py
loads and saves them; only SHA-256 hashes of token secrets are ever kept)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from . import clock
from .errors import Unprocessable

# HCP Terraform's default for a user token created without `expired-at` (go-tfe's tests: 2 years)
USER_TOKEN_YEARS = 2


@dataclass
class Organization:
    """`key` is what every table keys the organization by (its members, workspaces, tokens,
    jobs, tasks): the name it was created with, for good. `name` is its name now, in URLs and
    documents; a rename changes only that (and the name's claim), so nothing is moved."""
    key: str
    name: str
    email: str
    created_at: str
    session_timeout: int | None = None
    session_remember: int | None = None
    collaborator_auth_policy: str = "password"
    cost_estimation_enabled: bool = False
    token_id: str | None = None
    job_seq: int = 0          # Terrakube jobs of the organization (dense: page N is a range)
    default_execution_mode: str = "remote"    # of its workspaces that do not set their own
    default_agent_pool_id: str | None = None


@dataclass
class User:
    id: str
    username: str
    email: str
    created_at: str
    site_admin: bool = False


@dataclass
class Token:
    token_hash: str
    id: str
    owner: str                # "user:<id>" or "organization:<organization key>"
    kind: str                 # user | organization
    created_at: str
    user_id: str | None = None
    org: str | None = None
    description: str | None = None
    expired_at: str | None = None   # after this moment the token authenticates nothing
    created_by: str | None = None   # the user who made an agent token (which acts for no user)

    def seconds_left(self, now: datetime) -> float | None:
        """None for a token that never expires; <= 0 for one that has."""
        if not self.expired_at:
            return None
        return (clock.parse(self.expired_at) - now).total_seconds()


def _years_later(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:      # 29 February, as Go's AddDate: 1 March
        return moment.replace(year=moment.year + years, month=3, day=1)


def token_expiry(value: object, now: datetime, *, default_years: int | None) -> str | None:
    """`expired-at` as a client sends it (ISO-8601 with a zone, in the future), or the default."""
    if value is None:
        if default_years is None:
            return None
        return clock.iso(_years_later(now, default_years))
    pointer = "/data/attributes/expired-at"
    if not isinstance(value, str) or len(value) > 40:
        raise Unprocessable("expired-at must be an ISO-8601 timestamp", pointer=pointer)
    try:
        moment = clock.parse(value)
    except ValueError:
        raise Unprocessable("expired-at must be an ISO-8601 timestamp", pointer=pointer) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment <= now:
        raise Unprocessable("expired-at must be in the future", pointer=pointer)
    return clock.iso(moment)


@dataclass
class Membership:
    """A user in an organization's owners team."""
    org: str
    user_id: str
    id: str
    created_at: str
    team: str = "owners"
    status: str = "active"
