"""Consul-Terraform-Sync task definitions: validation and defaults, as CTS applies them.

CTS answers 400 for invalid task fields (missing module or condition, unknown fields, a bad
cron expression, buffer min > max)."""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass

from . import patterns
from .errors import BadRequest
from .task_modules import META_ARGUMENTS, is_identifier

# A task's name labels its module in the generated HCL: an identifier (domain/task_modules.py)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,89}")
MAX_BUFFER_SECONDS = 900       # SQS DelaySeconds, which schedules a buffer's end
MAX_MODULE_INPUT = 64 * 1024   # bytes of module_input + variables, as JSON
MAX_TEXT = {"module": 1024, "version": 128, "terraform_version": 64, "description": 4096}
FIELDS = {"buffer_period", "condition", "description", "enabled", "module", "module_input",
          "name", "providers", "variables", "version", "terraform_version",
          "terraform_cloud_workspace", "services"}
CONDITIONS = {"schedule", "services", "catalog-services", "consul-kv"}
# CTS's global defaults: buffer_period enabled, min 5s, max 20s
DEFAULT_BUFFER = {"enabled": True, "min": "5s", "max": "20s"}
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def duration_seconds(text: str, field: str) -> int:
    match = _DURATION.fullmatch(text or "") if isinstance(text, str) and len(text) <= 16 else None
    if not match or not text:
        raise BadRequest(f"{field} must be a duration such as 5s, 1m or 1h30m")
    h, m, s = (int(g) if g else 0 for g in match.groups())
    seconds = h * 3600 + m * 60 + s
    if seconds > MAX_BUFFER_SECONDS:
        raise BadRequest(f"{field} must be at most {MAX_BUFFER_SECONDS}s")
    return seconds


def cron_is_valid(expression: str) -> bool:
    """5 fields, or 6-7 with seconds first (and an optional year), as CTS's cronexpr accepts."""
    from croniter import croniter  # lazy: only schedule conditions need cron
    fields = expression.split()
    if len(fields) == 7:
        fields = fields[:6]
    if len(expression) > 256:
        return False
    if len(fields) == 6:
        valid = croniter.is_valid(" ".join(fields), second_at_beginning=True)
    else:
        valid = len(fields) == 5 and croniter.is_valid(expression)
    if not valid:
        return False
    # a date that never comes (`0 0 30 2 *`) is as invalid as a malformed one
    from datetime import datetime, timezone  # lazy: as above
    try:
        next_cron_time(expression, datetime.now(timezone.utc))
    except Exception:  # noqa: BLE001 - croniter raises several kinds for impossible dates
        return False
    return True


def normalize(task: object) -> dict:
    """A validated task object with every field present and CTS's defaults filled in."""
    if not isinstance(task, dict):
        raise BadRequest("the request body needs a 'task' object")
    unknown = set(task) - FIELDS
    if unknown:
        raise BadRequest(f"unknown task field(s): {', '.join(sorted(unknown))}")
    name = task.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadRequest("task name is required: a letter or '_', then letters, digits, '-' "
                         "and '_' (at most 90)")
    module = task.get("module")
    if not isinstance(module, str) or not module.strip():
        raise BadRequest(f"task {name}: module is required")
    condition = task.get("condition")
    if not isinstance(condition, dict) or len(condition) != 1 or set(condition) - CONDITIONS:
        raise BadRequest(f"task {name}: exactly one condition is required, one of "
                         f"{', '.join(sorted(CONDITIONS))}")
    kind, spec = next(iter(condition.items()))
    if not isinstance(spec, dict):
        raise BadRequest(f"task {name}: condition.{kind} must be an object")
    if kind == "schedule" and (not isinstance(spec.get("cron"), str) or not cron_is_valid(spec["cron"])):
        raise BadRequest(f"task {name}: condition.schedule.cron is not a valid cron expression")
    if kind in ("services", "catalog-services"):
        if not (spec.get("names") or spec.get("regexp")):
            raise BadRequest(f"task {name}: condition.{kind} needs names or regexp")
        names = spec.get("names") or []
        if not isinstance(names, list) or len(names) > 256 or \
                not all(isinstance(n, str) and 0 < len(n) <= 256 for n in names):
            raise BadRequest(f"task {name}: condition.{kind}.names must be up to 256 names")
        if spec.get("regexp"):
            patterns.check(spec["regexp"], f"task {name}: condition.{kind}.regexp")
    if kind == "consul-kv" and not isinstance(spec.get("path"), str):
        raise BadRequest(f"task {name}: condition.consul-kv needs a path")
    for field, kind_ in (("description", str), ("version", str), ("terraform_version", str),
                         ("enabled", bool), ("providers", list), ("variables", dict),
                         ("module_input", dict), ("terraform_cloud_workspace", dict)):
        if task.get(field) is not None and not isinstance(task[field], kind_):
            raise BadRequest(f"task {name}: {field} has the wrong type")
    for field, limit in MAX_TEXT.items():
        if isinstance(task.get(field), str) and len(task[field]) > limit:
            raise BadRequest(f"task {name}: {field} is longer than {limit} characters")
    if not all(is_identifier(p) for p in task.get("providers") or []):
        raise BadRequest(f"task {name}: providers must be a list of provider names (identifiers)")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in (task.get("variables") or {}).items()):
        raise BadRequest(f"task {name}: variables must map names to strings")
    keys = list(task.get("variables") or {}) + list(task.get("module_input") or {})
    bad = [k for k in keys if not is_identifier(k) or k in META_ARGUMENTS]
    if bad:
        raise BadRequest(f"task {name}: {bad[0][:64]!r} cannot be a variable name: an identifier "
                         f"is required, and not one of {', '.join(sorted(META_ARGUMENTS))}")
    if len(json.dumps([task.get("variables") or {}, task.get("module_input") or {}])) > MAX_MODULE_INPUT:
        raise BadRequest(f"task {name}: variables and module_input exceed {MAX_MODULE_INPUT} bytes")
    buffer = {**DEFAULT_BUFFER, **({"enabled": False} if kind == "schedule" else {})}
    given = task.get("buffer_period")
    if given is not None:
        if not isinstance(given, dict) or set(given) - {"enabled", "min", "max"}:
            raise BadRequest(f"task {name}: buffer_period takes enabled, min and max")
        buffer.update(given)
        if "min" in given and "max" not in given:
            # CTS: max defaults to 4 times min
            buffer["max"] = f"{4 * duration_seconds(given['min'], 'buffer_period.min')}s"
    low = duration_seconds(buffer["min"], "buffer_period.min")
    high = duration_seconds(buffer["max"], "buffer_period.max")
    if low > high:
        raise BadRequest(f"task {name}: buffer_period.min must not exceed buffer_period.max")
    if kind == "schedule":
        buffer["enabled"] = False    # schedule tasks are not buffered
    out = {
        "buffer_period": buffer, "condition": copy.deepcopy(condition),
        "description": task.get("description") or "", "enabled": task.get("enabled", True),
        "module": module, "module_input": copy.deepcopy(task.get("module_input") or {}),
        "name": name, "providers": list(task.get("providers") or []),
        "variables": dict(task.get("variables") or {}), "version": task.get("version") or "",
        "terraform_version": task.get("terraform_version") or "",
        "terraform_cloud_workspace": copy.deepcopy(task.get("terraform_cloud_workspace") or {}),
    }
    return out


def next_cron_time(expression: str, after):
    """The first time after `after` (an aware datetime) that the cron expression matches."""
    from croniter import croniter  # lazy: only schedule conditions need cron
    fields = expression.split()
    if len(fields) == 7:
        fields = fields[:6]
    seconds = len(fields) == 6
    return croniter(" ".join(fields), after, second_at_beginning=seconds).get_next(type(after))


# CTS's task health, from the most recent events (newest first)
STATUSES = ("successful", "errored", "critical", "unknown")


def health(recent_successes: list[bool]) -> str:
    """successful: the latest event succeeded; errored: it failed but the others did not;
    critical: it failed and so did another recent one; unknown: no events yet."""
    if not recent_successes:
        return "unknown"
    if recent_successes[0]:
        return "successful"
    return "critical" if not all(recent_successes[1:]) else "errored"


@dataclass
class Task:
    """A CTS task: its definition (as CTS renders it) and the workspace its runs use."""
    org: str
    name: str
    definition: dict
    workspace_id: str
    created_at: str
    deleting: bool = False
    next_run_at: str | None = None        # schedule condition: the next cron time
    buffer_first_at: float | None = None  # buffer period: first and last event (epoch s)
    buffer_last_at: float | None = None
    owner: str | None = None              # the user who created it: the only one who sees it

    def visible_to(self, user_id: str | None, site_admin: bool) -> bool:
        """Tasks have owners: a member of the CTS organization sees, changes and deletes only
        the tasks they created (a site admin sees all)."""
        return site_admin or (self.owner is not None and self.owner == user_id)

    @property
    def enabled(self) -> bool:
        return not self.deleting and self.definition.get("enabled", True)


@dataclass
class TaskEvent:
    """One run of a task (CTS's event)."""
    id: str
    task_key: str
    success: bool
    start_time: str
    end_time: str
    run_id: str
    task: dict
    error: str | None = None
