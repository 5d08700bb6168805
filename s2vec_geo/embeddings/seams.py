"""Seams: do neighbouring cells across an image border look like different places?

S2Vec reads cells through ``grid x grid`` images of image-level parent cells.
If the embedding of a cell depends on *which* image it was read from, two
neighbouring cells on either side of an image border are further apart than
two neighbours inside one image, and a map of the embeddings shows the
tiling. :func:`seam_ratio` measures it on any cell layer:

    ratio = mean distance of edge-neighbour pairs in *different* images
            / mean distance of edge-neighbour pairs in the *same* image

with every column standardized (z-score over the layer; feature counts are
``log1p``-transformed first). Raw counts score about 0.95 (the built
environment does not care about S2 tiles); a value well above 1 means the
embeddings carry the tiling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from s2vec_geo import s2
from s2vec_geo.core.schema import cell_indexed, feature_columns, is_embedding

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seams:
    """Neighbour distances across and within image borders (see :func:`seams`)."""

    ratio: float
    """Mean distance across borders divided by the mean within images."""
    across: float
    """Mean standardized distance of edge neighbours in different images."""
    within: float
    """Mean standardized distance of edge neighbours in the same image."""
    n_across: int
    """Neighbour pairs across image borders."""
    n_within: int
    """Neighbour pairs inside images."""


def _values(layer: pd.DataFrame, log1p: bool | None) -> tuple[np.ndarray, np.ndarray]:
    """(int64 cell ids, standardized float64 values) of a cell layer."""
    frame = cell_indexed(layer, "the layer")
    cols = [c for c in frame.columns if is_embedding(c)]
    cols = cols or feature_columns(frame)
    if not cols:
        raise ValueError("the layer has no emb_... or numeric feature columns to compare")
    values = frame[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all():
        raise ValueError("the layer has missing or infinite values; fill or drop those cells")
    if log1p is None:
        log1p = not is_embedding(cols[0]) and bool((values >= 0).all())
    if log1p:
        values = np.log1p(values)
    std = values.std(axis=0)
    keep = std > 0
    values = (values[:, keep] - values[:, keep].mean(axis=0)) / std[keep]
    return np.asarray(frame.index.to_numpy(), dtype=np.int64), values


def seams(layer: pd.DataFrame, image_level: int, log1p: bool | None = None) -> Seams:
    """Distances of edge-neighbour cells across and within image borders.

    Parameters
    ----------
    layer
        Cell layer indexed by int64 ``cell_id`` (or with that column), one
        S2 level: an embedding layer (its ``emb_*`` columns are compared) or
        a featurized layer (its feature columns).
    image_level
        Level of the images whose borders are tested (coarser than the cells).
    log1p
        Transform values with ``log1p`` before standardizing; default: for
        feature layers with non-negative values, not for embeddings.

    Returns
    -------
    Seams

    Examples
    --------
    >>> import numpy as np, pandas as pd, s2vec_geo as sv
    >>> ids = sv.cell_children(sv.latlng_to_cell(60.17, 24.94, 12), 16)
    >>> i = sv.cell_face_ij(ids)[1].astype(float)
    >>> smooth = pd.DataFrame({"emb_000": i}, index=pd.Index(ids, name="cell_id"))
    >>> round(seams(smooth, 14).ratio, 2)
    1.0
    >>> tiled = smooth.assign(emb_000=sv.cell_position(ids, 14)[0].astype(float))
    >>> seams(tiled, 14).ratio > 2
    True
    """
    ids, values = _values(layer, log1p)
    level = s2.single_level(ids, "the layer mixes S2 levels {levels}; pass cells of one level")
    if s2.validate_level(image_level, "image_level") >= level:
        raise ValueError(f"image_level {image_level} must be coarser than the cells' level {level}")
    lookup = pd.Index(ids)
    neighbours = s2.cell_edge_neighbors(ids)
    a = np.repeat(np.arange(len(ids)), 4)
    b = lookup.get_indexer(neighbours.ravel())
    keep = (b >= 0) & (ids[a].view(np.uint64) < ids[b.clip(0)].view(np.uint64))
    a, b = a[keep], b[keep]
    distance = np.sqrt(((values[a] - values[b]) ** 2).sum(axis=1))
    same = s2.cell_parent(ids[a], image_level) == s2.cell_parent(ids[b], image_level)
    if same.all() or not same.any():
        raise ValueError(
            f"the layer's {len(a)} neighbour pairs are all {'inside' if same.all() else 'across'} "
            f"level-{image_level} images; compare on a larger area or another image level"
        )
    across, within = float(distance[~same].mean()), float(distance[same].mean())
    return Seams(across / within, across, within, int((~same).sum()), int(same.sum()))


def seam_ratio(layer: pd.DataFrame, image_level: int, log1p: bool | None = None) -> float:
    """Mean neighbour distance across image borders over the mean within images.

    About 1 (raw counts: ~0.95) when the embeddings ignore the tiling; well
    above 1 when cells on either side of an image border look like
    different places. See :func:`seams` for the parameters.

    Examples
    --------
    >>> emb = s2vec_geo.read_cell_layer("out/helsinki.gpkg")  # doctest: +SKIP
    >>> seam_ratio(emb, image_level=15)  # doctest: +SKIP
    1.03
    """
    return seams(layer, image_level, log1p).ratio


def log_seams(layer: pd.DataFrame, image_level: int) -> Seams | None:
    """Measure and log the seam ratio of a layer; ``None`` when it cannot be measured.

    Examples
    --------
    >>> import pandas as pd, s2vec_geo as sv
    >>> one = pd.DataFrame({"emb_000": [1.0]}, index=pd.Index(
    ...     [sv.latlng_to_cell(0.0, 0.0, 12)], name="cell_id"))
    >>> log_seams(one, 10) is None
    True
    """
    try:
        found = seams(layer, image_level)
    except ValueError as exc:  # e.g. an area inside one image: nothing to compare
        log.info("seam ratio not measured: %s", exc)
        return None
    log.info(
        "seam ratio %.3f at image level %d: neighbours across image borders vs inside images "
        "(about 1: no seam; raw counts score about 0.95)",
        found.ratio,
        image_level,
    )
    return found
