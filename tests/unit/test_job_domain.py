"""Terrakube jobs without AWS: TCL parsing, the job/step moves, and the compiled flow."""
import base64

import pytest

from chalicelib.domain.errors import BadRequest, Conflict, Unprocessable
from chalicelib.domain.flows import compile_flow, definition_name
from chalicelib.domain.jobs import Job, JobStatus, Step, StepStatus, parse_flow, parse_tcl

FLOW = """
flow:
  - {type: terraformApply, name: Apply, step: 200}
  - {type: approval, name: Approve, step: 150, team: ops}
  - type: terraformPlan
    step: 100
    commands:
      - {runtime: BASH, priority: 2, after: true, script: "echo after"}
      - {runtime: bash, priority: 1, before: true, script: "echo before"}
"""


def job_of(text: str = FLOW) -> Job:
    steps = [Step.of(f"s{i}", s) for i, s in enumerate(parse_flow(text))]
    return Job(id="job-1", workspace_id="ws-1", org="o", cv_id="cv-1", seq=1, created_at="t0",
               steps=steps)


def test_flow_is_sorted_by_step_number_with_defaults():
    steps = parse_flow(FLOW)
    assert [(s.number, s.type, s.name) for s in steps] == [
        (100, "terraformPlan", "terraformPlan"), (150, "approval", "Approve"), (200, "terraformApply", "Apply")]
    plan = steps[0]
    assert [c.script for c in plan.commands_when("before")] == ["echo before"]
    assert [c.script for c in plan.commands_when("after")] == ["echo after"]
    assert plan.commands[1].runtime == "BASH" and steps[1].team == "ops"


def test_base64_round_trip_and_errors():
    assert len(parse_tcl(base64.b64encode(FLOW.encode()).decode())) == 3
    with pytest.raises(BadRequest):
        parse_tcl("%%%")
    with pytest.raises(Unprocessable, match="line 1"):
        parse_flow("flow: [")
    with pytest.raises(Unprocessable, match="ignoreError"):
        parse_flow("flow:\n  - {type: terraformPlan, step: 1, ignoreError: maybe}")


def test_plan_approve_apply_moves():
    job = job_of()
    with pytest.raises(Conflict):
        job.start_step(0, "t1", "w")          # not queued yet
    job.queue("t1")
    job.start_step(0, "t2", "w")
    with pytest.raises(Conflict):
        job.start_step(0, "t2", "w")          # a duplicate delivery
    job.finish_step(0, "t3", StepStatus.COMPLETED, has_changes=True)
    job.await_approval(1, "token-1", "t4")
    assert job.status == JobStatus.WAITING_APPROVAL and job.approval_token == "token-1"
    assert job.approve("t5", "user-1") == "token-1"
    assert job.status == JobStatus.APPROVED and job.steps[1].status == StepStatus.COMPLETED
    with pytest.raises(Conflict):
        job.reject("t5", "user-1")            # already answered
    job.start_step(2, "t6", "w")
    job.finish_step(2, "t7", StepStatus.COMPLETED)
    job.end(JobStatus.COMPLETED, "t8")
    assert job.is_final and job.has_changes
    with pytest.raises(Conflict):
        job.end(JobStatus.FAILED, "t9")


def test_rejection_and_no_changes_leave_the_rest_not_executed():
    job = job_of()
    job.queue("t1")
    job.start_step(0, "t2", "w")
    job.finish_step(0, "t3", StepStatus.COMPLETED, has_changes=True)
    job.await_approval(1, "tok", "t4")
    assert job.reject("t5", "u") == "tok"
    assert job.status == JobStatus.REJECTED
    assert [s.status for s in job.steps] == [StepStatus.COMPLETED, StepStatus.REJECTED, StepStatus.NOT_EXECUTED]

    job = job_of()
    job.queue("t1")
    job.start_step(0, "t2", "w")
    job.finish_step(0, "t3", StepStatus.COMPLETED, has_changes=False)
    job.end(JobStatus.NO_CHANGES, "t4")
    assert [s.status.value for s in job.steps] == ["completed", "notExecuted", "notExecuted"]


def test_cancel_now_or_through_the_worker():
    job = job_of()
    assert job.request_cancel("t1") is True and job.status == JobStatus.CANCELLED
    with pytest.raises(Conflict):
        job.request_cancel("t2")

    job = job_of()
    job.queue("t1")
    job.start_step(0, "t2", "w")
    assert job.request_cancel("t3") is False and job.status == JobStatus.RUNNING
    with pytest.raises(Conflict):
        job.start_step(1, "t3", "w")
    job.cancel_running_step(0, "t4")
    assert job.status == JobStatus.CANCELLED and job.steps[0].status == StepStatus.CANCELLED

    job = job_of()          # a cancel that lands as the step ends still wins
    job.queue("t1")
    job.start_step(0, "t2", "w")
    job.request_cancel("t3")
    job.finish_step(0, "t4", StepStatus.COMPLETED)
    assert job.status == JobStatus.CANCELLED and job.steps[0].status == StepStatus.COMPLETED


def test_steps_survive_storage_round_trip():
    job = job_of()
    again = [Step.from_dict(s.to_dict()) for s in job.steps]
    assert again == job.steps and again[0].flow_step() == parse_flow(FLOW)[0]


def test_compiled_flow_encodes_order_no_changes_and_ignore_error():
    steps = parse_flow("flow:\n  - {type: terraformPlan, step: 1}\n"
                       "  - {type: customScripts, step: 2, ignoreError: true, commands: [{script: x}]}\n"
                       "  - {type: approval, step: 3}\n")
    asl = compile_flow(steps, steps_queue="q-steps", events_queue="q-events")
    states = asl["States"]
    assert asl["StartAt"] == "Step000_terraformPlan"
    plan_next = {c["StringEquals"]: c["Next"] for c in states["Step000_terraformPlan_next"]["Choices"]}
    assert plan_next == {"stop": "Done", "noChanges": "NoChanges", "failed": "StepFailed"}
    assert states["Step000_terraformPlan_next"]["Default"] == "Step001_customScripts"
    script_next = {c["StringEquals"] for c in states["Step001_customScripts_next"]["Choices"]}
    assert script_next == {"stop"}                      # ignoreError: a failure moves on
    approval = states["Step002_approval"]
    assert approval["Parameters"]["QueueUrl"] == "q-events" and "HeartbeatSecondsPath" not in approval
    assert states["Step002_approval_next"]["Default"] == "Completed"
    assert states["Step000_terraformPlan"]["Catch"][0]["Next"] == "ReportFailure"
    assert definition_name(asl, "p") == definition_name(dict(asl), "p") != \
        definition_name(compile_flow(steps[:1], steps_queue="q", events_queue="e"), "p")


def test_job_statuses_move_only_along_the_lifecycle():
    from chalicelib.domain.jobs import LIFECYCLE, TRANSITIONS
    assert set(TRANSITIONS) == set(JobStatus)
    assert LIFECYCLE.final == {JobStatus.COMPLETED, JobStatus.NO_CHANGES, JobStatus.NOT_EXECUTED,
                               JobStatus.REJECTED, JobStatus.CANCELLED, JobStatus.FAILED}
    for final in LIFECYCLE.final:
        assert not any(LIFECYCLE.allows(final, to) for to in JobStatus)
    # an approval is answered only while it is waited for
    assert LIFECYCLE.allows(JobStatus.WAITING_APPROVAL, JobStatus.APPROVED)
    assert not LIFECYCLE.allows(JobStatus.RUNNING, JobStatus.APPROVED)
    assert not LIFECYCLE.allows(JobStatus.PENDING, JobStatus.RUNNING)
