"""Features from the marts: which columns are features, and how they become a model matrix.

The models read one relation per user and month: the features table (the customer view) and, when the
history table (`marts.fct_subscriber_month`) is in the warehouse, the user's last twelve months of it
summarised beside each row (`feature_relation()`): VAS orders and cancellations, use by content category as
shares, months holding a 手机报, SMS sent and pushes received. The customer view carries only the month and
three-month averages; a year shows an appetite or a preference with far less noise. Every numeric, boolean
or low-cardinality VARCHAR column is a feature, except the keys, dates and timestamps, identifiers, the
columns in `EXCLUDED_COLUMNS` and anything that looks like a label (`LABEL_LIKE`). Nothing is recomputed
from raw data: the marts are the feature store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

KEY_COLUMNS = ("user_pseudonym", "month_start_date")
# Columns of the customer view that are bookkeeping, not attributes of the user.
EXCLUDED_COLUMNS = frozenset({
    "user_pseudonym", "month_start_date", "month_end_date", "is_month_complete", "usage_source",
    "population_month", "outcome_month", "cohort_month", "scoring_month", "last_label_month",
    "batch_date", "loaded_at", "built_at",
})
# Label columns of the label marts, and any name that says it is a target or an outcome.
LABEL_LIKE = re.compile(
    r"(^|_)(label|labels|target|truth|outcome|is_bad|bad_bill|has_stable|stable_order|has_newspaper_order|"
    r"category_share|is_label_observable)(_|$)"
)
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "FLOAT", "DOUBLE", "REAL")
MAX_LEVELS = 64
FEATURE_VIEW = "model_features"  # the temporary view `feature_relation()` defines on a connection
FEATURE_SOURCE = "model_features_source"  # what it reads: the features and history tables' names
SCRATCH_DB = "vasmart_model_scratch"  # where `for_months` keeps the month summaries it computed
_SCRATCH_DIRS: list[tempfile.TemporaryDirectory] = []
HISTORY_MONTHS = 12
CATEGORY_PREFIXES = ("news", "sports", "finance", "entertainment", "music", "games", "life", "education")


class FeatureError(RuntimeError):
    """The features table is missing or unusable."""


@dataclass(frozen=True)
class FeatureSpec:
    """The model's features in a fixed order: numeric ones (booleans as 0/1) and categorical ones with levels."""

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def to_json(self) -> str:
        return json.dumps({"numeric": list(self.numeric),
                           "categorical": {k: list(v) for k, v in self.categorical.items()}}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        data = json.loads(text)
        return cls(tuple(data["numeric"]), {k: tuple(v) for k, v in data["categorical"].items()})

    def without(self, names: set[str]) -> FeatureSpec:
        """The same spec without the given columns."""
        return FeatureSpec(tuple(c for c in self.numeric if c not in names),
                           {k: v for k, v in self.categorical.items() if k not in names})


def is_excluded(name: str) -> bool:
    """A column that is never a feature: keys, bookkeeping, identifiers, label-like names."""
    lowered = name.lower()
    return (lowered in EXCLUDED_COLUMNS or lowered.endswith(("_pseudonym", "_id"))
            or bool(LABEL_LIKE.search(lowered)))


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(name, type) of every column of `table`; a clear error when it does not exist."""
    try:
        rows = con.execute(f"describe {table}").fetchall()
    except duckdb.CatalogException:
        raise FeatureError(f"features table {table} does not exist in the warehouse (run vasmart build, or set "
                           "features_table / VASMART_FEATURES_TABLE)") from None
    names = {r[0] for r in rows}
    missing = [k for k in KEY_COLUMNS if k not in names]
    if missing:
        raise FeatureError(f"features table {table} has no {', '.join(missing)} column")
    return [(r[0], r[1]) for r in rows]


def _history_aggregates() -> str:
    """The summary of a user's rows `h` of the history table, as SELECT items."""
    shares = "".join(
        f",\n           sum(h.{c}_use_count) / nullif(sum(h.vas_use_count), 0) as {c}_use_share_12m"
        for c in CATEGORY_PREFIXES)
    return f"""count(*) as history_months_12m,
           sum(h.vas_order_count) as vas_order_count_12m,
           sum(h.vas_cancel_count) as vas_cancel_count_12m,
           sum(h.vas_cancel_count) / nullif(sum(h.vas_order_count), 0) as vas_cancel_ratio_12m,
           avg(h.vas_use_count) as vas_use_count_12m_avg{shares},
           count(*) filter (where h.held_newspaper_count > 0) as newspaper_held_months_12m,
           avg(h.held_vas_count) as held_vas_count_12m_avg,
           avg(h.sms_mo) as sms_mo_12m_avg,
           avg(h.vas_delivery_received_count) as vas_delivery_received_12m_avg"""


def history_summary_sql(history: str, month: dt.date) -> str:
    """One row per user with history in the HISTORY_MONTHS months up to `month`, summarised.

    Plain SQL that DuckDB and Spark both run (`vasmart.spark_scoring` summarises the same way); the window's
    bounds are month-start dates computed here, as the history table's months are.
    """
    low = add_months(month, -HISTORY_MONTHS)
    return f"""
        select h.user_pseudonym,
               {_history_aggregates()}
        from {history} h
        where h.month_start_date <= DATE '{month.isoformat()}'
          and h.month_start_date > DATE '{low.isoformat()}'
        group by h.user_pseudonym
    """


def _dated_summary_sql(history: str, month: dt.date) -> str:
    """`history_summary_sql` with the month it summarises as month_start_date."""
    return f"select DATE '{month.isoformat()}' as month_start_date, s.* from ({history_summary_sql(history, month)}) s"


def _history_sql(table: str, history: str, months: list[dt.date], name: str = FEATURE_VIEW) -> str:
    """View `name`: the rows of `months` of the features table, each with its last HISTORY_MONTHS months of
    history beside it.

    The summary is `history_summary_sql` once per month, as branches of a UNION ALL, so a view summarises
    only the months it holds (one group-by over twelve months of history each) instead of joining every
    feature row with its twelve history months.
    """
    branches = "\n        union all\n".join(_dated_summary_sql(history, m) for m in months) or (
        f"{_dated_summary_sql(history, dt.date(2000, 1, 1))} where false")
    return f"""
        create or replace temp view {name} as
        with summary as ({branches})
        select f.*, s.* exclude (user_pseudonym, month_start_date)
        from {table} f left join summary s using (user_pseudonym, month_start_date)
        where {month_filter(months, 'f.month_start_date') if months else 'false'}
    """


def base_table(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """The features table behind `feature_relation()`'s view (`relation` itself otherwise): where its keys and
    text columns can be read without summarising any history (the summary is numeric)."""
    if relation != FEATURE_VIEW:
        return relation
    return con.execute(f"select table_name from {FEATURE_SOURCE}").fetchone()[0]


def _scratch_summary(con: duckdb.DuckDBPyConnection) -> str:
    """The table of month summaries already computed on this connection, in a scratch database file.

    A file, not a temporary table: the summaries of a million users' months outgrow the memory the trainers
    give DuckDB, and a file-backed table spills and reads back like any other (the directory is removed when
    the process ends).
    """
    attached = {r[0] for r in con.execute("select database_name from duckdb_databases()").fetchall()}
    if SCRATCH_DB not in attached:
        directory = tempfile.TemporaryDirectory(prefix="vasmart-features-")
        _SCRATCH_DIRS.append(directory)
        con.execute(f"attach '{Path(directory.name) / 'summary.duckdb'}' as {SCRATCH_DB} (read_write)")
    return f"{SCRATCH_DB}.history_summary"


def for_months(con: duckdb.DuckDBPyConnection, relation: str, months: list[dt.date]) -> str:
    """`relation` narrowed to `months`: for the view `feature_relation()` made, a view of those months joined
    to their history summaries, each month summarised once per connection and kept (the trainers' loads,
    spec and stability checks read the same months again and again); any other relation as it is."""
    if relation != FEATURE_VIEW or not months:
        return relation
    table, history = con.execute(f"select table_name, history_name from {FEATURE_SOURCE}").fetchone()
    months = sorted(set(months))
    summary = _scratch_summary(con)

    exists = con.execute("select count(*) from duckdb_tables() where database_name = ? and table_name = ?",
                         [SCRATCH_DB, "history_summary"]).fetchone()[0]
    if not exists:
        con.execute(f"create table {summary} as {_dated_summary_sql(history, months[0])} limit 0")
    done = {r[0] for r in con.execute(f"select distinct month_start_date from {summary}").fetchall()}
    for month in months:
        if month not in done:
            con.execute(f"insert into {summary} {_dated_summary_sql(history, month)}")
    name = f"{FEATURE_VIEW}_{hashlib.md5(','.join(m.isoformat() for m in months).encode()).hexdigest()[:12]}"
    con.execute(f"""
        create or replace temp view {name} as
        select f.*, s.* exclude (user_pseudonym, month_start_date)
        from {table} f left join {summary} s using (user_pseudonym, month_start_date)
        where {month_filter(months, 'f.month_start_date')}
    """)
    return name


def _month_history_sql(table: str, history: str, month: dt.date) -> str:
    """`_history_sql` for the rows of one month only, summarised in the view itself (what scoring reads)."""
    return f"""
        create or replace temp view {FEATURE_VIEW} as
        with history as ({history_summary_sql(history, month)})
        select f.*, history.* exclude (user_pseudonym)
        from {table} f left join history using (user_pseudonym)
        where f.month_start_date = DATE '{month.isoformat()}'
    """


def feature_relation(con: duckdb.DuckDBPyConnection, table: str, history: str | None,
                     month: dt.date | None = None) -> str:
    """The relation the models read on this connection: `table` with the history summary beside it when
    `history` names a table of the warehouse (a temporary view), else `table` itself. With `month`, the
    view holds that month's rows only (what scoring reads)."""
    table_columns(con, table)
    if not history:
        return table
    try:
        names = {r[0] for r in con.execute(f"describe {history}").fetchall()}
    except duckdb.CatalogException:
        return table
    needed = {"user_pseudonym", "month_start_date", "vas_order_count", "vas_cancel_count", "vas_use_count",
              "held_newspaper_count", "held_vas_count", "sms_mo", "vas_delivery_received_count",
              *(f"{c}_use_count" for c in CATEGORY_PREFIXES)}
    missing = sorted(needed - names)
    if missing:
        raise FeatureError(f"history table {history} has no {', '.join(missing)} column")
    if month is None:
        months = [r[0] for r in con.execute(f"select distinct month_start_date from {table} order by 1").fetchall()]
        con.execute(_history_sql(table, history, months))
        con.execute(f"create or replace temp table {FEATURE_SOURCE} as select ? as table_name, ? as history_name",
                    [table, history])
    else:
        con.execute(_month_history_sql(table, history, month))
    return FEATURE_VIEW


def infer_spec(con: duckdb.DuckDBPyConnection, table: str, months: list[dt.date],
               drop: set[str] | None = None, max_levels: int = MAX_LEVELS) -> FeatureSpec:
    """The features of `table`, with categorical levels as seen in `months` (sorted, so the order is stable)."""
    drop = drop or set()
    numeric, text = [], []
    for name, kind in table_columns(con, table):
        if is_excluded(name) or name in drop:
            continue
        base = kind.split("(")[0].upper()
        if base in NUMERIC_TYPES or base.startswith("DECIMAL") or base == "BOOLEAN":
            numeric.append(name)
        elif base == "VARCHAR":
            text.append(name)
    categorical: dict[str, tuple[str, ...]] = {}
    if text:
        table = base_table(con, table)
        in_months = month_filter(months)
        counts = con.execute(
            f"select {', '.join(f'count(distinct {quote(c)})' for c in text)} from {table} where {in_months}"
        ).fetchone()
        for name, n in zip(text, counts, strict=True):
            if 0 < n <= max_levels:
                levels = con.execute(f"select distinct {quote(name)} from {table} where {in_months} "
                                     f"and {quote(name)} is not null order by 1").fetchall()
                categorical[name] = tuple(str(r[0]) for r in levels)
    if not numeric and not categorical:
        raise FeatureError(f"features table {table} has no usable feature column")
    return FeatureSpec(tuple(numeric), categorical)


def quote(name: str) -> str:
    """A column name as a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def month_filter(months: list[dt.date], column: str = "month_start_date") -> str:
    """SQL predicate: `column` is one of `months`."""
    if not months:
        return "false"
    return f"{column} in ({', '.join(f'DATE {m.isoformat()!r}' for m in sorted(set(months)))})"


def sample_filter(fraction: float, column: str = "user_pseudonym") -> str:
    """SQL predicate keeping about `fraction` of the users, the same users every run (pseudonyms are uniform)."""
    if fraction >= 1.0:
        return "true"
    cut = int(fraction * 0xFFFFFFFF)
    return f"cast(('0x' || substr({column}, 1, 8)) as ubigint) <= {cut}"


def select_list(spec: FeatureSpec, alias: str = "f") -> str:
    """The spec's columns for a SELECT: numeric and boolean ones as FLOAT (a HUGEINT or DECIMAL column would
    otherwise reach pandas as Python objects, orders of magnitude slower), categoricals as text."""
    numeric = [f"cast({alias}.{quote(c)} as float) as {quote(c)}" for c in spec.numeric]
    return ", ".join([*numeric, *(f"{alias}.{quote(c)}" for c in spec.categorical)])


def to_matrix(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The model matrix: numeric columns as float32 (booleans 0/1), categoricals with the spec's levels."""
    out = {}
    for name in spec.numeric:
        col = frame[name]
        if col.dtype == bool or str(col.dtype) == "boolean":
            col = col.astype("float32")
        out[name] = pd.to_numeric(col, errors="coerce").astype("float32")
    for name, levels in spec.categorical.items():
        out[name] = pd.Categorical(frame[name].astype("object").where(frame[name].notna(), None),
                                   categories=list(levels))
    return pd.DataFrame(out, index=frame.index)


def arrow_matrix(table: pa.Table, spec: FeatureSpec) -> np.ndarray:
    """The model matrix of `spec` from an Arrow table of `select_list(spec)`'s columns: the float32 array that
    `as_array(to_matrix(...))` makes from the same rows in pandas (categoricals as the code of their level,
    NaN when missing or not a level), without converting the table to pandas."""
    columns = [arrow_column(table[name]) for name in spec.numeric]
    columns += [arrow_column(table[name], levels) for name, levels in spec.categorical.items()]
    return stack_rows(columns)


def arrow_column(column: pa.ChunkedArray, levels: tuple[str, ...] | None = None) -> np.ndarray:
    """One column of the model matrix: the values as float32, or with `levels` the code of each value's level."""
    if levels is None:
        return column.cast(pa.float32()).to_numpy()
    codes = pc.index_in(column.cast(pa.string()), value_set=pa.array(levels, pa.string()))
    return codes.cast(pa.float32()).to_numpy()


def stack_rows(columns: list[np.ndarray], rows: np.ndarray | None = None, block_rows: int = 8192,
               dtype: str = "float32") -> np.ndarray:
    """The C-ordered matrix of the given float32 columns (at positions `rows` only, when given), as `dtype`."""
    count = len(columns[0]) if rows is None else len(rows)
    out = np.empty((count, len(columns)), dtype=dtype)
    block = np.empty((len(columns), block_rows), dtype="float32")
    # a block of rows at a time, gathered column by column and then transposed as a whole: writing each
    # column straight into the row-major matrix would miss the cache on every value
    for start in range(0, count, block_rows):
        size = min(block_rows, count - start)
        for j, column in enumerate(columns):
            if rows is None:
                block[j, :size] = column[start:start + size]
            else:
                np.take(column, rows[start:start + size], out=block[j, :size])
        out[start:start + size] = block[:, :size].T
    return out


def one_hot(matrix: pd.DataFrame, spec: FeatureSpec, medians: dict[str, float] | None = None
            ) -> tuple[np.ndarray, list[str], dict[str, float]]:
    """A dense float matrix for linear models: numeric columns with median imputation, categoricals one-hot.

    Returns the matrix, its column names and the medians used (pass them back in for new data).
    """
    if medians is None:
        medians = {c: float(np.nanmedian(matrix[c].to_numpy())) if matrix[c].notna().any() else 0.0
                   for c in spec.numeric}
    blocks, names = [], []
    for c in spec.numeric:
        blocks.append(np.nan_to_num(matrix[c].to_numpy(dtype="float64"), nan=medians[c])[:, None])
        names.append(c)
    for c, levels in spec.categorical.items():
        codes = matrix[c].cat.codes.to_numpy()
        onehot = np.zeros((len(matrix), len(levels)), dtype="float64")
        rows = np.flatnonzero(codes >= 0)
        onehot[rows, codes[rows]] = 1.0
        blocks.append(onehot)
        names.extend(f"{c}={level}" for level in levels)
    return np.hstack(blocks) if blocks else np.zeros((len(matrix), 0)), names, medians


def feature_months(con: duckdb.DuckDBPyConnection, table: str, complete_only: bool = True) -> list[dt.date]:
    """Months present in the features table (only those marked complete, when the table says)."""
    names = {n for n, _ in table_columns(con, table)}
    where = "where is_month_complete" if complete_only and "is_month_complete" in names else ""
    return [r[0] for r in con.execute(f"select distinct month_start_date from {table} {where} order by 1").fetchall()]


def add_months(month: dt.date, n: int) -> dt.date:
    """First day of the month `n` months after `month`'s."""
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def parse_month(text: str) -> dt.date:
    """YYYYMM as the month's first day."""
    try:
        return dt.datetime.strptime(text, "%Y%m").date()
    except ValueError:
        raise ValueError(f"{text!r} is not a YYYYMM month") from None
