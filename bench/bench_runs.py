"""Runs:
(a) overhead: upload->planned and upload->applied through the stack vs bare
    `terraform init && terraform plan` / `... && terraform apply` of the same configuration,
    for 1 and 200 null_resources;
(b) GET /workspaces/:id/runs page 1 vs page 500 of 10,000 runs: time and DynamoDB items read;
(c) peak memory (RSS) of a worker process tree during a run vs terraform alone."""
from __future__ import annotations

import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from chalicelib.domain.archives import pack_tgz

from .stack import ADMIN, ItemCounter, measure_page, running_stack

N_RUNS = 10_000
SIZES = (1, 200)
REPEATS = 3


def config(n: int) -> dict[str, str]:
    return {"main.tf": f'resource "null_resource" "r" {{\n  count = {n}\n}}\n'}


# -- memory sampling over a process tree -----------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_rss_kb(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
        stack += _children(p)
    return total


class PeakSampler:
    def __init__(self, pids) -> None:
        self.pids, self.peak = pids, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            # the largest single tree: the worker running this run (+ its terraform children)
            self.peak = max([self.peak] + [tree_rss_kb(p) for p in self.pids()])
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# -- bare terraform --------------------------------------------------------------------------------

def bare(files: dict[str, str], apply: bool) -> tuple[float, int]:
    from chalicelib.executor import staging as terraform
    from chalicelib.runner.process import Tools
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for name, text in files.items():
            (cwd / name).write_text(text)
        env = Tools(terraform.tools(), cwd).env(cwd)
        start = time.perf_counter()
        procs: list[subprocess.Popen] = []
        with PeakSampler(lambda: [p.pid for p in procs if p.poll() is None]) as sampler:
            for args in (["init", "-input=false"], ["plan", "-input=false", "-out=p.bin"]) + \
                    ((["apply", "-input=false", "p.bin"],) if apply else ()):
                proc = subprocess.Popen([terraform.binary(), *args], cwd=cwd, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(proc)
                assert proc.wait() == 0, args
        return time.perf_counter() - start, sampler.peak


def through_service(http: httpx.Client, ws: str, files: dict[str, str], apply: bool,
                    pool_pids) -> tuple[float, int]:
    blob = pack_tgz(files)
    cv = http.post(f"/api/v2/workspaces/{ws}/configuration-versions",
                   json={"data": {"attributes": {"auto-queue-runs": True}}}).json()["data"]
    with PeakSampler(pool_pids) as sampler:
        start = time.perf_counter()
        assert httpx.put(cv["attributes"]["upload-url"], content=blob).status_code == 200
        run_id = None
        while True:
            runs = http.get(f"/api/v2/workspaces/{ws}/runs?page[size]=1").json()["data"]
            if runs and runs[0]["relationships"]["configuration-version"]["data"]["id"] == cv["id"]:
                run_id = runs[0]["id"]
                status = runs[0]["attributes"]["status"]
                if status in ("planned", "planned_and_finished", "errored"):
                    break
            time.sleep(0.02)
        assert status == "planned", status
        if apply:
            http.post(f"/api/v2/runs/{run_id}/actions/apply")
            while (status := http.get(f"/api/v2/runs/{run_id}").json()["data"]["attributes"]["status"]) \
                    not in ("applied", "errored"):
                time.sleep(0.02)
            assert status == "applied", http.get(f"/api/v2/runs/{run_id}").json()["data"]["attributes"]["error-text"]
        else:
            http.post(f"/api/v2/runs/{run_id}/actions/discard")
        elapsed = time.perf_counter() - start
    return elapsed, sampler.peak


def run() -> dict:
    results: dict = {"overhead": {}, "memory": {}}
    with running_stack() as stack, ItemCounter() as counter:
        api, dispatcher = stack.api, stack.dispatcher
        http = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120)
        http.post("/api/v2/organizations", json={"data": {"attributes": {"name": "bench", "email": "b@b.b"}}})
        pool_pids = lambda: [w.proc.pid for w in dispatcher.pool._all if w.alive]  # noqa: E731
        # one unmeasured run first: steady state, not the emulator's and workers' first calls
        warm_ws = http.post("/api/v2/organizations/bench/workspaces", json={"data": {
            "attributes": {"name": "warm-up"}}}).json()["data"]["id"]
        through_service(http, warm_ws, config(1), True, pool_pids)
        for n in SIZES:
            for apply in (False, True):
                label = f"{n}_{'applied' if apply else 'planned'}"
                service, plain, mem_s, mem_b = [], [], 0, 0
                for i in range(REPEATS):
                    # a fresh workspace each time: both sides start from an empty state
                    ws = http.post("/api/v2/organizations/bench/workspaces", json={"data": {
                        "attributes": {"name": f"w-{label}-{i}"}}}).json()["data"]["id"]
                    t, m = through_service(http, ws, config(n), apply, pool_pids)
                    service.append(t)
                    mem_s = max(mem_s, m)
                    t, m = bare(config(n), apply)
                    plain.append(t)
                    mem_b = max(mem_b, m)
                s, b = statistics.median(service), statistics.median(plain)
                results["overhead"][label] = {"service_s": round(s, 2), "bare_terraform_s": round(b, 2),
                                              "added_s": round(s - b, 2), "ratio": round(s / b, 2)}
                if apply:
                    results["memory"][f"{n}"] = {"worker_tree_peak_mb": round(mem_s / 1024),
                                                 "terraform_alone_peak_mb": round(mem_b / 1024),
                                                 "ratio": round(mem_s / max(mem_b, 1), 2)}

        # (b) 10,000 runs, seeded in the repository's own shape (dense seq per workspace)
        from chalicelib.domain.clock import now_iso
        from chalicelib.domain.ids import new_id
        from chalicelib.domain.runs import Run, RunOptions, RunStatus
        from chalicelib.storage.models import RunModel, WorkspaceModel
        from chalicelib.storage.runs import item_of as _run_item
        ws = http.post("/api/v2/organizations/bench/workspaces",
                       json={"data": {"attributes": {"name": "many-runs"}}}).json()["data"]["id"]
        with RunModel.batch_write() as batch:
            for seq in range(1, N_RUNS + 1):
                batch.save(_run_item(Run(id=new_id("run"), workspace_id=ws, org="bench",
                                         cv_id="cv-x", seq=seq, created_at=now_iso(),
                                         options=RunOptions(), status=RunStatus.DISCARDED)))
        WorkspaceModel(id=ws).update(actions=[WorkspaceModel.run_seq.set(N_RUNS)])
        pages = {page: measure_page(
            http, counter, f"/api/v2/workspaces/{ws}/runs?page[number]={page}&page[size]=20", N_RUNS)
            for page in (1, 500)}
        results["list_runs"] = {"page_1": pages[1], "page_500": pages[500],
                                "time_ratio": round(pages[500]["ms"] / pages[1]["ms"], 2)}
    return results


def report(r: dict) -> str:
    lines = ["runs"]
    for label, o in r["overhead"].items():
        n, phase = label.split("_")
        lines.append(f"  (a) {n:>3} null_resource upload->{phase}: service {o['service_s']} s vs bare "
                     f"terraform {o['bare_terraform_s']} s -> +{o['added_s']} s, ratio {o['ratio']}x")
    lst = r["list_runs"]
    lines.append(f"  (b) runs page 1: {lst['page_1']['ms']} ms, {lst['page_1']['dynamodb_items_read']} items; "
                 f"page 500: {lst['page_500']['ms']} ms, {lst['page_500']['dynamodb_items_read']} items "
                 f"-> time ratio {lst['time_ratio']}")
    for n, m in r["memory"].items():
        lines.append(f"  (c) {n:>3} null_resource: worker tree peak {m['worker_tree_peak_mb']} MB vs "
                     f"terraform alone {m['terraform_alone_peak_mb']} MB -> ratio {m['ratio']}x")
    return "\n".join(lines)
