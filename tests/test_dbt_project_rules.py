"""dbt-project-evaluator's rules, checked on the manifest and the warehouse of the shared built home.

The rules (dbt-labs/dbt-project-evaluator, docs/rules): modeling (no mart or intermediate model reading a source,
staging reads exactly one source and nothing else, no root models, no rejoining of sources), testing (a primary-key
test on every model), documentation (a description on every model and on every column the model actually has),
structure (names and folders per layer: stg_/int_/fct_|dim_) and governance (public marts have enforced
contracts with declared types). The package itself is not installed (it would need `dbt deps` from the network);
these checks read the same manifest it reads.
"""

from __future__ import annotations

import duckdb
import pytest

LAYER_PREFIXES = {"staging": ("stg_",), "intermediate": ("int_",), "marts": ("fct_", "dim_")}
# Documented exceptions, as dbt-project-evaluator's `dbt_project_evaluator_exceptions` seed records them:
NAMING_EXCEPTIONS = {"customer_view": "the wide targeting table is named as the operator and the issue name it"}
SOURCE_READ_EXCEPTIONS = {  # incremental per-batch aggregates read only the files of new or rewritten partitions,
    # a filter on the file list that a staging view cannot pass down to the Parquet scan
    "int_vas_deliveries_aggregated_by_batch", "int_voice_cdrs_aggregated_by_batch",
    "int_sms_vas_requests_aggregated_by_batch", "int_imei_observations_measured_by_batch", "int_lake_partitions_listed",
    "int_campaign_lists",  # the written-back lists: the warehouse's own tables, read by this one model
    # running state (CDR usage, compacted snapshots, versioned IMEI observations): the partitions' write times (lake_partitions) against its
    # ledger, and the new partitions' files; the CDR months record the partitions' latest write time as lineage
    "int_cdr_days_measured", "int_cdr_contacts_by_month", "int_user_snapshots_compacted",
    "int_imei_observations_versioned",
    "int_usage_from_cdrs_aggregated", "int_usage_from_cdrs_coverage",
}
PRIMARY_KEY_TESTS = {"unique", "unique_combination_of_columns", "unique_over_batches"}


def _models(manifest: dict) -> dict[str, dict]:
    return {uid: n for uid, n in manifest["nodes"].items()
            if n["resource_type"] == "model" and n["package_name"] == "vasmart"}


def _layer(node: dict) -> str:
    return node["fqn"][1]


@pytest.fixture(scope="module")
def manifest(pipeline) -> dict:
    return pipeline.manifest


@pytest.fixture(scope="module")
def warehouse_columns(pipeline) -> dict[tuple[str, str], list[str]]:
    with duckdb.connect(str(pipeline.warehouse), read_only=True) as con:
        rows = con.execute("select table_schema, table_name, column_name from information_schema.columns "
                           "order by ordinal_position").fetchall()
    columns: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in rows:
        columns.setdefault((schema, table), []).append(column)
    return columns


def test_the_project_has_every_layer(manifest):
    layers = {_layer(n) for n in _models(manifest).values()}
    assert layers == set(LAYER_PREFIXES)


def test_names_and_folders_follow_the_layer(manifest):
    wrong = [n["name"] for n in _models(manifest).values()
             if not n["name"].startswith(LAYER_PREFIXES[_layer(n)]) and n["name"] not in NAMING_EXCEPTIONS]
    assert not wrong, f"models named against their layer's prefix: {wrong}"


def test_staging_reads_exactly_one_source_and_nothing_else(manifest):
    wrong = {}
    for node in _models(manifest).values():
        if _layer(node) != "staging":
            continue
        parents = node["depends_on"]["nodes"]
        if len(parents) != 1 or not parents[0].startswith("source."):
            wrong[node["name"]] = parents
    assert not wrong


def test_only_staging_reads_sources(manifest):
    wrong = {n["name"]: [p for p in n["depends_on"]["nodes"] if p.startswith("source.")]
             for n in _models(manifest).values()
             if _layer(n) != "staging" and n["name"] not in SOURCE_READ_EXCEPTIONS}
    assert not {k: v for k, v in wrong.items() if v}, "direct joins to sources outside staging"


def test_no_root_models(manifest):
    roots = [n["name"] for n in _models(manifest).values() if not n["depends_on"]["nodes"]]
    assert not roots


def test_every_model_has_a_primary_key_test(manifest):
    tested: set[str] = set()
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test":
            continue
        name = (node.get("test_metadata") or {}).get("name")
        if name in PRIMARY_KEY_TESTS and node.get("attached_node"):
            tested.add(node["attached_node"])
    missing = sorted(n["name"] for uid, n in _models(manifest).items() if uid not in tested)
    assert not missing, f"models without a unique / unique_combination_of_columns test: {missing}"


def test_every_model_is_described(manifest):
    missing = sorted(n["name"] for n in _models(manifest).values() if not n["description"].strip())
    assert not missing


def test_every_column_the_model_has_is_described(manifest, warehouse_columns):
    missing = {}
    for node in _models(manifest).values():
        actual = warehouse_columns.get((node["schema"], node["alias"]))
        if actual is None:  # ephemeral models have no relation
            assert node["config"]["materialized"] == "ephemeral", node["name"]
            continue
        described = {c.lower() for c, col in node["columns"].items() if col["description"].strip()}
        undocumented = [c for c in actual if c.lower() not in described]
        if undocumented:
            missing[node["name"]] = undocumented
    assert not missing, f"columns without a description: {missing}"


def test_public_marts_have_enforced_contracts_with_types(manifest):
    for node in _models(manifest).values():
        if _layer(node) != "marts":
            continue
        assert node["access"] == "public", node["name"]
        assert node["config"]["contract"]["enforced"], node["name"]
        untyped = [c for c, col in node["columns"].items() if not col.get("data_type")]
        assert not untyped, (node["name"], untyped)


def test_sources_are_described(manifest):
    for source in manifest["sources"].values():
        assert source["description"].strip(), source["name"]
        assert all(c["description"].strip() for c in source["columns"].values()), source["name"]
