"""Variables, variable sets and the sets' workspaces in DynamoDB. Access patterns: an owner's
variables and its data key (Query owner_id), a variable by id (by_id), a set by id, an
organization's sets by name (by_org_name), its global sets (global_by_org), a set's workspaces
(Query varset_id), a workspace's sets (by_workspace). No Scan."""
from __future__ import annotations

import json

from pynamodb.exceptions import TransactWriteError

from ..domain.errors import Conflict
from ..domain.variables import Variable, Varset
from . import base
from .variable_models import (BUNDLE_SLOT, OWNER_KEY_SLOT, VariableModel, VarsetLinkModel, VarsetModel,
                              VarsetNameModel)

_VAR_FIELDS = tuple(Variable.__dataclass_fields__)


def _var_from(item: VariableModel) -> Variable:
    values = {name: getattr(item, name) for name in _VAR_FIELDS}
    values["description"] = values["description"] or ""
    values["hcl"], values["sensitive"] = bool(values["hcl"]), bool(values["sensitive"])
    return Variable(**values)


def _var_item(var: Variable) -> VariableModel:
    return VariableModel(slot=var.slot, **vars(var))


# -- variables -------------------------------------------------------------------------------------

MAX_BUNDLE_CHARS = 300_000      # an item holds 400 KB; past this the owner is read by Query


def _query_owner(owner_id: str) -> tuple[list[Variable], str | None]:
    found, key = [], None
    for item in VariableModel.query(owner_id):
        if item.slot == OWNER_KEY_SLOT:
            key = item.owner_key
        elif not item.slot.startswith("#"):
            found.append(_var_from(item))
    return found, key


def _from_bundle(text: str) -> list[Variable]:
    return [Variable(**fields) for fields in json.loads(text)]


def owners(owner_ids: list[str]) -> dict[str, tuple[list[Variable], str | None]]:
    """Each owner's variables (slot order) and its data key's ciphertext (None: no sensitive
    variable yet): one BatchGetItem for all of them; an owner without a usable bundle (none
    written yet, or outgrown) is read by Query."""
    items = {(i.owner_id, i.slot): i for i in VariableModel.batch_get(
        [(o, slot) for o in owner_ids for slot in (BUNDLE_SLOT, OWNER_KEY_SLOT)])} if owner_ids else {}
    out = {}
    for owner_id in owner_ids:
        bundle, key = items.get((owner_id, BUNDLE_SLOT)), items.get((owner_id, OWNER_KEY_SLOT))
        if bundle is not None and bundle.bundle is not None:
            out[owner_id] = (_from_bundle(bundle.bundle), key.owner_key if key else None)
        else:
            out[owner_id] = _query_owner(owner_id)
    return out


def of_owner(owner_id: str) -> tuple[list[Variable], str | None]:
    return owners([owner_id])[owner_id]


def count_of(owner_id: str) -> int:
    return len(of_owner(owner_id)[0])


def find(var_id: str) -> Variable | None:
    return base.first(VariableModel.by_id.query(var_id, limit=1), _var_from)


def _change(owner_id: str, what: str, edit, actions) -> None:
    """One change of an owner's variables: `actions(tx)` on the variable items and the bundle
    rewritten with `edit(variables)`, in one transaction. A failed condition of the bundle
    (another change came first) means read again and retry; of a variable, Conflict(what)."""
    for _ in range(8):
        try:
            bundle = VariableModel.get(owner_id, BUNDLE_SLOT)
            version = int(bundle.bundle_version or 0)
            current = _from_bundle(bundle.bundle) if bundle.bundle is not None else _query_owner(owner_id)[0]
            guard = VariableModel.bundle_version == version
        except VariableModel.DoesNotExist:
            version, current, guard = 0, _query_owner(owner_id)[0], VariableModel.slot.does_not_exist()
        text = json.dumps([vars(v) for v in sorted(edit(current), key=lambda v: v.slot)])
        try:
            with base.transaction() as tx:
                actions(tx)
                tx.save(VariableModel(owner_id, BUNDLE_SLOT, bundle_version=version + 1,
                                      bundle=text if len(text) <= MAX_BUNDLE_CHARS else None),
                        condition=guard)
            return
        except TransactWriteError as exc:
            if exc.cause_response_code not in base._CONDITION_FAILED:
                raise
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            if "ConditionalCheckFailed" in reasons[:-1]:
                raise Conflict(what) from exc
            if not reasons and _bundle_version(owner_id) == version:
                raise Conflict(what) from exc     # no reasons given: the bundle did not move
    raise Conflict(f"the variables of {owner_id} are changing too quickly; retry")


def _bundle_version(owner_id: str) -> int:
    try:
        return int(VariableModel.get(owner_id, BUNDLE_SLOT).bundle_version or 0)
    except VariableModel.DoesNotExist:
        return 0


def insert(var: Variable) -> None:
    _change(var.owner_id, f"a {var.category} variable {var.key} already exists here",
            lambda current: [*current, var],
            lambda tx: tx.save(_var_item(var), condition=VariableModel.slot.does_not_exist()))


def replace(old: Variable, new: Variable) -> None:
    """The update of a variable, on the condition that it is still the version read; a new key
    moves it to a new slot (which must be free) in the same transaction."""
    unchanged = VariableModel.version_id == old.version_id

    def actions(tx) -> None:
        if new.slot == old.slot:
            tx.save(_var_item(new), condition=unchanged)
        else:
            tx.delete(VariableModel(old.owner_id, old.slot), condition=unchanged)
            tx.save(_var_item(new), condition=VariableModel.slot.does_not_exist())
    _change(old.owner_id, f"a {new.category} variable {new.key} already exists here, or "
            f"variable {old.id} changed concurrently",
            lambda current: [new if v.id == old.id else v for v in current], actions)


def delete(var: Variable) -> None:
    _change(var.owner_id, f"variable {var.id} changed concurrently",
            lambda current: [v for v in current if v.id != var.id],
            lambda tx: tx.delete(VariableModel(var.owner_id, var.slot)))


def delete_owner(owner_id: str) -> None:
    """Every variable of a deleted workspace or set, its bundle and its data key."""
    with VariableModel.batch_write() as batch:
        for item in VariableModel.query(owner_id, attributes_to_get=["owner_id", "slot"]):
            batch.delete(item)


def put_owner_key(owner_id: str, encrypted: str) -> bool:
    """False when another writer stored the owner's key first (read it then)."""
    try:
        with base.conditional("owner key exists"):
            VariableModel(owner_id, OWNER_KEY_SLOT, owner_key=encrypted).save(
                condition=VariableModel.slot.does_not_exist())
        return True
    except Conflict:
        return False


def owner_key(owner_id: str) -> str | None:
    try:
        return VariableModel.get(owner_id, OWNER_KEY_SLOT).owner_key
    except VariableModel.DoesNotExist:
        return None


# -- variable sets ---------------------------------------------------------------------------------

_SET_FIELDS = tuple(f for f in Varset.__dataclass_fields__ if f != "workspace_ids")


def _set_from(item: VarsetModel) -> Varset:
    values = {name: getattr(item, name) for name in _SET_FIELDS}
    values["description"] = values["description"] or ""
    values["global_"], values["priority"] = bool(values["global_"]), bool(values["priority"])
    return Varset(**values)


def _set_item(varset: Varset) -> VarsetModel:
    return VarsetModel(global_org=varset.org if varset.global_ else None,
                       **{name: getattr(varset, name) for name in _SET_FIELDS})


def _claim(org: str, name: str) -> str:
    return f"name#{org}/{name}"


def find_set(varset_id: str) -> Varset | None:
    if varset_id.startswith("name#"):
        return None
    return base.find(VarsetModel, _set_from, varset_id)


def sets_of_org(org: str) -> list[Varset]:
    return [_set_from(i) for i in VarsetModel.by_org_name.query(org)]


def sets_by_ids(ids: list[str]) -> list[Varset]:
    return [_set_from(i) for i in VarsetModel.batch_get(ids)] if ids else []


def global_set_ids(org: str) -> list[str]:
    return [i.id for i in VarsetModel.global_by_org.query(org)]


def insert_set(varset: Varset) -> None:
    try:
        with base.transaction() as tx:
            tx.save(VarsetNameModel(_claim(varset.org, varset.name), varset_id=varset.id),
                    condition=VarsetNameModel.id.does_not_exist())
            tx.save(_set_item(varset), condition=VarsetModel.id.does_not_exist())
    except TransactWriteError as exc:
        if exc.cause_response_code in base._CONDITION_FAILED:
            raise Conflict(f"a variable set named {varset.name} already exists") from exc
        raise


def update_set(old: Varset, new: Varset) -> None:
    """The set's attributes, on the condition it is unchanged since read; a new name moves its
    claim in the same transaction."""
    try:
        with base.transaction() as tx:
            if new.name != old.name:
                tx.delete(VarsetNameModel(_claim(old.org, old.name)))
                tx.save(VarsetNameModel(_claim(new.org, new.name), varset_id=new.id),
                        condition=VarsetNameModel.id.does_not_exist())
            tx.save(_set_item(new), condition=VarsetModel.updated_at == old.updated_at)
    except TransactWriteError as exc:
        if exc.cause_response_code in base._CONDITION_FAILED:
            raise Conflict(f"a variable set named {new.name} already exists, or the set "
                           "changed concurrently") from exc
        raise


def delete_set(varset: Varset) -> None:
    with base.transaction() as tx:
        tx.delete(VarsetNameModel(_claim(varset.org, varset.name)))
        tx.delete(VarsetModel(varset.id))


# -- a set's workspaces ------------------------------------------------------------------------------

def workspaces_of(varset_id: str) -> list[str]:
    return [i.workspace_id for i in VarsetLinkModel.query(varset_id)]


def sets_of_workspace(workspace_id: str) -> list[str]:
    return [i.varset_id for i in VarsetLinkModel.by_workspace.query(workspace_id)]


def link(varset_id: str, workspace_ids: list[str]) -> None:
    with VarsetLinkModel.batch_write() as batch:
        for ws in workspace_ids:
            batch.save(VarsetLinkModel(varset_id, ws))


def unlink(varset_id: str, workspace_ids: list[str]) -> None:
    with VarsetLinkModel.batch_write() as batch:
        for ws in workspace_ids:
            batch.delete(VarsetLinkModel(varset_id, ws))


def unlink_workspace(workspace_id: str) -> None:
    unlink_pairs([(s, workspace_id) for s in sets_of_workspace(workspace_id)])


def unlink_pairs(pairs: list[tuple[str, str]]) -> None:
    with VarsetLinkModel.batch_write() as batch:
        for varset_id, ws in pairs:
            batch.delete(VarsetLinkModel(varset_id, ws))
