"""The root module Consul-Terraform-Sync generates for a task: the task's module called with
the condition's data (`services`, `consul_kv`) and the task's variables."""
from __future__ import annotations

import json


def _hcl(value) -> str:
    return json.dumps(value)   # JSON strings, lists and objects are valid HCL expressions


def root_module(definition: dict, services: dict | None = None,
                consul_kv: dict | None = None) -> dict[str, str]:
    """The root module CTS generates for a task: the task's module called with `services`
    (the condition's data; empty until a service feed is configured) and its variables."""
    name = definition["name"]
    lines = [f'module "{name}" {{', f"  source = {_hcl(definition['module'])}"]
    if definition.get("version"):
        lines.append(f"  version = {_hcl(definition['version'])}")
    lines.append("  services = var.services")
    if consul_kv is not None:
        lines.append("  consul_kv = var.consul_kv")
    for key, value in sorted({**definition.get("variables", {}),
                              **definition.get("module_input", {})}.items()):
        if key != "services":
            lines.append(f"  {key} = {_hcl(value)}")
    lines.append("}")
    providers = "".join(f'    {p} = {{ source = "hashicorp/{p}" }}\n' for p in definition.get("providers", []))
    inputs = {"services": services} if services is not None else {}
    if consul_kv is not None:
        inputs["consul_kv"] = consul_kv
    # the condition's data, as CTS passes it (a tfvars file of the root module)
    files = {"inputs.auto.tfvars.json": json.dumps(inputs, indent=2)} if inputs else {}
    kv_variable = ('variable "consul_kv" {\n  description = "Consul KV entries of the condition"\n'
                   "  type = map(string)\n  default = {}\n}\n") if consul_kv is not None else ""
    return {
        **files,
        "main.tf": (f"terraform {{\n  required_providers {{\n{providers}  }}\n}}\n\n" if providers else "")
        + "\n".join(lines) + "\n",
        "variables.tf": 'variable "services" {\n  description = "Consul services monitored by the task"\n'
                        "  type = any\n  default = {}\n}\n" + kv_variable,
    }
