"""One block of subscribers lived through the whole timeline, writing what the source systems would deliver.

A block is a fixed set of initial subscribers plus the users who join it later. It is simulated month by
month: status (suspensions, cancellations), handsets, VAS orders and cancels are planned for the month,
then the month's events are written (as monthly history or day by day with CDR detail), then the month
is closed (bills, monthly summaries, ground truth and the labels of the next month). Blocks are
independent, so memory stays bounded and blocks can run in parallel processes.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vasmart.synth import complaints as complaint_text
from vasmart.synth.calendar import (
    DAY_SECONDS,
    DayCodes,
    Month,
    Timeline,
    add_months_day,
    date_of,
    month_last_day,
)
from vasmart.synth.catalogue import Catalogue
from vasmart.synth.charging import NEVER, QUICK_CANCEL_SECONDS, monthly_charge
from vasmart.synth.identity import NumberPool, contact_numbers, imei_from
from vasmart.synth.population import draw_traits, names_for
from vasmart.synth.response import Responses
from vasmart.synth.usage import MonthAccumulator, day_records, monthly_totals

NEVER_DAY = 10**9
NORMAL, SUSPENDED, CANCELLED = 0, 1, 2
STATUS = np.array(["NORMAL", "SUSPENDED", "CANCELLED"], dtype=object)
CANCEL_REASON = np.array(["USER", "ARREARS", "OTHER"], dtype=object)
CHANNELS = np.array(["SMS", "WAP", "WEB", "10086", "HALL", "USSD"], dtype=object)
CHANNEL_P = np.array([0.36, 0.22, 0.10, 0.14, 0.13, 0.05])
HALL = 4
MONTHLY_JOIN_RATE = 0.018
HANDSET_CHANGE_RATE = 0.04
REJOIN_SHARE = 0.18
# Calibrated so the realised monthly rate of stable 手机报 orders is about 4% and "bad" new users about 10%.
PROPENSITY_INTERCEPT = -7.9
CREDIT_INTERCEPT = -3.5


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


class Sink(Protocol):
    """Where a block's output goes."""

    def write(self, batch: str, interface: str, table: pa.Table) -> None: ...

    def truth(self, name: str, table: pa.Table) -> None: ...


@dataclass
class World:
    """What every block shares: the timeline, the catalogues, the seed and the block layout."""

    timeline: Timeline
    catalogue: Catalogue
    seed: int
    n_blocks: int

    def __post_init__(self):
        tl = self.timeline
        self.codes = DayCodes(tl.first_day - 40 * 366, tl.end_day + 400)
        self.reference_year = date_of(tl.end_day).year
        self.batch_names = [b.name for b in tl.batches]
        self.batch_of_day = np.full(tl.end_day - tl.first_day + 1, -1, dtype="int64")
        for i, b in enumerate(tl.batches):
            self.batch_of_day[b.period_start - tl.first_day : b.period_end - tl.first_day + 1] = i
        self.end_second = (tl.end_day + 1) * DAY_SECONDS


class BlockSimulation:
    """Simulates one block of subscribers and writes its records to a sink."""

    def __init__(self, world: World, block: int, n_users: int, sink: Sink, responses: Responses | None = None):
        self.w, self.cat, self.sink, self.block = world, world.catalogue, sink, block
        # continuation segments: the days after which later deliveries were appended, and what campaign
        # contacts made the contacted users do from then on
        self.responses = responses if responses is not None else Responses.none()
        self.rng = np.random.default_rng([world.seed, block, 20_090_517])
        self.n_services = len(self.cat.services)
        self.mn_services = np.flatnonzero(self.cat.service_is_newspaper)
        self.pushy_services = self._pushy_services()
        self.pools = [
            NumberPool(np.array(r.segments), offset=block, stride=world.n_blocks, salt=world.seed + i)
            for i, r in enumerate(self.cat.regions)
        ]
        self.u: dict[str, np.ndarray] = {}
        self.next_serial = 0
        self.seq = 0
        self.timings: dict[str, float] = defaultdict(float)
        self._add_initial_users(n_users)

    # ------------------------------------------------------------------ population
    def _pushy_services(self) -> np.ndarray:
        """Sticky monthly services that a few halls push on customers who did not ask for them."""
        s = self.cat.services
        idx = s.index[(s["is_sticky"] == 1) & (s["fee_type"] == "03") & (s["product_line"] != "MOBILE_NEWSPAPER")
                      & (s["product_line"] != "CRBT")]
        return np.array(sorted(idx)[:2], dtype="int64")

    def _new_ids(self, n: int) -> np.ndarray:
        serial = self.next_serial + np.arange(n, dtype="int64")
        self.next_serial += n
        return 1_000_000_000 + serial * self.w.n_blocks + self.block

    def _add_users(self, traits: dict[str, np.ndarray], join_day: np.ndarray, is_rejoin: np.ndarray) -> None:
        n = len(join_day)
        S = self.n_services
        msisdn = np.empty(n, dtype="int64")
        for r, pool in enumerate(self.pools):
            members = np.flatnonzero(traits["region"] == r)
            if len(members):
                msisdn[members] = pool.allocate(join_day[members], 0.5, self.rng)
        fresh = {
            **traits,
            "uid": self._new_ids(n),
            "msisdn": msisdn,
            "name": names_for(traits, self.cat),
            "join_day": join_day.astype("int64"),
            "is_rejoin": is_rejoin.astype("int64"),
            "st": np.zeros(n, "int64"),
            "st_day": join_day.astype("int64"),
            "tr_kind": np.full(n, -1, "int64"),
            "tr_day": np.full(n, NEVER_DAY, "int64"),
            "cancel_reason": np.full(n, -1, "int64"),
            "default_day": np.full(n, NEVER_DAY, "int64"),
            "susp_delay": self.rng.integers(0, 10, n),
            "planned_default": np.full(n, NEVER_DAY, "int64"),
            "window_end": np.full(n, -1, "int64"),
            "arrears_acc": np.zeros(n, "int64"),
            "late_prev": np.zeros(n, "int64"),
            "cured": np.zeros(n, bool),
            "prev_plan": traits["plan"].copy(),
            "plan_day": np.full(n, -NEVER_DAY, "int64"),  # first day of the current plan (a migration)
            "prev_tac": traits["tac"].copy(),
            "prev_serial": traits["imei_serial"].copy(),
            "change_t": np.full(n, NEVER, "int64"),
            "last_change_day": np.full(n, -NEVER_DAY, "int64"),
            "had_mn": np.zeros(n, bool),
            "label_mn": np.zeros(n, bool),
            "p_mn": np.zeros(n),
            "held": np.zeros((n, S), bool),
            "since": np.full((n, S), NEVER, "int64"),
            "pending_t": np.full((n, S), NEVER, "int64"),
            "pending_reason": np.zeros((n, S), "int64"),
            "success": np.zeros((n, S), "int64"),
            "requests": np.zeros((n, S), "int64"),
            "unwanted_t": np.full(n, NEVER, "int64"),
            "terminal_fails": np.zeros(n, "int64"),
        }
        if not self.u:
            self.u = fresh
        else:
            self.u = {k: np.concatenate([self.u[k], fresh[k]]) for k in self.u}

    def _add_initial_users(self, n: int) -> None:
        first = self.w.timeline.first_day
        traits = draw_traits(self.rng, n, self.cat, self.w.reference_year)
        tenure = np.minimum(self.rng.exponential(4.5 * 365, n), 15 * 365).astype("int64") + 1
        self._add_users(traits, first - tenure, self.rng.random(n) < 0.08)
        u = self.u
        # a few users already in arrears at go-live
        in_default = self.rng.random(n) < 0.012
        u["default_day"][in_default] = first - self.rng.integers(1, 80, in_default.sum())
        susp = in_default & (u["default_day"] + 30 < first)
        u["st"][susp] = SUSPENDED
        u["st_day"][susp] = u["default_day"][susp] + 30
        # subscriptions held at go-live, synchronised by the first history batch
        p = self._order_affinity(np.arange(n)) * 9.0
        held = self.rng.random(p.shape) < np.minimum(p, 0.6)
        held[:, self.mn_services] = False
        mn_hold = self.rng.random(n) < 0.11 * np.where(self.cat.tac_mms[u["tac"]], 1.0, 0.35)
        edition = self._pick_edition(np.arange(n))
        held[np.flatnonzero(mn_hold), edition[mn_hold]] = True
        u["held"] = held
        u["had_mn"] = held[:, self.mn_services].any(axis=1)
        u["since"] = np.where(held, first * DAY_SECONDS, NEVER)

    def _order_affinity(self, idx: np.ndarray) -> np.ndarray:
        """Monthly probability that each user orders each service, before capability and holdings."""
        u, cat = self.u, self.cat
        pref = u["pref"][idx][:, cat.service_category]
        base = 0.0012 * cat.service_popularity[None, :] * (0.3 + 1.7 * u["appetite"][idx, None])
        capable = np.ones((len(idx), self.n_services), bool)
        tac = u["tac"][idx]
        capable[:, cat.service_media == "MMS"] = cat.tac_mms[tac][:, None]
        capable[:, cat.service_media == "WAP"] = cat.tac_wap[tac][:, None]
        return base * (pref * 8) ** 0.9 * capable * cat.service_is_current[None, :]

    def _pick_edition(self, idx: np.ndarray) -> np.ndarray:
        """The 手机报 edition each user would choose: the one whose category they like best, with noise."""
        mn_cat = self.cat.service_category[self.mn_services]
        score = np.log(self.u["pref"][idx][:, mn_cat]) + self.rng.gumbel(0, 0.35, (len(idx), len(mn_cat)))
        return self.mn_services[np.argmax(score, axis=1)]

    # ------------------------------------------------------------------ the timeline
    def run(self) -> None:
        """Simulate every month of the timeline and write everything the block's users produce.

        A month is simulated in pieces split at the continuation cuts (the days after which a later run
        appended deliveries): the first piece plans the whole month and simulates its days up to the cut,
        exactly as the run that ended there did; later pieces go on day by day after the contacts of the
        campaigns sent at the cut are turned into responses. Without cuts a month is one piece.
        """
        months = self.w.timeline.months
        for month in months:
            started = time.perf_counter()
            full_last = _full_last_day(month)
            ends = [c for c in self.responses.cuts if month.first_day <= c < month.last_day] + [month.last_day]
            start = month.first_day
            for i, end in enumerate(ends):
                piece = dataclasses.replace(month, last_day=end)
                if i == 0:
                    self._begin_month(piece, full_last)
                    self._plan_status(piece, full_last)
                    self._plan_handsets(piece, full_last)
                    self._plan_vas(piece, full_last)
                    if month.index == 0:
                        self._emit_go_live_sync(piece)
                    self._emit_orders(piece, full_last)
                    if month.is_history:
                        self._history_month(piece)
                        self._emit_snapshots(start, piece.last_day)
                    else:
                        self._daily_month(piece)  # writes each batch's snapshot at its last day
                    self._emit_complaints(piece, full_last)
                else:
                    self._daily_month(piece, start)
                if end in self.responses.cuts:
                    self.responses.open(self, end)
                start = end + 1
            complete = month.last_day == full_last
            if complete:
                self._close_complete_month(month, full_last)
            self._roll_month(month, full_last)
            self.timings["history_months" if month.is_history else "daily_months"] += time.perf_counter() - started
        self.responses.write_truth(self)

    def _begin_month(self, month: Month, full_last: int) -> None:
        u = self.u
        active = u["st"] != CANCELLED
        n_new = self.rng.poisson(active.sum() * MONTHLY_JOIN_RATE)
        join_day = self.rng.integers(month.first_day, full_last + 1, n_new)
        join_day = join_day[join_day <= month.last_day]
        if len(join_day):
            traits = draw_traits(self.rng, len(join_day), self.cat, self.w.reference_year)
            rejoin = self.rng.random(len(join_day)) < REJOIN_SHARE
            traits["risk"] = traits["risk"] + 0.7 * rejoin
            start = len(u["uid"])
            self._add_users(traits, join_day, rejoin)
            self.u["window_end"][start:] = month_last_day(add_months_day(month.first_day, 5))
        n, S = len(self.u["uid"]), self.n_services
        self.m = {
            "can0": self.u["pending_t"].copy(),
            "can0_reason": self.u["pending_reason"].copy(),
            "can0_emitted": self.u["pending_t"] < NEVER,
            "ord1": np.full((n, S), NEVER, "int64"),
            "can1": np.full((n, S), NEVER, "int64"),
            "can1_reason": np.ones((n, S), "int64"),
            "ord2": np.full((n, S), NEVER, "int64"),
            "ord1_ch": self.rng.choice(len(CHANNELS), (n, S), p=CHANNEL_P),
            "pushed": np.zeros((n, S), bool),
        }
        self.u["pending_t"][:] = NEVER
        self.u["success"][:] = 0
        self.u["requests"][:] = 0
        self.u["unwanted_t"][:] = NEVER
        self.u["terminal_fails"][:] = 0

    def _plan_status(self, month: Month, full_last: int) -> None:
        """Suspensions and cancellations for arrears, voluntary cancellations, cures; one change a month."""
        u, rng = self.u, self.rng
        n = len(u["uid"])
        a, b = month.first_day, full_last
        u["tr_kind"][:] = -1
        u["tr_day"][:] = NEVER_DAY
        u["cured"][:] = False
        present = (u["join_day"] <= b) & (u["st"] != CANCELLED)
        in_window = u["window_end"] >= a
        normal = present & (u["st"] == NORMAL)
        lo = np.maximum(a, u["join_day"])

        planned = normal & (u["planned_default"] >= a) & (u["planned_default"] <= b)
        u["default_day"][planned] = u["planned_default"][planned]
        hazard = sigmoid(-6.3 + 1.2 * u["risk"])
        new_default = normal & (u["default_day"] == NEVER_DAY) & ~in_window & ~u["label_mn"]
        new_default &= rng.random(n) < hazard
        u["default_day"][new_default] = lo[new_default] + (rng.random(new_default.sum()) * (b - lo[new_default] + 1)).astype("int64")

        susp_day = np.maximum(a, u["default_day"] + 30 + u["susp_delay"])
        suspend = normal & (u["default_day"] < NEVER_DAY) & (susp_day <= b) & ~u["label_mn"]
        self._transition(suspend, 1, susp_day)

        prepaid = self.cat.plan_is_prepaid[u["plan"]]
        churn = 0.004 + 0.004 * prepaid + 0.01 * ((a - u["join_day"]) < 120)
        quit_ = normal & ~suspend & ~in_window & ~u["label_mn"] & (rng.random(n) < churn)
        quit_day = lo + (rng.random(n) * (b - lo + 1)).astype("int64")
        self._transition(quit_, 2, quit_day)
        u["cancel_reason"][quit_] = np.where(rng.random(quit_.sum()) < 0.85, 0, 2)

        suspended = present & (u["st"] == SUSPENDED)
        may_cure = suspended & (u["default_day"] < NEVER_DAY) & ~((u["planned_default"] < NEVER_DAY) & in_window)
        cure = may_cure & (rng.random(n) < 0.3)
        self._transition(cure, 0, a + (rng.random(n) * (b - a + 1)).astype("int64"))
        u["cured"][cure] = True
        to_cancel = suspended & ~cure & (u["st_day"] + 60 <= b)
        self._transition(to_cancel, 2, np.maximum(a, u["st_day"] + 60))
        u["cancel_reason"][to_cancel] = 1

    def _transition(self, mask: np.ndarray, kind: int, day: np.ndarray) -> None:
        self.u["tr_kind"][mask] = kind
        self.u["tr_day"][mask] = day[mask]

    def _status_on(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Status and status date of every user on a day of the current month."""
        u = self.u
        changed = (u["tr_kind"] >= 0) & (u["tr_day"] <= day)
        kind_status = np.array([NORMAL, SUSPENDED, CANCELLED])[np.maximum(u["tr_kind"], 0)]
        return np.where(changed, kind_status, u["st"]), np.where(changed, u["tr_day"], u["st_day"])

    def _normal_window(self, month: Month, full_last: int) -> tuple[np.ndarray, np.ndarray]:
        """Per user, the seconds [lo, hi) of the month in which the user is NORMAL (empty when lo >= hi)."""
        u = self.u
        a, b = month.first_day, full_last
        lo = np.maximum(a, u["join_day"])
        hi = np.full(len(lo), b + 1)
        st, kind, tday = u["st"], u["tr_kind"], u["tr_day"]
        from_normal = st == NORMAL
        hi = np.where(from_normal & (kind >= 1), tday, hi)
        lo = np.where(~from_normal & (kind == 0), tday, lo)
        hi = np.where(~from_normal & (kind != 0), lo, hi)  # stays suspended or cancelled
        hi = np.where(u["join_day"] > b, lo, hi)
        return lo * DAY_SECONDS, np.maximum(hi, lo) * DAY_SECONDS

    def _plan_handsets(self, month: Month, full_last: int) -> None:
        u, rng = self.u, self.rng
        n = len(u["uid"])
        u["prev_tac"][:] = u["tac"]
        u["prev_serial"][:] = u["imei_serial"]
        u["change_t"][:] = NEVER
        lo, hi = self._normal_window(month, full_last)
        change = (hi > lo) & (rng.random(n) < HANDSET_CHANGE_RATE)
        idx = np.flatnonzero(change)
        if not len(idx):
            return
        t = lo[idx] + (rng.random(len(idx)) * (hi[idx] - lo[idx])).astype("int64")
        old_tier = self.cat.tacs["tier"].to_numpy()[u["tac"][idx]]
        new_tier = np.minimum(2, old_tier + (rng.random(len(idx)) < 0.55 + 0.1 * u["income"][idx]))
        for tier in range(3):
            sel = np.flatnonzero(new_tier == tier)
            pool = self.cat.tacs_by_tier[tier]
            u["tac"][idx[sel]] = pool[rng.integers(0, len(pool), len(sel))]
        u["imei_serial"][idx] = rng.integers(0, 1_000_000, len(idx))
        u["change_t"][idx] = t
        u["last_change_day"][idx] = t // DAY_SECONDS

    def tac_at(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Each user's handset TAC index at time t."""
        u = self.u
        return np.where(t >= u["change_t"][rows], u["tac"][rows], u["prev_tac"][rows])

    def _plan_vas(self, month: Month, full_last: int) -> None:
        """The month's orders and cancels of every service: who, which, when, through which channel."""
        u, m, rng, cat = self.u, self.m, self.rng, self.cat
        n, S = len(u["uid"]), self.n_services
        A, FB = month.first_day * DAY_SECONDS, (full_last + 1) * DAY_SECONDS
        lo, hi = self._normal_window(month, full_last)
        has_window = hi > lo
        held = u["held"]
        open_ = held & (m["can0"] >= NEVER)

        def rand_time(low, high, shape=None):
            return low + (rng.random(shape if shape is not None else np.shape(low)) * (high - low)).astype("int64")

        # the account cancelled: every subscription ends with it (system)
        gone = np.flatnonzero(u["tr_kind"] == 2)
        t_gone = u["tr_day"][gone] * DAY_SECONDS + rng.integers(0, 3600, len(gone))
        sub = open_[gone]
        m["can0"][gone] = np.where(sub, t_gone[:, None], m["can0"][gone])
        m["can0_reason"][gone] = np.where(sub, 2, m["can0_reason"][gone])
        open_ = held & (m["can0"] >= NEVER)
        # suspended for arrears: half of the monthly subscriptions fail to charge and are stopped
        susp = np.flatnonzero(u["tr_kind"] == 1)
        fail = open_[susp] & cat.service_is_monthly[None, :] & (rng.random((len(susp), S)) < 0.5)
        t_fail = u["tr_day"][susp] * DAY_SECONDS + DAY_SECONDS + rng.integers(0, 3600, len(susp))
        m["can0"][susp] = np.where(fail, t_fail[:, None], m["can0"][susp])
        m["can0_reason"][susp] = np.where(fail, 3, m["can0_reason"][susp])
        open_ = held & (m["can0"] >= NEVER)
        # the MMS platform stops MMS services of handsets that keep failing with TERMINAL errors
        mms_cols = cat.service_media == "MMS"
        no_mms = ~cat.tac_mms[u["prev_tac"]]
        stop = open_ & mms_cols[None, :] & no_mms[:, None] & (rng.random((n, S)) < 0.3)
        m["can0"] = np.where(stop, A + rng.integers(0, 5 * DAY_SECONDS, (n, S)), m["can0"])
        m["can0_reason"] = np.where(stop, 2, m["can0_reason"])
        open_ = held & (m["can0"] >= NEVER)
        # users cancel what they hold; 手机报 readers drift away faster
        hazard = np.where(cat.service_is_newspaper, 0.16, 0.05)[None, :] * (0.6 + 0.8 * u["price_sensitivity"][:, None])
        protect = u["label_mn"][:, None] & cat.service_is_newspaper[None, :]
        quit_ = open_ & ~protect & has_window[:, None] & (rng.random((n, S)) < hazard)
        m["can0"] = np.where(quit_, rand_time(np.maximum(A, u["since"] + 1), FB), m["can0"])
        m["can0_reason"] = np.where(quit_, 1, m["can0_reason"])

        # new orders of services not held, within the user's NORMAL window
        can_order = ~held & has_window[:, None]
        p = self._order_affinity(np.arange(n))
        p[:, self.mn_services] = 0.0
        order = can_order & (rng.random((n, S)) < p)
        # a few halls push sticky services on customers who never asked for them
        low = (u["appetite"] < 0.3) & has_window
        for s in self.pushy_services:
            pushed = can_order[:, s] & low & (rng.random(n) < 0.012)
            order[:, s] |= pushed
            m["pushed"][:, s] = pushed
            m["ord1_ch"][pushed, s] = HALL
        # 手机报: the labelled stable orders drawn at the end of last month, and quick-cancelled trials
        mn_cols = self.mn_services
        label = u["label_mn"] & has_window
        trial = (u["p_mn"] > 0) & ~u["label_mn"] & has_window & (rng.random(n) < 0.6 * u["p_mn"])
        joiners = (u["join_day"] >= month.first_day) & has_window & (rng.random(n) < 0.02)
        for who, kind in ((label, "label"), (trial, "trial"), (joiners, "joiner")):
            idx = np.flatnonzero(who & ~held[:, mn_cols].any(axis=1))
            col = self._pick_edition(idx)
            order[idx, col] = True
            hi_t = hi[idx] if kind != "trial" else np.maximum(lo[idx] + 1, hi[idx] - QUICK_CANCEL_SECONDS)
            m["ord1"][idx, col] = rand_time(lo[idx], hi_t)
            if kind == "trial":
                m["can1"][idx, col] = m["ord1"][idx, col] + rng.integers(600, QUICK_CANCEL_SECONDS - 600, len(idx))
            elif kind == "label":
                late = rng.random(len(idx)) < 0.08
                m["can1"][idx[late], col[late]] = m["ord1"][idx[late], col[late]] + rng.integers(
                    QUICK_CANCEL_SECONDS + 3600, 25 * DAY_SECONDS, late.sum())
            self.u["had_mn"][idx] = True

        others = order.copy()
        others[:, mn_cols] = False
        rows, cols = np.nonzero(others)
        t = rand_time(lo[rows], hi[rows])
        m["ord1"][rows, cols] = t
        quick_p = 0.08 + 0.35 * u["price_sensitivity"][rows]
        quick_p = np.where(m["pushed"][rows, cols], 0.45, quick_p)
        quick = rng.random(len(rows)) < quick_p
        cancel_t = np.where(quick, t + rng.integers(600, QUICK_CANCEL_SECONDS - 600, len(rows)), NEVER)
        late = ~quick & (rng.random(len(rows)) < 0.04)
        cancel_t = np.where(late, t + rng.integers(QUICK_CANCEL_SECONDS + 3600, 20 * DAY_SECONDS, len(rows)), cancel_t)
        m["can1"][rows, cols] = cancel_t
        reorder = quick & (rng.random(len(rows)) < 0.18)
        re_t = cancel_t + rng.integers(3600, 10 * DAY_SECONDS, len(rows))
        ok = reorder & (re_t < FB)
        m["ord2"][rows[ok], cols[ok]] = re_t[ok]
        u["unwanted_t"][rows[m["pushed"][rows, cols]]] = t[m["pushed"][rows, cols]]
        self._end_with_account(rows_gone=gone, t_gone=t_gone)

    def _end_with_account(self, rows_gone: np.ndarray, t_gone: np.ndarray) -> None:
        """Subscriptions taken out earlier in the month also end when the account is cancelled (system)."""
        m = self.m
        if not len(rows_gone):
            return
        t = t_gone[:, None]
        ordered = m["ord1"][rows_gone] < NEVER
        still_open = ordered & (m["can1"][rows_gone] > t)
        m["can1"][rows_gone] = np.where(still_open, t, m["can1"][rows_gone])
        m["can1_reason"][rows_gone] = np.where(still_open, 2, m["can1_reason"][rows_gone])
        m["ord2"][rows_gone] = NEVER  # no re-order around a closing account

    def holding_at(self, s: int, t: int | np.ndarray) -> np.ndarray:
        """Which users hold service s at time t."""
        u, m = self.u, self.m
        return ((u["held"][:, s] & (t < m["can0"][:, s]))
                | ((m["ord1"][:, s] <= t) & (t < m["can1"][:, s]))
                | (m["ord2"][:, s] <= t))

    # ------------------------------------------------------------------ writing events
    def _write_by_time(self, interface: str, columns: dict, times: np.ndarray) -> None:
        """Write rows to the batch whose coverage holds each row's event time; drop rows after the end."""
        tl = self.w.timeline
        times = np.asarray(times, dtype="int64")
        days = times // DAY_SECONDS
        keep = (days >= tl.first_day) & (days <= tl.end_day)
        batch = np.full(len(times), -1, dtype="int64")
        batch[keep] = self.w.batch_of_day[days[keep] - tl.first_day]
        order = np.argsort(batch, kind="stable")
        sorted_batch = batch[order]
        for bi in np.unique(sorted_batch[sorted_batch >= 0]):
            sel = order[np.searchsorted(sorted_batch, bi, "left"): np.searchsorted(sorted_batch, bi, "right")]
            table = pa.table({k: (v.take(pa.array(sel)) if isinstance(v, pa.Array) else _arr(v, sel))
                              for k, v in columns.items()})
            self.sink.write(self.w.batch_names[bi], interface, table)

    def _ids(self, n: int, prefix_day: np.ndarray | None = None) -> np.ndarray:
        seq = self.seq + np.arange(n, dtype="int64")
        self.seq += n
        base = (self.block + 1) * 10**9 + seq
        if prefix_day is None:
            return base
        return self.w.codes.date_codes(prefix_day) * 10**11 + (self.block % 1000) * 10**8 + seq % 10**8

    def _order_rows(self, rows, cols, times, action, reason, channel):
        u = self.u
        times = np.asarray(times, dtype="int64")
        hall = channel == HALL
        hall_id = np.where(hall, (u["region"][rows] * 100 + u["uid"][rows] % 17), -1)
        staff = np.where(hall, 100_000 + (u["uid"][rows] % 250) * 7 + self.block, -1)
        pushed = self.m["pushed"][rows, cols] & (action == 1)
        staff = np.where(pushed, 900_000 + cols * 10 + u["region"][rows] % 3, staff)
        return {
            # 14 digits: a BOSS order key, never the shape of an MSISDN (11) or an IMEI (15-16)
            "order_id": self._ids(len(rows)) + 10**13,
            "user_id": u["uid"][rows],
            "msisdn": u["msisdn"][rows],
            "service_code": self.cat.services["service_code"].to_numpy()[cols],
            "action": np.broadcast_to(action, len(rows)).astype(str).astype(object),
            "action_reason": np.asarray(reason).astype(str).astype(object),
            "channel": CHANNELS[channel],
            "op_time": self.w.codes.timestamp_codes(times),
            "hall_id": _nullable_str(hall_id, "H"),
            "staff_id": _nullable_str(staff, "S"),
        }

    def _emit_go_live_sync(self, month: Month) -> None:
        rows, cols = np.nonzero(self.u["held"])
        times = np.full(len(rows), month.first_day * DAY_SECONDS)
        channel = self.rng.choice(len(CHANNELS), len(rows), p=CHANNEL_P)
        self._write_by_time("BOSS_VAS_ORDER", self._order_rows(rows, cols, times, 1, np.full(len(rows), 2), channel),
                            times)

    def _emit_orders(self, month: Month, full_last: int) -> None:
        m = self.m
        parts = []
        r, c = np.nonzero((m["can0"] < NEVER) & ~m["can0_emitted"])
        parts.append((r, c, m["can0"][r, c], 2, m["can0_reason"][r, c]))
        r, c = np.nonzero(m["ord1"] < NEVER)
        parts.append((r, c, m["ord1"][r, c], 1, np.ones(len(r), "int64")))
        r, c = np.nonzero(m["can1"] < NEVER)
        parts.append((r, c, m["can1"][r, c], 2, m["can1_reason"][r, c]))
        r, c = np.nonzero(m["ord2"] < NEVER)
        parts.append((r, c, m["ord2"][r, c], 1, np.ones(len(r), "int64")))
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        times = np.concatenate([p[2] for p in parts])
        action = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])
        reason = np.concatenate([p[4] for p in parts])
        channel = self.m["ord1_ch"][rows, cols]
        channel = np.where(reason == 2, 3, channel)  # system actions are logged against the call centre
        order = np.lexsort((cols, rows, times))
        rows, cols, times, action, reason, channel = (x[order] for x in (rows, cols, times, action, reason, channel))
        self._write_by_time("BOSS_VAS_ORDER", self._order_rows(rows, cols, times, action, reason, channel), times)

    # ------------------------------------------------------------------ deliveries and requests
    def _push_candidates(self) -> dict[int, tuple[np.ndarray, ...]]:
        """Per push service, the month's possible holders and their order/cancel times (cached per month)."""
        if self.m.get("push") is None:
            u, m, cat = self.u, self.m, self.cat
            out = {}
            for s in np.flatnonzero(cat.service_push_per_week > 0):
                cand = np.flatnonzero(u["held"][:, s] | (m["ord1"][:, s] < NEVER) | (m["ord2"][:, s] < NEVER))
                out[int(s)] = (cand, u["held"][cand, s], m["can0"][cand, s], m["ord1"][cand, s], m["can1"][cand, s],
                               m["ord2"][cand, s])
            m["push"] = out
        return self.m["push"]

    def _deliveries_of_day(self, day: int) -> dict | None:
        cat, u, rng = self.cat, self.u, self.rng
        weekday = (day + 3) % 7
        status_now, _ = self._status_on(day)
        parts = []
        for s, (cand, held, can0, ord1, can1, ord2) in self._push_candidates().items():
            if weekday >= cat.service_push_per_week[s]:
                continue
            send = day * DAY_SECONDS + (7 * 3600 if cat.service_is_newspaper[s] else 17 * 3600) + rng.integers(0, 5400)
            t = send + rng.integers(0, 900, len(cand))  # each message is checked against the holding at its own time
            holds = (held & (t < can0)) | ((ord1 <= t) & (t < can1)) | (ord2 <= t)
            if not holds.any():
                continue
            parts.append((cand[holds], np.full(holds.sum(), s), t[holds]))
        if not parts:
            return None
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        t = np.concatenate([p[2] for p in parts])
        media = cat.service_media[cols]
        media = np.where(media == "IVR", "SMS", media)
        terminal = (media == "MMS") & ~cat.tac_mms[self.tac_at(rows, t)]
        suspended = status_now[rows] != NORMAL
        r = rng.random(len(rows))
        klass = np.select([terminal, suspended, r < 0.015, r < 0.025, r < 0.034],
                          ["TERMINAL", "USER", "USER", "NETWORK", "PLATFORM"], "SUCCESS")
        code = np.empty(len(rows), dtype=object)
        for k in ("SUCCESS", "TERMINAL", "USER", "NETWORK", "PLATFORM"):
            sel = klass == k
            options = cat.status_codes_of(k)
            code[sel] = options[rng.integers(0, len(options), sel.sum())]
        ok = klass == "SUCCESS"
        np.add.at(u["success"], (rows[ok], cols[ok]), 1)
        np.add.at(u["terminal_fails"], rows[terminal], 1)
        return {"rows": rows, "cols": cols, "time": t, "media": media, "code": code}

    def _write_deliveries(self, d: dict) -> None:
        days = d["time"] // DAY_SECONDS
        columns = {
            "msg_id": self._ids(len(d["rows"]), days),
            "msisdn": self.u["msisdn"][d["rows"]],
            "service_code": self.cat.services["service_code"].to_numpy()[d["cols"]],
            "media": d["media"].astype(object),
            "send_time": self.w.codes.timestamp_codes(d["time"]),
            "status_code": d["code"],
        }
        self._write_by_time("VAS_DELIVERY", columns, d["time"])

    def _request_services(self, rows: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """Services receiving each request: a held service of a category drawn from the user's preferences."""
        u, cat = self.u, self.cat
        cum = np.cumsum(u["pref"][rows], axis=1)
        category = (cum < draws[:, None]).sum(axis=1).clip(0, 7)
        service = cat.on_demand_by_category[category]
        holds = u["held"][rows] | (self.m["ord1"][rows] < NEVER)
        for c in range(8):
            in_cat = np.flatnonzero((cat.service_category == c) & cat.service_is_monthly)
            if not len(in_cat):
                continue
            sel = np.flatnonzero(category == c)
            h = holds[sel][:, in_cat]
            has = h.any(axis=1)
            service[sel[has]] = in_cat[np.argmax(h[has], axis=1)]
        return service

    def _monthly_requests(self, n_days_active: np.ndarray) -> None:
        u = self.u
        lam = u["appetite"] * 10.0 * n_days_active / 30.0
        count = self.rng.poisson(lam)
        rows = np.repeat(np.arange(len(count)), count)
        services = self._request_services(rows, self.rng.random(len(rows)))
        np.add.at(u["requests"], (rows, services), 1)

    # ------------------------------------------------------------------ history and daily months
    def _history_month(self, month: Month) -> None:
        for day in range(month.first_day, month.last_day + 1):
            d = self._deliveries_of_day(day)
            if d:
                self._write_deliveries(d)
        lo, hi = self._normal_window(month, month.last_day)
        self.active_days = np.maximum(hi - lo, 0) // DAY_SECONDS
        self._monthly_requests(self.active_days)
        self._emit_monthly_imei(month, lo, hi)
        self.acc = None

    def _daily_month(self, month: Month, start: int | None = None) -> None:
        """Simulate the days from `start` (default: the month's first) to the month's last day."""
        u, cat = self.u, self.cat
        if start is None or start == month.first_day:
            start = month.first_day
            self.acc = MonthAccumulator(len(u["uid"]))
        acc = self.acc
        fee_per_msg = np.where(cat.services["fee_type"].to_numpy() == "02", cat.service_fee, 0)
        imei_days: list[tuple[np.ndarray, ...]] = []
        for day in range(start, month.last_day + 1):
            started = time.perf_counter()
            self.responses.apply(self, day)
            status, _ = self._status_on(day)
            users = np.flatnonzero((status == NORMAL) & (u["join_day"] <= day))
            d = self._deliveries_of_day(day)
            if d:
                self._write_deliveries(d)
            lam = u["appetite"][users] * 10.0 / 30.0
            count = self.rng.poisson(lam)
            req_u = np.repeat(users, count)
            req_s = self._request_services(req_u, self.rng.random(len(req_u)))
            np.add.at(u["requests"], (req_u, req_s), 1)
            rat = self.cat.tac_rat[u["tac"]]
            rec = day_records(self.rng, day, day - month.first_day + 1, users, u, rat, (req_u, req_s),
                              cat.service_access, fee_per_msg, acc)
            self._write_cdrs(day, rec)
            batch_index = self.w.batch_of_day[day - self.w.timeline.first_day]
            imei_days.append(self._daily_imei(rec))
            if day == month.last_day or self.w.batch_of_day[day + 1 - self.w.timeline.first_day] != batch_index:
                self._write_imei(*_merge_pairs(imei_days))
                imei_days = []
                # the day's state is final once the day is simulated (a campaign response may change a
                # status or a plan on a later day of the month)
                self._emit_snapshots(day, day)
            self.timings[f"batch_{self.w.batch_names[batch_index]}"] += time.perf_counter() - started

    def _write_cdrs(self, day: int, rec) -> None:
        u, codes = self.u, self.w.codes
        batch = self.w.batch_names[self.w.batch_of_day[day - self.w.timeline.first_day]]
        v = rec.voice
        self.sink.write(batch, "CDR_VOICE", pa.table({
            "cdr_id": self._ids(len(v["user"]), np.full(len(v["user"]), day)),
            "msisdn": u["msisdn"][v["user"]],
            "other_party": contact_numbers(u["uid"][v["user"]], v["slot"]),
            "call_type": np.array(["MOC", "MTC", "FWD"], dtype=object)[v["call_type"]],
            "start_time": codes.timestamp_codes(v["time"]),
            "duration_s": v["duration"],
            "cell_id": _cell_text(v["cell"]),
            "roam_type": v["roam"],
            "fee_fen": v["fee"],
        }))
        s = rec.sms
        person = s["slot"] >= 0
        party = pa.array(np.where(person, "", self.cat.service_access[np.maximum(s["service"], 0)]).astype(object))
        people = contact_numbers(u["uid"][s["user"]], np.maximum(s["slot"], 0))
        self.sink.write(batch, "CDR_SMS", pa.table({
            "cdr_id": self._ids(len(s["user"]), np.full(len(s["user"]), day)),
            "msisdn": u["msisdn"][s["user"]],
            "other_party": pc.if_else(pa.array(person), people, party),
            "sms_type": np.array(["MO", "MT"], dtype=object)[s["sms_type"]],
            "send_time": codes.timestamp_codes(s["time"]),
            "service_code": pa.array(np.where(person, None, self.cat.services["service_code"].to_numpy()[
                np.maximum(s["service"], 0)]), type=pa.string()),
            "fee_fen": s["fee"],
        }))
        g = rec.gprs
        self.sink.write(batch, "CDR_GPRS", pa.table({
            "cdr_id": self._ids(len(g["user"]), np.full(len(g["user"]), day)),
            "msisdn": u["msisdn"][g["user"]],
            "apn": np.array(["CMNET", "CMWAP"], dtype=object)[g["apn"]],
            "start_time": codes.timestamp_codes(g["time"]),
            "duration_s": g["duration"],
            "up_bytes": g["up"],
            "down_bytes": g["down"],
            "cell_id": _cell_text(g["cell"]),
            "rat": np.array(["2G", "3G", "4G"], dtype=object)[g["rat"] - 2],
            "fee_fen": np.zeros(len(g["user"]), "int64"),
        }))

    def _imei_text(self, rows: np.ndarray, tac_idx: np.ndarray, serial: np.ndarray) -> pa.Array:
        imei = imei_from(self.cat.tac_code[tac_idx], serial)
        sv = self.u["reports_imeisv"][rows] == 1
        value = np.where(sv, (imei // 10) * 100 + (serial % 13 + 1), imei)
        return pa.array(value).cast(pa.string())

    def _daily_imei(self, rec) -> tuple[np.ndarray, ...]:
        """The day's (user, TAC, serial, first seen, last seen, events) observations."""
        users = np.concatenate([rec.voice["user"], rec.sms["user"], rec.gprs["user"]])
        times = np.concatenate([rec.voice["time"], rec.sms["time"], rec.gprs["time"]])
        n = len(self.u["uid"])
        count = np.bincount(users, minlength=n)
        first = np.full(n, NEVER, "int64")
        last = np.zeros(n, "int64")
        np.minimum.at(first, users, times)
        np.maximum.at(last, users, times)
        rows = np.flatnonzero(count)
        tac = self.tac_at(rows, last[rows])
        serial = np.where(last[rows] >= self.u["change_t"][rows], self.u["imei_serial"][rows], self.u["prev_serial"][rows])
        return rows, tac, serial, first[rows], last[rows], count[rows]

    def _emit_monthly_imei(self, month: Month, lo: np.ndarray, hi: np.ndarray) -> None:
        u, rng = self.u, self.rng
        seen = np.flatnonzero(hi > lo)
        change = u["change_t"][seen]
        before = seen[change > lo[seen]]  # the old handset was used before the change
        after = seen[change < hi[seen]]
        parts = []
        for rows, new in ((before, False), (after, True)):
            start = np.where(new, np.maximum(lo[rows], u["change_t"][rows]), lo[rows])
            end = np.where(new, hi[rows], np.minimum(hi[rows], u["change_t"][rows]))
            span = np.maximum(end - start, 2)
            first = start + (rng.random(len(rows)) * 0.2 * span).astype("int64")
            last = end - 1 - (rng.random(len(rows)) * 0.2 * span).astype("int64")
            last = np.maximum(last, first)
            tac = u["tac"][rows] if new else u["prev_tac"][rows]
            serial = u["imei_serial"][rows] if new else u["prev_serial"][rows]
            events = 1 + rng.poisson((u["voice_level"][rows] + 2 * u["sms_level"][rows] + u["data_level"][rows])
                                     * span / DAY_SECONDS)
            parts.append((rows, tac, serial, first, last, events))
        cat_ = [np.concatenate([p[i] for p in parts]) for i in range(6)]
        self._write_imei(*cat_)

    def _write_imei(self, rows, tac, serial, first, last, events) -> None:
        u, codes = self.u, self.w.codes
        columns = {
            "msisdn": u["msisdn"][rows],
            "imei": self._imei_text(rows, tac, serial),
            "first_seen": codes.timestamp_codes(first),
            "last_seen": codes.timestamp_codes(last),
            "event_count": events,
        }
        self._write_by_time("IMEI_OBS", columns, last)

    # ------------------------------------------------------------------ complaints
    def _emit_complaints(self, month: Month, full_last: int) -> None:
        u, rng = self.u, self.rng
        n = len(u["uid"])
        lo, hi = self._normal_window(month, full_last)
        active = hi > lo
        unwanted = (u["unwanted_t"] < NEVER) & (rng.random(n) < 0.3)
        other = active & (rng.random(n) < 0.0025 + 0.0008 * np.minimum(u["terminal_fails"], 30))
        rows = np.concatenate([np.flatnonzero(unwanted), np.flatnonzero(other & ~unwanted)])
        if not len(rows):
            return
        k_unwanted = unwanted.sum()
        created = np.where(np.arange(len(rows)) < k_unwanted,
                           u["unwanted_t"][rows] + rng.integers(3600, 2 * DAY_SECONDS, len(rows)),
                           lo[rows] + (rng.random(len(rows)) * (hi[rows] - lo[rows])).astype("int64"))
        category = np.where(np.arange(len(rows)) < k_unwanted, "UNWANTED_ORDER",
                            np.where(u["terminal_fails"][rows] > 5, "DELIVERY",
                                     rng.choice(["BILLING", "CONTENT", "NETWORK", "OTHER", "DELIVERY"], len(rows),
                                                p=[0.35, 0.15, 0.25, 0.15, 0.10]))).astype(object)
        handle = np.where(rng.random(len(rows)) < 0.04, rng.integers(DAY_SECONDS, 9 * DAY_SECONDS, len(rows)),
                          rng.lognormal(np.log(125 * 60), 0.8, len(rows)).astype("int64"))
        closed = created + handle
        holds = u["held"][rows] | (self.m["ord1"][rows] < NEVER)
        held_cols = np.argmax(holds, axis=1)
        pushed_col = np.argmax(self.m["pushed"][rows], axis=1)
        service = np.where(category == "UNWANTED_ORDER", pushed_col, held_cols)
        with_service = np.isin(category, ["UNWANTED_ORDER", "DELIVERY", "CONTENT"]) | (rng.random(len(rows)) < 0.2)
        with_service &= holds.any(axis=1) | (category == "UNWANTED_ORDER")
        service_code = np.where(with_service, self.cat.services["service_code"].to_numpy()[service], None)
        channel = rng.choice(np.array(["10086", "HALL", "WEB", "LETTER"], dtype=object), len(rows),
                             p=[0.7, 0.15, 0.12, 0.03])
        ids = np.char.add("CP", self._ids(len(rows), created // DAY_SECONDS).astype(str)).astype(object)
        content = complaint_text.texts(rng, category, u["msisdn"][rows], u["name"][rows], service_code)
        codes = self.w.codes
        tl = self.w.timeline
        created_batch = self.w.batch_of_day[np.clip(created // DAY_SECONDS, tl.first_day, tl.end_day) - tl.first_day]
        closed_day = np.clip(closed // DAY_SECONDS, tl.first_day, tl.end_day)
        closed_batch = np.where(closed // DAY_SECONDS > tl.end_day, -1, self.w.batch_of_day[closed_day - tl.first_day])
        same = closed_batch == created_batch
        base = {"complaint_id": ids, "msisdn": u["msisdn"][rows],
                "service_code": pa.array(service_code, type=pa.string()), "category": category,
                "channel": channel, "created_at": codes.timestamp_codes(created)}
        first = dict(base, closed_at=pa.array(np.where(same, codes.timestamp_codes(closed), None), type=pa.int64()),
                     content=pa.array(content, type=pa.string()))
        self._write_by_time("CRM_COMPLAINT", first, np.where(same, closed, created))
        later = np.flatnonzero(~same & (closed_batch >= 0))
        if len(later):
            second = {k: (v.take(pa.array(later)) if isinstance(v, pa.Array) else v[later]) for k, v in base.items()}
            second["closed_at"] = codes.timestamp_codes(closed[later])
            second["content"] = pa.array(content, type=pa.string()).take(pa.array(later))
            self._write_by_time("CRM_COMPLAINT", second, closed[later])

    # ------------------------------------------------------------------ snapshots, month end, truth
    def _emit_snapshots(self, first: int, last: int) -> None:
        """BOSS_USER snapshots of the batches ending between days `first` and `last`."""
        u, cat, codes = self.u, self.cat, self.w.codes
        for batch in self.w.timeline.batches:
            day = batch.period_end
            if not (first <= day <= last):
                continue
            status, status_day = self._status_on(day)
            rows = np.flatnonzero((u["join_day"] <= day) & ((status != CANCELLED) | (day - status_day <= 90)))
            st = status[rows]
            plan = np.where(day >= u["plan_day"][rows], u["plan"][rows], u["prev_plan"][rows])
            reason = u["cancel_reason"][rows]
            self.sink.write(batch.name, "BOSS_USER", pa.table({
                "user_id": u["uid"][rows],
                "msisdn": u["msisdn"][rows],
                "cust_name": pa.array(u["name"][rows], type=pa.string()),
                "brand_code": cat.plan_brand[plan].astype(object),
                "plan_code": cat.plans["plan_code"].to_numpy()[plan],
                "pay_type": np.where(cat.plan_is_prepaid[plan], "PRE", "POST").astype(object),
                "region_code": cat.region_codes[u["region"][rows]].astype(object),
                "join_date": codes.date_codes(u["join_day"][rows]),
                "status": STATUS[st],
                "status_date": codes.date_codes(status_day[rows]),
                "cancel_reason": pa.array(np.where(st == CANCELLED, CANCEL_REASON[np.maximum(reason, 0)], None),
                                          type=pa.string()),
                "is_rejoin": u["is_rejoin"][rows],
                "birth_year": pa.array(u["birth_year"][rows], mask=u["birth_missing"][rows]),
                "gender": pa.array(np.array(["M", "F"], dtype=object)[u["gender"][rows]], type=pa.string(),
                                   mask=u["gender_missing"][rows]),
                "dnd_flag": u["dnd"][rows],
            }))

    def _close_complete_month(self, month: Month, full_last: int) -> None:
        u, cat, rng = self.u, self.cat, self.rng
        n = len(u["uid"])
        A = month.first_day * DAY_SECONDS
        batch = self.w.batch_names[self.w.batch_of_day[full_last - self.w.timeline.first_day]]
        status_end, _ = self._status_on(full_last)
        billable = (u["join_day"] <= full_last) & (u["st"] != CANCELLED)
        rows = np.flatnonzero(billable)

        # usage totals: from the detail when it was delivered, else drawn from the same rates
        requests = u["requests"].sum(axis=1)
        if self.acc is not None:
            acc = self.acc
            acc.grow(n)
            tot = {"voice_calls": acc.voice_calls, "voice_moc_calls": acc.voice_moc_calls,
                   "voice_seconds": acc.voice_seconds, "distinct_contacts": acc.distinct_contacts,
                   "sms_mo": acc.sms_mo, "sms_mt": acc.sms_mt, "gprs_sessions": acc.gprs_sessions,
                   "gprs_kb": acc.gprs_kb, "active_days": acc.active_days, "voice_fee": acc.voice_fee,
                   "sms_fee": acc.sms_fee}
        else:
            distinct_sp = (u["requests"] > 0).sum(axis=1)
            tot = monthly_totals(rng, u, self.active_days, cat.tac_rat[u["tac"]], requests, distinct_sp)
        used = np.flatnonzero(billable & (tot["active_days"] > 0))
        usage = {"stat_month": np.full(len(used), int(month.label)), "user_id": u["uid"][used],
                 "msisdn": u["msisdn"][used]}
        for col in ("voice_calls", "voice_moc_calls", "voice_seconds", "distinct_contacts", "sms_mo", "sms_mt",
                    "gprs_sessions", "gprs_kb", "active_days"):
            usage[col] = tot[col][used]
        self.sink.write(batch, "BASS_USAGE", pa.table(usage))

        # info fees under the Monternet rule, and per-message fees
        m = self.m
        charged = monthly_charge(u["held"], u["since"], m["can0"], m["can0_reason"], m["ord1"], m["can1"], m["ord2"], A,
                                 (full_last + 1) * DAY_SECONDS)
        charged &= cat.service_is_monthly[None, :]
        per_msg = (cat.services["fee_type"].to_numpy() == "02")[None, :]
        fee = np.where(charged, cat.service_fee[None, :], 0) + np.where(per_msg, u["requests"] * cat.service_fee[None, :], 0)
        use = u["success"] + u["requests"]
        r, c = np.nonzero(((use > 0) | (fee > 0)) & billable[:, None])
        self.sink.write(batch, "BASS_VAS_USAGE", pa.table({
            "stat_month": np.full(len(r), int(month.label)), "user_id": u["uid"][r],
            "service_code": cat.services["service_code"].to_numpy()[c], "use_count": use[r, c], "fee_fen": fee[r, c]}))
        self.vas_users = np.zeros(n, bool)
        self.vas_users[r] = True

        # the bill and the credit story behind it
        plan = u["plan"]
        quota_kb = cat.plan_quota_mb[plan] * 1024
        gprs_fee = np.minimum(np.maximum(tot["gprs_kb"] - quota_kb, 0) // 1024 * 30, 50_000)
        vas_fee = fee.sum(axis=1)
        billed = cat.plan_fee[plan] + tot["voice_fee"] + tot["sms_fee"] + gprs_fee + vas_fee
        days_in = full_last - month.first_day + 1
        in_default = (u["default_day"] <= full_last) & ~u["cured"]
        start = np.maximum(month.first_day, u["default_day"])
        unpaid = np.where(in_default, billed * np.clip(full_last - start + 1, 0, days_in) // days_in, 0)
        u["arrears_acc"] = np.where(in_default, u["arrears_acc"] + unpaid, u["arrears_acc"])
        late = ~in_default & ~u["cured"] & (rng.random(n) < sigmoid(-2.4 + 1.1 * u["risk"]))
        late_amount = np.where(late, (billed * rng.uniform(0.3, 1.0, n)).astype("int64"), 0)
        arrears = np.where(in_default, np.maximum(u["arrears_acc"], 1000), late_amount)
        overdue = np.where(in_default, full_last - u["default_day"] + 1,
                           np.where(late, rng.integers(1, 26, n), 0))
        paid = billed - np.where(in_default, unpaid, late_amount) + u["late_prev"] + np.where(u["cured"], u["arrears_acc"], 0)
        u["late_prev"] = late_amount
        u["arrears_acc"] = np.where(u["cured"], 0, u["arrears_acc"])
        u["default_day"] = np.where(u["cured"], NEVER_DAY, u["default_day"])
        prepaid = cat.plan_is_prepaid[plan]
        balance = np.where(prepaid & ~in_default,
                           rng.lognormal(np.log(2500) + 0.4 * u["income"], 0.7, n).astype("int64"), 0)
        self.sink.write(batch, "BOSS_BILL", pa.table({
            "bill_month": np.full(len(rows), int(month.label)), "user_id": u["uid"][rows],
            "msisdn": u["msisdn"][rows], "billed_fen": billed[rows], "voice_fee_fen": tot["voice_fee"][rows],
            "sms_fee_fen": tot["sms_fee"][rows], "gprs_fee_fen": gprs_fee[rows], "vas_fee_fen": vas_fee[rows],
            "paid_fen": paid[rows], "balance_fen": balance[rows], "arrears_fen": arrears[rows],
            "overdue_days": overdue[rows]}))

        if full_last + 1 <= self.w.timeline.end_day:
            self._truth_and_labels(month, full_last, status_end)

    def _truth_and_labels(self, month: Month, full_last: int, status_end: np.ndarray) -> None:
        """Ground truth of month M and the draws that decide month M+1 (spec §6, §7)."""
        u, cat, rng = self.u, self.cat, self.rng
        n = len(u["uid"])
        present = u["join_day"] <= full_last
        FB = (full_last + 1) * DAY_SECONDS
        held_end = np.zeros((n, len(self.mn_services)), bool)
        for j, s in enumerate(self.mn_services):
            held_end[:, j] = self.holding_at(s, FB - 1)
        # 手机报 propensity
        population = present & (status_end == NORMAL) & ~held_end.any(axis=1)
        rows = np.flatnonzero(population)
        mms = cat.tac_mms[u["tac"][rows]]
        edition_pref = u["pref"][rows][:, cat.service_category[self.mn_services]].max(axis=1)
        switched = (u["last_change_day"][rows] >= month.first_day) & mms & ~cat.tac_mms[u["prev_tac"][rows]]
        logit = (PROPENSITY_INTERCEPT + 2.0 * mms + 5.0 * edition_pref + 3.0 * u["appetite"][rows]
                 - 1.5 * u["price_sensitivity"][rows] + 1.0 * switched + 0.35 * np.log(u["sms_level"][rows])
                 - 0.5 * u["had_mn"][rows] + rng.normal(0, 0.5, len(rows)))
        p = sigmoid(logit)
        u["label_mn"][:] = False
        u["p_mn"][:] = 0.0
        u["label_mn"][rows] = rng.random(len(rows)) < p
        u["p_mn"][rows] = p
        self.sink.truth(f"propensity_{month.label}", pa.table({"user_id": u["uid"][rows], "p": _round(p)}))

        # negative credit: the cohort that joined last month is scored now, at the start of J+2
        first_j = add_months_day(month.first_day, -1)
        cohort = np.flatnonzero((u["join_day"] >= first_j) & (u["join_day"] < month.first_day))
        if first_j >= self.w.timeline.first_day:
            capital = cat.region_is_capital[u["region"][cohort]]
            prepaid = cat.plan_is_prepaid[u["plan"][cohort]]
            logit_c = (CREDIT_INTERCEPT + 1.25 * u["risk"][cohort] + 0.7 * u["is_rejoin"][cohort]
                       + 0.5 * ~capital + 0.25 * prepaid)
            pc_ = sigmoid(logit_c)
            bad = rng.random(len(cohort)) < pc_
            start = full_last + 1
            last = month_last_day(add_months_day(month.first_day, 4)) - 30
            bad_rows = cohort[bad]
            u["planned_default"][bad_rows] = start + (rng.random(len(bad_rows)) * (last - start + 1)).astype("int64")
            self.sink.truth(f"credit_{_label(first_j)}", pa.table({"user_id": u["uid"][cohort], "p": _round(pc_)}))

        # content preference for month M+1
        drift = np.exp(rng.normal(0, 0.15, u["pref"].shape))
        pref = u["pref"] * drift
        u["pref"] = pref / pref.sum(axis=1, keepdims=True)
        who = np.flatnonzero(present & (status_end == NORMAL) & self.vas_users)
        k = len(who)
        self.sink.truth(f"content_{month.label}", pa.table({
            "user_id": np.repeat(u["uid"][who], 8),
            "category": np.tile(np.array(_categories(), dtype=object), k),
            "weight": _round(u["pref"][who].reshape(-1)),
        }))

    def _roll_month(self, month: Month, full_last: int) -> None:
        """Carry the state at the month's end into the next month."""
        u, m = self.u, self.m
        FB = (full_last + 1) * DAY_SECONDS
        keep_start = u["held"] & (m["can0"] >= FB)
        first_open = (m["ord1"] < FB) & (m["can1"] >= FB)
        second = m["ord2"] < FB
        held_end = keep_start | first_open | second
        since = np.where(keep_start, u["since"], np.where(second, m["ord2"], m["ord1"]))
        pending = np.where(keep_start, m["can0"], np.where(first_open & ~second, m["can1"], NEVER))
        pending = np.where(held_end & (pending < NEVER), pending, NEVER)
        reason = np.where(keep_start, m["can0_reason"], m["can1_reason"])
        u["held"], u["since"] = held_end, np.where(held_end, since, NEVER)
        u["pending_t"], u["pending_reason"] = pending, np.where(pending < NEVER, reason, 0)
        # status changes take effect; cancelled numbers go back to their region's pool
        changed = u["tr_kind"] >= 0
        new_status = np.array([NORMAL, SUSPENDED, CANCELLED])[np.maximum(u["tr_kind"], 0)]
        gone = np.flatnonzero(changed & (u["tr_kind"] == 2))
        u["st"] = np.where(changed, new_status, u["st"])
        u["st_day"] = np.where(changed, u["tr_day"], u["st_day"])
        u["tr_kind"][:] = -1
        for r, pool in enumerate(self.pools):
            sel = gone[u["region"][gone] == r]
            if len(sel):
                pool.release(u["msisdn"][sel], u["st_day"][sel], self.rng.integers(1, 60, len(sel)))


# ---------------------------------------------------------------------- helpers
def _full_last_day(month: Month) -> int:
    return month_last_day(month.first_day)


def _label(day: int) -> str:
    d = date_of(day)
    return f"{d.year:04d}{d.month:02d}"


def _categories() -> tuple[str, ...]:
    from vasmart.synth.reference import CATEGORIES

    return CATEGORIES


def _merge_pairs(days: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """One observation per (user, handset) over several days: earliest first, latest last, events summed."""
    rows, tac, serial, first, last, events = (np.concatenate([d[i] for d in days]) for i in range(6))
    order = np.lexsort((serial, tac, rows))
    rows, tac, serial, first, last, events = (x[order] for x in (rows, tac, serial, first, last, events))
    new = np.ones(len(rows), bool)
    new[1:] = (rows[1:] != rows[:-1]) | (tac[1:] != tac[:-1]) | (serial[1:] != serial[:-1])
    starts = np.flatnonzero(new)
    if not len(starts):
        return rows, tac, serial, first, last, events
    return (rows[starts], tac[starts], serial[starts], np.minimum.reduceat(first, starts),
            np.maximum.reduceat(last, starts), np.add.reduceat(events, starts))


def _round(p: np.ndarray) -> pa.Array:
    return pa.array(np.round(p, 6))


def _arr(values, sel):
    return values[sel]


def _nullable_str(values: np.ndarray, prefix: str) -> pa.Array:
    text = pa.array(values).cast(pa.string())
    joined = pc.binary_join_element_wise(prefix, text, "")
    return pc.if_else(pa.array(values < 0), pa.scalar(None, pa.string()), joined)


def _cell_text(cells: np.ndarray) -> pa.Array:
    lac = pa.array(cells // 100_000).cast(pa.string())
    ci = pa.array(cells % 100_000).cast(pa.string())
    return pc.binary_join_element_wise(lac, ci, "-")
