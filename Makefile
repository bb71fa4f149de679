# The two commands of the README: `make dev` and `make test`. Both (re)create .venv when
# pyproject.toml changes, so a fresh clone needs nothing but python3 and the package registry.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install dev test test-unit bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# python-hcl2 compiles its grammar on first use (2-4 s) and caches it in its package:
	# once here, so no request pays for it (HCL variable values are parsed on write)
	$(BIN)/python -c 'import hcl2; hcl2.loads("a = 1")'
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/terraless dev

# Two test processes (pytest-xdist), one per core: most of a test's time is waiting on a
# terraform process or a run's poll, so two halve the wall time. A file stays on one process
# (--dist loadfile): its module fixtures (stacks, agents, Consul) start once.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS)

# The tests that need no AWS, no emulator and no terraform process: seconds, not minutes.
test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/terraless template --out .terraless/deploy-template.json
	$(BIN)/cfn-lint .terraless/deploy-template.json

clean:
	rm -rf $(VENV) .terraless
