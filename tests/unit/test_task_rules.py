"""CTS task definitions: defaults and the 400s CTS answers for invalid fields."""
import pytest

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.tasks import normalize

BASE = {"name": "web", "module": "./modules/web",
        "condition": {"services": {"names": ["web", "api"]}}}


def test_defaults_are_filled_in_as_cts_does():
    task = normalize(BASE)
    assert task["enabled"] is True
    assert task["buffer_period"] == {"enabled": True, "min": "5s", "max": "20s"}
    assert task["providers"] == [] and task["variables"] == {} and task["module_input"] == {}
    scheduled = normalize({**BASE, "condition": {"schedule": {"cron": "*/10 * * * * * *"}}})
    assert scheduled["buffer_period"]["enabled"] is False       # schedule tasks are not buffered
    assert normalize({**BASE, "buffer_period": {"min": "10s"}})["buffer_period"]["max"] == "40s"


@pytest.mark.parametrize("change, reason", [
    ({"module": None}, "module"),
    ({"condition": None}, "condition"),
    ({"condition": {"services": {"names": ["a"]}, "schedule": {"cron": "* * * * *"}}}, "condition"),
    ({"condition": {"schedule": {"cron": "every tuesday"}}}, "cron"),
    ({"surprise": 1}, "unknown"),
    ({"buffer_period": {"min": "30s", "max": "10s"}}, "exceed"),
    ({"buffer_period": {"min": "soon"}}, "duration"),
    ({"name": "bad name"}, "name"),
    ({"variables": {"x": 1}}, "variables"),
    ({"enabled": "yes"}, "enabled"),
])
def test_invalid_definitions_are_400s(change, reason):
    task = {**BASE, **change}
    task = {k: v for k, v in task.items() if v is not None}
    with pytest.raises(BadRequest, match=reason):
        normalize(task)


def test_health_follows_cts_rules():
    from chalicelib.domain.tasks import health
    assert health([]) == "unknown"
    assert health([True, False, False]) == "successful"
    assert health([False, True, True]) == "errored"
    assert health([False, True, False]) == "critical"
    assert health([False]) == "errored"


def test_the_synchronous_task_runs_answer_before_the_api_function_times_out():
    """run=now / run=inspect wait for the run: their bound leaves the deployed API function
    time to answer 409 (the run to poll) instead of being cut off."""
    import json
    from pathlib import Path

    from chalicelib.services import tasks
    config = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())
    api_timeout = config["stages"]["dev"]["lambda_functions"]["http"]["lambda_timeout"]
    assert tasks.INSPECT_TIMEOUT + 20 <= api_timeout
