"""Reason codes and feature importance from per-feature contributions (LightGBM SHAP values, scorecard terms).

Exact SHAP values (LightGBM's TreeSHAP) cost about a millisecond per user for a model of a few hundred
trees: an hour for a million users a night. Nightly reason codes therefore use each feature's SHAP
dependence instead (`ContributionTable`): the mean SHAP value of the feature by bin of its value (or by
level), measured on the validation month when the model is trained, and looked up for each user's value.
That is the main effect of each feature in the model's own SHAP terms, without the interactions; how often
its top reason agrees with exact SHAP is measured at training and reported in the metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from models_ml.features import FeatureSpec

if TYPE_CHECKING:
    import lightgbm as lgb

REASONS = 3
TIE_SHIFT = 1e-9
DEPENDENCE_BINS = 32


def reason_codes(contributions: np.ndarray, names: list[str], k: int = REASONS) -> list[str]:
    """The k features that raise each row's score most, as JSON arrays of "feature:+0.42" (log-odds).

    Only positive contributions are reasons (rounded to two decimals, above zero); a row whose score
    nothing raises gets "[]".
    """
    contributions = np.asarray(contributions, dtype="float64")
    if contributions.shape[0] == 0:
        return []
    return reason_codes_of(*top_reasons(contributions, k), names)


def reason_codes_of(top: np.ndarray, values: np.ndarray, names: list[str]) -> list[str]:
    """The JSON reason codes of `top_reasons`' output (top: indices into `names`)."""
    if len(top) == 0:
        return []
    # formatted by DuckDB, vectorised: a Python loop over a million rows takes several seconds
    with duckdb.connect() as con:
        con.register("top", reasons_table(top, values))
        codes = con.execute(f"select {reasons_sql(names, top.shape[1])} as codes from top").fetchnumpy()["codes"]
    return codes.tolist()


def top_reasons(contributions: np.ndarray, k: int = REASONS) -> tuple[np.ndarray, np.ndarray]:
    """Column index and value of each row's k largest contributions, largest first.

    A row of fewer than k columns is padded with index 0 and value -inf, which is never a reason.
    """
    rows, columns = contributions.shape
    top = np.zeros((rows, k), dtype="int32")
    values = np.full((rows, k), -np.inf)
    kept = min(k, columns)
    if kept:
        top[:, :kept] = top_columns(contributions, kept)
        values[:, :kept] = np.take_along_axis(contributions, top[:, :kept], axis=1)
    return top, values


def reasons_table(top: np.ndarray, values: np.ndarray) -> pa.Table:
    """The columns `reasons_sql` reads: i0.. (1-based feature index) and v0.. (contribution), one per reason."""
    columns = {f"i{j}": pa.array(top[:, j] + 1) for j in range(top.shape[1])}
    columns.update({f"v{j}": pa.array(values[:, j]) for j in range(values.shape[1])})
    return pa.table(columns)


def reasons_sql(names: list[str], k: int = REASONS) -> str:
    """SQL for the JSON reason codes of a row of `reasons_table` columns (names: the features, by index)."""
    if not names:
        return "'[]'"
    names_sql = "([" + ", ".join("'" + json.dumps(n)[1:-1].replace("'", "''") + "'" for n in names) + "]::VARCHAR[])"
    parts = ", ".join(f"case when v{j} >= 0.005 then '\"' || {names_sql}[i{j}] || ':+' || printf('%.2f', v{j}) "
                      "|| '\"' end" for j in range(k))
    return f"'[' || concat_ws(',', {parts}) || ']'"


def top_columns(values: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest values of each row, largest first (ties: lower column first)."""
    if k >= values.shape[1]:
        return np.argsort(-values, axis=1, kind="stable")
    # a shift far below anything shown (two decimals) makes ties resolve to the lower column, as a stable
    # sort would; argmax returns the first of equal maxima, so each pass takes the lower column as well
    keyed = values - np.arange(values.shape[1]) * TIE_SHIFT
    rows = np.arange(values.shape[0])
    top = np.empty((values.shape[0], k), dtype="int64")
    for j in range(k):
        top[:, j] = keyed.argmax(axis=1)
        keyed[rows, top[:, j]] = -np.inf
    return top


def as_array(matrix: pd.DataFrame) -> np.ndarray:
    """The model matrix as one float32 array (categoricals as their codes, missing as NaN).

    LightGBM reads a pandas categorical as its codes, so a booster trained on the DataFrame predicts the
    same from this array, without converting the frame again for every model.
    """
    out = np.empty((len(matrix), matrix.shape[1]), dtype="float32")
    for j, name in enumerate(matrix.columns):
        col = matrix[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy().astype("float32")
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = col.to_numpy(dtype="float32")
    return out


@dataclass
class ContributionTable:
    """Each feature's SHAP dependence: its mean SHAP value by bin of value (numeric) or by level (categorical)."""

    features: list[dict]

    @classmethod
    def fit(cls, booster: lgb.Booster, matrix: pd.DataFrame, spec: FeatureSpec) -> ContributionTable:
        """Measure the dependence on `matrix` (exact SHAP values of its rows)."""
        shap = lgb_contributions(booster, matrix)
        features = []
        for j, name in enumerate(spec.columns):
            values = shap[:, j]
            if name in spec.categorical:
                codes = matrix[name].cat.codes.to_numpy()
                levels = {}
                for code in np.unique(codes[codes >= 0]):
                    levels[spec.categorical[name][code]] = float(values[codes == code].mean())
                missing = float(values[codes < 0].mean()) if (codes < 0).any() else 0.0
                features.append({"name": name, "levels": levels, "missing": missing})
                continue
            x = matrix[name].to_numpy(dtype="float64")
            known = ~np.isnan(x)
            edges = (np.unique(np.quantile(x[known], np.linspace(0, 1, DEPENDENCE_BINS + 1)[1:-1]))
                     if known.any() else np.array([]))
            bins = np.searchsorted(edges, x[known], side="right")
            # float sums even for a column without any known value (bincount of nothing is an int array)
            sums = np.bincount(bins, weights=values[known], minlength=len(edges) + 1).astype("float64")
            counts = np.bincount(bins, minlength=len(edges) + 1)
            means = np.divide(sums, counts, out=np.zeros(len(sums)), where=counts > 0)
            missing = float(values[~known].mean()) if (~known).any() else 0.0
            features.append({"name": name, "edges": edges.tolist(), "values": means.tolist(), "missing": missing})
        return cls(features)

    def contributions(self, matrix: pd.DataFrame) -> np.ndarray:
        """Looked-up contributions, one column per feature in the spec's order (`matrix` as to_matrix makes it)."""
        names = [feature["name"] for feature in self.features]
        levels = {n: tuple(str(c) for c in matrix[n].cat.categories) for n in names
                  if isinstance(matrix[n].dtype, pd.CategoricalDtype)}
        return self.lookup(as_array(matrix[names]), levels)

    def lookup(self, values: np.ndarray, levels: dict[str, tuple[str, ...]]) -> np.ndarray:
        """Contributions of the rows of a float32 model matrix (as `as_array` makes it, features in the spec's
        order; a categorical column holds the code of its level in `levels[name]`, NaN when missing)."""
        out = np.empty((len(values), len(self.features)))
        for j, feature in enumerate(self.features):
            x = values[:, j].astype("float64")
            if "levels" in feature:
                by_level = [feature["levels"].get(level, 0.0) for level in levels[feature["name"]]]
                table = np.array([*by_level, feature["missing"]])
                codes = np.where(np.isnan(x), len(by_level), x).astype("int64")
            else:
                table = np.array([*feature["values"], feature["missing"]])
                codes = np.minimum(np.searchsorted(np.asarray(feature["edges"]), x, side="right"),
                                   len(feature["values"]) - 1)
                codes[np.isnan(x)] = len(feature["values"])
            out[:, j] = table[codes]
        return out

    def agreement(self, booster: lgb.Booster, matrix: pd.DataFrame) -> float:
        """Share of rows whose top reason is the same by lookup as by exact SHAP."""
        exact = lgb_contributions(booster, matrix)
        return float(np.mean(exact.argmax(axis=1) == self.contributions(matrix).argmax(axis=1)))

    def to_json(self) -> str:
        return json.dumps({"method": "shap_dependence", "features": self.features}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ContributionTable:
        return cls(json.loads(text)["features"])


def fit_reasons(booster: lgb.Booster, matrix: pd.DataFrame, spec: FeatureSpec, rows: int = 20_000
                ) -> tuple[ContributionTable, float]:
    """The dependence table from the first rows of `matrix`, and its top-reason agreement on the next ones."""
    fit_rows = matrix.iloc[:rows]
    check_rows = matrix.iloc[rows: rows + rows // 4]
    table = ContributionTable.fit(booster, fit_rows, spec)
    agreement = table.agreement(booster, check_rows) if len(check_rows) else table.agreement(booster, fit_rows)
    return table, agreement


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
