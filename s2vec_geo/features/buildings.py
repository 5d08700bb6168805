"""Building and land-use features per cell: counts, footprint areas, floor areas, land use.

From the ``building`` and ``landuse`` rows of a features frame (taxonomy v2,
or a layer's own classes), per class:

- ``building_count_<class>``: buildings whose largest part lies in the cell
  (a building crossing cell edges counts once, where most of it is);
- ``building_area_m2_<class>``: footprint square metres inside the cell;
- ``building_floor_area_m2_<class>``: footprint inside the cell times the
  building's floor levels (the ``levels`` column that
  :func:`s2vec_geo.read_features` fills from ``building:levels``, the
  height or the taxonomy's estimate; rows without one count 1 level);
- ``landuse_area_m2_<class>``: land-use square metres inside the cell.

Polygons are cut exactly at cell edges by :func:`s2vec_geo.features.cut.split_polygons`
(areas in EPSG:6933; a polygon's parts sum to its area). Polygons should be
valid: :func:`s2vec_geo.read_features` repairs them, a frame made by hand can
be repaired with ``gdf.make_valid()``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from s2vec_geo.features.counts import CellCounts, category_codes, empty_counts, group_sum
from s2vec_geo.features.cut import DEFAULT_MAX_CELLS_PER_POLYGON, split_polygons
from s2vec_geo.ingest.polygons import POLYGONAL

AreaCounts = tuple[CellCounts, CellCounts, CellCounts, CellCounts]
"""Building counts, building areas, building floor areas and land-use areas."""


def _polygons(
    frame: gpd.GeoDataFrame, kind: str, names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Rows of ``kind``: positions in the frame, polygons, class codes, OSM ids (if any)."""
    rows = np.flatnonzero((frame["kind"] == kind).to_numpy())
    polygons = np.asarray(frame.geometry.values[rows], dtype=object)
    not_polygon = ~np.isin(shapely.get_type_id(polygons), POLYGONAL)
    if not_polygon.any():
        example = polygons[not_polygon][0]
        raise ValueError(
            f"{int(not_polygon.sum())} {kind} row(s) are not polygons (e.g. a "
            f"{getattr(example, 'geom_type', 'missing geometry')}); give {kind} features as "
            "polygons, or set kind='poi' to count them as points of interest"
        )
    codes = category_codes(frame["category"].iloc[rows], names, kind)
    ids = frame["osm_id"].to_numpy()[rows] if "osm_id" in frame else None
    return rows, polygons, codes, ids


def building_counts(
    frame: gpd.GeoDataFrame,
    classes: tuple[str, ...],
    level: int,
    max_cells_per_polygon: int | None = DEFAULT_MAX_CELLS_PER_POLYGON,
) -> tuple[CellCounts, CellCounts, CellCounts]:
    """(count, footprint m2, floor m2) per (cell, class) of the frame's ``building`` rows.

    Floor levels come from the ``levels`` column; rows without one count 1 level.

    Examples
    --------
    >>> import geopandas as gpd
    >>> b = gpd.GeoDataFrame({"category": ["civic"], "kind": ["building"], "levels": [3.0]},
    ...                      geometry=[shapely.box(24.94, 60.17, 24.9403, 60.1702)], crs=4326)
    >>> counts, areas, floors = building_counts(b, ("civic",), level=14)
    >>> counts[2].tolist(), round(float(floors[2].sum() / areas[2].sum()), 6)
    ([1], 3.0)
    """
    if not (frame["kind"] == "building").any():
        return empty_counts(np.int64), empty_counts(), empty_counts()
    rows, polygons, codes, ids = _polygons(frame, "building", classes)
    levels = np.ones(len(rows))
    if "levels" in frame:
        levels = np.nan_to_num(frame["levels"].to_numpy(np.float64)[rows], nan=1.0)
    parts = split_polygons(polygons, level, max_cells_per_polygon, "building", ids)
    cls = codes[parts.owner]
    home = parts.largest()
    return (
        group_sum(parts.cell[home], cls[home], level=level),
        group_sum(parts.cell, cls, parts.area, level=level),
        group_sum(parts.cell, cls, parts.area * levels[parts.owner], level=level),
    )


def landuse_areas(
    frame: gpd.GeoDataFrame,
    classes: tuple[str, ...],
    level: int,
    max_cells_per_polygon: int | None = DEFAULT_MAX_CELLS_PER_POLYGON,
) -> CellCounts:
    """Square metres per (cell, class) of the frame's ``landuse`` rows.

    Examples
    --------
    >>> import geopandas as gpd
    >>> wood = gpd.GeoDataFrame({"category": ["forest"], "kind": ["landuse"]},
    ...                         geometry=[shapely.box(24.90, 60.10, 24.95, 60.12)], crs=4326)
    >>> cells, codes, m2 = landuse_areas(wood, ("forest",), level=13)
    >>> len(cells) > 10, round(float(m2.sum()) / 1e6, 2)
    (True, 6.2)
    """
    if not (frame["kind"] == "landuse").any():
        return empty_counts()
    _, polygons, codes, ids = _polygons(frame, "landuse", classes)
    parts = split_polygons(polygons, level, max_cells_per_polygon, "land-use", ids)
    return group_sum(parts.cell, codes[parts.owner], parts.area, level=level)
