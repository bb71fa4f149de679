"""JSON:API resource objects. Exact `type`s, `links.self`, dates in ISO-8601 with Z."""
from __future__ import annotations

from ..domain.configuration_versions import ConfigurationVersion

V2 = "/api/v2"


def owners_team_id(org: str) -> str:
    import hashlib
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
            "external-id": org.name, "session-timeout": org.session_timeout,
            "session-remember": org.session_remember,
            "collaborator-auth-policy": org.collaborator_auth_policy,
            "cost-estimation-enabled": org.cost_estimation_enabled,
            "permissions": {"can-update": True, "can-destroy": True,
                            "can-create-workspace": True, "can-manage-users": True},
            "saml-enabled": False, "two-factor-conformant": True,
        },
        "relationships": {
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
            "file-triggers-enabled": ws.file_triggers_enabled, "locked": ws.locked,
            "locked-reason": ws.lock_reason or "" if ws.locked else "",
            "queue-all-runs": ws.queue_all_runs, "speculative-enabled": ws.speculative_enabled,
            "source": "tfe-api", "structured-run-output-enabled": True,
            "terraform-version": ws.terraform_version,
            "trigger-prefixes": list(ws.trigger_prefixes or []), "trigger-patterns": [],
            "tag-names": list(ws.tag_names or []), "vcs-repo": None, "vcs-repo-identifier": None,
            "working-directory": ws.working_directory or "", "global-remote-state": False,
            "resource-count": 0, "can-queue-destroy-plan": ws.allow_destroy_plan,
            "actions": {"is-destroyable": True},
            "permissions": {p: True for p in perms},
            "setting-overwrites": {"execution-mode": False, "agent-pool": False},
        },
        "relationships": {
            "organization": _rel("organizations", ws.org),
            "current-configuration-version": _rel(
                "configuration-versions", ws.current_cv_id),
            "locked-by": _rel("users", ws.locked_by if ws.locked and ws.locked_by and
                              ws.locked_by.startswith("user-") else None),
        },
        "links": {"self": f"{V2}/workspaces/{ws.id}",
                  "self-html": f"/app/{ws.org}/workspaces/{ws.name}"},
    }


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
             "expired-at": None, "token": secret}
    rels = {"created-by": _rel("users", t.user_id)} if t.user_id else {}
    return {"id": t.id, "type": "authentication-tokens", "attributes": attrs,
            "relationships": rels, "links": {"self": f"{V2}/authentication-tokens/{t.id}"}}


def membership(m, u=None) -> dict:
    return {
        "id": m.id, "type": "organization-memberships",
        "attributes": {"status": m.status, "created-at": m.created_at,
                       "email": u.email if u else None},
        "relationships": {
            "organization": _rel("organizations", m.org),
            "user": _rel("users", m.user_id),
            "teams": {"data": [{"type": "teams", "id": owners_team_id(m.org)}]},
        },
        "links": {"self": f"{V2}/organization-memberships/{m.id}"},
    }
