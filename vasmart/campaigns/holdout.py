"""The holdout (对照组): a random share of the selected users that is not contacted, stratified by score band.

Bands cut the selected list by rank into `bands` equal parts (band 1 = the best scores). The holdout size
is `round(share * n)` in total, split over the bands by largest remainder, so every band is held out in
the same proportion; within a band the held-out users are drawn with a seeded generator (the seed derives
from the campaign and the run date and is recorded with the run), so a rerun draws the same users.
Users held out by an earlier run of the same campaign stay held out (never contacted by it later), which
keeps the comparison clean across runs; they count toward their band's quota.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

TARGET, HOLDOUT = "TARGET", "HOLDOUT"


def holdout_seed(campaign: str, run_date: dt.date) -> int:
    """The run's seed: the first 8 bytes of sha256("campaign|YYYY-MM-DD") as a non-negative integer."""
    digest = hashlib.sha256(f"{campaign}|{run_date.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def score_bands(n: int, bands: int) -> np.ndarray:
    """Band (1..bands) of each rank position 0..n-1: equal-sized slices of the ranked list."""
    if n == 0:
        return np.zeros(0, dtype="int64")
    return (np.arange(n) * min(bands, n) // n + 1).astype("int64")


def band_quotas(sizes: np.ndarray, share: float) -> np.ndarray:
    """Holdout count per band: share of each band, rounded by largest remainder to round(share * total)."""
    exact = sizes * share
    quotas = np.floor(exact).astype("int64")
    missing = round(float(share * sizes.sum())) - int(quotas.sum())
    if missing > 0:
        order = np.argsort(-(exact - quotas), kind="stable")
        quotas[order[:missing]] += 1
    return quotas


def assign_groups(ranked: pd.DataFrame, share: float, bands: int, seed: int,
                  sticky: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """Add `score_band` and `group` (TARGET or HOLDOUT) to a list ordered best first (one row per user)."""
    out = ranked.reset_index(drop=True).copy()
    out["score_band"] = score_bands(len(out), bands)
    group = np.full(len(out), TARGET, dtype=object)
    forced = out["user_pseudonym"].isin(sticky).to_numpy()
    group[forced] = HOLDOUT
    rng = np.random.default_rng(seed)
    band_ids = np.arange(1, min(bands, len(out)) + 1)
    sizes = np.array([(out["score_band"] == b).sum() for b in band_ids], dtype="int64")
    for band, quota in zip(band_ids, band_quotas(sizes, share), strict=True):
        members = np.flatnonzero((out["score_band"] == band).to_numpy())
        free = members[~forced[members]]
        need = max(0, int(quota) - int(forced[members].sum()))
        if need:
            group[rng.choice(free, size=min(need, len(free)), replace=False)] = HOLDOUT
    out["group"] = group
    return out
