"""Model metrics: ranking (AUC, PR-AUC, lift, gains, KS, Gini), calibration (Brier, curve), NDCG@k, hit@1, PSI.

Ties in a score are handled as a random order would on average: the top k of a list whose k-th place is
shared by several users counts each of them for the share of the tie that fits in the top k. A rule that
gives many users the same score is then measured fairly, and the result does not depend on row order.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PSI_STABLE = 0.10
PSI_SIGNIFICANT = 0.25


def _arrays(y, score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype="float64")
    score = np.asarray(score, dtype="float64")
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError("labels and scores must be 1-d arrays of the same length")
    return y, score


def auc(y, score) -> float:
    """Area under the ROC curve (ties count one half)."""
    from sklearn.metrics import roc_auc_score  # scikit-learn is imported when first used: it takes seconds

    y, score = _arrays(y, score)
    return float(roc_auc_score(y, score))


def pr_auc(y, score) -> float:
    """Area under the precision-recall curve (average precision)."""
    from sklearn.metrics import average_precision_score

    y, score = _arrays(y, score)
    return float(average_precision_score(y, score))


def brier(y, p) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome."""
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2))


def ks(y, score) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the score distributions of positives and negatives."""
    from sklearn.metrics import roc_curve

    y, score = _arrays(y, score)
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.max(tpr - fpr))


def gini(y, score) -> float:
    """Gini coefficient (accuracy ratio): 2 AUC - 1."""
    return 2.0 * auc(y, score) - 1.0


def top_k_positives(y, score, k: float) -> float:
    """Expected positives among the k highest scores (ties shared in proportion), k may be fractional."""
    y, score = _arrays(y, score)
    n = len(y)
    if k <= 0 or n == 0:
        return 0.0
    if k >= n:
        return float(y.sum())
    order = np.argsort(-score, kind="stable")
    sorted_scores = score[order]
    threshold = sorted_scores[math.ceil(k) - 1]
    above = score > threshold
    tied = score == threshold
    n_above = int(above.sum())
    return float(y[above].sum() + (k - n_above) * y[tied].sum() / tied.sum())


def lift(y, score, fraction: float = 0.1) -> float:
    """Positive rate among the top `fraction` of scores divided by the overall positive rate."""
    y, score = _arrays(y, score)
    base = y.mean()
    if base == 0:
        return float("nan")
    k = fraction * len(y)
    return top_k_positives(y, score, k) / k / base


def gains_table(y, score, bins: int = 10) -> pd.DataFrame:
    """One row per score decile (1 = highest scores): users, positives, rate, lift, cumulative gain and lift."""
    y, score = _arrays(y, score)
    n, total, base = len(y), y.sum(), y.mean()
    bounds = [n * d / bins for d in range(bins + 1)]
    cum = [top_k_positives(y, score, k) for k in bounds]
    rows = []
    for d in range(1, bins + 1):
        users = bounds[d] - bounds[d - 1]
        positives = cum[d] - cum[d - 1]
        rate = positives / users if users else float("nan")
        rows.append({
            "decile": d,
            "users": users,
            "positives": positives,
            "rate": rate,
            "lift": rate / base if base else float("nan"),
            "cumulative_gain": cum[d] / total if total else float("nan"),
            "cumulative_lift": (cum[d] / bounds[d]) / base if base else float("nan"),
        })
    return pd.DataFrame(rows)


def calibration_curve(y, p, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed rate, in bins of equal size by predicted probability."""
    y, p = _arrays(y, p)
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, bins)
    rows = [{"bin": i + 1, "users": len(g), "predicted": float(p[g].mean()), "observed": float(y[g].mean())}
            for i, g in enumerate(groups) if len(g)]
    return pd.DataFrame(rows)


def _ranked(scores: np.ndarray) -> np.ndarray:
    """Column indices of each row ordered best first (ties keep column order)."""
    return np.argsort(-scores, axis=1, kind="stable")


def ndcg_at_k(relevance, scores, k: int = 3) -> np.ndarray:
    """NDCG@k per row, linear gains: DCG = sum rel_i / log2(i + 1) over the k ranked first, over the ideal DCG.

    Rows whose relevance is all zero have no ideal ranking and give NaN.
    """
    rel = np.asarray(relevance, dtype="float64")
    sc = np.asarray(scores, dtype="float64")
    if rel.shape != sc.shape or rel.ndim != 2:
        raise ValueError("relevance and scores must be 2-d arrays of the same shape")
    k = min(k, rel.shape[1])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    picked = np.take_along_axis(rel, _ranked(sc)[:, :k], axis=1)
    ideal = -np.sort(-rel, axis=1)[:, :k]
    dcg = picked @ discounts
    idcg = ideal @ discounts
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(idcg > 0, dcg / idcg, np.nan)


def hit_at_1(relevance, scores) -> np.ndarray:
    """1 where the category ranked first is (one of) the most relevant, else 0 (NaN for all-zero rows)."""
    rel = np.asarray(relevance, dtype="float64")
    sc = np.asarray(scores, dtype="float64")
    first = _ranked(sc)[:, 0]
    top = rel[np.arange(len(rel)), first]
    best = rel.max(axis=1)
    return np.where(best > 0, (top >= best).astype("float64"), np.nan)


def psi(expected, actual, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of `actual` against `expected`: sum (a - e) ln(a / e) over bins.

    Numeric values are cut at the deciles of `expected` (missing values are a bin of their own); any other
    values are compared by category. Empty bins count as `eps` so the index stays finite.
    """
    e = pd.Series(expected)
    a = pd.Series(actual)
    if pd.api.types.is_numeric_dtype(e) and pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(e):
        e = e.astype("float64")
        a = a.astype("float64")
        edges = np.unique(np.nanquantile(e.to_numpy(), np.linspace(0, 1, bins + 1)[1:-1])) if e.notna().any() else []
        e_bins = np.where(e.isna(), -1, np.searchsorted(edges, e.to_numpy(), side="right"))
        a_bins = np.where(a.isna(), -1, np.searchsorted(edges, a.to_numpy(), side="right"))
    else:
        e_bins = e.astype("object").where(e.notna(), "<NULL>").astype(str).to_numpy()
        a_bins = a.astype("object").where(a.notna(), "<NULL>").astype(str).to_numpy()
    keys = sorted(set(e_bins.tolist()) | set(a_bins.tolist()), key=str)
    e_share = pd.Series(e_bins).value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
    a_share = pd.Series(a_bins).value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
    e_share = np.maximum(e_share, eps)
    a_share = np.maximum(a_share, eps)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def psi_band(value: float) -> str:
    """'stable' below 0.10, 'moderate' from 0.10 to 0.25, 'significant' from 0.25."""
    if value < PSI_STABLE:
        return "stable"
    return "moderate" if value < PSI_SIGNIFICANT else "significant"


def binary_report(y, p) -> dict[str, float]:
    """AUC, PR-AUC, top-decile lift, Brier score, KS, Gini and the positive rate of a scored population."""
    y, p = _arrays(y, p)
    return {
        "auc": auc(y, p),
        "pr_auc": pr_auc(y, p),
        "top_decile_lift": lift(y, p, 0.1),
        "brier": brier(y, p),
        "ks": ks(y, p),
        "gini": gini(y, p),
        "positive_rate": float(y.mean()),
        "users": len(y),
    }
