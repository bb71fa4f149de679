"""Variables, variable sets and the sets' workspaces in DynamoDB. Access patterns: an owner's
variables and its data key (Query owner_id), a variable by id (by_id), a set by id, an
organization's sets by name (by_org_name), its global sets (global_by_org), a set's workspaces
(Query varset_id), a workspace's sets (by_workspace). No Scan."""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from ..domain.errors import Conflict
from ..domain.variables import Variable, Varset
from . import base
from .variable_models import (OWNER_KEY_SLOT, VariableModel, VarsetLinkModel, VarsetModel,
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

def of_owner(owner_id: str) -> tuple[list[Variable], str | None]:
    """The owner's variables in slot order, and its data key's ciphertext (None: it has no
    sensitive variable yet)."""
    found, key = [], None
    for item in VariableModel.query(owner_id):
        if item.slot == OWNER_KEY_SLOT:
            key = item.owner_key
        else:
            found.append(_var_from(item))
    return found, key


def count_of(owner_id: str) -> int:
    return VariableModel.count(owner_id)


def find(var_id: str) -> Variable | None:
    return base.first(VariableModel.by_id.query(var_id, limit=1), _var_from)


def insert(var: Variable) -> None:
    with base.conditional(f"a {var.category} variable {var.key} already exists here"):
        _var_item(var).save(condition=VariableModel.slot.does_not_exist())


def replace(old: Variable, new: Variable) -> None:
    """The update of a variable, on the condition that it is still the version read; a new key
    moves it to a new slot (which must be free) in the same transaction."""
    unchanged = VariableModel.version_id == old.version_id
    try:
        if new.slot == old.slot:
            with base.conditional(f"variable {old.id} changed concurrently; retry"):
                _var_item(new).save(condition=unchanged)
            return
        with base.transaction() as tx:
            tx.delete(VariableModel(old.owner_id, old.slot), condition=unchanged)
            tx.save(_var_item(new), condition=VariableModel.slot.does_not_exist())
    except TransactWriteError as exc:
        if exc.cause_response_code in base._CONDITION_FAILED:
            raise Conflict(f"a {new.category} variable {new.key} already exists here, or "
                           f"variable {old.id} changed concurrently") from exc
        raise


def delete(var: Variable) -> None:
    VariableModel(var.owner_id, var.slot).delete()


def delete_owner(owner_id: str) -> None:
    """Every variable of a deleted workspace or set, and its data key."""
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
