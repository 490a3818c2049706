"""Row validation, generated from a contract: one SQL statement types every field and names the first fault.

Reasons, in the order they are tested (the first failing rule is recorded):
`field_count`, `required:<field>`, `type:<field>`, `value:<field>`, `msisdn:<field>`, `imei:<field>`,
`period:<field>` (event time outside the file's coverage), `duplicate_key`.
"""

from __future__ import annotations

from vasmart.contracts import Contract, ContractField

# Luhn check digit of a 14-digit IMEI body: digits from the right, every other one doubled.
LUHN_MACRO = """
CREATE OR REPLACE TEMP MACRO luhn_digit(body) AS
  (10 - list_sum(list_transform(range(14), i ->
      CASE WHEN i % 2 = 0
           THEN (CAST(body[14 - i] AS INTEGER) * 2) // 10 + (CAST(body[14 - i] AS INTEGER) * 2) % 10
           ELSE CAST(body[14 - i] AS INTEGER) END)) % 10) % 10
"""
DUCKDB_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "date": "DATE", "month": "VARCHAR",
                "timestamp": "TIMESTAMP"}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _raw(i: int) -> str:
    return f"r{i}"


def typed_expression(field: ContractField, raw: str) -> str:
    """SQL giving the field's typed value, NULL when the text is not a valid value of its type."""
    t = field.spec_type
    if t in ("int", "bigint"):
        sql_type = DUCKDB_TYPES[t]
        return f"CASE WHEN CAST(TRY_CAST({raw} AS {sql_type}) AS VARCHAR) = {raw} THEN TRY_CAST({raw} AS {sql_type}) END"
    if t == "date":
        return f"CASE WHEN length({raw}) = 8 THEN CAST(TRY_STRPTIME({raw}, '%Y%m%d') AS DATE) END"
    if t == "month":
        return f"CASE WHEN length({raw}) = 6 AND TRY_STRPTIME({raw} || '01', '%Y%m%d') IS NOT NULL THEN {raw} END"
    if t == "timestamp":
        return f"CASE WHEN length({raw}) = 14 THEN TRY_STRPTIME({raw}, '%Y%m%d%H%M%S') END"
    if field.format == "imei":
        return (f"CASE WHEN regexp_full_match({raw}, '[0-9]{{16}}') THEN left({raw}, 14) || CAST(luhn_digit(left({raw}, 14)) AS VARCHAR)"
                f" WHEN regexp_full_match({raw}, '[0-9]{{15}}') AND CAST(luhn_digit(left({raw}, 14)) AS VARCHAR) = right({raw}, 1)"
                f" THEN {raw} END")
    return raw


def validation_sql(contract: Contract, source: str, files: str) -> str:
    """A query over `source` returning the typed fields, `n_fields` and `reason` (the first fault, if any).

    `source` has file_id, line_number, n_fields and the raw text of each field as r0..r<N-1> ('' when
    empty); `files` is a relation (file_id, period_start, period_end) giving each file's coverage.
    Duplicate keys are marked afterwards by `duplicate_key_sql`.
    """
    n = len(contract.fields)
    raws = ",\n    ".join(f"NULLIF(r{i}, '') AS {_raw(i)}" for i in range(n))
    typed = ",\n    ".join(f"{typed_expression(f, _raw(i))} AS \"{f.name}\"" for i, f in enumerate(contract.fields))
    checks = [f"WHEN n_fields <> {n} THEN 'field_count'"]
    for i, f in enumerate(contract.fields):
        if f.required:
            checks.append(f"WHEN {_raw(i)} IS NULL THEN 'required:{f.name}'")
    for i, f in enumerate(contract.fields):
        if f.spec_type != "string":
            checks.append(f"WHEN {_raw(i)} IS NOT NULL AND \"{f.name}\" IS NULL THEN 'type:{f.name}'")
    for i, f in enumerate(contract.fields):
        if f.values:
            allowed = ", ".join(_quote(v) for v in f.values)
            checks.append(f"WHEN {_raw(i)} NOT IN ({allowed}) THEN 'value:{f.name}'")
    for i, f in enumerate(contract.fields):
        if f.format == "msisdn":
            checks.append(f"WHEN NOT regexp_full_match({_raw(i)}, '1[0-9]{{10}}') THEN 'msisdn:{f.name}'")
        elif f.format == "imei":
            checks.append(f"WHEN {_raw(i)} IS NOT NULL AND \"{f.name}\" IS NULL THEN 'imei:{f.name}'")
    if contract.event_time:
        names = [f'"{name}"' for name in contract.event_time]
        event = names[0] if len(names) == 1 else "COALESCE(" + ", ".join(names) + ")"
        label = "/".join(contract.event_time)
        checks.append(f"WHEN CAST({event} AS DATE) NOT BETWEEN period_start AND period_end THEN 'period:{label}'")
    case = "CASE\n      " + "\n      ".join(checks) + "\n    END"
    imeisv = ""
    if any(f.format == "imei" for f in contract.fields):
        i = next(i for i, f in enumerate(contract.fields) if f.format == "imei")
        imeisv = f",\n    CASE WHEN length({_raw(i)}) = 16 THEN {_raw(i)} END AS imeisv"
    return f"""
WITH raw AS (
  SELECT file_id, line_number, n_fields,
    {raws}
  FROM {source}
), typed AS (
  SELECT raw.*,
    {typed}{imeisv}
  FROM raw
)
SELECT typed.* EXCLUDE ({", ".join(_raw(i) for i in range(n))}), {case} AS reason
FROM typed JOIN {files} USING (file_id)
"""


def duplicate_key_sql(contract: Contract, table: str) -> str:
    """An UPDATE marking every repeat of a key (after its first occurrence by file and line) as duplicate_key."""
    key = ", ".join(f'"{k}"' for k in contract.key)
    return f"""
UPDATE {table} SET reason = 'duplicate_key'
FROM (
  SELECT file_id, line_number FROM (
    SELECT file_id, line_number, row_number() OVER (PARTITION BY {key} ORDER BY file_id, line_number) AS rn
    FROM {table}
    SEMI JOIN (SELECT {key} FROM {table} WHERE reason IS NULL GROUP BY {key} HAVING count(*) > 1) USING ({key})
    WHERE reason IS NULL
  ) WHERE rn > 1
) AS repeat
WHERE {table}.file_id = repeat.file_id AND {table}.line_number = repeat.line_number
"""


def key_repeats_sql(contract: Contract, source: str) -> str:
    """A count of key values found more than once, the key typed as in the partition (cheap: key columns only)."""
    by_name = {f.name: (i, f) for i, f in enumerate(contract.fields)}
    keys = ", ".join(typed_expression(by_name[k][1], f"NULLIF(r{by_name[k][0]}, '')") for k in contract.key)
    return f"SELECT count(*) FROM (SELECT {keys} FROM {source} GROUP BY ALL HAVING count(*) > 1)"


def output_columns(contract: Contract) -> list[str]:
    """Columns of the raw partition, in order: the contract's fields (typed), extras, then lineage."""
    cols = [f'"{f.name}"' for f in contract.fields]
    if any(f.format == "imei" for f in contract.fields):
        cols.append("imeisv")
    return cols
