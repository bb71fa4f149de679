"""The values that pass between the domain, the workers and the state machines.

A worker (or the API) answers a Step Functions task token with `{"outcome": <Outcome>}`; the
Choice states of the run state machine (infra/resources.yaml) and of the compiled job flows
(domain/flows.py) branch on exactly these values (tests/unit/test_outcomes.py checks both)."""
from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    # a run's plan phase
    FINISHED = "finished"                    # nothing to apply: the execution ends
    AUTO_APPLY = "auto_apply"                # planned with changes, auto-apply: the apply follows
    AWAIT_CONFIRMATION = "await_confirmation"  # planned with changes: wait for a person
    # a run's confirmation
    APPLY = "apply"
    DISCARD = "discard"
    # a run's phase that did not succeed (the run's status is already written)
    ERRORED = "errored"
    CANCELED = "canceled"
    APPLIED = "applied"
    # a job step (worker) or approval (API)
    DONE = "done"
    NO_CHANGES = "noChanges"
    FAILED = "failed"
    STOP = "stop"                            # the job already ended: the execution just finishes
    APPROVED = "approved"
    # a job flow's end, reported to the job-events queue
    COMPLETED = "completed"

    def answer(self) -> dict:
        """The output a task token is completed with."""
        return {"outcome": self.value}


# A runner stopped terraform at its time limit (the runner function's invocation ends at 15
# minutes): whatever an apply created is in the state it stored before reporting.
OUT_OF_TIME = ("the {what} ran out of the runner's time limit: terraform was interrupted and "
               "the state it had written was stored")
