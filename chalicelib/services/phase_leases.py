"""Runner credentials: what a runner presents on every call of the runner API.

A credential names one phase (a run's plan or apply, a job's step) and the lease the
privileged side granted when it claimed that phase: `trl1.<payload>.<mac>`, payload =
base64url(kind, subject id, phase id, lease id, expiry). It is refused for any other phase
(404: another tenant's phase does not exist for it), once the lease is closed or has expired,
and everywhere but the runner API (it is no API token). The MAC key is derived from the signing
key (services/signing.py), which only the privileged side holds."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from ..config import settings
from ..domain.errors import NotFound, Unauthorized
from ..domain.ids import new_id
from ..domain.leases import Lease
from . import signing

PREFIX = "trl1"
# How long past the phase's own timeout a credential can still be good: the state machine
# ends the task by then; the lease's check does the rest.
GRACE_SECONDS = 300


@dataclass(frozen=True)
class Claim:
    kind: str           # run | job
    subject_id: str     # run-… / job-…
    phase_id: str       # plan-… / apply-… / a step's id
    lease_id: str
    expires_at: int


def _key() -> bytes:
    return signing.derived_key("runner-credentials")


def _mac(payload: str) -> str:
    return hmac.new(_key(), payload.encode(), hashlib.sha256).hexdigest()[:48]


def grant(task_token: str) -> Lease:
    """At pickup: the phase's time limit and the heartbeat clock both start now."""
    s, now = settings(), int(time.time())
    return Lease(id=new_id("lease", 24), task_token=task_token,
                 expires_at=now + s.phase_timeout_seconds + GRACE_SECONDS,
                 beat_by=now + s.heartbeat_seconds)


def credential(kind: str, subject_id: str, phase_id: str, lease: Lease) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(
        [kind, subject_id, phase_id, lease.id, lease.expires_at]).encode()).decode().rstrip("=")
    return f"{PREFIX}.{payload}.{_mac(payload)}"


def verify(token: str | None, phase_id: str) -> Claim:
    """The claim of a genuine, unexpired credential for `phase_id`; the lease itself is
    checked by the caller against the stored phase."""
    if not token or not token.startswith(PREFIX + ".") or len(token) > 1024:
        raise Unauthorized("a runner credential is required")
    try:
        _, payload, mac = token.split(".")
        if not hmac.compare_digest(mac, _mac(payload)):
            raise ValueError("forged")
        kind, subject_id, named_phase, lease_id, expires_at = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claim = Claim(str(kind), str(subject_id), str(named_phase), str(lease_id), int(expires_at))
    except (ValueError, TypeError):
        raise Unauthorized("invalid runner credential") from None
    if claim.expires_at < time.time():
        raise Unauthorized("this runner credential has expired")
    if claim.phase_id != phase_id:
        raise NotFound(f"phase {phase_id} not found")
    return claim


def check(lease: Lease | None, claim: Claim) -> Lease:
    if lease is None or not lease.admits(claim.lease_id, time.time()):
        raise Unauthorized("this runner credential is no longer valid: its phase has ended")
    return lease
