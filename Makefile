# make demo: install into .venv and run the OkCupid-style story on a generated corpus.
# make test: install into .venv, lint (ruff, mypy --strict, import-linter), run the whole suite
#            on SQLite and PostgreSQL (DISGORGE_TEST_PG, default: the local server).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test lint test-only bench clean browser axe screenshots wrk

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,torch,redis,ray,mlflow,hf]'
	touch $(STAMP)

install: $(STAMP)

# The dashboard's browser tests drive Debian's Chromium (Playwright's own browser download cannot work
# here) and inject axe-core, pinned by tests/web/package-lock.json.
CHROMIUM ?= /usr/bin/chromium
AXE := tests/web/node_modules/axe-core/axe.min.js

browser:
	@test -x $(CHROMIUM) || command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: sudo apt-get install -y chromium" >&2; exit 1; fi; }

# The server and capture benchmarks load the server with wrk from a second process (Debian's package).
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; \
	  else echo "wrk is missing: sudo apt-get install -y wrk" >&2; exit 1; fi; }

$(AXE): tests/web/package.json tests/web/package-lock.json
	cd tests/web && npm ci --no-audit --no-fund --silent
	touch $(AXE)

axe: $(AXE)

screenshots: install browser axe
	$(BIN)/python -m tests.web.screenshots docs/screenshots

demo: install
	$(BIN)/disgorge demo --home .disgorge-demo --reset
	@echo
	@echo "The dashboard on the demo catalog:"
	@echo "  $(BIN)/disgorge serve --home .disgorge-demo   # then open http://127.0.0.1:8470/"
	@echo "  DISGORGE_IDENTITY=.disgorge-demo/identities/privacy-officer.identity \\"
	@echo "    $(BIN)/disgorge token create --home .disgorge-demo --name browser   # the token to sign in with"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test-only: install browser axe
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: lint test-only

bench: install browser wrk
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,torch,redis,ray,mlflow,hf,bench]'
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .disgorge .disgorge-demo .mypy_cache .ruff_cache .pytest_cache
