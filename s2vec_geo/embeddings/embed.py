"""Cell embeddings from a trained S2Vec model.

:func:`embed` turns featurized patch cells into a cell layer with
``emb_000 ... emb_NNN`` float32 columns (or, with ``images=True``, one row per
image-level parent cell). Joining such a table to points, lines and polygons
is :mod:`s2vec_geo.embeddings.join`.

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
import torch

from s2vec_geo import s2
from s2vec_geo.core.options import EMBED_WINDOWS, MODE
from s2vec_geo.core.progress import progress
from s2vec_geo.core.schema import CELL_ID, N_CELLS, cell_indexed, embedding_names, feature_columns
from s2vec_geo.images.windows import (
    LatticeIndex,
    blend_weights,
    cell_tokens,
    check_stride,
    sliding_origins,
)
from s2vec_geo.io.provenance import PROVENANCE_ATTR, embedding_provenance
from s2vec_geo.model.file import S2VecModel, as_model
from s2vec_geo.model.mae import autocast

logger = logging.getLogger(__name__)

EMBED_MODES = MODE.choices


def _feature_matrix(cells: pd.DataFrame, model: S2VecModel) -> tuple[np.ndarray, np.ndarray]:
    """(int64 cell ids, float64 raw features in the model's column order)."""
    if not isinstance(cells, pd.DataFrame):
        raise ValueError(
            f"cells must be a featurized (Geo)DataFrame indexed by cell_id, got "
            f"{type(cells).__name__}; featurize cells with s2vec_geo.featurize first"
        )
    frame = cell_indexed(cells)
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


def _refuse_non_finite(emb: np.ndarray, model: S2VecModel) -> None:
    """Refuse embeddings holding NaN or infinite values: no layer of them is written."""
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        name = "the model" if model.path is None else repr(str(model.path))
        raise ValueError(
            f"{name} gives NaN or infinite embeddings for {int(bad.sum())} of {len(emb)} "
            "cells: its weights are damaged or its training diverged (train it again, with a "
            "lower --lr if its loss grew, or use another model), or the cells' counts are far "
            "beyond those it was trained on"
        )


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
        EPSG:4326; ``attrs["provenance"]`` records the model and settings
        (:mod:`s2vec_geo.io.provenance`), which :func:`s2vec_geo.write_layer` stores.

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
    m = as_model(model)
    windows = model_windows(m) if windows is None else windows
    if windows not in EMBED_WINDOWS.choices:
        raise ValueError(f"unknown windows {windows!r}; use one of {EMBED_WINDOWS.choices}")
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
    _refuse_non_finite(emb, m)
    out_ids, n = ids, np.ones(len(ids), dtype=np.int64)
    if images:
        out_ids, emb, n = _pooled(ids, emb, m.image_level)
    columns = pd.DataFrame(emb, columns=embedding_names(emb.shape[1]))
    if images:
        columns.insert(0, N_CELLS, n)
    frame = s2.cells_frame(out_ids)
    result = pd.concat([frame.reset_index(), columns], axis=1).set_index(CELL_ID)
    out = gpd.GeoDataFrame(result, geometry=frame.geometry.name, crs=frame.crs)
    contextual = mode == "contextual"
    out.attrs[PROVENANCE_ATTR] = embedding_provenance(
        m,
        mode=mode,
        windows=windows if contextual else None,
        stride=stride if contextual and windows == "sliding" else None,
        images=images,
    )
    return out
