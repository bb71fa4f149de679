"""Terrakube jobs: TCL flows compiled into Step Functions executions, with real terraform and
bash. Each scenario runs on both engines: in-process under moto and through the dev stack."""
import pytest

from conftest import PLAN_APPROVE_APPLY, engine_in_process, engine_through_dev_stack, poll, slow_plan_tf, tcl

NULL_TF = 'resource "null_resource" "one" {}\n'


class Jobs:
    def __init__(self, engine) -> None:
        self.engine, self.api, self.ws = engine, engine.api, engine.ws

    def path(self, job_id: str = "") -> str:
        return f"/api/v1/workspace/{self.ws}/job" + (f"/{job_id}" if job_id else "")

    def create(self, text: str | None = None, *, expect=201, **attrs):
        if text is not None:
            attrs["tcl"] = tcl(text)
        resp = self.api.post(self.path(), {"data": {"type": "job", "attributes": attrs, "relationships": {
            "workspace": {"data": {"type": "workspace", "id": self.ws}}}}})
        assert resp.status_code == expect, resp.body
        return resp.json["data"]["id"] if expect == 201 else resp

    def get(self, job_id: str) -> dict:
        resp = self.api.get(self.path(job_id))
        assert resp.status_code == 200, resp.body
        return resp.json

    def status(self, job_id: str) -> str:
        return self.get(job_id)["data"]["attributes"]["status"]

    def wait(self, job_id: str, *statuses: str, timeout: float = 90) -> str:
        return poll(lambda: self.status(job_id), lambda s: s in statuses, timeout=timeout)

    def steps(self, job_id: str) -> list[dict]:
        return self.get(job_id)["data"]["attributes"]["steps"]

    def awaiting_approval(self, text: str = None) -> str:
        """A plan -> approval -> apply job, once its plan is done and it waits to be approved."""
        job_id = self.create(text or PLAN_APPROVE_APPLY)
        assert self.wait(job_id, "waitingApproval", "failed") == "waitingApproval"
        return job_id

    def patch(self, job_id: str, status: str, expect=200):
        resp = self.api.patch(self.path(job_id), {"data": {"type": "job", "id": job_id,
                                                           "attributes": {"status": status}}})
        assert resp.status_code == expect, resp.body
        return resp


@pytest.fixture(params=["in-process", pytest.param("dev-stack", marks=pytest.mark.e2e)])
def jobs(request) -> Jobs:
    engine = engine_in_process(request) if request.param == "in-process" else \
        engine_through_dev_stack(request, org="jobs-e2e")
    return Jobs(engine)


def test_plan_waits_for_approval_then_applies_and_the_next_plan_has_no_changes(jobs):
    jobs.engine.upload({"main.tf": NULL_TF})
    job_id = jobs.awaiting_approval()
    doc = jobs.get(job_id)
    attrs, rels = doc["data"]["attributes"], doc["data"]["relationships"]
    assert doc["data"]["type"] == "job" and attrs["command"] == "plan"
    assert rels["workspace"]["data"] == {"type": "workspace", "id": jobs.ws}
    assert rels["organization"]["id"] == jobs.engine.org
    assert {i["type"] for i in doc["included"]} >= {"organization", "workspace", "step"}
    plan, approval, apply = attrs["steps"]
    assert [s["stepNumber"] for s in attrs["steps"]] == [100, 150, 200]
    assert plan["status"] == "completed" and "1 to add" in plan["output"]
    assert approval["status"] == "waitingApproval" and "team ops" in approval["output"]
    assert apply["status"] == "pending" and apply["output"] == ""
    assert attrs["planChanges"] is True and attrs["approvalTeam"] == "ops"

    jobs.patch(job_id, "approved")
    assert jobs.wait(job_id, "completed", "failed") == "completed"
    plan, approval, apply = jobs.steps(job_id)
    assert approval["status"] == "completed" and "Approved by" in approval["output"]
    assert apply["status"] == "completed"
    assert "Apply complete! Resources: 1 added" in apply["output"]
    assert "1 to add" in jobs.get(job_id)["data"]["attributes"]["output"]
    # the apply stored a state version, read through the TFE API of the same workspace
    sv = jobs.api.get(f"/api/v2/workspaces/{jobs.ws}/current-state-version")
    assert sv.status_code == 200 and sv.json["data"]["attributes"]["resources-processed"] is not False

    again = jobs.create(PLAN_APPROVE_APPLY)
    assert jobs.wait(again, "noChanges", "failed", "waitingApproval") == "noChanges"
    assert [s["status"] for s in jobs.steps(again)] == ["completed", "notExecuted", "notExecuted"]
    assert "No changes" in jobs.steps(again)[0]["output"]
    assert jobs.patch(again, "approved", expect=409).json["errors"][0]["status"] == "409"


def test_rejected_approval_ends_the_job_and_skips_the_apply(jobs):
    jobs.engine.upload({"main.tf": NULL_TF})
    job_id = jobs.awaiting_approval()
    jobs.patch(job_id, "rejected")
    assert jobs.status(job_id) == "rejected"
    assert [s["status"] for s in jobs.steps(job_id)] == ["completed", "rejected", "notExecuted"]
    assert jobs.api.get(f"/api/v2/workspaces/{jobs.ws}/current-state-version").status_code == 404
    # the workspace is free again: the next job runs
    nxt = jobs.create('flow:\n  - {type: customScripts, step: 1, commands: [{runtime: BASH, script: "echo next"}]}\n')
    assert jobs.wait(nxt, "completed", "failed") == "completed"


SCRIPTS = """
flow:
  - type: "customScripts"
    name: "Broken"
    step: 100
    ignoreError: {ignore}
    commands:
      - runtime: "BASH"
        priority: 200
        script: "echo second; exit 3"
      - runtime: "BASH"
        priority: 100
        script: "echo first-$GREETING; env | grep -c -E '^(AWS_|TERRALESS_)' || true"
    inputsEnv:
      GREETING: hello
  - type: "customScripts"
    name: "After"
    step: 200
    commands:
      - runtime: "BASH"
        script: "echo after-ran"
"""


def test_failing_script_fails_the_job_unless_ignore_error(jobs):
    jobs.engine.upload({"main.tf": NULL_TF})
    failing = jobs.create(SCRIPTS.format(ignore="false"))
    assert jobs.wait(failing, "failed", "completed") == "failed"
    broken, after = jobs.steps(failing)
    assert broken["status"] == "failed" and after["status"] == "notExecuted"
    out = broken["output"]
    # priority order, inputsEnv, the service's environment scrubbed, the exit status reported
    assert out.index("first-hello") < out.index("second")
    assert "\n0\n" in out and "status 3" in out

    tolerated = jobs.create(SCRIPTS.format(ignore="true"))
    assert jobs.wait(tolerated, "completed", "failed") == "completed"
    broken, after = jobs.steps(tolerated)
    assert broken["status"] == "failed" and after["status"] == "completed"
    assert "after-ran" in after["output"]


def test_cancel_while_waiting_for_approval_and_while_running(jobs):
    jobs.engine.upload({"main.tf": NULL_TF})
    waiting = jobs.awaiting_approval()
    jobs.patch(waiting, "cancelled")
    assert jobs.status(waiting) == "cancelled"
    assert [s["status"] for s in jobs.steps(waiting)] == ["completed", "cancelled", "notExecuted"]

    running = jobs.create('flow:\n  - type: customScripts\n    step: 1\n    commands:\n'
                          '      - {runtime: BASH, script: "echo sleeping; sleep 60; echo woke"}\n'
                          '  - {type: terraformApply, step: 2}\n')
    poll(lambda: jobs.steps(running)[0], lambda s: "sleeping" in s["output"], timeout=60)
    assert jobs.status(running) == "running"
    jobs.patch(running, "cancelled")
    assert jobs.wait(running, "cancelled", timeout=30) == "cancelled"
    script, apply = jobs.steps(running)
    assert script["status"] == "cancelled" and "woke" not in script["output"]
    assert apply["status"] == "notExecuted"


def test_cancel_interrupts_a_running_terraform_plan(jobs, slow_state):
    jobs.engine.upload({"main.tf": slow_plan_tf(slow_state)})
    job_id = jobs.create(PLAN_APPROVE_APPLY)
    poll(lambda: jobs.steps(job_id)[0]["status"], lambda s: s == "running", timeout=60)
    jobs.patch(job_id, "cancelled")
    assert jobs.wait(job_id, "cancelled", "failed", "waitingApproval", timeout=30) == "cancelled"
    assert [s["status"] for s in jobs.steps(job_id)] == ["cancelled", "notExecuted", "notExecuted"]
    assert "cancelled" in jobs.steps(job_id)[0]["output"]


def test_delete_a_running_job_cancels_then_removes_it(jobs):
    jobs.engine.upload({"main.tf": NULL_TF})
    job_id = jobs.create('flow:\n  - {type: customScripts, step: 1, commands: '
                         '[{runtime: BASH, script: "echo up; sleep 60"}]}\n')
    poll(lambda: jobs.steps(job_id)[0], lambda s: "up" in s["output"], timeout=60)
    assert jobs.api.delete(jobs.path(job_id)).status_code == 204
    poll(lambda: jobs.api.get(jobs.path(job_id)).status_code, lambda c: c == 404, timeout=30)
    done = jobs.create('flow:\n  - {type: customScripts, step: 1, commands: [{runtime: BASH, script: "true"}]}\n')
    assert jobs.wait(done, "completed", "failed") == "completed"
    assert jobs.api.delete(jobs.path(done)).status_code == 204
    assert jobs.api.get(jobs.path(done)).status_code == 404


def test_template_reference_destroy_and_disable_workspace(jobs):
    jobs.engine.upload({"main.tf": NULL_TF})
    org = jobs.engine.org
    flow = "flow:\n  - {type: terraformApply, step: 100}\n  - {type: terraformDestroy, step: 200}\n" \
           "  - {type: disableWorkspace, step: 300}\n"
    created = jobs.api.post(f"/api/v1/organization/{org}/template", {"data": {"type": "template", "attributes": {
        "name": f"apply-destroy-{jobs.ws}", "description": "d", "version": "1.0.0", "tcl": tcl(flow)}}})
    assert created.status_code == 201, created.body
    template_id = created.json["data"]["id"]
    listed = jobs.api.get(f"/api/v1/organization/{org}/template").json["data"]
    assert template_id in [t["id"] for t in listed]
    job_id = jobs.create(templateReference=template_id)
    assert jobs.wait(job_id, "completed", "failed") == "completed"
    apply, destroy, disable = jobs.steps(job_id)
    assert "1 added" in apply["output"] and "1 destroyed" in destroy["output"]
    assert disable["status"] == "completed"
    ws = jobs.api.get(f"/api/v2/workspaces/{jobs.ws}").json["data"]["attributes"]
    assert ws["locked"] is True
    # a locked (disabled) workspace keeps the next job pending
    held = jobs.create('flow:\n  - {type: customScripts, step: 1, commands: [{runtime: BASH, script: "true"}]}\n')
    assert jobs.status(held) == "pending"
    assert jobs.api.post(f"/api/v2/workspaces/{jobs.ws}/actions/force-unlock").status_code == 200
    assert jobs.wait(held, "completed", "failed") == "completed"
    # templates: update and delete
    patched = jobs.api.patch(f"/api/v1/organization/{org}/template/{template_id}",
                             {"data": {"type": "template", "id": template_id, "attributes": {"version": "1.0.1"}}})
    assert patched.status_code == 200 and patched.json["data"]["attributes"]["version"] == "1.0.1"
    assert jobs.api.delete(f"/api/v1/organization/{org}/template/{template_id}").status_code == 204
    assert jobs.api.get(f"/api/v1/organization/{org}/template/{template_id}").status_code == 404
    assert jobs.create(templateReference=template_id, expect=422).status_code == 422


def test_jobs_wait_for_a_run_holding_the_workspace(jobs):
    engine = jobs.engine
    engine.upload({"main.tf": NULL_TF})
    run_id = engine.create()
    assert engine.wait(run_id, "planned", "errored") == "planned"
    job_id = jobs.create('flow:\n  - {type: terraformPlan, step: 1}\n')
    assert jobs.status(job_id) == "pending"
    assert engine.action(run_id, "discard").status_code == 202
    assert jobs.wait(job_id, "completed", "noChanges", "failed") == "completed"
    # and a run waits for a job
    blocking = jobs.awaiting_approval()
    second = engine.create()
    assert engine.status(second) == "pending"
    jobs.patch(blocking, "rejected")
    assert engine.wait(second, "planned", "errored") == "planned"


BAD_TCL = [
    ("not base64 !!", 400, "base64"),
    (tcl("flow: [unclosed"), 422, "YAML"),
    (tcl("steps: []"), 422, "flow"),
    (tcl("flow:\n  - {type: terraformFly, step: 1}"), 422, "terraformFly"),
    (tcl("flow:\n  - {type: terraformPlan}"), 422, "step"),
    (tcl("flow:\n  - {type: terraformPlan, step: 1}\n  - {type: terraformApply, step: 1}"), 422, "unique"),
    (tcl("flow:\n  - {type: customScripts, step: 1, commands: [{runtime: GROOVY, script: x}]}"), 422, "GROOVY"),
    (tcl("flow:\n  - {type: customScripts, step: 1}"), 422, "commands"),
]


@pytest.mark.parametrize("value,status,reason", BAD_TCL)
def test_bad_tcl_is_refused_with_the_reason(value, status, reason, request):
    engine = engine_in_process(request)
    engine.upload({"main.tf": NULL_TF})
    jobs = Jobs(engine)
    resp = jobs.create(tcl=value, expect=status)
    error = resp.json["errors"][0]
    assert error["status"] == str(status) and reason in error["detail"]
    assert jobs.api.get(jobs.path()).json["data"] == []


def test_job_requests_are_checked(request):
    engine = engine_in_process(request)
    jobs = Jobs(engine)
    assert jobs.create("flow:\n  - {type: terraformPlan, step: 1}", expect=422).json["errors"][0][
        "detail"].startswith("the workspace has no uploaded configuration version")
    engine.upload({"main.tf": NULL_TF})
    assert jobs.create(expect=422).status_code == 422                    # neither tcl nor template
    assert jobs.create(templateReference="nope", expect=422).status_code == 422
    assert jobs.api.get("/api/v1/workspace/ws-nope/job").status_code == 404
    assert jobs.api.get(jobs.path("job-nope")).status_code == 404
    assert jobs.api.as_token(None).get(jobs.path()).status_code == 401
    job_id = jobs.create(PLAN_APPROVE_APPLY)
    refused = jobs.api.patch(jobs.path(job_id), {"data": {"type": "job", "id": job_id, "attributes": {
        "status": "completed", "comments": "lost?"}}})
    assert refused.status_code == 422 and jobs.get(job_id)["data"]["attributes"]["comments"] is None
    noted = jobs.api.patch(jobs.path(job_id), {"data": {"type": "job", "id": job_id, "attributes": {
        "comments": "looks fine"}}})
    assert noted.status_code == 200 and noted.json["data"]["attributes"]["comments"] == "looks fine"
    assert jobs.api.patch(jobs.path(job_id), {"data": {"type": "job", "id": "job-other",
                                                       "attributes": {}}}).status_code == 422
    assert jobs.wait(job_id, "waitingApproval", "failed") == "waitingApproval"
    jobs.patch(job_id, "cancelled")
    assert jobs.patch(job_id, "approved", expect=409).status_code == 409
    # one request, one write: a refused approval keeps no comment of the same request
    late = jobs.api.patch(jobs.path(job_id), {"data": {"type": "job", "id": job_id, "attributes": {
        "status": "approved", "comments": "too late"}}})
    assert late.status_code == 409 and jobs.get(job_id)["data"]["attributes"]["comments"] == "looks fine"


def test_a_poison_step_message_ends_in_the_dlq_and_fails_its_job(request):
    from chalicelib.aws import queues
    engine = engine_in_process(request)
    engine.upload({"main.tf": NULL_TF})
    jobs = Jobs(engine)
    engine.api.post(f"/api/v2/workspaces/{engine.ws}/actions/lock")   # keep it out of the engine
    job_id = jobs.create(PLAN_APPROVE_APPLY)
    assert jobs.status(job_id) == "pending"
    queues.send("job-steps-dlq", {"not": "a job"})                     # unreadable: dropped
    queues.send("job-steps", {"job_id": job_id, "step": 0})            # no task token: handler fails
    assert jobs.wait(job_id, "failed", timeout=30) == "failed"
    assert [s["status"] for s in jobs.steps(job_id)] == ["notExecuted"] * 3


def test_organization_paths_and_terrakube_commands(jobs):
    """terrakube-cli's paths: /api/v1/organization/{org}/job with the workspace as a
    relationship, and `command` (plan / apply / destroy) instead of a template."""
    jobs.engine.upload({"main.tf": NULL_TF})
    base = f"/api/v1/organization/{jobs.engine.org}/job"
    body = {"data": {"type": "job", "attributes": {"command": "apply"}, "relationships": {
        "workspace": {"data": {"type": "workspace", "id": jobs.ws}}}}}
    created = jobs.api.post(base, body)
    assert created.status_code == 201, created.body
    job_id = created.json["data"]["id"]
    assert created.json["data"]["attributes"]["command"] == "plan"      # its first step plans
    assert poll(lambda: jobs.api.get(f"{base}/{job_id}").json["data"]["attributes"]["status"],
                lambda s: s in ("completed", "failed"), timeout=90) == "completed"
    steps = jobs.steps(job_id)
    assert [s["type"] for s in steps] == ["terraformPlan", "terraformApply"]
    assert "1 added" in steps[1]["output"]
    listed = jobs.api.get(f"{base}?page[size]=100").json
    assert job_id in [j["id"] for j in listed["data"]]
    assert listed["meta"]["page"]["totalRecords"] == listed["meta"]["pagination"]["total-count"] >= 1
    assert jobs.api.patch(f"{base}/{job_id}", {"data": {"type": "job", "id": job_id, "attributes": {
        "comments": "via the organization"}}}).json["data"]["attributes"]["comments"] == "via the organization"
    destroy = jobs.api.post(base, {**body, "data": {**body["data"], "attributes": {"command": "destroy"}}})
    destroy_id = destroy.json["data"]["id"]
    assert jobs.wait(destroy_id, "completed", "failed") == "completed"
    assert "1 destroyed" in jobs.steps(destroy_id)[1]["output"]
    # wrong organization, missing workspace, unknown command
    other = "jobs-other-org"
    if jobs.api.get(f"/api/v2/organizations/{other}").status_code == 404:
        jobs.api.post("/api/v2/organizations", {"data": {"attributes": {"name": other, "email": "o@o.o"}}})
    assert jobs.api.get(f"/api/v1/organization/{other}/job/{job_id}").status_code == 404
    assert jobs.api.post(f"/api/v1/organization/{other}/job", body).status_code == 422
    assert jobs.api.post(base, {"data": {"type": "job", "attributes": {"command": "plan"}}}).status_code == 422
    assert jobs.api.post(base, {**body, "data": {**body["data"], "attributes": {"command": "fly"}}}).status_code == 422
    assert jobs.api.delete(f"{base}/{job_id}").status_code == 204
    assert jobs.api.get(f"{base}/{job_id}").status_code == 404
