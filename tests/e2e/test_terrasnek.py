"""terrasnek (a community TFE SDK) through the same API-driven workflow: its discovery
(relative tfe.v2 and modules.v1), its upload (bearer header, only HTTP 200 accepted), 202
actions with empty bodies, the 302 download, and list_all walking total-pages."""

import httpx
import pytest

from conftest import make_tgz, poll

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tfc(dev_stack):
    from terrasnek.api import TFC
    api = TFC(dev_stack.token, url=dev_stack.url, skip_version_check=True)
    if not any(o["id"] == "snek" for o in api.orgs.list()["data"]):
        api.orgs.create({"data": {"type": "organizations", "attributes": {
            "name": "snek", "email": "s@s.s"}}})
    api.set_org("snek")
    return api


def test_terrasnek_workflow(tfc, dev_stack, tmp_path, monkeypatch):
    ws = tfc.workspaces.create({"data": {"type": "workspaces", "attributes": {"name": "snek-ws"}}})["data"]
    for i in range(3):   # enough workspaces for list_all to walk several pages
        tfc.workspaces.create({"data": {"type": "workspaces", "attributes": {"name": f"extra-{i}"}}})
    cv = tfc.config_versions.create(ws["id"], {"data": {"type": "configuration-versions",
                                                        "attributes": {"auto-queue-runs": False}}})["data"]
    archive = tmp_path / "config.tar.gz"
    archive.write_bytes(make_tgz({"main.tf": 'resource "null_resource" "snek" {}\n'}))
    tfc.config_versions.upload(str(archive), cv["attributes"]["upload-url"])   # raises unless 200
    poll(lambda: tfc.config_versions.show(cv["id"])["data"]["attributes"]["status"],
         lambda s: s == "uploaded", timeout=30)

    run = tfc.runs.create({"data": {"attributes": {"message": "terrasnek"}, "type": "runs",
                                    "relationships": {
                                        "workspace": {"data": {"type": "workspaces", "id": ws["id"]}},
                                        "configuration-version": {"data": {"type": "configuration-versions",
                                                                           "id": cv["id"]}}}}})["data"]
    status = lambda: tfc.runs.show(run["id"])["data"]["attributes"]["status"]  # noqa: E731
    assert poll(status, lambda s: s in ("planned", "errored"), timeout=90) == "planned"
    tfc.runs.apply(run["id"], {"comment": "from terrasnek"})     # 202, empty body
    assert poll(status, lambda s: s in ("applied", "errored"), timeout=90) == "applied"
    plan = tfc.plans.show(tfc.runs.show(run["id"])["data"]["relationships"]["plan"]["data"]["id"])
    assert plan["data"]["attributes"]["resource-additions"] == 1

    # download answers 302; following it yields the uploaded bytes
    redirect = httpx.get(f"{dev_stack.url}/api/v2/configuration-versions/{cv['id']}/download",
                         headers=dev_stack.headers)
    assert redirect.status_code == 302
    assert httpx.get(redirect.headers["location"]).content == archive.read_bytes()
    tfc.config_versions.download_version_files(config_version_id=cv["id"])   # no error on 302

    # list_all asks for pages of MAX_PAGE_SIZE (100) and walks total-pages: with pages of 2,
    # four workspaces take it through several pages
    import terrasnek.endpoint
    monkeypatch.setattr(terrasnek.endpoint, "MAX_PAGE_SIZE", 2)
    names = {w["attributes"]["name"] for w in tfc.workspaces.list_all()["data"]}
    assert {"snek-ws", "extra-0", "extra-1", "extra-2"} <= names
    runs = tfc.runs.list_all(ws["id"])["data"]
    assert [r["id"] for r in runs] == [run["id"]]


def test_terrasnek_workspace_variables_and_variable_sets(tfc):
    ws = tfc.workspaces.create({"data": {"type": "workspaces", "attributes": {"name": "snek-vars"}}})["data"]
    created = tfc.workspace_vars.create(ws["id"], {"data": {"type": "vars", "attributes": {
        "key": "region", "value": "eu-west-1", "category": "terraform", "hcl": False,
        "sensitive": False}}})["data"]
    secret = tfc.workspace_vars.create(ws["id"], {"data": {"type": "vars", "attributes": {
        "key": "TOKEN", "value": "snek-secret-1", "category": "env", "sensitive": True}}})["data"]
    assert secret["attributes"]["value"] is None
    listed = {v["attributes"]["key"]: v["attributes"]["value"] for v in tfc.workspace_vars.list(ws["id"])["data"]}
    assert listed == {"region": "eu-west-1", "TOKEN": None}
    updated = tfc.workspace_vars.update(ws["id"], created["id"], {"data": {"type": "vars", "id": created["id"],
                                                                           "attributes": {"value": "us-east-1"}}})
    assert updated["data"]["attributes"]["value"] == "us-east-1"
    tfc.workspace_vars.destroy(ws["id"], created["id"])
    assert [v["id"] for v in tfc.workspace_vars.list(ws["id"])["data"]] == [secret["id"]]

    varset = tfc.var_sets.create({"data": {"type": "varsets", "attributes": {
        "name": "snek-set", "description": "", "global": False}}})["data"]
    tfc.var_sets.add_var_to_varset(varset["id"], {"data": {"type": "vars", "attributes": {
        "key": "shared", "value": "1", "category": "terraform"}}})
    tfc.var_sets.apply_varset_to_workspace(varset["id"], {"data": [{"type": "workspaces", "id": ws["id"]}]})
    assert [s["id"] for s in tfc.var_sets.list_for_workspace(ws["id"])["data"]] == [varset["id"]]
    assert [v["attributes"]["key"] for v in tfc.var_sets.list_vars_in_varset(varset["id"])["data"]] == ["shared"]
    assert tfc.var_sets.show(varset["id"])["data"]["attributes"]["name"] == "snek-set"
    tfc.var_sets.remove_varset_from_workspace(varset["id"], {"data": [{"type": "workspaces", "id": ws["id"]}]})
    assert tfc.var_sets.list_for_workspace(ws["id"])["data"] == []
    tfc.var_sets.destroy(varset["id"])
