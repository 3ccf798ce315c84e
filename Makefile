# The two commands that matter: `make run` (local portal) and `make test` (whole suite).
# Only python3 is needed on the machine; everything else goes into .venv from the lock file.
#
# Migrations: after a model change, `APP_ENV=development .venv/bin/flask --app wsgi db migrate -m "what changed"`
# writes a new revision (review it). To regenerate the initial revision from scratch instead:
#   rm -f migrations/versions/*.py /tmp/non-mig.sqlite && DATABASE_URL=sqlite:////tmp/non-mig.sqlite .venv/bin/flask --app wsgi db migrate -m "initial schema"
# tests/test_migrations.py fails whenever models and migrations drift apart.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.installed-from-lock
FLASK := $(BIN)/flask --app wsgi
# Two xdist workers pay off on the 2-core machines; `make test PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Unset APP_ENV means production (which needs a real SECRET_KEY); the local portal and the
# flask commands below are development unless the caller says otherwise.
export APP_ENV ?= development

.PHONY: install compile-translations translations db run test lint lock browser-deps

install: $(STAMP) compile-translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the lock or the project metadata change. uv is faster where present.
$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	@echo "Installing $(LOCK) into $(VENV)"
	@if [ -x $(BIN)/uv ]; then \
		$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(LOCK); \
	else \
		$(BIN)/python -m pip install --quiet -r $(LOCK); \
	fi
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

compile-translations: | $(STAMP)
	@if compgen -G "translations/*/LC_MESSAGES/*.po" > /dev/null; then \
		$(BIN)/pybabel compile -d translations --statistics; \
	fi

# After adding or changing German texts: re-extract every msgid (babel.cfg says from where)
# and merge them into the English catalog; then translate the new entries in
# translations/en/LC_MESSAGES/messages.po (tests/test_translations.py lists any still missing).
# messages.pot is a by-product and stays out of git.
translations: | $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k N_ \
		--sort-by-file -o messages.pot .
	@if [ -f translations/en/LC_MESSAGES/messages.po ]; then \
		$(BIN)/pybabel update -i messages.pot -d translations -l en --no-fuzzy-matching --ignore-obsolete; \
	else \
		$(BIN)/pybabel init -i messages.pot -d translations -l en; \
	fi

# Schema, funding rounds, demo accounts: all idempotent, so `make run` repeats them safely
# (seed-demo keeps existing accounts and prints new passwords only once).
db: install
	mkdir -p instance
	$(FLASK) db upgrade
	$(FLASK) programmes load
	$(FLASK) seed-demo

run: install db
	PATH="$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# axe-core (pinned in package-lock.json) for the accessibility checks of tests/test_browser.py.
# Without npm the browser test skips them locally; in CI (REQUIRE_BROWSER=1) that fails.
browser-deps:
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the axe-core accessibility checks cannot run"; \
	fi

# The import contracts in pyproject.toml ([tool.importlinter]) run first: a wrong-way import
# fails the build before any test runs.
test: install browser-deps
	$(BIN)/lint-imports --no-cache
	@if [ "$(PYTEST_WORKERS)" = "0" ]; then \
		set -x; $(BIN)/pytest $(PYTEST_ARGS); \
	else \
		set -x; $(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS); \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# Exact pins for the main dependencies and the dev extra; existing pins are kept unless
# `make lock LOCK_ARGS=--upgrade`.
LOCK_ARGS ?=
lock: | $(BIN)/python
	[ -x $(BIN)/uv ] || $(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		$(LOCK_ARGS) -o $(LOCK)
