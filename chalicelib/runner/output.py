"""Reading terraform's human output (the log clients see): resource counts and the error a
failed phase reports. Tested on recorded terraform 1.0 output (tests/unit/test_output.py)."""
from __future__ import annotations

import re

_PLAN_RE = re.compile(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy")
_APPLY_RE = re.compile(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed")
_DESTROY_RE = re.compile(r"Destroy complete! Resources: (\d+) destroyed")


def plan_counts(text: str) -> tuple[int, int, int]:
    """From terraform's summary line; a replacement counts as one add and one destroy, as in
    `show -json` (["delete","create"]). No line (no changes, outputs only, refresh-only): 0s."""
    match = _PLAN_RE.search(text)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else (0, 0, 0)


def apply_counts(text: str) -> tuple[int, int, int]:
    match = _APPLY_RE.search(text)
    if match:
        return int(match.group(1)), int(match.group(2)), int(match.group(3))
    match = _DESTROY_RE.search(text)
    if match:
        return 0, 0, int(match.group(1))
    return 0, 0, 0


def error_summary(text: str) -> str:
    """The first `Error...` line, else the last line: what a failed phase's run says."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")]
    return (errors[0] if errors else (lines[-1] if lines else ""))[:500]
