# Two commands matter:  `make demo` (example store on SQLite) and `make test` (whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000

.PHONY: demo test install install-test docs bench bench-chat lint translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip build

# The package is installed from its built wheel, never as an editable checkout, so a file
# missing from the wheel (a template, a migration) fails here and not on a user's machine.
install: $(BIN)/python
	rm -rf dist
	$(BIN)/python -m build -q --wheel --outdir dist .
	$(BIN)/pip install -q --force-reinstall --no-deps dist/*.whl
	$(BIN)/pip install -q "$$(ls dist/*.whl)[test,docs]" $$(test -f example_store/pyproject.toml && echo ./example_store)

# The demo keeps the desk's mails in the store's demo mailbox (/mailbox), never in a
# real deployment: STORE_DEMO_MAILBOX is off unless set.
demo: install
	$(BIN)/flask --app example_store supportdesk db upgrade
	STORE_DEMO_MAILBOX=1 FLASK_SUPPORTDESK_PUBLIC_URL=http://127.0.0.1:$(PORT) \
		$(BIN)/flask --app example_store seed-demo --url http://127.0.0.1:$(PORT)/
	STORE_DEMO_MAILBOX=1 FLASK_SUPPORTDESK_PUBLIC_URL=http://127.0.0.1:$(PORT) \
		$(BIN)/flask --app example_store run --port $(PORT)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

docs: install
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# The quality gates (docs/contributing.rst). Every gate runs, so one pass shows all the
# findings; the target fails if any of them failed. mypy reads the package's
# dependencies from the venv, so the lint extra is installed with the package.
LINT_PATHS := flask_supportdesk tests example_store bench

lint: $(BIN)/python
	$(BIN)/pip install -q ".[lint]"
	status=0; \
	$(BIN)/ruff check $(LINT_PATHS) || status=1; \
	$(BIN)/mypy || status=1; \
	$(BIN)/interrogate flask_supportdesk || status=1; \
	exit $$status

# The desk's own gettext domain (docs/contributing.rst): extract every message of the
# package into the template, merge it into each language's catalogue, compile the .mo
# files that ship in the wheel. tests/test_i18n.py fails until all of them are done.
CATALOGUE := flask_supportdesk/translations
translations: $(BIN)/python
	$(BIN)/pip install -q flask-babel
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
		--no-location --sort-output --omit-header -o $(CATALOGUE)/supportdesk.pot .
	$(BIN)/pybabel update -D supportdesk -i $(CATALOGUE)/supportdesk.pot -d $(CATALOGUE) \
		--no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -D supportdesk -d $(CATALOGUE) --statistics

# The benchmark's server (gunicorn) and PostgreSQL driver come with the `bench` extra.
bench: install
	$(BIN)/pip install -q "$$(ls dist/*.whl)[bench]"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Live chat (bench/chat.py): round trips beside a bare Flask-SocketIO echo, fan-out,
# messages per second, memory per connection, Redis between two processes. Not in CI.
bench-chat: install
	$(BIN)/pip install -q "$$(ls dist/*.whl)[bench]"
	$(BIN)/python bench/chat.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) dist build docs/_build instance example_store/instance
