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
