# The two commands of the README: `make run` and `make test`.
# Each creates (or reuses) .venv and installs what is missing; the stamp makes it idempotent.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.abgate-installed

.PHONY: run test test-fast lint check bench soak validate-stats validate-interleaving loadtest install clean-var browser promtool wrk faults

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@# torch first and exactly pinned: the CPU build on disk, not the registry's CUDA one.
	@$(PY) -m pip install -q torch==2.13.0
	@$(PY) -m pip install -q -e ".[models,dev]"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/abgate run

# The suite in TEST_PROCS processes (pytest-xdist; a test module stays in one): most of a test's
# time is waiting on the processes it started, not CPU. Bytecode is written (a shell may say
# PYTHONDONTWRITEBYTECODE): every gateway, worker, gate run and CLI call the suite starts
# imports the package, compiled once instead of each time.
TEST_PROCS ?= 3
PYTEST     := env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -q
test: $(STAMP) browser promtool
	$(PYTEST) -n $(TEST_PROCS) --dist loadfile

# The inner loop (under two minutes here): everything but tests/e2e and the few slow modules
# tests/conftest.py lists (SLOW_MODULES); `make test` runs them all.
test-fast: $(STAMP)
	$(PYTEST) -n $(TEST_PROCS) --dist loadfile -m "not slow"

# The dashboard test drives Debian's chromium through chromedriver: installed here when missing
# and apt-get is at hand (as root); otherwise that one test says so and is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	   chromium chromium-driver >/dev/null) ; } || \
	echo "note: no chromium/chromedriver (apt-get install chromium chromium-driver); the dashboard test is skipped"

# The alert rules' and the Grafana dashboard's test (tests/deploy/test_alerts.py) checks every
# expression with promtool, from Debian's prometheus package (no recommends): installed here when
# missing and apt-get is at hand (as root); otherwise that test says so and is skipped.
promtool:
	@command -v promtool >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	   --no-install-recommends prometheus >/dev/null) ; } || \
	echo "note: no promtool (apt-get install prometheus); the alert rules' test is skipped"

# The container image and the compose deployment, built and started for real
# (tests/deploy/test_container.py: minutes, so not in `make test`). podman, podman-compose and
# debootstrap are installed when missing (as root with apt-get). The runtime's wheels go to
# var/wheelhouse (again when pyproject.toml changes), and the image installs from them without
# an index (Dockerfile: WHEELHOUSE). The Debian base the images build on stays in podman's
# storage under var/container, tagged by a hash of its script: later runs reuse it.
.PHONY: test-container wheelhouse
test-container: $(STAMP) wheelhouse
	@missing=; for tool in podman podman-compose debootstrap; do \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  podman podman-compose debootstrap >/dev/null ; } || \
	echo "note: missing$$missing (apt-get install podman podman-compose debootstrap)"
	ABGATE_CONTAINER_TESTS=1 $(PYTEST) -s -p no:cacheprovider tests/deploy/test_container.py

wheelhouse: var/wheelhouse/.stamp
var/wheelhouse/.stamp: pyproject.toml $(STAMP)
	@mkdir -p var/wheelhouse
	$(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > var/wheelhouse/requirements.txt
	$(PY) -m pip wheel -q --disable-pip-version-check --wheel-dir var/wheelhouse -r var/wheelhouse/requirements.txt setuptools
	@touch $@

wrk:
	@command -v wrk >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) ; } || \
	echo "note: no wrk (apt-get install wrk); the throughput bench uses bench.loadgen instead"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy gateway stats sim tests bench loadtests
	$(VENV)/bin/lint-imports

check: lint test

# The stats simulation study (a few minutes on 2 cores): prints the table and
# writes docs/stats-validation.md.
validate-stats: $(STAMP)
	$(PY) -m sim.study --out docs/stats-validation.md

# Interleaving against A/B tests on the simulated storefront (a few minutes on 2 cores): prints
# the table and writes docs/interleaving-validation.md.
validate-interleaving: $(STAMP)
	$(PY) -m sim.interleaving --out docs/interleaving-validation.md

# Locust against a running abgate (`make run` in another terminal), bounded in time.
LOADTEST_URL      ?= http://127.0.0.1:$(or $(ABGATE_PORT),8080)
LOADTEST_USERS    ?= 50
LOADTEST_DURATION ?= 60s
loadtest: $(STAMP)
	$(PY) -m locust -f loadtests/locustfile.py --headless --only-summary \
		--users $(LOADTEST_USERS) --spawn-rate $(LOADTEST_USERS) \
		--run-time $(LOADTEST_DURATION) --host $(LOADTEST_URL) --stop-timeout 5

# Benchmarks print each figure beside its baseline from the same run; bench.throughput writes
# docs/benchmarks.md. wrk (Debian's) is the load generator, installed when missing as root.
bench: $(STAMP) wrk
	$(PY) -m bench.throughput
	$(PY) -m bench.worker
	$(PY) -m bench.propagation
	$(PY) -m bench.schema
	$(PY) -m bench.batching
	$(PY) -m bench.shadow
	$(PY) -m bench.features

# 30 minutes of steady traffic: Redis memory and the gateway's RSS must stay flat (not in
# `make bench`, which takes minutes); writes its section of docs/benchmarks.md.
soak: $(STAMP)
	$(PY) -m bench.soak

# The fault suite (Redis SIGKILL and pause, worker SIGKILL, gateway SIGTERM and SIGKILL under
# load), REPEAT times over: each run must lose nothing acknowledged; stops at the first that does.
REPEAT ?= 1
faults: $(STAMP)
	@for i in $$(seq $(REPEAT)); do \
	  echo "== fault suite, run $$i of $(REPEAT)"; \
	  $(PY) -m pytest -q -p no:cacheprovider -o addopts= tests/e2e/test_faults.py || exit 1; \
	done

clean-var:
	rm -rf var/
