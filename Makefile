# Two commands on a fresh machine with Python 3.11: `make audit` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
EXPERIMENT ?= experiments/default.toml
ARGS ?=

.PHONY: audit test test-all lint setup browser colin27 clean

setup: $(VENV)/.installed

# Re-install when the project's dependencies change; the stamp keeps reruns instant.
$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no python3.11 or python3 on PATH (set PYTHON=...)" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

audit: setup colin27
	$(PY) run_audit.py $(EXPERIMENT) $(ARGS)

# The report's browser test drives Debian's Chromium (Playwright's own download does not work
# offline); install it with apt-get when it is missing (as root, or through sudo).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
	    || echo "warning: could not install chromium; the browser test will be skipped (fails under CI=true)"; }

# Colin27, the real head behind data.anatomy = "colin27" and the region tests on real slices, comes
# from Debian's mricron-data package (about 16 MB); installed the same way when it is missing.
COLIN27 ?= /usr/share/mricron/templates/ch2.nii.gz
colin27:
	@test -f $(COLIN27) || { \
	  echo "installing Debian's mricron-data (the Colin27 head) for data.anatomy = colin27"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mricron-data >/dev/null \
	    || echo "warning: could not install mricron-data; Colin27 tests will be skipped (fail under CI=true)"; }

# Fast suite (what CI runs): everything but tests marked slow.
test: setup browser colin27
	$(PY) -m pytest -m "not slow" $(ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-all: setup browser colin27
	$(PY) -m pytest $(ARGS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

lint: setup
	$(PY) -m ruff check audit tests benchmarks run_audit.py

clean:
	rm -rf $(VENV) reports/*/
