# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz lint bench clean install test-tools

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/spa dev

test: $(STAMP) test-tools
	$(BIN)/ruff check services tests bench
	$(BIN)/pytest -q -rs tests/unit tests/integration tests/e2e

# Tools some tests need beyond Python packages (nginx); a test whose tool could not be
# installed skips and says why (-rs lists every skip with its reason).
test-tools:
	@tests/install-tools.sh

# schemathesis against the whole API with many more cases than `make test` runs.
fuzz: $(STAMP)
	SPA_FUZZ_EXAMPLES=200 $(BIN)/pytest -q tests/e2e/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check services tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .spa
