"""The layer contract: what every cell layer, feature layer and embedding layer holds.

A *cell layer* has one row per S2 cell, identified by the int64 :data:`CELL_ID`
(the 64 bits of the unsigned S2 id, as BigQuery stores them: GeoPackage and
SQLite have no unsigned integers), the hex :data:`TOKEN` for people, and the
cell polygon in EPSG:4326. In memory the id is the frame's index; on disk it
is a column. Its other columns are either

- **features** (a featurized layer, :func:`s2vec_geo.featurize`): numeric
  counts, lengths and areas, named by the taxonomy (:func:`feature_columns`);
- **embeddings** (:func:`s2vec_geo.embed`): float32 columns
  :data:`EMBEDDING_PREFIX` ``000``, ``001``, ... (:func:`embedding_names`),
  plus :data:`N_CELLS` where rows pool several cells (and :data:`COVERAGE`
  where they are other geometries joined to the cells).

Every module that reads or writes such layers takes these names from here.

Examples
--------
>>> import pandas as pd
>>> layer = pd.DataFrame({"cell_id": [5], "token": ["05"], "emb_000": [0.5]})
>>> cell_indexed(layer).index.name, embedding_columns(layer)
('cell_id', ['emb_000'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CELL_ID = "cell_id"
"""The int64 S2 cell id: the index of a cell layer in memory, a column on disk."""
TOKEN = "token"
"""The cell's hex token (S2's ``ToToken``), for people."""
EMBEDDING_PREFIX = "emb_"
"""Embedding columns are this prefix and the dimension, ``emb_000`` ..."""
N_CELLS = "n_cells"
"""Cells behind a row that pools several (image-level embeddings, joined geometries)."""
COVERAGE = "coverage"
"""Share of a joined geometry (area, length or points) inside embedded cells, 0 to 1."""
PCA_RGB = "pca_rgb"
"""An embedding layer's colour per row, ``#rrggbb``: its first three principal components as
RGB (:mod:`s2vec_geo.core.colours`); the default style of the layer draws it."""
FEATURE_COLUMNS_ATTR = "feature_columns"
"""``frame.attrs`` key under which :func:`s2vec_geo.featurize` records its feature columns."""
NOT_FEATURES = frozenset({CELL_ID, TOKEN})


def embedding_names(dim: int) -> list[str]:
    """Column names ``emb_000 ...`` for ``dim`` dimensions.

    Examples
    --------
    >>> embedding_names(2)
    ['emb_000', 'emb_001']
    """
    width = max(3, len(str(dim - 1)))
    return [f"{EMBEDDING_PREFIX}{i:0{width}d}" for i in range(dim)]


def is_embedding(column: object) -> bool:
    """Whether a column name is an embedding dimension.

    Examples
    --------
    >>> is_embedding("emb_007"), is_embedding("poi_cafe")
    (True, False)
    """
    return str(column).startswith(EMBEDDING_PREFIX)


def embedding_columns(frame: pd.DataFrame) -> list[str]:
    """The ``emb_000 ...`` columns of an embedding table, in order.

    Examples
    --------
    >>> embedding_columns(pd.DataFrame(columns=["token", "emb_000", "emb_001"]))
    ['emb_000', 'emb_001']
    """
    cols = [c for c in frame.columns if is_embedding(c)]
    if not cols:
        raise ValueError(
            "the table has no emb_000... columns; compute embeddings with s2vec_geo.embed first"
        )
    return cols


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a cell layer, in order.

    ``frame.attrs["feature_columns"]`` when :func:`s2vec_geo.featurize` made
    the frame; otherwise (e.g. a layer read back from disk) its numeric
    columns other than ``cell_id``, ``token`` and the geometry, in column order.

    Examples
    --------
    >>> frame = pd.DataFrame({"cell_id": [1], "token": ["x"], "poi_cafe": [2], "name": ["a"]})
    >>> feature_columns(frame)
    ['poi_cafe']
    """
    stored = frame.attrs.get(FEATURE_COLUMNS_ATTR)
    if stored is not None and all(c in frame.columns for c in stored):
        return list(stored)
    skip = NOT_FEATURES | {getattr(frame, "_geometry_column_name", None)}
    return [
        str(c)
        for c in frame.columns
        if c not in skip and pd.api.types.is_numeric_dtype(frame[c].dtype)
    ]


def int64_ids(ids: object) -> np.ndarray:
    """Cell ids as int64 (uint64 ids keep their bits); other dtypes are refused.

    Examples
    --------
    >>> int64_ids(np.array([2**63], dtype=np.uint64)).tolist()
    [-9223372036854775808]
    """
    array = np.asarray(ids)
    if array.dtype == np.uint64:
        return array.view(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"cell ids must be integers (int64 S2 cell ids), got dtype {array.dtype}; "
            "convert tokens with s2vec_geo.token_to_cell"
        )
    return array.astype(np.int64, copy=False)


def cell_indexed(frame: pd.DataFrame, what: str = "the cells") -> pd.DataFrame:
    """The frame indexed by its int64 ``cell_id``, taken from the index or a column.

    A layer read from disk (``geopandas.read_file``) has ``cell_id`` as a
    column; the toolkit's frames have it as the index. Both are accepted.

    Examples
    --------
    >>> cell_indexed(pd.DataFrame({"cell_id": [7], "v": [1.0]})).index.tolist()
    [7]
    >>> cell_indexed(pd.DataFrame({"v": [1.0]}), "the embedding table")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the embedding table must have an int64 cell_id index or column (as ...
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"{what} must be a (Geo)DataFrame with an int64 cell_id index or column, got "
            f"{type(frame).__name__}"
        )
    if frame.index.name == CELL_ID:
        out = frame
    elif CELL_ID in frame.columns:
        out = frame.set_index(CELL_ID)
    else:
        raise ValueError(
            f"{what} must have an int64 {CELL_ID} index or column (as s2vec featurize and s2vec "
            f"embed write); set it with frame.set_index({CELL_ID!r})"
        )
    if out.index.dtype != np.int64:
        out = out.set_axis(pd.Index(int64_ids(out.index.to_numpy()), name=CELL_ID))
    return out
