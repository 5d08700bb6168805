"""The baselines every embedding must beat, built from the same cells as the embeddings.

- **Multi-scale neighbourhood counts** (``multiscale``): each cell's own
  counts and their sums over square blocks of same-level neighbours
  (:func:`s2vec_geo.features.neighborhood.multiscale_counts`), log1p and
  z-scored like the raw counts. As much context as a contextual embedding
  sees, with nothing learned: a model that does not beat it adds nothing.
- **The untrained network** (``untrained``): the same architecture,
  normalization and inference as the evaluated embeddings, with seeded random
  weights (:meth:`S2VecModel.untrained <s2vec_geo.model.file.S2VecModel.untrained>`).
  An encoder mixes a neighbourhood even with random weights; the difference
  between the two is what training added.

Both need the featurized cells (``counts``); the untrained network also needs
the model behind the embeddings, found in the embedding layer's provenance
(the model file :func:`s2vec_geo.embed` recorded) or given as ``model``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from s2vec_geo.core.schema import feature_columns
from s2vec_geo.evaluation.external import embeddings_for_cells
from s2vec_geo.features.neighborhood import DEFAULT_RADII, multiscale_counts
from s2vec_geo.images.normalization import NormStats
from s2vec_geo.io.provenance import PROVENANCE_ATTR

log = logging.getLogger(__name__)

BASELINES = ("multiscale", "untrained")
"""Names of the baseline blocks, in report order (after ``counts``)."""


def normalized_blocks(
    tables: Sequence[pd.DataFrame], cells: Sequence[np.ndarray]
) -> list[pd.DataFrame]:
    """log1p + z-score of the feature columns of ``tables``, rows ``cells`` (absent rows: zero).

    One set of statistics over every row of all the tables: an affine map
    shared by all areas, which the MLP's own standardisation on its training
    rows undoes, so pooling leaks nothing between areas. Columns missing from
    a table count zero.

    Examples
    --------
    >>> t = pd.DataFrame({"shop": [0, 3]}, index=pd.Index([1, 2], name="cell_id"))
    >>> normalized_blocks([t], [np.array([2, 7])])[0].round(2).to_numpy().tolist()
    [[1.0], [-1.0]]
    """
    cols = list(dict.fromkeys(c for t in tables for c in feature_columns(t)))
    if not cols:
        raise ValueError("the counts table has no numeric feature columns; use s2vec featurize")
    every = np.concatenate(
        [t.reindex(columns=cols, fill_value=0).to_numpy(np.float64) for t in tables]
    )
    stats = NormStats.from_array(every, log1p=True, feature_names=cols)
    blocks = []
    for table, ids in zip(tables, cells, strict=True):
        # cells without features count zero (a plain frame: no geometry to fill)
        values = pd.DataFrame(table.reindex(columns=cols, fill_value=0)).reindex(
            index=ids, fill_value=0
        )
        blocks.append(pd.DataFrame(stats.apply(values.to_numpy(np.float64)), index=values.index))
    return blocks


def multiscale_blocks(
    tables: Sequence[pd.DataFrame],
    cells: Sequence[np.ndarray],
    radii: Sequence[int] = DEFAULT_RADII,
) -> list[pd.DataFrame]:
    """Multi-scale neighbourhood counts of every area's cells, normalized as raw counts are.

    The sums run over all cells of each counts table (the whole featurized
    area), not only the labelled ones.
    """
    return normalized_blocks([multiscale_counts(t, radii) for t in tables], cells)


def embedding_record(source: Any) -> dict[str, str]:
    """The provenance of an embedding table: a file's stored record or a frame's attrs."""
    if isinstance(source, pd.DataFrame):
        return dict(source.attrs.get(PROVENANCE_ATTR, {}))
    from s2vec_geo.io.layers import read_provenance

    try:
        return read_provenance(source)
    except (ValueError, OSError):
        return {}


def _embed_settings(record: dict[str, str]) -> dict[str, Any]:
    """``embed`` keywords recorded in a provenance record (mode, windows, stride)."""
    settings: dict[str, Any] = {}
    if record.get("mode"):
        settings["mode"] = record["mode"]
    if record.get("windows"):
        settings["windows"] = record["windows"]
    if record.get("stride"):
        settings["stride"] = int(record["stride"])
    return settings


def untrained_embeddings(
    table: pd.DataFrame,
    cells: np.ndarray,
    embeddings: Any,
    model: Any = None,
    seed: int = 0,
    twins: dict[Any, Any] | None = None,
) -> pd.DataFrame | None:
    """Embeddings of ``table``'s cells by the untrained twin of the embeddings' model.

    Parameters
    ----------
    table
        The featurized cells of the area (the counts table).
    cells
        Rows to return (the labelled cells).
    embeddings
        The evaluated embedding table (file or frame): its provenance names
        the model and the embedding settings to repeat.
    model
        The model (or its file); default: the one the provenance records.
    seed
        Seed of the random weights.
    twins
        Untrained twins already made, by model file (filled in): several areas
        embedded by one model load its file once.

    Returns
    -------
    pandas.DataFrame or None
        ``None`` when no model is known or its file is gone.
    """
    from s2vec_geo.embeddings.embed import embed
    from s2vec_geo.model.file import load_model

    record = embedding_record(embeddings)
    source = model if model is not None else record.get("model")
    if source is None or (isinstance(source, (str, os.PathLike)) and not Path(source).exists()):
        return None  # the caller says which areas have no model
    key = str(source) if isinstance(source, (str, os.PathLike)) else id(source)
    twins = {} if twins is None else twins
    if key not in twins:  # areas embedded by one model share its file and its twin
        trained = load_model(source) if isinstance(source, (str, os.PathLike)) else source
        twins[key] = trained.untrained(seed)
    # cells in S2 order: the same cells give the same bits in whatever order they come
    emb = embed(table.sort_index(), twins[key], **_embed_settings(record))
    return embeddings_for_cells(emb, cells, prefix="emb_")
