"""When a worker decides the state machine has abandoned its task (and stops terraform)."""
from chalicelib.runner.monitor import Heartbeat


def test_a_token_refused_at_first_is_not_yet_lost():
    # moto arms a task's heartbeat just after sending its message: a fast first beat is refused
    assert not Heartbeat.gives_up(refused=True, accepted_before=False, seconds_since_start=0.0, period=30)
    assert not Heartbeat.gives_up(refused=True, accepted_before=False, seconds_since_start=29.9, period=30)


def test_a_token_refused_after_acceptance_or_for_a_whole_period_is_lost():
    assert Heartbeat.gives_up(refused=True, accepted_before=True, seconds_since_start=1.0, period=30)
    assert Heartbeat.gives_up(refused=True, accepted_before=False, seconds_since_start=30.0, period=30)
    assert not Heartbeat.gives_up(refused=False, accepted_before=True, seconds_since_start=99.0, period=30)
