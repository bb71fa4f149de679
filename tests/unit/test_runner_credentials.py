"""Runner credentials (services/phase_leases.py) and the leases they name (domain/leases.py):
good for their own phase only, not forged, not expired, not once the lease is closed."""
import base64
import json
import time

import pytest

from chalicelib.domain.errors import NotFound, Unauthorized
from chalicelib.domain.leases import Lease
from chalicelib.services import phase_leases


def lease(**kw) -> Lease:
    return Lease(**{"id": "lease-abc", "task_token": "tok", "expires_at": int(time.time()) + 60, **kw})


def test_a_credential_names_its_phase_and_lease():
    mine = lease()
    claim = phase_leases.verify(phase_leases.credential("run", "run-1", "plan-1", mine), "plan-1")
    assert (claim.kind, claim.subject_id, claim.phase_id, claim.lease_id) == ("run", "run-1", "plan-1", "lease-abc")
    assert phase_leases.check(mine, claim) is mine


def test_another_phase_finds_nothing():
    token = phase_leases.credential("run", "run-1", "plan-1", lease())
    with pytest.raises(NotFound):
        phase_leases.verify(token, "apply-1")       # the same run's other phase
    with pytest.raises(NotFound):
        phase_leases.verify(token, "plan-2")        # another run (another tenant's)


@pytest.mark.parametrize("mangle", [
    lambda t: t + "x",                                      # MAC changed
    lambda t: t.replace("trl1.", "trl2."),                  # another scheme
    lambda t: "trl1." + base64.urlsafe_b64encode(json.dumps(
        ["run", "run-9", "plan-1", "lease-abc", 9999999999]).encode()).decode() + "." + t.split(".")[2],
    lambda t: "",                                           # none
    lambda t: "atlasv1." + t,                               # an API token's shape
    lambda t: "trl1." + "A" * 2000 + ".x",                  # oversized
])
def test_forged_or_missing_credentials_are_refused(mangle):
    token = phase_leases.credential("run", "run-1", "plan-1", lease())
    with pytest.raises(Unauthorized):
        phase_leases.verify(mangle(token), "plan-1")


def test_an_expired_credential_is_refused():
    token = phase_leases.credential("run", "run-1", "plan-1", lease(expires_at=int(time.time()) - 1))
    with pytest.raises(Unauthorized):
        phase_leases.verify(token, "plan-1")


def test_a_closed_or_replaced_lease_refuses_the_credential():
    mine = lease()
    claim = phase_leases.verify(phase_leases.credential("run", "run-1", "plan-1", mine), "plan-1")
    with pytest.raises(Unauthorized):
        phase_leases.check(lease(closed=True), claim)           # the phase ended
    with pytest.raises(Unauthorized):
        phase_leases.check(lease(id="lease-new"), claim)        # a later claim of the phase
    with pytest.raises(Unauthorized):
        phase_leases.check(None, claim)


def test_a_lease_round_trips_through_storage_shape():
    mine = lease(closed=True)
    assert Lease.from_dict(mine.to_dict()) == mine
    assert Lease.from_dict(None) is None
