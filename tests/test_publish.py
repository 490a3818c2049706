"""`vasmart publish` and `vasmart sql`: the analysts' copy of the public marts (ARCHITECTURE: analytics.duckdb).

One session home: a small generated delivery (600 users, 3 history months, 2 daily batches), every batch
ingested in date order, the full `vasmart build` with a pseudonym key, then `vasmart publish`, made once and
shared by the pytest-xdist workers through a file lock. Checked: the copy
holds the marts (same rows) and meta.published only; no value anywhere in it is MSISDN- or IMEI-shaped, and no
raw number from the lake appears in it; a planted number makes publish refuse and leaves the previous copy
byte-identical; a reader that opened the copy before a publication keeps reading the old data; `vasmart sql`
answers queries and refuses writes and file access. Tests that change a warehouse work on a copy of its file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from filelock import FileLock
from vasmart_cli import run_vasmart

from vasmart.config import Settings
from vasmart.publish import PublishError, publish, scan_personal_numbers, shaped_filter

KEY = "vasmart-publish-test-key-71c2e0"
GENERATE = ["--users", "600", "--months", "3", "--days", "2", "--end-date", "20260602", "--seed", "5"]
# written independently of vasmart.publish (Python's re has look-behind): a digit run taken whole, not the
# fraction of a decimal, after setting aside hex tokens of 32+ characters (pseudonyms, digests)
HEX_TOKEN = re.compile(r"[0-9A-Fa-f]{32,}")
MSISDN = re.compile(r"(?<![0-9])(?<![0-9]\.)1[0-9]{10}(?![0-9])")
IMEI = re.compile(r"(?<![0-9])(?<![0-9]\.)[0-9]{15,16}(?![0-9])")



def _cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return run_vasmart(home, *args, key=KEY, stdin=stdin)


def _raw(home: Path, interface: str) -> str:
    return (f"read_parquet('{home}/lake/raw/{interface}/batch_date=*/*.parquet', hive_partitioning = true, "
            "hive_types_autocast = false)")


@dataclass
class Published:
    home: Path
    seconds: dict[str, float]
    publish_stdout: str


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Published:
    root = tmp_path_factory.getbasetemp()
    if root.name.startswith("popen-gw"):  # under xdist each worker has its own base; share their parent
        root = root.parent
    home, done = root / "publish_home", root / "publish_home.json"
    with FileLock(str(root / "publish_home.lock")):
        if not done.exists():
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir()
            made = _publish_home(home)
            done.write_text(json.dumps({"seconds": made.seconds, "stdout": made.publish_stdout}))
    record = json.loads(done.read_text())
    return Published(home, record["seconds"], record["stdout"])


def _publish_home(home: Path) -> Published:
    """Generate, ingest, build and publish into `home`."""
    from vasmart.ingest import ingest_batch

    seconds = {}
    started = time.perf_counter()
    gen = _cli(home, "generate", "--out", str(home), *GENERATE)
    assert gen.returncode == 0, gen.stderr[-3000:]
    seconds["generate"] = time.perf_counter() - started
    started = time.perf_counter()
    settings = Settings(home=home)
    for batch in sorted(p.name for p in (home / "landing").iterdir() if p.is_dir()):
        ingest_batch(settings, home / "landing", batch, f"test-{batch}")
    seconds["ingest"] = time.perf_counter() - started
    started = time.perf_counter()
    build = _cli(home, "build")
    seconds["build"] = time.perf_counter() - started
    assert build.returncode == 0, build.stderr[-3000:] + build.stdout[-3000:]
    started = time.perf_counter()
    pub = _cli(home, "publish")
    seconds["publish (cli)"] = time.perf_counter() - started
    assert pub.returncode == 0, pub.stderr[-3000:]
    return Published(home, seconds, pub.stdout)


def _home_copy(published: Published, tmp_path: Path) -> Settings:
    """A home holding a copy of the session's warehouse file (the marts are tables: no lake needed)."""
    shutil.copyfile(published.home / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    return Settings(home=tmp_path)


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    return con.execute("select table_schema, table_name, table_type from information_schema.tables "
                       "where table_catalog = current_database() order by 1, 2").fetchall()


def _mart_counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [t for s, t, kind in _tables(con) if s == "marts" and kind == "BASE TABLE"]
        return {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in names}


# ------------------------------------------------------------------------------------------------ the copy
def test_the_copy_holds_the_marts_and_meta_only(published):
    home = published.home
    wh = _mart_counts(home / "warehouse.duckdb")
    assert len(wh) >= 5 and sum(wh.values()) > 1000, wh
    with duckdb.connect(str(home / "analytics.duckdb"), read_only=True) as con:
        tables = _tables(con)
        assert {s for s, _, _ in tables} == {"marts", "meta"}, tables
        assert {kind for _, _, kind in tables} == {"BASE TABLE"}, tables  # no view reaching back anywhere
        assert not con.execute("select * from duckdb_views() where not internal").fetchall()
        schemas = {r[0] for r in con.execute(
            "select schema_name from duckdb_schemas() where database_name = current_database() and not internal"
        ).fetchall()}
        assert schemas <= {"marts", "meta", "main"}, schemas  # main: DuckDB's default, empty
        assert not con.execute("select * from duckdb_databases() where not internal "
                               "and database_name <> current_database()").fetchall()
        assert {t for s, t, _ in tables if s == "meta"} == {"published"}
        counts = {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for s, t, _ in tables
                  if s == "marts"}
        meta = con.execute("select published_at, latest_batch, loaded_batches, tables from meta.published").fetchall()
    assert counts == wh
    assert len(meta) == 1
    published_at, latest, loaded, listed = meta[0]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        batches = [r[0] for r in con.execute(
            "select distinct batch_date from audit.load_batch where status = 'LOADED' order by 1").fetchall()]
        wh_types = con.execute("select table_name, column_name, data_type from information_schema.columns "
                               "where table_schema = 'marts' order by 1, ordinal_position").fetchall()
    with duckdb.connect(str(home / "analytics.duckdb"), read_only=True) as con:
        types = con.execute("select table_name, column_name, data_type from information_schema.columns "
                            "where table_schema = 'marts' order by 1, ordinal_position").fetchall()
    assert types == wh_types
    assert latest == batches[-1] == "20260602" and loaded == batches
    assert {d["table_name"]: d["row_count"] for d in listed} == {f"marts.{t}": n for t, n in wh.items()}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((published_at - now).total_seconds()) < 3600
    assert published.publish_stdout.startswith(f"published {len(wh)} marts")
    assert not [p.name for p in home.iterdir() if p.name.startswith(".analytics")]  # no temp file left


def _text_values(con: duckdb.DuckDBPyConnection):
    """(table, column, value as text) for every non-null value of every column of every table."""
    for schema, table, _ in _tables(con):
        cols = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position", [schema, table]).fetchall()]
        for col in cols:
            for (value,) in con.execute(f'select cast("{col}" as varchar) from {schema}.{table} '
                                        f'where "{col}" is not null').fetchall():
                yield table, col, value


def test_no_msisdn_or_imei_shaped_value_anywhere_in_the_copy(published):
    home = published.home
    hits, runs, n = [], set(), 0
    with duckdb.connect(str(home / "analytics.duckdb"), read_only=True) as con:
        for table, col, value in _text_values(con):
            n += 1
            runs.update(re.findall(r"[0-9]{11,}", value))
            cleaned = HEX_TOKEN.sub(" ", value)
            for kind, shape in (("MSISDN", MSISDN), ("IMEI", IMEI)):
                if shape.search(cleaned):
                    hits.append((table, col, kind))
    assert n > 10_000
    assert not hits, sorted(set(hits))
    with duckdb.connect() as con:
        identities = {r[0] for r in con.execute(f"""
            select msisdn from {_raw(home, 'BOSS_USER')} union select imei from {_raw(home, 'IMEI_OBS')}
            union select msisdn from {_raw(home, 'IMEI_OBS')} union select other_party from {_raw(home, 'CDR_VOICE')}
            union select other_party from {_raw(home, 'CDR_SMS')}""").fetchall() if r[0]}
    assert len(identities) > 1000
    # no raw number of the lake appears in the copy, whatever its shape or where it sits in a text
    assert not runs & identities, sorted(runs & identities)[:5]


def test_the_scanner_finds_numbers_alone_and_inside_text_and_nothing_else():
    with duckdb.connect() as con:
        con.execute("create schema s; create table s.t (a varchar, b varchar, c double)")
        con.execute("""insert into s.t values
            ('ok', 'a' || repeat('1234567890', 6) || 'f', 0.1234567890123456),  -- hex token, fraction
            ('13812345678', 'x', 1.5),
            ('tel:13812345678;', '138123456789', 2.5),                       -- 12 digits: no MSISDN
            ('1381234567', '用户8601234567890123的终端', 3.5)""")
        found = scan_personal_numbers(con, "s", ["t"])
        assert found == [("t", "a", "MSISDN", 2), ("t", "b", "IMEI", 1)]
        assert scan_personal_numbers(con, "s", ["t"], all_types=True) == found



def _scanned_row_by_row(con: duckdb.DuckDBPyConnection, table: str, all_types: bool = False) -> list:
    """The scan as one count per column over every row, each value through the full test (the reference)."""
    found = []
    cols = con.execute("select column_name, data_type from information_schema.columns where table_schema = 's' "
                       "and table_name = ? order by ordinal_position", [table]).fetchall()
    for col, data_type in cols:
        if all_types or data_type == "VARCHAR":
            msisdn, imei = shaped_filter(f'cast("{col}" as varchar)')
            counts = con.execute(f"select count(*) filter (where {msisdn}), count(*) filter (where {imei}) "
                                 f"from s.{table}").fetchone()
            found += [(table, col, kind, n) for kind, n in zip(("MSISDN", "IMEI"), counts, strict=True) if n]
    return found


def _shaped_in_python(values: list[str | None]) -> dict[str, int]:
    cleaned = [HEX_TOKEN.sub(" ", v) for v in values if v is not None]
    return {kind: n for kind, shape in (("MSISDN", MSISDN), ("IMEI", IMEI))
            if (n := sum(1 for v in cleaned if shape.search(v)))}


def test_the_scanner_counts_every_row_of_a_column_of_pseudonyms_and_numbers():
    pseudonyms = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(400)] * 3
    token = pseudonyms[0]
    values = pseudonyms + [
        None, None, "", token.upper(),
        token + "13812345678",                    # one hex token of 75 characters: no number
        "13812345678" + token,                    # the same, the digits first
        token + "-13812345678",                   # MSISDN beside a token
        "a" * 21 + "13812345678",                 # 32 hex characters: a token
        "a" * 20 + "13812345678",                 # 31: not a token, MSISDN inside
        "tel:13812345678;", "tel:13812345678;",   # the same value counted once per row
        "0.13812345678", ".13812345678", "x.13812345678",
        "860123456789012", "imeisv=8601234567890123", "12345678901234567", "123456789012345",
    ] + ["13900001111"] * 7
    random.Random(3).shuffle(values)
    with duckdb.connect() as con:
        con.execute("create schema s; create table s.t (a varchar)")
        con.executemany("insert into s.t values (?)", [[v] for v in values])
        found = scan_personal_numbers(con, "s", ["t"])
        assert found == [("t", "a", "MSISDN", 13), ("t", "a", "IMEI", 3)]
        assert found == _scanned_row_by_row(con, "t")
    assert {kind: n for _, _, kind, n in found} == _shaped_in_python(values)


def test_the_scanner_groups_values_by_their_bytes_whatever_the_collation():
    token_like = "a" * 20 + "e" + "13812345678"   # 32 hex characters: a token, no number
    number = "a" * 20 + "é" + "13812345678"       # the same without accents, but an MSISDN after "é"
    with duckdb.connect() as con:
        con.execute("create schema s; create table s.t (a varchar collate noaccent, b varchar collate nocase)")
        con.executemany("insert into s.t values (?, ?)",
                        [[token_like, "x"]] * 5 + [[number, "TEL 13812345678"], [number, "tel 13812345678"]])
        found = scan_personal_numbers(con, "s", ["t"])
        assert found == [("t", "a", "MSISDN", 2), ("t", "b", "MSISDN", 2)]
        assert found == _scanned_row_by_row(con, "t")


def test_the_scanner_agrees_with_the_row_by_row_scan_on_random_text():
    rng = random.Random(11)
    alphabet = "0123456789" * 6 + "abcdefABCDEF" + "..  x-é用"
    distinct = ["".join(rng.choices(alphabet, k=rng.randint(0, 90))) for _ in range(3000)]
    rows = [[v, rng.choice(distinct), v[: rng.randint(0, len(v))] or None]
            for v in distinct for _ in range(rng.randint(1, 3))]
    with duckdb.connect() as con:
        con.execute("create schema s; create table s.t (a varchar, b varchar, c varchar)")
        con.executemany("insert into s.t values (?, ?, ?)", rows)
        found = scan_personal_numbers(con, "s", ["t"])
        assert found == _scanned_row_by_row(con, "t")
    assert {(col, kind) for _, col, kind, _ in found} == {(c, k) for c in "abc" for k in ("MSISDN", "IMEI")}
    for i, col in enumerate("abc"):
        assert {k: n for _, c, k, n in found if c == col} == _shaped_in_python([r[i] for r in rows])


def test_the_scanner_reads_numbers_of_every_type_as_text():
    with duckdb.connect() as con:
        con.execute("create schema s; create table s.t (a bigint, b double, c decimal(18, 3), d varchar)")
        con.execute("""insert into s.t values (13812345678, 13812345678.5, 860123456789.012, 'x'),
            (860123456789012, 0.13812345678, 1.5, null), (null, null, null, '13812345678'), (1, 2, 3, 'y')""")
        found = scan_personal_numbers(con, "s", ["t"], all_types=True)
        assert found == _scanned_row_by_row(con, "t", all_types=True)
        assert [(c, k) for _, c, k, _ in found] == [("a", "MSISDN"), ("a", "IMEI"), ("b", "MSISDN"), ("d", "MSISDN")]
        assert scan_personal_numbers(con, "s", ["t"]) == [("t", "d", "MSISDN", 1)]

# ------------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(("table", "column", "value", "kind"), [
    ("fct_credit_labels", "region_code", "13812345678", "MSISDN"),
    ("fct_content_labels", "content_category", "NEWS 用户15900001111 订阅", "MSISDN"),
    ("fct_vas_order_charges", "cancel_reason", "860123456789012", "IMEI"),
    ("fct_propensity_labels", "user_pseudonym", "imeisv=8601234567890123", "IMEI"),
])
def test_a_planted_number_is_refused_and_the_old_copy_kept(published, tmp_path, table, column, value, kind):
    settings = _home_copy(published, tmp_path)
    first = publish(settings)
    old = (tmp_path / "analytics.duckdb").read_bytes()
    assert first.tables == _mart_counts(tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute(f"update marts.{table} set {column} = ? where rowid = (select min(rowid) from marts.{table})",
                    [value])
    with pytest.raises(PublishError) as err:
        publish(settings)
    message = str(err.value)
    assert f"marts.{table}.{column}" in message and kind in message and "\n" not in message
    assert value not in message
    assert (tmp_path / "analytics.duckdb").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analytics.duckdb", "warehouse.duckdb"]  # no temp


def test_the_cli_refuses_with_one_line(published, tmp_path):
    settings = _home_copy(published, tmp_path)
    publish(settings)
    old = (tmp_path / "analytics.duckdb").read_bytes()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("update marts.fct_credit_labels set credit_segment = 'call 13900001111'")
    result = _cli(tmp_path, "publish")
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "marts.fct_credit_labels.credit_segment" in result.stderr and "13900001111" not in result.stderr
    assert (tmp_path / "analytics.duckdb").read_bytes() == old
    (tmp_path / "nowhere").mkdir()
    missing = _cli(tmp_path / "nowhere", "publish")
    assert missing.returncode != 0 and "no warehouse" in missing.stderr


# ------------------------------------------------------------------------------------------------ the swap
def test_a_reader_keeps_the_old_copy_across_a_publication(published, tmp_path):
    settings = _home_copy(published, tmp_path)
    publish(settings)
    target = tmp_path / "analytics.duckdb"
    reader = duckdb.connect(str(target), read_only=True)
    try:
        query = ("select count(*), count(distinct user_pseudonym), sum(category_use_count) "
                 "from marts.fct_content_labels")
        before = reader.execute(query).fetchone()
        stamp = reader.execute("select published_at from meta.published").fetchone()
        inode = target.stat().st_ino
        with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
            con.execute("delete from marts.fct_content_labels where content_category <> 'NEWS'")
            news = con.execute("select count(*) from marts.fct_content_labels").fetchone()[0]
        time.sleep(1.1)  # published_at has whole seconds
        second = publish(settings)
        assert target.stat().st_ino != inode
        assert second.tables["fct_content_labels"] == news < before[0]
        # the open connection still reads the old file, whole tables included (its blocks come from the old inode)
        assert reader.execute(query).fetchone() == before
        assert reader.execute("select published_at from meta.published").fetchone() == stamp
        assert reader.execute("select count(*) from (select distinct * from marts.fct_vas_order_charges)"
                              ).fetchone()[0] == second.tables["fct_vas_order_charges"]
        # a new process sees the new copy
        result = _cli(tmp_path, "sql", "select count(*) as n from marts.fct_content_labels")
        assert result.returncode == 0, result.stderr
        assert re.search(rf"\b{news}\b", result.stdout) and not re.search(rf"\b{before[0]}\b", result.stdout)
    finally:
        reader.close()
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("select published_at from meta.published").fetchone() != stamp


def test_publish_only_reads_the_warehouse(published, tmp_path):
    settings = _home_copy(published, tmp_path)
    wh = tmp_path / "warehouse.duckdb"
    before = wh.read_bytes()
    with duckdb.connect(str(wh), read_only=True) as other_reader:  # another read-only holder does not block it
        publish(settings)
        assert other_reader.execute("select count(*) from marts.fct_credit_labels").fetchone()[0] > 0
    assert wh.read_bytes() == before
    assert not (tmp_path / "warehouse.duckdb.wal").exists()


# ------------------------------------------------------------------------------------------------ vasmart sql
def test_sql_prints_a_count(published):
    with duckdb.connect(str(published.home / "analytics.duckdb"), read_only=True) as con:
        n = con.execute("select count(*) from marts.fct_propensity_labels").fetchone()[0]
    result = _cli(published.home, "sql", "select count(*) from marts.fct_propensity_labels")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"│\s*{n}\s*│", result.stdout), result.stdout


@pytest.mark.parametrize("statement", [
    "create table x(i int)",
    "insert into marts.fct_credit_labels select * from marts.fct_credit_labels",
    "drop table marts.fct_credit_labels",
])
def test_sql_refuses_writes(published, statement):
    before = (published.home / "analytics.duckdb").read_bytes()
    result = _cli(published.home, "sql", statement)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "read-only" in result.stderr, result.stderr
    assert (published.home / "analytics.duckdb").read_bytes() == before


def test_sql_reaches_no_other_file(published):
    home = published.home
    for statement in (f"select count(*) from {_raw(home, 'BOSS_USER')}",
                      f"attach '{home}/warehouse.duckdb' as wh (read_only)",
                      f"copy (select 1) to '{home}/out.csv'",
                      "set enable_external_access = true"):
        result = _cli(home, "sql", statement)
        assert result.returncode != 0, statement
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (home / "out.csv").exists()
    syntax = _cli(home, "sql", "selec 1")
    assert syntax.returncode != 0 and len(syntax.stderr.strip().splitlines()) == 1


def test_sql_prompt_reads_statements_from_stdin(published):
    script = ("select count(*) as n\n  from marts.fct_credit_labels;\n"
              "create table x (i int);\n"
              "select latest_batch from meta.published")  # the last one needs no semicolon before EOF
    result = _cli(published.home, "sql", stdin=script)
    with duckdb.connect(str(published.home / "analytics.duckdb"), read_only=True) as con:
        n = con.execute("select count(*) from marts.fct_credit_labels").fetchone()[0]
    assert re.search(rf"│\s*{n}\s*│", result.stdout), result.stdout
    assert "20260602" in result.stdout
    assert "read-only" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.returncode == 1  # a statement failed
    clean = _cli(published.home, "sql", stdin="select 42 as answer;\n")
    assert clean.returncode == 0 and "42" in clean.stdout


def test_timings(published):
    print("\n" + ", ".join(f"{k} {v:.1f} s" for k, v in published.seconds.items()))
