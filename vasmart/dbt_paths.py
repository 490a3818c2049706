"""Where the dbt project and its prebuilt manifest are (light: the DAG file imports it at parse time)."""

from __future__ import annotations

import os
from pathlib import Path

from vasmart.config import Settings

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
PROFILES_DIR = PROJECT_DIR  # dbt_project/profiles.yml
ENGINE_ENV = "VASMART_ENGINE"
ENGINES = ("duckdb", "spark")  # the dbt targets of profiles.yml
# The nightly build leaves out dbt's unit tests: they check the models' logic on fixed rows, not the night's
# data, and run in `vasmart build` and the test suite instead (dbt's guidance for production builds).
NIGHTLY_BUILD_FLAGS = ("--exclude-resource-type", "unit_test")


def engine_from_env() -> str:
    """The engine dbt builds on: `VASMART_ENGINE` (duckdb, the default, or spark); ValueError for another."""
    engine = os.environ.get(ENGINE_ENV, "duckdb").strip().lower() or "duckdb"
    if engine not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={engine!r}: the engine must be one of {', '.join(ENGINES)}")
    return engine


def manifest_path(settings: Settings) -> Path:
    """The manifest the DAG renders its dbt tasks from (astronomer-cosmos), written by `dbt parse`."""
    return settings.home / "dbt" / "manifest" / "manifest.json"
