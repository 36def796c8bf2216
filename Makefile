# GVP connectivity conformance suite.
#   make demo   install everything, start the lab, run the suite against it, write reports/junit.xml
#   make test   install everything, run the project's own tests (lab peers, impostors, codecs), ruff, mypy
#   make mutants / make fuzz   slow, not in `make test`: mutation testing, and the long fuzz run of the codecs
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml lab/pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install peers demo test lint typecheck schema clean pods-lab screenshot bench bench-quick constraints mutants fuzz interop-doc faults soak

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

# the cluster runner against the namespace lab: every pod's generated container spec executed in the pod
# sandbox (bubblewrap) inside the pod's namespace, NetworkPolicies as iptables rules; merged JUnit + reports
# LAB=fault: the fault catalog's lab instead (a peer for every row, the calls opted into: 19 from each MCP pod)
LAB ?= netns
pods-lab: install
	mkdir -p reports/pods
	$(PY) -m gvpconf_lab.netlab run --lab $(LAB) --deny-matrix --junitxml reports/pods/junit.xml

# the image's and CI's pinned dependency versions (deploy/Containerfile, ci/*), resolved from pyproject.toml
constraints: $(STAMP)
	$(PY) deploy/lock.py > deploy/constraints.txt.new && mv deploy/constraints.txt.new deploy/constraints.txt

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

# mutation testing (mutmut, README "Mutation testing"): the wire codecs and the probes' checking functions,
# against the selftests that hold them; prints the kill ratio per group and the survivors. Results are cached
# in ./mutants: a second run tries only what changed (`rm -rf mutants` for a fresh one).
MUTANTS ?= gvpconf.wire.* gvpconf.vxml.* gvpconf.probes.postgres.x_check_ssl_answer__mutmut_* \
           gvpconf.probes.activemq.x__expect_receipt__mutmut_* gvpconf.probes.activemq.x_probe_stomp__mutmut_*
mutants: $(STAMP)
	GVPCONF_FUZZ=mutants GVPCONF_LINEAR_BOUND_S=30 $(VENV)/bin/mutmut run --max-children 2 $(foreach m,$(MUTANTS),'$(m)') \
	  > mutants.log 2>&1 || (tail -40 mutants.log; exit 1)
	$(PY) bench/mutants.py $(foreach m,$(MUTANTS),'$(m)')

# the codec property tests with the long hypothesis profile: many examples, a per-example deadline that turns
# a slow input into a failure (1 s; selftests/wire/wirehelp.py); FUZZ_EXAMPLES per test
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	GVPCONF_FUZZ=long GVPCONF_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest selftests/wire selftests/probes/test_vxml.py \
	  selftests/lab/test_lab_tds.py -p no:cacheprovider -q --hypothesis-show-statistics \
	  -k "fuzz or round_trip or arbitrary or well_framed or never_fail or raise_only or repeated_patterns"

lint: $(STAMP)
	$(VENV)/bin/ruff check src lab selftests tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# refresh docs/report-screenshot.png (the README's picture of the acceptance report, taken by the browser test)
screenshot: install
	GVPCONF_UPDATE_SCREENSHOT=1 $(PY) -m pytest selftests/report/test_report_scenario.py -p no:cacheprovider -k browser

# rewrite docs/interop.md from the interop cells (every cell run; written only when all hold their verdict)
interop-doc: install
	GVPCONF_UPDATE_INTEROP=1 $(PY) -m pytest selftests/interop -p no:cacheprovider -q

schema: $(STAMP)
	$(PY) -m gvpconf.inventory --schema > fixtures/inventory.schema.json

clean:
	rm -rf $(VENV) mutants mutants.log reports/*.xml reports/*.html reports/*.md reports/*.json reports/*.prom
