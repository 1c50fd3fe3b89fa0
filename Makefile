# One command per job; each works on a fresh machine (it builds what it needs first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NPM_STAMP := js/node_modules/.installed-stamp
BUNDLE := src/taskbeam/widget/static/widget.js
PAGE := src/taskbeam/server/static/page.js
JS_SRC := $(wildcard js/src/*.js js/src/*.css) js/package.json js/package-lock.json
# The browser for the end-to-end tests: Debian's Chromium (driven by playwright).
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint format bench clean js js-check browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NPM_STAMP): js/package.json js/package-lock.json
	cd js && npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

# One build writes both bundles: the widget's and the server page's.
$(BUNDLE) $(PAGE) &: $(NPM_STAMP) $(JS_SRC)
	cd js && npm run --silent build

js: $(BUNDLE) $(PAGE)

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

browser: $(CHROMIUM)

demo: $(STAMP) $(BUNDLE)
	$(VENV)/bin/taskbeam demo
	$(VENV)/bin/taskbeam lab notebooks/01-quickstart.ipynb

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

js-check: $(NPM_STAMP)
	cd js && npm run --silent typecheck && npm test --silent

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

test: lint js-check $(BUNDLE) $(PAGE) $(CHROMIUM)
	$(PY) -m pytest

bench: $(STAMP) $(BUNDLE) $(PAGE) $(CHROMIUM)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache js/node_modules \
		src/taskbeam/widget/static test-artifacts \
		src/taskbeam/server/static/page.js src/taskbeam/server/static/page.css
