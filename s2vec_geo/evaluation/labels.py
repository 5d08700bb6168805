"""Read downstream labels and align them to the evaluated S2 cells.

Labels are points (e.g. house sales) or polygons (e.g. census tracts) with a
numeric target column, in any CRS. They are aligned to the cells of the
embedding table (all of one S2 level):

- **points** go to the cell that contains them; when several points fall in
  one cell, the cell gets their **median** (paper section 5.2);
- **polygons**, rule ``"overlap"`` (default): every cell gets the mean of the
  labels of the polygons it intersects, **weighted by the fraction of the
  cell each polygon covers**; cells less than ``min_overlap`` covered (e.g.
  mostly water or outside the labelled area) are left out. The fractions are
  computed in longitude/latitude, exact enough inside one cell;
- **polygons**, rule ``"centroid"``: a cell gets the label of the polygon that
  contains its centre (the median if several overlapping polygons do).

Missing target values (empty, NaN, infinite, or text that is not a number,
such as ``"NA"`` in NYC's ``medianinco``) are an error unless the caller
passes ``drop_missing=True``; then they are dropped and their count logged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from s2vec_geo.core.errors import not_utf8, reading
from s2vec_geo.core.options import RULE
from s2vec_geo.core.schema import CELL_ID
from s2vec_geo.io.coordinates import non_finite
from s2vec_geo.s2 import cell_to_latlng, cells_frame, latlng_to_cell, single_level, to_lnglat
from s2vec_geo.s2.antimeridian import split_antimeridian_frame

log = logging.getLogger(__name__)

RULES = RULE.choices
_LON_NAMES = ("lon", "lng", "long", "longitude", "x")
_LAT_NAMES = ("lat", "latitude", "y")


def _pick_column(frame: pd.DataFrame, given: str | None, names: tuple[str, ...], what: str) -> str:
    if given is not None:
        if given not in frame.columns:
            raise ValueError(f"{what} column {given!r} is not in the CSV; columns: {list(frame)}")
        return given
    lower = {str(c).lower(): c for c in frame.columns}
    for name in names:
        if name in lower:
            return lower[name]
    raise ValueError(
        f"cannot find a {what} column in the CSV (looked for {', '.join(names)}); "
        f"name it with lon_col/lat_col (--lon-col/--lat-col)"
    )


def read_labels(
    source: str | os.PathLike | pd.DataFrame,
    target: str,
    crs: str | int | None = None,
    lon_col: str | None = None,
    lat_col: str | None = None,
    drop_missing: bool = False,
) -> gpd.GeoDataFrame:
    """Read a label table and return its numeric target with geometries in EPSG:4326.

    Parameters
    ----------
    source
        A vector file (GeoPackage, shapefile, GeoParquet, ...), a CSV of
        points with longitude/latitude columns, or a (Geo)DataFrame.
    target
        Name of the column to predict; text is converted to numbers.
    crs
        CRS of the labels when the file has none or its ``.prj`` does not
        parse (e.g. ``"EPSG:4326"``); overrides a stored CRS. CSV coordinates
        default to EPSG:4326.
    lon_col, lat_col
        Coordinate columns of a CSV (default: detected by name).
    drop_missing
        Drop rows whose target is missing or not a number (their count is
        logged) instead of raising ``ValueError``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``target`` (float64) and ``geometry``, EPSG:4326.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lon": [24.94], "lat": [60.17], "price": ["250000"]})
    >>> read_labels(df, "price")["price"].tolist()
    [250000.0]
    """
    if isinstance(source, gpd.GeoDataFrame):
        frame = source.copy()
    elif isinstance(source, pd.DataFrame) or Path(source).suffix.lower() in (".csv", ".txt"):
        table = source if isinstance(source, pd.DataFrame) else _read_csv(Path(source))
        lon = _pick_column(table, lon_col, _LON_NAMES, "longitude")
        lat = _pick_column(table, lat_col, _LAT_NAMES, "latitude")
        xy = table[[lon, lat]].apply(pd.to_numeric, errors="coerce")
        frame = gpd.GeoDataFrame(
            table, geometry=gpd.points_from_xy(xy[lon], xy[lat]), crs=crs or "EPSG:4326"
        )
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"labels file {str(path)!r} does not exist; check the path")
        with reading(path, "labels file"):
            frame = gpd.read_file(path)
    if crs is not None:
        frame = frame.set_crs(crs, allow_override=True)
    if frame.crs is None:
        raise ValueError(
            "the labels have no CRS (or their .prj file could not be parsed); pass "
            "crs='EPSG:4326' (--labels-crs EPSG:4326) if the coordinates are longitude/latitude"
        )
    if target not in frame.columns:
        raise ValueError(
            f"target column {target!r} is not in the labels; available: "
            f"{[c for c in frame.columns if c != frame.geometry.name]}"
        )
    raw = frame[target]
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    text = raw.notna() & values.isna()
    bad_geom = frame.geometry.isna() | frame.geometry.is_empty | non_finite(frame.geometry.values)
    missing = ~np.isfinite(values.to_numpy()) | bad_geom.to_numpy()
    if missing.any():
        detail = (
            f"{int(missing.sum())} of {len(frame)} labels have no usable {target!r} value or "
            f"geometry ({int(text.sum())} are text that is not a number"
            + (f", e.g. {raw[text].iloc[0]!r}" if text.any() else "")
            + f", {int(bad_geom.sum())} have no geometry or NaN or infinite coordinates)"
        )
        if not drop_missing:
            raise ValueError(f"{detail}; pass drop_missing=True (--drop-missing) to drop them")
        log.warning("%s: dropped", detail)
    out = gpd.GeoDataFrame(
        {target: values.to_numpy()[~missing]},
        geometry=frame.geometry.to_numpy()[~missing],
        crs=frame.crs,
    )
    if out.empty:
        raise ValueError(f"no label has a numeric {target!r} value; check the target column")
    return to_lnglat(out, "the labels")


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"labels file {str(path)!r} does not exist; check the path")
    try:
        return pd.read_csv(path)
    except UnicodeDecodeError:
        raise not_utf8(path, "labels file") from None


def align_labels(
    labels: gpd.GeoDataFrame,
    cells: np.ndarray,
    target: str,
    rule: str = "overlap",
    min_overlap: float = 0.5,
) -> pd.Series:
    """One label per cell: aligned point or polygon labels (see the module docs).

    Parameters
    ----------
    labels
        Output of :func:`read_labels` (numeric ``target``, EPSG:4326).
    cells
        int64 ids of the candidate cells (e.g. the embedding table's), one level.
    target
        Target column.
    rule
        Polygon rule: ``"overlap"`` (area-weighted mean of the covering
        polygons) or ``"centroid"`` (polygon containing the cell centre).
        Points always take the median of the points in the cell.
    min_overlap
        ``"overlap"`` only: smallest fraction of a cell that labelled polygons
        must cover for the cell to be kept.

    Returns
    -------
    pandas.Series
        float64 labels indexed by the sorted int64 ``cell_id`` of the cells
        that received one.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> cells = latlng_to_cell([60.170, 60.175], [24.94, 24.95], 14)
    >>> pts = gpd.GeoDataFrame({"v": [1.0, 3.0, 8.0]}, crs=4326,
    ...     geometry=gpd.points_from_xy([24.94, 24.94, 24.95], [60.170, 60.170, 60.175]))
    >>> align_labels(pts, cells, "v").tolist()
    [2.0, 8.0]
    """
    if rule not in RULES:
        raise ValueError(f"unknown alignment rule {rule!r}; choose one of {', '.join(RULES)}")
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    cells = np.unique(np.asarray(cells, dtype=np.int64))
    if cells.size == 0:
        raise ValueError("there are no cells to align labels to; the embedding table is empty")
    level = single_level(
        cells, "the embedding table mixes S2 levels {levels}; evaluate one level at a time"
    )
    kinds = set(labels.geometry.geom_type.str.replace("Multi", "", regex=False))
    if kinds == {"Point"}:
        aligned = _align_points(labels, cells, target, level)
    elif kinds == {"Polygon"}:
        aligned = _align_polygons(labels, cells, target, rule, min_overlap)
    else:
        raise ValueError(
            f"labels must be all points or all polygons, got {sorted(kinds)}; "
            "split the file by geometry type"
        )
    if aligned.empty:
        lat, lng = cell_to_latlng(cells)
        raise ValueError(
            f"none of the {len(labels)} labels falls on any of the {cells.size} level-{level} "
            f"cells: labels span lon/lat {np.round(labels.total_bounds, 4).tolist()}, cells "
            f"span {np.round([lng.min(), lat.min(), lng.max(), lat.max()], 4).tolist()}; "
            "use labels and embeddings of the same area (and check the labels' CRS)"
        )
    aligned.index.name = CELL_ID
    aligned.name = target
    return aligned.sort_index()


def _align_points(
    labels: gpd.GeoDataFrame, cells: np.ndarray, target: str, level: int
) -> pd.Series:
    pts = labels.geometry.to_numpy()
    if labels.geometry.geom_type.str.startswith("Multi").any():
        pts = shapely.centroid(pts)
    ids = latlng_to_cell(shapely.get_y(pts), shapely.get_x(pts), level)
    keep = np.isin(ids, cells)
    values = pd.Series(labels[target].to_numpy()[keep], index=ids[keep])
    return values.groupby(level=0).median()


def _align_polygons(
    labels: gpd.GeoDataFrame, cells: np.ndarray, target: str, rule: str, min_overlap: float
) -> pd.Series:
    grid = cells_frame(cells)
    polys = split_antimeridian_frame(labels[[target, "geometry"]].reset_index(drop=True))
    if rule == "centroid":
        lat, lng = cell_to_latlng(grid.index.to_numpy())
        centres = gpd.GeoDataFrame(
            index=grid.index, geometry=gpd.points_from_xy(lng, lat), crs=4326
        )
        hits = centres.sjoin(polys, predicate="within", how="inner")
        return hits[target].groupby(level=0).median()
    hits = grid[["geometry"]].sjoin(polys, predicate="intersects", how="inner")
    cell_geom = grid.geometry.loc[hits.index].to_numpy()
    poly_geom = polys.geometry.to_numpy()[hits["index_right"].to_numpy()]
    frac = shapely.area(shapely.intersection(cell_geom, poly_geom)) / shapely.area(cell_geom)
    parts = (
        pd.DataFrame({"w": frac, "wy": frac * hits[target].to_numpy()}, index=hits.index)
        .groupby(level=0)
        .sum()
    )
    parts = parts[parts["w"] >= min_overlap]
    return parts["wy"] / parts["w"]
