"""The Consul poll against a real agent (Consul v1.16.1 built by tests/peers), in-process under
moto: X-Consul-Index tells an unchanged answer without a read of what was stored, and only a
change a task would see (not a check's output) counts as one."""
import pytest

from chalicelib import config
from chalicelib.services import consul_poll


@pytest.fixture
def polling(api, consul_agent, monkeypatch):
    monkeypatch.setenv("CONSUL_HTTP_ADDR", consul_agent.address)
    config.reset()
    consul_poll._last_index.clear()
    yield api
    consul_poll._last_index.clear()
    config.reset()


def _register(agent, service_id, name):
    agent.put("/v1/agent/service/register", {"ID": service_id, "Name": name, "Port": 1,
                                             "Check": {"CheckID": f"service:{service_id}", "TTL": "600s",
                                                       "Status": "passing"}})


def test_the_index_and_what_a_task_sees_decide_a_change(polling, consul_agent, monkeypatch, tmp_path):
    from chalicelib.storage import tasks as task_store
    reads = []
    real = task_store.service_entries
    monkeypatch.setattr(task_store, "service_entries", lambda *a: reads.append(a) or real(*a))
    (tmp_path / "main.tf").write_text('variable "services" { type = any }\n')
    _register(consul_agent, "idx-1", "idx")
    assert polling.post("/v1/tasks", {"task": {"name": "idx", "module": str(tmp_path),
                                               "condition": {"services": {"names": ["idx"]}}}}).status_code == 201
    first = consul_poll.poll()
    assert first["services"] == ["idx"] and not first["errors"]
    assert len(reads) == 1
    again = consul_poll.poll()                       # nothing written in Consul since
    assert again["unchanged"] == ["idx"] and again["services"] == [] and len(reads) == 1
    # a check's output alone: the agent syncs it to the catalog later, the index stays
    consul_agent.put("/v1/agent/check/pass/service:idx-1?note=fine")
    assert consul_poll.poll()["unchanged"] == ["idx"]
    # the check renamed: the entries (and the index) change, not what a task sees
    consul_agent.put("/v1/agent/service/register", {"ID": "idx-1", "Name": "idx", "Port": 1, "Check": {
        "CheckID": "service:idx-1", "Name": "renamed", "TTL": "600s", "Status": "passing"}})
    renamed = consul_poll.poll()
    assert renamed["services"] == [] and renamed["unchanged"] == [] and len(reads) == 2
    consul_agent.put("/v1/agent/check/warn/service:idx-1?note=slow")
    assert consul_poll.poll()["services"] == ["idx"]
    _register(consul_agent, "idx-2", "idx")
    assert consul_poll.poll()["services"] == ["idx"]
    stored = task_store.service_entries("cts", "idx")
    assert sorted(e["Service"]["ID"] for e in stored) == ["idx-1", "idx-2"]


def test_an_index_that_goes_backwards_is_read_again():
    query = "/v1/health/service/x?{}"
    consul_poll._last_index.clear()
    assert consul_poll.unchanged_since_last_poll(query, 40) is False
    assert consul_poll.unchanged_since_last_poll(query, 40) is True
    assert consul_poll.unchanged_since_last_poll(query, 12) is False       # a restarted Consul
    assert consul_poll.unchanged_since_last_poll(query, None) is False
    assert consul_poll.unchanged_since_last_poll(query, None) is False     # no index: always read
    consul_poll._last_index.clear()
