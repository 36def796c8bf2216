# GVP connectivity conformance suite.
#   make demo   install everything, start the lab, run the suite against it, write reports/junit.xml
#   make test   install everything, run the project's own tests (lab peers, impostors, codecs), ruff, mypy
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install peers demo test lint typecheck schema clean pods-lab

install: $(STAMP) peers

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# Debian packages of the lab's real peers (ActiveMQ, sipp, PostgreSQL, FreeTDS's tsql...)
peers: $(STAMP)
	$(PY) -m gvpconf.lab install

demo: install
	mkdir -p reports
	$(PY) -m gvpconf.lab run -- $(PY) -m pytest tests --junitxml reports/junit.xml -o junit_suite_name=gvp-conformance

# the suite run from inside each simulated pod (network namespaces, NetworkPolicies as iptables rules)
pods-lab: install
	mkdir -p reports
	$(PY) -m gvpconf.netlab run --deny-matrix --junitxml reports/junit-pods.xml

test: install lint typecheck
	$(PY) -m pytest selftests -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check src selftests tests conftest.py

typecheck: $(STAMP)
	$(VENV)/bin/mypy

schema: $(STAMP)
	$(PY) -m gvpconf.inventory --schema > fixtures/inventory.schema.json

clean:
	rm -rf $(VENV) reports/*.xml reports/*.html reports/*.md reports/*.json reports/*.prom
