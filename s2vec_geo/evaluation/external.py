"""Embedding tables keyed by S2 cell or by point, and the optional GeoCLIP encoder.

Any embedding can join the evaluation as a table of numeric columns:

- **keyed by cell**: an int64 ``cell_id`` column or index (the layout written
  by ``s2vec embed``). A table of a coarser level gives every evaluated cell
  its ancestor's row; a finer one is averaged over each evaluated cell;
- **keyed by point**: point geometries (any CRS) with numeric columns; the
  points falling in one cell are averaged, as the paper does for SatCLIP and
  GeoCLIP embeddings.

GeoCLIP's location encoder (Cepeda et al. 2023; the paper's GEOCLIP
baseline) is an optional extra: it embeds the cell centres in 512
dimensions with the weights shipped in the ``geoclip`` wheel, offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from s2vec_geo.core.progress import progress
from s2vec_geo.core.schema import CELL_ID
from s2vec_geo.io.layers import read_layer
from s2vec_geo.s2 import cell_level, cell_parent, cell_to_latlng, latlng_to_cell, single_level

GEOCLIP_INSTALL = (
    "pip install --no-deps geoclip==1.3.0 && "
    "pip install transformers Pillow geopy huggingface-hub safetensors"
)


def read_cell_table(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a table (GeoPackage, GeoParquet, Parquet, CSV or frame), indexed by ``cell_id``.

    Examples
    --------
    >>> import pandas as pd
    >>> read_cell_table(pd.DataFrame({"cell_id": [5], "emb_000": [0.5]})).index.name
    'cell_id'
    """
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"table {str(path)!r} does not exist; check the path")
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
        else:
            try:
                frame = read_layer(path, keep_missing=True)
            except ValueError:  # plain Parquet without geometry metadata
                if path.suffix.lower() not in (".parquet", ".geoparquet"):
                    raise
                frame = pd.read_parquet(path)
    if frame.index.name != CELL_ID and CELL_ID in frame.columns:
        frame = frame.set_index(CELL_ID)
    if frame.index.name == CELL_ID:
        frame.index = frame.index.astype("int64")
        if frame.index.has_duplicates:
            raise ValueError("the table lists some cell_id more than once; keep one row per cell")
    return frame


def numeric_columns(frame: pd.DataFrame, prefix: str | None = None) -> list[str]:
    """Numeric columns other than ``cell_id``, optionally only those starting with ``prefix``.

    Examples
    --------
    >>> import pandas as pd
    >>> numeric_columns(pd.DataFrame({"cell_id": [1], "a": [1.0], "token": ["x"]}))
    ['a']
    """
    cols = [
        c
        for c in frame.columns
        if c != CELL_ID
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
        and (prefix is None or str(c).startswith(prefix))
    ]
    if not cols:
        want = f"columns starting with {prefix!r}" if prefix else "numeric columns"
        raise ValueError(f"the table has no {want}; columns are {list(frame.columns)}")
    return cols


def embeddings_for_cells(
    source: str | os.PathLike | pd.DataFrame, cells: np.ndarray, prefix: str | None = None
) -> pd.DataFrame:
    """Rows of an embedding table for the given cells (cells it lacks are left out).

    Parameters
    ----------
    source
        Table keyed by ``cell_id`` or by point geometry (see the module docs).
    cells
        int64 ids of the evaluated cells, all of one level.
    prefix
        Use only the numeric columns starting with this (e.g. ``"emb_"``).

    Returns
    -------
    pandas.DataFrame
        float32 values indexed by ``cell_id``, a subset of ``cells`` in order.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> cells = latlng_to_cell([60.17], [24.94], 14)
    >>> pts = gpd.GeoDataFrame({"e": [1.0, 3.0]}, crs=4326,
    ...     geometry=gpd.points_from_xy([24.94, 24.94], [60.17, 60.17]))
    >>> embeddings_for_cells(pts, cells)["e"].tolist()
    [2.0]
    """
    cells = np.asarray(cells, dtype=np.int64)
    level = int(cell_level(cells[:1])[0]) if cells.size else 0
    table = read_cell_table(source)
    cols = numeric_columns(table, prefix)
    if table.index.name == CELL_ID:
        keys, values = table.index.to_numpy(), table[cols]
    elif isinstance(table, gpd.GeoDataFrame):
        if table.crs is None:
            raise ValueError("the point embedding table has no CRS; set one, e.g. set_crs(4326)")
        geom = table.geometry.to_crs(4326).to_numpy()
        if not (shapely.get_type_id(geom) == 0).all():
            raise ValueError("an embedding table without cell_id must have point geometries")
        keys = latlng_to_cell(shapely.get_y(geom), shapely.get_x(geom), level)
        values = table[cols]
    else:
        raise ValueError(
            "the embedding table has neither a cell_id column nor point geometries; "
            "key it by int64 cell_id or by point"
        )
    table_level = (
        single_level(keys, "the embedding table mixes S2 levels {levels}; pass one level")
        if len(keys)
        else level
    )
    if table_level > level:  # finer table: average onto the evaluated cells
        keys = cell_parent(keys, level)
    values = values.groupby(keys).mean() if table_level >= level else values.set_axis(keys)
    lookup = cells if table_level >= level else cell_parent(cells, table_level)
    present = np.isin(lookup, values.index.to_numpy())
    out = values.loc[lookup[present]].astype(np.float32)
    out.index = pd.Index(cells[present], name=CELL_ID)
    return out


def geoclip_embeddings(lat: np.ndarray, lng: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """GeoCLIP location-encoder embeddings (512-d) of lat/lng points, offline.

    Raises
    ------
    ValueError
        When GeoCLIP is not installed (the message gives the install lines).

    Examples
    --------
    >>> geoclip_embeddings([40.7], [-74.0]).shape  # doctest: +SKIP
    (1, 512)
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights ship in the wheel
    try:
        import torch
        from geoclip import LocationEncoder
    except ImportError as exc:
        raise ValueError(
            f"GeoCLIP is not installed ({exc}); install it with: {GEOCLIP_INSTALL}"
        ) from exc
    coords = np.column_stack([np.asarray(lat, np.float32), np.asarray(lng, np.float32)])
    encoder = LocationEncoder().eval()
    out = np.empty((len(coords), 512), dtype=np.float32)
    starts = range(0, len(coords), batch_size)
    with torch.no_grad():
        for start in progress(starts, desc="GeoCLIP"):
            chunk = torch.from_numpy(coords[start : start + batch_size])
            out[start : start + batch_size] = encoder(chunk).numpy()
    return out


def geoclip_cell_embeddings(cells: np.ndarray) -> pd.DataFrame:
    """GeoCLIP embeddings of cell centres, indexed by ``cell_id``.

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> geoclip_cell_embeddings(latlng_to_cell([40.7], [-74.0], 15)).shape  # doctest: +SKIP
    (1, 512)
    """
    cells = np.asarray(cells, dtype=np.int64)
    lat, lng = cell_to_latlng(cells)
    emb = geoclip_embeddings(lat, lng)
    return pd.DataFrame(
        emb,
        index=pd.Index(cells, name=CELL_ID),
        columns=[f"geoclip_{i:03d}" for i in range(emb.shape[1])],
    )
