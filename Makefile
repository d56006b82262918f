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

# Two steps: the suite on up to 4 workers (pytest-xdist; two on a 2-core CI box), then the browser tests
# alone, on a quiet box (Chromium's download and a tab's timing suffer under a parallel ffmpeg load).
# A step that selects no test (PYTEST_ARGS naming one file) is not a failure (pytest's exit code 5).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4 --dist loadfile -m "not browser" $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]
	$(BIN)/python -m pytest -q -p no:xdist -m browser $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

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
