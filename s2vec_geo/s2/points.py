"""Point layers to cell ids: the cell of every point row, keeping the rows."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from s2vec_geo.core.schema import CELL_ID
from s2vec_geo.s2.ids import latlng_to_cell
from s2vec_geo.s2.validation import to_lnglat


def point_cells(points: gpd.GeoSeries | gpd.GeoDataFrame, level: int) -> pd.Series:
    """Return the level-``level`` cell of each point as an int64 Series named ``cell_id``.

    Parameters
    ----------
    points
        Point geometries in any CRS (reprojected to EPSG:4326; a missing CRS
        is an error). Other geometry types are refused: cover them with
        :func:`s2vec_geo.s2.cover` (or ``gdf.s2vec.cover``) instead.
    level
        S2 level 0-30.

    Returns
    -------
    pandas.Series
        int64 cell ids with the input's index; the input is not modified.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pts = gpd.GeoSeries([shapely.Point(24.9384, 60.1699)], crs=4326)
    >>> point_cells(pts, 12).tolist()
    [5085139917235814400]
    """
    geometry = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if not isinstance(geometry, gpd.GeoSeries):
        raise ValueError(
            f"point_cells needs a GeoSeries or GeoDataFrame, got {type(points).__name__}; "
            "for plain coordinates use latlng_to_cell(lat, lng, level)"
        )
    geometry = to_lnglat(geometry, "the points")
    values = geometry.values
    is_point = np.asarray(shapely.get_type_id(values) == 0) & ~np.asarray(shapely.is_empty(values))
    if not is_point.all():
        bad = np.flatnonzero(~is_point)
        example = values[bad[0]]
        raise ValueError(
            f"{bad.size} of {len(values)} rows are not (non-empty) points "
            f"(e.g. {'a missing geometry' if example is None else example.geom_type} in row "
            f"{geometry.index[bad[0]]!r}); cell ids are for points: use cover(...) / "
            "gdf.s2vec.cover(level) for lines and polygons, or drop empty rows"
        )
    cells = latlng_to_cell(shapely.get_y(values), shapely.get_x(values), level)
    return pd.Series(cells, index=geometry.index, name=CELL_ID, dtype="int64")
