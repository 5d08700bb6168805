"""Featurize: per-cell feature vectors (POI counts, road counts and lengths, road nodes).

:func:`featurize` turns a features frame (see :mod:`s2vec_geo.ingest`) into a
cell layer: one row per S2 cell, indexed by the int64 ``cell_id``, with
``token``, one column per feature and the cell polygon. With a taxonomy (the
default for OSM data) the columns are always the taxonomy's full, fixed list
(``poi_<category>``..., ``road_count_<class>``..., ``road_length_m_<class>``...,
``intersections``, ``traffic_signals``), zeros included, so a model trained on
one area applies to another.

How each feature is computed:

- POIs and road nodes: the cell containing the point (polygon POIs: their
  ``point_on_surface``), counted with a sort-based group-by.
- Road length: every line is cut into its straight segments (lng/lat). A
  segment whose two ends lie in one cell lies inside it (cells are convex).
  A segment crossing cells is intersected with the polygons of the cells it
  can touch (cells of points sampled every quarter of the smallest cell edge,
  and their edge neighbours), so each cell gets the length inside it. Lengths
  are great-circle (haversine) metres on a sphere of radius 6,371,008.8 m:
  within 0.5 % of the WGS84 ellipsoid. Cell edges are taken as straight in
  lng/lat while S2 edges are geodesics: a cut point moves along the road by
  about a metre at level 12 (less at finer levels); each line's total length
  is kept.
- Road count: the number of distinct road lines with length in the cell.
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

from s2vec_geo.guards import LAYER_CELL_BYTES, check_cells
from s2vec_geo.ingest import read_features
from s2vec_geo.ingest.bbox import clip_to_bbox, validate_bbox
from s2vec_geo.progress import progress
from s2vec_geo.s2 import (
    cell_edge_neighbors,
    cell_to_polygon,
    cells_frame,
    cover,
    latlng_to_cell,
    to_lnglat,
    validate_level,
)
from s2vec_geo.s2.cover import estimate_cells, sorted_unique
from s2vec_geo.taxonomy import (
    Taxonomy,
    feature_column_names,
    load_taxonomy,
)

log = logging.getLogger(__name__)

CellCounts = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Sparse per-cell counts: (int64 cell ids, int64 codes, values), one row per (cell, code)."""

EARTH_RADIUS_M = 6_371_008.8
#: Smallest S2 cell edge at level 0, radians (S2's kMinEdge derivative, 2*sqrt(2)/3).
_MIN_EDGE_RAD = 2.0 * np.sqrt(2.0) / 3.0
CHUNK = 1 << 20
ROAD_PIECE_BYTES = 600  # a road's piece in one cell, while roads are cut (samples included)
_NON_FEATURES = {"cell_id", "token"}


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a cell layer, in order.

    ``frame.attrs["feature_columns"]`` when :func:`featurize` made the frame;
    otherwise (e.g. a layer read back from disk) its numeric columns other
    than ``cell_id``, ``token`` and the geometry, in column order.

    Examples
    --------
    >>> import s2vec_geo
    >>> cells = s2vec_geo.featurize("examples/data/helsinki.osm.pbf", level=13)
    >>> cols = feature_columns(cells)
    >>> cols[0], len(cols)
    ('poi_restaurant', 163)
    """
    stored = frame.attrs.get("feature_columns")
    if stored is not None and all(c in frame.columns for c in stored):
        return list(stored)
    skip = _NON_FEATURES | {getattr(frame, "_geometry_column_name", None)}
    return [
        str(c)
        for c in frame.columns
        if c not in skip and pd.api.types.is_numeric_dtype(frame[c].dtype)
    ]


def haversine_m(lng0: Any, lat0: Any, lng1: Any, lat1: Any) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees.

    Examples
    --------
    >>> round(float(haversine_m(0, 0, 1, 0)))
    111195
    """
    lng0, lat0, lng1, lat1 = (
        np.radians(np.asarray(v, np.float64)) for v in (lng0, lat0, lng1, lat1)
    )
    a = (
        np.sin((lat1 - lat0) / 2) ** 2
        + np.cos(lat0) * np.cos(lat1) * np.sin((lng1 - lng0) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _group_sum(
    cells: np.ndarray,
    codes: np.ndarray,
    weights: np.ndarray | None = None,
    level: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum ``weights`` (default: count rows) per (cell, code), sorted; no ``np.unique``.

    With ``level`` given and the codes small enough, each code is packed into
    the low bits of its level-``level`` cell id (bits below the id's trailing 1
    are zero), so one 64-bit sort does the work; otherwise a lexsort.
    """
    if len(cells) == 0:
        return cells, codes, np.zeros(0, np.float64 if weights is not None else np.int64)
    free_bits = 0 if level is None else 2 * (30 - level)
    if free_bits > 0 and int(codes.max()) < (1 << free_bits) and int(codes.min()) >= 0:
        keys = cells.view(np.uint64) | codes.astype(np.uint64)
        if weights is None:
            keys = np.sort(keys)
        else:
            order = np.argsort(keys)
            keys, weights = keys[order], weights[order]
        start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        low = np.uint64((1 << free_bits) - 1)
        unique = keys[start]
        group_cells, group_codes = (unique & ~low).view(np.int64), (unique & low).astype(np.int64)
    else:
        order = np.lexsort((codes, cells))
        c, k = cells[order], codes[order]
        weights = None if weights is None else weights[order]
        start = np.flatnonzero(np.r_[True, (c[1:] != c[:-1]) | (k[1:] != k[:-1])])
        group_cells, group_codes = c[start], k[start]
    sums = np.diff(np.r_[start, len(cells)]) if weights is None else np.add.reduceat(weights, start)
    return group_cells, group_codes, sums


def sum_counts(parts: Sequence[CellCounts], level: int) -> CellCounts:
    """Sum partial ``(cell, code, value)`` counts of several chunks per (cell, code).

    Counting is a sum, so chunks of features may be counted apart (by
    :func:`count_chunk`, on other processes or machines) and summed here.

    Examples
    --------
    >>> c = np.array([4611686018427387904])
    >>> sum_counts([(c, np.array([1]), np.array([2.0]))] * 2, level=30)[2].tolist()
    [4.0]
    """
    return _group_sum(*(np.concatenate(p) for p in zip(*parts, strict=True)), level=level)


def _scatter(
    block: np.ndarray, cells: np.ndarray, at: np.ndarray, column: np.ndarray, value: np.ndarray
) -> None:
    """Write unique (cell, column) values into ``block`` rows of the sorted ``cells``."""
    row = np.searchsorted(cells, at)
    hit = row < len(cells)
    hit[hit] = cells[row[hit]] == at[hit]  # cells outside an AOI are left out
    flat = row[hit] * block.shape[1] + column[hit]  # 15x faster than 2-D fancy indexing
    block.reshape(-1)[flat] = value[hit].astype(block.dtype)


def _segments(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight segments of (multi)lines: (n, 4) lng0, lat0, lng1, lat1 and their line index."""
    if (shapely.get_type_id(lines) == 1).all():  # plain LineStrings: no copies needed
        parts, line_of_part = lines, np.arange(len(lines))
    else:
        parts, line_of_part = shapely.get_parts(lines, return_index=True)
    coords, part = shapely.get_coordinates(parts, return_index=True)
    same = part[1:] == part[:-1]
    seg = np.column_stack([coords[:-1][same], coords[1:][same]])
    return seg, line_of_part[part[:-1][same]]


def _unique_pairs(owner: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (owner, cell) pairs, sorted by owner then cell."""
    order = np.lexsort((cell, owner))
    owner, cell = owner[order], cell[order]
    keep = np.r_[True, (owner[1:] != owner[:-1]) | (cell[1:] != cell[:-1])]
    return owner[keep], cell[keep]


def _split_crossing(seg: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut segments that cross cell boundaries: (segment index, cell, metres inside).

    Candidate cells are those of points sampled along each segment at most a
    quarter of the smallest cell edge apart. Between two samples the segment
    can only enter a third cell by cutting a corner, i.e. when the two sampled
    cells are not edge neighbours; then their edge neighbours are added too.
    """
    if len(seg) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    lengths = haversine_m(*seg.T)
    step = _MIN_EDGE_RAD * 2.0**-level * EARTH_RADIUS_M / 4.0
    samples = np.maximum(np.ceil(lengths / step).astype(np.int64), 1) + 1
    owner = np.repeat(np.arange(len(seg)), samples)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(samples) - samples, samples)
    t = offset / (samples[owner] - 1)
    lng = seg[owner, 0] + t * (seg[owner, 2] - seg[owner, 0])
    lat = seg[owner, 1] + t * (seg[owner, 3] - seg[owner, 1])
    sampled = latlng_to_cell(lat, lng, level)
    step_at = np.flatnonzero((owner[1:] == owner[:-1]) & (sampled[1:] != sampled[:-1]))
    adjacent = (cell_edge_neighbors(sampled[step_at]) == sampled[step_at + 1, None]).any(axis=1)
    corner = np.r_[step_at[~adjacent], step_at[~adjacent] + 1]
    cand_owner, cand_cell = _unique_pairs(
        np.r_[owner, np.repeat(owner[corner], 4)],
        np.r_[sampled, cell_edge_neighbors(sampled[corner]).ravel()],
    )
    # a segment with two candidate cells: clip with the first, the second gets the rest
    per_owner = np.bincount(cand_owner, minlength=len(seg))[cand_owner]
    first = np.r_[True, cand_owner[1:] != cand_owner[:-1]]
    rest = (per_owner == 2) & ~first
    clip = np.flatnonzero(~rest)
    cells = sorted_unique(cand_cell[clip])
    polygons = cell_to_polygon(cells)[np.searchsorted(cells, cand_cell[clip])]
    lines = shapely.linestrings(seg[cand_owner[clip]].reshape(-1, 2, 2))
    pieces = shapely.intersection(lines, polygons)
    parts, part_of = shapely.get_parts(pieces, return_index=True)
    is_line = shapely.get_type_id(parts) == 1  # corner touches give points
    piece_seg, piece_part = _segments(parts[is_line])
    metres = np.zeros(len(cand_owner))
    metres[clip] = np.bincount(
        part_of[is_line][piece_part], weights=haversine_m(*piece_seg.T), minlength=len(clip)
    )
    rest_at = np.flatnonzero(rest)
    metres[rest_at] = np.maximum(lengths[cand_owner[rest_at]] - metres[rest_at - 1], 0.0)
    keep = metres > 0
    return cand_owner[keep], cand_cell[keep], metres[keep]


def _codes(values: pd.Series, names: tuple[str, ...] | list[str], kind: str) -> np.ndarray:
    """Position of each row's category in ``names``; unknown names are an error.

    Only the categories the rows hold matter: a Categorical may declare more
    (e.g. one dtype shared by POI categories and road classes).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):  # no per-row strings needed
        factor, uniques = values.cat.codes.to_numpy(), values.cat.categories.astype(str)
    else:
        factor, uniques = pd.factorize(values.astype(str))
    if (factor < 0).any():
        raise ValueError(f"{kind} features with a missing category; drop or name them first")
    position = pd.Index(list(names)).get_indexer(uniques)
    unknown_at = (position < 0) & (np.bincount(factor, minlength=len(uniques)) > 0)
    if unknown_at.any():
        unknown = sorted(str(u) for u in uniques[unknown_at])
        raise ValueError(
            f"{kind} categories {unknown[:5]} are not in the feature list {list(names)[:5]}...; "
            "featurize with the taxonomy the features were read with (taxonomy=...)"
        )
    return position[factor].astype(np.int64)


def _as_features(
    features: str | os.PathLike | gpd.GeoDataFrame, read_kw: dict[str, Any]
) -> gpd.GeoDataFrame:
    """A features frame in EPSG:4326: read it unless it already is one."""
    is_frame = isinstance(features, gpd.GeoDataFrame) and "category" in features
    if not is_frame or read_kw["category_column"] is not None:
        return read_features(features, **read_kw)
    frame = to_lnglat(features, "the features")
    if "kind" not in frame:
        is_line = np.isin(shapely.get_type_id(frame.geometry.values), (1, 2, 5))
        frame = frame.assign(kind=np.where(is_line, "road", "poi"))
    if read_kw["bbox"] is not None:
        frame = clip_to_bbox(frame, validate_bbox(read_kw["bbox"]))
    return frame


def _feature_lists(
    frame: gpd.GeoDataFrame, taxonomy: Any
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], Taxonomy | None]:
    """POI categories, road classes and node features that make the columns."""
    version = frame.attrs.get("taxonomy_version")
    if version is not None or taxonomy is not None:
        tax = load_taxonomy(taxonomy)
        if version is not None and version != tax.version:
            raise ValueError(
                f"the features were read with taxonomy version {version!r} but featurize got "
                f"version {tax.version!r}; pass the same taxonomy to both"
            )
        return tax.poi_categories, tax.road_classes, tax.node_features, tax
    lists = []
    for kind in ("poi", "road", "node"):
        names = frame.loc[frame["kind"] == kind, "category"].astype(str)
        lists.append(tuple(sorted(set(names))))
    log.info("no taxonomy: feature columns from the data's own categories %s", lists)
    return lists[0], lists[1], lists[2], None


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


def _point_counts(
    frame: gpd.GeoDataFrame, names: tuple[str, ...], level: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    points = frame["kind"].isin(["poi", "node"]).to_numpy()
    if not points.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    sub = frame.loc[points]
    geoms = sub.geometry.values
    not_point = shapely.get_type_id(np.asarray(geoms)) != 0
    geoms = np.asarray(geoms, dtype=object)
    if not_point.any():
        geoms = geoms.copy()
        geoms[not_point] = shapely.point_on_surface(geoms[not_point])
    codes = _codes(sub["category"], names, "POI/node")
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    cells = np.empty(len(codes), dtype=np.int64)  # 8 bytes a point, beside the input
    for start in progress(range(0, len(codes), CHUNK), desc="locating points"):
        stop = start + CHUNK
        cells[start:stop] = latlng_to_cell(y[start:stop], x[start:stop], level)
    return _group_sum(cells, codes, level=level)


def _road_features(
    frame: gpd.GeoDataFrame, classes: tuple[str, ...], level: int, max_cells: int | None = None
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """((cell, class, metres), (cell, class, number of lines)) of road lines."""
    roads = (frame["kind"] == "road").to_numpy()
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if not roads.any():
        return empty, empty
    sub = frame.loc[roads]
    lines = np.asarray(sub.geometry.values, dtype=object)
    check_cells(
        estimate_cells(lines, level),
        f"cutting roads at the cell edges of level {level}",
        bytes_per_cell=ROAD_PIECE_BYTES,
        max_cells=max_cells,
        level=level,
        per_level=2.0,
    )
    classes_of = _codes(sub["category"], classes, "road")
    lengths, counts = [], []
    step = CHUNK // 8
    for start in progress(range(0, len(lines), step), desc="cutting roads at cells"):
        seg, line = _segments(lines[start : start + step])
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
        lengths.append(_group_sum(cells, road_class, metres, level=level))
        pair_cells, pair_lines, _ = _group_sum(cells, line_idx, level=level)
        counts.append(_group_sum(pair_cells, classes_of[start + pair_lines], level=level))
    # a (cell, class) can occur in several chunks: sum the partial results
    return sum_counts(lengths, level), sum_counts(counts, level)


def count_chunk(
    frame: gpd.GeoDataFrame, point_names: tuple[str, ...], roads: tuple[str, ...], level: int
) -> tuple[CellCounts, CellCounts, CellCounts]:
    """Partial counts of one chunk of a features frame: the map step of featurizing.

    Returns ``(points, road_counts, road_lengths)``, each ``(cell, code,
    value)`` arrays summed per (cell, code); codes index ``point_names`` (POI
    categories, then node features) or ``roads``. The counts of several chunks
    add up (:func:`sum_counts`) to the counts of all their features.

    Examples
    --------
    >>> import s2vec_geo
    >>> f = s2vec_geo.read_features("examples/data/helsinki.osm.pbf")
    >>> t = s2vec_geo.load_taxonomy()
    >>> points, counts, lengths = count_chunk(f, t.poi_categories + t.node_features,
    ...                                       t.road_classes, level=14)
    >>> bool(lengths[2].sum() > 10_000)
    True
    """
    lengths, counts = _road_features(frame, roads, level)
    return _point_counts(frame, point_names, level), counts, lengths


def cells_layer(
    cells: np.ndarray,
    points: CellCounts,
    road_counts: CellCounts,
    road_lengths: CellCounts,
    lists: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
    taxonomy_version: str | None,
    level: int,
) -> gpd.GeoDataFrame:
    """The cell layer :func:`featurize` returns, from summed counts (:func:`count_chunk`).

    ``cells`` (sorted int64) are the rows; counts of other cells are left out.
    ``lists`` are the POI categories, road classes and node features.

    Examples
    --------
    >>> import s2vec_geo
    >>> f = s2vec_geo.read_features("examples/data/helsinki.osm.pbf")
    >>> t = s2vec_geo.load_taxonomy()
    >>> lists = (t.poi_categories, t.road_classes, t.node_features)
    >>> p, c, ln = count_chunk(f, lists[0] + lists[2], lists[1], level=13)
    >>> cells = np.unique(np.r_[p[0], ln[0]])
    >>> cells_layer(cells, p, c, ln, lists, t.version, 13).equals(s2vec_geo.featurize(f, 13))
    True
    """
    pois, roads, nodes = lists
    p_cell, p_code, p_count = points
    r_cell, r_code, r_count = road_counts
    l_cell, l_code, l_metres = road_lengths
    n = len(cells)
    n_poi, n_road = len(pois), len(roads)
    counts = np.zeros((n, n_poi + n_road), dtype=np.int32)  # poi_*, then road_count_*
    node_counts = np.zeros((n, len(nodes)), dtype=np.int32)
    lengths = np.zeros((n, n_road), dtype=np.float64)
    is_poi = p_code < n_poi
    _scatter(counts, cells, p_cell[is_poi], p_code[is_poi], p_count[is_poi])
    _scatter(counts, cells, r_cell, n_poi + r_code, r_count)
    _scatter(node_counts, cells, p_cell[~is_poi], p_code[~is_poi] - n_poi, p_count[~is_poi])
    _scatter(lengths, cells, l_cell, l_code, l_metres)
    base = cells_frame(cells)
    names = feature_column_names(pois, roads, nodes)
    blocks = [
        base[["token"]],
        pd.DataFrame(counts, index=base.index, columns=names[: n_poi + n_road], copy=False),
        pd.DataFrame(
            lengths,
            index=base.index,
            columns=names[n_poi + n_road : n_poi + 2 * n_road],
            copy=False,
        ),
        pd.DataFrame(
            node_counts, index=base.index, columns=names[n_poi + 2 * n_road :], copy=False
        ),
        base[[base.geometry.name]],
    ]
    # five blocks glued without copying: the output is the only full-size allocation
    out = gpd.GeoDataFrame(pd.concat(blocks, axis=1), copy=False)
    out.attrs.update(feature_columns=names, level=level, taxonomy_version=taxonomy_version)
    return out


def featurize(
    features: str | os.PathLike | gpd.GeoDataFrame,
    level: int = 12,
    aoi: Any = None,
    *,
    taxonomy: str | os.PathLike | dict[str, Any] | Taxonomy | None = None,
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    category_column: str | None = None,
    max_cells: int | None = None,
) -> gpd.GeoDataFrame:
    """Count features per S2 cell: one row per cell, one column per feature.

    Parameters
    ----------
    features
        A features frame (from :func:`s2vec_geo.read_features`), or anything
        ``read_features`` reads (a path, or a GeoDataFrame with tag columns or
        a category column).
    level
        S2 level of the cells (paper: 12, about 5 km2).
    aoi
        Area of interest: a shapely geometry (lng/lat), GeoSeries/GeoDataFrame
        (any CRS) or a vector file. Every cell covering it appears, zeros
        included, and only those cells. ``None``: the cells holding features.
    taxonomy, layer, bbox, category_column
        Passed to :func:`s2vec_geo.read_features` when ``features`` must be read.
        ``taxonomy`` also fixes the columns (default: the one the features were
        read with; features with their own categories get one column per
        category found, sorted).
    max_cells
        Refuse work that would make more cells (AOI cells, road pieces, rows),
        estimated before it is done (see :mod:`s2vec_geo.guards`).

    Returns
    -------
    GeoDataFrame
        Indexed by ``cell_id`` (int64, sorted), with ``token``, the feature
        columns (counts int32, ``road_length_m_*`` float64 metres) and the cell
        polygon, EPSG:4326. ``attrs`` holds ``feature_columns``, ``level`` and
        ``taxonomy_version``.

    Raises
    ------
    ValueError
        For a bad level, unknown categories, a category that is both a POI
        category and a node feature (points are told apart by name only;
        :func:`s2vec_geo.read_features` reads points named like a node
        feature as that feature), or an AOI that contains no feature.

    Examples
    --------
    >>> import s2vec_geo
    >>> cells = s2vec_geo.featurize("examples/data/helsinki.osm.pbf", level=14)
    >>> cells.index.dtype, int(cells["poi_cafe"].sum()) > 10
    (dtype('int64'), True)
    >>> bool(cells["road_length_m_footway"].sum() > 10_000)
    True
    """
    level = validate_level(level)
    read_kw = {
        "layer": layer,
        "taxonomy": taxonomy,
        "bbox": bbox,
        "category_column": category_column,
    }
    frame = _as_features(features, read_kw)
    pois, roads, nodes, tax = _feature_lists(frame, taxonomy)
    point_names = pois + nodes
    p_cell, p_code, p_count = _point_counts(frame, point_names, level)
    (l_cell, l_code, l_metres), (r_cell, r_code, r_count) = _road_features(
        frame, roads, level, max_cells
    )

    data_cells = sorted_unique(np.concatenate([p_cell, l_cell]))
    if aoi is not None:
        cells = _aoi_cells(aoi, level, max_cells)
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
    n_columns = len(pois) + 2 * len(roads) + len(nodes)
    check_cells(
        len(cells),
        f"a level-{level} layer of {n_columns} features",
        level=level,
        bytes_per_cell=LAYER_CELL_BYTES + 8 * n_columns,
        max_cells=max_cells,
        fix="a coarser level, or Dask: s2vec featurize --workers N --output FOLDER",
    )
    out = cells_layer(
        cells,
        (p_cell, p_code, p_count),
        (r_cell, r_code, r_count),
        (l_cell, l_code, l_metres),
        (pois, roads, nodes),
        tax.version if tax is not None else None,
        level,
    )
    log.info("featurized %d features into %d level-%d cells", len(frame), len(cells), level)
    return out
