"""Configuration versions:
(a) GET /api/v2/configuration-versions/:id over HTTP vs a bare boto3 get_item of the same item
    on the same emulator;
(b) page 1 vs page 50 of 2,000 versions (page size 20): time ratio and DynamoDB items read."""
from __future__ import annotations

import statistics
import time

import boto3
import httpx

from .stack import ADMIN, ItemCounter, measure_page, running_stack

N_GETS = 300
N_VERSIONS = 2000


def _median_ms(fn, n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run() -> dict:
    results = {}
    with running_stack() as stack, ItemCounter() as counter:
        api, aws = stack.api, stack.aws
        h = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/vnd.api+json"}
        http = httpx.Client(base_url=api, headers=h)
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "bench", "email": "b@b.b"}}})
        ws = http.post("/api/v2/organizations/bench/workspaces",
                       json={"data": {"attributes": {"name": "w"}}}).json()["data"]["id"]
        cv = http.post(f"/api/v2/workspaces/{ws}/configuration-versions", json={"data": {}}).json()["data"]["id"]
        ddb = boto3.client("dynamodb", endpoint_url=aws, region_name="us-east-1")
        for _ in range(20):   # warm both paths
            http.get(f"/api/v2/configuration-versions/{cv}")
            ddb.get_item(TableName="terraless-configuration-versions", Key={"id": {"S": cv}})
        api_ms = _median_ms(lambda: http.get(f"/api/v2/configuration-versions/{cv}").raise_for_status(), N_GETS)
        bare_ms = _median_ms(lambda: ddb.get_item(TableName="terraless-configuration-versions",
                                                  Key={"id": {"S": cv}}), N_GETS)
        results["get_cv"] = {"api_ms": round(api_ms, 2), "bare_get_item_ms": round(bare_ms, 2),
                             "ratio": round(api_ms / bare_ms, 2)}

        # (b) 2,000 versions. Seeded with batch writes in the exact shape the repository
        # stores (dense seq, counter on the workspace): creating them one transaction at a
        # time through the API is what the service does, but moto makes that minutes long.
        from chalicelib.domain.clock import now_iso
        from chalicelib.domain.configuration_versions import ConfigurationVersion
        from chalicelib.domain.ids import new_id
        from chalicelib.storage.models import ConfigurationVersionModel, WorkspaceModel
        from chalicelib.storage.configuration_versions import item_of as _cv_item
        with ConfigurationVersionModel.batch_write() as batch:
            for seq in range(2, N_VERSIONS + 1):
                batch.save(_cv_item(ConfigurationVersion(
                    id=new_id("cv"), workspace_id=ws, org="bench", seq=seq, created_at=now_iso())))
        WorkspaceModel(id=ws).update(actions=[WorkspaceModel.cv_seq.set(N_VERSIONS)])
        pages = {page: measure_page(
            http, counter, f"/api/v2/workspaces/{ws}/configuration-versions?page[number]={page}&page[size]=20",
            N_VERSIONS) for page in (1, 50)}
        results["list_cvs"] = {"page_1": pages[1], "page_50": pages[50],
                               "time_ratio_p50_over_p1": round(pages[50]["ms"] / pages[1]["ms"], 2)}
    return results


def report(results: dict) -> str:
    g, lst = results["get_cv"], results["list_cvs"]
    return "\n".join([
        "configuration versions",
        f"  (a) GET cv via API {g['api_ms']} ms vs bare get_item {g['bare_get_item_ms']} ms "
        f"-> ratio {g['ratio']}x",
        f"  (b) list page 1: {lst['page_1']['ms']} ms, {lst['page_1']['dynamodb_items_read']} items read; "
        f"page 50: {lst['page_50']['ms']} ms, {lst['page_50']['dynamodb_items_read']} items read "
        f"-> time ratio {lst['time_ratio_p50_over_p1']}",
    ])
