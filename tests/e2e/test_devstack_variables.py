"""Variables through the dev stack under contention: concurrent writers of one workspace's
variables all succeed (the bundle's conditional rewrite retries) and lose nothing."""
import threading
import uuid

import pytest

from conftest import HttpApi

pytestmark = pytest.mark.e2e


def test_concurrent_writers_lose_nothing(dev_stack):
    http = HttpApi(dev_stack.url, dev_stack.token)
    org = f"vars{uuid.uuid4().hex[:6]}"
    assert http.post("/api/v2/organizations", {"data": {"attributes": {"name": org, "email": "v@v.v"}}}).status_code == 201
    ws = http.post(f"/api/v2/organizations/{org}/workspaces",
                   {"data": {"attributes": {"name": "contended"}}}).json["data"]["id"]
    answers = []

    def add(i):
        mine = HttpApi(dev_stack.url, dev_stack.token)         # a connection of its own
        answers.append(mine.post(f"/api/v2/workspaces/{ws}/vars", {"data": {"type": "vars", "attributes": {
            "key": f"k{i}", "value": f"v{i}", "category": "terraform"}}}).status_code)
    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert answers == [201] * 8
    listed = http.get(f"/api/v2/workspaces/{ws}/vars").json["data"]
    assert sorted(v["attributes"]["key"] for v in listed) == sorted(f"k{i}" for i in range(8))
    # what a run would use (read from the bundle) agrees with the variables themselves
    used = http.get(f"/api/v2/workspaces/{ws}/all-vars").json["data"]
    assert sorted(v["id"] for v in used) == sorted(v["id"] for v in listed)
