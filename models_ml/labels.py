"""The targets of spec section 6, read from the label marts (never recomputed here).

Each label query returns the user's pseudonym, the feature month the label joins to (`month_start_date` of
the customer view) and the label; only observable labels are returned.

- propensity: fct_propensity_labels, feature month = population_month M, label = stable 手机报 order in M+1.
- content: fct_content_labels, feature month = population_month M, one share column per category (M+1).
- credit: fct_credit_labels, feature month = the month before scoring_month (the end of J+1), label is_bad.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from models_ml.config import CATEGORIES

PROPENSITY_LABELS = """
    select user_pseudonym, population_month as month_start_date,
           cast(has_stable_newspaper_order as integer) as label
    from marts.fct_propensity_labels
    where is_label_observable
"""

CONTENT_LABELS = """
    select user_pseudonym, population_month as month_start_date,
           {shares}
    from marts.fct_content_labels
    where is_label_observable
    group by user_pseudonym, population_month
""".format(shares=",\n           ".join(
    f"max(case when content_category = '{c}' then category_share end) as share_{c.lower()}" for c in CATEGORIES))

CREDIT_LABELS = """
    select user_pseudonym, cast(scoring_month - interval 1 month as date) as month_start_date,
           cohort_month, credit_segment, cast(is_bad as integer) as label
    from marts.fct_credit_labels
    where is_label_observable
"""

CREDIT_COHORTS = """
    select user_pseudonym, cast(scoring_month - interval 1 month as date) as month_start_date,
           cohort_month, credit_segment
    from marts.fct_credit_labels
"""

SHARE_COLUMNS = tuple(f"share_{c.lower()}" for c in CATEGORIES)


class LabelError(RuntimeError):
    """A label mart is missing or holds no observable labels."""


def observable_months(con: duckdb.DuckDBPyConnection, label_sql: str, column: str = "month_start_date"
                      ) -> list[dt.date]:
    """Months (of `column`) that have observable labels, oldest first."""
    try:
        rows = con.execute(f"select distinct {column} from ({label_sql}) order by 1").fetchall()
    except duckdb.CatalogException as exc:
        raise LabelError(f"label mart missing: {str(exc).splitlines()[0]} (run vasmart build)") from None
    return [r[0] for r in rows]
