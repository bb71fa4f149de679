"""The blob bucket's key layout, in one place."""
from __future__ import annotations

PLAN_FILE = "plan.bin"
_CV_PREFIX, _CV_FILE = "cv/", "config.tar.gz"


def cv_archive(cv_id: str) -> str:
    return f"{_CV_PREFIX}{cv_id}/{_CV_FILE}"


def cv_id_of(key: str) -> str | None:
    """The configuration version an uploaded object belongs to, or None for other keys."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] + "/" == _CV_PREFIX and parts[2] == _CV_FILE:
        return parts[1]
    return None


def run_plan(run_id: str) -> str:
    return f"plans/{run_id}/{PLAN_FILE}"


def run_plan_json(run_id: str) -> str:
    return f"plans/{run_id}/plan.json"


def job_plan(job_id: str) -> str:
    """The job's latest plan: a terraformApply after a plan step applies exactly it."""
    return f"jobs/{job_id}/{PLAN_FILE}"


def state(workspace_id: str, sv_id: str) -> str:
    return f"state/{workspace_id}/{sv_id}.tfstate"


def state_json(workspace_id: str, sv_id: str) -> str:
    return f"state/{workspace_id}/{sv_id}.json"


def log(phase_id: str) -> str:
    """A plan's, apply's or job step's whole log, once the phase is over."""
    return f"logs/{phase_id}.log"
