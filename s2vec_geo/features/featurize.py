"""Featurize: per-cell feature vectors (POIs, roads, road nodes; buildings and land use).

:func:`featurize` turns a features frame (see :mod:`s2vec_geo.ingest`) into a
cell layer: one row per S2 cell, indexed by the int64 ``cell_id``, with
``token``, one column per feature and the cell polygon. With a taxonomy (the
default for OSM data) the columns are always the taxonomy's full, fixed list
(``poi_<category>``..., ``road_count_<class>``..., ``road_length_m_<class>``...,
``intersections``, ``traffic_signals``; taxonomy v2 adds ``building_*`` and
``landuse_area_m2_*``), zeros included, so a model trained on one area
applies to another.

How each feature is computed:

- POIs and road nodes: the cell containing the point (polygon POIs: their
  ``point_on_surface``), counted with a sort-based group-by.
- Road length: every line is cut into its straight segments (lng/lat). A
  segment whose two ends lie in one cell lies inside it (cells are convex).
  A segment crossing cells is clipped to the polygons of the cells it can
  touch (cells of points sampled every quarter of the smallest cell edge, and
  their edge neighbours; convex quadrilaterals are clipped in NumPy, see
  :func:`s2vec_geo.features.segments.length_in_cells`), so each cell gets the length
  inside it. Lengths
  are great-circle (haversine) metres on a sphere of radius 6,371,008.8 m:
  within 0.5 % of the WGS84 ellipsoid. Cell edges are taken as straight in
  lng/lat while S2 edges are geodesics: a cut point moves along the road by
  about a metre at level 12 (less at finer levels); each line's total length
  is kept.
- Road count: the number of distinct road lines with length in the cell.
- Buildings and land use (taxonomy v2): polygons cut exactly at cell edges,
  areas in EPSG:6933; see :mod:`s2vec_geo.features.buildings`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from s2vec_geo.core.geodesy import haversine_m
from s2vec_geo.core.guards import (
    DEFAULT_MAX_CELLS,
    LAYER_CELL_BYTES,
    budget_in_force,
    check_cells,
    limit,
    using_budget,
)
from s2vec_geo.core.progress import progress
from s2vec_geo.core.schema import FEATURE_COLUMNS_ATTR, TOKEN
from s2vec_geo.features.buildings import building_counts, landuse_areas
from s2vec_geo.features.counts import (
    CellCounts,
    category_codes,
    empty_counts,
    group_sum,
    scatter,
    sum_counts,
)
from s2vec_geo.features.cut import DEFAULT_MAX_CELLS_PER_POLYGON, check_polygon_cells
from s2vec_geo.features.segments import length_in_cells, segment_cells, segments
from s2vec_geo.ingest import read_features
from s2vec_geo.ingest.bbox import clip_to_bbox, validate_bbox
from s2vec_geo.ingest.taxonomy.tags import FeatureLists, Taxonomy, taxonomy_for
from s2vec_geo.s2 import (
    cells_frame,
    cover,
    latlng_to_cell,
    to_lnglat,
    validate_level,
)
from s2vec_geo.s2.antimeridian import split_antimeridian_frame
from s2vec_geo.s2.cover import estimate_cells, sorted_unique

log = logging.getLogger(__name__)

CHUNK = 1 << 20
ROAD_PIECE_BYTES = 600  # a road's piece in one cell, while roads are cut (samples included)


def row_bytes(lists: FeatureLists) -> int:
    """Memory of one row of the cell layer of these features (measured: 1.1 KB for v1).

    At fine levels most road pieces become a row of their own, so the road
    guard holds each piece to this too.

    Examples
    --------
    >>> import s2vec_geo
    >>> row_bytes(s2vec_geo.load_taxonomy().feature_lists()) > LAYER_CELL_BYTES
    True
    """
    return LAYER_CELL_BYTES + 8 * len(lists.columns())


def _split_crossing(seg: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut segments that cross cell boundaries: (segment index, cell, metres inside).

    The cells a segment can touch come from :func:`s2vec_geo.features.segments.segment_cells`.
    """
    if len(seg) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    lengths = haversine_m(*seg.T)
    cand_owner, cand_cell = segment_cells(seg, lengths, level)
    # a segment with two candidate cells: clip with the first, the second gets the rest
    per_owner = np.bincount(cand_owner, minlength=len(seg))[cand_owner]
    first = np.r_[True, cand_owner[1:] != cand_owner[:-1]]
    rest = (per_owner == 2) & ~first
    clip = np.flatnonzero(~rest)
    metres = np.zeros(len(cand_owner))
    metres[clip] = length_in_cells(seg[cand_owner[clip]], cand_cell[clip])
    rest_at = np.flatnonzero(rest)
    metres[rest_at] = np.maximum(lengths[cand_owner[rest_at]] - metres[rest_at - 1], 0.0)
    keep = metres > 0
    return cand_owner[keep], cand_cell[keep], metres[keep]


def as_features(
    features: str | os.PathLike | gpd.GeoDataFrame, read_kw: dict[str, Any]
) -> gpd.GeoDataFrame:
    """A features frame in EPSG:4326: read it (``read_kw``) unless it already is one.

    Examples
    --------
    >>> kw = {"layer": None, "taxonomy": None, "bbox": None, "category_column": None}
    >>> as_features("examples/data/helsinki.osm.pbf", kw).crs.to_epsg()
    4326
    """
    is_frame = isinstance(features, gpd.GeoDataFrame) and "category" in features
    if not is_frame or read_kw["category_column"] is not None:
        return read_features(features, **read_kw)
    frame = split_antimeridian_frame(to_lnglat(features, "the features"))  # as readers do
    if "kind" not in frame:
        is_line = np.isin(shapely.get_type_id(frame.geometry.values), (1, 2, 5))
        frame = frame.assign(kind=np.where(is_line, "road", "poi"))
    if read_kw["bbox"] is not None:
        frame = clip_to_bbox(frame, validate_bbox(read_kw["bbox"]))
    return frame


def feature_lists(frame: gpd.GeoDataFrame, taxonomy: Any) -> FeatureLists:
    """The names that make the columns: the taxonomy's, or the data's own categories.

    Examples
    --------
    >>> import s2vec_geo
    >>> f = s2vec_geo.read_features("examples/data/helsinki.osm.pbf", taxonomy="v2")
    >>> feature_lists(f, None).buildings
    ('residential', 'commercial', 'industrial', 'civic', 'other')
    """
    version = frame.attrs.get("taxonomy_version")
    if version is not None or taxonomy is not None:
        tax = taxonomy_for(taxonomy, version)
        if version is not None and version != tax.version:
            raise ValueError(
                f"the features were read with taxonomy version {version!r} but featurize got "
                f"version {tax.version!r}; pass the same taxonomy to both"
            )
        return tax.feature_lists()
    kinds = ("poi", "road", "node", "building", "landuse")
    names = [
        tuple(sorted(set(frame.loc[frame["kind"] == kind, "category"].astype(str))))
        for kind in kinds
    ]
    words = [_categories_in_words(k, n) for k, n in zip(kinds, names, strict=True) if n]
    said = "; ".join(words)
    log.info("no taxonomy: feature columns from the data's own categories: %s", said or "none")
    return FeatureLists(*names)


_KIND_WORDS = {
    "poi": "points of interest",
    "road": "roads",
    "node": "nodes",
    "building": "buildings",
    "landuse": "land use",
}


def _categories_in_words(kind: str, names: Sequence[str], shown: int = 5) -> str:
    """``"69 for points of interest (atm, bank, ... and 64 more)"``, for a log line.

    Examples
    --------
    >>> _categories_in_words("road", ["primary", "residential"])
    '2 for roads (primary, residential)'
    >>> _categories_in_words("poi", list("abcdefg"), shown=2)
    '7 for points of interest (a, b and 5 more)'
    """
    listed = ", ".join(names[:shown])
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} for {_KIND_WORDS.get(kind, kind)} ({listed}{more})"


def _aoi_cells(aoi: Any, level: int, max_cells: int | None = None) -> np.ndarray:
    if isinstance(aoi, (str, os.PathLike)):
        path = Path(aoi)
        if not path.exists():
            raise FileNotFoundError(f"AOI file {str(path)!r} does not exist; check the path")
        aoi = gpd.read_file(path)
        if aoi.crs is None:
            raise ValueError(
                f"AOI file {str(path)!r} has no CRS; define one (e.g. EPSG:4326) and retry"
            )
    return cover(aoi, level, max_cells=max_cells)


def _point_counts(frame: gpd.GeoDataFrame, names: tuple[str, ...], level: int) -> CellCounts:
    """(cell, code, count) of POIs and road nodes (codes index ``names``).

    ``names`` are the POI categories then the node features; points are told
    apart by category name only, so a name in both lists is an error.
    """
    shared = sorted({n for n in names if names.count(n) > 1})
    if shared:
        raise ValueError(
            f"category {shared[0]!r} is both a POI category and a node feature, so its "
            f"points cannot be told apart; rename the POI category (e.g. to "
            f"'{shared[0]}_poi'), or set kind='node' on its POI rows to count them as the "
            "node feature"
        )
    kind = frame["kind"]
    only_points = isinstance(kind.dtype, pd.CategoricalDtype) and {"poi", "node"}.issuperset(
        kind.cat.categories
    )  # then no comparison per row
    if only_points and not kind.isna().any():
        points = every = True
    else:
        points = kind.isin(["poi", "node"]).to_numpy()
        every = points.all()  # no copies of a frame of points only
    if not np.any(points):
        return empty_counts(np.int64)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    geoms = geoms if every else geoms[points]
    codes = category_codes(
        frame["category"] if every else frame["category"][points], names, "POI/node"
    )
    # bounds: x and y in one pass over the geometries (2-3x faster than get_x and get_y)
    west, south, east, north = shapely.bounds(geoms).T
    spread = np.flatnonzero((east != west) | (north != south))  # not one location (or empty)
    x, y = west, south
    if len(spread):
        surface = shapely.point_on_surface(geoms[spread])
        x[spread], y[spread] = shapely.get_x(surface), shapely.get_y(surface)
    cells = np.empty(len(codes), dtype=np.int64)  # 8 bytes a point, beside the input
    for start in progress(range(0, len(codes), CHUNK), desc="locating points"):
        stop = start + CHUNK
        cells[start:stop] = latlng_to_cell(y[start:stop], x[start:stop], level)
    return group_sum(cells, codes, level=level)


def _road_features(
    frame: gpd.GeoDataFrame, lists: FeatureLists, level: int, max_cells: int | None = None
) -> tuple[CellCounts, CellCounts]:
    """((cell, class, metres), (cell, class, number of lines)) of road lines.

    Refused before any road is cut when the pieces, estimated from the
    roads' lengths, are over ``max_cells`` or, as rows of the layer they
    become, over the memory budget.
    """
    roads = (frame["kind"] == "road").to_numpy()
    if not roads.any():
        return empty_counts(), empty_counts()
    sub = frame.loc[roads]
    lines = np.asarray(sub.geometry.values, dtype=object)
    piece_bytes = max(ROAD_PIECE_BYTES, row_bytes(lists))
    fits = min(limit(max_cells), budget_in_force() // piece_bytes)  # no finer estimate
    check_cells(
        estimate_cells(lines, level, below=fits),
        f"cutting roads at the cell edges of level {level}",
        bytes_per_cell=piece_bytes,
        max_cells=max_cells,
        level=level,
        per_level=2.0,
    )
    classes_of = category_codes(sub["category"], lists.roads, "road")
    lengths, counts = [], []
    step = CHUNK // 8
    for start in progress(range(0, len(lines), step), desc="cutting roads at cells"):
        seg, line = segments(lines[start : start + step])
        c0 = latlng_to_cell(seg[:, 1], seg[:, 0], level)
        c1 = latlng_to_cell(seg[:, 3], seg[:, 2], level)
        inside = c0 == c1
        crossing = np.flatnonzero(~inside)
        cut_seg, cut_cell, cut_m = _split_crossing(seg[crossing], level)
        seg_idx = np.concatenate([np.flatnonzero(inside), crossing[cut_seg]])
        cells = np.concatenate([c0[inside], cut_cell])
        metres = np.concatenate([haversine_m(*seg[inside].T), cut_m])
        has_length = metres > 0  # repeated vertices add no length and no road
        cells, metres, line_idx = cells[has_length], metres[has_length], line[seg_idx[has_length]]
        road_class = classes_of[start + line_idx]
        lengths.append(group_sum(cells, road_class, metres, level=level))
        pair_cells, pair_lines, _ = group_sum(cells, line_idx, level=level)
        counts.append(group_sum(pair_cells, classes_of[start + pair_lines], level=level))
    # a (cell, class) can occur in several chunks: sum the partial results
    return sum_counts(lengths, level), sum_counts(counts, level)


def _check_polygons(frame: gpd.GeoDataFrame, level: int, max_cells_per_polygon: int | None) -> None:
    """The per-polygon size guard of buildings and land use, from estimates alone."""
    kinds = frame["kind"].to_numpy()
    geoms = np.asarray(frame.geometry.values, dtype=object)
    for kind, what in (("building", "building"), ("landuse", "land-use")):
        rows = np.flatnonzero(kinds == kind)
        ids = frame["osm_id"].to_numpy()[rows] if "osm_id" in frame else None
        check_polygon_cells(geoms[rows], level, max_cells_per_polygon, what, ids)


def count_chunk(
    frame: gpd.GeoDataFrame,
    lists: FeatureLists,
    level: int,
    max_cells_per_polygon: int | None = DEFAULT_MAX_CELLS_PER_POLYGON,
    max_cells: int | None = None,
) -> tuple[CellCounts, ...]:
    """Partial counts of one chunk of a features frame: the map step of featurizing.

    Returns ``(points, road_counts, road_lengths, building_counts,
    building_areas, building_floor_areas, landuse_areas)``, each ``(cell,
    code, value)`` arrays summed per (cell, code); codes index
    ``lists.points`` (POI categories, then node features), ``lists.roads``,
    ``lists.buildings`` or ``lists.landuse``. The counts of several chunks add
    up (:func:`s2vec_geo.features.counts.sum_counts`) to the counts of all their features.

    Examples
    --------
    >>> import s2vec_geo
    >>> f = s2vec_geo.read_features("examples/data/helsinki.osm.pbf")
    >>> counted = count_chunk(f, s2vec_geo.load_taxonomy().feature_lists(), level=14)
    >>> len(counted), bool(counted[2][2].sum() > 10_000)
    (7, True)
    """
    _check_polygons(frame, level, max_cells_per_polygon)  # cheap: before the roads are cut
    lengths, counts = _road_features(frame, lists, level, max_cells)
    buildings = building_counts(frame, lists.buildings, level, max_cells_per_polygon)
    landuse = landuse_areas(frame, lists.landuse, level, max_cells_per_polygon)
    return (_point_counts(frame, lists.points, level), counts, lengths, *buildings, landuse)


def _split_points(points: CellCounts, n_poi: int) -> tuple[CellCounts, CellCounts]:
    """Counts of POIs (codes below ``n_poi``) and of road nodes (codes from 0)."""
    cell, code, count = points
    is_poi = code < n_poi
    if is_poi.all():  # no copies of millions of POI counts
        return points, empty_counts(count.dtype)
    return (cell[is_poi], code[is_poi], count[is_poi]), (
        cell[~is_poi],
        code[~is_poi] - n_poi,
        count[~is_poi],
    )


def cells_layer(
    cells: np.ndarray, counts: Sequence[CellCounts], lists: FeatureLists, level: int
) -> gpd.GeoDataFrame:
    """The cell layer :func:`featurize` returns, from summed counts (:func:`count_chunk`).

    ``cells`` (sorted int64) are the rows; counts of other cells are left out.

    Examples
    --------
    >>> import s2vec_geo
    >>> f = s2vec_geo.read_features("examples/data/helsinki.osm.pbf")
    >>> lists = s2vec_geo.load_taxonomy().feature_lists()
    >>> counted = count_chunk(f, lists, level=13)
    >>> cells = np.unique(np.concatenate([c for c, _, _ in counted]))
    >>> cells_layer(cells, counted, lists, 13).equals(s2vec_geo.featurize(f, 13))
    True
    """
    points, *rest = counts
    pois, nodes = _split_points(points, len(lists.pois))
    blocks = [
        (lists.pois, np.int32, pois),
        (lists.roads, np.int32, rest[0]),
        (lists.roads, np.float64, rest[1]),
        (lists.nodes, np.int32, nodes),
        (lists.buildings, np.int32, rest[2]),
        (lists.buildings, np.float64, rest[3]),
        (lists.buildings, np.float64, rest[4]),
        (lists.landuse, np.float64, rest[5]),
    ]
    base = cells_frame(cells)
    names = lists.columns()
    frames, at = [base[[TOKEN]]], 0
    for block_names, dtype, block_counts in blocks:
        block = np.zeros((len(cells), len(block_names)), dtype=dtype)
        scatter(block, cells, block_counts)
        columns = names[at : at + len(block_names)]
        frames.append(pd.DataFrame(block, index=base.index, columns=columns, copy=False))
        at += len(block_names)
    # blocks glued without copying: the output is the only full-size allocation
    out = gpd.GeoDataFrame(pd.concat([*frames, base[[base.geometry.name]]], axis=1), copy=False)
    out.attrs.update(
        {FEATURE_COLUMNS_ATTR: names, "level": level, "taxonomy_version": lists.version}
    )
    return out


def featurize(
    features: str | os.PathLike | gpd.GeoDataFrame,
    level: int = 16,
    aoi: Any = None,
    *,
    taxonomy: str | os.PathLike | dict[str, Any] | Taxonomy | None = None,
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    category_column: str | None = None,
    polygons: str = "poi",
    max_cells_per_polygon: int | None = DEFAULT_MAX_CELLS_PER_POLYGON,
    max_cells: int | None = DEFAULT_MAX_CELLS,
    memory_budget: int | str | None = None,
) -> gpd.GeoDataFrame:
    """Count features per S2 cell: one row per cell, one column per feature.

    Parameters
    ----------
    features
        A features frame (from :func:`s2vec_geo.read_features`), or anything
        ``read_features`` reads (a path, or a GeoDataFrame with tag columns or
        a category column).
    level
        S2 level of the cells (default 16, about 150 m; the paper: 12, about 5 km2).
    aoi
        Area of interest: a shapely geometry (lng/lat), GeoSeries/GeoDataFrame
        (any CRS) or a vector file. Every cell covering it appears, zeros
        included, and only those cells. ``None``: the cells holding features.
    taxonomy, layer, bbox, category_column, polygons
        Passed to :func:`s2vec_geo.read_features` when ``features`` must be read.
        ``taxonomy`` (``"v1"``, the default; ``"v2"`` adds buildings and land
        use; a JSON file) also fixes the columns (default: the one the
        features were read with; features with their own categories get one
        column per category found, sorted).
    max_cells_per_polygon
        Size guard for building and land-use polygons: refuse any polygon
        estimated (from its area and boundary) to cover more cells, with a message
        giving the estimate and the fix; ``None`` or 0: no limit.
    max_cells
        Refuse work that would make more cells (AOI cells, road pieces, rows),
        estimated before it is done (see :mod:`s2vec_geo.core.guards`).
    memory_budget
        Refuse work whose estimate (AOI cells, road pieces, rows) would take
        more memory, e.g. ``"8GB"``; default: the budget in force
        (:func:`~s2vec_geo.core.guards.budget_in_force`, 2 GiB).

    Returns
    -------
    GeoDataFrame
        Indexed by ``cell_id`` (int64, sorted), with ``token``, the feature
        columns (counts int32; ``road_length_m_*`` metres and ``*_area_m2_*``
        square metres float64) and the cell polygon, EPSG:4326. ``attrs``
        holds ``feature_columns``, ``level`` and ``taxonomy_version``.

    Raises
    ------
    ValueError
        For a bad level, unknown categories, a category that is both a POI
        category and a node feature (points are told apart by name only;
        :func:`s2vec_geo.read_features` reads points named like a node
        feature as that feature), an AOI that contains no feature, or a
        polygon over ``max_cells_per_polygon``.

    Examples
    --------
    >>> import s2vec_geo
    >>> cells = s2vec_geo.featurize("examples/data/helsinki.osm.pbf", level=14)
    >>> cells.index.dtype, int(cells["poi_cafe"].sum()) > 10
    (dtype('int64'), True)
    >>> bool(cells["road_length_m_footway"].sum() > 10_000)
    True
    >>> v2 = s2vec_geo.featurize("examples/data/helsinki.osm.pbf", level=14, taxonomy="v2")
    >>> bool(v2["building_area_m2_other"].sum() > 10_000)
    True
    """
    level = validate_level(level)
    read_kw = {
        "layer": layer,
        "taxonomy": taxonomy,
        "bbox": bbox,
        "category_column": category_column,
        "polygons": polygons,
    }
    frame = as_features(features, read_kw)
    lists = feature_lists(frame, taxonomy)
    with using_budget(memory_budget):
        return _featurize(frame, lists, level, aoi, (max_cells_per_polygon, max_cells))


def _featurize(
    frame: gpd.GeoDataFrame,
    lists: FeatureLists,
    level: int,
    aoi: Any,
    limits: tuple[int | None, int | None],
) -> gpd.GeoDataFrame:
    """:func:`featurize` of a features frame, under the size limits (per polygon, in all)."""
    max_cells_per_polygon, max_cells = limits
    aoi_cells = None if aoi is None else _aoi_cells(aoi, level, max_cells)  # before any cutting
    counted = count_chunk(frame, lists, level, max_cells_per_polygon, max_cells)
    data_cells = sorted_unique(np.concatenate([c for c, _, _ in counted]))
    if aoi_cells is not None:
        cells = aoi_cells
        if len(data_cells) and not np.isin(data_cells, cells).any():
            bounds = ", ".join(f"{float(v):.5f}" for v in frame.total_bounds)
            raise ValueError(
                f"the AOI does not intersect the features (AOI: {len(cells)} level-{level} "
                f"cells; features bounds {bounds}); check the AOI and its CRS"
            )
        if not len(data_cells):
            log.warning("no features to count: every AOI cell is all zeros")
        outside = int(np.count_nonzero(~np.isin(data_cells, cells)))
        if outside:
            log.info("%d cell(s) with features lie outside the AOI and are left out", outside)
    else:
        cells = data_cells
    n_columns = len(lists.columns())
    check_cells(
        len(cells),
        f"a level-{level} layer of {n_columns} features",
        level=level,
        bytes_per_cell=row_bytes(lists),
        max_cells=max_cells,
        fix="a coarser level, or Dask: s2vec featurize --workers N --output FOLDER",
    )
    out = cells_layer(cells, counted, lists, level)
    log.info("featurized %d features into %d level-%d cells", len(frame), len(cells), level)
    return out
