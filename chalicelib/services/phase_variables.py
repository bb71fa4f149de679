"""The variables one phase uses: resolved by precedence (domain/variables.py) when a run's plan
(or a job's first step) starts, fixed from then on in a snapshot the later phases read, and
opened only here, for the runner of that phase.

The snapshot keeps sensitive values sealed, with the ciphertexts of their owners' data keys: a
variable changed or deleted while the run waits for its apply changes nothing for that run,
and nothing in clear is stored. Opening a snapshot costs one KMS Decrypt per owner (the
workspace and each set with a sensitive value), not one per value."""
from __future__ import annotations

import json

from ..aws import blobs
from ..domain import variables as rules
from ..domain.variables import Candidate, Variable
from ..domain.workspaces import Workspace
from ..storage import variables as store
from . import sealing

SNAPSHOT_VERSION = 1
# shorter values are not masked in logs (they would mask ordinary words and numbers)
MIN_MASKED = 3


def snapshot_key(subject_id: str) -> str:
    return f"variables/{subject_id}.json"


def resolve(ws: Workspace, run_pairs: list[dict]) -> tuple[dict[str, Variable], dict[str, str]]:
    """(slot -> the variable that applies, owner id -> its data key's ciphertext)."""
    set_ids = sorted(set(store.sets_of_workspace(ws.id)) | set(store.global_set_ids(ws.org)))
    sources = [(ws.id, rules.WORKSPACE, "")] + [
        (s.id, rules.set_level(s), s.name) for s in store.sets_by_ids(set_ids)]
    found = store.owners([owner for owner, _, _ in sources])      # one BatchGetItem
    owner_keys = {owner: key for owner, (_, key) in found.items() if key}
    candidates = [Candidate(level, order, v) for owner, level, order in sources
                  for v in found[owner][0]]
    candidates.extend(Candidate(rules.RUN, "", v)
                      for v in rules.run_variables(ws.id, ws.org, run_pairs))
    return rules.effective(candidates), owner_keys


def _snapshot(chosen: dict[str, Variable], owner_keys: dict[str, str]) -> dict:
    used = {v.owner_id for v in chosen.values() if v.sensitive}
    return {"version": SNAPSHOT_VERSION,
            "variables": [vars(v) for _, v in sorted(chosen.items())],
            "owner_keys": {o: k for o, k in owner_keys.items() if o in used}}


def fix(subject_id: str, ws: Workspace, run_pairs: list[dict]) -> dict:
    """Resolve now and keep it: the phase that starts the run."""
    snapshot = _snapshot(*resolve(ws, run_pairs))
    blobs.put(snapshot_key(subject_id), json.dumps(snapshot).encode(), content_type="application/json")
    return snapshot


def fixed(subject_id: str) -> dict | None:
    if blobs.head(snapshot_key(subject_id)) is None:
        return None
    return json.loads(blobs.read(snapshot_key(subject_id)))


def fixed_or_fix(subject_id: str, ws: Workspace, run_pairs: list[dict], *, start: bool) -> dict:
    """`start`: this phase starts the subject (a run's plan): resolve again. Otherwise the
    snapshot the start fixed (resolved now only for a subject that never had one)."""
    if not start:
        found = fixed(subject_id)
        if found is not None:
            return found
    return fix(subject_id, ws, run_pairs)


def open_for_runner(snapshot: dict) -> dict:
    """What the runner writes and exports: terraform variables (HCL ones apart), env
    variables, and the sensitive values its logs must mask."""
    keys = {owner: sealing.open_owner_key(owner, encrypted)
            for owner, encrypted in snapshot.get("owner_keys", {}).items()}
    out: dict = {"terraform": {}, "hcl": {}, "env": {}, "masks": []}
    for fields in snapshot.get("variables", []):
        var = Variable(**fields)
        value = (sealing.unseal(keys[var.owner_id], var.sealed or "", var.id) if var.sensitive
                 else var.value or "")
        if var.sensitive:
            out["masks"] += [m for m in [value, *value.splitlines()] if len(m) >= MIN_MASKED]
        if var.category == rules.ENV:
            out["env"][var.key] = value
        else:
            out["hcl" if var.hcl else "terraform"][var.key] = value
    out["masks"] = sorted(set(out["masks"]), key=len, reverse=True)
    return out


def sensitive_keys(subject_id: str) -> set[str]:
    """The terraform variables of the subject's snapshot that are sensitive (their values are
    redacted from its JSON plan)."""
    found = fixed(subject_id) or {}
    return {v["key"] for v in found.get("variables", [])
            if v.get("sensitive") and v.get("category") == rules.TERRAFORM}


def forget(subject_id: str) -> None:
    blobs.delete_every_version(snapshot_key(subject_id))
