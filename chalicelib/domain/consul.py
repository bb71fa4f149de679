"""Consul data as CTS hands it to a task's module: the `services` input, keyed
`<service id>.<node>.<datacenter>`, built from health entries (what `consul watch -type=service`
posts and `/v1/health/service/:name` returns)."""
from __future__ import annotations

import base64
import binascii
import json

from . import patterns
from .errors import BadRequest, PayloadTooLarge

_STATUS_ORDER = ("critical", "warning", "passing")


def _status(checks: list) -> str:
    statuses = {c.get("Status") for c in checks or [] if isinstance(c, dict)}
    return next((s for s in _STATUS_ORDER if s in statuses), "passing")


# one service's entries are stored in one DynamoDB item (400 KB): what a watch may post
MAX_ENTRIES = 1000
MAX_ENTRIES_BYTES = 300_000


def validate_entries(entries: object) -> list[dict]:
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("Service"), dict) and isinstance(e.get("Node"), dict)
            for e in entries):
        raise BadRequest("expected a list of health entries ({Node, Service, Checks})")
    if len(entries) > MAX_ENTRIES or len(json.dumps(entries)) > MAX_ENTRIES_BYTES:
        raise PayloadTooLarge(f"a service's entries are limited to {MAX_ENTRIES} and "
                              f"{MAX_ENTRIES_BYTES} bytes")
    return entries


def services_input(entries: list[dict], user_meta: dict | None = None) -> dict:
    out = {}
    for entry in entries:
        service, node = entry["Service"], entry["Node"]
        datacenter = node.get("Datacenter", "dc1")
        key = f"{service.get('ID') or service.get('Service')}.{node.get('Node')}.{datacenter}"
        out[key] = {
            "id": service.get("ID"), "name": service.get("Service"), "kind": service.get("Kind", ""),
            "address": service.get("Address") or node.get("Address"), "port": service.get("Port"),
            "meta": service.get("Meta") or {}, "tags": service.get("Tags") or [],
            "namespace": service.get("Namespace", ""), "status": _status(entry.get("Checks")),
            "node": node.get("Node"), "node_id": node.get("ID", ""),
            "node_address": node.get("Address"), "datacenter": datacenter,
            "node_tagged_addresses": node.get("TaggedAddresses") or {},
            "node_meta": node.get("Meta") or {}, "cts_user_defined_meta": user_meta or {},
        }
    return out


def watches(condition: dict, service: str) -> bool:
    """Does a task's services condition select this service name?"""
    spec = condition.get("services") or condition.get("catalog-services")
    if not isinstance(spec, dict):
        return False
    if service in (spec.get("names") or []):
        return True
    pattern = spec.get("regexp")
    return isinstance(pattern, str) and bool(pattern) and patterns.search(pattern, service)


def validate_kv(entries: object) -> list[dict]:
    """A key watch posts one entry (or null once deleted); a keyprefix watch posts a list."""
    if entries is None:
        return []
    items = entries if isinstance(entries, list) else [entries]
    if not all(isinstance(e, dict) and isinstance(e.get("Key"), str) for e in items):
        raise BadRequest("expected KV entries ({Key, Value}) as a Consul key watch posts them")
    for entry in items:
        value = entry.get("Value")
        if value is None:
            continue
        try:
            if not isinstance(value, str):
                raise ValueError
            base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            raise BadRequest(f"the Value of {entry['Key'][:200]!r} is not base64, as Consul "
                             "sends it") from None
    return items


def decode_value(entry: dict) -> str:
    raw = entry.get("Value")
    return base64.b64decode(raw).decode("utf-8", "replace") if raw else ""


def kv_matches(condition: dict, key: str) -> bool:
    spec = condition.get("consul-kv")
    if not isinstance(spec, dict):
        return False
    path = spec.get("path", "")
    return key == path or bool(spec.get("recurse")) and key.startswith(path.rstrip("/") + "/")
