# tokenbooks: two commands on a fresh machine with Python 3.11+, git and make.
#   make demo   set up, build the sample book, check it, run the month-end flow, show how to browse
#   make test   set up and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SAMPLE := ledgers
SOURCES := build/sample-sources
PERIODS := 2026-01 2026-02 2026-03

.PHONY: demo test setup browser sample check lint typecheck bench clean java

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tokenbooks needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

setup: $(VENV)/.installed

# PySpark (the optional tokenbooks[spark] extra) for the Spark job's test; not needed
# by the demo.
$(VENV)/.spark: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	@touch $@

# The browser tests of the Fava pages drive Debian's chromium (Playwright, no browser
# download). Installed here when missing (CI runs as root); without it they are skipped
# and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) || echo "warning: could not install chromium (not root?): the browser tests will be skipped"

# Rebuild the sample book from the generator: same inputs, same files, byte for byte.
sample: setup
	rm -rf $(SOURCES)
	$(BIN)/python -m tokenbooks.scripts.generate sample --out $(SOURCES)
	$(BIN)/python -m tokenbooks.scripts.provider_reports --sources $(SOURCES) --contracts contracts
	find $(SAMPLE)/imports -type f ! -name 'README.beancount' -delete
	find $(SAMPLE)/documents -type f ! -name '.keep' -delete
	find $(SAMPLE)/invoices $(SAMPLE)/closes -type f ! -name 'README.beancount' -delete
	find $(SAMPLE)/reports -name lock.json -delete
	$(BIN)/tokenbooks cutover --ledger $(SAMPLE)/main.beancount $(SAMPLE)/opening.yaml
	$(BIN)/tokenbooks import --ledger $(SAMPLE)/main.beancount $(SOURCES)/*

check: setup
	$(BIN)/bean-check $(SAMPLE)/main.beancount

demo: sample check
	@for p in $(PERIODS); do \
	  $(BIN)/tokenbooks close --ledger $(SAMPLE)/main.beancount --period $$p || exit 1; \
	  $(BIN)/python -m tokenbooks.scripts.generate payments --invoices $(SAMPLE)/invoices/$$p.beancount --out $(SOURCES)/payments-$$p.csv || exit 1; \
	  $(BIN)/tokenbooks import --ledger $(SAMPLE)/main.beancount $(SOURCES)/payments-$$p.csv || exit 1; \
	done
	@for p in $(PERIODS); do $(BIN)/tokenbooks report profitability --ledger $(SAMPLE)/main.beancount --period $$p || exit 1; done
	@echo
	@echo "The sample book is in $(SAMPLE)/ and passes bean-check."
	@echo "Browse it (read-only, with the tokenbooks pages) with:  $(BIN)/tokenbooks serve --ledger $(SAMPLE)/main.beancount"

# The Spark job's test runs Spark in local mode: it needs a Java runtime (17+).
java:
	@command -v java >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jre-headless)

test: setup $(VENV)/.spark browser java typecheck
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check plugins importers scripts tests tokenbooks

# mypy reads the package under its installed names (tokenbooks.*): build/typecheck holds
# links from those names to the repository's folders. Strict on plugins/rules.
TYPECHECK := build/typecheck/tokenbooks
typecheck: setup
	@mkdir -p $(TYPECHECK)
	@cp tokenbooks/__init__.py $(TYPECHECK)/__init__.py
	@for d in plugins importers scripts contracts; do ln -sfn ../../../$$d $(TYPECHECK)/$$d; done
	$(BIN)/mypy

# Benchmarks on the reference workload (scripts/bench.py); writes BENCHMARKS.md.
bench: setup
	$(BIN)/python -m tokenbooks.scripts.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
