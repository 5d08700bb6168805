"""Target transforms and min-max scaling: put the labels of several areas on one scale.

Population labels come in different units: people per 250 m grid square
(Helsinki), people per square mile (NYC tracts' ``popdty``), people per H3
hexagon of about 0.74 km2 (Kontur). Two transforms, applied per area, make
them comparable:

- ``density``: divide each *polygon* label by its polygon's geodesic area in
  km2 (on the WGS84 ellipsoid) **before** the labels are aligned to cells, so
  a count of people becomes people per km2 (the overlap rule then averages
  densities weighted by the covered fraction of each cell, which is the
  cell's density);
- ``log``: ``log1p`` of each cell's aligned value, **after** alignment.

Listed together they are always applied in that order (``("density",
"log")``: log population density). :class:`TargetScale` is the paper's
min-max scaling of the target to [0, 1] with constants that can be fitted on
some cells (e.g. the training areas) and applied to others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from s2vec_geo.core.options import TRANSFORM

#: Target transforms, in the order they are applied.
TRANSFORMS = TRANSFORM.choices

_GEOD = pyproj.Geod(ellps="WGS84")


def check_transform(transform: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate target transforms; return them as a tuple in application order.

    Examples
    --------
    >>> check_transform("log")
    ('log',)
    >>> check_transform(["density", "log"])
    ('density', 'log')
    >>> check_transform(["log", "density"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: list the target transforms in the order density, log: ...
    """
    if transform is None:
        return ()
    steps = (transform,) if isinstance(transform, str) else tuple(transform)
    for step in steps:
        if step not in TRANSFORMS:
            raise ValueError(
                f"unknown target transform {step!r}; choose from {', '.join(TRANSFORMS)}"
            )
    if len(set(steps)) != len(steps):
        raise ValueError(f"target transforms {list(steps)} repeat a step; list each once")
    if list(steps) != sorted(steps, key=TRANSFORMS.index):
        raise ValueError(
            f"list the target transforms in the order {', '.join(TRANSFORMS)}: density "
            f"divides the label polygons, log then applies to the cell values (got {list(steps)})"
        )
    return steps


def geodesic_area_km2(geometries: gpd.GeoSeries | Sequence[shapely.Geometry]) -> np.ndarray:
    """Geodesic area in km2 of longitude/latitude polygons, on the WGS84 ellipsoid.

    Examples
    --------
    >>> import shapely
    >>> round(float(geodesic_area_km2([shapely.box(0, 0, 1, 1)])[0]))
    12309
    """
    geoms = np.asarray(geometries, dtype=object)
    return np.array([abs(_GEOD.geometry_area_perimeter(g)[0]) / 1e6 for g in geoms])


def transform_labels(
    labels: gpd.GeoDataFrame, target: str, transform: Sequence[str]
) -> gpd.GeoDataFrame:
    """Apply the label-level transforms (``density``) to labels in EPSG:4326.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> tracts = gpd.GeoDataFrame({"people": [12309.0]}, geometry=[shapely.box(0, 0, 1, 1)],
    ...     crs=4326)
    >>> transform_labels(tracts, "people", ["density"])["people"].round(2).tolist()
    [1.0]
    """
    if "density" not in check_transform(transform):
        return labels
    kinds = set(labels.geometry.geom_type.str.replace("Multi", "", regex=False))
    if kinds != {"Polygon"}:
        raise ValueError(
            f"the density transform divides polygon labels by their area, but the labels "
            f"are {sorted(kinds)}; drop 'density' or use polygon labels"
        )
    area = geodesic_area_km2(labels.geometry.to_crs(4326))
    if (area <= 0).any():
        raise ValueError(
            f"{int((area <= 0).sum())} label polygons have no area, so no density; "
            "drop or repair them"
        )
    out = labels.copy()
    out[target] = labels[target].to_numpy(np.float64) / area
    return out


def transform_values(values: pd.Series, transform: Sequence[str]) -> pd.Series:
    """Apply the cell-level transforms (``log``: ``log1p``) to aligned labels.

    Examples
    --------
    >>> import pandas as pd
    >>> transform_values(pd.Series([0.0, 9.0]), ["log"]).round(3).tolist()
    [0.0, 2.303]
    """
    if "log" not in check_transform(transform):
        return values
    if (values <= -1).any():
        raise ValueError(
            f"the log transform (log1p) needs values above -1, but the target reaches "
            f"{float(values.min())}; drop 'log' for this target"
        )
    return np.log1p(values)


@dataclass(frozen=True)
class TargetScale:
    """Min-max scaling ``(y - lo) / (hi - lo)`` with constants fitted on some cells.

    Examples
    --------
    >>> s = TargetScale.fit(np.array([2.0, 4.0, 6.0]), "y")
    >>> s.apply(np.array([4.0, 8.0])).tolist()
    [0.5, 1.5]
    >>> s.invert(np.array([0.5])).tolist()
    [4.0]
    """

    lo: float
    hi: float

    @classmethod
    def fit(cls, y: np.ndarray, target: str) -> TargetScale:
        """The min and max of ``y``; a constant target is an error (nothing to predict)."""
        lo, hi = float(np.min(y)), float(np.max(y))
        if hi == lo:
            raise ValueError(
                f"the target {target!r} is constant ({lo}) over the {np.size(y)} labelled "
                "cells; nothing to predict: choose another target or a larger area"
            )
        return cls(lo, hi)

    def apply(self, y: np.ndarray) -> np.ndarray:
        """Scale values: the fitted cells land in [0, 1], others may fall outside."""
        return (np.asarray(y, dtype=np.float64) - self.lo) / (self.hi - self.lo)

    def invert(self, scaled: np.ndarray) -> np.ndarray:
        """Back from the scaled target to the target's own units."""
        return np.asarray(scaled, dtype=np.float64) * (self.hi - self.lo) + self.lo
