# The portal's two commands are `make run` and `make test` (README.md).
.DEFAULT_GOAL := help
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PORT ?= 8501
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: help run serve test lint format bench migrate seed clean

help:
	@echo "make run    set up .venv, migrate, seed the demo, serve http://localhost:$(PORT)"
	@echo "make test   install the dev tools, lint (ruff, mypy), run the whole suite"
	@echo "make bench  benchmarks at scale (figures in bench/README.md)"

$(PYTHON):
	python3 -m venv $(VENV)

$(STAMP): requirements.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt $(STAMP)
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: $(STAMP)
	$(PYTHON) -m portal_core migrate

seed: migrate
	$(PYTHON) -m portal_core seed

run: seed
	PORT=$(PORT) $(PYTHON) -m uvicorn portal_core.ui.asgi:app --host $(HOST) --port $(PORT)

lint: $(DEV_STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy .

format: $(DEV_STAMP)
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

test: lint
	$(PYTHON) -m pytest

bench: $(DEV_STAMP)
	$(PYTHON) -m bench

clean:
	rm -rf $(VENV) data/portal.db* data/outbox
