"""The holdout on a 20,000-user generated population: the configured share within one percentage point, overall
and in every score band, drawn from a recorded seed; earlier holdouts stay held out.

The population is drawn by the generator's own trait model (`vasmart.synth.population.draw_traits`); its
score is the generator's 手机报 propensity logit of those traits (the same formula the ground truth uses).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from vasmart.campaigns.holdout import HOLDOUT, TARGET, assign_groups, band_quotas, holdout_seed, score_bands
from vasmart.synth.catalogue import Catalogue
from vasmart.synth.population import draw_traits
from vasmart.synth.simulate import PROPENSITY_INTERCEPT, sigmoid

USERS = 20_000


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    """20,000 generated users ranked by their true propensity, best first."""
    cat = Catalogue.load()
    rng = np.random.default_rng(20_000)
    t = draw_traits(rng, USERS, cat, 2026)
    mms = cat.tac_mms[t["tac"]]
    newspaper = cat.service_category[np.flatnonzero(cat.service_is_newspaper)]
    logit = (PROPENSITY_INTERCEPT + 2.0 * mms + 5.0 * t["pref"][:, newspaper].max(axis=1) + 3.0 * t["appetite"]
             - 1.5 * t["price_sensitivity"] + 0.35 * np.log(t["sms_level"]))
    frame = pd.DataFrame({"user_pseudonym": [f"u{i:05d}" for i in range(USERS)], "score": sigmoid(logit)})
    return frame.sort_values(["score", "user_pseudonym"], ascending=[False, True]).reset_index(drop=True)


@pytest.mark.parametrize(("share", "bands"), [(0.10, 10), (0.10, 5), (0.25, 10), (0.05, 7)])
def test_share_within_one_point_overall_and_in_every_band(population, share, bands):
    grouped = assign_groups(population, share, bands, holdout_seed("newspaper_acquisition", dt.date(2026, 11, 20)))
    assert len(grouped) == USERS and set(grouped["group"]) == {TARGET, HOLDOUT}
    overall = (grouped["group"] == HOLDOUT).mean()
    assert abs(overall - share) <= 0.01
    per_band = grouped.groupby("score_band")["group"].apply(lambda g: (g == HOLDOUT).mean())
    assert len(per_band) == bands
    assert (per_band - share).abs().max() <= 0.01, per_band
    # stratified: held-out and contacted users have the same score distribution, band by band
    means = grouped.groupby("group")["score"].mean()
    assert abs(means[HOLDOUT] - means[TARGET]) < 0.1 * population["score"].std()


def test_bands_are_equal_slices_of_the_ranking(population):
    bands = score_bands(USERS, 10)
    assert list(np.bincount(bands)[1:]) == [2000] * 10
    assert (np.diff(bands) >= 0).all()
    grouped = assign_groups(population, 0.1, 10, 1)
    best, worst = grouped[grouped["score_band"] == 1], grouped[grouped["score_band"] == 10]
    assert best["score"].min() >= worst["score"].max()


def test_quotas_sum_to_the_rounded_share():
    sizes = np.array([7, 7, 7, 6])
    quotas = band_quotas(sizes, 0.1)
    assert quotas.sum() == round(0.1 * 27) and (quotas <= np.ceil(sizes * 0.1)).all()


def test_the_seed_is_recorded_and_decides_the_draw(population):
    seed = holdout_seed("newspaper_acquisition", dt.date(2026, 11, 20))
    assert seed == holdout_seed("newspaper_acquisition", dt.date(2026, 11, 20)) and seed >= 0
    assert seed != holdout_seed("newspaper_acquisition", dt.date(2026, 11, 21))
    assert seed != holdout_seed("gprs_migration", dt.date(2026, 11, 20))
    first = assign_groups(population, 0.1, 10, seed)
    again = assign_groups(population, 0.1, 10, seed)
    other = assign_groups(population, 0.1, 10, seed + 1)
    assert first["group"].tolist() == again["group"].tolist()
    assert first["group"].tolist() != other["group"].tolist()


def test_earlier_holdouts_stay_held_out_and_the_share_holds(population):
    earlier = assign_groups(population.sample(frac=0.5, random_state=3).sort_values("score", ascending=False),
                            0.1, 10, 11)
    sticky = set(earlier.loc[earlier["group"] == HOLDOUT, "user_pseudonym"])
    grouped = assign_groups(population, 0.1, 10, 12, sticky)
    held = set(grouped.loc[grouped["group"] == HOLDOUT, "user_pseudonym"])
    assert sticky <= held
    assert abs(len(held) / USERS - 0.1) <= 0.01


def test_a_share_of_zero_holds_out_nobody(population):
    grouped = assign_groups(population.head(500), 0.0, 10, 5)
    assert (grouped["group"] == TARGET).all()
