# make demo: install into .venv and run the OkCupid-style story on a generated corpus.
# make test: install into .venv, lint (ruff, mypy --strict, import-linter), run the whole suite
#            on SQLite and PostgreSQL (DISGORGE_TEST_PG, default: the local server).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test lint test-only bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,torch,redis,ray,mlflow,hf]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/disgorge demo --home .disgorge-demo --reset

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test-only: install
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: lint test-only

bench: install
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,torch,redis,ray,mlflow,hf,bench]'
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .disgorge .disgorge-demo .mypy_cache .ruff_cache .pytest_cache
