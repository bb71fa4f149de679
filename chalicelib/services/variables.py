"""Workspace variables and variable sets: who may read and change them, their validation, and
the sealing of sensitive values before anything is stored.

Authorization follows the workspace or the set's organization (another organization's finds
nothing: 404). Organization tokens may manage variables and sets, as in HCP Terraform (they
still cannot start runs). A sensitive value is sealed under its owner's data key here and is
never returned: the API renders `value: null` for it."""
from __future__ import annotations

from ..domain import variables as rules
from ..domain.access import Principal
from ..domain.clock import now_iso
from ..domain.errors import NotFound, Unprocessable
from ..domain.ids import new_id
from ..domain.variables import Variable, Varset
from ..domain.workspaces import Workspace
from ..storage import variables as store
from ..storage import workspaces as workspace_store
from . import identity, organization_names, phase_variables, sealing, workspaces


def parse_hcl(text: str):
    import hcl2  # lazy: the HCL grammar costs ~170 ms to load; only HCL values need it
    # comments would come back as keys of their own: only the attributes count
    return hcl2.loads(text, serialization_options=hcl2.SerializationOptions(with_comments=False))


def check_run_variables(pairs: list[dict]) -> None:
    """A run's own `variables` are HCL values written the same way as HCL workspace
    variables: one expression each, no smuggled assignment."""
    for pair in pairs:
        rules.check_key(rules.TERRAFORM, pair.get("key"))
        try:
            rules.check_hcl(pair["value"], parse_hcl)
        except Unprocessable as exc:
            raise Unprocessable(f"variable {pair['key']}: {exc.detail}",
                                pointer="/data/attributes/variables") from None


# -- owners ----------------------------------------------------------------------------------------

def _owner_key(owner_id: str) -> bytes:
    """The owner's data key in clear, made on its first sensitive variable."""
    encrypted = store.owner_key(owner_id)
    if encrypted is None:
        plain, encrypted = sealing.new_owner_key(owner_id)
        if store.put_owner_key(owner_id, encrypted):
            return plain
        encrypted = store.owner_key(owner_id)
    return sealing.open_owner_key(owner_id, encrypted)


def _store_value(var: Variable, value: str) -> None:
    if var.sensitive:
        var.sealed, var.value = sealing.seal(_owner_key(var.owner_id), value, var.id), None
    else:
        var.value, var.sealed = value, None


def _create(owner_id: str, org: str, attrs: dict) -> Variable:
    fields, value = rules.validate_new(attrs, parse_hcl)
    rules.check_room(store.count_of(owner_id))
    var = Variable(id=new_id("var"), owner_id=owner_id, org=org, version_id=new_id("vv"),
                   created_at=now_iso(), **fields)
    _store_value(var, value or "")
    store.insert(var)
    return var


def _update(var: Variable, attrs: dict) -> Variable:
    fields, value = rules.validate_update(var, attrs, parse_hcl)
    new = Variable(**{**vars(var), **fields, "version_id": new_id("vv")})
    if value is not None:
        _store_value(new, value)
    elif new.sensitive and not var.sensitive:
        # made sensitive without a new value: the clear value is sealed now
        _store_value(new, var.value or "")
    store.replace(var, new)
    return new


def _variable(principal: Principal, var_id: str, owner_id: str | None = None) -> Variable:
    var = store.find(var_id)
    if var is None or (owner_id is not None and var.owner_id != owner_id):
        raise NotFound(f"variable {var_id} not found")
    principal.require_org(var.org, what="variable", ident=var_id)
    return var


# -- workspace variables -----------------------------------------------------------------------------

def of_workspace(principal: Principal, workspace_id: str) -> list[Variable]:
    ws = workspaces.get(principal, workspace_id)
    return store.of_owner(ws.id)[0]


def all_of_workspace(principal: Principal, workspace_id: str) -> list[Variable]:
    """What a run of the workspace would use (its variables and its sets', by precedence;
    python-tfe's list_all)."""
    ws = workspaces.get(principal, workspace_id)
    chosen, _ = phase_variables.resolve(ws, [])
    return [chosen[slot] for slot in sorted(chosen)]


def workspace_in_org(principal: Principal, org: str, workspace_id: str) -> Workspace:
    return workspaces.get_in_org(principal, org, workspace_id)


def create_in_workspace(principal: Principal, workspace_id: str, attrs: dict) -> Variable:
    ws = workspaces.get(principal, workspace_id)
    return _create(ws.id, ws.org, attrs)


def update(principal: Principal, var_id: str, attrs: dict, owner_id: str | None = None) -> Variable:
    return _update(_variable(principal, var_id, owner_id), attrs)


def delete(principal: Principal, var_id: str, owner_id: str | None = None) -> None:
    store.delete(_variable(principal, var_id, owner_id))


def get(principal: Principal, var_id: str, owner_id: str | None = None) -> Variable:
    return _variable(principal, var_id, owner_id)


def workspace_by_name(principal: Principal, org: str | None, name: str | None) -> Workspace:
    """The older /vars endpoints name the workspace by organization and workspace name."""
    if not org or not name:
        raise Unprocessable("filter[organization][name] and filter[workspace][name] are required")
    return workspaces.get_by_name(principal, organization_names.key_of(org), name)


def forget_workspace(workspace_id: str) -> None:
    """A deleted workspace's variables, data key and set memberships go with it."""
    store.delete_owner(workspace_id)
    store.unlink_workspace(workspace_id)


# -- variable sets -----------------------------------------------------------------------------------

def _varset(principal: Principal, varset_id: str) -> Varset:
    varset = store.find_set(varset_id)
    if varset is None:
        raise NotFound(f"variable set {varset_id} not found")
    principal.require_org(varset.org, what="variable set", ident=varset_id)
    varset.workspace_ids = store.workspaces_of(varset.id)
    return varset


def get_set(principal: Principal, varset_id: str) -> Varset:
    return _varset(principal, varset_id)


def sets_of_org(principal: Principal, org: str, query: str | None = None) -> list[Varset]:
    identity.get_org(principal, org)
    found = [s for s in store.sets_of_org(org) if not query or query.lower() in s.name.lower()]
    for varset in found:
        varset.workspace_ids = store.workspaces_of(varset.id)
    return found


def sets_of_workspace(principal: Principal, workspace_id: str) -> list[Varset]:
    """The sets that apply to the workspace: those applied to it and the global ones."""
    ws = workspaces.get(principal, workspace_id)
    ids = sorted(set(store.sets_of_workspace(ws.id)) | set(store.global_set_ids(ws.org)))
    found = store.sets_by_ids(ids)
    for varset in found:
        varset.workspace_ids = store.workspaces_of(varset.id)
    return sorted(found, key=lambda s: s.name)


def _workspace_ids(principal: Principal, org: str, refs: list[str]) -> list[str]:
    """Workspaces named in a request: each must be the set's organization's (another's: 404)."""
    out = []
    for ws_id in refs:
        ws = workspace_store.find(ws_id) if isinstance(ws_id, str) else None
        if ws is None or ws.org != org or not principal.can_see_org(ws.org):
            raise NotFound(f"workspace {ws_id} not found")
        out.append(ws.id)
    return out


def create_set(principal: Principal, org: str, attrs: dict, workspace_refs: list[str]) -> Varset:
    identity.get_org(principal, org)
    fields = rules.validate_varset(attrs, new=True)
    ws_ids = _workspace_ids(principal, org, workspace_refs)
    stamp = now_iso()
    varset = Varset(id=new_id("varset"), org=org, created_at=stamp, updated_at=stamp, **fields)
    store.insert_set(varset)
    store.link(varset.id, ws_ids)
    varset.workspace_ids = ws_ids
    return varset


def update_set(principal: Principal, varset_id: str, attrs: dict,
               workspace_refs: list[str] | None = None) -> Varset:
    varset = _varset(principal, varset_id)
    fields = rules.validate_varset(attrs, new=False)
    if fields:
        new = Varset(**{**vars(varset), **fields, "updated_at": now_iso()})
        store.update_set(varset, new)
        varset = new
    if workspace_refs is not None:      # the relationship given replaces the set's workspaces
        wanted = _workspace_ids(principal, varset.org, workspace_refs)
        store.unlink(varset.id, [w for w in varset.workspace_ids if w not in wanted])
        store.link(varset.id, [w for w in wanted if w not in varset.workspace_ids])
        varset.workspace_ids = wanted
    return varset


def delete_set(principal: Principal, varset_id: str) -> None:
    varset = _varset(principal, varset_id)
    store.unlink(varset.id, varset.workspace_ids)
    store.delete_owner(varset.id)
    store.delete_set(varset)


def apply_to_workspaces(principal: Principal, varset_id: str, refs: list[str], *, remove: bool) -> None:
    varset = _varset(principal, varset_id)
    ws_ids = _workspace_ids(principal, varset.org, refs)
    (store.unlink if remove else store.link)(varset.id, ws_ids)


def vars_of_set(principal: Principal, varset_id: str) -> list[Variable]:
    return store.of_owner(_varset(principal, varset_id).id)[0]


def create_in_set(principal: Principal, varset_id: str, attrs: dict) -> Variable:
    varset = _varset(principal, varset_id)
    return _create(varset.id, varset.org, attrs)


def var_ids_of(varset: Varset) -> list[str]:
    return [v.id for v in store.of_owner(varset.id)[0]]


def set_of(var: Variable) -> Varset | None:
    return store.find_set(var.owner_id) if var.owner_id.startswith("varset-") else None
