"""What a stopped night forbids: publishing (and, through the DAG, scoring and campaigns)."""

from __future__ import annotations

import duckdb

from vasmart.config import Settings
from vasmart.warehouse import warehouse_path


def stopped_batches(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> list[tuple[str, str]]:
    """(batch, message) of every batch whose latest quality verdict is 'stopped'."""
    prefix = f"{catalog}." if catalog else ""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'audit' "
                         "AND table_name = 'quality_run' AND table_catalog = "
                         + (f"'{catalog}'" if catalog else "current_database()")).fetchone()[0]
    if not exists:
        return []
    return con.execute(f"SELECT batch_date, coalesce(message, '') FROM {prefix}audit.quality_run "
                       "WHERE verdict = 'stopped' ORDER BY batch_date").fetchall()


def guard_publish(settings: Settings) -> None:
    """Raise QualityGateStopped when any batch's quality verdict is 'stopped' (rerun its gate once fixed)."""
    from vasmart.quality.run import QualityGateStopped

    path = warehouse_path(settings)
    if not path.exists():
        return
    with duckdb.connect(str(path), read_only=True) as con:
        stopped = stopped_batches(con)
    if stopped:
        batch, message = stopped[-1]
        more = f" (and {len(stopped) - 1} earlier batches)" if len(stopped) > 1 else ""
        raise QualityGateStopped(f"publishing refused: the quality gate stopped batch {batch}{more}: {message}")
