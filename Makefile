# Gal Friday. `make run` and `make test` do all the set-up on a fresh machine (Python >= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench fuzz chaos sim clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## the whole stack on this machine: nats-server, the simulated exchange, the three actors
run: $(STAMP)
	$(BIN)/galfriday up

## what CI runs: lint, strict typing, the whole test suite
test: $(STAMP) lint typecheck
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy schemas bus kraken actors bench

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

## benchmarks: each prints figures measured side by side in one run, then one table of every
## figure, also written to bench/results.json (one bench alone: `python -m bench.NAME`)
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

## hostile payloads against the running stack, large count (CI runs a small one in `make test`)
fuzz: $(STAMP)
	GF_FUZZ_COUNT=$${GF_FUZZ_COUNT:-10000} $(BIN)/pytest -q tests/fuzz tests/unit/test_schema_bounds.py

## the chaos suite at full size (CI runs it small inside `make test`); sizes via env vars
chaos: $(STAMP)
	GF_CHAOS_BATCHES=$${GF_CHAOS_BATCHES:-100} GF_CHAOS_ORDERS=$${GF_CHAOS_ORDERS:-20} \
	GF_CHAOS_KILLS=$${GF_CHAOS_KILLS:-10} GF_CHAOS_NATS_KILLS=$${GF_CHAOS_NATS_KILLS:-3} \
	$(BIN)/pytest -q -s tests/chaos

## the simulated Kraken exchange alone, on port 8900
sim: $(STAMP)
	$(BIN)/galfriday sim

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
