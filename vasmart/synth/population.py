"""Latent traits of subscribers, drawn once per user; every observable is derived from them.

See the `vasmart.synth` package docstring for the model as a whole.
"""

from __future__ import annotations

import numpy as np

from vasmart.synth.catalogue import Catalogue

N_CATEGORIES = 8
# Category order: NEWS, SPORTS, FINANCE, ENTERTAINMENT, MUSIC, GAMES, LIFE, EDUCATION.
_PREF_YOUNG = np.array([0.6, 0.9, 0.3, 1.3, 1.5, 1.6, 0.6, 0.7])
_PREF_OLD = np.array([1.8, 0.7, 1.2, 0.5, 0.4, 0.2, 1.3, 0.3])
_SPORTS_MALE_BOOST = 0.6


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_traits(rng: np.random.Generator, n: int, cat: Catalogue, reference_year: int) -> dict[str, np.ndarray]:
    """Draw the latent traits and fixed attributes of `n` new subscribers."""
    age = np.clip(rng.gamma(6.0, 6.0, n) + 12, 16, 80)
    birth_year = (reference_year - age).astype("int64")
    male = rng.random(n) < 0.52
    income = rng.normal(0, 1, n)
    region = rng.choice(len(cat.regions), size=n, p=cat.region_weights)
    income += np.where(cat.region_is_capital[region], 0.4, 0.0)

    # Brand and plan: premium postpaid for older, richer users; youth brand for the young; mass prepaid else.
    youth = _sigmoid((27 - age) / 3.0)
    premium = _sigmoid(1.4 * income - 1.2 + 0.3 * ((age > 30) & (age < 55)))
    u = rng.random(n)
    brand = np.where(u < premium * 0.7, "GOTONE", np.where(u < premium * 0.7 + youth * 0.6, "MZONE", "EASYOWN"))
    plan = np.empty(n, dtype="int64")
    for b in ("GOTONE", "MZONE", "EASYOWN"):
        members = np.flatnonzero(brand == b)
        options = cat.plans_of_brand(b)
        # richer users sit higher on the brand's ladder
        rank = np.clip(_sigmoid(income[members] + rng.normal(0, 0.8, len(members))), 0, 0.9999)
        plan[members] = options[(rank * len(options)).astype(int)]

    appetite = _sigmoid(rng.normal(-0.4, 1.0, n) + 0.4 * income - 0.015 * (age - 35))
    price_sensitivity = _sigmoid(rng.normal(0.2, 1.0, n) - 0.8 * income)
    old = np.clip((age - 16) / 50, 0, 1)[:, None]
    alpha = (1 - old) * _PREF_YOUNG + old * _PREF_OLD
    alpha[:, 1] += np.where(male, _SPORTS_MALE_BOOST, 0.0)
    pref = rng.gamma(alpha * 0.9, 1.0)
    pref = pref / pref.sum(axis=1, keepdims=True)

    # Handset tier follows income and age; capabilities come from the TAC picked.
    tier_score = income + 0.8 * youth + rng.normal(0, 0.7, n)
    tier = np.digitize(tier_score, [-0.9, 0.6])
    tac = np.empty(n, dtype="int64")
    for t in range(3):
        members = np.flatnonzero(tier == t)
        pool = cat.tacs_by_tier[t]
        tac[members] = pool[rng.integers(0, len(pool), len(members))]

    voice_level = rng.lognormal(np.log(5.6) + 0.25 * income, 0.6, n)
    sms_level = rng.lognormal(np.log(2.3) + 0.8 * youth, 0.7, n)
    data_user = rng.random(n) < _sigmoid(1.2 + 1.5 * youth + 0.5 * income)
    data_level = np.where(data_user, rng.lognormal(np.log(3.3) + 0.6 * youth, 0.6, n), 0.0)
    risk = rng.normal(0, 1, n) - 0.35 * income
    return {
        "birth_year": birth_year,
        "gender": np.where(male, 0, 1).astype("int64"),
        "region": region.astype("int64"),
        "plan": plan,
        "income": income,
        "appetite": appetite,
        "price_sensitivity": price_sensitivity,
        "pref": pref,
        "tac": tac,
        "imei_serial": rng.integers(0, 1_000_000, n),
        "reports_imeisv": (rng.random(n) < 0.03).astype("int64"),
        "voice_level": voice_level,
        "sms_level": sms_level,
        "data_level": data_level,
        "risk": risk,
        "dnd": (rng.random(n) < 0.05).astype("int64"),
        "contacts": rng.integers(8, 56, n),
        "name_missing": rng.random(n) < 0.02,
        "non_han": rng.random(n) < cat.region_non_han[region],
        "name_pick": rng.integers(0, 2**31, n),
        "birth_missing": rng.random(n) < 0.04,
        "gender_missing": rng.random(n) < 0.03,
    }


def names_for(traits: dict[str, np.ndarray], cat: Catalogue) -> np.ndarray:
    """Customer names (Han surname + given name, or a Uyghur/Kazakh full name); None where unknown."""
    surnames, given, non_han = (np.array(x, dtype=object) for x in cat.names)
    pick = traits["name_pick"]
    han = surnames[pick % len(surnames)] + given[(pick // 997) % len(given)]
    other = non_han[pick % len(non_han)]
    names = np.where(traits["non_han"], other, han)
    names[traits["name_missing"]] = None
    return names
