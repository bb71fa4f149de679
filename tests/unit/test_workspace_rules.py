"""Workspace rules without AWS: HCP's wildcard name search."""
import pytest

from chalicelib.domain.workspaces import matches_wildcard, wildcard


@pytest.mark.parametrize("name, pattern, expected", [
    ("hashicorp-prod", "*-prod", True), ("hashicorp-staging", "*-prod", False),
    ("app-web", "app-*", True), ("web-app", "app-*", False),
    ("a-net-b", "*net*", True), ("abc", "a*b*c", True), ("acb", "a*b*c", False),
    ("ab", "ab*b", False), ("abb", "ab*b", True), ("x", "*", True), ("x", "x", True), ("xy", "x", False),
])
def test_a_star_matches_any_run_of_characters(name, pattern, expected):
    assert matches_wildcard(name, pattern) is expected


def test_the_prefix_is_what_narrows_the_key_range():
    assert wildcard("app-*-prod") == ("app-", [], "-prod")
    assert wildcard("*a*b*") == ("", ["a", "b"], "")
