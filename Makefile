# Cunzheng: set-up and everyday commands. `make run` and `make test` are all a newcomer needs.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: setup system-deps node-deps run test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests and the case-file PDF need (CJK font). Needs root.
system-deps:
	@if ! fc-list 2>/dev/null | grep -qi 'noto.*cjk'; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-noto-cjk; \
	fi

# npm packages: solc-js (compiles the contract) and a real anvil binary for the chain tests.
node-deps:
	@if [ -f tools/package.json ]; then cd tools && npm install --no-audit --no-fund --silent; fi

# Runs the service on the embedded defaults (SQLite and the local devnet under ./data).
run: setup
	$(BIN)/cunzheng serve

test: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench.run

lint: setup
	$(BIN)/ruff check lending_core anchoring dispute service tests bench

clean:
	rm -rf $(VENV) data .pytest_cache
