"""Runs take their inputs and credentials from variables, with real terraform: workspace
variables, variable sets (workspace-scoped, global, priority) and the run's own, by HCP's
precedence; env variables in the environment of terraform's commands; values fixed when the
plan starts; sensitive values never stored or shown in clear. Both engines where they can."""
import base64
import json

import pytest

from conftest import Runs, engine_in_process, engine_through_dev_stack, poll

SECRET = "Sup3r-Secret-Value-0042"

CONFIG = {"main.tf": """
variable "greeting" {}
variable "size" {}
variable "color" {}
variable "forced" {}
variable "from_run" {}
variable "shape" { type = object({ sides = number }) }
variable "api_key" {}
resource "null_resource" "r" {
  provisioner "local-exec" {
    command = "echo env-length=$${#DEPLOY_TOKEN} region=$REGION key-length=${length(var.api_key)}"
  }
}
output "summary" {
  value = "${var.greeting}/${var.size}/${var.color}/${var.forced}/${var.from_run}/${var.shape.sides}"
}
""", "defaults.auto.tfvars": 'greeting = "from the configuration"\n'}


def var_body(key, value, category="terraform", **attrs):
    return {"data": {"type": "vars", "attributes": {"key": key, "value": value,
                                                    "category": category, **attrs}}}


@pytest.fixture(params=["in-process", pytest.param("dev-stack", marks=pytest.mark.e2e)])
def runs(request) -> Runs:
    if request.param == "in-process":
        return engine_in_process(request)
    return engine_through_dev_stack(request, org="vars-e2e")


def _set(runs, name, values, *, global_=False, priority=False):
    body = {"data": {"type": "varsets", "attributes": {"name": name, "global": global_,
                                                       "priority": priority}}}
    if not global_:
        body["data"]["relationships"] = {"workspaces": {"data": [{"type": "workspaces", "id": runs.ws}]}}
    created = runs.api.post(f"/api/v2/organizations/{runs.org}/varsets", body)
    assert created.status_code == 201, created.body
    for key, value in values.items():
        assert runs.api.post(f"/api/v2/varsets/{created.json['data']['id']}/relationships/vars",
                             var_body(key, value)).status_code == 201
    return created.json["data"]["id"]


def _outputs(runs, run_id) -> dict:
    sv = runs.api.get(f"/api/v2/workspaces/{runs.ws}/current-state-version").json["data"]
    state = runs.api.get(f"/api/v2/state-versions/{sv['id']}/download").json
    assert state["serial"] >= 1, run_id
    return {k: v["value"] for k, v in state["outputs"].items()}


def _log(runs, run_id, phase) -> str:
    url = runs.api.get(f"/api/v2/runs/{run_id}/{phase}").json["data"]["attributes"]["log-read-url"]
    return runs.log(url).body.decode()


def test_a_run_uses_variables_by_precedence_and_fixes_them_at_plan(runs):
    ws_vars = f"/api/v2/workspaces/{runs.ws}/vars"
    suffix = runs.ws[-6:].lower()
    for body in (var_body("greeting", "hello"), var_body("size", "workspace"),
                 var_body("forced", "workspace"), var_body("shape", "{ sides = 3 }", hcl=True),
                 var_body("api_key", SECRET, sensitive=True),
                 var_body("REGION", "eu-west-1", "env"),
                 var_body("DEPLOY_TOKEN", SECRET, "env", sensitive=True)):
        assert runs.api.post(ws_vars, body).status_code == 201
    # a workspace set loses to the workspace; a global set fills what nothing else gives; a
    # priority set overrides the workspace and the run
    _set(runs, f"b-{suffix}", {"size": "set", "color": "workspace set"})
    _set(runs, f"a-{suffix}", {"color": "first by name"})
    _set(runs, f"global-{suffix}", {"color": "global"}, global_=True)
    _set(runs, f"prio-{suffix}", {"forced": "priority"}, priority=True)
    runs.upload(CONFIG)
    run_id = runs.create(variables=[{"key": "from_run", "value": '"run"'},
                                    {"key": "forced", "value": '"run"'}])
    assert runs.wait(run_id, "planned", "errored") == "planned", runs.get(run_id)["attributes"]
    # changed while the run waits for its apply: this run keeps what its plan used
    token = next(v for v in runs.api.get(ws_vars).json["data"] if v["attributes"]["key"] == "DEPLOY_TOKEN")
    assert runs.api.patch(f"{ws_vars}/{token['id']}", {"data": {"attributes": {
        "value": "a-much-longer-replacement-token-value"}}}).status_code == 200
    assert runs.action(run_id, "apply").status_code == 202
    assert runs.wait(run_id, "applied", "errored") == "applied", runs.get(run_id)["attributes"]
    assert _outputs(runs, run_id) == {
        "summary": "hello/workspace/first by name/priority/run/3"}
    applied = _log(runs, run_id, "apply")
    assert f"env-length={len(SECRET)} region=eu-west-1 key-length={len(SECRET)}" in applied
    # the log never shows the value, even where terraform would print it
    plan_log = _log(runs, run_id, "plan")
    assert SECRET not in plan_log and SECRET not in applied


def test_sensitive_values_are_masked_wherever_terraform_prints_them(runs):
    runs.api.post(f"/api/v2/workspaces/{runs.ws}/vars", var_body("leak", SECRET, sensitive=True))
    runs.upload({"main.tf": 'variable "leak" {}\n'
                            'resource "null_resource" "r" { triggers = { v = var.leak } }\n'})
    run_id = runs.create(**{"plan-only": True})
    assert runs.wait(run_id, "planned_and_finished", "errored") == "planned_and_finished"
    log = _log(runs, run_id, "plan")
    assert "***" in log and SECRET not in log


PLAN_APPLY = """
flow:
  - type: "terraformPlan"
    name: "Plan"
    step: 100
  - type: "terraformApply"
    name: "Apply"
    step: 200
"""


def test_a_terrakube_job_uses_the_workspace_variables(runs):
    """Jobs run on the same engine: their plan and apply steps get the variables too."""
    runs.api.post(f"/api/v2/workspaces/{runs.ws}/vars", var_body("greeting", "from a job"))
    runs.api.post(f"/api/v2/workspaces/{runs.ws}/vars", var_body("JOB_ENV", "job-env-value", "env"))
    runs.upload({"main.tf": 'variable "greeting" {}\noutput "g" { value = var.greeting }\n'
                            'resource "null_resource" "r" {\n  provisioner "local-exec" {\n'
                            '    command = "echo job-env=$JOB_ENV"\n  }\n}\n'})
    job = runs.api.post(f"/api/v1/workspace/{runs.ws}/job", {"data": {"type": "job", "attributes": {
        "tcl": base64.b64encode(PLAN_APPLY.encode()).decode()},
        "relationships": {"workspace": {"data": {"type": "workspace", "id": runs.ws}}}}})
    assert job.status_code == 201, job.body
    path = f"/api/v1/workspace/{runs.ws}/job/{job.json['data']['id']}"
    done = poll(lambda: runs.api.get(path).json["data"]["attributes"], lambda a: a["status"] in (
        "completed", "failed", "cancelled"), timeout=120)
    assert done["status"] == "completed", done
    assert "job-env=job-env-value" in done["steps"][1]["output"]
    assert _outputs(runs, job.json["data"]["id"]) == {"g": "from a job"}


def _everything_stored() -> str:
    """Every DynamoDB item and every version of every S3 object of the emulated account."""
    from chalicelib.aws.clients import client
    from chalicelib.config import settings
    ddb, s3 = client("dynamodb"), client("s3")
    parts = []
    for table in ddb.list_tables()["TableNames"]:
        parts.append(json.dumps(ddb.scan(TableName=table)["Items"]))
    for version in s3.list_object_versions(Bucket=settings().bucket).get("Versions", []):
        body = s3.get_object(Bucket=settings().bucket, Key=version["Key"],
                             VersionId=version["VersionId"])["Body"].read()
        parts.append(body.decode("latin-1"))
    return "\n".join(parts)


def test_nothing_stored_holds_a_sensitive_value_in_clear(request):
    runs = engine_in_process(request)
    runs.api.post(f"/api/v2/workspaces/{runs.ws}/vars", var_body("api_key", SECRET, sensitive=True))
    runs.api.post(f"/api/v2/workspaces/{runs.ws}/vars",
                  var_body("DEPLOY_TOKEN", SECRET[::-1], "env", sensitive=True))
    runs.upload({"main.tf": 'variable "api_key" {}\n'
                            'resource "null_resource" "r" {\n  triggers = { n = length(var.api_key) }\n'
                            '  provisioner "local-exec" { command = "echo $DEPLOY_TOKEN; echo ${var.api_key}" }\n}\n'})
    run_id = runs.create(**{"auto-apply": True})
    assert runs.wait(run_id, "applied", "errored") == "applied", runs.get(run_id)["attributes"]
    plan = runs.api.get(f"/api/v2/runs/{run_id}/plan").json["data"]
    poll(lambda: runs.api.get(f"/api/v2/plans/{plan['id']}/json-output").status_code,
         lambda code: code == 307, timeout=30)
    # the saved plan (a zip holding every variable's value) is stored sealed, not as a zip
    from chalicelib.aws import blobs
    from chalicelib.services.sealing import BLOB_MAGIC
    from chalicelib.storage import keys
    assert blobs.read(keys.run_plan(run_id)).startswith(BLOB_MAGIC)
    stored = _everything_stored()
    assert "Apply complete" in stored          # the logs are in there, and the plan, and state
    assert SECRET not in stored and SECRET[::-1] not in stored
