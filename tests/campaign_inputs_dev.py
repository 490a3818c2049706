"""Stand-ins for the customer view and the model scores, built in a test's copy of the shared home.

`marts.dim_subscriber` and `marts.fct_model_scores` are built on other branches; until they are merged, the
campaign tests create tables with the contracts' names and columns (shared/contracts.md) from honest
sources in the same warehouse:

- `marts.dim_subscriber`: the current version of every user in `intermediate.int_users_historized`, the
  current handset of `int_user_handsets_historized` described by `int_handset_tacs_deduplicated`, the
  region's capital flag from the latest REF_REGION snapshot;
- `marts.fct_model_scores`: the generator's ground truth as the "model": propensity = the true probability
  of a stable 手机报 order in the next month (truth/propensity_<M>.csv of the latest month M), content = the
  true category preferences (truth/content_<M>.csv, top category and ranking), credit = the true probability
  of "bad" of every cohort (truth/credit_<J>.csv) graded A..E.

Once the real marts are merged, `create_dev_inputs` goes: the tests read the tables the pipeline builds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from vasmart.dbt_plugin import register

CREDIT_GRADES = "case when p < 0.05 then 'A' when p < 0.10 then 'B' when p < 0.20 then 'C' when p < 0.40 then 'D' else 'E' end"


def _latest(truth: Path, prefix: str) -> Path:
    files = sorted(truth.glob(f"{prefix}_*.csv"))
    if not files:
        raise FileNotFoundError(f"no {prefix}_*.csv under {truth}")
    return files[-1]


def create_dev_inputs(home: Path, key: str, batch_date: dt.date | None = None) -> dt.date:
    """Create marts.fct_model_scores in home's warehouse from the truth probabilities; returns the scores' batch date."""
    truth = home / "truth"
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        register(con, key.encode())
        if batch_date is None:
            batch_date = con.execute("select max(batch_date) from staging.stg_boss__users").fetchone()[0]
        con.execute("create schema if not exists marts")
        propensity = _latest(truth, "propensity")
        content = _latest(truth, "content")
        month = dt.datetime.strptime(propensity.stem.split("_")[1], "%Y%m").date()
        credit_files = [str(p) for p in sorted(truth.glob("credit_*.csv"))]
        con.execute("""
            create or replace table marts.fct_model_scores as
            with propensity as (
                select 'propensity' as model_name, vasmart_pseudonym(cast(user_id as varchar)) as user_pseudonym,
                       p as score, null::varchar as grade, null::varchar as top_category,
                       null::varchar as category_ranking, '["truth:p"]' as reason_codes
                from read_csv(?, header = true, columns = {'user_id': 'BIGINT', 'p': 'DOUBLE'})
            ), content_rows as (
                select user_id, category, weight,
                       row_number() over (partition by user_id order by weight desc, category) as position
                from read_csv(?, header = true, columns = {'user_id': 'BIGINT', 'category': 'VARCHAR', 'weight': 'DOUBLE'})
            ), content as (
                select 'content' as model_name, vasmart_pseudonym(cast(user_id as varchar)) as user_pseudonym,
                       max(weight) as score, null::varchar as grade,
                       min(case when position = 1 then category end) as top_category,
                       string_agg(category, ',' order by position) as category_ranking,
                       '["truth:preference"]' as reason_codes
                from content_rows group by user_id
            ), credit as (
                select 'credit' as model_name, vasmart_pseudonym(cast(user_id as varchar)) as user_pseudonym,
                       p as score, """ + CREDIT_GRADES + """ as grade, null::varchar as top_category,
                       null::varchar as category_ranking, '["truth:p_bad"]' as reason_codes
                from read_csv(?, header = true, columns = {'user_id': 'BIGINT', 'p': 'DOUBLE'})
            ), scores as (
                select * from propensity union all select * from content union all select * from credit
            )
            select model_name, 'dev-truth' as model_version, ?::date as batch_date, ?::date as feature_month,
                   user_pseudonym, score,
                   row_number() over (partition by model_name order by score desc, user_pseudonym) as score_rank,
                   grade, top_category, category_ranking, reason_codes,
                   cast(?::date as timestamp) as scored_at
            from scores
        """, [str(propensity), str(content), credit_files, batch_date, month, batch_date])
    finally:
        con.close()
    return batch_date
