import time, json
from conftest import make_tgz, poll

def test_smoke(api, workspace, upload, drain):
    cv = upload(workspace, {"main.tf": 'resource "null_resource" "a" {}\noutput "x" { value = 1 }\n'})
    r = api.post("/api/v2/runs", {"data": {"attributes": {"message": "hi"}, "relationships": {"workspace": {"data": {"id": workspace, "type": "workspaces"}}}}})
    print(r.status_code, r.body[:300])
    rid = r.json["data"]["id"]
    def st():
        drain()
        return api.get(f"/api/v2/runs/{rid}").json["data"]["attributes"]["status"]
    s = poll(st, lambda s: s in ("planned","errored","planned_and_finished"), timeout=60, interval=0.2)
    print(s, api.get(f"/api/v2/runs/{rid}").json["data"]["attributes"])
    print(api.get(f"/api/v2/runs/{rid}/plan").json)
    assert api.post(f"/api/v2/runs/{rid}/actions/apply").status_code == 202
    s = poll(st, lambda s: s in ("applied","errored"), timeout=60, interval=0.2)
    print(s, api.get(f"/api/v2/runs/{rid}").json["data"]["attributes"]["error-text"])
    print(api.get(f"/api/v2/runs/{rid}/apply").json)
    print(api.get(f"/api/v2/workspaces/{workspace}/current-state-version").json)
