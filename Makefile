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

# Debian packages: a CJK font for the PDFs (fonts-noto-cjk, fontconfig) and Chromium for
# the browser tests. Needs root; installs only what is missing.
DEBIAN_PACKAGES := fonts-noto-cjk fontconfig chromium
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
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
