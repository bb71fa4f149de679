"""Organizations, users, memberships and tokens as the service sees them (storage/identity.py
loads and saves them; only SHA-256 hashes of token secrets are ever kept)."""
from __future__ import annotations

from dataclasses import dataclass


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


@dataclass
class Membership:
    """A user in an organization's owners team."""
    org: str
    user_id: str
    id: str
    created_at: str
    team: str = "owners"
    status: str = "active"
