"""How subscribers respond to campaign contacts when a delivery is continued (`vasmart generate --continue-days`).

The campaign lists written back to the campaign database say who was contacted (TARGET) on the day after
each run date, with what offer and how the campaign measures a response. When the generator continues a
landing area past the day it ended on (a "cut"), every contacted user whose response window reaches past
the cut responds, with probability `uplift`, at a time drawn uniformly over the window (responses that
fall on already delivered days are lost: those days are history). HOLDOUT users, and TARGET users who do
not respond, behave as everybody else. A response is what the campaign's conversion measures:

- `stable_vas_order`: the user orders the offered service (kept, never cancelled within 72 hours), unless
  they already hold it or ordered it anyway, or are not NORMAL that day;
- `plan_migration`: the user moves to the offered plan that day (the BOSS_USER snapshot shows it);
- `arrears_paid`: a user in default pays: the arrears are cleared at the month's bill and a suspension ends.

The draws use their own generator per (seed, block, cut), so the rest of the simulation is untouched and a
later continuation, which replays this one, makes the same draws. Every response applied is written to
truth/response_<cut>.csv (user_id, campaign, run_date, offer, responded_at): the ground truth of the uplift.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from vasmart.synth.calendar import DAY_SECONDS, date_of, day_of
from vasmart.synth.charging import NEVER

if TYPE_CHECKING:
    from vasmart.synth.simulate import BlockSimulation

CONTACT_COLUMNS = ["user_id", "campaign", "run_date", "offer", "conversion_kind", "window_days", "channel"]
# the BOSS order channel a response comes through, by the campaign's contact channel
ORDER_CHANNEL = {"SMS": 0, "MMS": 0, "WAP": 1, "OUTBOUND_CALL": 3}



@dataclass
class Responses:
    """The continuation cuts of a run and the campaign contacts made at each, with the uplift to apply."""

    cuts: tuple[int, ...]
    contacts: dict[int, pd.DataFrame]
    uplift: dict[int, float]
    seed: int = 0
    pending: list[tuple] = field(default_factory=list)
    applied: dict[int, list[tuple]] = field(default_factory=dict)

    @classmethod
    def none(cls) -> Responses:
        """No continuation: a month is simulated in one piece."""
        return cls((), {}, {})

    def fresh(self) -> Responses:
        """A copy without per-block state, for the next block."""
        return Responses(self.cuts, self.contacts, self.uplift, self.seed)

    def open(self, sim: BlockSimulation, cut: int) -> None:
        """Draw the responses of the block's contacted users whose window reaches past the cut."""
        contacts = self.contacts.get(cut)
        if contacts is None or contacts.empty or self.uplift.get(cut, 0.0) <= 0:
            return
        uid = sim.u["uid"]
        mine = contacts[contacts["user_id"].isin(uid)].sort_values(["user_id", "campaign", "run_date"])
        if mine.empty:
            return
        rng = np.random.default_rng([self.seed, sim.block, cut, 7_300_001])
        responds = rng.random(len(mine)) < self.uplift[cut]
        first_day = np.array([day_of(d) + 1 for d in mine["run_date"]], dtype="int64")
        span = mine["window_days"].to_numpy(dtype="int64") * DAY_SECONDS
        times = first_day * DAY_SECONDS + (rng.random(len(mine)) * span).astype("int64")
        rows = np.searchsorted(uid, mine["user_id"].to_numpy(dtype="int64"))
        after = times >= (cut + 1) * DAY_SECONDS
        for keep, row, t, c in zip(responds & after, rows, times, mine.itertuples(index=False), strict=True):
            if keep:
                self.pending.append((int(t), int(row), c.conversion_kind, c.offer, c.channel, c.campaign,
                                     c.run_date, cut))
        self.pending.sort(key=lambda p: (p[0], p[1], p[5]))

    def apply(self, sim: BlockSimulation, day: int) -> None:
        """Apply the responses falling on `day` (called before the day is simulated)."""
        if not self.pending or self.pending[0][0] // DAY_SECONDS > day:
            return
        due = [p for p in self.pending if p[0] // DAY_SECONDS == day]
        self.pending = [p for p in self.pending if p[0] // DAY_SECONDS != day]
        status, _ = sim._status_on(day)
        for t, row, kind, offer, channel, campaign, run_date, cut in due:
            not_normal = sim.u["join_day"][row] > day or status[row] != 0
            if not_normal and kind != "arrears_paid":  # only a payment comes from a suspended user
                continue
            done = {"stable_vas_order": _order, "plan_migration": _migrate, "arrears_paid": _pay}[kind](
                sim, row, t, day, offer, channel)
            if done:
                self.applied.setdefault(cut, []).append((int(sim.u["uid"][row]), campaign, run_date, offer, t))

    def write_truth(self, sim: BlockSimulation) -> None:
        """The responses applied, per cut, to truth/response_<cut>.csv."""
        for cut in self.cuts:
            rows = self.applied.get(cut, [])
            sim.sink.truth(f"response_{date_of(cut):%Y%m%d}", pa.table({
                "user_id": pa.array([r[0] for r in rows], type=pa.int64()),
                "campaign": pa.array([r[1] for r in rows], type=pa.string()),
                "run_date": pa.array([f"{r[2]:%Y%m%d}" for r in rows], type=pa.string()),
                "offer": pa.array([r[3] for r in rows], type=pa.string()),
                "responded_at": pa.array(sim.w.codes.timestamp_codes(np.array([r[4] for r in rows], "int64")),
                                         type=pa.int64()),
            }))


def _order(sim: BlockSimulation, row: int, t: int, day: int, offer: str, channel: str) -> bool:
    """The offered service ordered at t (and kept), when the user does not hold or order it anyway."""
    codes = sim.cat.services["service_code"].to_numpy()
    where = np.flatnonzero(codes == offer)
    if not len(where):
        return False
    s, u, m = int(where[0]), sim.u, sim.m
    if sim.holding_at(s, t)[row]:
        return False
    held_open = u["held"][row, s] and m["can0"][row, s] > t
    if m["ord1"][row, s] >= NEVER and not held_open:
        m["ord1"][row, s] = t
        m["can1"][row, s] = NEVER
    elif m["ord1"][row, s] < t and m["can1"][row, s] <= t and m["ord2"][row, s] >= NEVER:
        m["ord2"][row, s] = t
    else:
        return False  # an order of the service is planned later this month anyway
    rows, cols, times = np.array([row]), np.array([s]), np.array([t], dtype="int64")
    order = sim._order_rows(rows, cols, times, 1, np.array([1]), np.array([ORDER_CHANNEL.get(channel, 0)]))
    sim._write_by_time("BOSS_VAS_ORDER", order, times)
    m["push"] = None  # deliveries go to the new subscriber from now on
    return True


def _migrate(sim: BlockSimulation, row: int, t: int, day: int, offer: str, channel: str) -> bool:
    """The user's plan becomes the offered plan from `day`."""
    codes = sim.cat.plans["plan_code"].to_numpy()
    where = np.flatnonzero(codes == offer)
    u = sim.u
    if not len(where) or u["plan"][row] == where[0]:
        return False
    u["prev_plan"][row] = u["plan"][row]
    u["plan"][row] = int(where[0])
    u["plan_day"][row] = day
    return True


def _pay(sim: BlockSimulation, row: int, t: int, day: int, offer: str, channel: str) -> bool:
    """A user in default pays the arrears: cleared at the month's bill; a suspension ends that day."""
    u = sim.u
    if u["default_day"][row] > day or u["cured"][row]:
        return False  # nothing past due beyond the usual late payment, which is paid anyway
    u["cured"][row] = True
    status, _ = sim._status_on(day)
    if status[row] == 1:  # SUSPENDED: back to NORMAL today
        u["tr_kind"][row], u["tr_day"][row] = 0, day
    elif u["tr_kind"][row] >= 1 and u["tr_day"][row] > day:  # a suspension or cancellation still to come
        u["tr_kind"][row], u["tr_day"][row] = -1, 10**9
    return True


def contacts_frame(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Contacts with the expected columns and types (user_id int64, run_date a date)."""
    frame = pd.DataFrame(rows, columns=CONTACT_COLUMNS)
    frame["user_id"] = frame["user_id"].astype("int64")
    frame["window_days"] = frame["window_days"].astype("int64")
    frame["run_date"] = [d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)) for d in frame["run_date"]]
    return frame


def contacts_from_lists(lists: pd.DataFrame, landing: Path, after: dt.date, key: bytes) -> tuple[pd.DataFrame, int]:
    """The contacted (TARGET) users of written-back lists whose response window reaches past `after`, by user_id.

    Lists carry keyed pseudonyms; the users are those of the last delivered BOSS_USER snapshot (batch
    `after`), whose ids are hashed with the warehouse's key to match. Returns the contacts and the number of
    list rows that matched no user.
    """
    lists = lists[(lists["group"] == "TARGET") & (lists["conversion_kind"] != "none")]
    run_dates = pd.to_datetime(lists["run_date"]).dt.date
    keep = [d <= after < d + dt.timedelta(days=int(w))
            for d, w in zip(run_dates, lists["response_window_days"], strict=True)]
    lists = lists[np.array(keep, dtype=bool)]
    if lists.empty:
        return contacts_frame([]), 0
    users: dict[str, int] = {}
    files = sorted((Path(landing) / f"{after:%Y%m%d}").glob(f"BOSS_USER_{after:%Y%m%d}_*.dat.gz"))
    if not files:
        raise ValueError(f"{landing}/{after:%Y%m%d}: no BOSS_USER file to match the contacted users against")
    for path in files:
        with gzip.open(path, "rb") as handle:
            for line in handle:
                uid = line.split(b"|", 1)[0]
                users[hmac.digest(key, uid, "sha256").hex()] = int(uid)
    ids = lists["user_pseudonym"].map(users)
    matched = lists[ids.notna()]
    frame = contacts_frame({
        "user_id": ids[ids.notna()].astype("int64"), "campaign": matched["campaign"],
        "run_date": pd.to_datetime(matched["run_date"]).dt.date, "offer": matched["offer"],
        "conversion_kind": matched["conversion_kind"], "window_days": matched["response_window_days"],
        "channel": matched["channel"]})
    return frame, int(ids.isna().sum())
