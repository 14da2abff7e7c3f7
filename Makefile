# Two commands on a fresh clone: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PORT ?= 8000

.PHONY: install demo test lint unit serve worker clean

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
	$(BIN)/python -m pytest -q

serve: install
	$(BIN)/omnihub serve

worker: install
	$(BIN)/omnihub worker

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache omnihub.db omnihub.db-wal omnihub.db-shm
