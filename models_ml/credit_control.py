"""OCS real-time credit control (信控): the one rule that the model package and the campaigns apply.

Entry: a user whose latest credit grade is D or E (`CONTROL_GRADES`) and who is not under control enters. A
user released earlier enters again only on a grade given after the release (the same grade does not put
them back).
Exit: a user under control leaves once their bills since entering were paid on time for `exit_after_months`
consecutive calendar months, up to the latest billed month (`ModelSettings.credit_exit_months`, set with
`VASMART_CREDIT_EXIT_MONTHS`, default 3). A bill is paid on time when it carries no arrears and no overdue
days; a late bill, or a month without a bill, starts the count again. A bill counts from the first month
that ends after the user entered.

`months_paid_on_time()` and `decide()` are the rule on plain frames. `bill_payments()` reads each month's
bill (BOSS_BILL) by pseudonym. `credit_control_list()` applies the rule to the credit model's grades, a user
entering in the month the grade applies from; `vasmart campaigns` (the credit-control list) applies it to
who its earlier runs put under control.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from models_ml.config import SCORES_TABLE, ModelSettings
from models_ml.features import add_months

CONTROL_GRADES = ("D", "E")
ENTER, EXIT = "ENTER", "EXIT"
IN_CONTROL, EXITED = "IN_CONTROL", "EXITED"
# Bills per user and month, and the bridge from BOSS user_id to the pseudonym (the campaigns' current users).
BILLS = "staging.stg_boss__bills"
USERS = "intermediate.int_campaign_users"
DECISION_COLUMNS = ["user_pseudonym", "grade", "graded_on", "was_under_control", "entered_on",
                    "months_paid_on_time", "action", "status"]


def first_counted_month(entered_on: dt.date) -> dt.date:
    """The first bill month that counts for a user who entered on `entered_on`: the first month ending after it."""
    month = dt.date(entered_on.year, entered_on.month, 1)
    return add_months(month, 1) if add_months(month, 1) - dt.timedelta(days=1) == entered_on else month


def months_paid_on_time(entered: pd.DataFrame, payments: pd.DataFrame, last_bill_month: dt.date) -> pd.Series:
    """Per user, the run of consecutive months paid on time that ends at `last_bill_month`, counting only months
    from the first one that ends after the user entered.

    entered: user_pseudonym, entered_on (date). payments: user_pseudonym, month_start_date (first day),
    paid_on_time (bool). Returns an int Series indexed like `entered`.
    """
    on_time: dict[str, set[dt.date]] = {}
    if len(payments):
        paid = payments[payments["paid_on_time"].astype(bool)]
        for user, months in paid.groupby("user_pseudonym")["month_start_date"]:
            on_time[user] = set(months)
    out = np.zeros(len(entered), dtype="int64")
    for i, (user, entered_on) in enumerate(entered[["user_pseudonym", "entered_on"]].itertuples(index=False)):
        months = on_time.get(user)
        if not months or pd.isna(entered_on):
            continue
        first = first_counted_month(pd.Timestamp(entered_on).date())
        month, run = last_bill_month, 0
        while month >= first and month in months:
            run += 1
            month = add_months(month, -1)
        out[i] = run
    return pd.Series(out, index=entered.index)


def decide(grades: pd.DataFrame, state: pd.DataFrame, payments: pd.DataFrame, exit_after_months: int,
           last_bill_month: dt.date | None) -> pd.DataFrame:
    """Who enters and who leaves credit control.

    grades: user_pseudonym, grade, graded_on (date of the latest grade).
    state: user_pseudonym, under_control (bool), since (date of the user's latest entry or exit).
    payments: user_pseudonym, month_start_date, paid_on_time, one row per bill.
    last_bill_month: the latest month billed (None before the first bill: no one leaves).
    Returns one row per user graded D/E or under control: the grade, whether they were under control,
    entered_on (entry date, today's `graded_on` for a new entry), months_paid_on_time, action ENTER, EXIT or
    None, and status after the decision (IN_CONTROL or EXITED).
    """
    if exit_after_months < 1:
        raise ValueError("exit_after_months must be at least 1")
    frame = grades[["user_pseudonym", "grade", "graded_on"]].merge(
        state[["user_pseudonym", "under_control", "since"]], on="user_pseudonym", how="outer")
    under = frame["under_control"].astype("boolean").fillna(False).astype(bool)
    graded_after = frame["since"].isna() | (pd.to_datetime(frame["graded_on"]) > pd.to_datetime(frame["since"]))
    enter = frame["grade"].isin(CONTROL_GRADES) & ~under & graded_after
    frame = frame[enter | under].copy()
    enter, under = enter[frame.index], under[frame.index]
    frame["was_under_control"] = under
    frame["entered_on"] = np.where(under, frame["since"], frame["graded_on"])
    frame["entered_on"] = pd.to_datetime(frame["entered_on"]).dt.date
    # before any bill is delivered no month counts as paid on time: users enter, nobody leaves yet
    frame["months_paid_on_time"] = (np.where(under, months_paid_on_time(frame, payments, last_bill_month), 0)
                                    if last_bill_month is not None else 0)
    leave = under & (frame["months_paid_on_time"] >= exit_after_months)
    frame["action"] = np.where(enter, ENTER, np.where(leave, EXIT, None))
    frame["status"] = np.where(leave, EXITED, IN_CONTROL)
    return frame[DECISION_COLUMNS].sort_values("user_pseudonym").reset_index(drop=True)


def bill_payments(con: duckdb.DuckDBPyConnection, users: list[str] | None = None) -> pd.DataFrame:
    """Every bill as (user_pseudonym, month_start_date, paid_on_time), for `users` only when given."""
    where = ""
    if users is not None:
        con.register("credit_control_users", pd.DataFrame({"user_pseudonym": list(users)}, dtype="object"))
        where = "where u.user_pseudonym in (select user_pseudonym from credit_control_users)"
    frame = con.execute(f"""
        select u.user_pseudonym, cast(strptime(b.bill_month || '01', '%Y%m%d') as date) as month_start_date,
               coalesce(b.arrears_fen, 0) = 0 and coalesce(b.overdue_days, 0) = 0 as paid_on_time
        from {BILLS} b inner join {USERS} u on b.user_id = u.user_id
        {where}
    """).df()
    if users is not None:
        con.unregister("credit_control_users")
    frame["month_start_date"] = pd.to_datetime(frame["month_start_date"]).dt.date
    return frame


def last_bill_month(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The latest month any bill was delivered for (first day); None before the first bill is delivered."""
    month = con.execute(f"select max(bill_month) from {BILLS}").fetchone()[0]
    if month is None:
        return None
    return dt.datetime.strptime(str(month), "%Y%m").date()


def latest_grades(con: duckdb.DuckDBPyConnection, on_or_before: dt.date | None = None) -> pd.DataFrame:
    """Each user's latest credit grade in the scores mart: user_pseudonym, grade, score, graded_on (batch date),
    feature_month."""
    where = "and batch_date <= ?" if on_or_before is not None else ""
    frame = con.execute(f"""
        select user_pseudonym, arg_max(grade, batch_date) as grade, arg_max(score, batch_date) as score,
               max(batch_date) as graded_on, arg_max(feature_month, batch_date) as feature_month
        from {SCORES_TABLE} where model_name = 'credit' {where}
        group by user_pseudonym
    """, [on_or_before] if on_or_before is not None else []).df()
    for column in ("graded_on", "feature_month"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def credit_control_list(con: duckdb.DuckDBPyConnection, settings: ModelSettings,
                        exit_after_months: int | None = None) -> pd.DataFrame:
    """Every user the credit model graded D or E, under control from the month their grade applies from
    (the month after its feature month), with their status now: IN_CONTROL or EXITED."""
    grades = latest_grades(con)
    risky = grades[grades["grade"].isin(CONTROL_GRADES)].copy()
    risky["under_control"] = True
    risky["since"] = [add_months(m, 1) for m in risky["feature_month"]]
    months = exit_after_months if exit_after_months is not None else settings.credit_exit_months
    payments = bill_payments(con, risky["user_pseudonym"].tolist())
    decided = decide(risky, risky, payments, months, last_bill_month(con))
    return decided.drop(columns=["was_under_control", "action"])
