"""OCS real-time credit control (the operator's rule for new users' negative credit).

A new user graded D or E by the credit model enters credit control from the scoring month (J+2). They
leave it once they have paid on time for `exit_after_months` consecutive calendar months from then on
(configurable, `ModelSettings.credit_exit_months`); a late bill, or a month without a bill, starts the
count again. `decide()` is the rule on plain frames; `credit_control_list()` applies it to the latest
credit grades in marts.fct_model_scores and the bills' overdue days in the features table.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from models_ml.config import SCORES_TABLE, ModelSettings
from models_ml.features import add_months, quote, table_columns

CONTROL_GRADES = ("D", "E")
# The customer-view column saying how many days the month's bill was overdue (0 = paid on time).
OVERDUE_COLUMN = "overdue_days"
IN_CONTROL, EXITED = "IN_CONTROL", "EXITED"


def decide(grades: pd.DataFrame, payments: pd.DataFrame, exit_after_months: int, as_of: dt.date) -> pd.DataFrame:
    """Who is under credit control at the end of `as_of`.

    grades: user_pseudonym, grade, entered_month (the month the grade applies from, first day).
    payments: user_pseudonym, month_start_date, paid_on_time (bool), one row per bill month.
    Returns one row per user graded D or E: user_pseudonym, grade, entered_month, months_paid_on_time (the
    current run of on-time months), status IN_CONTROL or EXITED, exit_month (first month out, or None).
    """
    if exit_after_months < 1:
        raise ValueError("exit_after_months must be at least 1")
    entering = grades[grades["grade"].isin(CONTROL_GRADES)]
    by_user = {u: g for u, g in payments.groupby("user_pseudonym")} if len(payments) else {}
    rows = []
    for user, grade, entered in entering[["user_pseudonym", "grade", "entered_month"]].itertuples(index=False):
        paid = by_user.get(user)
        on_time = set() if paid is None else set(paid.loc[paid["paid_on_time"].astype(bool), "month_start_date"])
        run, exit_month, month = 0, None, entered
        while month <= as_of:
            run = run + 1 if month in on_time else 0
            if run >= exit_after_months:
                exit_month = add_months(month, 1)
                break
            month = add_months(month, 1)
        rows.append({"user_pseudonym": user, "grade": grade, "entered_month": entered, "months_paid_on_time": run,
                     "status": EXITED if exit_month is not None else IN_CONTROL,
                     "exit_month": exit_month})
    columns = ["user_pseudonym", "grade", "entered_month", "months_paid_on_time", "status", "exit_month"]
    return pd.DataFrame(rows, columns=columns).sort_values("user_pseudonym").reset_index(drop=True)


def credit_control_list(con: duckdb.DuckDBPyConnection, settings: ModelSettings, as_of: dt.date | None = None,
                        exit_after_months: int | None = None) -> pd.DataFrame:
    """The credit-control decision for every user the credit model graded, as of a month (default: the latest
    complete month of the features table)."""
    table = settings.features_table
    names = {n for n, _ in table_columns(con, table)}
    if OVERDUE_COLUMN not in names:
        raise ValueError(f"features table {table} has no {OVERDUE_COLUMN} column: payment behaviour is unknown")
    complete = "where is_month_complete" if "is_month_complete" in names else ""
    if as_of is None:
        as_of = con.execute(f"select max(month_start_date) from {table} {complete}").fetchone()[0]
    grades = con.execute(f"""
        select user_pseudonym, arg_max(grade, batch_date) as grade,
               cast(arg_max(feature_month, batch_date) + interval 1 month as date) as entered_month
        from {SCORES_TABLE} where model_name = 'credit' group by user_pseudonym
    """).df()
    grades["entered_month"] = pd.to_datetime(grades["entered_month"]).dt.date
    payments = con.execute(f"""
        select f.user_pseudonym, f.month_start_date, coalesce(f.{quote(OVERDUE_COLUMN)}, 0) = 0 as paid_on_time
        from {table} f
        where f.user_pseudonym in (select user_pseudonym from {SCORES_TABLE} where model_name = 'credit'
                                   and grade in ('D', 'E'))
          and f.month_start_date <= DATE '{as_of.isoformat()}'
          {"and f.is_month_complete" if complete else ""}
    """).df()
    payments["month_start_date"] = pd.to_datetime(payments["month_start_date"]).dt.date
    months = exit_after_months if exit_after_months is not None else settings.credit_exit_months
    return decide(grades, payments, months, as_of)
