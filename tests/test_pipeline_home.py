"""The shared built home that the downstream suites read: every batch loaded cleanly, every mart built."""

from __future__ import annotations

import duckdb


def test_every_batch_loaded_and_every_model_built(pipeline):
    with duckdb.connect(str(pipeline.warehouse), read_only=True) as con:
        statuses = dict(con.execute("select status, count(*) from audit.load_batch group by all").fetchall())
        batches = sorted(p.name for p in (pipeline.home / "landing").iterdir() if p.is_dir())
        assert statuses == {"LOADED": len(batches)}
        marts = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
    expected = {node["name"] for node in pipeline.manifest["nodes"].values()
                if node["resource_type"] == "model" and node["schema"] == "marts"}
    assert expected and marts == expected
