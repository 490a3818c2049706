"""Who is eligible for a campaign, with which score, offer and channel: the eligibility rules.

Each rule reads the warehouse as of the run (the public marts `dim_subscriber`, `fct_model_scores`,
`fct_handset_change` and the campaign intermediate models) and returns one row per eligible user:
`user_pseudonym, score, reason_codes (list), offer, offer_media, offer_product_line` and the keys the list is
ordered by. Suppressions (do-not-disturb, status, holders, credit risk, contact cap) come after, in
`suppression.py`, so that every removal is counted with its reason.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from models_ml.config import credit_exit_months
from models_ml.credit_control import ENTER, EXIT, bill_payments, decide, last_bill_month, latest_grades
from vasmart.campaigns.config import CampaignDefinition

# The tables campaigns read (public marts under contract, and the campaign intermediate models).
DIM_SUBSCRIBER = "marts.dim_subscriber"
MODEL_SCORES = "marts.fct_model_scores"
HANDSET_CHANGES = "marts.fct_handset_change"
USERS = "intermediate.int_campaign_users"
SERVICES = "intermediate.int_campaign_services"
HOLDINGS = "intermediate.int_campaign_service_holdings"
PLAN_TIERS = "intermediate.int_campaign_plan_tiers"
GPRS_USE = "intermediate.int_campaign_gprs_use"
TERMINAL_FAILURES = "intermediate.int_campaign_terminal_failures"
BILLS = "staging.stg_boss__bills"

NEWSPAPER = "MOBILE_NEWSPAPER"
CONTROL_ENTER, CONTROL_EXIT, PAY_ARREARS = "OCS_CONTROL_ENTER", "OCS_CONTROL_EXIT", "PAY_ARREARS"
COLUMNS = ["user_pseudonym", "score", "reason_codes", "offer", "offer_media", "offer_product_line", "sort_key"]


class TargetingError(RuntimeError):
    """The warehouse lacks what a campaign needs (the message names the table or the campaign)."""


@dataclass
class RunContext:
    """What every rule of one run date may read: the connection and the catalogue, loaded once."""

    con: duckdb.DuckDBPyConnection
    run_date: dt.date

    def __post_init__(self):
        self.services = self.frame(f"select * from {SERVICES}")
        self._content: pd.DataFrame | None = None

    def frame(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """A query's result as a DataFrame, with a one-line error naming a missing table."""
        try:
            return self.con.execute(sql, params or []).df()
        except duckdb.CatalogException as exc:
            raise TargetingError(f"the warehouse lacks a table campaigns read: {str(exc).splitlines()[0]}") from None

    def latest_scores(self, model: str) -> pd.DataFrame:
        """The model's scores of the latest scoring batch on or before the run date."""
        return self.frame(f"""
            select user_pseudonym, score, reason_codes, grade, top_category, category_ranking
            from {MODEL_SCORES}
            where model_name = ? and batch_date = (
                select max(batch_date) from {MODEL_SCORES} where model_name = ? and batch_date <= ?)
        """, [model, model, self.run_date])

    @property
    def content(self) -> pd.DataFrame:
        """Content-preference rankings by user (latest scoring)."""
        if self._content is None:
            self._content = self.latest_scores("content")[["user_pseudonym", "category_ranking"]]
        return self._content

    def editions(self) -> dict[str, str]:
        """Content category -> the 手机报 edition offered for it: the on-sale edition with the most holders."""
        s = self.services
        s = s[(s["product_line"] == NEWSPAPER) & s["is_on_sale"]]
        s = s.sort_values(["holder_count", "service_code"], ascending=[False, True])
        return dict(s.groupby("content_category", sort=False)["service_code"].first())

    def wap_services(self) -> dict[str, str]:
        """Content category -> the monthly WAP service offered for it (most holders)."""
        s = self.services
        s = s[(s["media"] == "WAP") & s["is_monthly"] & s["is_on_sale"]]
        s = s.sort_values(["holder_count", "service_code"], ascending=[False, True])
        return dict(s.groupby("content_category", sort=False)["service_code"].first())

    def service_attribute(self, column: str) -> dict[str, str]:
        """service_code -> an attribute of the catalogue."""
        return dict(zip(self.services["service_code"], self.services[column], strict=True))


def by_preference(rankings: pd.Series, choices: dict[str, str], fallback: str) -> pd.Series:
    """The first category of each user's ranking that has a choice; `fallback` without ranking or match."""
    def pick(ranking: object) -> str:
        if isinstance(ranking, str):
            for category in ranking.split(","):
                if category in choices:
                    return choices[category]
        return fallback
    return rankings.map(pick)


def _most_held(choices: dict[str, str], services: pd.DataFrame) -> str:
    held = services.set_index("service_code")["holder_count"]
    return max(choices.values(), key=lambda code: (held.get(code, 0), code))


def _reasons(*parts: object) -> list[str]:
    """Reason codes: model reasons (a JSON array) and rule reasons, in order, without empties."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str) and part.startswith("["):
            out.extend(str(x) for x in json.loads(part))
        elif isinstance(part, list):
            out.extend(str(x) for x in part)
        elif part:
            out.append(str(part))
    return out


def _finish(frame: pd.DataFrame, ctx: RunContext) -> pd.DataFrame:
    media = ctx.service_attribute("media")
    lines = ctx.service_attribute("product_line")
    frame = frame.copy()
    frame["offer_media"] = frame["offer"].map(media)
    frame["offer_product_line"] = frame["offer"].map(lines)
    return frame[COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------- rules
def newspaper_propensity(ctx: RunContext, d: CampaignDefinition) -> pd.DataFrame:
    """Users scored by the 手机报 propensity model (NORMAL, no 手机报 at the feature month's end), MMS-capable."""
    scores = ctx.latest_scores("propensity")[["user_pseudonym", "score", "reason_codes"]]
    subscribers = ctx.frame(f"select user_pseudonym, has_mms from {DIM_SUBSCRIBER}")
    frame = scores.merge(subscribers, on="user_pseudonym", how="inner")
    if d.params["require_mms"]:
        frame = frame[frame["has_mms"].fillna(False).astype(bool)]
    frame = frame.merge(ctx.content, on="user_pseudonym", how="left")
    editions = ctx.editions()
    if not editions:
        raise TargetingError(f"{d.name}: no 手机报 edition on sale in the service catalogue")
    frame["offer"] = by_preference(frame["category_ranking"], editions, _most_held(editions, ctx.services))
    edition_category = {code: cat for cat, code in editions.items()}
    frame["reason_codes"] = [_reasons(r, f"edition:{edition_category.get(o, o)}")
                             for r, o in zip(frame["reason_codes"], frame["offer"], strict=True)]
    frame["sort_key"] = -frame["score"]
    return _finish(frame, ctx)


def handset_upgrade(ctx: RunContext, d: CampaignDefinition) -> pd.DataFrame:
    """Stable handset changes (7+ consecutive days) in the lookback whose new handset can do what the user lacks."""
    since = ctx.run_date - dt.timedelta(days=d.params["lookback_days"] - 1)
    changes = ctx.frame(f"""
        select user_pseudonym, arg_max(new_has_mms, change_date) as new_has_mms,
               arg_max(new_has_wap, change_date) as new_has_wap, arg_max(old_has_mms, change_date) as old_has_mms,
               arg_max(old_has_wap, change_date) as old_has_wap, max(change_date) as change_date
        from {HANDSET_CHANGES}
        where change_date between ? and ? and stable_date <= ?
        group by user_pseudonym
    """, [since, ctx.run_date, ctx.run_date])
    held = holdings_by_user(ctx)
    lines = ctx.service_attribute("product_line")
    holds_newspaper = set(held.loc[held["service_code"].map(lines) == NEWSPAPER, "user_pseudonym"])
    monthly_wap = set(ctx.services.loc[(ctx.services["media"] == "WAP") & ctx.services["is_monthly"], "service_code"])
    holds_wap = set(held.loc[held["service_code"].isin(monthly_wap), "user_pseudonym"])
    frame = changes.merge(ctx.content, on="user_pseudonym", how="left")
    prop = ctx.latest_scores("propensity")[["user_pseudonym", "score", "reason_codes"]]
    frame = frame.merge(prop, on="user_pseudonym", how="left")
    editions, wap = ctx.editions(), ctx.wap_services()
    if not editions:
        raise TargetingError(f"{d.name}: no 手机报 edition on sale in the service catalogue")
    newspaper_offer = by_preference(frame["category_ranking"], editions, _most_held(editions, ctx.services))
    wap_offer = (by_preference(frame["category_ranking"], wap, _most_held(wap, ctx.services)) if wap
                 else pd.Series([None] * len(frame), index=frame.index, dtype=object))
    mms = frame["new_has_mms"].fillna(False).astype(bool)
    wap_capable = frame["new_has_wap"].fillna(False).astype(bool) & wap_offer.notna()
    lacks_newspaper = ~frame["user_pseudonym"].isin(holds_newspaper)
    lacks_wap = ~frame["user_pseudonym"].isin(holds_wap)
    # the MMS path (手机报) first, then the WAP path; a user lacking neither keeps the offer of the best
    # capability, to be suppressed as its holder (and counted)
    frame["offer"] = np.select(
        [mms & lacks_newspaper, wap_capable & lacks_wap, mms, wap_capable],
        [newspaper_offer, wap_offer, newspaper_offer, wap_offer], default=None)
    frame = frame[frame["offer"].notna()]
    frame["score"] = frame["score"].fillna(0.0)
    frame["reason_codes"] = [
        _reasons(r if isinstance(r, str) else None, f"handset_change:{pd.Timestamp(c):%Y-%m-%d}",
                 "gained:MMS" if m and not om else None, "gained:WAP" if w and not ow else None)
        for r, c, m, om, w, ow in zip(frame["reason_codes"], frame["change_date"], frame["new_has_mms"],
                                      frame["old_has_mms"].fillna(False), frame["new_has_wap"],
                                      frame["old_has_wap"].fillna(False), strict=True)]
    frame["sort_key"] = -frame["score"]
    return _finish(frame, ctx)


def gprs_overflow(ctx: RunContext, d: CampaignDefinition) -> pd.DataFrame:
    """Data use beyond the quota (or without a package) in the latest usage month: the next tier is offered."""
    frame = ctx.frame(f"""
        select u.user_pseudonym, g.overflow_mb as score, g.gprs_mb, g.gprs_quota_mb, g.plan_code,
               g.next_plan_code as offer, g.has_no_data_package, g.month_start_date
        from {GPRS_USE} g
        inner join {USERS} u on g.user_id = u.user_id
        where g.overflow_mb >= ? and g.next_plan_code is not null
    """, [d.params["min_overflow_mb"]])
    frame["reason_codes"] = [
        _reasons(f"data_mb:{mb:.0f}", "no_data_package" if none else f"quota_mb:{quota}", f"plan:{plan}",
                 f"usage_month:{month:%Y-%m}")
        for mb, quota, plan, none, month in zip(frame["gprs_mb"], frame["gprs_quota_mb"], frame["plan_code"],
                                                frame["has_no_data_package"], frame["month_start_date"], strict=True)]
    frame["sort_key"] = -frame["score"]
    frame = frame.assign(offer_media=None, offer_product_line=None)
    return frame[COLUMNS].reset_index(drop=True)


def mms_recapture(ctx: RunContext, d: CampaignDefinition) -> pd.DataFrame:
    """Repeated TERMINAL failures of an MMS service in the lookback, an MMS-capable handset now: that service back."""
    since = ctx.run_date - dt.timedelta(days=d.params["lookback_days"] - 1)
    failures = ctx.frame(f"""
        with counted as (
            select u.user_pseudonym, f.service_code, sum(f.failure_count) as failures,
                   max(f.last_failed_at) as last_failed_at
            from {TERMINAL_FAILURES} f
            inner join {SERVICES} s on f.service_code = s.service_code and s.media = 'MMS' and s.is_on_sale
            inner join {USERS} u on f.user_id = u.user_id
            where f.failure_date between ? and ?
            group by u.user_pseudonym, f.service_code
        )
        select user_pseudonym, arg_max(service_code, (failures, last_failed_at)) as offer,
               cast(max(failures) as double) as score, max(last_failed_at) as last_failed_at
        from counted
        group by user_pseudonym
        having max(failures) >= ?
    """, [since, ctx.run_date, d.params["min_terminal_failures"]])
    capable = ctx.frame(f"select user_pseudonym from {DIM_SUBSCRIBER} where has_mms")
    frame = failures[failures["user_pseudonym"].isin(set(capable["user_pseudonym"]))].copy()
    frame["reason_codes"] = [_reasons(f"terminal_failures:{int(n)}", f"last_failure:{t:%Y-%m-%d}", "mms_handset_now")
                             for n, t in zip(frame["score"], frame["last_failed_at"], strict=True)]
    frame["sort_key"] = -frame["score"]
    return _finish(frame, ctx)


def credit_control(ctx: RunContext, d: CampaignDefinition) -> pd.DataFrame:
    """Entries into and exits from OCS credit control, by the rule of `models_ml.credit_control`: grades D/E
    not under control enter; users under control since an earlier run leave after the configured number of
    months paid on time (`VASMART_CREDIT_EXIT_MONTHS`)."""
    state = control_state(ctx, d.name)
    state = pd.DataFrame({"user_pseudonym": state["user_pseudonym"],
                          "under_control": state["last_action"] == CONTROL_ENTER,
                          "since": state["last_action_date"]})
    try:
        grades = latest_grades(ctx.con, ctx.run_date)
        controlled = state.loc[state["under_control"], "user_pseudonym"].tolist()
        payments = bill_payments(ctx.con, controlled)
        billed_through = last_bill_month(ctx.con)
    except duckdb.CatalogException as exc:
        raise TargetingError(f"the warehouse lacks a table campaigns read: {str(exc).splitlines()[0]}") from None
    decided = decide(grades, state, payments, credit_exit_months(), billed_through)
    frame = decided[decided["action"].notna()].merge(grades[["user_pseudonym", "score"]], on="user_pseudonym",
                                                     how="left")
    frame["offer"] = [CONTROL_ENTER if a == ENTER else CONTROL_EXIT for a in frame["action"]]
    frame["score"] = frame["score"].fillna(0.0)
    frame["reason_codes"] = [
        _reasons(f"grade:{g}" if isinstance(g, str) else None,
                 f"on_time_months:{int(n)}" if a == EXIT else None)
        for g, n, a in zip(frame["grade"], frame["months_paid_on_time"], frame["action"], strict=True)]
    frame["sort_key"] = -frame["score"]
    frame = frame.assign(offer_media=None, offer_product_line=None)
    return frame[COLUMNS].reset_index(drop=True)


def arrears_collection(ctx: RunContext, d: CampaignDefinition) -> pd.DataFrame:
    """Arrears past due on the latest bill, largest amount first, then the worse credit grade."""
    frame = ctx.frame(f"""
        with latest as (
            select max(bill_month) as bill_month from {BILLS}
        )
        select u.user_pseudonym, b.arrears_fen, b.overdue_days, b.bill_month
        from {BILLS} b
        inner join latest on b.bill_month = latest.bill_month
        inner join {USERS} u on b.user_id = u.user_id
        where b.arrears_fen >= ? and b.overdue_days >= ?
    """, [d.params["min_arrears_fen"], d.params["min_overdue_days"]])
    grades = ctx.frame(f"""
        select user_pseudonym, arg_max(grade, batch_date) as grade
        from {MODEL_SCORES} where model_name = 'credit' and batch_date <= ? group by user_pseudonym
    """, [ctx.run_date])
    frame = frame.merge(grades, on="user_pseudonym", how="left")
    frame["score"] = frame["arrears_fen"] / 100.0
    frame["offer"] = PAY_ARREARS
    frame["reason_codes"] = [
        _reasons(f"arrears_fen:{a}", f"overdue_days:{o}", f"bill_month:{m}",
                 f"grade:{g}" if isinstance(g, str) else None)
        for a, o, m, g in zip(frame["arrears_fen"], frame["overdue_days"], frame["bill_month"], frame["grade"],
                              strict=True)]
    # largest amount first; on equal amounts the worse grade (E before A, unknown last)
    grade_order = frame["grade"].map({"E": 0, "D": 1, "C": 2, "B": 3, "A": 4}).fillna(5)
    frame["sort_key"] = list(zip(-frame["arrears_fen"], grade_order, strict=True))
    frame = frame.assign(offer_media=None, offer_product_line=None)
    return frame[COLUMNS].reset_index(drop=True)


RULE_FUNCTIONS: dict[str, Callable[[RunContext, CampaignDefinition], pd.DataFrame]] = {
    "newspaper_propensity": newspaper_propensity,
    "handset_upgrade": handset_upgrade,
    "gprs_overflow": gprs_overflow,
    "mms_recapture": mms_recapture,
    "credit_control": credit_control,
    "arrears_collection": arrears_collection,
}


def eligible(ctx: RunContext, d: CampaignDefinition) -> pd.DataFrame:
    """The campaign's eligible users, one row each, before suppressions."""
    frame = RULE_FUNCTIONS[d.rule](ctx, d)
    return frame.drop_duplicates("user_pseudonym").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------- shared reads
def holdings_by_user(ctx: RunContext) -> pd.DataFrame:
    """(user_pseudonym, service_code) of every subscription held now."""
    return ctx.frame(f"""
        select u.user_pseudonym, h.service_code
        from {HOLDINGS} h inner join {USERS} u on h.user_id = u.user_id
    """)


def control_state(ctx: RunContext, campaign: str) -> pd.DataFrame:
    """Per user, the latest credit-control action of earlier runs (ENTER = under control) and its date."""
    return ctx.frame("""
        select user_pseudonym, arg_max(offer, run_date) as last_action, max(run_date) as last_action_date
        from campaigns.target_list
        where campaign = ? and run_date < ? and "group" = 'TARGET'
        group by user_pseudonym
    """, [campaign, ctx.run_date])
