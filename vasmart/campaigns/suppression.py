"""Suppressions: every user removed from a campaign's eligible set, counted under one reason, in a fixed order.

1. `unknown_subscriber`   not in the customer view (nothing to check their status or consent against)
2. `do_not_disturb`       免打扰, in the customer view or in the latest BOSS snapshot: every campaign, always
3. `cancelled`            销户: every campaign, always
4. `suspended`            停机, unless the campaign lists SUSPENDED among its statuses
5. `holds_offered_product` current holders of what is offered (a 手机报 reader holds every edition)
6. `credit_risk`          credit grade D or E, from promotional offers only
7. `contact_cap`          already contacted `max_contacts` times in the cap's window (campaigns that contact)

A user removed by an earlier step is not counted again by a later one, so the counts add up to the funnel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from models_ml.credit_control import CONTROL_GRADES
from vasmart.campaigns.config import CampaignDefinition
from vasmart.campaigns.targeting import (
    DIM_SUBSCRIBER,
    NEWSPAPER,
    PLAN_TIERS,
    USERS,
    RunContext,
    holdings_by_user,
)

RISKY_GRADES = CONTROL_GRADES  # the grades that enter OCS credit control are never offered promotions
STEPS = ("unknown_subscriber", "do_not_disturb", "cancelled", "suspended", "holds_offered_product", "credit_risk",
         "contact_cap")


@dataclass(frozen=True)
class Step:
    """One line of a campaign run's funnel."""

    step: str
    removed: int
    remaining: int


def _subscribers(ctx: RunContext) -> pd.DataFrame:
    """Status, consent, handset and plan per user: the customer view, with BOSS's latest consent and status."""
    view = ctx.frame(f"""
        select s.user_pseudonym, s.user_status, s.is_dnd or coalesce(u.is_dnd, false) as is_dnd,
               case when u.user_status = 'CANCELLED' then u.user_status else s.user_status end as status_now,
               s.plan_code, s.has_mms, s.has_wap
        from {DIM_SUBSCRIBER} s
        left join {USERS} u on s.user_pseudonym = u.user_pseudonym
    """)
    return view.set_index("user_pseudonym")


def holders_of_offer(ctx: RunContext, frame: pd.DataFrame, offer_kind: str) -> pd.Series:
    """True where the user already holds what the row offers."""
    if frame.empty:
        return pd.Series(dtype=bool)
    if offer_kind == "vas_service":
        held = holdings_by_user(ctx)
        lines = ctx.service_attribute("product_line")
        held["product_line"] = held["service_code"].map(lines)
        by_service = set(zip(held["user_pseudonym"], held["service_code"], strict=True))
        newspaper_readers = set(held.loc[held["product_line"] == NEWSPAPER, "user_pseudonym"])
        return pd.Series([
            (user, offer) in by_service or (line == NEWSPAPER and user in newspaper_readers)
            for user, offer, line in zip(frame["user_pseudonym"], frame["offer"], frame["offer_product_line"],
                                         strict=True)], index=frame.index)
    if offer_kind == "plan":
        quotas = ctx.frame(f"select plan_code, gprs_quota_mb from {PLAN_TIERS}").set_index("plan_code")["gprs_quota_mb"]
        current = ctx.frame(f"select user_pseudonym, plan_code from {DIM_SUBSCRIBER}").set_index("user_pseudonym")
        now = frame["user_pseudonym"].map(current["plan_code"]).map(quotas)
        return now.notna() & (now >= frame["offer"].map(quotas))
    return pd.Series(False, index=frame.index)


def risky_users(ctx: RunContext) -> set[str]:
    """Users whose latest credit grade (on or before the run date) is D or E."""
    grades = ctx.frame("""
        select user_pseudonym, arg_max(grade, batch_date) as grade
        from marts.fct_model_scores where model_name = 'credit' and batch_date <= ? group by user_pseudonym
    """, [ctx.run_date])
    return set(grades.loc[grades["grade"].isin(RISKY_GRADES), "user_pseudonym"])


def prior_contacts(ctx: RunContext, d: CampaignDefinition) -> pd.Series:
    """Contacts per user that count against this run's cap: TARGET rows of contacting campaigns in the window,
    earlier dates or the same date at a higher priority (so that a rerun of one campaign sees what it saw)."""
    assert d.contact_cap is not None
    since = ctx.run_date - dt.timedelta(days=d.contact_cap.window_days - 1)
    counts = ctx.frame("""
        select t.user_pseudonym, count(*) as contacts
        from campaigns.target_list t
        inner join campaigns.campaign_run r on t.campaign = r.campaign and t.run_date = r.run_date
        where t."group" = 'TARGET' and r.purpose <> 'control'
          and t.run_date between ? and ?
          and (t.run_date < ? or (r.priority, r.campaign) < (?, ?))
          and not (t.campaign = ? and t.run_date = ?)
        group by t.user_pseudonym
    """, [since, ctx.run_date, ctx.run_date, d.priority, d.name, d.name, ctx.run_date])
    return counts.set_index("user_pseudonym")["contacts"]


def suppress(ctx: RunContext, d: CampaignDefinition, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Step]]:
    """The rows that survive every suppression, and the funnel (eligible, then one line per step)."""
    funnel = [Step("eligible", 0, len(frame))]
    subscribers = _subscribers(ctx)
    known = frame["user_pseudonym"].isin(subscribers.index)

    def apply(name: str, remove: pd.Series) -> None:
        nonlocal frame
        remove = remove.reindex(frame.index, fill_value=False).astype(bool)
        frame = frame[~remove]
        funnel.append(Step(name, int(remove.sum()), len(frame)))

    apply("unknown_subscriber", ~known)
    info = subscribers.reindex(frame["user_pseudonym"])
    info.index = frame.index
    apply("do_not_disturb", info["is_dnd"].fillna(True).astype(bool))
    info = info.loc[frame.index]
    apply("cancelled", info["status_now"] == "CANCELLED")
    info = info.loc[frame.index]
    apply("suspended", (info["status_now"] == "SUSPENDED") & ("SUSPENDED" not in d.statuses))
    apply("holds_offered_product", holders_of_offer(ctx, frame, d.offer_kind))
    if d.purpose == "promotion":
        apply("credit_risk", frame["user_pseudonym"].isin(risky_users(ctx)))
    else:
        funnel.append(Step("credit_risk", 0, len(frame)))
    if d.contacts_users:
        contacts = frame["user_pseudonym"].map(prior_contacts(ctx, d)).fillna(0)
        apply("contact_cap", contacts >= d.contact_cap.max_contacts)
    else:
        funnel.append(Step("contact_cap", 0, len(frame)))
    return frame, funnel
