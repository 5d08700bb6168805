"""Cell embeddings from a trained S2Vec model, and embeddings of arbitrary geometries.

:func:`embed` turns featurized patch cells into a cell layer with
``emb_000 ... emb_NNN`` float32 columns (or, with ``images=True``, one row per
image-level parent cell). :func:`embed_geometries` looks points up in such a
table and averages it over lines and polygons.

Two ways to embed a patch cell
------------------------------
``mode="patch"`` is the paper's literal recipe (section 3.3): the trained
patch encoder -- the linear projection of the normalized feature vector -- is
applied to the cell's own features. It is a linear map of the cell's
(log-)counts and sees nothing of its surroundings.

``mode="contextual"`` (the default) encodes each cell with its neighbourhood
visible, without masking, and takes the cell's token at the encoder output:
the embedding reflects the cell *and* the surroundings the masked autoencoder
learned to reason about, which is what the paper motivates ("how this
property varies spatially over a larger area").

Which neighbourhood: with ``windows="sliding"`` (the default for models
trained on sliding windows) the area is read through ``grid x grid`` windows
every ``stride`` cells (default ``grid / 2``), and each cell's outputs from
the ``(grid / stride)**2`` windows holding it are averaged with weights that
fall towards the window edges (:func:`s2vec_geo.images.windows.blend_weights`),
as sliding-window inference in image segmentation does. Neighbouring cells
are then read from the same windows with nearly the same weights, so
embeddings vary smoothly across the area and image borders leave no seam.
``windows="aligned"`` reads each cell from its own image-level tile only,
the paper's images: cells on either side of a tile border are embedded in
different contexts, and the tiling shows.
Contextual embeddings depend on which neighbours were given: embed a whole
area at once rather than cell by cell.
"""

from __future__ import annotations

import logging
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import torch

from s2vec_geo import s2
from s2vec_geo.images.sampler import WINDOW_MODES
from s2vec_geo.images.windows import (
    LatticeIndex,
    blend_weights,
    cell_tokens,
    check_stride,
    sliding_origins,
)
from s2vec_geo.model import S2VecModel, autocast, load_model
from s2vec_geo.plots import EMBEDDING_PREFIX, embedding_columns
from s2vec_geo.progress import progress

logger = logging.getLogger(__name__)

EMBED_MODES = ("contextual", "patch")
EQUAL_AREA_CRS = "EPSG:6933"
"""World Cylindrical Equal Area: intersection areas for polygon weights."""


def embedding_names(dim: int) -> list[str]:
    """Column names ``emb_000 ...`` for ``dim`` dimensions.

    Examples
    --------
    >>> embedding_names(2)
    ['emb_000', 'emb_001']
    """
    width = max(3, len(str(dim - 1)))
    return [f"{EMBEDDING_PREFIX}{i:0{width}d}" for i in range(dim)]


def _as_model(model: S2VecModel | str | os.PathLike) -> S2VecModel:
    if isinstance(model, S2VecModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise ValueError(
        f"model must be an S2VecModel or the path of a model file, got {type(model).__name__}"
    )


def _feature_matrix(cells: pd.DataFrame, model: S2VecModel) -> tuple[np.ndarray, np.ndarray]:
    """(int64 cell ids, float64 raw features in the model's column order)."""
    from s2vec_geo.features import feature_columns

    if not isinstance(cells, pd.DataFrame):
        raise ValueError(
            f"cells must be a featurized (Geo)DataFrame indexed by cell_id, got "
            f"{type(cells).__name__}; featurize cells with s2vec_geo.featurize first"
        )
    frame = cells.set_index("cell_id") if "cell_id" in cells.columns else cells
    if frame.index.name != "cell_id":
        raise ValueError(
            "cells must be indexed by cell_id (or have a cell_id column), as featurize returns"
        )
    names = list(feature_columns(frame))
    if not set(model.feature_names) <= set(names):
        model.check_features(names)
    ids = np.asarray(frame.index.to_numpy(), dtype=np.int64)
    if len(ids) == 0:
        raise ValueError("no cells to embed; the input is empty")
    levels = np.unique(s2.cell_level(ids))
    if levels.tolist() != [model.patch_level]:
        raise ValueError(
            f"cells are at level(s) {levels.tolist()} but the model was trained on patch level "
            f"{model.patch_level}; featurize the area at level {model.patch_level}"
        )
    values = frame[model.feature_names].to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all():
        raise ValueError("cells have missing or infinite feature values; fill them (e.g. 0)")
    return ids, values


def _normalized(model: S2VecModel, values: np.ndarray, device: torch.device) -> torch.Tensor:
    """Normalized features with one extra zero row for holes, on ``device``."""
    x = np.zeros((len(values) + 1, values.shape[1]), dtype=np.float32)
    x[:-1] = model.stats.apply(values)
    return torch.from_numpy(x).to(device)


def _contextual(
    model: S2VecModel,
    ids: np.ndarray,
    values: np.ndarray,
    windows: str,
    stride: int,
    batch_size: int,
) -> np.ndarray:
    """Encoder output of every cell, blended over the windows that hold it ``(n, D)``."""
    module = model.module
    device = next(module.parameters()).device
    grid = model.config.grid
    face, i, j = s2.cell_face_ij(ids)
    step = grid if windows == "aligned" else stride
    of, oi, oj = (torch.from_numpy(a) for a in sliding_origins(face, i, j, grid, step))
    index = LatticeIndex([ids], model.patch_level, device)
    x_all = _normalized(model, values, device)
    weights = blend_weights(grid, step).to(device)
    acc = torch.zeros((len(ids), model.embed_dim), dtype=torch.float32, device=device)
    total = torch.zeros(len(ids), dtype=torch.float32, device=device)
    bar = progress(total=len(of), desc="embed", unit="window")
    for start in range(0, len(of), batch_size):
        part = slice(start, start + batch_size)
        rows = cell_tokens(
            index, of[part].to(device), oi[part].to(device), oj[part].to(device), grid
        )
        valid = rows >= 0
        x = x_all[torch.where(valid, rows, torch.full_like(rows, len(ids)))]
        with torch.no_grad(), autocast(device):
            h = module.encode(x, valid).float()
        w = weights.expand_as(rows)[valid]
        acc.index_add_(0, rows[valid], h[valid] * w[:, None])
        total.index_add_(0, rows[valid], w)
        bar.update(len(rows))
    bar.close()
    return (acc / total[:, None]).cpu().numpy()


def _pooled(ids: np.ndarray, emb: np.ndarray, image_level: int) -> tuple[np.ndarray, ...]:
    """Mean embedding per image-level parent: (parent ids, embeddings, cells per parent)."""
    parents = s2.cell_parent(ids, image_level)
    keys, inverse, counts = np.unique(
        parents.view(np.uint64), return_inverse=True, return_counts=True
    )
    sums = np.zeros((len(keys), emb.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, emb)
    return keys.view(np.int64), (sums / counts[:, None]).astype(np.float32), counts


def _patch(model: S2VecModel, values: np.ndarray, batch_size: int) -> np.ndarray:
    """Linear patch projection of each cell's own normalized features ``(n, D)``."""
    module = model.module
    device = next(module.parameters()).device
    rows = batch_size * model.config.num_tokens
    emb = np.empty((len(values), model.embed_dim), dtype=np.float32)
    for start in progress(range(0, len(values), rows), desc="embed", unit="batch"):
        x = torch.from_numpy(model.stats.apply(values[start : start + rows])).to(device)
        with torch.no_grad():
            emb[start : start + rows] = module.patch_embed(x).float().cpu().numpy()
    return emb


def model_windows(model: S2VecModel) -> str:
    """The windows a model was trained with (``"aligned"`` for models from before windows).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> model_windows(SimpleNamespace(train_config={}))
    'aligned'
    """
    return str(model.train_config.get("windows", "aligned"))


def embed(
    cells: pd.DataFrame,
    model: S2VecModel | str | os.PathLike,
    mode: str = "contextual",
    images: bool = False,
    batch_size: int = 64,
    *,
    windows: str | None = None,
    stride: int | None = None,
) -> gpd.GeoDataFrame:
    """Embed featurized patch cells with a trained model.

    Features are normalized with the *model's* statistics, so a new area is
    embedded on the same scale the model was trained on.

    Parameters
    ----------
    cells
        Featurized cells at the model's patch level: a (Geo)DataFrame indexed
        by int64 ``cell_id`` (or with a ``cell_id`` column) with the model's
        feature columns (any order; other feature columns, e.g. ones left out
        by ``min_support``, are ignored).
    model
        Trained model or the path of its file.
    mode
        ``"contextual"`` (default): the encoder output of each cell's token
        with its neighbourhood visible, no masking. ``"patch"``: the paper's
        literal patch embedding, the linear projection of the cell's own
        normalized features. See the module documentation.
    images
        Return image-level embeddings instead: the mean over each image-level
        parent's cells, one row per parent, with an ``n_cells`` column.
    batch_size
        Windows per forward pass.
    windows
        Contextual mode only. ``"sliding"``: windows every ``stride`` cells,
        each cell's outputs blended towards the window centres, so no image
        border shows; ``"aligned"``: each cell read from its own tile only,
        the paper's images. Default: the model's training windows.
    stride
        Step of sliding windows in cells, a power of two up to the grid
        (default ``grid // 2``); each cell is encoded ``(grid / stride) ** 2``
        times, so the cost grows with the overlap.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``cell_id`` (input order for cells; S2 order for images),
        with ``token``, ``emb_000 ...`` float32 columns and cell polygons in
        EPSG:4326.

    Examples
    --------
    >>> emb = embed(cells, "run/model.pt")  # doctest: +SKIP
    >>> emb.filter(like="emb_").shape[1]  # doctest: +SKIP
    256
    """
    if mode not in EMBED_MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {EMBED_MODES}")
    if batch_size < 1:
        raise ValueError("batch_size must be a positive integer")
    m = _as_model(model)
    windows = model_windows(m) if windows is None else windows
    if windows not in WINDOW_MODES:
        raise ValueError(f"unknown windows {windows!r}; use one of {WINDOW_MODES}")
    grid = m.config.grid
    stride = check_stride(max(grid // 2, 1) if stride is None else stride, grid)
    ids, values = _feature_matrix(cells, m)
    was_training = m.module.training
    m.module.eval()
    try:
        if mode == "contextual":
            emb = _contextual(m, ids, values, windows, stride, batch_size)
        else:
            emb = _patch(m, values, batch_size)
    finally:
        m.module.train(was_training)
    out_ids, n = ids, np.ones(len(ids), dtype=np.int64)
    if images:
        out_ids, emb, n = _pooled(ids, emb, m.image_level)
    columns = pd.DataFrame(emb, columns=embedding_names(emb.shape[1]))
    if images:
        columns.insert(0, "n_cells", n)
    frame = s2.cells_frame(out_ids)
    result = pd.concat([frame.reset_index(), columns], axis=1).set_index("cell_id")
    return gpd.GeoDataFrame(result, geometry=frame.geometry.name, crs=frame.crs)


def _table_level(table: pd.DataFrame) -> int:
    return s2.single_level(
        np.asarray(table.index.to_numpy(), dtype=np.int64),
        "the embedding table mixes S2 levels {levels}; pass cells of one level",
    )


def embed_geometries(
    geometries: gpd.GeoSeries | gpd.GeoDataFrame,
    cells: pd.DataFrame,
    model: S2VecModel | str | os.PathLike | None = None,
    level: int | None = None,
    mode: str = "contextual",
) -> gpd.GeoDataFrame:
    """Embeddings of points, lines and polygons, from cell embeddings.

    - Points: the embedding of the cell that contains the point.
    - Polygons: the mean over the cells covering the polygon, each weighted
      by the area of its intersection with the polygon, measured in an
      equal-area projection (EPSG:6933).
    - Lines: the mean over the cells the line crosses, weighted by the
      length inside each cell (same projection).
    - Multi-points: the mean over the cells containing its points.

    Cells without an embedding are left out of the mean (weights renormalized);
    a geometry that touches no embedded cell gets NaN, and a warning counts
    such rows.

    Parameters
    ----------
    geometries
        Any CRS; reprojected to EPSG:4326.
    cells
        Either an embedding table from :func:`embed` (``emb_...`` columns,
        indexed by ``cell_id``; ``model`` is then not needed), or featurized
        patch cells covering the geometries, which are embedded with
        ``model`` first (embed a whole area once and reuse the table when
        querying many times).
    model
        Trained model (or its file), needed when ``cells`` are featurized cells.
    level
        S2 level of the lookup. With featurized cells: the model's patch level
        (default) or its image level (image embeddings). With a table: its
        level (default), which it must equal.
    mode
        Embedding mode when ``cells`` are featurized (see :func:`embed`).

    Returns
    -------
    geopandas.GeoDataFrame
        Same index and geometry as the input, with ``emb_...`` float32 columns
        and ``n_cells`` (embedded cells used per row).

    Examples
    --------
    >>> table = embed(cells, model)  # doctest: +SKIP
    >>> embed_geometries(points, table).filter(like="emb_").notna().all().all()  # doctest: +SKIP
    True
    """
    if not any(str(c).startswith(EMBEDDING_PREFIX) for c in cells.columns):
        if model is None:
            raise ValueError(
                "cells hold no emb_... columns; pass model= to embed these featurized cells, "
                "or pass an embedding table from s2vec_geo.embed"
            )
        m = _as_model(model)
        wanted = m.patch_level if level is None else s2.validate_level(level)
        if wanted not in (m.patch_level, m.image_level):
            raise ValueError(
                f"level {wanted} is neither the model's patch level {m.patch_level} nor its "
                f"image level {m.image_level}; use one of them"
            )
        cells = embed(cells, m, mode=mode, images=wanted == m.image_level)
    embeddings = cells
    geo = geometries.geometry if isinstance(geometries, gpd.GeoDataFrame) else geometries
    geo = s2.to_lnglat(geo)
    cols = embedding_columns(embeddings)
    table_level = _table_level(embeddings)
    if level is not None and s2.validate_level(level) != table_level:
        raise ValueError(
            f"level {level} does not match the embedding table's level {table_level}; embed "
            f"cells at level {level} first or leave level=None"
        )
    table = embeddings[cols].to_numpy(dtype=np.float64)
    lookup = pd.Index(np.asarray(embeddings.index.to_numpy(), dtype=np.int64))
    values = np.full((len(geo), len(cols)), np.nan)
    n_cells = np.zeros(len(geo), dtype=np.int64)

    types = geo.geom_type.to_numpy()
    empty = geo.is_empty.to_numpy() | geo.isna().to_numpy()
    points = (types == "Point") & ~empty
    if points.any():
        pts = geo[points]
        pos = lookup.get_indexer(s2.latlng_to_cell(pts.y.to_numpy(), pts.x.to_numpy(), table_level))
        hit = pos >= 0
        rows = np.flatnonzero(points)[hit]
        values[rows] = table[pos[hit]]
        n_cells[rows] = 1
    others = np.flatnonzero(~points & ~empty)
    for start in progress(range(0, len(others), 1000), desc="aggregate", unit="chunk"):
        _weighted(geo, others[start : start + 1000], table, lookup, table_level, values, n_cells)

    missing = int((n_cells == 0).sum())
    if missing:
        logger.warning(
            "%d of %d geometries touch no embedded cell; their rows are NaN", missing, len(geo)
        )
    result = pd.DataFrame(values.astype(np.float32), columns=cols, index=geometries.index)
    result["n_cells"] = n_cells
    return gpd.GeoDataFrame(result, geometry=geo.set_axis(geometries.index), crs=4326)


def _weighted(
    geo: gpd.GeoSeries,
    rows: np.ndarray,
    table: np.ndarray,
    lookup: pd.Index,
    level: int,
    values: np.ndarray,
    n_cells: np.ndarray,
) -> None:
    """Fill ``values[rows]`` with intersection-weighted means over covering cells."""
    pair_row, pair_cell = [], []
    for r in rows:
        cells = s2.cover(geo.iloc[r], level)
        pair_row.append(np.full(len(cells), r))
        pair_cell.append(cells)
    pr, pc = np.concatenate(pair_row), np.concatenate(pair_cell)
    pos = lookup.get_indexer(pc)
    keep = pos >= 0
    pr, pc, pos = pr[keep], pc[keep], pos[keep]
    if len(pr) == 0:
        return
    shapes = gpd.GeoSeries(geo.to_numpy()[pr], crs=4326).to_crs(EQUAL_AREA_CRS).to_numpy()
    cell_polys = gpd.GeoSeries(s2.cell_to_polygon(pc), crs=4326).to_crs(EQUAL_AREA_CRS).to_numpy()
    inter = shapely.intersection(shapes, cell_polys)
    dim = shapely.get_dimensions(shapes)
    weight = np.where(
        dim == 2,
        shapely.area(inter),
        np.where(dim == 1, shapely.length(inter), shapely.get_num_geometries(inter)),
    ).astype(np.float64)
    weight[weight <= 0] = 0.0
    local = np.searchsorted(rows, pr)  # rows are ascending
    sums = np.zeros((len(rows), table.shape[1]))
    totals = np.zeros(len(rows))
    np.add.at(sums, local, table[pos] * weight[:, None])
    np.add.at(totals, local, weight)
    used = totals > 0
    values[rows[used]] = sums[used] / totals[used, None]
    np.add.at(n_cells, pr, (weight > 0).astype(np.int64))
