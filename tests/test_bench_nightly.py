"""`vasmart bench nightly` at a tiny scale: it runs every stage of the night and its comparisons end to end.

The figures themselves are measured at 100,000 and 1,000,000 users (README, performance); here the real CLI runs
on 300 users and 2 generated months, and the report it writes is read back: every stage timed, the floor and
both month aggregations measured, the pandas and DuckDB aggregations agreeing total for total, and the full
refresh after the night timed and built.
"""

from __future__ import annotations

import json
import os
from unittest import mock

from vasmart_cli import run_vasmart

KEY = "vasmart-bench-nightly-test-key-71d"
STAGES = ["ingest", "quality (raw)", "dbt build", "quality (marts)", "score", "campaigns", "publish"]


def test_the_nightly_benchmark_runs_every_stage_and_its_aggregations_agree(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VASMART_CAMPAIGN_DB", "VASMART_LANDING"))}
    with mock.patch.dict(os.environ, clean, clear=True):
        result = run_vasmart(home, "bench", "nightly", "--users", "300", "--months", "2", "--no-train",
                             "--scratch", str(tmp_path / "scratch"), key=KEY, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    report = json.loads((home / "reports" / "bench" / "nightly-300.json").read_text())
    assert [s["name"] for s in report["stages"]] == STAGES
    assert all(s["seconds"] > 0 and s["peak_memory_gb"] > 0 for s in report["stages"])
    assert report["rows"] > 0 and report["floor_seconds"] > 0
    assert report["pandas_seconds"] > 0 and report["duckdb_aggregation_seconds"] > 0
    assert report["duckdb_aggregation_in_build_seconds"] > 0
    assert report["aggregation_rows"] > 0 and report["aggregation_agrees"] is True
    assert report["night_seconds"] == sum(s["seconds"] for s in report["stages"])
    refresh = report["full_refresh"]
    assert report["full_refresh_ok"] is True, refresh["detail"]
    assert refresh["seconds"] > 0 and refresh["peak_memory_gb"] > 0 and "nodes" in refresh["detail"]

    markdown = (home / "reports" / "bench" / "nightly-300.md").read_text()
    assert "| the two aggregations agree" in markdown and "| met |" in markdown
    assert all(f"| {stage} |" in markdown for stage in STAGES)
    assert "| full refresh, after the night (not part of it): " in markdown


def test_a_report_without_the_pandas_comparison_says_it_was_not_measured():
    from vasmart.bench_nightly import NightlyBenchReport, StageFigure

    stages = [StageFigure(name, 1.0, 0.5) for name in STAGES]
    report = NightlyBenchReport(1000, "20261128", 10, {}, stages, 1.0, 0.0, 0.0, 0.0, 0, False,
                                aggregation_measured=False)
    markdown = report.markdown()
    assert "| month aggregation, pandas / DuckDB | not measured (--no-pandas) | ≥ 10x | not measured |" in markdown
    assert "the two aggregations agree" not in markdown and "| pandas / DuckDB |" not in markdown
