"""A run created right after an upload (the README's copy-paste workflow) uses that upload's
code: it waits for the configuration version being processed — never plans an older one — and
errors with the version's reason if the upload is rejected."""
from __future__ import annotations

import pytest

from tests.conftest import make_tgz, poll

NEW_TF = 'resource "null_resource" "new_code" {}\n'


def _upload_without_processing(api, ws: str, raw: bytes) -> str:
    created = api.post(f"/api/v2/workspaces/{ws}/configuration-versions",
                       {"data": {"type": "configuration-versions", "attributes": {"auto-queue-runs": False}}})
    cv = created.json["data"]
    path = cv["attributes"]["upload-url"].replace("http://terraless.test", "")
    assert api.as_token(None).put(path, raw).status_code == 200
    return cv["id"]


def _run(api, ws: str) -> dict:
    resp = api.post("/api/v2/runs", {"data": {"attributes": {"message": "right after the upload"},
                    "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}})
    assert resp.status_code == 201, resp.body
    return resp.json["data"]


def _status(api, drain, run_id: str, *final: str) -> dict:
    def read():
        drain()
        return api.get(f"/api/v2/runs/{run_id}").json["data"]["attributes"]
    return poll(read, lambda a: a["status"] in final, timeout=90)


@pytest.fixture
def older(api, workspace, upload):
    """The workspace already has an uploaded version with other code."""
    return upload(workspace, {"main.tf": 'resource "null_resource" "old_code" {}\n'})


def test_a_run_right_after_an_upload_plans_that_upload(api, workspace, older, drain):
    fresh = _upload_without_processing(api, workspace, make_tgz({"main.tf": NEW_TF}))
    run = _run(api, workspace)                       # the upload's S3 event not yet handled
    assert run["relationships"]["configuration-version"]["data"]["id"] == fresh
    assert run["attributes"]["status"] == "pending"
    done = _status(api, drain, run["id"], "planned", "errored")
    assert done["status"] == "planned"
    plan = api.get(f"/api/v2/runs/{run['id']}/plan").json["data"]["attributes"]
    log = api.as_token(None).get(plan["log-read-url"].replace("http://terraless.test", "")).body.decode()
    assert "null_resource.new_code" in log and "old_code" not in log


def test_a_run_waiting_for_a_rejected_upload_errors_with_its_reason(api, workspace, older, drain):
    _upload_without_processing(api, workspace, b"not a gzip archive")
    run = _run(api, workspace)
    done = _status(api, drain, run["id"], "errored", "planned")
    assert done["status"] == "errored" and "errored" in done["error-text"]
    # the workspace is free again: a run on the good version plans
    again = api.post("/api/v2/runs", {"data": {"attributes": {"message": "on the older code"},
                     "relationships": {"workspace": {"data": {"type": "workspaces", "id": workspace}},
                                       "configuration-version": {"data": {"id": older}}}}})
    assert _status(api, drain, again.json["data"]["id"], "planned", "errored")["status"] == "planned"


def test_a_version_created_but_never_uploaded_is_not_the_latest(api, workspace, older, drain):
    api.post(f"/api/v2/workspaces/{workspace}/configuration-versions",
             {"data": {"type": "configuration-versions", "attributes": {"auto-queue-runs": False}}})
    run = _run(api, workspace)
    assert run["relationships"]["configuration-version"]["data"]["id"] == older


def test_a_job_right_after_an_upload_runs_that_upload(api, workspace, older, drain):
    import base64
    fresh = _upload_without_processing(api, workspace, make_tgz({"main.tf": NEW_TF}))
    flow = base64.b64encode(b'flow:\n  - {type: "terraformPlan", name: "Plan", step: 100}\n').decode()
    created = api.post(f"/api/v1/workspace/{workspace}/job", {"data": {"type": "job", "attributes": {
        "tcl": flow}, "relationships": {"workspace": {"data": {"type": "workspace", "id": workspace}}}}})
    assert created.status_code == 201, created.body
    job_id = created.json["data"]["id"]
    from chalicelib.storage import jobs as job_store
    assert job_store.find(job_id).cv_id == fresh

    def status():
        drain()
        return api.get(f"/api/v1/workspace/{workspace}/job/{job_id}").json["data"]["attributes"]["status"]
    assert poll(status, lambda s: s in ("completed", "failed"), timeout=90) == "completed"
