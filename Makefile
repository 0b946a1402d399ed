# Two commands: `make demo` and `make test`. Everything else here serves them.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_HOUSEHOLDS ?= 3000
DEMO_CASES ?= 1500
HOST ?= 127.0.0.1
PORT ?= 8000
export DEBUG ?= 1
# settings.py reads this file when present, so `linli` commands in a new shell find the demo.
LOCAL_ENV := $(or $(LINLI_VAR_DIR),var)/local.env

.PHONY: demo test install install-dev lint format migrations-check messages bench clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PY) not found); set PY=/path/to/python3.11"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

$(LOCAL_ENV): | $(BIN)/python
	@mkdir -p $(@D)
	@umask 077; printf '# Written by make demo, for local use only.\nSECRET_KEY=%s\nDEBUG=1\n' \
	  "$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "Wrote $@ (a random SECRET_KEY, DEBUG=1): linli commands in any shell read it."

demo: install $(LOCAL_ENV)
	$(BIN)/linli migrate --noinput -v0
	$(BIN)/linli seed --households $(DEMO_HOUSEHOLDS) --seed 1 --if-empty
	$(BIN)/linli seed_cases --cases $(DEMO_CASES) --seed 1 --if-empty
	$(BIN)/linli demo_accounts
	$(BIN)/linli seed_assistance --seed 1 --if-empty
	$(BIN)/linli seed_monitoring --seed 1 --if-empty
	@echo "Starting web server on http://$(HOST):$(PORT)/ and the task worker (Ctrl-C stops both)."
	@# Background commands of a script ignore Ctrl-C's SIGINT, and a SIGTERM to make reaches only
	@# this shell: so the shell stops all three with SIGTERM and waits for them (the worker
	@# finishes or stops its current task). If the web server exits by itself, so do the others.
	@$(BIN)/linli db_worker --interval 1 --no-reload & worker=$$!; \
	  $(BIN)/linli run_periodic_jobs --loop 60 & jobs=$$!; \
	  $(BIN)/linli runserver --noreload $(HOST):$(PORT) & web=$$!; \
	  trap 'stop=1; kill -TERM $$web $$worker $$jobs 2>/dev/null' INT TERM; \
	  wait $$web; [ -n "$$stop" ] || kill -TERM $$worker $$jobs 2>/dev/null; \
	  wait; echo "Stopped the web server and the worker."

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/linli makemigrations --check --dry-run -v0 || { echo "Models changed without a migration: run 'linli makemigrations'."; exit 1; }
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

messages: install-dev
	cd linli && ../$(BIN)/linli makemessages -l zh_Hans -l en --no-obsolete --no-location && ../$(BIN)/linli compilemessages

clean:
	rm -rf $(VENV) var staticfiles *.egg-info
