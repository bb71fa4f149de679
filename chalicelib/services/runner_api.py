"""The runner API's one entry: a runner credential and the phase id in the path become the
phase it may act on (a run's plan/apply or a job's step), with the module that serves it."""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from . import job_phases, phase_leases, run_phases

KINDS: dict[str, ModuleType] = {"run": run_phases, "job": job_phases}


@dataclass
class OpenPhase:
    kind: ModuleType
    subject: object         # the Run or the Job
    phase: object           # the run's Phase or the job's Step

    def __getattr__(self, name: str):
        """`open.configuration()` is `run_phases.configuration(run, phase)`."""
        action = getattr(self.kind, name)
        return lambda *args: action(self.subject, self.phase, *args)


def open_phase(credential: str | None, phase_id: str) -> OpenPhase:
    claim = phase_leases.verify(credential, phase_id)
    kind = KINDS.get(claim.kind)
    if kind is None:
        raise phase_leases.Unauthorized("invalid runner credential")
    subject, phase = kind.resolve(claim)
    return OpenPhase(kind, subject, phase)
