"""Workspaces: the entity, its names and settings, and the lock (held by one holder)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .errors import Conflict, Unprocessable

NAME = re.compile(r"^[A-Za-z0-9_-]{1,90}\Z")
VERSION = re.compile(r"^(latest|\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?|[~><=!]+ ?\d+(\.\d+){0,2})$")
EXECUTION_MODES = ("remote", "local", "agent")
# What a workspace's phases run (OTF's `engine` attribute; Terrakube's iacType): Terraform, or
# OpenTofu where the service has it (TERRALESS_TOFU_BIN).
ENGINES = ("terraform", "tofu")

# JSON:API attribute -> (model field, expected type); everything else in a body is ignored.
SETTINGS = {
    "description": ("description", (str, type(None))),
    "auto-apply": ("auto_apply", bool),
    "terraform-version": ("terraform_version", str),
    "working-directory": ("working_directory", (str, type(None))),
    "execution-mode": ("execution_mode", str),
    "speculative-enabled": ("speculative_enabled", bool),
    "queue-all-runs": ("queue_all_runs", bool),
    "allow-destroy-plan": ("allow_destroy_plan", bool),
    "file-triggers-enabled": ("file_triggers_enabled", bool),
    "trigger-prefixes": ("trigger_prefixes", list),
    "tag-names": ("tag_names", list),
    "engine": ("engine", str),
    "agent-pool-id": ("agent_pool_id", (str, type(None))),
}


def engine_for_client(user_agent: str | None) -> str:
    """The engine of a workspace a client creates without naming one: OpenTofu's own CLI
    creates workspaces for configurations only OpenTofu reads (its `cloud` block)."""
    return "tofu" if (user_agent or "").startswith("OpenTofu/") else "terraform"


# HCP's tag rule: letters, digits, ':', '-' and '_', beginning and ending with a letter or a
# digit; stored lowercase. A bound on a workspace's tags keeps an item and a filter small.
TAG = re.compile(r"^[a-z0-9](?:[a-z0-9:_-]{0,253}[a-z0-9])?\Z")
MAX_TAGS = 100


def validate_tags(names: object, pointer: str) -> list[str]:
    """Tag names, lowercased, each once, in the order given."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Unprocessable("tags must be a list of names", pointer=pointer)
    out: list[str] = []
    for name in names:
        tag = name.lower()
        if not TAG.match(tag):
            raise Unprocessable(f"tag {name[:64]!r} must be 1-255 letters, digits, ':', '-' or '_', "
                                "beginning and ending with a letter or a digit", pointer=pointer)
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise Unprocessable(f"a workspace holds at most {MAX_TAGS} tags", pointer=pointer)
    return out


def tag_id(org: str, name: str) -> str:
    """A tag's id: the same for the same name in one organization (HCP's tags are per org)."""
    return "tag-" + hashlib.sha256(f"{org}\0{name}".encode()).hexdigest()[:16]


def wildcard(pattern: str) -> tuple[str, list[str], str]:
    """HCP's search[wildcard-name]: `*` matches any run of characters. Returns what a name must
    begin with, contain (in order) and end with: "*-prod" ends with "-prod", "app-*" begins
    with "app-", "*net*" contains "net"."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern, [], pattern if pattern else ""
    return parts[0], [p for p in parts[1:-1] if p], parts[-1]


def matches_wildcard(name: str, pattern: str) -> bool:
    begin, middle, end = wildcard(pattern)
    if "*" not in pattern:
        return name == pattern
    if not name.startswith(begin) or not name.endswith(end) or len(name) < len(begin) + len(end):
        return False
    at, rest = len(begin), name[:len(name) - len(end)] if end else name
    for part in middle:
        found = rest.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise Unprocessable("name must be 1-90 letters, digits, '-' or '_'",
                            pointer="/data/attributes/name")
    return name


def validate_settings(attrs: dict) -> dict:
    """Returns {model field: value} for the known settings present in `attrs`."""
    out = {}
    if "operations" in attrs and "execution-mode" not in attrs:
        # the older boolean: HCP maps operations=false to execution mode local
        if not isinstance(attrs["operations"], bool):
            raise Unprocessable("operations must be true or false", pointer="/data/attributes/operations")
        out["execution_mode"] = "remote" if attrs["operations"] else "local"
    for attr, (field, kind) in SETTINGS.items():
        if attr not in attrs:
            continue
        value = attrs[attr]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise Unprocessable(f"{attr} has the wrong type", pointer=f"/data/attributes/{attr}")
        if kind is list and not all(isinstance(v, str) for v in value):
            raise Unprocessable(f"{attr} must be a list of strings", pointer=f"/data/attributes/{attr}")
        if attr == "terraform-version" and not VERSION.match(value):
            raise Unprocessable(f"terraform-version {value!r} is not a version or 'latest'",
                                pointer="/data/attributes/terraform-version")
        if attr == "working-directory" and value and (
                len(value) > 1024 or value.startswith(("/", "\\")) or "\0" in value
                or ".." in value.replace("\\", "/").split("/")):
            raise Unprocessable("working-directory must be a relative path inside the "
                                "configuration (no '..', not absolute)",
                                pointer="/data/attributes/working-directory")
        if attr == "tag-names":
            value = validate_tags(value, "/data/attributes/tag-names")
        if attr == "engine" and value not in ENGINES:
            raise Unprocessable(f"engine must be one of {', '.join(ENGINES)}", pointer="/data/attributes/engine")
        if attr == "execution-mode" and value not in EXECUTION_MODES:
            raise Unprocessable(f"execution-mode must be one of {', '.join(EXECUTION_MODES)}",
                                pointer="/data/attributes/execution-mode")
        out[field] = value
    return out


def _overwrites(attrs: dict) -> bool | None:
    """HCP's setting-overwrites: false defers the workspace's execution mode and agent pool to
    its organization's defaults; true (or naming either) keeps its own."""
    given = attrs.get("setting-overwrites")
    if given is None:
        return None
    if not isinstance(given, dict) or not all(isinstance(given.get(k), (bool, type(None)))
                                              for k in ("execution-mode", "agent-pool")):
        raise Unprocessable("setting-overwrites must map execution-mode and agent-pool to true or false",
                            pointer="/data/attributes/setting-overwrites")
    flags = [given[k] for k in ("execution-mode", "agent-pool") if given.get(k) is not None]
    return None if not flags else any(flags)


def settle_execution(values: dict, attrs: dict, *, current: "Workspace | None",
                     org_default: tuple[str, str | None]) -> dict:
    """The execution mode, agent pool and setting-overwrites `values` (validate_settings') come
    to, for a new workspace (`current` None) or a change. A workspace that names neither
    mode nor pool on create, or turns its overwrites off, takes its organization's defaults."""
    overwrites = _overwrites(attrs)
    named = "execution_mode" in values or "agent_pool_id" in values
    if overwrites is False or (current is None and not named and overwrites is None):
        mode, pool = org_default
        return {**values, "execution_mode": mode, "agent_pool_id": pool, "setting_overwrites": False}
    if not named and overwrites is None:
        return values
    mode = values.get("execution_mode") or (current.execution_mode if current else org_default[0])
    pool = values.get("agent_pool_id", current.agent_pool_id if current else None)
    if "agent_pool_id" in values and values["agent_pool_id"] and mode != "agent":
        raise Unprocessable("agent-pool-id must not be specified unless using 'agent' execution mode",
                            pointer="/data/attributes/agent-pool-id")
    if mode != "agent":
        pool = None
    elif not pool:
        raise Unprocessable("agent-pool-id is required when execution-mode is 'agent'",
                            pointer="/data/attributes/agent-pool-id")
    return {**values, "execution_mode": mode, "agent_pool_id": pool, "setting_overwrites": True}


def check_default_execution(mode: str, pool_id: str | None) -> None:
    """An organization's default-execution-mode and default-agent-pool, as HCP checks them."""
    if mode not in EXECUTION_MODES:
        raise Unprocessable(f"default-execution-mode must be one of {', '.join(EXECUTION_MODES)}",
                            pointer="/data/attributes/default-execution-mode")
    if pool_id and mode != "agent":
        raise Unprocessable("default agent pool must not be specified unless using 'agent' execution mode",
                            pointer="/data/relationships/default-agent-pool")
    if mode == "agent" and not pool_id:
        raise Unprocessable("a default agent pool is required with the 'agent' execution mode",
                            pointer="/data/relationships/default-agent-pool")


def check_safe_delete(ws: "Workspace", managed_resources: int) -> None:
    """HCP's safe delete: not while locked or held by a run, not while its state manages
    resources (HCP's words: go-tfe tells the two refusals apart by them)."""
    if ws.locked or ws.current_run_id:
        raise Conflict("Workspace is currently locked. Workspace must be unlocked before it can be safely deleted")
    if managed_resources:
        raise Conflict("workspace cannot be safely deleted because it is still managing resources")


def check_lock(ws: "Workspace") -> None:
    """A workspace a run holds is locked by that run, as in HCP (a Terrakube job holding it may
    lock it: its disableWorkspace step does)."""
    if ws.locked or ws.held_by_run:
        raise Conflict("workspace is already locked")


def check_unlock(ws: "Workspace", caller: str, *, force: bool) -> None:
    # HCP's words name the holder's kind: go-tfe tells "is locked by Run" from "is locked by User"
    if not ws.locked and ws.held_by_run:
        raise Conflict(f"Unable to unlock workspace. The workspace is locked by Run {ws.current_run_id}: "
                       "it is unlocked when the run ends (cancel or discard it)")
    if not ws.locked:
        raise Conflict("workspace is already unlocked")
    if not force and ws.locked_by != caller:
        holder = "User" if (ws.locked_by or "").startswith("user-") else "Team"
        raise Conflict(f"Unable to unlock workspace. The workspace is locked by {holder} {ws.locked_by}; use force-unlock")


@dataclass
class Workspace:
    """A workspace, and the counters and slots its lists and queue use: `*_seq` count its
    configuration versions, runs and jobs (page N is a seq range); `current_run_id` is the run
    or Terrakube job (job-...) holding it; runs and jobs share one queue."""
    id: str
    org: str
    name: str
    created_at: str
    updated_at: str
    description: str | None = None
    auto_apply: bool = False
    terraform_version: str = "latest"
    working_directory: str | None = None
    execution_mode: str = "remote"
    agent_pool_id: str | None = None    # execution mode "agent": the pool whose agents run it
    setting_overwrites: bool = True     # False: mode and pool follow the organization's defaults
    speculative_enabled: bool = True
    queue_all_runs: bool = False
    allow_destroy_plan: bool = True
    file_triggers_enabled: bool = True
    trigger_prefixes: list[str] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)
    engine: str = "terraform"
    locked: bool = False
    locked_by: str | None = None
    lock_reason: str | None = None
    cv_seq: int = 0
    current_cv_id: str | None = None
    current_cv_seq: int = 0
    run_seq: int = 0
    job_seq: int = 0
    current_run_id: str | None = None
    latest_run_id: str | None = None
    current_sv_id: str | None = None
    current_sv_serial: int | None = None
    # resources its current state manages (HCP's resource-count); None: stored before it was kept
    current_sv_resources: int | None = None

    @property
    def held_by_run(self) -> bool:
        """A run (not a Terrakube job) holds the workspace: HCP shows it locked by that run."""
        return (self.current_run_id or "").startswith("run-")
