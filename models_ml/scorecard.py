"""An interpretable credit scorecard: WOE binning (optbinning) + logistic regression, stored as plain JSON.

optbinning finds the bins (monotone event rate for numeric features) and keeps the features with an
information value of at least 0.02; a logistic regression on the WOE values gives P(bad). The fitted card
is written as JSON (splits or category groups, WOE and points per bin, coefficients), so scoring applies it
without optbinning and anyone can read it. Points follow the usual scaling: 600 points at odds 50:1
(good:bad), 20 points to double the odds; more points = lower risk.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models_ml.explain import as_array
from models_ml.features import FeatureSpec, to_matrix

PDO = 20.0
BASE_POINTS = 600.0
BASE_ODDS = 50.0
MIN_IV = 0.02
MAX_VARIABLES = 15


def binning_frame(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The features as optbinning reads them: numeric as float, categoricals as text with NaN for missing."""
    x = to_matrix(frame, spec)
    data = pd.DataFrame({c: x[c].astype("float64") for c in spec.numeric})
    for c in spec.categorical:
        data[c] = x[c].astype("object").where(x[c].notna(), np.nan)
    return data


def fit_binning(data: pd.DataFrame, y: np.ndarray, spec: FeatureSpec):
    """optbinning's binning of every feature (monotone event rate for numeric ones), keeping IV >= 0.02."""
    from optbinning import BinningProcess  # imported here: scoring applies the card without it

    process = BinningProcess(
        list(spec.columns),
        categorical_variables=list(spec.categorical),
        selection_criteria={"iv": {"min": MIN_IV, "top": MAX_VARIABLES}},
        binning_fit_params={c: {"monotonic_trend": "auto_asc_desc"} for c in spec.numeric},
        min_prebin_size=0.05,
    )
    return process.fit(data, y)


@dataclass
class Scorecard:
    """Bins, WOE and coefficients of each selected variable, and the intercept."""

    variables: list[dict]
    intercept: float

    @classmethod
    def fit(cls, frame: pd.DataFrame, y: np.ndarray, spec: FeatureSpec, seed: int) -> Scorecard:
        """Bin every feature, keep the informative ones, fit the logistic regression on their WOE."""
        from sklearn.linear_model import LogisticRegression  # imported here, as optbinning is

        data = binning_frame(frame, spec)
        # a feature with fewer than two known values in these rows has nothing to bin (optbinning refuses it)
        spec = spec.without({c for c in spec.columns if data[c].nunique(dropna=True) < 2})
        data = data[list(spec.columns)]
        names = list(spec.columns)
        process = fit_binning(data, y, spec) if names else None
        selected = [n for n in names if n in set(process.get_support(names=True))] if process else []
        if not selected:  # nothing informative: the card is the bad rate
            rate = float(np.clip(np.mean(y), 1e-4, 1 - 1e-4))
            return cls([], math.log(rate / (1 - rate)))
        woe = process.transform(data[selected], metric="woe", metric_missing="empirical")
        model = LogisticRegression(C=0.5, max_iter=1000, random_state=seed).fit(woe.to_numpy(), y)
        variables = []
        for name, coef in zip(selected, model.coef_[0], strict=True):
            binning = process.get_binned_variable(name)
            table = binning.binning_table.build()
            bins = table.drop(index="Totals")
            regular, missing = bins.iloc[:-2], bins.iloc[-1]  # the last two rows: Special, Missing
            entry = {
                "name": name,
                "kind": "categorical" if name in spec.categorical else "numeric",
                "woe": [float(w) for w in regular["WoE"]],
                "woe_missing": float(missing["WoE"]),
                "coef": float(coef),
                "mean_woe": float(woe[name].mean()),
                "iv": float(table.loc["Totals", "IV"]),
            }
            if entry["kind"] == "numeric":
                entry["splits"] = [float(s) for s in binning.splits]
            else:
                entry["groups"] = [[str(v) for v in group] for group in binning.splits]
            entry["labels"] = [str(b) for b in regular["Bin"]]
            variables.append(entry)
        return cls(variables, float(model.intercept_[0]))

    # ------------------------------------------------------------------ applying the card
    @staticmethod
    def woe_of(variable: dict, values: pd.Series) -> np.ndarray:
        """The WOE of each value under one variable's bins (missing values: the missing bin's WOE)."""
        woe = np.asarray(variable["woe"], dtype="float64")
        if variable["kind"] == "numeric":
            v = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
            idx = np.searchsorted(np.asarray(variable["splits"], dtype="float64"), v, side="right")
            out = woe[np.minimum(idx, len(woe) - 1)]
            return np.where(np.isnan(v), variable["woe_missing"], out)
        lookup = {value: i for i, group in enumerate(variable["groups"]) for value in group}
        text = values.astype("object")
        idx = np.array([-2 if pd.isna(v) else lookup.get(str(v), -1) for v in text], dtype="int64")
        out = np.where(idx >= 0, woe[np.maximum(idx, 0)], 0.0)  # a category not seen in training: neutral
        return np.where(idx == -2, variable["woe_missing"], out)

    def contributions(self, frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
        """Each selected variable's term in the log-odds of bad, centred on its training mean (like SHAP)."""
        return self.contributions_of(as_array(to_matrix(frame, spec)), spec)

    def predict(self, frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
        """P(bad)."""
        return self.predict_of(as_array(to_matrix(frame, spec)), spec)

    def contributions_of(self, x: np.ndarray, spec: FeatureSpec) -> np.ndarray:
        """`contributions` for the rows of model matrix `x` (as `as_array` makes it for `spec`)."""
        cols = [v["coef"] * (woe - v["mean_woe"]) for v, woe in zip(self.variables, self._woes(x, spec), strict=True)]
        return np.column_stack(cols) if cols else np.zeros((len(x), 0))

    def predict_of(self, x: np.ndarray, spec: FeatureSpec) -> np.ndarray:
        """`predict` for the rows of model matrix `x` (as `as_array` makes it for `spec`)."""
        z = np.full(len(x), self.intercept)
        for v, woe in zip(self.variables, self._woes(x, spec), strict=True):
            z += v["coef"] * woe
        return 1.0 / (1.0 + np.exp(-z))

    def _woes(self, x: np.ndarray, spec: FeatureSpec):
        """Each selected variable's WOE for the rows of model matrix `x`, as `woe_of` gives it."""
        for variable in self.variables:
            name = variable["name"]
            values = x[:, spec.columns.index(name)].astype("float64")
            if variable["kind"] == "numeric":
                yield self.woe_of(variable, pd.Series(values, copy=False))
                continue
            # by level code: the level's WOE (0 for a level the card never saw), then the missing bin's
            woe = np.asarray(variable["woe"], dtype="float64")
            lookup = {value: i for i, group in enumerate(variable["groups"]) for value in group}
            levels = spec.categorical[name]
            table = np.array([*(woe[lookup[level]] if level in lookup else 0.0 for level in levels),
                              variable["woe_missing"]])
            yield table[np.where(np.isnan(values), len(levels), values).astype("int64")]

    @property
    def names(self) -> list[str]:
        return [v["name"] for v in self.variables]

    def points_table(self) -> pd.DataFrame:
        """Points per bin (more points = lower risk): the card as a reader sees it."""
        factor = PDO / math.log(2)
        offset = BASE_POINTS - factor * math.log(BASE_ODDS)
        n = max(len(self.variables), 1)
        rows = []
        for v in self.variables:
            for label, woe in [*zip(v["labels"], v["woe"], strict=True), ("Missing", v["woe_missing"])]:
                points = -(v["coef"] * woe + self.intercept / n) * factor + offset / n
                rows.append({"variable": v["name"], "bin": label, "woe": woe, "points": round(points, 1)})
        return pd.DataFrame(rows)

    def to_json(self) -> str:
        return json.dumps({"intercept": self.intercept, "variables": self.variables,
                           "scaling": {"pdo": PDO, "base_points": BASE_POINTS, "base_odds": BASE_ODDS}},
                          indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Scorecard:
        data = json.loads(text)
        return cls(data["variables"], data["intercept"])
