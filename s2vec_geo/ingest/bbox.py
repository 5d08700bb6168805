"""Bounding boxes in degrees: validation and clipping of feature frames.

Points are kept when inside; roads are cut to the box, and so are building
and land-use polygons (their part inside the box; what has no area there is
dropped).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely

from s2vec_geo.ingest.polygons import AREA_KINDS

BBox = tuple[float, float, float, float]


def validate_bbox(bbox: BBox | None) -> BBox | None:
    """Check a ``(min_lng, min_lat, max_lng, max_lat)`` box in degrees.

    Examples
    --------
    >>> validate_bbox((24.9, 60.1, 25.0, 60.2))
    (24.9, 60.1, 25.0, 60.2)
    """
    if bbox is None:
        return None
    try:
        values = tuple(float(v) for v in bbox)
    except (TypeError, ValueError):
        values = ()
    ok = len(values) == 4 and all(math.isfinite(v) for v in values)
    if ok:
        x0, y0, x1, y1 = values
        ok = -180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90
    if not ok:
        raise ValueError(
            f"bbox {bbox!r} is not a valid (min_lng, min_lat, max_lng, max_lat) box; give "
            "four finite degrees with min < max, longitudes in [-180, 180], latitudes in [-90, 90]"
        )
    return values  # type: ignore[return-value]


def clip_to_bbox(frame: gpd.GeoDataFrame, bbox: BBox) -> gpd.GeoDataFrame:
    """Keep features inside ``bbox``; roads, buildings and land use are cut to it.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"kind": ["poi", "road", "landuse"]}, crs=4326,
    ...     geometry=[shapely.Point(5, 5), shapely.LineString([(0, 1), (2, 1)]),
    ...               shapely.box(2, 2, 4, 4)])
    >>> clip_to_bbox(g, (1, 0, 3, 3)).geometry.to_wkt().tolist()
    ['LINESTRING (1 1, 2 1)', 'POLYGON ((2 2, 2 3, 3 3, 3 2, 2 2))']
    """
    geom = frame.geometry.values
    is_line = (frame["kind"] == "road").to_numpy()
    is_area = frame["kind"].isin(AREA_KINDS).to_numpy()
    clipped = np.asarray(geom, dtype=object).copy()
    box = shapely.box(*bbox)
    if is_line.any():
        clipped[is_line] = shapely.clip_by_rect(clipped[is_line], *bbox)
    if is_area.any():
        clipped[is_area] = shapely.intersection(clipped[is_area], box)
    inside = np.where(
        is_line,
        ~shapely.is_empty(clipped),
        np.where(is_area, shapely.area(clipped) > 0, shapely.intersects(clipped, box)),
    )
    out = frame.loc[inside].copy()
    out["geometry"] = gpd.GeoSeries(clipped[inside], index=out.index, crs=frame.crs)
    return out
