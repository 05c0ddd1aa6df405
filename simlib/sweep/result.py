"""The tidy table of a sweep and how it is written (atomically, through simlib.writing)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simlib.errors import Problem, ScenarioError
from simlib.sweep.evaluate import TABLE_COLUMNS
from simlib.sweep.paths import base_value
from simlib.sweep.spec import SweepSpec




# --- results ----------------------------------------------------------------------------

@dataclass
class SweepResult:
    """The tidy table of a sweep (finished points only if it was stopped)."""

    spec: SweepSpec
    table: pd.DataFrame  # point, <axes>, strategy, metric, mean, ci_low, ci_high, unit, feasible
    complete: bool
    points_done: int
    elapsed_s: float
    backend: str
    notes: list[str] = field(default_factory=list)

    @property
    def points_total(self) -> int:
        return len(self.spec)

    def points_per_s(self) -> float:
        return self.points_done / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def wide(self, metric: str = "monthly_cost_usd") -> pd.DataFrame:
        """One row per point (its axis values), one column per strategy: the metric's mean."""
        t = self.table[self.table["metric"] == metric]
        index = ["point", *self.spec.axes]
        wide = t.set_index([*index, "strategy"])["mean"].unstack("strategy").reset_index()
        wide.columns.name = None
        return wide

    def write(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the table as Parquet (.parquet, needs pyarrow) or CSV (.csv), atomically.

        An existing file is replaced only with ``force`` (simlib.writing: a reader or a
        kill never sees a truncated table).
        """
        from simlib.writing import check_destination, write_atomic

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".csv", ".parquet", ".pq"):
            check_destination(path, force=force)
        if suffix == ".csv":
            write_atomic(path, lambda f: self.table.to_csv(f, index=False), force=force)
        elif suffix in (".parquet", ".pq"):
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ScenarioError([Problem(str(path), "writing Parquet needs pyarrow (pip install 'llm-knowledge-sim[scale]'); "
                                                        "or write .csv")]) from None
            table = self.table.copy()
            for axis in self.spec.axes:  # mixed-type axis columns (a list of choices) as text
                if table[axis].map(type).nunique() > 1:
                    table[axis] = table[axis].astype(str)
            write_atomic(path, lambda f: table.to_parquet(f, index=False), force=force)
        else:
            raise ScenarioError([Problem(str(path), f"unknown output format {suffix or '(none)'}: use .parquet or .csv")])
        return path


def _frame(spec: SweepSpec, parts: dict[int, dict[str, list]]) -> pd.DataFrame:
    """The tidy table of the finished points, sorted by point (so every backend gives the same)."""
    frames = []
    for point in sorted(parts):
        cols = parts[point]
        n = len(cols["strategy"])
        data: dict[str, Any] = {"point": np.full(n, point, np.int64)}
        for axis in spec.axes:
            data[axis] = [spec.points[point].get(axis, base_value(spec.base, axis))] * n
        data.update(cols)
        frames.append(pd.DataFrame(data))
    if not frames:
        return pd.DataFrame(columns=["point", *spec.axes, *TABLE_COLUMNS[1:]])
    table = pd.concat(frames, ignore_index=True)
    for c in ("mean", "ci_low", "ci_high"):
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    return table
