# vasmart — the two set-up commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(PYTHON) -m uv
VENV := .venv
VASMART_HOME ?= $(CURDIR)/var
export VASMART_HOME

# Demo scale (README: "make demo").
DEMO_USERS ?= 20000
DEMO_MONTHS ?= 12
DEMO_DAYS ?= 7
DEMO_END ?= 20261120
DEMO_SEED ?= 7
DEMO_PSEUDONYM_KEY ?= vasmart-demo-key-not-a-secret

.PHONY: setup demo test test-spark lint bench clean

setup: $(VENV)/.synced

# Byte-compiled at install: every `vasmart` process (and Airflow's DAG parsing) then loads the installed packages
# without compiling them again, also where PYTHONDONTWRITEBYTECODE keeps Python from caching what it compiles.
$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --compile-bytecode
	@touch $@

demo: setup
	$(VENV)/bin/vasmart generate --users $(DEMO_USERS) --months $(DEMO_MONTHS) --days $(DEMO_DAYS) \
		--end-date $(DEMO_END) --seed $(DEMO_SEED)
	$(VENV)/bin/vasmart landing-summary
	@echo "the demo pseudonymises with a demo key (VASMART_PSEUDONYM_KEY=$(DEMO_PSEUDONYM_KEY)); set your own key outside the demo"
	VASMART_PSEUDONYM_KEY="$(DEMO_PSEUDONYM_KEY)" $(VENV)/bin/vasmart run
	$(VENV)/bin/vasmart sql "select table_name, estimated_size as rows from duckdb_tables() where schema_name = 'marts' order by 1"

# The Airflow UI (with scheduler, DAG processor and triggerer) on http://127.0.0.1:$(AIRFLOW_PORT), over the same
# SQLite metadata DB and logs as `vasmart run` ($(VASMART_HOME)/airflow). Ctrl-C stops it.
AIRFLOW_PORT ?= 8080
.PHONY: airflow
airflow: setup
	$(VENV)/bin/python -m vasmart.orchestration standalone $(AIRFLOW_PORT)

# The tests need Debian's PostgreSQL server and Chromium: installed if missing, the server started on loopback.
test: setup
	.ci/system-packages
	$(VENV)/bin/python -m compileall -q vasmart models_ml dags
	VASMART_TEST_PG_URL="$${VASMART_TEST_PG_URL:-$$(.ci/postgres)}" $(VENV)/bin/python -m pytest -n 2 --dist loadscope --no-loadscope-reorder -m "not spark"

# The dbt project on a local Spark against DuckDB (tests/test_spark.py; Java from Debian's packages).
test-spark: setup
	.ci/system-packages
	$(VENV)/bin/python -m pytest -n 2 -m spark

lint: setup
	$(VENV)/bin/ruff check vasmart models_ml tests

bench: setup
	$(VENV)/bin/vasmart bench generate

clean:
	rm -rf $(VENV) var
