"""Variables: a workspace's or a variable set's terraform and env variables, their validation,
and the precedence that turns them (and a run's own `variables`) into what one phase uses.

A sensitive variable's value never lives on the entity in clear: `sealed` holds its envelope
(services/sealing.py) and `value` is None from the moment it is written."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import Conflict, Unprocessable

TERRAFORM, ENV = "terraform", "env"
CATEGORIES = (TERRAFORM, ENV)
# terraform variable keys: HCP Terraform takes any of these (go-tfe's tests use UUIDs, which
# may start with a digit); one that is not an identifier can name no declared variable, so
# it reaches terraform only through the JSON variables file (terraform warns of it there),
# never the HCL one (phases.hcl_assignment), where it would be a syntax error.
TERRAFORM_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}\Z")
# names a POSIX shell (and terraform's environment) can carry
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
MAX_DESCRIPTION = 512
MAX_VALUE = 64 * 1024
MAX_HCL_DEPTH = 32
MAX_PER_OWNER = 500
VARSET_NAME = re.compile(r"^[A-Za-z0-9 _.-]{1,128}\Z")


@dataclass
class Variable:
    id: str
    owner_id: str            # ws-… (a workspace variable) or varset-… (a set's)
    org: str
    key: str
    category: str
    value: str | None = None  # None when sensitive
    sealed: str | None = None  # the sensitive value's envelope
    description: str = ""
    hcl: bool = False
    sensitive: bool = False
    version_id: str = ""
    created_at: str = ""

    @property
    def slot(self) -> str:
        """Unique per owner: one `key` per category."""
        return slot_of(self.category, self.key)


def slot_of(category: str, key: str) -> str:
    return f"{category}:{key}"


@dataclass
class Varset:
    id: str
    org: str
    name: str
    description: str = ""
    global_: bool = False
    priority: bool = False
    created_at: str = ""
    updated_at: str = ""
    workspace_ids: list[str] = field(default_factory=list)


# -- validation ------------------------------------------------------------------------------------

def _pointer(name: str) -> str:
    return f"/data/attributes/{name}"


def _text(attrs: dict, name: str, limit: int, default: str | None = None) -> str | None:
    value = attrs.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Unprocessable(f"{name} must be a string", pointer=_pointer(name))
    value = value if isinstance(value, str) else str(value)
    if len(value) > limit:
        raise Unprocessable(f"{name} is longer than {limit} characters", pointer=_pointer(name))
    return value


def _bool(attrs: dict, name: str, default: bool) -> bool:
    value = attrs.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise Unprocessable(f"{name} must be true or false", pointer=_pointer(name))
    return value


def check_key(category: str, key: object) -> str:
    if not isinstance(key, str) or not key:
        raise Unprocessable("key is required", pointer=_pointer("key"))
    rule = ENV_KEY if category == ENV else TERRAFORM_KEY
    if not rule.match(key):
        what = ("an environment variable name (letters, digits and '_', not starting with a "
                "digit)" if category == ENV else "a terraform variable name (letters, digits, "
                "'_' and '-', not starting with a digit)")
        raise Unprocessable(f"key {key[:64]!r} is not {what}, at most 128 characters",
                            pointer=_pointer("key"))
    return key


def check_category(value: object) -> str:
    if value is None:
        raise Unprocessable("category is required: terraform or env", pointer=_pointer("category"))
    if value not in CATEGORIES:
        raise Unprocessable("category must be terraform or env", pointer=_pointer("category"))
    return value


def _depth(text: str) -> int:
    """Bracket nesting outside string literals (enough to refuse what the parser would only
    refuse by recursing too deep)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]})":
            depth -= 1
    return deepest


def check_hcl(value: str, parse, *, sensitive: bool = False) -> None:
    """An HCL value is one expression and nothing else: it is parsed as `v = (\\n<value>\\n)`,
    exactly as the phase writes it into its .tfvars file, and must yield exactly that one
    attribute (a value that closes the parenthesis to add another variable is refused).
    `parse` is the HCL parser (injected: the domain imports no parser)."""
    if _depth(value) > MAX_HCL_DEPTH:
        raise Unprocessable(f"the HCL value nests deeper than {MAX_HCL_DEPTH} levels",
                            pointer=_pointer("value"))
    try:
        parsed = parse(hcl_assignment("v", value))
    except Exception as exc:  # noqa: BLE001 - any parser failure is the value's fault
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if sensitive:       # the parser quotes the value: a sensitive one is never echoed
            reason = f"{type(exc).__name__} (details withheld: the value is sensitive)"
        raise Unprocessable(f"the value is not valid HCL: {reason[:300]}",
                            pointer=_pointer("value")) from None
    if not isinstance(parsed, dict) or set(parsed) != {"v"}:
        raise Unprocessable("the HCL value must be a single expression", pointer=_pointer("value"))


def hcl_assignment(key: str, value: str) -> str:
    """How an HCL variable is written into a .tfvars file (and validated): the parentheses
    keep a newline inside the value from ending the assignment."""
    return f"{key} = (\n{value}\n)\n"


@dataclass
class Change:
    """What a create or an update sets (only the attributes present)."""
    values: dict
    new_value: str | None = None     # the value to store (sealed when sensitive)
    value_given: bool = False


def validate_new(attrs: dict, parse_hcl) -> tuple[dict, str | None]:
    """Fields of a new variable and its value."""
    category = check_category(attrs.get("category"))
    key = check_key(category, attrs.get("key"))
    value = _text(attrs, "value", MAX_VALUE, "")
    hcl = _bool(attrs, "hcl", False)
    sensitive = _bool(attrs, "sensitive", False)
    if hcl and category == TERRAFORM:
        check_hcl(value, parse_hcl, sensitive=sensitive)
    return {"key": key, "category": category, "hcl": hcl, "sensitive": sensitive,
            "description": _text(attrs, "description", MAX_DESCRIPTION, "")}, value


def validate_update(var: Variable, attrs: dict, parse_hcl) -> tuple[dict, str | None]:
    """The fields an update changes, and the new value (None: the value is kept). A
    sensitive variable stays sensitive. A new category (HCP allows it) must suit the key: an
    env variable's key is a shell name; HCL is for terraform variables only."""
    out: dict = {}
    category = var.category
    if "category" in attrs and attrs["category"] is not None and attrs["category"] != var.category:
        category = out["category"] = check_category(attrs["category"])
        if category == ENV and out.get("hcl", attrs.get("hcl", var.hcl)):
            raise Unprocessable("env variables cannot be HCL", pointer=_pointer("hcl"))
    if "key" in attrs or "category" in out:
        out["key"] = check_key(category, attrs.get("key", var.key))
    if "description" in attrs:
        out["description"] = _text(attrs, "description", MAX_DESCRIPTION, "")
    if "hcl" in attrs:
        out["hcl"] = _bool(attrs, "hcl", var.hcl)
    if "sensitive" in attrs:
        sensitive = _bool(attrs, "sensitive", var.sensitive)
        if var.sensitive and not sensitive:
            raise Unprocessable("a sensitive variable cannot be made non-sensitive",
                                pointer=_pointer("sensitive"))
        out["sensitive"] = sensitive
    value = _text(attrs, "value", MAX_VALUE) if "value" in attrs else None
    hcl = out.get("hcl", var.hcl)
    if hcl and category == TERRAFORM:
        if value is not None:
            check_hcl(value, parse_hcl, sensitive=out.get("sensitive", var.sensitive))
        elif "hcl" in attrs and not var.hcl and not var.sensitive:
            check_hcl(var.value or "", parse_hcl)
    return out, value


def validate_varset(attrs: dict, *, new: bool) -> dict:
    out: dict = {}
    if new or "name" in attrs:
        name = attrs.get("name")
        if not isinstance(name, str) or not VARSET_NAME.match(name):
            raise Unprocessable("name must be 1-128 letters, digits, spaces, '.', '-' or '_'",
                                pointer=_pointer("name"))
        out["name"] = name
    if new or "description" in attrs:
        out["description"] = _text(attrs, "description", MAX_DESCRIPTION, "")
    if new or "global" in attrs:
        out["global_"] = _bool(attrs, "global", False)
    if new or "priority" in attrs:
        out["priority"] = _bool(attrs, "priority", False)
    return out


def check_room(count: int) -> None:
    if count >= MAX_PER_OWNER:
        raise Conflict(f"at most {MAX_PER_OWNER} variables per workspace or variable set")


# -- precedence ------------------------------------------------------------------------------------

# Levels, highest first (HCP Terraform's "variable precedence", without projects): a priority
# variable set overrides everything at more specific scopes, the run's own variables, and the
# workspace's; otherwise the more specific scope wins. Within a level, sets apply in lexical
# order of their names (the first name wins).
PRIORITY_GLOBAL, PRIORITY_WORKSPACE, RUN, WORKSPACE, SET_WORKSPACE, SET_GLOBAL = range(6)
LEVEL_NAMES = ("priority global set", "priority workspace set", "run", "workspace",
               "workspace set", "global set")


def set_level(varset: Varset) -> int:
    if varset.priority:
        return PRIORITY_GLOBAL if varset.global_ else PRIORITY_WORKSPACE
    return SET_GLOBAL if varset.global_ else SET_WORKSPACE


@dataclass(frozen=True)
class Candidate:
    """One variable that may apply to a phase, and where it came from."""
    level: int
    order: str               # the set's name (lexical order within a level); "" otherwise
    var: Variable


def effective(candidates: list[Candidate]) -> dict[str, Variable]:
    """slot -> the variable that applies: the candidate of the highest level; within a level,
    the first set name."""
    chosen: dict[str, Candidate] = {}
    for c in candidates:
        held = chosen.get(c.var.slot)
        if held is None or (c.level, c.order) < (held.level, held.order):
            chosen[c.var.slot] = c
    return {slot: c.var for slot, c in chosen.items()}


def run_variables(owner_id: str, org: str, pairs: list[dict]) -> list[Variable]:
    """A run's own `variables` attribute ({key, value} with HCL values) as variables."""
    return [Variable(id=f"{owner_id}:{p['key']}", owner_id=owner_id, org=org, key=p["key"],
                     category=TERRAFORM, value=p["value"], hcl=True) for p in pairs]
