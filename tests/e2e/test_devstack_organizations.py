"""Organization renames through the dev stack under contention: of several organizations
renamed to one name at once exactly one gets it, and every other keeps its own."""
import threading
import uuid

import pytest

from conftest import HttpApi

pytestmark = pytest.mark.e2e


def test_concurrent_renames_to_one_name_give_it_to_exactly_one(dev_stack):
    http = HttpApi(dev_stack.url, dev_stack.token)
    tag = uuid.uuid4().hex[:6]
    names = [f"rn{tag}-{i}" for i in range(6)]
    for name in names:
        assert http.post("/api/v2/organizations", {"data": {"attributes": {
            "name": name, "email": "r@r.r"}}}).status_code == 201
        assert http.post(f"/api/v2/organizations/{name}/workspaces", {"data": {"attributes": {
            "name": "of-" + name}}}).status_code == 201
    wanted = f"rn{tag}-wanted"
    answers = {}

    def rename(name):
        mine = HttpApi(dev_stack.url, dev_stack.token)         # a connection of its own
        answers[name] = mine.patch(f"/api/v2/organizations/{name}", {"data": {"attributes": {
            "name": wanted}}}).status_code
    threads = [threading.Thread(target=rename, args=(name,)) for name in names]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [name for name, status in answers.items() if status == 200]
    assert len(winners) == 1 and sorted(answers.values()) == [200] + [409] * 5, answers
    # the name leads to the winner's workspace; every other organization is as it was
    ws = http.get(f"/api/v2/organizations/{wanted}/workspaces").json["data"]
    assert [w["attributes"]["name"] for w in ws] == ["of-" + winners[0]]
    assert http.get(f"/api/v2/organizations/{winners[0]}").status_code == 404
    for name in names:
        if name != winners[0]:
            kept = http.get(f"/api/v2/organizations/{name}/workspaces").json["data"]
            assert [w["attributes"]["name"] for w in kept] == ["of-" + name]
