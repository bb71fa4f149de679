"""The state machines branch on exactly the values the domain and the workers send: the Choice
states of the run state machine (infra/resources.yaml) and of every compiled job flow read
`outcome` and compare it with Outcome values only, and each value the domain produces for a
Choice has a branch or is meant to take the default."""
import pytest

from chalicelib.domain.flows import compile_flow
from chalicelib.domain.outcomes import Outcome
from chalicelib.domain.tcl import STEP_TYPES, FlowStep
from chalicelib.local.provision import load_template

VALUES = {o.value for o in Outcome}


def choices(definition: dict) -> list[dict]:
    return [c for state in definition["States"].values() if state["Type"] == "Choice"
            for c in state["Choices"]]


def run_state_machine() -> dict:
    for body in load_template()["Resources"].values():
        if body["Type"] == "AWS::StepFunctions::StateMachine":
            return body["Properties"]["Definition"]
    raise AssertionError("no state machine in infra/resources.yaml")


def test_the_run_state_machine_branches_on_outcomes_only():
    found = choices(run_state_machine())
    assert found, "the run state machine has Choice states"
    for choice in found:
        assert choice["Variable"].endswith(".outcome")
        assert choice["StringEquals"] in VALUES
    branched = {c["StringEquals"] for c in found}
    # a plan goes on to the apply or waits for a person; a confirmation goes on to the apply
    assert branched == {Outcome.AUTO_APPLY.value, Outcome.AWAIT_CONFIRMATION.value, Outcome.APPLY.value}


@pytest.mark.parametrize("step_type", sorted(STEP_TYPES))
@pytest.mark.parametrize("ignore_error", [False, True])
def test_compiled_flows_branch_on_outcomes_only(step_type, ignore_error):
    steps = [FlowStep(number=1, type=step_type, name="one", ignore_error=ignore_error),
             FlowStep(number=2, type="terraformApply", name="two")]
    definition = compile_flow(steps, steps_queue="q-steps", events_queue="q-events")
    for choice in choices(definition):
        assert choice["Variable"] == "$.last.outcome" and choice["StringEquals"] in VALUES
    reported = [s["Parameters"]["MessageBody"]["outcome"] for s in definition["States"].values()
                if s.get("Parameters", {}).get("MessageBody", {}).get("event") == "flow_ended"]
    assert set(reported) == {Outcome.COMPLETED.value, Outcome.NO_CHANGES.value, Outcome.FAILED.value}


def test_an_answer_is_the_outcome_object_the_choices_read():
    assert Outcome.APPLY.answer() == {"outcome": "apply"}
