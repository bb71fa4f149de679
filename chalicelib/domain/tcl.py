"""Terrakube's TCL: flow templates (base64 YAML), their steps and commands, parsed and
validated. Any defect is a 422 that says where; nothing is stored before a flow parses."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import lru_cache

from .errors import BadRequest, Unprocessable

TERRAFORM_STEPS = frozenset({"terraformPlan", "terraformApply", "terraformPlanDestroy",
                             "terraformDestroy"})
PLAN_STEPS = frozenset({"terraformPlan", "terraformPlanDestroy"})
WORKER_STEPS = TERRAFORM_STEPS | {"customScripts", "disableWorkspace"}
STEP_TYPES = WORKER_STEPS | {"approval"}
# Terrakube's command runtimes; GROOVY needs a JVM, which Terraless's workers do not carry.
RUNTIMES = frozenset({"BASH"})
MAX_TCL = 64 * 1024       # characters of YAML
MAX_STEPS = 100
MAX_COMMANDS = 50


@lru_cache(maxsize=1)
def _no_aliases_loader():
    """YAML without anchors' aliases: a 392-byte document of nested aliases expands to 10**7
    nodes. A flow never needs one. (Built on first use: PyYAML costs ~40 ms to import and only
    job requests parse TCL.)"""
    import yaml  # lazy: as said above

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
    return NoAliases


@dataclass(frozen=True)
class Command:
    script: str
    priority: int = 100
    before: bool = False
    after: bool = False
    runtime: str = "BASH"

    def to_dict(self) -> dict:
        return {"runtime": self.runtime, "priority": self.priority, "before": self.before,
                "after": self.after, "script": self.script}


@dataclass(frozen=True)
class FlowStep:
    number: int
    type: str
    name: str
    commands: tuple[Command, ...] = ()
    ignore_error: bool = False
    team: str | None = None
    env: tuple[tuple[str, str], ...] = ()       # inputsEnv

    def commands_when(self, when: str) -> list[Command]:
        """Terrakube runs `before: true` commands ahead of terraform and `after: true` ones
        after it; on a customScripts step every command runs, in priority order."""
        chosen = [c for c in self.commands
                  if self.type not in TERRAFORM_STEPS or getattr(c, when)]
        return sorted(chosen, key=lambda c: c.priority)


def _fail(reason: str) -> Unprocessable:
    return Unprocessable(f"invalid TCL: {reason}", pointer="/data/attributes/tcl")


def decode_tcl(tcl_b64: str) -> str:
    if not isinstance(tcl_b64, str) or not tcl_b64.strip():
        raise Unprocessable("tcl must be a non-empty base64 string", pointer="/data/attributes/tcl")
    try:
        raw = base64.b64decode(tcl_b64.strip(), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadRequest("tcl is not valid base64 (or not UTF-8 once decoded)",
                         pointer="/data/attributes/tcl") from None


def _bool(entry: dict, key: str, where: str) -> bool:
    value = entry.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _fail(f"{where}: {key} must be true or false")
    return value


def _command(entry, where: str) -> Command:
    if not isinstance(entry, dict):
        raise _fail(f"{where} must be a mapping")
    runtime = entry.get("runtime") or "BASH"
    if not isinstance(runtime, str):
        raise _fail(f"{where}: runtime must be a string")
    runtime = runtime.upper()
    if runtime not in RUNTIMES:
        raise _fail(f"{where}: runtime {runtime} is not supported (supported: BASH)")
    script = entry.get("script")
    if not isinstance(script, str) or not script.strip():
        raise _fail(f"{where}: script is required")
    priority = entry.get("priority", 100)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise _fail(f"{where}: priority must be a number")
    return Command(script=script, priority=priority, before=_bool(entry, "before", where),
                   after=_bool(entry, "after", where), runtime=runtime)


def _step(entry, index: int) -> FlowStep:
    where = f"flow[{index}]"
    if not isinstance(entry, dict):
        raise _fail(f"{where} must be a mapping")
    kind = entry.get("type")
    if not isinstance(kind, str) or kind not in STEP_TYPES:
        raise _fail(f"{where}: type {kind!r} is not one of {', '.join(sorted(STEP_TYPES))}")
    number = entry.get("step")
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise _fail(f"{where}: step must be a non-negative number (the step order)")
    name = entry.get("name", kind)
    if not isinstance(name, str) or not name.strip():
        raise _fail(f"{where}: name must be a string")
    commands = entry.get("commands") or []
    if not isinstance(commands, list) or len(commands) > MAX_COMMANDS:
        raise _fail(f"{where}: commands must be a list of at most {MAX_COMMANDS}")
    env = entry.get("inputsEnv") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) for k in env):
        raise _fail(f"{where}: inputsEnv must be a mapping of names to values")
    team = entry.get("team")
    if team is not None and not isinstance(team, str):
        raise _fail(f"{where}: team must be a string")
    if kind == "customScripts" and not commands:
        raise _fail(f"{where}: a customScripts step needs commands")
    return FlowStep(number=number, type=kind, name=name.strip(),
                    commands=tuple(_command(c, f"{where}.commands[{i}]") for i, c in enumerate(commands)),
                    ignore_error=_bool(entry, "ignoreError", where), team=team,
                    env=tuple((k, "" if v is None else str(v)) for k, v in env.items()))


def parse_flow(tcl_text: str) -> list[FlowStep]:
    """The flow's steps in `step` order. Any defect is a 422 that says where."""
    if len(tcl_text) > MAX_TCL:
        raise _fail(f"the template is longer than {MAX_TCL} characters")
    import yaml  # lazy: see _no_aliases_loader
    try:
        document = yaml.load(tcl_text, Loader=_no_aliases_loader())  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _fail(f"not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(document, dict) or "flow" not in document:
        raise _fail("the template must be a mapping with a flow: list")
    flow = document["flow"]
    if not isinstance(flow, list) or not flow or len(flow) > MAX_STEPS:
        raise _fail(f"flow must be a non-empty list of at most {MAX_STEPS} steps")
    steps = [_step(entry, i) for i, entry in enumerate(flow)]
    numbers = [s.number for s in steps]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise _fail(f"step numbers must be unique (repeated: {', '.join(map(str, duplicates))})")
    return sorted(steps, key=lambda s: s.number)


def parse_tcl(tcl_b64: str) -> list[FlowStep]:
    return parse_flow(decode_tcl(tcl_b64))


# A job created with Terrakube's `command` and no template runs these flows.
COMMAND_FLOWS = {
    "plan": "flow:\n  - {type: terraformPlan, name: Plan, step: 100}\n",
    "apply": "flow:\n  - {type: terraformPlan, name: Plan, step: 100}\n"
             "  - {type: terraformApply, name: Apply, step: 200}\n",
    "destroy": "flow:\n  - {type: terraformPlanDestroy, name: Plan destroy, step: 100}\n"
               "  - {type: terraformApply, name: Apply, step: 200}\n",
}


def command_tcl(command: str) -> str:
    if not isinstance(command, str) or command not in COMMAND_FLOWS:
        raise Unprocessable(f"command must be one of {', '.join(COMMAND_FLOWS)}",
                            pointer="/data/attributes/command")
    return base64.b64encode(COMMAND_FLOWS[command].encode()).decode()


@dataclass
class Template:
    """A stored TCL template of an organization (Terrakube's /template)."""
    id: str
    org: str
    name: str
    tcl: str
    created_at: str
    updated_at: str
    description: str | None = None
    version: str | None = None
