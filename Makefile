# Two commands for a fresh machine: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: run test test-quick test-postgres lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The bot on its embedded default: SQLite under data/, the local sandbox instead of X,
# the sample campaigns in offers/ and the sample members in data/sample_members.csv; the web
# portal beside it, with sample users whose fresh passwords are printed (embedded default only).
run: $(BIN)/.installed
	mkdir -p data/sandbox
	test -f data/sandbox/mentions.jsonl || cp data/sample_mentions.jsonl data/sandbox/mentions.jsonl
	$(BIN)/offerbot sync import data/sample_members.csv
	$(BIN)/offerbot users sample
	$(BIN)/offerbot run --portal

# Lint, type-check, then the whole test suite (on SQLite), slow tests included.
test: $(BIN)/.installed lint
	$(BIN)/pytest -q

# The quick loop while working (under a minute): everything but the tests marked slow (processes,
# the crash harness, the state machine, the browser), with few Hypothesis examples each, over every
# core (pytest-xdist), temporary files in memory where /dev/shm exists (no fsync to wait for).
test-quick: $(BIN)/.installed
	TMPDIR=$$(test -d /dev/shm && echo /dev/shm || echo "$${TMPDIR:-/tmp}") HYPOTHESIS_PROFILE=quick \
		$(BIN)/pytest -q -m "not slow" -n auto

# The tests that touch the database, again on PostgreSQL (slow ones included): the local server
# (started if it is not running) and a database made afresh for the run. tests/unit uses no
# database, so it runs once, in `make test`. PG_URL points elsewhere if you like.
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/offerbot_test
DB_TESTS = tests/integration tests/e2e tests/contract tests/web tests/browser
test-postgres: $(BIN)/.installed
	./.ci/postgres-up
	psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS offerbot_test WITH (FORCE)" \
		-c "CREATE DATABASE offerbot_test"
	OFFERBOT_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q $(DB_TESTS)

lint: $(BIN)/.installed
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy

# Intake and reconciliation on SQLite; bench/README.md has the rest (latency, PostgreSQL).
bench: $(BIN)/.installed
	$(BIN)/python -m bench.bench_intake
	$(BIN)/python -m bench.bench_reconcile

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
