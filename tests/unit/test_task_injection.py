"""CTS task definitions are hostile input: nothing of them becomes HCL but validated
identifiers and escaped literals (domain/task_modules.py, domain/tasks.py)."""
import json

import pytest

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.task_modules import root_module
from chalicelib.domain.tasks import normalize

BASE = {"name": "web", "module": "/srv/modules/web", "condition": {"services": {"names": ["web"]}}}
EVIL_VALUE = '${file("/etc/passwd")} %{ if true }x%{ endif }'


def test_values_are_data_never_hcl():
    task = normalize({**BASE, "variables": {"greeting": EVIL_VALUE},
                      "module_input": {"extra": {"nested": EVIL_VALUE}}})
    files = root_module(task)
    hcl = files["main.tf"] + files["variables.tf"]
    assert "file(" not in hcl and "%{" not in hcl
    assert "  greeting = var.greeting" in files["main.tf"] and "  extra = var.extra" in files["main.tf"]
    data = json.loads(files["task.auto.tfvars.json"])
    assert data["greeting"] == EVIL_VALUE and data["extra"] == {"nested": EVIL_VALUE}


def test_module_source_and_version_are_escaped_literals():
    files = root_module(normalize({**BASE, "module": '${file("/etc/passwd")}', "version": "%{x}"}))
    assert 'source = "$${file(\\"/etc/passwd\\")}"' in files["main.tf"]
    assert 'version = "%%{x}"' in files["main.tf"]


@pytest.mark.parametrize("task", [
    {**BASE, "name": "web\n"},                                               # trailing newline
    {**BASE, "name": 'web" {}\nresource "null_resource" "x'},
    {**BASE, "providers": ['null" = {}\n  }\n}\nresource "null_resource" "x" {\n  provisioner']},
    {**BASE, "variables": {'x = 1\n  y': "v"}},
    {**BASE, "module_input": {'a"': {}}},
    {**BASE, "variables": {"count": "3"}},                                   # a meta-argument
    {**BASE, "variables": {"depends_on": "x"}},
    {**BASE, "condition": {"services": {"regexp": "("}}},                    # does not compile
    {**BASE, "condition": {"services": {"regexp": "x" * 2000}}},
    {**BASE, "condition": {"services": {"names": [{"a": 1}]}}},
    {**BASE, "buffer_period": {"min": "99999999999h"}},                     # unschedulable
    {**BASE, "buffer_period": {"min": "5s", "max": "16m"}},
    {**BASE, "buffer_period": {"min": "5s\n"}},
    {**BASE, "description": "d" * 5000},
    {**BASE, "module_input": {"big": "x" * 70_000}},
])
def test_hostile_definitions_are_refused(task):
    with pytest.raises(BadRequest):
        normalize(task)


def test_the_generator_refuses_what_validation_would(monkeypatch):
    """Defence in depth: a definition stored before validation existed never becomes HCL."""
    with pytest.raises(ValueError):
        root_module({**BASE, "variables": {'x"\n': "v"}})
    with pytest.raises(ValueError):
        root_module({**BASE, "providers": ["a b"]})


def test_a_catastrophic_pattern_is_accepted_and_matched_in_linear_time():
    from chalicelib.domain.consul import watches
    task = normalize({**BASE, "condition": {"services": {"regexp": "(a+)+$"}}})
    assert watches(task["condition"], "a" * 50_000 + "b") is False
    assert watches(task["condition"], "aaa") is True
