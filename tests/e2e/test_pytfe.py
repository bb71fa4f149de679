"""HashiCorp's Python SDK (pytfe) through the API-driven run workflow, in the suite itself
(the shared acceptance script, when present, runs too: test_devstack_runs.py)."""
import io

import pytest

from conftest import make_tgz, poll

pytestmark = pytest.mark.e2e


def test_pytfe_workflow(dev_stack):
    from pytfe import TFEClient, TFEConfig
    from pytfe.errors import TFEError
    from pytfe.models import (ConfigurationVersionCreateOptions, OrganizationCreateOptions,
                              RunApplyOptions, RunCreateOptions, RunIncludeOpt, RunListOptions,
                              RunReadOptions, Workspace, WorkspaceCreateOptions)
    tfe = TFEClient(TFEConfig(address=dev_stack.url, token=dev_stack.token, max_retries=2))
    org = tfe.organizations.create(OrganizationCreateOptions(name="pytfe-own", email="p@p.p"))
    assert org.name == "pytfe-own"
    ws = tfe.workspaces.create("pytfe-own", WorkspaceCreateOptions(name="sdk", auto_apply=False))
    cv = tfe.configuration_versions.create(ws.id, ConfigurationVersionCreateOptions(auto_queue_runs=False))
    blob = make_tgz({"main.tf": 'resource "null_resource" "sdk" {}\n'})
    tfe.configuration_versions.upload_tar_gzip(cv.upload_url, io.BytesIO(blob))
    poll(lambda: tfe.configuration_versions.read(cv.id).status.value, lambda s: s == "uploaded", timeout=30)

    run = tfe.runs.create(RunCreateOptions(workspace=Workspace(id=ws.id), message="sdk run"))
    assert poll(lambda: tfe.runs.read(run.id).status.value, lambda s: s in ("planned", "errored"),
                timeout=90) == "planned"
    read = tfe.runs.read_with_options(run.id, RunReadOptions(include=[RunIncludeOpt.RUN_PLAN]))
    assert read.plan.resource_additions == 1 and read.actions.is_confirmable
    tfe.runs.apply(run.id, RunApplyOptions(comment="go"))
    assert poll(lambda: tfe.runs.read(run.id).status.value, lambda s: s in ("applied", "errored"),
                timeout=90) == "applied"
    assert tfe.applies.read(read.apply.id).resource_additions == 1
    with pytest.raises(TFEError) as refused:
        tfe.runs.discard(run.id)
    assert refused.value.status == 409
    listed = [r.id for r in tfe.runs.list(ws.id, RunListOptions(page_size=1))]
    assert listed == [run.id]
    assert tfe.configuration_versions.download(cv.id) == blob


def test_pytfe_variables_and_variable_sets(dev_stack):
    from pytfe import TFEClient, TFEConfig
    from pytfe.errors import TFEError
    from pytfe.models import (CategoryType, OrganizationCreateOptions, VariableCreateOptions,
                              VariableSetApplyToWorkspacesOptions, VariableSetCreateOptions,
                              VariableSetRemoveFromWorkspacesOptions, VariableSetUpdateOptions,
                              VariableSetVariableCreateOptions, VariableUpdateOptions, Workspace,
                              WorkspaceCreateOptions)
    tfe = TFEClient(TFEConfig(address=dev_stack.url, token=dev_stack.token, max_retries=2))
    tfe.organizations.create(OrganizationCreateOptions(name="pytfe-vars", email="p@p.p"))
    ws = tfe.workspaces.create("pytfe-vars", WorkspaceCreateOptions(name="vars"))
    plain = tfe.variables.create(ws.id, VariableCreateOptions(key="region", value="eu-west-1",
                                                              category=CategoryType.TERRAFORM))
    secret = tfe.variables.create(ws.id, VariableCreateOptions(key="TOKEN", value="pytfe-secret-7",
                                                               category=CategoryType.ENV, sensitive=True))
    assert plain.value == "eu-west-1" and secret.value is None and secret.sensitive
    assert {v.key: v.value for v in tfe.variables.list(ws.id)} == {"region": "eu-west-1", "TOKEN": None}
    assert tfe.variables.read(ws.id, plain.id).key == "region"
    changed = tfe.variables.update(ws.id, plain.id, VariableUpdateOptions(value="us-east-1"))
    assert changed.value == "us-east-1"      # (pytfe does not map version-id)
    with pytest.raises(TFEError) as duplicate:
        tfe.variables.create(ws.id, VariableCreateOptions(key="region", value="x",
                                                          category=CategoryType.TERRAFORM))
    assert duplicate.value.status == 409

    varset = tfe.variable_sets.create("pytfe-vars", VariableSetCreateOptions(name="shared", **{"global": False}))
    tfe.variable_set_variables.create(varset.id, VariableSetVariableCreateOptions(
        key="color", value="blue", category=CategoryType.TERRAFORM))
    tfe.variable_sets.apply_to_workspaces(varset.id, VariableSetApplyToWorkspacesOptions(
        workspaces=[Workspace.model_construct(id=ws.id)]))
    assert [s.id for s in tfe.variable_sets.list_for_workspace(ws.id)] == [varset.id]
    assert [v.key for v in tfe.variable_set_variables.list(varset.id)] == ["color"]
    assert {v.key for v in tfe.variables.list_all(ws.id)} == {"region", "TOKEN", "color"}
    renamed = tfe.variable_sets.update(varset.id, VariableSetUpdateOptions(name="shared-2"))
    assert renamed.name == "shared-2" and tfe.variable_sets.read(varset.id).name == "shared-2"
    assert [s.name for s in tfe.variable_sets.list("pytfe-vars")] == ["shared-2"]
    tfe.variable_sets.remove_from_workspaces(varset.id, VariableSetRemoveFromWorkspacesOptions(
        workspaces=[Workspace.model_construct(id=ws.id)]))
    assert list(tfe.variable_sets.list_for_workspace(ws.id)) == []
    tfe.variable_sets.delete(varset.id)
    tfe.variables.delete(ws.id, plain.id)
    assert [v.key for v in tfe.variables.list(ws.id)] == ["TOKEN"]


def test_pytfe_uploads_past_the_function_url_limit_straight_to_s3(dev_stack):
    """pytfe sends no token to the upload URL, so it gets S3's own: an archive over the 6 MB a
    deployed API function could take arrives (no Terraless endpoint in between)."""
    import base64
    import os
    from urllib.parse import urlsplit
    from pytfe import TFEClient, TFEConfig
    from pytfe.models import ConfigurationVersionCreateOptions, OrganizationCreateOptions, WorkspaceCreateOptions
    tfe = TFEClient(TFEConfig(address=dev_stack.url, token=dev_stack.token, max_retries=2))
    tfe.organizations.create(OrganizationCreateOptions(name="pytfe-large", email="p@p.p"))
    ws = tfe.workspaces.create("pytfe-large", WorkspaceCreateOptions(name="large"))
    cv = tfe.configuration_versions.create(ws.id, ConfigurationVersionCreateOptions(auto_queue_runs=False))
    assert urlsplit(cv.upload_url).netloc != urlsplit(dev_stack.url).netloc
    assert "X-Amz-Signature" in cv.upload_url
    blob = make_tgz({"main.tf": "# large\n", "data.txt": base64.b64encode(os.urandom(7_000_000)).decode()})
    assert len(blob) > 6 * 1024 * 1024
    tfe.configuration_versions.upload_tar_gzip(cv.upload_url, io.BytesIO(blob))
    poll(lambda: tfe.configuration_versions.read(cv.id).status.value, lambda s: s == "uploaded", timeout=60)
    assert tfe.configuration_versions.download(cv.id) == blob
