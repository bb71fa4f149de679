"""go-tfe's own integration tests (the pinned release, built by build.py) against a Terraless
API: the groups Terraless offers, each test in its own process (a test that panics, as some do
when a field they expect is absent, takes only itself down), six at a time.

`left-out.tsv` (beside the wrapper module) names the tests not run, each with its reason as a
user would read it (a name with `/` is one subtest: its test runs without it, `-test.skip`); `known-failing.tsv` those run that fail, with what Terraless does otherwise. `python -m tests.peers.go_tfe URL TOKEN [NAME_REGEX]` runs them by hand."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LEFT_OUT = HERE / "go-tfe" / "left-out.tsv"
KNOWN_FAILING = HERE / "go-tfe" / "known-failing.tsv"

# The groups of the issue: organizations and their tokens, users' tokens, workspaces (with
# tags), configuration versions, runs, plans, applies, state versions and their outputs, the
# log reader, variables and variable sets, agent pools and agent tokens.
GROUPS = (r"^Test(Organizations|OrganizationTokens|UserTokens|Workspaces|Workspace_|"
          r"ConfigurationVersions|Runs|Plans|Applies|StateVersions|StateVersionOutputs|"
          r"LogReader|Variables|VariableSets|VariableSetVariables|AgentPools|AgentTokens|Agents)")
RESULT = re.compile(r"^--- (PASS|FAIL|SKIP): (\S+)", re.M)
TEST_SECONDS = 150


@dataclass
class Outcome:
    name: str
    status: str          # PASS, FAIL or SKIP (go-tfe skipped it itself: a flag it wants unset)
    output: str


def left_out() -> dict[str, str]:
    return _reasons(LEFT_OUT)


def known_failing() -> dict[str, str]:
    return _reasons(KNOWN_FAILING)


def _reasons(path: Path) -> dict[str, str]:
    reasons = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, reason = line.split("\t", 1)
            reasons[name.strip()] = reason.strip()
    return reasons


def listed(binary: Path) -> list[str]:
    done = subprocess.run([str(binary), "-test.list", GROUPS], cwd=binary.parent,
                          capture_output=True, text=True, check=True)
    return [name for name in done.stdout.split() if name.startswith("Test")]


def skipped_subtests(name: str, left: dict[str, str]) -> list[str] | None:
    """`-test.skip` for the left-out subtests of one test. Go splits the pattern at each `/`
    and skips a test whose every level matches, so the subtests of one test are given at one
    depth (the list's test checks that)."""
    paths = [entry.split("/")[1:] for entry in left if entry.split("/")[0] == name and "/" in entry]
    if not paths:
        return None
    levels = [sorted({path[depth] for path in paths}) for depth in range(len(paths[0]))]
    return ["-test.skip", "/".join([f"^{name}$"] + [
        "^(" + "|".join(re.escape(part) for part in level) + ")$" for level in levels])]


def subtest_depths(left: dict[str, str]) -> dict[str, set[int]]:
    depths: dict[str, set[int]] = {}
    for entry in left:
        if "/" in entry:
            depths.setdefault(entry.split("/")[0], set()).add(entry.count("/"))
    return depths


def run_one(binary: Path, name: str, url: str, token: str) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TFE_", "ENABLE_"))}
    env.update(TFE_ADDRESS=url, TFE_TOKEN=token)
    skip = skipped_subtests(name, left_out()) or []
    try:
        done = subprocess.run([str(binary), "-test.v", "-test.run", f"^{name}$", *skip,
                               "-test.timeout", f"{TEST_SECONDS}s"], cwd=binary.parent, env=env,
                              capture_output=True, text=True, timeout=TEST_SECONDS + 30)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        return Outcome(name, "FAIL", f"killed after {TEST_SECONDS + 30} s\n{exc.stdout or ''}")
    statuses = {found: status for status, found in RESULT.findall(output)}
    # a panic prints no result line for the test it ended
    return Outcome(name, statuses.get(name, "FAIL"), output)


def run(binary: Path, url: str, token: str, names: list[str], parallel: int = 6) -> list[Outcome]:
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(lambda name: run_one(binary, name, url, token), names))


def wholly_left_out() -> set[str]:
    return {name for name in left_out() if "/" not in name}


def summary(outcomes: list[Outcome], left: dict[str, str]) -> str:
    count = {status: sum(o.status == status for o in outcomes) for status in ("PASS", "FAIL", "SKIP")}
    whole = sum("/" not in name for name in left)
    return (f"go-tfe: {count['PASS']} passed, {count['FAIL']} failed, {whole} left out"
            f" (and {len(left) - whole} subtests of tests that ran)"
            f" ({count['SKIP']} more skipped by go-tfe itself: features of HCP Terraform's"
            f" beta or of TFE that it runs only when asked to)")


if __name__ == "__main__":
    from tests.peers.build import build
    binary = build("go-tfe")
    url, token = sys.argv[1], sys.argv[2]
    wanted = re.compile(sys.argv[3]) if len(sys.argv) > 3 else None
    names = [n for n in listed(binary) if n not in wholly_left_out() and (not wanted or wanted.search(n))]
    outcomes = run(binary, url, token, names, parallel=int(os.environ.get("PARALLEL", "6")))
    for outcome in outcomes:
        print(outcome.status, outcome.name)
        if outcome.status == "FAIL" and os.environ.get("VERBOSE"):
            print(outcome.output[-4000:])
    print(summary(outcomes, left_out()))
