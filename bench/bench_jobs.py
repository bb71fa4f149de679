"""Terrakube jobs:
(a) job created -> final status, through the stack (flow compiled into a Step Functions
    execution, steps on workers), vs bare terraform running the same steps on the same
    configuration: a plan-only flow vs `init && plan`; plan -> approval (answered as soon as it
    is asked) -> apply vs `init && plan && apply`;
(b) GET /api/v1/workspace/:id/job and /api/v1/organization/:org/job, page 1 vs page 100 of
    2,000 jobs: time and DynamoDB items read."""
from __future__ import annotations

import base64
import statistics
import time

import httpx

from .bench_runs import bare
from .stack import ADMIN, ItemCounter, measure_page, running_stack, uploaded_workspace

N_JOBS = 2_000
REPEATS = 3
CONFIG = {"main.tf": 'resource "null_resource" "r" {}\n'}
FLOWS = {
    "plan": "flow:\n  - {type: terraformPlan, step: 100}\n",
    "plan_approve_apply": "flow:\n  - {type: terraformPlan, step: 100}\n"
                          "  - {type: approval, step: 150}\n  - {type: terraformApply, step: 200}\n",
}


def through_service(http: httpx.Client, ws: str, flow: str) -> float:
    body = {"data": {"type": "job", "attributes": {"tcl": base64.b64encode(flow.encode()).decode()}}}
    start = time.perf_counter()
    job = http.post(f"/api/v1/workspace/{ws}/job", json=body).json()["data"]["id"]
    while True:
        status = http.get(f"/api/v1/workspace/{ws}/job/{job}").json()["data"]["attributes"]["status"]
        if status == "waitingApproval":
            http.patch(f"/api/v1/workspace/{ws}/job/{job}",
                       json={"data": {"type": "job", "id": job, "attributes": {"status": "approved"}}})
        elif status in ("completed", "noChanges", "failed", "cancelled", "rejected"):
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    assert status == "completed", status
    return elapsed


def run() -> dict:
    results: dict = {"overhead": {}}
    with running_stack() as stack, ItemCounter() as counter:
        http = httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120)
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "bench", "email": "b@b.b"}}})
        through_service(http, uploaded_workspace(http, "jobs-warm-up", CONFIG), FLOWS["plan_approve_apply"])
        for label, flow in FLOWS.items():
            service, plain = [], []
            for i in range(REPEATS):
                # a fresh workspace each time: both sides start from an empty state
                service.append(through_service(http, uploaded_workspace(http, f"jobs-{label}-{i}", CONFIG), flow))
                plain.append(bare(CONFIG, apply=label != "plan")[0])
            s, b = statistics.median(service), statistics.median(plain)
            results["overhead"][label] = {"service_s": round(s, 2), "bare_terraform_s": round(b, 2),
                                          "added_s": round(s - b, 2), "ratio": round(s / b, 2)}

        # (b) 2,000 jobs, seeded in the repository's own shape (dense seq per workspace)
        from chalicelib.domain.clock import now_iso
        from chalicelib.domain.ids import new_id
        from chalicelib.domain.jobs import Job, JobStatus, Step, parse_flow
        from chalicelib.storage.models import JobModel, OrganizationModel, WorkspaceModel
        from chalicelib.storage.jobs import item_of as _job_item
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "bench-jobs", "email": "b@b.b"}}})
        ws = http.post("/api/v2/organizations/bench-jobs/workspaces",
                       json={"data": {"attributes": {"name": "many-jobs"}}}).json()["data"]["id"]
        steps = parse_flow(FLOWS["plan"])
        with JobModel.batch_write() as batch:
            for seq in range(1, N_JOBS + 1):
                batch.save(_job_item(Job(id=new_id("job"), workspace_id=ws, org="bench-jobs", cv_id="cv-x",
                                         seq=seq, org_seq=seq, created_at=now_iso(),
                                         status=JobStatus.COMPLETED,
                                         steps=[Step.of(f"s-{seq}", s) for s in steps])))
        WorkspaceModel(id=ws).update(actions=[WorkspaceModel.job_seq.set(N_JOBS)])
        OrganizationModel(name="bench-jobs").update(actions=[OrganizationModel.job_seq.set(N_JOBS)])
        for label, base in (("list_jobs", f"/api/v1/workspace/{ws}/job"),
                            ("list_org_jobs", "/api/v1/organization/bench-jobs/job")):
            pages = {page: measure_page(http, counter, f"{base}?page[number]={page}&page[size]=20", N_JOBS)
                     for page in (1, 100)}
            results[label] = {"page_1": pages[1], "page_100": pages[100],
                              "time_ratio": round(pages[100]["ms"] / pages[1]["ms"], 2)}
    return results


def report(r: dict) -> str:
    lines = ["jobs"]
    for label, o in r["overhead"].items():
        lines.append(f"  (a) {label}: job {o['service_s']} s vs bare terraform {o['bare_terraform_s']} s "
                     f"-> +{o['added_s']} s, ratio {o['ratio']}x")
    for label in ("list_jobs", "list_org_jobs"):
        lst = r[label]
        lines.append(f"  (b) {label} page 1: {lst['page_1']['ms']} ms, {lst['page_1']['dynamodb_items_read']} "
                     f"items; page 100: {lst['page_100']['ms']} ms, {lst['page_100']['dynamodb_items_read']} "
                     f"items -> time ratio {lst['time_ratio']}")
    return "\n".join(lines)
