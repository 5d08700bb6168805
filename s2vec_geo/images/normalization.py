"""Global feature-wise normalization statistics: the images', the model's, the baselines'.

The paper normalizes every feature with its mean and standard deviation over
all patch cells of the training area (section 3.2). Counts of places and roads
are heavy-tailed (a few downtown cells hold hundreds of shops, most cells
none), so by default the statistics are taken of ``log1p(count)``: the
transform keeps zeros at zero, compresses the tail and stops a handful of
cells from dominating the loss. The statistics are computed once, streamed
over the cells (Chan et al.'s pairwise update of mean and sum of squared
deviations, in float64), and stored both with the image dataset and with the
trained model, so that embedding new areas normalizes them identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STD_FLOOR = 1e-6
"""Standard deviations below this count as zero: such (constant) features are
centred but not scaled (their std is stored as 1.0)."""
LOG_STD_FLOOR = 0.25
"""Smallest scale of a ``log1p`` feature that varies. A category present in one
cell of a thousand has a standard deviation of about 0.02 in ``log1p`` units,
so dividing by it turns one shop into a value of 30 (900 in a squared error):
such spikes, which no model can predict, then make up most of the loss and of
the held-out error. With the floor one place in a cell stays below about
3 standard units, and features that vary more than the floor are scaled as
before."""


@dataclass(frozen=True, eq=False)
class NormStats:
    """Feature-wise normalization: ``(f(x) - mean) / std`` with ``f = log1p`` or identity.

    Parameters
    ----------
    mean, std
        Float64 arrays, one value per feature, of the (optionally
        log1p-transformed) feature values over all valid patch cells. ``std``
        is the population standard deviation, already floored (see
        :data:`STD_FLOOR`, and :data:`LOG_STD_FLOOR` for ``log1p`` features),
        so it is never zero.
    log1p
        Whether features are transformed with ``log1p`` before centring.
    feature_names
        Names of the features, in column order.
    count
        Number of patch cells the statistics were computed from.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 5.0], [2.0, 5.0]])
    >>> stats = NormStats.from_array(x, log1p=False, feature_names=["a", "b"])
    >>> stats.apply(x).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    >>> NormStats.from_dict(stats.to_dict()) == stats
    True
    """

    mean: np.ndarray
    std: np.ndarray
    log1p: bool
    feature_names: tuple[str, ...]
    count: int = field(default=0)

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        names = tuple(str(n) for n in self.feature_names)
        if mean.shape != (len(names),) or std.shape != (len(names),):
            raise ValueError(
                f"NormStats needs one mean and one std per feature: got {mean.shape} means, "
                f"{std.shape} stds for {len(names)} feature names; pass arrays of equal length"
            )
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError(
                "NormStats has a non-finite mean/std or a std <= 0; recompute the statistics "
                "(NormStats.from_array) instead of editing them by hand"
            )
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "feature_names", names)
        object.__setattr__(self, "log1p", bool(self.log1p))
        object.__setattr__(self, "count", int(self.count))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NormStats):
            return NotImplemented
        return (
            self.log1p == other.log1p
            and self.feature_names == other.feature_names
            and self.count == other.count
            and np.array_equal(self.mean, other.mean)
            and np.array_equal(self.std, other.std)
        )

    @property
    def n_features(self) -> int:
        """Number of features."""
        return len(self.feature_names)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Return ``log1p(x)`` (or ``x``) as float64: the values the statistics describe.

        Examples
        --------
        >>> import numpy as np
        >>> s = NormStats(np.zeros(1), np.ones(1), log1p=True, feature_names=["n"])
        >>> float(s.transform(np.array([np.e - 1.0]))[0])
        1.0
        """
        x = np.asarray(x, dtype=np.float64)
        return np.log1p(x) if self.log1p else x

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Normalize raw feature values; the last axis of ``x`` is the feature axis.

        Returns
        -------
        numpy.ndarray
            Float32 array of ``(f(x) - mean) / std``, same shape as ``x``.

        Examples
        --------
        >>> import numpy as np
        >>> s = NormStats(np.array([1.0]), np.array([2.0]), log1p=False, feature_names=["n"])
        >>> s.apply(np.array([[5.0]])).tolist()
        [[2.0]]
        """
        x = np.asarray(x)
        if x.shape[-1:] != (self.n_features,):
            raise ValueError(
                f"expected {self.n_features} features in the last axis, got shape {x.shape}; "
                "pass values in the column order of stats.feature_names"
            )
        return ((self.transform(x) - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (lists of floats); inverse of :meth:`from_dict`.

        Examples
        --------
        >>> import numpy as np
        >>> NormStats(np.zeros(1), np.ones(1), True, ["n"], count=3).to_dict()["count"]
        3
        """
        return {
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "log1p": self.log1p,
            "feature_names": list(self.feature_names),
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormStats:
        """Rebuild statistics from :meth:`to_dict` output (e.g. read from JSON).

        Examples
        --------
        >>> NormStats.from_dict(
        ...     {"mean": [0.0], "std": [1.0], "log1p": True, "feature_names": ["n"]}
        ... ).log1p
        True
        """
        missing = {"mean", "std", "log1p", "feature_names"} - set(data)
        if missing:
            raise ValueError(
                f"normalization statistics lack {sorted(missing)}; they must come from "
                "NormStats.to_dict() (meta.json of an image dataset or a model file)"
            )
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float64),
            std=np.asarray(data["std"], dtype=np.float64),
            log1p=bool(data["log1p"]),
            feature_names=tuple(data["feature_names"]),
            count=int(data.get("count", 0)),
        )

    @classmethod
    def from_array(
        cls, x: np.ndarray, log1p: bool = True, feature_names: Sequence[str] | None = None
    ) -> NormStats:
        """Statistics of an in-memory ``(n_cells, n_features)`` array.

        Examples
        --------
        >>> import numpy as np
        >>> NormStats.from_array(np.array([[1.0], [3.0]]), log1p=False).mean.tolist()
        [2.0]
        """
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"expected a (n_cells, n_features) array, got shape {x.shape}")
        names = feature_names if feature_names is not None else [str(i) for i in range(x.shape[1])]
        acc = MomentAccumulator(x.shape[1], log1p=log1p)
        acc.add(x)
        return acc.finish(names)


class MomentAccumulator:
    """Streamed feature-wise mean and variance (Chan's parallel update, float64).

    Add chunks of ``(n, n_features)`` raw values with :meth:`add`; :meth:`finish`
    returns the :class:`NormStats`. Memory is O(n_features) whatever the number
    of cells.

    Examples
    --------
    >>> import numpy as np
    >>> acc = MomentAccumulator(1, log1p=False)
    >>> acc.add(np.array([[1.0], [2.0]]))
    >>> acc.add(np.array([[6.0]]))
    >>> acc.finish(["n"]).mean.tolist()
    [3.0]
    """

    def __init__(self, n_features: int, log1p: bool = True) -> None:
        self.log1p = bool(log1p)
        self.count = 0
        self.mean = np.zeros(n_features, dtype=np.float64)
        self.m2 = np.zeros(n_features, dtype=np.float64)

    def add(self, x: np.ndarray) -> None:
        """Fold a chunk of raw feature rows into the running moments."""
        # C order: numpy's pairwise sums then add in the same order whatever the
        # source layout, so equal inputs give bit-equal statistics.
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape[0] == 0:
            return
        if self.log1p:
            x = np.log1p(x)
        mean_b = x.mean(axis=0)
        self._combine(x.shape[0], mean_b, ((x - mean_b) ** 2).sum(axis=0))

    def merge(self, other: MomentAccumulator) -> None:
        """Fold the moments of another accumulator (e.g. another partition) into these."""
        if other.log1p != self.log1p:
            raise ValueError("cannot merge moments of log1p and raw values")
        if other.count:
            self._combine(other.count, other.mean, other.m2)

    def _combine(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        """Chan et al.'s pairwise update with a block of ``n_b`` rows."""
        n = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n_b / n)
        self.count = n

    def finish(self, feature_names: Sequence[str]) -> NormStats:
        """The statistics of everything added so far (population std, floored)."""
        if self.count == 0:
            raise ValueError(
                "no valid cells to compute normalization statistics from; the input has no rows"
            )
        std = np.sqrt(self.m2 / self.count)
        if self.log1p:  # rare categories: one place in a cell stays a few units (LOG_STD_FLOOR)
            std = np.where(std < STD_FLOOR, std, np.maximum(std, LOG_STD_FLOOR))
        std = np.where(std < STD_FLOOR, 1.0, std)
        return NormStats(self.mean.copy(), std, self.log1p, tuple(feature_names), self.count)
