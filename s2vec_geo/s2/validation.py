"""Checking and normalising the inputs of the S2 functions.

Every public S2 function funnels its arguments through these helpers, so bad
input fails early with a ``ValueError`` that names the problem and the fix,
before any kernel runs.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import geopandas as gpd
import numpy as np

from s2vec_geo.core.options import MAX_LEVEL
from s2vec_geo.io.coordinates import non_finite

log = logging.getLogger(__name__)

GeoT = TypeVar("GeoT", gpd.GeoSeries, gpd.GeoDataFrame)
P = ParamSpec("P")
R = TypeVar("R")
_VALID_LSB_MASK = np.uint64(0x1555555555555555)  # lowest set bit at an even position


def validate_level(level: Any, name: str = "level") -> int:
    """Return ``level`` as an ``int`` after checking it is an S2 level 0-30.

    Parameters
    ----------
    level
        Candidate level; a Python or NumPy integer (``bool`` is refused).
    name
        Argument name used in the error message.

    Returns
    -------
    int
        The level.

    Raises
    ------
    ValueError
        If ``level`` is not an integer in 0..30.

    Examples
    --------
    >>> validate_level(12)
    12
    """
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, np.integer)):
        raise ValueError(
            f"{name} must be an integer S2 level between 0 and {MAX_LEVEL}, got {level!r} "
            f"({type(level).__name__}); pass e.g. {name}=12"
        )
    if not 0 <= int(level) <= MAX_LEVEL:
        raise ValueError(
            f"{name} must be an S2 level between 0 and {MAX_LEVEL}, got {int(level)}; "
            "level 30 cells are ~1 cm, level 12 ~5 km2 (S2Vec's patches), level 0 a cube face"
        )
    return int(level)


def to_lnglat(geo: GeoT, what: str = "the geometries") -> GeoT:
    """A GeoSeries/GeoDataFrame in EPSG:4326 (longitude/latitude), reprojected if needed.

    The rule of :mod:`s2vec_geo.io.coordinates` holds: a geometry with a NaN
    or infinite coordinate becomes a missing one (a warning says how many),
    and coordinates outside the domain of the CRS are a ``ValueError``.

    Parameters
    ----------
    geo
        The geometries; a missing CRS is a ``ValueError`` naming ``what``.
    what
        How the messages call the geometries.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> s = gpd.GeoSeries([shapely.Point(2776000.0, 8437000.0)], crs=3857)
    >>> round(float(to_lnglat(s).x[0]), 3)
    24.937
    >>> to_lnglat(gpd.GeoSeries([shapely.Point(1e12, 1e12)], crs=3857))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the geometries: 1 coordinate lies outside the area EPSG:3857 ...
    """
    if geo.crs is None:
        raise ValueError(
            f"{what} have no CRS; set one with .set_crs(...) "
            "(e.g. .set_crs(4326) for longitude/latitude)"
        )
    not_finite = non_finite(geo.geometry.values, geo.crs, what)
    if not_finite.any():
        log.warning(
            "%s: %d of %d have NaN or infinite coordinates: they count as missing geometries",
            what,
            not_finite.sum(),
            len(geo),
        )
        geo = geo.copy()
        if isinstance(geo, gpd.GeoDataFrame):
            geo.loc[not_finite, geo.geometry.name] = None
        else:
            geo[not_finite] = None
    return geo if geo.crs.equals("EPSG:4326") else geo.to_crs(4326)


def _first(result: Any) -> Any:
    """The one element of a per-element result (tuples element by element)."""
    if isinstance(result, tuple):
        return tuple(_first(part) for part in result)
    first = result[0]
    return str(first) if isinstance(first, np.str_) else first


def scalars_in_out(*names: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a vectorized S2 function answer scalars with scalars.

    When every argument in ``names`` (the per-element inputs, e.g. ``cells`` or
    ``lat, lng``) is a scalar (a Python number or string, or a 0-d NumPy value),
    the function returns the first element of its result (of each part of a
    tuple result): an ``np.int64`` for a cell id, a ``str`` for a token, a
    shapely polygon for a cell's polygon, a ``(4, 2)`` array for the vertices of
    one cell. Arrays in give arrays out as
    before, so ``pd.Index(ids).map(lambda c: cell_parent(c, 12))`` works.

    Examples
    --------
    >>> @scalars_in_out("values")
    ... def double(values):
    ...     return np.atleast_1d(values) * 2
    >>> print(double(3), double([3]))
    6 [6]
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        parameters = list(inspect.signature(func).parameters)
        positions = [(parameters.index(name), name) for name in names]

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result = func(*args, **kwargs)
            values = (args[i] if i < len(args) else kwargs[name] for i, name in positions)
            if all(np.ndim(value) == 0 for value in values):
                return _first(result)
            return result

        return wrapper

    return decorate


def _as_1d(values: Any, what: str) -> np.ndarray:
    """``np.asarray`` that turns scalars into length-1 arrays and refuses 2-D input."""
    array = np.asarray(values)
    if array.ndim == 0:
        return array.reshape(1)
    if array.ndim > 1:
        raise ValueError(
            f"{what} must be a scalar or a 1-D array, got shape {array.shape}; "
            "flatten it first (e.g. np.ravel)"
        )
    return array


def as_cells(cells: Any) -> np.ndarray:
    """Return S2 cell ids as a 1-D int64 array, raising for anything invalid.

    Accepts int64 (the signed view BigQuery and GeoPackage store), uint64 and
    Python integers up to 2**64 - 1. A valid id has face 0-5 and its lowest
    set bit at an even position (which encodes the level).

    Examples
    --------
    >>> as_cells([0x89C25A3000000000]).dtype
    dtype('int64')
    """
    array = _as_1d(cells, "cell ids")
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype == np.uint64:
        array = array.view(np.int64)
    elif array.dtype == object:
        try:
            array = np.array([int(c) & 0xFFFFFFFFFFFFFFFF for c in array], dtype=np.uint64)
        except (TypeError, ValueError):
            raise ValueError(
                "cell ids must be integers (int64 or uint64); "
                "convert tokens with token_to_cell first"
            ) from None
        array = array.view(np.int64)
    elif array.dtype.kind in "iu":
        array = array.astype(np.int64, copy=False)
    else:
        raise ValueError(
            f"cell ids must be an integer array (int64 or uint64), got dtype {array.dtype}; "
            "floats cannot hold 64-bit ids exactly, so read ids as int64 "
            "(or convert tokens with token_to_cell)"
        )
    unsigned = array.view(np.uint64)
    lsb = unsigned & (~unsigned + np.uint64(1))
    valid = ((unsigned >> np.uint64(61)) < 6) & ((lsb & _VALID_LSB_MASK) != 0)
    if not valid.all():
        bad = np.flatnonzero(~valid)
        raise ValueError(
            f"{bad.size} of {array.size} cell ids are not valid S2 cell ids "
            f"(e.g. {int(array[bad[0]])} at position {int(bad[0])}); "
            "pass ids made by latlng_to_cell/token_to_cell, stored as int64 or uint64"
        )
    return np.ascontiguousarray(array)


def as_latlng(lat: Any, lng: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return latitude and longitude as equal-length float64 arrays in range.

    Raises
    ------
    ValueError
        For NaN, latitudes outside [-90, 90], longitudes outside [-180, 180]
        or arrays of different lengths.

    Examples
    --------
    >>> as_latlng(60.17, [24.94, 24.95])[0]
    array([60.17, 60.17])
    """
    try:
        lat_a = _as_1d(lat, "lat").astype(np.float64, copy=False)
        lng_a = _as_1d(lng, "lng").astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        if "1-D" in str(exc):
            raise
        raise ValueError(
            f"lat and lng must be numbers in degrees ({exc}); convert the columns to float"
        ) from None
    try:
        lat_a, lng_a = np.broadcast_arrays(lat_a, lng_a)
    except ValueError:
        raise ValueError(
            f"lat and lng have different lengths ({lat_a.size} and {lng_a.size}); "
            "pass one latitude per longitude"
        ) from None
    for values, name, limit in ((lat_a, "latitude", 90.0), (lng_a, "longitude", 180.0)):
        if values.size == 0 or (values.min() >= -limit and values.max() <= limit):
            continue  # two reductions, no temporaries (NaN makes both comparisons false)
        bad = ~((values >= -limit) & (values <= limit))  # also catches NaN
        if bad.any():
            where = np.flatnonzero(bad)
            raise ValueError(
                f"{where.size} {name} value(s) are NaN or outside [-{limit:g}, {limit:g}] "
                f"(e.g. {values[where[0]]!r} at position {int(where[0])}); "
                "drop missing points and make sure lat/lng are in degrees (EPSG:4326) "
                "and not swapped"
            )
    return np.ascontiguousarray(lat_a), np.ascontiguousarray(lng_a)
