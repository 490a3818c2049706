"""Usage: voice, SMS and GPRS detail records for one day, and their monthly totals.

Daily detail is generated only for the daily-batch period; for history months the same latent rates
give the monthly totals directly (BASS_USAGE), since CDR detail of those months is never delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DAY = 86_400
# Share of traffic per hour of the day (local time), for calls, messages and data sessions.
_HOURLY = np.array([0.5, 0.3, 0.2, 0.15, 0.15, 0.3, 0.9, 2.2, 4.0, 5.5, 6.3, 6.4,
                    6.0, 5.6, 5.8, 6.0, 6.1, 6.2, 6.4, 6.6, 7.0, 6.8, 5.2, 2.9])
_HOUR_CDF = np.cumsum(_HOURLY) / _HOURLY.sum()
MOC_RATE_FEN = 15  # per started minute, local
ROAM_RATE_FEN = 60  # per started minute, national/international roaming
SMS_FEN = 10
GPRS_OVERFLOW_FEN_PER_MB = 30
GPRS_FEE_CAP_FEN = 50_000
_ROAM_P = np.array([0.92, 0.05, 0.027, 0.003])


def seconds_in_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight, following the daily traffic profile."""
    hour = np.searchsorted(_HOUR_CDF, rng.random(n))
    return hour * 3600 + rng.integers(0, 3600, n)


def contact_slots(rng: np.random.Generator, contacts: np.ndarray) -> np.ndarray:
    """Contact-book slots, skewed to the first (closest) contacts."""
    return (contacts * rng.random(len(contacts)) ** 2).astype("int64")


@dataclass
class MonthAccumulator:
    """Per-user monthly totals of the detail records, exactly as BASS_USAGE defines them."""

    n: int
    voice_calls: np.ndarray = field(init=False)
    voice_moc_calls: np.ndarray = field(init=False)
    voice_seconds: np.ndarray = field(init=False)
    sms_mo: np.ndarray = field(init=False)
    sms_mt: np.ndarray = field(init=False)
    gprs_sessions: np.ndarray = field(init=False)
    gprs_kb: np.ndarray = field(init=False)
    contact_mask: np.ndarray = field(init=False)
    sp_mask: np.ndarray = field(init=False)
    day_mask: np.ndarray = field(init=False)
    voice_fee: np.ndarray = field(init=False)
    sms_fee: np.ndarray = field(init=False)

    def __post_init__(self):
        for name in ("voice_calls", "voice_moc_calls", "voice_seconds", "sms_mo", "sms_mt", "gprs_sessions",
                     "gprs_kb", "voice_fee", "sms_fee"):
            setattr(self, name, np.zeros(self.n, dtype="int64"))
        self.contact_mask = np.zeros(self.n, dtype="uint64")
        self.sp_mask = np.zeros(self.n, dtype="uint64")
        self.day_mask = np.zeros(self.n, dtype="uint64")

    def grow(self, n: int) -> None:
        """Make room for users who joined since the accumulator was made."""
        extra = n - self.n
        if extra <= 0:
            return
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                setattr(self, name, np.concatenate([value, np.zeros(extra, dtype=value.dtype)]))
        self.n = n

    @property
    def distinct_contacts(self) -> np.ndarray:
        return (np.bitwise_count(self.contact_mask) + np.bitwise_count(self.sp_mask)).astype("int64")

    @property
    def active_days(self) -> np.ndarray:
        return np.bitwise_count(self.day_mask).astype("int64")


@dataclass
class DayRecords:
    """The day's detail records as column arrays (user indexes, not yet numbers)."""

    voice: dict
    sms: dict
    gprs: dict


def day_records(
    rng: np.random.Generator,
    day: int,
    day_of_month: int,
    users: np.ndarray,
    u: dict,
    rat: np.ndarray,
    requests: tuple[np.ndarray, np.ndarray],
    service_access: np.ndarray,
    service_fee_per_msg: np.ndarray,
    acc: MonthAccumulator,
) -> DayRecords:
    """Voice, SMS and GPRS records of one day for the active `users`, added to the month's totals.

    `requests` are the day's user-originated VAS requests as (user index, service index); they travel as
    MO messages to the service's SP access number.
    """
    weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
    factor = 0.85 if weekend else 1.05
    t0 = day * DAY
    bit_day = np.uint64(1) << np.uint64(day_of_month - 1)

    # voice: MOC, MTC and forwarded calls
    n_calls = rng.poisson(u["voice_level"][users] * factor)
    vu = np.repeat(users, n_calls)
    nv = len(vu)
    call_type = np.searchsorted(np.array([0.50, 0.95]), rng.random(nv), side="right")  # 0 MOC 1 MTC 2 FWD
    duration = np.minimum(rng.lognormal(np.log(55), 1.0, nv), 7200).astype("int64")
    duration[call_type == 2] = np.minimum(duration[call_type == 2], 60)
    roam = np.searchsorted(np.cumsum(_ROAM_P)[:-1], rng.random(nv), side="right")
    minutes = (duration + 59) // 60
    fee = np.where(call_type == 0, minutes * np.where(roam >= 2, ROAM_RATE_FEN, MOC_RATE_FEN),
                   np.where(roam >= 2, minutes * 30, 0))
    v_slot = contact_slots(rng, u["contacts"][vu])
    voice = {"user": vu, "time": t0 + seconds_in_day(rng, nv), "call_type": call_type, "duration": duration,
             "roam": roam, "fee": fee, "slot": v_slot, "cell": _cells(rng, u["region"][vu])}
    counted = call_type < 2
    acc.voice_calls += np.bincount(vu[counted], minlength=acc.n)
    acc.voice_moc_calls += np.bincount(vu[call_type == 0], minlength=acc.n)
    acc.voice_seconds += np.bincount(vu[counted], weights=duration[counted], minlength=acc.n).astype("int64")
    acc.voice_fee += np.bincount(vu, weights=fee, minlength=acc.n).astype("int64")
    np.bitwise_or.at(acc.contact_mask, vu, np.uint64(1) << v_slot.astype("uint64"))

    # SMS: person-to-person MO/MT, plus MO requests to SP access numbers
    lvl = u["sms_level"][users] * factor
    n_mo, n_mt = rng.poisson(lvl), rng.poisson(lvl * 1.1)
    mo_u, mt_u = np.repeat(users, n_mo), np.repeat(users, n_mt)
    req_u, req_s = requests
    su = np.concatenate([mo_u, mt_u, req_u])
    ns = len(su)
    sms_type = np.concatenate([np.zeros(len(mo_u), "int64"), np.ones(len(mt_u), "int64"),
                               np.zeros(len(req_u), "int64")])
    person = np.arange(ns) < len(mo_u) + len(mt_u)
    s_slot = np.where(person, contact_slots(rng, u["contacts"][su]), -1)
    service = np.concatenate([np.full(len(mo_u) + len(mt_u), -1, "int64"), req_s])
    sfee = np.where(person & (sms_type == 0), SMS_FEN, 0)
    sfee[~person] = service_fee_per_msg[req_s]
    sms = {"user": su, "time": t0 + seconds_in_day(rng, ns), "sms_type": sms_type, "slot": s_slot,
           "service": service, "fee": sfee}
    acc.sms_mo += np.bincount(su[sms_type == 0], minlength=acc.n)
    acc.sms_mt += np.bincount(su[sms_type == 1], minlength=acc.n)
    acc.sms_fee += np.bincount(su[person], weights=sfee[person], minlength=acc.n).astype("int64")
    np.bitwise_or.at(acc.contact_mask, su[person], np.uint64(1) << s_slot[person].astype("uint64"))
    np.bitwise_or.at(acc.sp_mask, req_u, np.uint64(1) << req_s.astype("uint64"))

    # GPRS sessions, on what the handset supports
    n_sess = rng.poisson(u["data_level"][users] * factor)
    gu = np.repeat(users, n_sess)
    ng = len(gu)
    down = np.minimum(rng.lognormal(np.log(120_000) + 0.6 * (rat[gu] - 2), 1.6, ng), 2e9).astype("int64")
    up = (down * rng.uniform(0.05, 0.3, ng)).astype("int64")
    gdur = np.minimum(rng.lognormal(np.log(300), 1.1, ng), 86_000).astype("int64")
    net_rat = np.minimum(rat[gu], np.where(rng.random(ng) < 0.8, 4, np.where(rng.random(ng) < 0.5, 3, 2)))
    wap_user = u["appetite"][gu] > 0.55
    gprs = {"user": gu, "time": t0 + seconds_in_day(rng, ng), "duration": gdur, "up": up, "down": down,
            "apn": np.where(wap_user & (rng.random(ng) < 0.6), 1, 0), "rat": net_rat,
            "cell": _cells(rng, u["region"][gu])}
    kb = (up + down + 1023) // 1024
    acc.gprs_sessions += np.bincount(gu, minlength=acc.n)
    acc.gprs_kb += np.bincount(gu, weights=kb, minlength=acc.n).astype("int64")

    for arr in (vu, su, gu):
        if len(arr):
            acc.day_mask[np.unique(arr)] |= bit_day
    return DayRecords(voice, sms, gprs)


def _cells(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    """Cells as LAC * 100000 + CI; the LAC encodes the prefecture (written as 'LAC-CI')."""
    lac = 10_000 + region * 100 + rng.integers(0, 40, len(region))
    return lac * 100_000 + rng.integers(1, 65_535, len(region))


def monthly_totals(rng: np.random.Generator, u: dict, active_days: np.ndarray, rat: np.ndarray,
                   requests_per_user: np.ndarray, distinct_sp: np.ndarray) -> dict[str, np.ndarray]:
    """BASS_USAGE totals for a month without delivered detail, from the same latent rates as the detail."""
    days = active_days.astype("float64")
    vl, sl, dl = u["voice_level"], u["sms_level"], u["data_level"]
    moc = rng.poisson(vl * 0.50 * days)
    mtc = rng.poisson(vl * 0.45 * days)
    fwd = rng.poisson(vl * 0.05 * days)
    calls = moc + mtc
    seconds = np.rint(rng.gamma(np.maximum(calls, 1e-9) * 0.9, 100.8)).astype("int64") * (calls > 0)
    moc_seconds = np.where(calls > 0, seconds * moc // np.maximum(calls, 1), 0)
    sms_person_mo = rng.poisson(sl * days)
    sms_mt = rng.poisson(sl * 1.1 * days)
    sessions = rng.poisson(dl * days)
    kb = np.rint(rng.gamma(np.maximum(sessions, 1e-9) * 0.5, 2 * 497.0 * np.exp(0.6 * (rat - 2)))).astype("int64")
    kb *= sessions > 0
    touches = calls + fwd + sms_person_mo + sms_mt
    k = u["contacts"].astype("float64")
    distinct = np.rint(k * (1 - np.exp(-touches / np.maximum(k, 1) * 0.9))).astype("int64") + distinct_sp
    daily_events = (vl + sl * 2.1 + dl) + requests_per_user / np.maximum(days, 1)
    active = rng.binomial(active_days.astype("int64"), 1 - np.exp(-daily_events))
    active = np.where((touches + sessions + requests_per_user) > 0, np.maximum(active, 1), 0)
    return {
        "voice_calls": calls, "voice_moc_calls": moc, "voice_seconds": seconds,
        "distinct_contacts": distinct, "sms_mo": sms_person_mo + requests_per_user, "sms_mt": sms_mt,
        "gprs_sessions": sessions, "gprs_kb": kb, "active_days": active,
        "voice_fee": (moc_seconds // 60 + moc) * MOC_RATE_FEN, "sms_fee": sms_person_mo * SMS_FEN,
    }
