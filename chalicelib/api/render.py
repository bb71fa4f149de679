"""JSON:API resource objects. Exact `type`s, `links.self`, dates in ISO-8601 with Z."""
from __future__ import annotations

import hashlib

from ..domain.agents import execution_details
from ..domain.configuration_versions import ConfigurationVersion
from ..domain.workspaces import tag_id
from ..services import organization_names

V2 = "/api/v2"


def owners_team_id(org: str) -> str:
    return "team-" + hashlib.sha256(org.encode()).hexdigest()[:16]


def _rel(type_: str, id_: str | None, related: str | None = None) -> dict:
    rel: dict = {"data": {"type": type_, "id": id_} if id_ else None}
    if related:
        rel["links"] = {"related": related}
    return rel


def organization(org) -> dict:
    return {
        "id": org.name, "type": "organizations",
        "attributes": {
            "name": org.name, "email": org.email, "created-at": org.created_at,
            "external-id": org.key, "session-timeout": org.session_timeout,
            "session-remember": org.session_remember,
            "collaborator-auth-policy": org.collaborator_auth_policy,
            "cost-estimation-enabled": org.cost_estimation_enabled,
            "permissions": {"can-update": True, "can-destroy": True,
                            "can-create-workspace": True, "can-manage-users": True},
            "saml-enabled": False, "two-factor-conformant": True,
            "default-execution-mode": org.default_execution_mode,
        },
        "relationships": {
            "default-agent-pool": _rel("agent-pools", org.default_agent_pool_id),
            "authentication-token": {"links": {"related": f"{V2}/organizations/{org.name}/authentication-token"}},
            "entitlement-set": _rel("entitlement-sets", f"org-{org.name}",
                                    f"{V2}/organizations/{org.name}/entitlement-set"),
        },
        "links": {"self": f"{V2}/organizations/{org.name}"},
    }


def entitlement_set(org_name: str) -> dict:
    on = ("operations", "private-module-registry", "state-storage", "teams", "vcs-integrations")
    off = ("agents", "audit-logging", "cost-estimation", "global-run-tasks", "module-tests-generation",
           "policy-enforcement", "run-tasks", "sentinel", "sso", "usage-reporting",
           "self-serve-billing", "configuration-designer")
    attrs = {name: True for name in on}
    attrs.update({name: False for name in off})
    return {"id": f"org-{org_name}", "type": "entitlement-sets", "attributes": attrs,
            "links": {"self": f"{V2}/entitlement-sets/org-{org_name}"}}


def workspace(ws) -> dict:
    perms = ("can-update", "can-destroy", "can-queue-run", "can-read-variable",
             "can-update-variable", "can-read-state-versions", "can-read-state-outputs",
             "can-create-state-versions", "can-queue-apply", "can-lock", "can-unlock",
             "can-force-unlock", "can-read-settings", "can-manage-tags", "can-queue-destroy",
             "can-read-run-state", "can-manage-run-tasks", "can-force-delete")
    return {
        "id": ws.id, "type": "workspaces",
        "attributes": {
            "name": ws.name, "description": ws.description, "auto-apply": ws.auto_apply,
            "allow-destroy-plan": ws.allow_destroy_plan, "created-at": ws.created_at,
            "updated-at": ws.updated_at, "environment": "default",
            "execution-mode": ws.execution_mode, "operations": ws.execution_mode == "remote",
            # a run holding the workspace locks it, as in HCP
            "file-triggers-enabled": ws.file_triggers_enabled, "locked": ws.locked or ws.held_by_run,
            "locked-reason": ws.lock_reason or "" if ws.locked else "",
            "queue-all-runs": ws.queue_all_runs, "speculative-enabled": ws.speculative_enabled,
            # plain logs: the phases run terraform without -json (OpenTofu's cloud backend
            # would otherwise render the plan from JSON log lines, and parse X-TFE-Version as a date)
            "source": "tfe-api", "structured-run-output-enabled": False,
            "terraform-version": ws.terraform_version,
            "trigger-prefixes": list(ws.trigger_prefixes or []), "trigger-patterns": [],
            "tag-names": list(ws.tag_names or []), "vcs-repo": None, "vcs-repo-identifier": None,
            "engine": ws.engine,
            "working-directory": ws.working_directory or "", "global-remote-state": False,
            "resource-count": ws.current_sv_resources or 0, "workspace-kpis-runs-count": ws.run_seq,
            "can-queue-destroy-plan": ws.allow_destroy_plan,
            "actions": {"is-destroyable": True},
            "permissions": {p: True for p in perms},
            "setting-overwrites": {"execution-mode": ws.setting_overwrites, "agent-pool": ws.setting_overwrites},
        },
        "relationships": {
            "organization": _rel("organizations", organization_names.name_of(ws.org)),
            "agent-pool": _rel("agent-pools", ws.agent_pool_id),
            "current-configuration-version": _rel(
                "configuration-versions", ws.current_cv_id),
            # the workspace may be held by a Terrakube job (job-...): TFE clients see runs only
            "current-run": _rel("runs", ws.current_run_id if (ws.current_run_id or "").startswith("run-")
                                else ws.latest_run_id),
            "latest-run": _rel("runs", ws.latest_run_id),
            "current-state-version": _rel("state-versions", ws.current_sv_id,
                                          f"{V2}/workspaces/{ws.id}/current-state-version"),
            "locked-by": _rel("users", ws.locked_by) if ws.locked and (ws.locked_by or "").startswith("user-")
            else _rel("runs", ws.current_run_id if ws.held_by_run and not ws.locked else None),
            "tags": {"data": [{"id": tag_id(ws.org, t), "type": "tags"} for t in ws.tag_names or []]},
        },
        "links": {"self": f"{V2}/organizations/{organization_names.name_of(ws.org)}/workspaces/{ws.name}",
                  "self-html": f"/app/{organization_names.name_of(ws.org)}/workspaces/{ws.name}"},
    }


def _run_event_id(r, action: str) -> str:
    return "re-" + hashlib.sha256(f"{r.id}:{action}".encode()).hexdigest()[:16]


def run_event(r, action: str, at: str) -> dict:
    return {"id": _run_event_id(r, action), "type": "run-events",
            "attributes": {"action": action, "created-at": at,
                           "description": f"Run {action.replace('-', ' ')}"},
            "relationships": {"run": _rel("runs", r.id)}}


def tag(org: str, name: str) -> dict:
    return {"id": tag_id(org, name), "type": "tags", "attributes": {"name": name}}


def ingress_id(cv: ConfigurationVersion) -> str:
    return "ia-" + cv.id.split("-", 1)[1]


def configuration_version(cv: ConfigurationVersion, *, upload_url: str | None = None) -> dict:
    attrs = {
        "auto-queue-runs": cv.auto_queue_runs, "error": cv.error, "error-message": cv.error_message,
        "source": cv.source, "speculative": cv.speculative, "provisional": cv.provisional,
        "status": cv.status.value, "status-timestamps": dict(cv.status_timestamps),
        "created-at": cv.created_at, "changed-files": [],
    }
    if upload_url:
        attrs["upload-url"] = upload_url
    links = {"self": f"{V2}/configuration-versions/{cv.id}"}
    if cv.downloadable:
        links["download"] = f"{V2}/configuration-versions/{cv.id}/download"
    return {
        "id": cv.id, "type": "configuration-versions", "attributes": attrs,
        "relationships": {
            "ingress-attributes": _rel(
                "ingress-attributes", ingress_id(cv) if cv.ingress else None,
                f"{V2}/configuration-versions/{cv.id}/ingress-attributes"),
            "workspace": _rel("workspaces", cv.workspace_id),
        },
        "links": links,
    }


def ingress_attributes(cv: ConfigurationVersion) -> dict | None:
    if not cv.ingress:
        return None
    attrs = {key: None for key in (
        "branch", "clone-url", "commit-message", "commit-sha", "commit-url", "compare-url",
        "identifier", "is-pull-request", "on-default-branch", "pull-request-number",
        "pull-request-url", "pull-request-title", "pull-request-body", "tag", "sender-username",
        "sender-avatar-url", "sender-html-url")}
    attrs.update(cv.ingress)
    ia = ingress_id(cv)
    return {"id": ia, "type": "ingress-attributes", "attributes": attrs,
            "links": {"self": f"{V2}/ingress-attributes/{ia}"}}


def user(u) -> dict:
    return {
        "id": u.id, "type": "users",
        "attributes": {"username": u.username, "email": u.email, "is-site-admin": u.site_admin,
                       "is-service-account": False, "two-factor": {"enabled": False},
                       "avatar-url": None, "v2-only": True,
                       "permissions": {"can-create-organizations": True,
                                       "can-change-email": True, "can-change-username": True}},
        "relationships": {"authentication-tokens": {
            "links": {"related": f"{V2}/users/{u.id}/authentication-tokens"}}},
        "links": {"self": f"{V2}/users/{u.id}"},
    }


def token(t, *, secret: str | None = None) -> dict:
    attrs = {"created-at": t.created_at, "description": t.description, "last-used-at": None,
             "expired-at": t.expired_at, "token": secret}
    # a user token's creator is its user, an agent token's the user who made it; an
    # organization token stands for its organization (go-tfe wants exactly one creator kind)
    rels = {"created-by": _rel("users", t.user_id or t.created_by) if t.user_id or t.kind == "agent"
            else _rel("organizations", organization_names.name_of(t.org))}
    return {"id": t.id, "type": "authentication-tokens", "attributes": attrs,
            "relationships": rels, "links": {"self": f"{V2}/authentication-tokens/{t.id}"}}


def agent_pool(pool) -> dict:
    ids = lambda kind, values: {"data": [{"type": kind, "id": v} for v in values]}  # noqa: E731
    return {"id": pool.id, "type": "agent-pools",
            "attributes": {"name": pool.name, "created-at": pool.created_at, "agent-count": 0,
                           "organization-scoped": pool.organization_scoped},
            "relationships": {"organization": _rel("organizations", organization_names.name_of(pool.org)),
                              "allowed-workspaces": ids("workspaces", pool.allowed_workspace_ids),
                              "excluded-workspaces": ids("workspaces", pool.excluded_workspace_ids),
                              "allowed-projects": {"data": []}, "workspaces": {"data": []}},
            "links": {"self": f"{V2}/agent-pools/{pool.id}"}}


def agent(a, now_epoch: float) -> dict:
    return {"id": a.id, "type": "agents",
            "attributes": {"name": a.name, "status": a.shown_status(now_epoch), "ip-address": a.ip_address,
                           "last-ping-at": a.last_ping_at},
            "relationships": {"agent-pool": _rel("agent-pools", a.pool_id)},
            "links": {"self": f"{V2}/agents/{a.id}"}}


def membership(m, u=None) -> dict:
    return {
        "id": m.id, "type": "organization-memberships",
        "attributes": {"status": m.status, "created-at": m.created_at,
                       "email": u.email if u else None},
        "relationships": {
            "organization": _rel("organizations", organization_names.name_of(m.org)),
            "user": _rel("users", m.user_id),
            "teams": {"data": [{"type": "teams", "id": owners_team_id(m.org)}]},
        },
        "links": {"self": f"{V2}/organization-memberships/{m.id}"},
    }


# -- runs, plans, applies, state versions -----------------------------------------------------------

def _phase_timestamps(phase) -> dict:
    stamps = dict(phase.status_timestamps)
    if "running-at" in stamps:          # clients know the phase start as started-at
        stamps["started-at"] = stamps["running-at"]
    return stamps


def run(r, now) -> dict:
    o = r.options
    attrs = {
        "actions": r.actions(now),
        "allow-config-generation": False, "allow-empty-apply": False,
        "auto-apply": o.auto_apply, "canceled-at": r.status_timestamps.get("canceled-at"),
        "created-at": r.created_at, "error-text": r.error_text, "has-changes": r.has_changes,
        "is-destroy": o.is_destroy, "message": o.message, "metadata": {},
        "plan-only": o.plan_only or r.speculative, "refresh": o.refresh,
        "refresh-only": o.refresh_only, "replace-addrs": o.replace_addrs or None,
        "target-addrs": o.target_addrs or None, "save-plan": False, "source": r.source,
        "speculative": r.speculative, "status": r.status.value,
        # the run could be queued from its creation on (no policy or run task holds it back)
        "status-timestamps": {"plan-queueable-at": r.created_at, **r.status_timestamps},
        "terraform-version": r.terraform_version, "trigger-reason": "manual",
        "variables": [{"key": v["key"], "value": v["value"]} for v in o.variables],
        "position-in-queue": 0,
        "permissions": {"can-apply": True, "can-cancel": True, "can-comment": True,
                        "can-discard": True, "can-force-execute": True, "can-force-cancel": True,
                        "can-override-policy-check": False},
    }
    if r.force_cancel_available_at:
        attrs["force-cancel-available-at"] = r.force_cancel_available_at
    rels = {
        "workspace": _rel("workspaces", r.workspace_id),
        "configuration-version": _rel("configuration-versions", r.cv_id,
                                      f"{V2}/runs/{r.id}/configuration-version"),
        "plan": _rel("plans", r.plan.id, f"{V2}/runs/{r.id}/plan"),
        "apply": _rel("applies", r.apply.id, f"{V2}/runs/{r.id}/apply"),
        "created-by": _rel("users", r.created_by),
        "confirmed-by": _rel("users", r.confirmed_by), "canceled-by": _rel("users", None),
        "input-state-version": _rel("state-versions", None),
        "cost-estimate": _rel("cost-estimates", None),
        "policy-checks": {"data": []},
        "run-events": {"data": [{"type": "run-events", "id": _run_event_id(r, action)}
                                for action, _ in r.events()]}, "task-stages": {"data": []},
        "comments": {"data": [{"type": "comments", "id": comment_id(r, i)} for i in range(len(r.comments))]},
        "workspace-run-alerts": {"data": []},
    }
    return {"id": r.id, "type": "runs", "attributes": attrs, "relationships": rels,
            "links": {"self": f"{V2}/runs/{r.id}"}}


def comment_id(r, index: int) -> str:
    """A comment's id: its run's suffix and its place among the run's comments."""
    return f"wsc-{r.id.split('-', 1)[1]}{index}"


def comment(r, index: int) -> dict:
    c = r.comments[index]
    return {"id": comment_id(r, index), "type": "comments",
            "attributes": {"body": c.get("body"), "created-at": c.get("at")},
            "relationships": {"run-event": _rel("run-events", None), "user": _rel("users", c.get("by"))},
            "links": {"self": f"{V2}/comments/{comment_id(r, index)}"}}


def plan(r, log_read_url: str) -> dict:
    p = r.plan
    return {
        "id": p.id, "type": "plans",
        "attributes": {
            "status": p.status.value, "status-timestamps": _phase_timestamps(p),
            "has-changes": p.has_changes, "resource-additions": p.additions,
            "resource-changes": p.changes, "resource-destructions": p.destructions,
            "resource-imports": 0, "log-read-url": log_read_url,
            "execution-details": execution_details(p.worker), "generated-configuration": False,
        },
        "relationships": {"state-versions": {"data": []}, "exports": {"data": []}},
        "links": {"self": f"{V2}/plans/{p.id}", "json-output": f"{V2}/plans/{p.id}/json-output"},
    }


def apply(r, log_read_url: str) -> dict:
    a = r.apply
    sv = [{"type": "state-versions", "id": r.state_version_id}] if r.state_version_id else []
    return {
        "id": a.id, "type": "applies",
        "attributes": {
            "status": a.status.value, "status-timestamps": _phase_timestamps(a),
            "resource-additions": a.additions, "resource-changes": a.changes,
            "resource-destructions": a.destructions, "resource-imports": 0,
            "log-read-url": log_read_url, "execution-details": execution_details(a.worker),
        },
        "relationships": {"state-versions": {"data": sv}},
        "links": {"self": f"{V2}/applies/{a.id}"},
    }


def _outputs_of(sv) -> dict:
    raw = sv.outputs
    return raw.as_dict() if hasattr(raw, "as_dict") else dict(raw or {})


def state_version(sv, public_url: str, *, upload_urls=(None, None), json_download_url=None) -> dict:
    finalized = sv.status == "finalized"
    return {
        "id": sv.id, "type": "state-versions",
        "attributes": {
            "created-at": sv.created_at, "serial": int(sv.serial), "lineage": sv.lineage,
            "md5": sv.md5, "size": int(sv.size), "status": sv.status,
            "resources-processed": finalized, "terraform-version": sv.terraform_version,
            "hosted-state-download-url": f"{public_url}{V2}/state-versions/{sv.id}/download" if finalized else None,
            "hosted-state-upload-url": upload_urls[0], "hosted-json-state-upload-url": upload_urls[1],
            "hosted-json-state-download-url": json_download_url, "state-version": 4,
            "billable-rum-count": int(sv.resources or 0),
            "modules": None, "providers": None, "resources": None,
        },
        "relationships": {
            "run": _rel("runs", sv.run_id), "created-by": _rel("users", sv.created_by),
            "workspace": _rel("workspaces", sv.workspace_id),
            "outputs": {"data": [{"type": "state-version-outputs", "id": f"wsout-{sv.id[3:]}{i}"}
                                 for i, _ in enumerate(sorted(_outputs_of(sv)))]},
        },
        "links": {"self": f"{V2}/state-versions/{sv.id}"},
    }


def workspace_outputs(sv) -> list[dict]:
    """A workspace's current outputs as HCP includes them with it (sensitive values null)."""
    return [{"id": o["id"], "type": "workspace-outputs",
             "attributes": {"name": o["attributes"]["name"], "sensitive": o["attributes"]["sensitive"],
                            "output-type": o["attributes"]["type"], "value": o["attributes"]["value"]}}
            for o in state_version_outputs(sv)]


def _output_type(detailed) -> str | None:
    """HCP Terraform's `type` of an output is the JSON kind ("array" for list, tuple and set;
    "object" for object and map), a string: go-tfe refuses a list there ("Invalid type
    provided"); the type terraform wrote is `detailed-type`."""
    if isinstance(detailed, list) and detailed:
        return "array" if detailed[0] in ("list", "tuple", "set") else "object"
    return detailed


def state_version_outputs(sv, *, reveal_sensitive: bool = False) -> list[dict]:
    """`reveal_sensitive`: HCP shows sensitive values only where the state version itself is
    asked for (its outputs list, to those who may download its state anyway); the workspace's
    current outputs and a single output show null."""
    outputs = _outputs_of(sv)
    return [{"id": f"wsout-{sv.id[3:]}{i}", "type": "state-version-outputs",
             "attributes": {"name": name, "sensitive": o.get("sensitive", False),
                            "type": _output_type(o.get("type")),
                            "value": None if o.get("sensitive") and not reveal_sensitive else o.get("value"),
                            "detailed-type": o.get("type")},
             "links": {"self": f"{V2}/state-version-outputs/wsout-{sv.id[3:]}{i}"}}
            for i, (name, o) in enumerate(sorted(outputs.items()))]
