# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test test-postgres lint lock chromium nginx clean fake-openai messages

# Exact versions and hashes from requirements.lock (see `make lock`), then the project itself.
LOCK := requirements.lock

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Re-pin requirements.lock after changing pyproject.toml's dependencies: PyPI only, with hashes.
lock:
	test -x $(VENV)-tools/bin/pip-compile || ($(PYTHON) -m venv $(VENV)-tools && $(VENV)-tools/bin/pip install --quiet pip-tools)
	PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(VENV)-tools/bin/pip-compile --quiet --generate-hashes \
	  --allow-unsafe --all-build-deps --strip-extras --extra dev --index-url https://pypi.org/simple \
	  --no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml

run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py turn_sweep
	@DEBUG=$${DEBUG:-1} $(PY) manage.py demo_user
	@echo "Open http://$(HOST):$(PORT)/ and log in as demo / taxsite-demo, or sign up for your own account."
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver $(HOST):$(PORT)

# Production-like, locally: DEBUG off, hashed static files served by the app, daphne (as
# deploy/systemd runs it). Plain HTTP on 127.0.0.1, so no HTTPS redirect; behind TLS see
# README "Deployment". A SECRET_KEY is made once into .secret_key unless you set one.
SERVE_ENV = DEBUG=0 SECURE_SSL_REDIRECT=$${SECURE_SSL_REDIRECT:-0} \
	SECRET_KEY=$${SECRET_KEY:-$$(cat .secret_key)}
serve: $(STAMP)
	@test -n "$$SECRET_KEY" || test -s .secret_key || (umask 077; \
	  $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > .secret_key)
	$(SERVE_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(SERVE_ENV) $(PY) manage.py migrate --noinput
	$(SERVE_ENV) $(PY) manage.py turn_sweep
	$(SERVE_ENV) $(PY) manage.py check --deploy --fail-level ERROR
	@echo "Serving production settings on http://localhost:$(PORT)/ (sign up for an account)."
	$(SERVE_ENV) $(PY) -m taxsite.serve --bind $(HOST) --port $(PORT) taxsite.asgi:application

# Browser tests drive Debian's chromium; install it when missing and we are allowed to.
# i18n: fonts-noto-cjk too, so that Korean pages and screenshots show Korean glyphs.
chromium:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	if command -v dpkg >/dev/null 2>&1 && ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
	  missing="$$missing fonts-noto-cjk"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing Debian's$$missing for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "$$missing not installed and cannot be installed here: browser tests will skip (fail under CI=true) or show no Korean glyphs."; \
	  fi; \
	fi

# The deployment test (tests/deploy/) runs Debian's nginx as a child process; same rules.
nginx:
	@if ! command -v nginx >/dev/null 2>&1 && ! test -x /usr/sbin/nginx; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing Debian's nginx for the deployment test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	  else \
	    echo "nginx is not installed and cannot be installed here: the deployment test will skip (fail under CI=true)."; \
	  fi; \
	fi

# Coverage of the SQLite run, with the floor set in pyproject.toml ([tool.coverage.report]).
test: $(STAMP) chromium nginx lint
	$(PY) -m coverage run -m pytest
	$(PY) -m coverage report
	@if $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
	  echo "PostgreSQL is up on 127.0.0.1:5432: running the suite on it too"; $(MAKE) --no-print-directory test-postgres; \
	else echo "PostgreSQL is not running on 127.0.0.1:5432: skipped the PostgreSQL run"; fi

# The same suite on the local PostgreSQL (127.0.0.1:5432, trust auth), aside from the browser
# tests and the multi-process test (its servers run on PostgreSQL in the first run already).
test-postgres: $(STAMP)
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/taxsite} \
	  $(PY) -m pytest -m "not browser and not multiprocess"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

# A fake OpenAI server on 127.0.0.1:8001 (tests/fake_openai/), to try the OpenAI engines offline:
#   make fake-openai   and, in another shell:
#   OPENAI_API_KEY=sk-fake OPENAI_BASE_URL=http://127.0.0.1:8001/v1 ASSISTANT_ENGINE=chat make run
fake-openai: $(STAMP)
	$(PY) -m tests.fake_openai --port 8001

# i18n: after changing words on a page, refresh the Korean catalogues (needs GNU gettext, a
# developer tool only: the compiled .mo files are committed), translate the new entries in
# locale/ko/LC_MESSAGES/*.po, then run this again to compile them. tests/test_i18n_catalogues.py
# fails while an entry is untranslated or a .mo is older than its .po.
MESSAGES_IGNORE := --ignore='.venv/*' --ignore='tests/*' --ignore='staticfiles/*' --ignore='build/*' \
	--ignore='test-artifacts/*' --ignore='review/templates/admin/*' --ignore='*.min.js'
messages: $(STAMP)
	DEBUG=1 $(PY) manage.py makemessages --locale ko --no-obsolete --add-location file $(MESSAGES_IGNORE)
	DEBUG=1 $(PY) manage.py makemessages --locale ko --domain djangojs --no-obsolete --add-location file $(MESSAGES_IGNORE)
	DEBUG=1 $(PY) manage.py compilemessages --locale ko --ignore='.venv/*'

clean:
	rm -rf $(VENV) $(VENV)-tools .pytest_cache .mypy_cache .ruff_cache test-artifacts staticfiles .coverage
