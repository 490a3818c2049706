"""`vasmart campaigns`: build every valid campaign's list for the run date and write it back.

The run date is the warehouse's data date (the latest batch the campaign models were built from); lists are
built from the current state, so an older run date is refused rather than built from newer data. Campaigns
run in priority order, because the contact cap of each counts the contacts of those before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vasmart.campaigns.config import load_definitions
from vasmart.campaigns.lists import CampaignList, build_list, do_not_disturb, store_list
from vasmart.campaigns.targeting import RunContext, TargetingError
from vasmart.campaigns.writeback import CampaignDatabase, WriteResult
from vasmart.config import Settings
from vasmart.warehouse import connect


class CampaignRunError(RuntimeError):
    """A run that cannot proceed (the message names the campaign, the date or the table)."""


@dataclass(frozen=True)
class RunOutcome:
    """One campaign's result in a run."""

    campaign: str
    run_date: dt.date
    built: CampaignList | None  # None when the campaign is not valid on the run date
    written: WriteResult | None

    def summary(self) -> str:
        """One line for the console (counts only, pseudonyms never)."""
        if self.built is None:
            return f"{self.campaign}: not valid on {self.run_date}, skipped"
        funnel = ", ".join(f"{s.step} -{s.removed}" for s in self.built.funnel[1:-2] if s.removed)
        return (f"{self.campaign} {self.run_date}: {self.built.funnel[0].remaining} eligible"
                f"{' (' + funnel + ')' if funnel else ''}, {self.built.count('TARGET')} TARGET, "
                f"{self.built.count('HOLDOUT')} HOLDOUT; written back to {self.written.database}"
                + (f" ({self.written.dropped_do_not_disturb} do-not-disturb dropped)"
                   if self.written.dropped_do_not_disturb else ""))


def data_date(con) -> dt.date:
    """The latest batch date the campaign models were built from."""
    try:
        value = con.execute("select max(last_batch_date) from intermediate.int_campaign_users").fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - a missing model is reported as such
        raise CampaignRunError("the warehouse has no intermediate.int_campaign_users: run `vasmart build` first "
                               f"({str(exc).splitlines()[0]})") from None
    if value is None:
        raise CampaignRunError("intermediate.int_campaign_users is empty: nothing has been built yet")
    return value


def run_campaigns(settings: Settings, run_date: dt.date | None = None, names: list[str] | None = None,
                  definitions: Path | None = None, database: CampaignDatabase | None = None,
                  on_campaign: Callable[[RunOutcome], None] | None = None) -> list[RunOutcome]:
    """Build, store and write back the lists of the named campaigns (all when None) for the run date."""
    chosen = load_definitions(definitions)
    if names:
        unknown = sorted(set(names) - {d.name for d in chosen})
        if unknown:
            raise CampaignRunError(f"no campaign named {unknown[0]!r} (known: {', '.join(d.name for d in chosen)})")
        chosen = [d for d in chosen if d.name in names]
    database = database or CampaignDatabase.from_env(settings)
    outcomes = []
    con = connect(settings)
    try:
        built_through = data_date(con)
        day = run_date or built_through
        if day != built_through:
            raise CampaignRunError(f"run date {day:%Y%m%d} is not the warehouse's data date {built_through:%Y%m%d}: "
                                   "lists are built from the current state of the warehouse")
        ctx = RunContext(con, day)
        for d in chosen:
            if not d.is_valid_on(day):
                outcome = RunOutcome(d.name, day, None, None)
            else:
                try:
                    built = build_list(ctx, d)
                except TargetingError as exc:
                    raise CampaignRunError(f"{d.name}: {exc}") from None
                store_list(con, built)
                written = database.write_list(built.run_record(), built.rows, do_not_disturb(con))
                outcome = RunOutcome(d.name, day, built, written)
            outcomes.append(outcome)
            if on_campaign:
                on_campaign(outcome)
    finally:
        con.close()
    return outcomes
