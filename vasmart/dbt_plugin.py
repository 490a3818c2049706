"""dbt-duckdb plugin: the keyed pseudonym `vasmart_pseudonym(VARCHAR) -> VARCHAR` on dbt's DuckDB connection.

Pseudonym = HMAC-SHA256 with the key in `VASMART_PSEUDONYM_KEY` (its UTF-8 bytes) over the value's UTF-8
bytes, as 64 lowercase hex digits; NULL stays NULL. The key is read from the environment when dbt opens its
connection and lives only in this process's memory (a closure): no SQL text carries it, so dbt's manifest,
compiled SQL, logs and run results cannot either. A SQL macro over DuckDB's sha256 would put key-derived
pads in the macro text, readable through `duckdb_functions()` by any model (and it is not faster: DuckDB's
sha256 costs more per value than two copied hashlib states).

dbt models call it through the `pseudonym(expr)` macro (`dbt_project/macros/pseudonym.sql`). The function
exists only on dbt's connection: a model that calls it must be a table (a view would fail for every other
reader of the warehouse). Enabled in `dbt_project/profiles.yml`:

    plugins:
      - module: vasmart.dbt_plugin
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

import duckdb
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb.sqltypes import VARCHAR

KEY_ENV = "VASMART_PSEUDONYM_KEY"
FUNCTION_NAME = "vasmart_pseudonym"
CACHE_ENTRIES = 1 << 18  # repeated values (numbers recur in event data) are hashed once; about 50 MB when full


class PseudonymKeyMissing(RuntimeError):
    """VASMART_PSEUDONYM_KEY is unset or empty."""


def key_from_env() -> bytes | None:
    """The pseudonym key from the environment, or None when it is unset or empty."""
    value = os.environ.get(KEY_ENV, "")
    return value.encode("utf-8") if value else None


def pseudonym(key: bytes, value: str) -> str:
    """The pseudonym of one value: hex HMAC-SHA256 (the reference the UDF must agree with)."""
    return hmac.digest(key, value.encode("utf-8"), "sha256").hex()


def make_udf(key: bytes | None) -> Callable[[pa.Array | pa.ChunkedArray], pa.Array]:
    """A vectorised (Arrow) UDF body hashing each value with `key`; without a key it raises when called."""
    if not key:
        def missing(values: pa.Array | pa.ChunkedArray) -> pa.Array:
            raise PseudonymKeyMissing(f"{KEY_ENV} is not set: pseudonyms need the key in the environment of the "
                                      "process that runs dbt")
        return missing

    hash_one = _keyed_hasher(key)
    cache: dict[bytes, str] = {}

    def udf(values: pa.Array | pa.ChunkedArray) -> pa.Array:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        get = cache.get
        out: list[str | None] = []
        append = out.append
        for raw in values.cast(pa.binary()).to_pylist():  # UTF-8 bytes as stored: no decode/encode round trip
            if raw is None:
                append(None)
                continue
            hashed = get(raw)
            if hashed is None:
                hashed = hash_one(raw)
                if len(cache) >= CACHE_ENTRIES:
                    cache.clear()
                cache[raw] = hashed
            append(hashed)
        return pa.array(out, type=pa.string())

    return udf


def _keyed_hasher(key: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA256 of one value as hex, equal to `pseudonym`, with the key's two padded blocks hashed once.

    hmac.digest sets up both pads on every call; copying the two prepared SHA-256 states instead halves the
    time per value, which is what a table of millions of events spends in the UDF.
    """
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner_copy = hashlib.sha256(bytes(b ^ 0x36 for b in padded)).copy
    outer_copy = hashlib.sha256(bytes(b ^ 0x5C for b in padded)).copy

    def hash_one(raw: bytes) -> str:
        inner = inner_copy()
        inner.update(raw)
        outer = outer_copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    return hash_one


def register(conn: duckdb.DuckDBPyConnection, key: bytes | None = None) -> None:
    """Register `vasmart_pseudonym` on a DuckDB connection (key from the environment unless given)."""
    try:
        conn.remove_function(FUNCTION_NAME)
    except (duckdb.InvalidInputException, duckdb.CatalogException):
        pass
    conn.create_function(FUNCTION_NAME, make_udf(key if key is not None else key_from_env()), [VARCHAR], VARCHAR,
                         type="arrow", null_handling="special", side_effects=False)


class Plugin(BasePlugin):
    """Registers the pseudonym UDF on every DuckDB connection dbt opens."""

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        register(conn)
