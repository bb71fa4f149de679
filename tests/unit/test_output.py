"""terraform's output parsers on output recorded from terraform 1.0.3 with the null provider
(tests/unit/recorded: two resources created, a replacement, no changes, destroy, an error)."""
from pathlib import Path

import pytest

from chalicelib.runner import output

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


@pytest.mark.parametrize("name, counts", [
    ("plan_create.txt", (2, 0, 0)),
    ("plan_replace.txt", (1, 0, 1)),       # a replacement: one add and one destroy
    ("plan_no_changes.txt", (0, 0, 0)),
    ("destroy.txt", (0, 0, 2)),            # destroy prints its plan first
    ("plan_error.txt", (0, 0, 0)),
])
def test_plan_counts(name, counts):
    assert output.plan_counts(recorded(name)) == counts


@pytest.mark.parametrize("name, counts", [
    ("apply_create.txt", (2, 0, 0)),
    ("apply_replace.txt", (1, 0, 1)),
    ("destroy.txt", (0, 0, 2)),
    ("plan_no_changes.txt", (0, 0, 0)),
])
def test_apply_counts(name, counts):
    assert output.apply_counts(recorded(name)) == counts


def test_error_summary_is_terraforms_first_error_line():
    assert output.error_summary(recorded("plan_error.txt")) == "Error: Unsupported argument"


def test_error_summary_without_an_error_line_is_the_last_line():
    assert output.error_summary("Initializing...\nsomething went wrong\n\n") == "something went wrong"
    assert output.error_summary("") == ""
    assert len(output.error_summary("Error: " + "x" * 2000)) == 500
