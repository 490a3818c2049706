"""Splitting record lines into raw field text, exactly: every line keeps its number and its field count.

The fast path parses with Arrow's multi-threaded CSV reader (no quoting, `|` separators); it applies when
every line of the file has the contract's number of fields. Otherwise the file goes through DuckDB's
`string_split`, which keeps lines of any width with their numbers so each can be rejected by reason.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from vasmart.ingest.decode import split_lines


def raw_columns(n_fields: int) -> list[str]:
    """Names of the raw field columns."""
    return [f"r{i}" for i in range(n_fields)]


def _schema(n_fields: int) -> pa.Schema:
    return pa.schema([("file_id", pa.int32()), ("line_number", pa.int64()), ("n_fields", pa.int32()),
                      *[(c, pa.large_string()) for c in raw_columns(n_fields)], ("raw_line", pa.large_string())])


def _fast(text: bytes, n_fields: int) -> pa.Table | None:
    invalid = []

    def on_invalid(row):
        invalid.append(row)
        return "skip"

    names = raw_columns(n_fields)
    table = pacsv.read_csv(
        pa.py_buffer(text),
        read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter="|", quote_char=False, escape_char=False, double_quote=False,
                                         newlines_in_values=False, ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.large_string() for c in names},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    return None if invalid else table


def _exact(text: bytes, n_fields: int) -> pa.Table:
    lines = split_lines(text)
    con = duckdb.connect()
    try:
        con.register("lines", pa.table({"line": lines}))
        picks = ", ".join(f"CAST(coalesce(f[{i + 1}], '') AS VARCHAR) AS r{i}" for i in range(n_fields))
        return con.execute(f"""
            SELECT CAST(len(f) AS INTEGER) AS n_fields, {picks}, line AS raw_line
            FROM (SELECT rtrim(line, chr(10)) AS line, string_split(rtrim(line, chr(10)), '|') AS f FROM lines)
        """).fetch_arrow_table()
    finally:
        con.close()


def file_fields(file_id: int, text: bytes, records: int, n_fields: int) -> pa.Table:
    """The file's records as (file_id, line_number, n_fields, r0.., raw_line); raw_line only where needed."""
    table = _fast(text, n_fields) if records else None
    if table is not None and table.num_rows == records:
        widths = pa.array(np.full(records, n_fields, dtype=np.int32))
        raw_line = pa.nulls(records, pa.large_string())
    else:
        table = _exact(text, n_fields) if records else pa.table({})
        widths = table.column("n_fields").cast(pa.int32()) if records else pa.array([], pa.int32())
        raw_line = table.column("raw_line").cast(pa.large_string()) if records else pa.array([], pa.large_string())
    columns = [pa.array(np.full(records, file_id, dtype=np.int32)), pa.array(np.arange(1, records + 1)), widths]
    columns += [table.column(c).cast(pa.large_string()) if records else pa.array([], pa.large_string())
                for c in raw_columns(n_fields)]
    columns.append(raw_line)
    return pa.Table.from_arrays(columns, schema=_schema(n_fields))
