# GVP connectivity conformance suite.
#   make demo   install everything, start the lab, run the suite against it, write reports/junit.xml
#   make test   install everything, run the project's own tests (lab peers, impostors, codecs), ruff, mypy
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml lab/pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install peers demo test lint typecheck schema clean pods-lab screenshot bench bench-quick faults soak

install: $(STAMP) peers

$(STAMP): pyproject.toml lab/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' -e ./lab
	touch $@

# Debian packages of the lab's real peers (ActiveMQ, sipp, PostgreSQL, FreeTDS's tsql...)
peers: $(STAMP)
	$(PY) -m gvpconf_lab install

demo: install
	mkdir -p reports
	$(PY) -m gvpconf_lab run -- $(PY) -m pytest tests --junitxml reports/junit.xml -o junit_suite_name=gvp-conformance

# the suite run from inside each simulated pod (network namespaces, NetworkPolicies as iptables rules)
pods-lab: install
	mkdir -p reports/pods
	$(PY) -m gvpconf_lab.netlab run --deny-matrix --junitxml reports/pods/junit.xml

# the fault catalog injected one at a time into the namespace lab: a table, reports/faults.md, reports/faults-junit.xml
faults: install
	mkdir -p reports
	$(PY) -m gvpconf_lab.netlab.faults --report reports/faults.md --junitxml reports/faults-junit.xml

# the false-alarm soak (a benchmark): the whole suite N times against the healthy namespace lab
N ?= 100
soak: install
	$(PY) bench/soak.py --runs $(N)

test: install lint typecheck bench-quick
	$(PY) -m pytest selftests -p no:cacheprovider

# figures, never assertions: `make bench` prints every figure beside its target (the README quotes it)
bench: install
	$(PY) bench/bench.py

bench-quick: install
	$(PY) bench/bench.py --quick

lint: $(STAMP)
	$(VENV)/bin/ruff check src lab selftests tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# refresh docs/report-screenshot.png (the README's picture of the acceptance report, taken by the browser test)
screenshot: install
	GVPCONF_UPDATE_SCREENSHOT=1 $(PY) -m pytest selftests/report/test_report_scenario.py -p no:cacheprovider -k browser

schema: $(STAMP)
	$(PY) -m gvpconf.inventory --schema > fixtures/inventory.schema.json

clean:
	rm -rf $(VENV) reports/*.xml reports/*.html reports/*.md reports/*.json reports/*.prom
