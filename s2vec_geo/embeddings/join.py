"""Joining cell embeddings to any geometries: points, lines and polygons.

The last step of the data flow, after :func:`s2vec_geo.embed`: a point takes
the embedding of the cell that contains it; a polygon the mean over the
cells covering it, weighted by the area of each intersection in an
equal-area projection (EPSG:6933); a line the mean over the cells it
crosses, weighted by the length inside each; a multi-point the mean over the
cells of its points. Cells without an embedding are left out of the mean
(weights renormalized); a geometry that touches no embedded cell gets NaN.
Beside the embedding, ``n_cells`` counts the embedded cells behind each row
and ``coverage`` says how much of the geometry they cover: the share of a
polygon's area (of a line's length, of a multi-point's points) inside
embedded cells, 1 for a point in an embedded cell and 0 when none is
touched, so that a tract touched by one stray cell is seen for what it is.

:func:`embed_geometries` returns the embeddings alone, one row per geometry;
:func:`join_embeddings` returns the caller's layer, its columns and CRS kept,
with the embedding columns added (``s2vec join`` and ``gdf.s2vec.embed``).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from s2vec_geo import s2
from s2vec_geo.core.guards import DEFAULT_MAX_CELLS
from s2vec_geo.core.progress import progress
from s2vec_geo.core.schema import COVERAGE, N_CELLS, cell_indexed, embedding_columns, is_embedding
from s2vec_geo.features.equal_area import EQUAL_AREA_CRS
from s2vec_geo.io.provenance import carry_provenance
from s2vec_geo.s2.antimeridian import split_antimeridian_frame

if TYPE_CHECKING:  # a model (torch) is loaded only when featurized cells are embedded
    from s2vec_geo.model.file import S2VecModel

logger = logging.getLogger(__name__)

CHUNK = 1000
"""Lines and polygons weighted at a time."""


def embedding_table(
    cells: pd.DataFrame,
    model: S2VecModel | str | os.PathLike | None = None,
    level: int | None = None,
    mode: str = "contextual",
) -> pd.DataFrame:
    """The embedding table to look geometries up in, indexed by int64 ``cell_id``.

    ``cells`` is an embedding table (``emb_...`` columns; a ``cell_id`` index
    or column), or featurized cells that ``model`` embeds first, at its patch
    level or (``level``) its image level.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"cell_id": [5764607523034234880], "emb_000": [1.0]})
    >>> embedding_table(table).index.name
    'cell_id'
    """
    if any(is_embedding(c) for c in cells.columns):
        return cell_indexed(cells, "the embedding table")
    if model is None:
        raise ValueError(
            "cells hold no emb_... columns; pass model= to embed these featurized cells, "
            "or pass an embedding table from s2vec_geo.embed"
        )
    from s2vec_geo.embeddings.embed import embed
    from s2vec_geo.model.file import as_model

    m = as_model(model)
    wanted = m.patch_level if level is None else s2.validate_level(level)
    if wanted not in (m.patch_level, m.image_level):
        raise ValueError(
            f"level {wanted} is neither the model's patch level {m.patch_level} nor its "
            f"image level {m.image_level}; use one of them"
        )
    return embed(cells, m, mode=mode, images=wanted == m.image_level)


def embed_geometries(
    geometries: gpd.GeoSeries | gpd.GeoDataFrame,
    cells: pd.DataFrame,
    model: S2VecModel | str | os.PathLike | None = None,
    level: int | None = None,
    mode: str = "contextual",
    max_cells: int | None = DEFAULT_MAX_CELLS,
) -> gpd.GeoDataFrame:
    """Embeddings of points, lines and polygons, from cell embeddings (module docs).

    Parameters
    ----------
    geometries
        Any CRS; reprojected to EPSG:4326.
    cells
        Either an embedding table from :func:`s2vec_geo.embed` (``emb_...``
        columns, ``cell_id`` as index or column, e.g. a layer written by
        ``s2vec embed`` and read back; ``model`` is then not needed), or
        featurized patch cells covering the geometries, which are embedded
        with ``model`` first (embed a whole area once and reuse the table
        when querying many times).
    model
        Trained model (or its file), needed when ``cells`` are featurized cells.
    level
        S2 level of the lookup. With featurized cells: the model's patch level
        (default) or its image level (image embeddings). With a table: its
        level (default), which it must equal.
    mode
        Embedding mode when ``cells`` are featurized (see :func:`s2vec_geo.embed`).
    max_cells
        Refuse a line or polygon that would cover more than this many cells
        of the lookup level (``--max-cells``); ``None``: the default limit.

    Returns
    -------
    geopandas.GeoDataFrame
        Same index as the input, ``emb_...`` float32 columns, ``n_cells``
        (embedded cells used per row), ``coverage`` (share of the geometry's
        area, length or points inside embedded cells, 0 to 1) and the
        geometry in EPSG:4326 (cut at the antimeridian where it crosses it, see
        :mod:`s2vec_geo.s2.antimeridian`).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from s2vec_geo.s2 import cells_frame, latlng_to_cell
    >>> table = cells_frame(latlng_to_cell(60.17, 24.94, 14)).assign(emb_000=1.0)
    >>> points = gpd.GeoSeries([shapely.Point(24.94, 60.17)], crs=4326)
    >>> embed_geometries(points, table)[["emb_000", "n_cells", "coverage"]].to_numpy().tolist()
    [[1.0, 1.0, 1.0]]
    """
    table = embedding_table(cells, model, level, mode)
    geo = geometries.geometry if isinstance(geometries, gpd.GeoDataFrame) else geometries
    geo = split_antimeridian_frame(s2.to_lnglat(geo))
    cols = embedding_columns(table)
    table_level = s2.single_level(
        table.index.to_numpy(), "the embedding table mixes S2 levels {levels}; pass one level"
    )
    if level is not None and s2.validate_level(level) != table_level:
        raise ValueError(
            f"level {level} does not match the embedding table's level {table_level}; embed "
            f"cells at level {level} first or leave level=None"
        )
    values = table[cols].to_numpy(dtype=np.float64)
    lookup = _Lookup(values, pd.Index(table.index), table_level, len(geo), max_cells)
    empty = geo.is_empty.to_numpy() | geo.isna().to_numpy()
    points = (geo.geom_type.to_numpy() == "Point") & ~empty
    lookup.points(geo, np.flatnonzero(points))
    others = np.flatnonzero(~points & ~empty)
    for start in progress(range(0, len(others), CHUNK), desc="aggregate", unit="chunk"):
        lookup.weighted(geo, others[start : start + CHUNK])
    missing = int((lookup.n_cells == 0).sum())
    if missing:
        logger.warning(
            "%d of %d geometries touch no embedded cell; their rows are NaN", missing, len(geo)
        )
    result = pd.DataFrame(lookup.values.astype(np.float32), columns=cols, index=geometries.index)
    result[N_CELLS] = lookup.n_cells
    result[COVERAGE] = lookup.coverage
    out = gpd.GeoDataFrame(result, geometry=geo.set_axis(geometries.index), crs=4326)
    return carry_provenance(table, out)


def join_embeddings(
    layer: gpd.GeoDataFrame,
    cells: pd.DataFrame,
    model: S2VecModel | str | os.PathLike | None = None,
    level: int | None = None,
    mode: str = "contextual",
    max_cells: int | None = DEFAULT_MAX_CELLS,
) -> gpd.GeoDataFrame:
    """The layer with the embedding of every row added: its columns, index and CRS kept.

    The columns :func:`embed_geometries` computes (``emb_...``, ``n_cells``
    and ``coverage``) are joined to a copy of ``layer``; nothing else changes.
    ``max_cells`` limits the cells one line or polygon may cover (see there).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from s2vec_geo.s2 import cells_frame, latlng_to_cell
    >>> table = cells_frame(latlng_to_cell(60.17, 24.94, 14)).assign(emb_000=1.0)
    >>> shops = gpd.GeoDataFrame({"name": ["kiosk"]}, geometry=[shapely.Point(24.94, 60.17)],
    ...                          crs=4326).to_crs(3067)
    >>> joined = join_embeddings(shops, table)
    >>> list(joined.columns), joined.crs.to_epsg()
    (['name', 'geometry', 'emb_000', 'n_cells', 'coverage'], 3067)
    """
    if not isinstance(layer, gpd.GeoDataFrame):
        raise ValueError(f"the layer must be a GeoDataFrame, got {type(layer).__name__}")
    joined = embed_geometries(
        layer, cells, model=model, level=level, mode=mode, max_cells=max_cells
    )
    added = joined.drop(columns=joined.geometry.name)
    clash = [c for c in added.columns if c in layer.columns]
    if clash:
        raise ValueError(
            f"the layer already has columns {clash[:3]}{' ...' if len(clash) > 3 else ''}; "
            "drop them first (layer.drop(columns=...)) to join new embeddings"
        )
    return carry_provenance(joined, layer.join(added))


class _Lookup:
    """An embedding table ready to be looked up, and the rows it fills for ``n`` geometries.

    ``values`` (NaN until filled), ``n_cells`` (embedded cells used) and
    ``coverage`` (share of each geometry inside embedded cells) have a row
    per geometry. A line or polygon covering more than ``max_cells`` cells is refused.
    """

    def __init__(
        self, table: np.ndarray, index: pd.Index, level: int, n: int, max_cells: int | None
    ) -> None:
        self.table, self.index, self.level, self.max_cells = table, index, level, max_cells
        self.values = np.full((n, table.shape[1]), np.nan)
        self.n_cells = np.zeros(n, dtype=np.int64)
        self.coverage = np.zeros(n, dtype=np.float64)

    def points(self, geo: gpd.GeoSeries, rows: np.ndarray) -> None:
        """Fill ``rows`` (points) with the embedding of the cell holding each."""
        if not len(rows):
            return
        pts = geo.iloc[rows]
        cells = s2.latlng_to_cell(pts.y.to_numpy(), pts.x.to_numpy(), self.level)
        pos = self.index.get_indexer(cells)
        hit = pos >= 0
        self.values[rows[hit]] = self.table[pos[hit]]
        self.n_cells[rows[hit]] = 1
        self.coverage[rows[hit]] = 1.0

    def weighted(self, geo: gpd.GeoSeries, rows: np.ndarray) -> None:
        """Fill ``rows`` with intersection-weighted means over covering cells."""
        pair_row, pair_cell = [], []
        for r in rows:
            cells = s2.cover(geo.iloc[r], self.level, max_cells=self.max_cells)
            pair_row.append(np.full(len(cells), r))
            pair_cell.append(cells)
        pr, pc = np.concatenate(pair_row), np.concatenate(pair_cell)
        pos = self.index.get_indexer(pc)
        keep = pos >= 0
        pr, pc, pos = pr[keep], pc[keep], pos[keep]
        if len(pr) == 0:
            return
        weight = _weights(geo.to_numpy()[pr], pc)
        local = np.searchsorted(rows, pr)  # rows are ascending
        sums = np.zeros((len(rows), self.table.shape[1]))
        totals = np.zeros(len(rows))
        np.add.at(sums, local, self.table[pos] * weight[:, None])
        np.add.at(totals, local, weight)
        used = totals > 0
        self.values[rows[used]] = sums[used] / totals[used, None]
        np.add.at(self.n_cells, pr, (weight > 0).astype(np.int64))
        whole = _size(_equal_area(geo.to_numpy()[rows]))
        share = np.divide(totals, whole, out=used.astype(np.float64), where=whole > 0)
        self.coverage[rows] = np.clip(share, 0.0, 1.0)


def _equal_area(shapes: np.ndarray) -> np.ndarray:
    """Lon/lat geometries in the equal-area projection (EPSG:6933)."""
    return gpd.GeoSeries(shapes, crs=4326).to_crs(EQUAL_AREA_CRS).to_numpy()


def _size(shapes: np.ndarray, dim: np.ndarray | None = None) -> np.ndarray:
    """Area, length or number of points of each geometry, by its dimension (or ``dim``'s)."""
    dim = shapely.get_dimensions(shapes) if dim is None else dim
    size = np.where(
        dim == 2,
        shapely.area(shapes),
        np.where(dim == 1, shapely.length(shapes), shapely.get_num_geometries(shapes)),
    ).astype(np.float64)
    size[~(size > 0)] = 0.0
    return size


def _weights(shapes: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Weight of each (geometry, cell) pair: area, length or points inside, equal-area."""
    shapes = _equal_area(shapes)
    inter = shapely.intersection(shapes, _equal_area(s2.cell_to_polygon(cells)))
    return _size(inter, shapely.get_dimensions(shapes))
