"""Building one campaign's list for a run date, and keeping it in the warehouse (schema `campaigns`).

eligible users (rule) -> suppressions (counted) -> the target rule (minimum score, top N) -> rank ->
holdout split (seeded, stratified by score band) -> `campaigns.target_list`, `campaigns.campaign_run`,
`campaigns.suppression_count`, replaced per (campaign, run_date) in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from vasmart.campaigns.config import CampaignDefinition
from vasmart.campaigns.holdout import HOLDOUT, TARGET, assign_groups, holdout_seed
from vasmart.campaigns.suppression import Step, suppress
from vasmart.campaigns.targeting import RunContext, eligible

LIST_COLUMNS = ["campaign", "run_date", "user_pseudonym", "score", "rank", "reason_codes", "channel", "offer",
                "group", "score_band"]


@dataclass
class CampaignList:
    """One campaign's list for a run date, with its funnel and the holdout's seed."""

    definition: CampaignDefinition
    run_date: dt.date
    rows: pd.DataFrame  # LIST_COLUMNS, ordered by rank
    funnel: list[Step]
    seed: int
    built_at: dt.datetime = field(default_factory=lambda: dt.datetime.now().replace(microsecond=0))

    def count(self, group: str) -> int:
        """Rows of a group (TARGET or HOLDOUT)."""
        return int((self.rows["group"] == group).sum())

    def run_record(self) -> dict:
        """The row of campaigns.campaign_run (and of the campaign database's campaign_run)."""
        d = self.definition
        return {
            "campaign": d.name, "run_date": self.run_date, "title": d.title, "goal": d.goal, "purpose": d.purpose,
            "priority": d.priority, "offer_kind": d.offer_kind, "conversion_kind": d.conversion,
            "conversion_match": d.conversion_match, "response_window_days": d.response_window_days,
            "holdout_share": d.holdout_share, "holdout_seed": self.seed, "score_bands": d.score_bands,
            "eligible_count": self.funnel[0].remaining, "target_count": self.count(TARGET),
            "holdout_count": self.count(HOLDOUT), "definition_sha256": d.sha256,
            "criteria": json.dumps(d.criteria(), ensure_ascii=False, sort_keys=True), "built_at": self.built_at,
        }


def choose_channel(d: CampaignDefinition, offer_media: object, has_mms: bool, has_wap: bool) -> str:
    """The offer's own media when preferred and the handset supports it, else the first preferred capability
    the handset has, else the campaign's default channel."""
    capable = {"MMS": has_mms, "WAP": has_wap}
    if offer_media in d.channel_prefer and capable.get(offer_media):
        return str(offer_media)
    for media in d.channel_prefer:
        if capable.get(media):
            return media
    return d.channel_default


def sticky_holdouts(ctx: RunContext, campaign: str) -> set[str]:
    """Users held out by earlier runs of the campaign: they stay held out."""
    rows = ctx.frame("""select distinct user_pseudonym from campaigns.target_list
                        where campaign = ? and run_date < ? and "group" = 'HOLDOUT'""", [campaign, ctx.run_date])
    return set(rows["user_pseudonym"])


def build_list(ctx: RunContext, d: CampaignDefinition) -> CampaignList:
    """The campaign's list for the context's run date (nothing is written)."""
    candidates = eligible(ctx, d)
    kept, funnel = suppress(ctx, d, candidates)
    if d.min_score is not None:
        kept = kept[kept["score"] >= d.min_score]
    order = sorted(range(len(kept)), key=lambda i: (kept["sort_key"].iat[i], kept["user_pseudonym"].iat[i]))
    ranked = kept.iloc[order]
    if d.top_n is not None:
        ranked = ranked.head(d.top_n)
    funnel.append(Step("below_target_rule", funnel[-1].remaining - len(ranked), len(ranked)))
    seed = holdout_seed(d.name, ctx.run_date)
    grouped = assign_groups(ranked, d.holdout_share, d.score_bands, seed, sticky_holdouts(ctx, d.name))
    funnel.append(Step("holdout", int((grouped["group"] == HOLDOUT).sum()), int((grouped["group"] == TARGET).sum())))
    handsets = ctx.frame("select user_pseudonym, has_mms, has_wap from marts.dim_subscriber").set_index("user_pseudonym")
    caps = handsets.reindex(grouped["user_pseudonym"]).fillna(False)
    grouped["channel"] = [choose_channel(d, m, bool(mms), bool(wap)) for m, mms, wap in
                          zip(grouped["offer_media"], caps["has_mms"], caps["has_wap"], strict=True)]
    grouped["campaign"] = d.name
    grouped["run_date"] = ctx.run_date
    grouped["rank"] = range(1, len(grouped) + 1)
    grouped["reason_codes"] = [json.dumps(r, ensure_ascii=False) for r in grouped["reason_codes"]]
    grouped["score"] = grouped["score"].astype(float)
    return CampaignList(d, ctx.run_date, grouped[LIST_COLUMNS].reset_index(drop=True), funnel, seed)


def store_list(con: duckdb.DuckDBPyConnection, result: CampaignList) -> None:
    """Replace the campaign's run of that date in the warehouse (run, list and funnel) in one transaction."""
    record = pd.DataFrame([result.run_record()])
    funnel = pd.DataFrame([{"campaign": result.definition.name, "run_date": result.run_date, "step_order": i,
                            "step": s.step, "removed_count": s.removed, "remaining_count": s.remaining}
                           for i, s in enumerate(result.funnel)])
    key = [result.definition.name, result.run_date]
    con.execute("begin transaction")
    try:
        for table in ("target_list", "suppression_count", "campaign_run"):
            con.execute(f"delete from campaigns.{table} where campaign = ? and run_date = ?", key)
        con.register("run_record", record)
        con.register("list_rows", result.rows)
        con.register("funnel_rows", funnel)
        con.execute("insert into campaigns.campaign_run by name select * from run_record")
        con.execute('insert into campaigns.target_list by name select * from list_rows')
        con.execute("insert into campaigns.suppression_count by name select * from funnel_rows")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        for name in ("run_record", "list_rows", "funnel_rows"):
            con.unregister(name)


def do_not_disturb(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Pseudonyms of every do-not-disturb user, in BOSS's latest snapshot or in the customer view."""
    rows = con.execute("""
        select user_pseudonym from intermediate.int_campaign_users where is_dnd
        union select user_pseudonym from marts.dim_subscriber where is_dnd
    """).fetchall()
    return {r[0] for r in rows}
