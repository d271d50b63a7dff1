# Two commands do all the set-up (see README.md):
#   make run    bring the platform up at http://127.0.0.1:8000 (SQLite, a real worker on a file broker, shipped model)
#   make test   install everything, start PostgreSQL/Redis if needed, run every test on them
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba-cache
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test venv system-deps services lint bench

$(BIN)/.installed: requirements.txt requirements-encoder.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-encoder.txt
	touch $@

venv: $(BIN)/.installed

system-deps:
	bash scripts/system-deps.sh

services:
	bash scripts/services.sh

# A real instance: DEBUG off, gunicorn + WhiteNoise, and a Celery worker on a broker that needs no server
# (scripts/run.py); one Ctrl-C stops both.
run: venv
	@echo "serweb: create an admin account with  $(BIN)/python manage.py createsuperuser"
	$(BIN)/python scripts/run.py

# Tests run against real PostgreSQL and Redis; these defaults match scripts/services.sh.
test: venv system-deps services
	DATABASE_URL=$${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/serweb} \
	CELERY_BROKER_URL=$${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/15} \
	$(BIN)/python manage.py makemigrations --check --dry-run
	DATABASE_URL=$${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/serweb} \
	CELERY_BROKER_URL=$${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/15} \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: venv
	$(BIN)/python -m bench
