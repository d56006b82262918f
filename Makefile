PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench screenshots clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sora-tui

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict -p sora_tui
	$(BIN)/mypy --strict tests
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/bench.py

screenshots: $(STAMP)
	$(BIN)/python tests/tui/demo.py screenshots

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
