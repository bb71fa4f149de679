"""Least privilege per function, measured: one workflow through every function under moto,
each AWS call attributed to the function that made it (tests/aws_calls.py), checked against
that function's grants (chalicelib/deploy/permissions.py) both ways."""
import base64
import json
import subprocess

import pytest

from chalicelib.deploy import permissions
from tests.aws_calls import Recorder, entry_points
from tests.conftest import poll

# What each function's role holds that this workflow does not make it call, and why. A grant
# neither called nor listed here fails the test: a grant nobody uses is a grant too many.
_INVOKE = "tests run phases with the in-process executor; on AWS this hands them to the runner function"
_QUEUED_CANCEL = "a run canceled while its phase task waited in the queue: the task is ended"
_NO_START = "a runner that cannot start: its phase errors, its log is archived, the next run starts"
_PHASE = {"lambda:InvokeFunction": _INVOKE, "states:SendTaskSuccess": _QUEUED_CANCEL,
          "states:SendTaskFailure": _NO_START, "s3:PutObject": _NO_START,
          "states:StartExecution": _NO_START, "dynamodb:Query": _NO_START,
          "dynamodb:BatchGetItem": "a phase whose workspace has variable sets (one BatchGetItem of their bundles)",
          "dynamodb:UpdateItem": _NO_START}
_ENDS_RUNS = "a run this function ends frees its workspace: the next queued run starts"
NOT_EXERCISED = {
    "on_plan_task": _PHASE, "on_apply_task": _PHASE, "on_job_step": _PHASE,
    "http": {"s3:DeleteObject": "deleting a configuration version's backing data",
             "s3:DeleteObjectVersion": "permanently deleting backing data",
             "s3:ListBucketVersions": "permanently deleting backing data (every version)",
             "s3:ListBucket": "permanently deleting backing data (S3 answers 404, not 403, with it)",
             "states:StopExecution": "force-cancel of a run",
             "iam:PassRole": "CreateStateMachine passes the run state machine role (IAM checks it, no call)",
             "dynamodb:DeleteItem": "deleting tokens, memberships, workspaces, tasks, variables",
             "states:SendTaskFailure": "a job's approval rejected"},
    "on_upload_event": {"dynamodb:BatchGetItem": "an upload whose runs read variable bundles"},
    "on_fetch_request": {"dynamodb:Query": "a fetch of a version whose workspace queues runs",
                         "dynamodb:BatchGetItem": "as above", "dynamodb:UpdateItem": "as above"},
    "on_run_event": {"states:StartExecution": _ENDS_RUNS,
                     "states:SendTaskFailure": "a confirmation whose run was discarded meanwhile",
                     "dynamodb:BatchGetItem": _ENDS_RUNS, "dynamodb:Query": _ENDS_RUNS,
                     "dynamodb:UpdateItem": _ENDS_RUNS},
    "on_job_event": {"states:SendTaskSuccess": "an approval event whose job was approved meanwhile",
                     "states:SendTaskFailure": "an approval event whose job was rejected meanwhile",
                     "dynamodb:BatchGetItem": "a job step that reads variable bundles"},
    "on_plan_dead_letter": {"dynamodb:BatchGetItem": _ENDS_RUNS, "dynamodb:Query": _ENDS_RUNS,
                            "states:StartExecution": _ENDS_RUNS},
    "on_apply_dead_letter": {"dynamodb:BatchGetItem": _ENDS_RUNS, "dynamodb:Query": _ENDS_RUNS,
                             "states:StartExecution": _ENDS_RUNS},
    "on_job_step_dead_letter": {"dynamodb:BatchGetItem": "the job's workspace, read in one batch",
                                "dynamodb:Query": "the workspace's next waiting job"},
    "on_task_trigger_check": {"dynamodb:BatchGetItem": "a task whose workspace has variable sets",
                              "sqs:SendMessage": "a buffer period still open: the check comes back later",
                              "sqs:GetQueueUrl": "as above"},
    "purge_backing_data": {"s3:DeleteObject": "backing data due for purge (30 days after its deletion)",
                           "s3:DeleteObjectVersion": "as above", "s3:ListBucketVersions": "as above",
                           "s3:ListBucket": "as above", "dynamodb:PutItem": "as above",
                           "dynamodb:UpdateItem": "as above", "dynamodb:GetItem": "as above",
                           "dynamodb:BatchGetItem": "as above"},
    "sweep_lost_phases": {"states:SendTaskFailure": "a phase whose lease is overdue (a lost worker)",
                          "states:StartExecution": _ENDS_RUNS, "dynamodb:PutItem": "as above",
                          "dynamodb:UpdateItem": "as above", "dynamodb:GetItem": "as above",
                          "dynamodb:BatchGetItem": "as above"},
    "fire_task_schedules": {"sqs:SendMessage": "a task whose cron time has come",
                            "sqs:GetQueueUrl": "as above", "dynamodb:PutItem": "as above",
                            "dynamodb:UpdateItem": "as above", "dynamodb:GetItem": "as above",
                            "dynamodb:BatchGetItem": "as above"},
    "poll_consul": {"sqs:SendMessage": "CONSUL_HTTP_ADDR set (polls inside the minute)",
                    "sqs:GetQueueUrl": "as above", "dynamodb:PutItem": "as above",
                    "dynamodb:UpdateItem": "as above", "dynamodb:GetItem": "as above",
                    "dynamodb:Query": "as above", "dynamodb:BatchGetItem": "as above"},
}
# Lambda's event source mapping reads the function's queue with its role; the dev stack's
# dispatcher (which plays that part here) is no function
MAPPING = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
           "sqs:ChangeMessageVisibility"}

NULL_TF = 'variable "who" {}\nresource "null_resource" "one" {\n  triggers = { who = var.who }\n}\n'
JOB = """
flow:
  - type: "terraformPlan"
    name: "Plan"
    step: 100
  - type: "approval"
    name: "Approve"
    step: 150
  - type: "terraformApply"
    name: "Apply"
    step: 200
"""


@pytest.fixture
def recorded(app_module):
    recorder = Recorder(entry_points(app_module)).install()
    yield recorder
    recorder.uninstall()


def _git_repo(path, files):
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "."],
                 ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=path, check=True)


def _workflow(api, org, workspace, upload, tmp_path, app_module):
    ws_vars = f"/api/v2/workspaces/{workspace}/vars"
    for key, value, category, sensitive in (("who", "world", "terraform", False),
                                            ("API_TOKEN", "s3cr3t-value", "env", True)):
        assert api.post(ws_vars, {"data": {"type": "vars", "attributes": {
            "key": key, "value": value, "category": category, "sensitive": sensitive}}}).status_code == 201
    upload(workspace, {"main.tf": NULL_TF})

    def run(**attrs):
        made = api.post("/api/v2/runs", {"data": {"attributes": attrs, "relationships": {
            "workspace": {"data": {"type": "workspaces", "id": workspace}}}}})
        assert made.status_code == 201, made.body
        return made.json["data"]["id"]

    def status(run_id):
        return api.get(f"/api/v2/runs/{run_id}").json["data"]["attributes"]["status"]

    # a Terrakube job with an approval (a job flow state machine, job steps and events)
    job = api.post(f"/api/v1/workspace/{workspace}/job", {"data": {"type": "job", "attributes": {
        "tcl": base64.b64encode(JOB.encode()).decode()}, "relationships": {
        "workspace": {"data": {"type": "workspace", "id": workspace}}}}})
    assert job.status_code == 201, job.body
    job_id = job.json["data"]["id"]

    def job_status():
        return api.get(f"/api/v1/workspace/{workspace}/job/{job_id}").json["data"]["attributes"]["status"]
    poll(job_status, lambda s: s in ("waitingApproval", "failed"), timeout=90)
    api.patch(f"/api/v1/workspace/{workspace}/job/{job_id}", {"data": {
        "type": "job", "id": job_id, "attributes": {"status": "approved"}}})
    assert poll(job_status, lambda s: s in ("completed", "failed"), timeout=90) == "completed"

    # an upload that queues its run: the upload handler starts it
    queued = upload(workspace, {"main.tf": NULL_TF.replace("one", "two")}, attrs={"auto-queue-runs": True})
    runs_of = api.get(f"/api/v2/workspaces/{workspace}/runs").json["data"]
    auto = next(r["id"] for r in runs_of if r["relationships"]["configuration-version"]["data"]["id"] == queued)
    poll(lambda: status(auto), lambda s: s in ("planned", "errored"), timeout=90)
    assert api.post(f"/api/v2/runs/{auto}/actions/discard").status_code == 202
    poll(lambda: status(auto), lambda s: s == "discarded", timeout=60)

    # runs with their own variables (the same inputs again would plan no changes)
    first = run(message="confirm and apply", variables=[{"key": "who", "value": '"one"'}])
    poll(lambda: status(first), lambda s: s == "planned", timeout=90)
    assert api.post(f"/api/v2/runs/{first}/actions/apply").status_code == 202
    poll(lambda: status(first), lambda s: s == "applied", timeout=90)
    second = run(message="discarded", variables=[{"key": "who", "value": '"two"'}])
    poll(lambda: status(second), lambda s: s == "planned", timeout=90)
    assert api.post(f"/api/v2/runs/{second}/actions/discard").status_code == 202
    poll(lambda: status(second), lambda s: s == "discarded", timeout=60)
    # dead letters of real runs and jobs (the workspace locked keeps them out of the engine):
    # each ends its run or job and fails its task
    from chalicelib.aws import queues
    api.post(f"/api/v2/workspaces/{workspace}/actions/lock")
    for queue, phase in (("plans-dlq", "plan"), ("applies-dlq", "apply")):
        dead = run(message=queue)
        queues.send(queue, {"run_id": dead, "phase": phase, "task_token": "t" * 40})
        poll(lambda: status(dead), lambda s: s == "errored", timeout=60)
    dead_job = api.post(f"/api/v1/workspace/{workspace}/job", {"data": {"type": "job", "attributes": {
        "tcl": base64.b64encode(JOB.encode()).decode()}}}).json["data"]["id"]
    queues.send("job-steps-dlq", {"job_id": dead_job, "task_token": "t" * 40})
    poll(lambda: api.get(f"/api/v1/workspace/{workspace}/job/{dead_job}").json["data"]["attributes"]["status"],
         lambda s: s == "failed", timeout=60)
    canceled = run(message="canceled")
    assert api.post(f"/api/v2/runs/{canceled}/actions/cancel").status_code == 202
    poll(lambda: status(canceled), lambda s: s in ("canceled", "discarded"), timeout=60)
    api.post(f"/api/v2/workspaces/{workspace}/actions/unlock")
    # a job cancelled while it waits for its approval stops its flow's execution
    waiting = api.post(f"/api/v1/workspace/{workspace}/job", {"data": {"type": "job", "attributes": {
        "tcl": base64.b64encode(JOB.encode()).decode()}}}).json["data"]["id"]
    waiting_status = lambda: api.get(f"/api/v1/workspace/{workspace}/job/{waiting}").json["data"]["attributes"]["status"]  # noqa: E731
    poll(waiting_status, lambda s: s in ("waitingApproval", "noChanges", "failed"), timeout=90)
    api.patch(f"/api/v1/workspace/{workspace}/job/{waiting}", {"data": {
        "type": "job", "id": waiting, "attributes": {"status": "cancelled"}}})

    # a VCS-style version: the fetch worker clones and stores the archive
    _git_repo(tmp_path / "repo", {"main.tf": 'output "x" { value = 1 }\n'})
    fetched = api.post(f"/api/v2/workspaces/{workspace}/configuration-versions", {"data": {
        "attributes": {"fetch": True, "auto-queue-runs": False, "ingress-attributes": {
            "clone-url": f"file://{tmp_path / 'repo'}", "branch": "main"}}}}).json["data"]["id"]
    poll(lambda: api.get(f"/api/v2/configuration-versions/{fetched}").json["data"]["attributes"]["status"],
         lambda s: s in ("uploaded", "errored"), timeout=60)

    # a Consul-Terraform-Sync task run by a service change (trigger checks, a generated module)
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text('variable "services" { type = any }\n')
    assert api.post("/v1/tasks", {"task": {"name": "svc", "module": str(module), "condition": {
        "services": {"names": ["web"]}}, "buffer_period": {"enabled": True, "min": "1s", "max": "5s"}}}
    ).status_code == 201
    entry = {"Node": {"Node": "n1", "Address": "10.0.0.1", "Datacenter": "dc1"},
             "Service": {"ID": "web-1", "Service": "web", "Port": 80, "Address": "10.0.0.2"},
             "Checks": [{"Status": "passing"}]}
    assert api.post("/v1/watch/service/web", [entry]).status_code == 200
    cts_ws = api.get("/api/v2/organizations/cts/workspaces/svc").json["data"]["id"]
    poll(lambda: api.get(f"/api/v2/workspaces/{cts_ws}/runs").json["data"],
         lambda r: r and r[0]["attributes"]["status"] in ("applied", "planned_and_finished", "errored"),
         timeout=90)

    # the schedules
    event = {"version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2026-12-02T00:00:00Z", "region": "us-east-1",
             "resources": [], "detail": {}}
    for name in ("sweep_lost_phases", "purge_backing_data", "fire_task_schedules", "poll_consul"):
        getattr(app_module, name)(event, None)


def test_every_function_calls_only_what_it_is_granted_and_uses_its_grants(
        recorded, api, org, workspace, upload, worker, tmp_path, app_module):
    _workflow(api, org, workspace, upload, tmp_path, app_module)
    from chalicelib.local import dispatch
    poll(lambda: sum(dispatch.drain(s) for s in dispatch.subscriptions(app_module.app, app_module)),
         lambda n: n == 0, timeout=30)
    calls = {name: set(actions) for name, actions in recorded.calls.items()}
    import os
    if os.environ.get("TERRALESS_DUMP_CALLS"):
        open(os.environ["TERRALESS_DUMP_CALLS"], "w").write(json.dumps({k: sorted(v) for k, v in calls.items()}, indent=1))
    assert set(calls) <= set(permissions.FUNCTIONS), calls.keys()
    assert "runner" not in calls       # the runner's only way to the service is the runner API
    report = {}
    for name in permissions.FUNCTIONS:
        granted = permissions.actions(name) - {"logs:CreateLogGroup", "logs:CreateLogStream",
                                               "logs:PutLogEvents"}
        used = calls.get(name, set())
        missing = used - granted
        unused = granted - used - MAPPING - set(NOT_EXERCISED.get(name, {}))
        if missing or unused:
            report[name] = {"missing": sorted(missing), "unused": sorted(unused)}
    assert report == {}, json.dumps(report, indent=1)
