"""Test metrics of the downstream regressions and their summaries over runs.

R2 and mean absolute error on the [0, 1]-scaled target (the paper's), and
Spearman's rank correlation: how well the predictions *order* the test cells,
which is what a model transferred to a new city is mostly used for, and which
does not care about the level offsets between cities that R2 and MAE punish.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Metrics of every run, in report order.
METRICS = ("r2", "mae", "spearman")


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination; NaN when ``y`` is constant.

    Examples
    --------
    >>> r2_score(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 1.0]))
    0.5
    """
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan")


def spearman(y: np.ndarray, pred: np.ndarray) -> float:
    """Spearman rank correlation (ties get their average rank); NaN if either is constant.

    Examples
    --------
    >>> spearman(np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 20.0, 30.0, 25.0]))
    0.8
    """
    ry = pd.Series(np.asarray(y, dtype=np.float64)).rank().to_numpy()
    rp = pd.Series(np.asarray(pred, dtype=np.float64)).rank().to_numpy()
    ry, rp = ry - ry.mean(), rp - rp.mean()
    denom = float(np.sqrt((ry**2).sum() * (rp**2).sum()))
    return float((ry * rp).sum()) / denom if denom > 0 else float("nan")


def score(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """R2, mean absolute error and Spearman correlation of predictions.

    Examples
    --------
    >>> score(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0]))
    {'r2': 1.0, 'mae': 0.0, 'spearman': 1.0}
    """
    return {
        "r2": r2_score(y, pred),
        "mae": float(np.abs(y - pred).mean()),
        "spearman": spearman(y, pred),
    }


def summarize(scores: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean and standard deviation of every metric per group, groups in first-seen order.

    A single run has a standard deviation of 0.

    Examples
    --------
    >>> runs = pd.DataFrame({"variant": ["a", "a", "b"], "r2": [0.4, 0.6, 0.1],
    ...     "mae": [0.1, 0.1, 0.3]})
    >>> summarize(runs, ["variant"]).round(3).to_dict(orient="index")["a"]
    {'r2_mean': 0.5, 'r2_std': 0.141, 'mae_mean': 0.1, 'mae_std': 0.0}
    """
    keys = list(by)
    metrics = [m for m in METRICS if m in scores.columns]
    stats = scores.groupby(keys, sort=False)[metrics].agg(["mean", "std"])
    stats.columns = [f"{m}_{s}" for m, s in stats.columns]
    order = list(dict.fromkeys(scores[keys].itertuples(index=False, name=None)))
    index = [o[0] for o in order] if len(keys) == 1 else order
    return stats.loc[index].fillna(0.0)
