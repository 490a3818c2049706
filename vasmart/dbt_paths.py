"""Where the dbt project and its prebuilt manifest are (light: the DAG file imports it at parse time)."""

from __future__ import annotations

from pathlib import Path

from vasmart.config import Settings

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
PROFILES_DIR = PROJECT_DIR  # dbt_project/profiles.yml


def manifest_path(settings: Settings) -> Path:
    """The manifest the DAG renders its dbt tasks from (astronomer-cosmos), written by `dbt parse`."""
    return settings.home / "dbt" / "manifest" / "manifest.json"
