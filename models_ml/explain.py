"""Reason codes and feature importance from per-feature contributions (LightGBM SHAP values, scorecard terms)."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd

REASONS = 3


def reason_codes(contributions: np.ndarray, names: list[str], k: int = REASONS) -> list[str]:
    """The k features that raise each row's score most, as JSON arrays of "feature:+0.42" (log-odds).

    Only positive contributions are reasons (rounded to two decimals, above zero); a row whose score
    nothing raises gets "[]".
    """
    contributions = np.asarray(contributions, dtype="float64")
    if contributions.shape[0] == 0:
        return []
    k = min(k, contributions.shape[1])
    top = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(contributions, top, axis=1)
    quoted = [json.dumps(x)[1:-1] for x in names]
    return ["[" + ",".join(f'"{quoted[i]}:+{v:.2f}"' for i, v in zip(idx, vals, strict=True) if v >= 0.005) + "]"
            for idx, vals in zip(top.tolist(), values.tolist(), strict=True)]


def lgb_contributions(booster: lgb.Booster, matrix: pd.DataFrame) -> np.ndarray:
    """SHAP contributions per feature (log-odds), without the bias column."""
    contrib = booster.predict(matrix, pred_contrib=True, num_threads=booster.params.get("num_threads", 0))
    return np.asarray(contrib)[:, :-1]


def importance_table(booster: lgb.Booster, matrix: pd.DataFrame | None = None, top: int = 15) -> pd.DataFrame:
    """Features by total gain, with mean |SHAP| on `matrix` when given; the `top` most important."""
    names = booster.feature_name()
    gain = booster.feature_importance(importance_type="gain")
    table = pd.DataFrame({"feature": names, "gain": gain})
    table["gain_share"] = table["gain"] / max(table["gain"].sum(), 1e-12)
    if matrix is not None and len(matrix):
        table["mean_abs_shap"] = np.abs(lgb_contributions(booster, matrix)).mean(axis=0)
        table = table.sort_values(["mean_abs_shap", "feature"], ascending=[False, True])
    else:
        table = table.sort_values(["gain", "feature"], ascending=[False, True])
    return table.head(top).reset_index(drop=True)
