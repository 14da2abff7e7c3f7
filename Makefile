# Two commands on a fresh clone: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PORT ?= 8000
# Test processes (pytest-xdist): one per core by default.
TEST_WORKERS ?= auto

.PHONY: install demo test lint unit serve worker clean i18n

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/omnihub demo --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

unit: install
	$(BIN)/python -m pytest -q tests/unit

test: lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# Console languages: extract the templates' messages, merge them into each catalogue, compile the .mo files
# (committed, so installing needs no step). Translate the new entries in locale/*/LC_MESSAGES/messages.po first.
I18N = src/omnihub/console
i18n: install
	cd $(I18N) && $(CURDIR)/$(BIN)/pybabel extract -F babel.cfg -o locale/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i $(I18N)/locale/messages.pot -d $(I18N)/locale -D messages --no-fuzzy-matching --width 120
	$(BIN)/pybabel compile -d $(I18N)/locale -D messages --statistics

serve: install
	$(BIN)/omnihub serve

worker: install
	$(BIN)/omnihub worker

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache omnihub.db omnihub.db-wal omnihub.db-shm
