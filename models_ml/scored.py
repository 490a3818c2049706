"""What a scorer computes for its population rows, as arrays: scores, labels and each row's top reasons."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from models_ml.explain import REASONS, reason_codes_of, reasons_table, top_reasons

CHUNK_ROWS = 65_536  # contributions are looked up this many rows at a time (a million rows x 85 doubles is 0.7 GB)
LABEL_COLUMNS = ("grade", "top_category", "category_ranking")


@dataclass
class Reasons:
    """Each row's k largest contributions: the feature (index into `names`) and the value, largest first.

    A row with fewer than k candidate features is padded with value -inf, which is never a reason.
    """

    top: np.ndarray
    values: np.ndarray
    names: list[str]

    @classmethod
    def empty(cls, rows: int, names: list[str], k: int = REASONS) -> Reasons:
        return cls(np.zeros((rows, k), dtype="int32"), np.full((rows, k), -np.inf), list(names))

    @classmethod
    def of(cls, contributions: Callable[[np.ndarray], np.ndarray], values: np.ndarray, names: list[str],
           columns: np.ndarray | None = None, threads: int = 1) -> Reasons:
        """The reasons of the rows of model matrix `values`, whose contributions `contributions(chunk)` gives
        a chunk of rows at a time (on `threads` threads); `columns` maps the contributions' columns to
        indices of `names`."""
        out = cls.empty(len(values), names)

        def explain(start: int) -> None:
            chunk = slice(start, start + CHUNK_ROWS)
            top, top_values = top_reasons(contributions(values[chunk]))
            out.top[chunk] = top if columns is None else columns[top]
            out.values[chunk] = top_values

        starts = range(0, len(values), CHUNK_ROWS)
        if threads > 1 and len(starts) > 1:
            # numpy releases the GIL in the lookups, so the chunks run in parallel
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(explain, starts))
        else:
            for start in starts:
                explain(start)
        return out

    def put(self, rows: np.ndarray, other: Reasons) -> None:
        """Set the reasons of `rows` to those of `other` (same names)."""
        self.top[rows] = other.top
        self.values[rows] = other.values

    def codes(self) -> list[str]:
        """The JSON reason codes, one per row."""
        return reason_codes_of(self.top, self.values, self.names)

    def table(self) -> pa.Table:
        return reasons_table(self.top, self.values)


@dataclass
class Scored:
    """A model's output for its population rows, in row order (the columns of marts.fct_model_scores it fills)."""

    score: np.ndarray
    grade: np.ndarray | None = None
    top_category: np.ndarray | None = None
    category_ranking: np.ndarray | None = None
    reasons: Reasons | None = None

    def labels(self) -> dict[str, np.ndarray | None]:
        return {name: getattr(self, name) for name in LABEL_COLUMNS}

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """The scores as a DataFrame: score, grade, top_category, category_ranking, reason_codes."""
        out = pd.DataFrame({"score": self.score}, index=index)
        for name, values in self.labels().items():
            out[name] = values if values is not None else None
        out["reason_codes"] = self.reasons.codes() if self.reasons is not None else None
        return out
