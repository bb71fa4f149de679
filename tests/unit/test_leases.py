"""The phase lease's two limits (domain/leases.py): the phase's own deadline and the heartbeat
due time, which only a heartbeat for this very lease moves."""
from chalicelib.domain.leases import Lease


def lease(**kw) -> Lease:
    return Lease(**{"id": "lease-1", "task_token": "t", "expires_at": 1000, "beat_by": 130, **kw})


def test_due_is_the_earlier_of_the_heartbeat_and_the_deadline():
    assert lease().due == 130
    assert lease(beat_by=5000).due == 1000


def test_a_heartbeat_moves_the_due_time_for_its_own_lease_only():
    held = lease()
    assert held.renewed("lease-1", now=120, period=30) and held.beat_by == 150
    assert not held.renewed("lease-2", now=121, period=30) and held.beat_by == 150


def test_an_overdue_lease_is_not_renewed_nor_admitted():
    held = lease()
    assert held.overdue(130) and not held.admits("lease-1", 130)
    assert not held.renewed("lease-1", now=131, period=30) and held.beat_by == 130


def test_a_closed_lease_is_never_overdue_nor_renewed():
    held = lease(closed=True)
    assert not held.overdue(10_000)
    assert not held.renewed("lease-1", now=100, period=30)


def test_stored_leases_without_a_heartbeat_time_keep_their_deadline():
    old = Lease.from_dict({"id": "lease-1", "task_token": "t", "expires_at": 1000})
    assert old.due == 1000 and Lease.from_dict(old.to_dict()) == old
