"""Variables without AWS: validation, the HCL single-expression rule, HCP's precedence table,
and the runner's masking of sensitive values."""
import json

import pytest

from chalicelib.domain import variables as rules
from chalicelib.domain.errors import Conflict, Unprocessable
from chalicelib.domain.variables import Candidate, Variable, Varset
from chalicelib.runner import phases
from chalicelib.runner.monitor import mask
from chalicelib.services.variables import parse_hcl


def var(key="k", category="terraform", value="v", owner="ws-1", **kw) -> Variable:
    return Variable(id=f"var-{owner}-{key}", owner_id=owner, org="o", key=key, category=category,
                    value=value, **kw)


# -- precedence --------------------------------------------------------------------------------

def varset(name, *, global_=False, priority=False) -> Varset:
    return Varset(id=f"varset-{name}", org="o", name=name, global_=global_, priority=priority)


def test_set_levels():
    assert rules.set_level(varset("a")) == rules.SET_WORKSPACE
    assert rules.set_level(varset("a", global_=True)) == rules.SET_GLOBAL
    assert rules.set_level(varset("a", priority=True)) == rules.PRIORITY_WORKSPACE
    assert rules.set_level(varset("a", global_=True, priority=True)) == rules.PRIORITY_GLOBAL


# Which source wins when the same key is given by each pair of sources (HCP's precedence,
# without projects): the row's source beats every source to its right.
ORDER = [rules.PRIORITY_GLOBAL, rules.PRIORITY_WORKSPACE, rules.RUN, rules.WORKSPACE,
         rules.SET_WORKSPACE, rules.SET_GLOBAL]


@pytest.mark.parametrize("high", range(len(ORDER)))
@pytest.mark.parametrize("low", range(len(ORDER)))
def test_the_precedence_table(high, low):
    if high >= low:
        return
    winner = var(value=rules.LEVEL_NAMES[ORDER[high]], owner="a")
    loser = var(value=rules.LEVEL_NAMES[ORDER[low]], owner="b")
    for candidates in ([Candidate(ORDER[high], "", winner), Candidate(ORDER[low], "", loser)],
                       [Candidate(ORDER[low], "", loser), Candidate(ORDER[high], "", winner)]):
        assert rules.effective(candidates)["terraform:k"].value == rules.LEVEL_NAMES[ORDER[high]]


def test_within_a_level_the_first_set_name_wins_and_categories_do_not_collide():
    b, a = var(value="from b", owner="b"), var(value="from a", owner="a")
    env = var(category="env", value="env", owner="b")
    chosen = rules.effective([Candidate(rules.SET_WORKSPACE, "B", b),
                              Candidate(rules.SET_WORKSPACE, "A", a),
                              Candidate(rules.SET_GLOBAL, "A", env)])
    assert chosen["terraform:k"].value == "from a" and chosen["env:k"].value == "env"


def test_run_variables_are_hcl_terraform_variables():
    (v,) = rules.run_variables("ws-1", "o", [{"key": "x", "value": '"y"'}])
    assert (v.category, v.hcl, v.value) == ("terraform", True, '"y"')


# -- validation ----------------------------------------------------------------------------------

def test_new_variable_defaults():
    fields, value = rules.validate_new({"key": "AWS_REGION", "category": "env", "value": "x"}, parse_hcl)
    assert fields == {"key": "AWS_REGION", "category": "env", "hcl": False, "sensitive": False,
                      "description": ""} and value == "x"
    fields, value = rules.validate_new({"key": "n", "category": "terraform", "value": 3}, parse_hcl)
    assert value == "3"


@pytest.mark.parametrize("value", ["1", '"s"', "[1, 2]", '{ a = 1, b = "c" }', "<<EOT\nhi\nEOT",
                                   "true", "null", "1 # a comment"])
def test_hcl_values_that_are_one_expression(value):
    rules.check_hcl(value, parse_hcl)


@pytest.mark.parametrize("value, reason", [
    ("[1,", "not valid HCL"),
    ("1)\nother = (2", "single expression"),
    ("1\nother = 2", "not valid HCL"),
    ("1 /*", "not valid HCL"),
    ("[" * 33 + "]" * 33, "deeper"),
])
def test_hcl_values_that_smuggle_or_do_not_parse(value, reason):
    with pytest.raises(Unprocessable) as refused:
        rules.check_hcl(value, parse_hcl)
    assert reason in refused.value.detail


def test_a_sensitive_hcl_value_is_not_quoted_in_the_refusal():
    with pytest.raises(Unprocessable) as refused:
        rules.validate_new({"key": "k", "category": "terraform", "hcl": True, "sensitive": True,
                            "value": "[ hunter2-secret"}, parse_hcl)
    assert "hunter2" not in refused.value.detail and "withheld" in refused.value.detail


def test_the_runner_writes_hcl_exactly_as_validated():
    for key, value in (("a", "1"), ("b", "{\n x = 1\n}")):
        assert phases.hcl_assignment(key, value) == rules.hcl_assignment(key, value)
        assert parse_hcl(phases.hcl_assignment(key, value)).keys() == {key}


def test_updates_keep_sensitivity_and_a_new_category_suits_the_key():
    secret = var(sensitive=True, value=None)
    with pytest.raises(Unprocessable):
        rules.validate_update(secret, {"sensitive": False}, parse_hcl)
    # HCP lets a variable change category; the key must be one the new category can carry
    assert rules.validate_update(var(key="REGION"), {"category": "env"}, parse_hcl) == (
        {"category": "env", "key": "REGION"}, None)
    with pytest.raises(Unprocessable):
        rules.validate_update(var(key="with-dash"), {"category": "env"}, parse_hcl)
    with pytest.raises(Unprocessable):
        rules.validate_update(var(key="k", hcl=True), {"category": "env"}, parse_hcl)
    with pytest.raises(Unprocessable):
        rules.validate_update(var(), {"category": "bash"}, parse_hcl)
    assert rules.validate_update(var(), {"category": "terraform", "value": "n"}, parse_hcl) == ({}, "n")
    with pytest.raises(Unprocessable):       # turning hcl on checks the stored value
        rules.validate_update(var(value="[1,"), {"hcl": True}, parse_hcl)


def test_an_owner_has_room_for_a_bounded_number_of_variables():
    rules.check_room(rules.MAX_PER_OWNER - 1)
    with pytest.raises(Conflict):
        rules.check_room(rules.MAX_PER_OWNER)


@pytest.mark.parametrize("attrs", [{"name": ""}, {"name": "x" * 129}, {"name": "a\n"},
                                   {"name": "ok", "global": "yes"}, {"name": "ok", "priority": 1}])
def test_bad_variable_sets(attrs):
    with pytest.raises(Unprocessable):
        rules.validate_varset(attrs, new=True)


# -- masking --------------------------------------------------------------------------------------

def test_masking_catches_values_as_printed_and_as_json_escapes_them():
    secret = 'p@ss"word\\1'
    text = f'value = {secret}\n{{"v": "{secret.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"}}'
    masked = mask(text, [secret])
    assert secret not in masked and "p@ss" not in masked and masked.count("***") == 2


def test_masking_leaves_text_without_secrets_alone():
    assert mask("nothing here", ["secret-value"]) == "nothing here"


@pytest.mark.parametrize("key, taken", [
    ("bf0581aa-bb78-2266-de13-d79c7ff248be", True),   # go-tfe's tests name variables by UUID
    ("region", True), ("_x", True), ("-x", False), ("a b", False), ("a=b", False), ("", False),
    ("k" * 129, False),
])
def test_terraform_keys_as_hcp_takes_them(key, taken):
    attrs = {"key": key, "category": "terraform", "value": "v"}
    if taken:
        assert rules.validate_new(attrs, parse_hcl)[0]["key"] == key
    else:
        with pytest.raises(Unprocessable):
            rules.validate_new(attrs, parse_hcl)


def test_a_key_that_is_no_identifier_never_reaches_the_hcl_variables_file():
    # it could only break the file's syntax: no configuration can declare such a variable
    files = phases.variable_files({"terraform": {"9abc": "x", "a": "y"},
                                   "hcl": {"9abc": "1", "b": "[1]"}})
    assert json.loads(files[phases.VARS_FILE]) == {"9abc": "x", "a": "y"}
    assert parse_hcl(files[phases.HCL_VARS_FILE]).keys() == {"b"}
    assert phases.HCL_VARS_FILE not in phases.variable_files({"hcl": {"9abc": "1"}})
