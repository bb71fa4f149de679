"""The root module Consul-Terraform-Sync generates for a task: the task's module called with
the condition's data (`services`, `consul_kv`) and the task's variables.

Nothing from a task definition becomes HCL text but identifiers that match IDENTIFIER (the
task's name as the module's label, provider names, variable names) and the module's source and
version as quoted literals with template sequences escaped. Every value is data: declared as a
variable of the root module and given in `task.auto.tfvars.json`, which terraform reads as
JSON, so `${file("/etc/passwd")}` in a value stays those characters."""
from __future__ import annotations

import json
import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,89}")
# module block arguments a variable must not become (refused when a task is created)
META_ARGUMENTS = frozenset({"source", "version", "count", "for_each", "depends_on", "providers",
                            "lifecycle"})
# the condition's inputs: CTS's `module_input "services" {…}` blocks, passed as var.services
CONDITION_INPUTS = frozenset({"services", "consul_kv", "consul-kv"})


def is_identifier(text: object) -> bool:
    return isinstance(text, str) and IDENTIFIER.fullmatch(text) is not None


def _identifier(text: str) -> str:
    if not is_identifier(text):
        raise ValueError(f"not an identifier: {text!r}")
    return text


def hcl_literal(text: str) -> str:
    """A quoted HCL string whose template sequences (`${`, `%{`) are escaped: a literal."""
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


def _variable(name: str, description: str, kind: str = "any", default: str = "null") -> str:
    return (f'variable "{name}" {{\n  description = {hcl_literal(description)}\n'
            f"  type = {kind}\n  default = {default}\n}}\n")


def root_module(definition: dict, services: dict | None = None,
                consul_kv: dict | None = None) -> dict[str, str]:
    """The root module CTS generates for a task: the task's module called with `services`
    (the condition's data; empty until a service feed is configured) and its variables."""
    name = _identifier(definition["name"])
    values = {**definition.get("variables", {}), **definition.get("module_input", {})}
    for key in values:
        _identifier(key)
    arguments = sorted(key for key in values if key not in META_ARGUMENTS | CONDITION_INPUTS)
    lines = [f'module "{name}" {{', f"  source = {hcl_literal(definition['module'])}"]
    if definition.get("version"):
        lines.append(f"  version = {hcl_literal(definition['version'])}")
    lines.append("  services = var.services")
    if consul_kv is not None:
        lines.append("  consul_kv = var.consul_kv")
    lines += [f"  {key} = var.{key}" for key in arguments]
    lines.append("}")
    providers = "".join(f'    {_identifier(p)} = {{ source = "hashicorp/{p}" }}\n'
                        for p in definition.get("providers", []))
    inputs: dict = {key: values[key] for key in arguments}
    if services is not None:
        inputs["services"] = services
    if consul_kv is not None:
        inputs["consul_kv"] = consul_kv
    variables = 'variable "services" {\n  description = "Consul services monitored by the task"\n' \
                "  type = any\n  default = {}\n}\n"
    if consul_kv is not None:
        variables += _variable("consul_kv", "Consul KV entries of the condition", "map(string)", "{}")
    variables += "".join(_variable(key, "a variable of the task") for key in arguments)
    files = {"task.auto.tfvars.json": json.dumps(inputs, indent=2)} if inputs else {}
    return {
        **files,
        "main.tf": (f"terraform {{\n  required_providers {{\n{providers}  }}\n}}\n\n" if providers else "")
        + "\n".join(lines) + "\n",
        "variables.tf": variables,
    }
