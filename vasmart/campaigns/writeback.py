"""Write-back (回填) of campaign lists to the campaign database: SQLite by default, PostgreSQL when
`VASMART_CAMPAIGN_DB_URL` is set.

The campaign database is what the operator's campaign execution reads: `campaign_run` (one row per
campaign and run date: what is offered, how the response is measured) and `target_list` (the list's rows,
pseudonyms only, TARGET and HOLDOUT). A write replaces the (campaign, run_date) in one transaction (delete,
then insert), so a rerun never duplicates and a failure leaves the previous version. Do-not-disturb users
are dropped at this door whatever the list says: `write_list` requires the current do-not-disturb set.

On PostgreSQL the tables live in the schema `VASMART_CAMPAIGN_DB_SCHEMA` (default `vasmart_campaigns`);
SQLite keeps them in `$VASMART_HOME/campaign.db`.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vasmart.config import Settings

URL_ENV = "VASMART_CAMPAIGN_DB_URL"
SCHEMA_ENV = "VASMART_CAMPAIGN_DB_SCHEMA"
DEFAULT_SCHEMA = "vasmart_campaigns"

RUN_COLUMNS = ["campaign", "run_date", "title", "purpose", "offer_kind", "conversion_kind", "conversion_match",
               "response_window_days", "holdout_share", "holdout_seed", "target_count", "holdout_count",
               "definition_sha256", "criteria", "built_at", "written_at"]
LIST_COLUMNS = ["campaign", "run_date", "user_pseudonym", "score", "rank", "reason_codes", "channel", "offer",
                "group"]

_DDL = """
CREATE TABLE IF NOT EXISTS {s}campaign_run (
    campaign VARCHAR(100) NOT NULL,
    run_date DATE NOT NULL,
    title VARCHAR(200),
    purpose VARCHAR(20),
    offer_kind VARCHAR(20),
    conversion_kind VARCHAR(30) NOT NULL,
    conversion_match VARCHAR(20),
    response_window_days INTEGER,
    holdout_share DOUBLE PRECISION,
    holdout_seed BIGINT,
    target_count BIGINT,
    holdout_count BIGINT,
    definition_sha256 VARCHAR(64),
    criteria TEXT,
    built_at TIMESTAMP,
    written_at TIMESTAMP NOT NULL,
    PRIMARY KEY (campaign, run_date)
);
CREATE TABLE IF NOT EXISTS {s}target_list (
    campaign VARCHAR(100) NOT NULL,
    run_date DATE NOT NULL,
    user_pseudonym VARCHAR(64) NOT NULL,
    score DOUBLE PRECISION,
    rank BIGINT NOT NULL,
    reason_codes TEXT,
    channel VARCHAR(20),
    offer VARCHAR(40),
    "group" VARCHAR(10) NOT NULL CHECK ("group" IN ('TARGET', 'HOLDOUT')),
    PRIMARY KEY (campaign, run_date, user_pseudonym)
)
"""


class WriteBackError(RuntimeError):
    """The campaign database refused or could not be reached (the message names it)."""


@dataclass(frozen=True)
class WriteResult:
    """What one write-back left in the campaign database."""

    campaign: str
    run_date: dt.date
    target_rows: int
    holdout_rows: int
    dropped_do_not_disturb: int
    database: str


@dataclass(frozen=True)
class CampaignDatabase:
    """Where lists are written back: a PostgreSQL URL (with a schema) or an SQLite file."""

    url: str | None
    sqlite_path: Path
    schema: str = DEFAULT_SCHEMA

    @classmethod
    def from_env(cls, settings: Settings) -> CampaignDatabase:
        """PostgreSQL when VASMART_CAMPAIGN_DB_URL is set, else $VASMART_HOME/campaign.db."""
        url = os.environ.get(URL_ENV) or None
        return cls(url, settings.home / "campaign.db", os.environ.get(SCHEMA_ENV) or DEFAULT_SCHEMA)

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    def describe(self) -> str:
        """Where the lists go, without credentials."""
        if not self.is_postgres:
            return f"sqlite {self.sqlite_path}"
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(self.url)
        return f"postgresql {info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')} " \
               f"schema {self.schema}"

    @property
    def _prefix(self) -> str:
        return f'"{self.schema}".' if self.is_postgres else ""

    @property
    def _mark(self) -> str:
        return "%s" if self.is_postgres else "?"

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction (committed on success, rolled back on any error), tables ensured."""
        try:
            if self.is_postgres:
                import psycopg

                conn = psycopg.connect(self.url, connect_timeout=10)
            else:
                self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.sqlite_path, isolation_level=None, timeout=30)
        except Exception as exc:  # noqa: BLE001 - psycopg.Error or sqlite3.Error, reported in one line
            raise WriteBackError(f"campaign database {self.describe()}: {str(exc).strip().splitlines()[0]}") from None
        try:
            cur = conn.cursor()
            if self.is_postgres:
                cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                for statement in _DDL.format(s=self._prefix).split(";"):
                    cur.execute(statement)
                conn.commit()
            else:
                cur.executescript(_DDL.format(s=""))
                cur.execute("BEGIN IMMEDIATE")
            yield cur
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.close()

    def write_list(self, run: dict, rows: pd.DataFrame, do_not_disturb: set[str]) -> WriteResult:
        """Replace the (campaign, run_date) list with `rows`, minus every do-not-disturb user, in one transaction."""
        keep = rows[~rows["user_pseudonym"].isin(do_not_disturb)]
        dropped = len(rows) - len(keep)
        now = dt.datetime.now().replace(microsecond=0)
        text = not self.is_postgres
        run_values = [_value({**run, "written_at": now}.get(c), text) for c in RUN_COLUMNS]
        list_values = [tuple(_value(v, text) for v in row) for row in keep[LIST_COLUMNS].itertuples(index=False)]
        m, p = self._mark, self._prefix
        key = [_value(run["campaign"], text), _value(run["run_date"], text)]
        with self.transaction() as cur:
            cur.execute(f"DELETE FROM {p}target_list WHERE campaign = {m} AND run_date = {m}", key)
            cur.execute(f"DELETE FROM {p}campaign_run WHERE campaign = {m} AND run_date = {m}", key)
            cur.execute(f"INSERT INTO {p}campaign_run ({', '.join(RUN_COLUMNS)}) "
                        f"VALUES ({', '.join([m] * len(RUN_COLUMNS))})", run_values)
            if list_values:
                columns = ", ".join('"group"' if c == "group" else c for c in LIST_COLUMNS)
                cur.executemany(f"INSERT INTO {p}target_list ({columns}) "
                                f"VALUES ({', '.join([m] * len(LIST_COLUMNS))})", list_values)
        groups = keep["group"].value_counts()
        return WriteResult(run["campaign"], run["run_date"], int(groups.get("TARGET", 0)),
                           int(groups.get("HOLDOUT", 0)), dropped, self.describe())

    def read_lists(self, since: dt.date | None = None) -> pd.DataFrame:
        """Every written-back list row (with its run's conversion kind and window), run dates from `since` on."""
        m, p = self._mark, self._prefix
        sql = (f'SELECT t.campaign, t.run_date, t.user_pseudonym, t.score, t.rank, t.channel, t.offer, t."group", '
               f"r.offer_kind, r.conversion_kind, r.conversion_match, r.response_window_days "
               f"FROM {p}target_list t JOIN {p}campaign_run r "
               f"ON t.campaign = r.campaign AND t.run_date = r.run_date "
               f"WHERE t.run_date >= {m} ORDER BY t.campaign, t.run_date, t.rank")
        with self.transaction() as cur:
            cur.execute(sql, [_value(since or dt.date(1900, 1, 1), not self.is_postgres)])
            names = [c[0] for c in cur.description]
            frame = pd.DataFrame(cur.fetchall(), columns=names)
        frame["run_date"] = pd.to_datetime(frame["run_date"]).dt.date
        return frame


def _value(value: Any, text_dates: bool) -> Any:
    """A Python value for the driver: numpy scalars unwrapped, dates as ISO text for SQLite."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if text_dates and isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if text_dates and isinstance(value, dt.date):
        return value.isoformat()
    return value
