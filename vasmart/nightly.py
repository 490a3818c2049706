"""Decisions the nightly run takes between its stages (the DAG only wires them).

Catching up: when several delivered batches wait (a first load, a backfill, nights missed), every batch is
ingested and checked in date order, while the transformation stages (dbt build, scoring, campaigns,
publishing) run once, in the run of the newest waiting batch. The build reads the whole raw zone, so a build
for an older batch would be replaced by the next one within minutes; a published copy, a target list or a
score for a day that is already superseded would mislead its readers. A scheduled night (nothing newer
delivered yet) always runs every stage. `VASMART_TRANSFORM_EVERY_BATCH=true` runs them for every batch.
"""

from __future__ import annotations

import os
from pathlib import Path

from vasmart.config import Settings
from vasmart.ingest.load import pending_batches


def newer_batches_waiting(settings: Settings, landing: Path, batch: str) -> list[str]:
    """Delivered batches later than `batch` that are not loaded yet (with the files they hold now)."""
    return [b for b in pending_batches(settings, landing) if b > batch]


def transforms_this_run(settings: Settings, landing: Path, batch: str,
                        newest: str | None = None) -> tuple[bool, str]:
    """Whether the run of `batch` runs the transformation stages, and why (one line for the task log).

    `newest` is the last batch of a series of runs started together (`vasmart run --through D` passes D):
    that run transforms, the others do not. Without it, the newest batch waiting in the landing area decides.
    """
    if os.environ.get("VASMART_TRANSFORM_EVERY_BATCH", "false").lower() in ("1", "true", "yes"):
        return True, "VASMART_TRANSFORM_EVERY_BATCH is set: every batch runs every stage"
    if newest is not None:
        if batch >= newest:
            return True, f"batch {batch} is the last of this series of runs: building, scoring and publishing"
        return False, (f"batch {batch} is loaded; the build, scoring, campaigns and publishing run with batch "
                       f"{newest}, the last of this series of runs")
    waiting = newer_batches_waiting(settings, landing, batch)
    if waiting:
        return False, (f"batch {batch} is loaded; {len(waiting)} newer batch(es) wait ({waiting[0]}..{waiting[-1]}): "
                       f"the build, scoring, campaigns and publishing run with batch {waiting[-1]}")
    return True, f"batch {batch} is the newest delivered batch: building, scoring and publishing"


def write_reports(settings: Settings, dbt_docs: bool = True) -> list[str]:
    """The night's reports for auditors: dbt docs (when the build ran) and the front page; what was written."""
    import duckdb

    from vasmart.quality.front_page import write_front_page
    from vasmart.warehouse import connect

    written = []
    if dbt_docs:
        from vasmart.quality.dbt_docs import build_dbt_docs

        written.append(str(build_dbt_docs(settings)))
    try:
        con = connect(settings, read_only=True)
    except (FileNotFoundError, duckdb.Error):
        con = None
    try:
        written.append(str(write_front_page(settings, con)))
    finally:
        if con is not None:
            con.close()
    return written
