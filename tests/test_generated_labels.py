"""Acceptance: the truth files (spec section 7) match populations and labels computed from the landing files
with the definitions of spec section 6, and the true probabilities explain the realised labels."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from landing_reader import add_months, holdings_at, month_first, month_last, query, read_truth
from sklearn.metrics import roc_auc_score

CATEGORIES = ["NEWS", "SPORTS", "FINANCE", "ENTERTAINMENT", "MUSIC", "GAMES", "LIFE", "EDUCATION"]
TRUTH_NAME = re.compile(r"^(propensity|credit|content)_(\d{6})\.csv$")
HEADERS = {"propensity": "user_id,p", "credit": "user_id,p", "content": "user_id,category,weight"}


# ----------------------------------------------------------------------------------------------- truth files


@pytest.fixture(scope="session")
def truth_files(main_run) -> dict[str, dict[str, pd.DataFrame]]:
    out: dict[str, dict[str, pd.DataFrame]] = {"propensity": {}, "credit": {}, "content": {}}
    for p in sorted(main_run.truth_dir.iterdir()):
        m = TRUTH_NAME.match(p.name)
        if m:
            out[m[1]][m[2]] = read_truth(p)
    return out


def _p(df: pd.DataFrame) -> pd.Series:
    return pd.Series(df["p"].astype(float).to_numpy(), index=df["user_id"].astype("int64"))


def test_truth_directory_holds_only_the_truth_files_with_their_headers(main_run):
    problems = []
    for p in sorted(main_run.truth_dir.iterdir()):
        m = TRUTH_NAME.match(p.name)
        if not m:
            problems.append(f"unexpected file truth/{p.name}")
            continue
        first = p.read_bytes().split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
        if first != HEADERS[m[1]]:
            problems.append(f"truth/{p.name}: header {first!r}, expected {HEADERS[m[1]]!r}")
    assert not problems, problems


def test_truth_files_are_written_for_the_expected_months(main_run, truth_files, month_end_batches):
    end = main_run.end_date
    mes = set(month_end_batches)
    want_prop = {m for m in mes if month_first(add_months(m, 1)) <= end}
    assert set(truth_files["propensity"]) == want_prop
    # credit: every J with J's and J+1's month end delivered and J+2 started; the month before history is optional
    want_credit = {j for j in mes if add_months(j, 1) in mes and month_first(add_months(j, 2)) <= end}
    optional = {add_months(min(mes), -1)}
    got = set(truth_files["credit"])
    assert want_credit <= got <= want_credit | optional, sorted(got ^ want_credit)
    got = set(truth_files["content"])
    assert {m for m in mes if add_months(m, 1) in mes} <= got <= mes, sorted(got)


def test_probabilities_are_valid_and_users_unique(truth_files):
    for kind in ("propensity", "credit"):
        for m, df in truth_files[kind].items():
            p = df["p"].astype(float)
            assert ((p >= 0) & (p <= 1)).all() and df["user_id"].is_unique, f"{kind}_{m}"
            assert df["user_id"].str.fullmatch(r"[0-9]+").all(), f"{kind}_{m}"


# ----------------------------------------------------------------------------------------------- propensity


def _np_codes(services) -> set[str]:
    return set(services.loc[services["product_line"] == "MOBILE_NEWSPAPER", "service_code"])


def _end_of(month: str) -> pd.Timestamp:
    return pd.Timestamp(month_last(month)) + pd.Timedelta(hours=23, minutes=59, seconds=59)


def propensity_population(landing, orders, services, month: str) -> set[int]:
    snap = landing.frame(month_last(month), "BOSS_USER")
    normal = set(snap.loc[snap["status"] == "NORMAL", "user_id"].astype("int64"))
    held = holdings_at(orders, _end_of(month))
    np_holders = set(held.loc[held["service_code"].isin(_np_codes(services)), "user_id"])
    return normal - np_holders


def propensity_labels(orders, services, month: str) -> set[int]:
    """Users with an order of a MOBILE_NEWSPAPER service in month+1 not cancelled within 72 hours."""
    nxt = add_months(month, 1)
    o = orders[orders["service_code"].isin(_np_codes(services))]
    r = query(
        f"""select distinct a.user_id from o a
            where a.action = '1' and substr(a.op_time, 1, 6) = '{nxt}'
              and not exists (select 1 from o c where c.action = '2' and c.user_id = a.user_id
                              and c.service_code = a.service_code and c.ts >= a.ts
                              and c.ts <= a.ts + interval 72 hours)""",
        o=o,
    )
    return set(r["user_id"])


def _rate_check(name: str, p: pd.Series, y: pd.Series) -> tuple[bool, str]:
    n = len(p)
    rate, mean_p = float(y.mean()), float(p.mean())
    tol = 4 * math.sqrt(float((p * (1 - p)).sum())) / n
    msg = f"{name}: n={n} realised rate {rate:.4f}, mean p {mean_p:.4f}, tolerance {tol:.4f}"
    return abs(rate - mean_p) <= tol, msg


@pytest.fixture(scope="session")
def propensity_realised(landing, orders, services, truth_files, month_end_batches):
    """(month, p, y) for every propensity month whose month+1 month-end batch was delivered."""
    out = []
    for m, df in sorted(truth_files["propensity"].items()):
        if add_months(m, 1) not in month_end_batches:
            continue
        p = _p(df)
        labels = propensity_labels(orders, services, m)
        y = pd.Series(p.index.isin(list(labels)).astype(int), index=p.index)
        out.append((m, p, y))
    return out


def test_propensity_population_equals_normal_users_without_a_newspaper(
    landing, orders, services, truth_files
):
    problems = []
    for m, df in sorted(truth_files["propensity"].items()):
        truth = set(df["user_id"].astype("int64"))
        mine = propensity_population(landing, orders, services, m)
        if truth != mine:
            problems.append(
                f"{m}: truth {len(truth)} users, files give {len(mine)}; only in truth "
                f"{sorted(truth - mine)[:5]} ({len(truth - mine)}), only in files "
                f"{sorted(mine - truth)[:5]} ({len(mine - truth)})"
            )
    assert not problems, "\n".join(problems)


def test_propensity_realised_rate_matches_truth(propensity_realised):
    assert len(propensity_realised) >= 10, [m for m, _, _ in propensity_realised]
    results = [_rate_check(m, p, y) for m, p, y in propensity_realised]
    pooled_p = pd.concat([p for _, p, _ in propensity_realised])
    pooled_y = pd.concat([y for _, _, y in propensity_realised])
    results.append(_rate_check("pooled", pooled_p, pooled_y))
    print("\n" + "\n".join(msg for _, msg in results))
    assert all(ok for ok, _ in results), "\n".join(msg for ok, msg in results if not ok)
    assert 0.03 <= pooled_p.mean() <= 0.05, f"mean propensity {pooled_p.mean():.4f}"
    means = {m: round(float(p.mean()), 4) for m, p, _ in propensity_realised}
    assert all(0.02 <= v <= 0.07 for v in means.values()), means


def test_propensity_oracle_auc(propensity_realised):
    p = pd.concat([p for _, p, _ in propensity_realised])
    y = pd.concat([y for _, _, y in propensity_realised])
    auc = roc_auc_score(y, p)
    print(f"\npropensity oracle AUC {auc:.3f} over {len(y)} user-months, {int(y.sum())} positives")
    assert 0.70 <= auc <= 0.93, auc


# ----------------------------------------------------------------------------------------------- credit


@pytest.fixture(scope="session")
def bad_bills(landing) -> pd.DataFrame:
    return query(
        """select distinct bill_month, cast(user_id as bigint) user_id from b
           where cast(overdue_days as int) >= 30 and cast(arrears_fen as int) >= 1000""",
        b=landing.all_batches("BOSS_BILL"),
    )


@pytest.fixture(scope="session")
def credit_realised(truth_files, bad_bills, month_end_batches):
    """(cohort month, p, y) for every cohort whose J+2..J+5 month-end batches were delivered."""
    out = []
    for j, df in sorted(truth_files["credit"].items()):
        window = [add_months(j, k) for k in range(2, 6)]
        if not all(m in month_end_batches for m in window):
            continue
        p = _p(df)
        bad = set(bad_bills.loc[bad_bills["bill_month"].isin(window), "user_id"])
        out.append((j, p, pd.Series(p.index.isin(list(bad)).astype(int), index=p.index)))
    return out


def test_credit_cohort_equals_users_joined_in_the_month(landing, truth_files, month_end_batches):
    problems = []
    for j, df in sorted(truth_files["credit"].items()):
        nxt = add_months(j, 1)
        assert nxt in month_end_batches, f"credit_{j}: no month-end batch for {nxt}"
        snap = landing.frame(month_last(nxt), "BOSS_USER")
        mine = set(snap.loc[snap["join_date"].str[:6] == j, "user_id"].astype("int64"))
        truth = set(df["user_id"].astype("int64"))
        if truth != mine:
            problems.append(
                f"{j}: truth {len(truth)}, files {len(mine)}; only in truth {sorted(truth - mine)[:5]}, "
                f"only in files {sorted(mine - truth)[:5]}"
            )
        if not mine:
            problems.append(f"{j}: empty cohort")
    assert not problems, "\n".join(problems)


def test_credit_realised_bad_rate_matches_truth(credit_realised, truth_files):
    assert len(credit_realised) >= 6, [j for j, _, _ in credit_realised]
    results = [_rate_check(j, p, y) for j, p, y in credit_realised]
    pooled_p = pd.concat([p for _, p, _ in credit_realised])
    pooled_y = pd.concat([y for _, _, y in credit_realised])
    results.append(_rate_check("pooled", pooled_p, pooled_y))
    print("\n" + "\n".join(msg for _, msg in results))
    assert all(ok for ok, _ in results), "\n".join(msg for ok, msg in results if not ok)
    all_p = pd.concat([_p(df) for df in truth_files["credit"].values()])
    assert 0.05 <= all_p.mean() <= 0.15, f"mean credit p {all_p.mean():.4f}"


def test_credit_risk_is_higher_for_rejoiners_and_outside_the_capital(landing, truth_files, users, ref):
    p = pd.concat([_p(df) for df in truth_files["credit"].values()])
    p = p[~p.index.duplicated()]
    capital = set(ref["REF_REGION"].loc[ref["REF_REGION"]["is_capital"] == "1", "region_code"])
    u = users.set_index("user_id").reindex(p.index)
    assert u["is_rejoin"].notna().all()
    df = pd.DataFrame({"p": p, "rejoin": u["is_rejoin"], "capital": u["region_code"].isin(capital)})
    seg = df.groupby(["rejoin", "capital"])["p"].agg(["mean", "size"])
    print("\nmean credit p by segment (is_rejoin, capital):\n" + seg.to_string())
    by_rejoin = df.groupby("rejoin")["p"].mean()
    by_capital = df.groupby("capital")["p"].mean()
    assert set(by_rejoin.index) == {0, 1} and by_rejoin[1] > by_rejoin[0], str(by_rejoin.to_dict())
    assert set(by_capital.index) == {False, True} and by_capital[False] > by_capital[True], (
        by_capital.to_dict()
    )


def test_credit_oracle_auc(credit_realised):
    p = pd.concat([p for _, p, _ in credit_realised])
    y = pd.concat([y for _, _, y in credit_realised])
    assert 0 < y.sum() < len(y)
    auc = roc_auc_score(y, p)
    print(f"\ncredit oracle AUC {auc:.3f} over {len(y)} users, {int(y.sum())} bad")
    assert 0.70 <= auc <= 0.93, auc


# ----------------------------------------------------------------------------------------------- content


def test_content_population_and_weights(landing, truth_files):
    problems = []
    for m, df in sorted(truth_files["content"].items()):
        snap = landing.frame(month_last(m), "BOSS_USER")
        normal = set(snap.loc[snap["status"] == "NORMAL", "user_id"].astype("int64"))
        used = set(landing.frame(month_last(m), "BASS_VAS_USAGE")["user_id"].astype("int64"))
        mine = normal & used
        truth = set(df["user_id"].astype("int64"))
        if truth != mine:
            problems.append(
                f"{m}: truth {len(truth)}, files {len(mine)}; only in truth {sorted(truth - mine)[:5]}, "
                f"only in files {sorted(mine - truth)[:5]}"
            )
        w = df.assign(weight=df["weight"].astype(float))
        cats = w.groupby("user_id")["category"].agg(lambda s: tuple(sorted(s)))
        bad_cats = cats[cats != tuple(sorted(CATEGORIES))]
        if len(bad_cats):
            problems.append(f"{m}: users without exactly the eight categories: {bad_cats.head(3).to_dict()}")
        sums = w.groupby("user_id")["weight"].sum()
        if ((sums - 1).abs() > 1e-4).any() or (w["weight"] < 0).any():
            problems.append(
                f"{m}: weights not summing to 1: {sums[(sums - 1).abs() > 1e-4].head(3).to_dict()}"
            )
    assert not problems, "\n".join(problems)


def test_content_weights_predict_next_months_category_shares(
    landing, truth_files, services, month_end_batches
):
    cat_of = dict(zip(services["service_code"], services["category"]))
    rhos, hits, n_users = [], [], 0
    for m, df in sorted(truth_files["content"].items()):
        nxt = add_months(m, 1)
        if nxt not in month_end_batches:
            continue
        w = df.assign(weight=df["weight"].astype(float), user_id=df["user_id"].astype("int64"))
        W = w.pivot_table(index="user_id", columns="category", values="weight", aggfunc="sum")
        W = W.reindex(columns=CATEGORIES).fillna(0)
        use = landing.frame(month_last(nxt), "BASS_VAS_USAGE")
        use = use.assign(
            user_id=use["user_id"].astype("int64"),
            n=use["use_count"].astype(int),
            category=use["service_code"].map(cat_of),
        )
        U = use.pivot_table(index="user_id", columns="category", values="n", aggfunc="sum")
        U = U.reindex(columns=CATEGORIES).fillna(0)
        ids = W.index.intersection(U.index[U.sum(axis=1) > 0])
        Wr, Ur = W.loc[ids].rank(axis=1).to_numpy(), U.loc[ids].rank(axis=1).to_numpy()
        Wc, Uc = Wr - Wr.mean(1, keepdims=True), Ur - Ur.mean(1, keepdims=True)
        denom = np.sqrt((Wc**2).sum(1) * (Uc**2).sum(1))
        ok = denom > 0
        rhos.append((Wc * Uc).sum(1)[ok] / denom[ok])
        hits.append(W.loc[ids].to_numpy().argmax(1) == U.loc[ids].to_numpy().argmax(1))
        n_users += len(ids)
    assert n_users > 1000, n_users
    rho, hit = float(np.concatenate(rhos).mean()), float(np.concatenate(hits).mean())
    print(
        f"\ncontent: {n_users} user-months, mean Spearman {rho:.3f}, top-category hit rate {hit:.3f} (chance 0.125)"
    )
    assert rho > 0.1, rho
    assert hit > 0.25, hit
