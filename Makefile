# Cunzheng: set-up and everyday commands. `make run` and `make test` are all a newcomer needs.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: setup verifier system-deps maybe-system-deps node-deps demo run test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml verifier/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e './verifier[chain]' -e '.[dev]'
	touch $(STAMP)

# Debian packages: a CJK font for the PDFs (fonts-noto-cjk, fontconfig) and Chromium for
# the browser tests, SoftHSM2 for the tests of keys in a PKCS#11 token. Needs root; installs
# only what is missing. poppler-utils (pdftotext -bbox, pdftoppm) for the case-file layout test.
DEBIAN_PACKAGES := fonts-noto-cjk fontconfig chromium softhsm2 poppler-utils
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# npm packages: solc-js (compiles the contract) and a real anvil binary for the chain tests,
# exactly as pinned in tools/package-lock.json.
node-deps: tools/node_modules/.installed

tools/node_modules/.installed: tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund
	touch $@

# Debian packages need root; elsewhere install them by hand (see README).
maybe-system-deps:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory system-deps; fi

# The whole system on the embedded defaults: devnet, service, witnesses, a simulated
# portfolio, anchors, a court package verified. ARGS="--fresh" starts over.
demo: setup maybe-system-deps
	$(BIN)/cunzheng demo $(ARGS)

# Only the service on the embedded defaults (SQLite and the local devnet under ./data).
run: setup
	$(BIN)/cunzheng serve

test: setup maybe-system-deps node-deps
	$(BIN)/pytest $(ARGS)

bench: setup
	$(BIN)/python -m bench.run

# the standalone verifier: its wheel and the single-file zipapp, in dist/
verifier: setup
	$(BIN)/pip wheel --quiet --no-deps -w dist ./verifier
	$(BIN)/python verifier/build_zipapp.py dist/cunzheng-verify.pyz

# ruff, then mypy on the files and strictness pyproject.toml's [tool.mypy] names (`--strict`
# for the pure packages, the pydantic plugin for the service)
lint: setup
	$(BIN)/ruff check verifier lending_core anchoring dispute service tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .pytest_cache
