# Baylight: `make run` serves the demo shop, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint typecheck unit translations browser bench bench-eta bench-appointments bench-notify clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

translations: $(STAMP)
	$(VENV)/bin/pybabel -q compile -d translations -f

run: $(STAMP) translations
	$(VENV)/bin/baylight serve --demo --host $(HOST) --port $(PORT)

# System packages the tests drive: Debian's Chromium (never a downloaded
# browser), a CJK font for readable screenshots, nginx for the proxy test.
SYSTEM_PACKAGES := chromium fonts-wqy-microhei nginx
browser:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else echo "missing $(SYSTEM_PACKAGES): those tests skip (or fail under CI=true)"; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check shared kiosk board tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP) translations
	$(VENV)/bin/pytest -q

# Three workers on two cores (much of the suite waits on servers, browsers
# and timeouts), a test file each at a time, the longest files first
# (tests/schedule.py; xdist would otherwise reorder them). The scale tests
# restart PostgreSQL and Redis under their own servers, so they run first and
# alone. Both runs always run, and either failing fails the target.
PYTEST_PARALLEL := -n 3 --dist loadfile --no-loadscope-reorder
# The project's bytecode is compiled once per run by tests/conftest.py (a
# server's start costs 2.4 s of CPU from source, 1.5 s compiled).
test: $(STAMP) translations browser lint typecheck
	@status=0; \
	$(VENV)/bin/pytest -q tests/scale || status=$$?; \
	$(VENV)/bin/pytest -q $(PYTEST_PARALLEL) --ignore=tests/scale || status=$$?; \
	exit $$status

bench: $(STAMP) translations
	$(PY) -m bench.run

# How honest the shown times are (issue 13): simulated shop-days, pure Python.
bench-eta: $(STAMP)
	$(PY) -m bench.eta

# Why a shop books (issue 18): the same simulated days without appointments
# and with 60 % of the cars booked by the product's capacity rule.
bench-appointments: $(STAMP)
	$(PY) -m bench.appointments_sim

# Notifications (issue 17): the busy dealer with customers told and without,
# five alternating rounds each; then 1,000 queued messages drained by a real
# notify-worker at a provider's rate limit.
bench-notify: $(STAMP) translations
	$(PY) -m bench.run --scenarios notify --rounds 5
	$(PY) -m bench.notify

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
