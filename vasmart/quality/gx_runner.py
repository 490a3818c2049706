"""Great Expectations over the metrics frames: suites, one checkpoint per batch, kept results, Data Docs.

Great Expectations' SQL path over DuckDB computes no metrics in the current releases, and its pandas path
over the raw rows takes minutes per million rows. So DuckDB computes each table's metrics (see
`profile.py`), they are written as a one-row Parquet file per table and batch
(`$VASMART_HOME/quality/metrics/batch_date=D/<table>.parquet`), and GX validates those files with its
pandas engine: every expectation comes back with the real observed value.

The context is configured in code (nothing read from or sent to the network, analytics off): suites and
validation results are kept under `$VASMART_HOME/quality/gx/`, Data Docs are built under
`$VASMART_HOME/reports/data_docs/` for the new results only (the index lists every night kept).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vasmart.config import Settings
from vasmart.quality.checks import FAILED, PASSED, Check, CheckResult
from vasmart.quality.offline_docs import make_offline
from vasmart.quality.suites import to_gx_suite

DOCS_SITE = "vasmart"


def quality_root(settings: Settings) -> Path:
    """Where the gate keeps its metrics and GX stores."""
    return settings.home / "quality"


def data_docs_dir(settings: Settings) -> Path:
    return settings.reports / "data_docs"


def metrics_path(settings: Settings, batch: str, table: str) -> Path:
    return quality_root(settings) / "metrics" / f"batch_date={batch}" / f"{table}.parquet"


def write_metrics(settings: Settings, batch: str, table: str, metrics: dict[str, float]) -> Path:
    """The table's one-row metrics frame, written aside and moved in."""
    path = metrics_path(settings, batch, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pd.DataFrame({k: [float(v)] for k, v in metrics.items()}).to_parquet(temp, index=False)
    os.replace(temp, path)
    return path


def gx_context(settings: Settings):
    """An ephemeral GX context whose stores and Data Docs site live under VASMART_HOME."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig

    root = quality_root(settings) / "gx"

    def fs(path: Path) -> dict:
        return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(path)}

    memory = {"class_name": "InMemoryStoreBackend"}
    config = DataContextConfig(
        stores={
            "expectations_store": {"class_name": "ExpectationsStore", "store_backend": fs(root / "expectations")},
            "validation_results_store": {"class_name": "ValidationResultsStore",
                                         "store_backend": fs(root / "validations")},
            "validation_definition_store": {"class_name": "ValidationDefinitionStore", "store_backend": memory},
            "checkpoint_store": {"class_name": "CheckpointStore", "store_backend": memory},
        },
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        data_docs_sites={DOCS_SITE: {"class_name": "SiteBuilder", "show_how_to_buttons": False,
                                     "store_backend": fs(data_docs_dir(settings)),
                                     "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}},
        analytics_enabled=False,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


@dataclass
class GxOutcome:
    """What the checkpoint returned, per check id."""

    observed: dict[str, float | None]
    success: dict[str, bool]
    result_ids: list


def run_checkpoint(settings: Settings, batch: str, tables: dict[str, list[Check]]) -> GxOutcome:
    """Validate every table's metrics file of the batch in one checkpoint, keep the results, update Data Docs."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx_context(settings)
    source = context.data_sources.add_pandas("vasmart_metrics")
    definitions = []
    for table, checks in tables.items():
        suite = to_gx_suite(table, checks)
        if not suite.expectations:
            continue
        suite = context.suites.add_or_update(suite)
        asset = source.add_parquet_asset(table, path=metrics_path(settings, batch, table))
        batch_def = asset.add_batch_definition_whole_dataframe(f"batch_date={batch}")
        definitions.append(context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{table}@{batch}", data=batch_def, suite=suite)))
    if not definitions:
        return GxOutcome({}, {}, [])
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=f"nightly_{batch}", validation_definitions=definitions, actions=[],
        result_format={"result_format": "SUMMARY"}))
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):  # progress bars
        result = checkpoint.run(run_id=RunIdentifier(run_name=f"batch_{batch}"))
    observed, success = {}, {}
    for run_result in result.run_results.values():
        for r in run_result.results:
            check_id = r.expectation_config.meta["check_id"]
            value = r.result.get("observed_value")
            observed[check_id] = float(value) if value is not None else None
            success[check_id] = bool(r.success)
    ids = list(result.run_results)
    since = time.time() - 1
    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=ids)
    make_offline(data_docs_dir(settings), since)
    return GxOutcome(observed, success, ids)


def results_from(outcome: GxOutcome, checks: list[Check], metrics: dict[str, float]) -> list[CheckResult]:
    """Check results from GX's outcome; checks without a band carry the metric as information."""
    out = []
    for c in checks:
        if c.min_value is None and c.max_value is None:
            out.append(CheckResult(c, PASSED, metrics.get(c.metric), "information: no band"))
        elif c.check_id in outcome.success:
            out.append(CheckResult(c, PASSED if outcome.success[c.check_id] else FAILED, outcome.observed[c.check_id]))
        else:
            raise RuntimeError(f"Great Expectations returned no result for {c.check_id}")
    return out
