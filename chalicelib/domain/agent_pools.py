"""Agent pools (HCP Terraform's agents; issue 17): a named pool of an organization whose agents
run the phases of the workspaces it serves. A pool is organization-scoped (it serves every
workspace of the organization but those excluded) or serves only the workspaces allowed.
Agent tokens (kind `agent`) belong to a pool; they authenticate agents only."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Unprocessable

KIND_AGENT = "agent"
MAX_NAME = 90
MAX_WORKSPACES = 500          # allowed or excluded workspaces a pool names (one item holds them)


@dataclass
class AgentPool:
    id: str
    org: str
    name: str
    created_at: str
    organization_scoped: bool = True
    allowed_workspace_ids: list[str] = field(default_factory=list)
    excluded_workspace_ids: list[str] = field(default_factory=list)

    def serves(self, workspace_id: str) -> bool:
        if workspace_id in self.excluded_workspace_ids:
            return False
        return self.organization_scoped or workspace_id in self.allowed_workspace_ids


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME or \
            any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Unprocessable(f"name must be 1-{MAX_NAME} printable characters", pointer="/data/attributes/name")
    return value


def validate_pool(attrs: dict, *, new: bool) -> dict:
    """{field: value} of a pool's attributes as given (name required on create)."""
    out: dict = {}
    if new or "name" in attrs:
        out["name"] = _name(attrs.get("name"))
    if "organization-scoped" in attrs:
        scoped = attrs["organization-scoped"]
        if not isinstance(scoped, bool):
            raise Unprocessable("organization-scoped must be true or false",
                                pointer="/data/attributes/organization-scoped")
        out["organization_scoped"] = scoped
    return out


def check_workspace_refs(ids: list[str], pointer: str) -> list[str]:
    if len(ids) > MAX_WORKSPACES:
        raise Unprocessable(f"a pool names at most {MAX_WORKSPACES} workspaces", pointer=pointer)
    return list(dict.fromkeys(ids))
