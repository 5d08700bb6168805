"""Reading layers, and writing them atomically, styled and with their provenance.

Every layer the toolkit writes goes through :func:`write_layer`: the data are
written to a temporary file beside the target and renamed over it only when
the write succeeded, so a failed or interrupted run never leaves a half-written
GeoPackage or GeoParquet file behind, and an existing output stays intact.
The file describes itself: its provenance (:mod:`s2vec_geo.io.provenance`) and,
in a GeoPackage, the QGIS style it opens with (:mod:`s2vec_geo.io.styles`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from s2vec_geo.core.colours import with_pca_colours
from s2vec_geo.core.disk import enough_space
from s2vec_geo.core.errors import reader_errors, reading, table_without_geometry
from s2vec_geo.core.schema import CELL_ID, is_embedding
from s2vec_geo.io.coordinates import non_finite
from s2vec_geo.io.locks import check_not_held, remove_stale_temporaries, temporary_name
from s2vec_geo.io.outputs import check_name, fsync_folder, fsync_path, recover_aside, swap_folder
from s2vec_geo.io.provenance import (
    KEYS,
    PARQUET_KEY,
    PROVENANCE_ATTR,
    layer_provenance,
    parquet_metadata,
    record_attrs,
    summary,
)
from s2vec_geo.io.styles import store_default_style

log = logging.getLogger(__name__)

LAYER_SUFFIXES = {".gpkg": "GPKG", ".parquet": "Parquet", ".geoparquet": "Parquet"}
GPKG_VERSION = "1.2"
"""GeoPackage version of the files written: what GDAL 3.6 (QGIS 3.22) writes and reads
without warnings (the GDAL of the wheels writes 1.4 by default, which GDAL 3.6 reads
only "partially")."""


def layer_format(path: str | os.PathLike) -> str:
    """Return the output format implied by a file name.

    Parameters
    ----------
    path
        Output path ending in ``.gpkg``, ``.parquet`` or ``.geoparquet``.

    Examples
    --------
    >>> layer_format("cells.gpkg")
    'GPKG'
    """
    check_name(path)
    suffix = Path(path).suffix.lower()
    if suffix not in LAYER_SUFFIXES:
        raise ValueError(
            f"cannot write a layer to {str(path)!r}: unknown extension {suffix!r}; "
            "use .gpkg (GeoPackage) or .parquet (GeoParquet)"
        )
    if LAYER_SUFFIXES[suffix] == "GPKG" and ";" in str(path):
        raise ValueError(
            f"cannot write a GeoPackage to {str(path)!r}: GDAL cannot open paths containing "
            "';'; choose a name without it"
        )
    return LAYER_SUFFIXES[suffix]


SQLITE_SIDECARS = ("-journal", "-wal", "-shm")
"""Files SQLite (GeoPackage) keeps beside a database while writing it."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The single place the toolkit makes temporaries. The temporary is named
    after its target and this process (:func:`s2vec_geo.io.locks.temporary_name`:
    ``.<name>.s2tmp-<host>-<pid>-<random><suffix>``) and keeps the target's
    extension so that format drivers recognise it. On any exception,
    Ctrl-C included, the temporary (and SQLite's journal beside it) is
    removed and the target is left untouched; temporaries of the same
    target left by a killed process are removed first. An existing folder
    is replaced by a swap that survives ``kill -9`` at any instant
    (:func:`s2vec_geo.io.outputs.swap_folder`): an old copy a killed swap
    left aside is deleted once its replacement is in place, or renamed back
    (:func:`s2vec_geo.io.outputs.recover_aside`). A target that another
    writer holds, or that lies in a folder it holds (a running run's work
    folder), is refused before anything is written
    (:func:`s2vec_geo.io.locks.check_not_held`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['a.txt'])
    """
    check_name(path)
    target = Path(path)
    if target.parent != Path("") and not target.parent.exists():
        raise FileNotFoundError(
            f"output folder {str(target.parent)!r} does not exist; create it first"
        )
    folder = target.parent or Path(".")
    check_not_held(target)
    recover_aside(folder, target.name)
    remove_stale_temporaries(folder, target.name)
    tmp = folder / temporary_name(target)
    try:
        yield tmp
        fsync_path(tmp)  # the data on disk before the name points at it: a power cut
        if tmp.is_dir() and target.is_dir() and not target.is_symlink():
            swap_folder(tmp, target)
        else:  # leaves the old file or the new one, never half of one
            os.replace(tmp, target)
        fsync_folder(folder)  # the rename itself on disk
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in SQLITE_SIDECARS)):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            elif leftover.exists():
                leftover.unlink()


def write_layer(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike, layer: str | None = None, style: bool = True
) -> Path:
    """Write a layer atomically to GeoPackage or GeoParquet, styled and with its provenance.

    A GeoDataFrame indexed by ``cell_id`` gets the index written as an int64
    column ``cell_id`` (the 64 bits of the S2 cell id, as BigQuery stores them:
    SQLite and GeoPackage have no unsigned integers). The file says where the
    layer came from (:mod:`s2vec_geo.io.provenance`: s2vec-geo version, model,
    settings, levels, taxonomy). GeoPackages are written as version
    :data:`GPKG_VERSION`, which the GDAL of QGIS 3.22 (3.6) reads without
    warnings.

    Parameters
    ----------
    gdf
        Layer to write; any CRS (it is written as is).
    path
        ``.gpkg`` or ``.parquet`` file. An existing file is replaced only after
        the new one was written completely.
    layer
        GeoPackage layer name; defaults to the file's stem.
    style
        Give the layer its default look: an embedding layer gets a
        :data:`~s2vec_geo.core.schema.PCA_RGB` column (:mod:`s2vec_geo.core.colours`),
        and a GeoPackage the QGIS style of its kind as its stored default
        (:mod:`s2vec_geo.io.styles`). ``False`` for the parts of a whole
        (partitions), whose colours would not match.

    Returns
    -------
    Path
        The written path.

    Examples
    --------
    >>> import geopandas as gpd, shapely, tempfile, pathlib
    >>> g = gpd.GeoDataFrame({"v": [1]}, geometry=[shapely.Point(0, 0)], crs=4326)
    >>> out = write_layer(g, pathlib.Path(tempfile.mkdtemp()) / "p.gpkg")
    >>> len(gpd.read_file(out))
    1
    """
    fmt = layer_format(path)
    record = layer_provenance(gdf)
    frame = gdf
    if style and any(is_embedding(c) for c in frame.columns):
        frame = with_pca_colours(frame)
    if frame.index.name == CELL_ID:
        frame = frame.reset_index()
        frame[CELL_ID] = frame[CELL_ID].astype("int64")
    target = Path(path)
    # Inside the temporary's block: a library's error is judged while the partial file is there.
    with (
        atomic_path(target) as tmp,
        enough_space(target.parent, None, repr(target.name), library_errors=reader_errors()),
    ):
        if fmt == "GPKG":
            name = layer or target.stem
            frame.to_file(
                tmp,
                driver="GPKG",
                layer=name,
                engine="pyogrio",
                dataset_options={"VERSION": GPKG_VERSION},
                layer_options={"DESCRIPTION": summary(record)},
                layer_metadata=record,
            )
            if style:
                store_default_style(tmp, name)
        else:
            write_geoparquet(frame, tmp, record)
    return target


def write_geoparquet(frame: gpd.GeoDataFrame, path: Path, record: dict[str, str]) -> None:
    """GeoParquet with the provenance ``record`` as key-value metadata beside ``geo``.

    GeoPandas writes the file; its footer is then written again with the
    record added (GeoPandas takes no extra metadata).
    """
    import pyarrow.parquet as pq

    frame.to_parquet(path, index=False)
    table = pq.read_table(path, memory_map=False)
    metadata = {**(table.schema.metadata or {}), **parquet_metadata(record)}
    pq.write_table(table.replace_schema_metadata(metadata), path)


def read_layer(
    path: str | os.PathLike, layer: str | int | None = None, keep_missing: bool = False
) -> gpd.GeoDataFrame:
    """Read a vector layer: GeoParquet, or anything GDAL/OGR reads (GeoPackage, shapefile, ...).

    Invalid geometries are repaired and features without a usable geometry
    skipped, with counts logged (see :func:`repair_geometries`). A layer
    written by s2vec-geo keeps its provenance record in
    ``frame.attrs["provenance"]`` (:func:`read_provenance`), and a featurized
    layer its ``level``, ``taxonomy_version`` and ``feature_columns`` attrs
    (:func:`s2vec_geo.io.provenance.record_attrs`), in GeoPackage as in GeoParquet.

    Parameters
    ----------
    path
        The file.
    layer
        Layer name or index of a multi-layer source (ignored for GeoParquet);
        by default the first layer with geometries (:func:`spatial_layer`).
    keep_missing
        Keep features whose geometry is missing, empty or unreadable (as
        missing geometries) instead of skipping them, e.g. to join attributes
        to every input feature.

    Examples
    --------
    >>> import geopandas as gpd, shapely, tempfile, pathlib
    >>> g = gpd.GeoDataFrame({"v": [1]}, geometry=[shapely.Point(0, 0)], crs=4326)
    >>> p = write_layer(g, pathlib.Path(tempfile.mkdtemp()) / "p.parquet")
    >>> read_layer(p).v.tolist()
    [1]
    """
    with reading(path) as p, np.errstate(invalid="ignore"):  # NaN coordinates: counted below
        if is_parquet(p):
            frame = gpd.read_parquet(p)
        else:  # geometries GEOS cannot even parse (e.g. a 2-point ring) read as missing
            layer = spatial_layer(p) if layer is None else layer
            frame = gpd.read_file(p, layer=layer, engine="pyogrio", on_invalid="ignore")
    if not isinstance(frame, gpd.GeoDataFrame):
        raise table_without_geometry(repr(str(p)))
    record = read_provenance(p, layer)
    if record:
        frame.attrs.update(record_attrs(record))  # a featurized layer's level, taxonomy, columns
        frame.attrs[PROVENANCE_ATTR] = record
    return repair_geometries(frame, p.name, keep_missing=keep_missing)


def is_parquet(path: str | os.PathLike) -> bool:
    """Whether a path names a GeoParquet file (by its extension).

    Examples
    --------
    >>> is_parquet("cells.parquet"), is_parquet("cells.gpkg")
    (True, False)
    """
    return Path(path).suffix.lower() in (".parquet", ".geoparquet")


def spatial_layer(path: str | os.PathLike) -> str | None:
    """The layer an OGR source is read from by default: its first layer with geometries.

    Attribute tables are passed over, such as the ``layer_styles`` table in
    which QGIS (and :func:`write_layer`) keep a GeoPackage's styles, so that
    a styled file reads as the one layer it holds. ``None`` for a source
    without a geometry layer (its first table is read).

    Examples
    --------
    >>> import geopandas as gpd, shapely, tempfile, pathlib, s2vec_geo as sv
    >>> emb = sv.cells_frame(sv.latlng_to_cell(60.17, 24.94, 14)).assign(emb_000=[0.5])
    >>> out = write_layer(emb, pathlib.Path(tempfile.mkdtemp()) / "emb.gpkg")
    >>> import pyogrio; pyogrio.list_layers(out)[:, 0].tolist(), spatial_layer(out)
    (['emb', 'layer_styles'], 'emb')
    """
    import pyogrio

    layers = pyogrio.list_layers(path)
    return next((str(name) for name, geometry in layers if geometry is not None), None)


def read_provenance(path: str | os.PathLike, layer: str | int | None = None) -> dict[str, str]:
    """Where a layer file written by s2vec-geo came from (``{}`` for other files).

    The record :func:`write_layer` stored (:mod:`s2vec_geo.io.provenance`):
    s2vec-geo version, model file and SHA-256, embedding mode, windows and
    stride, S2 levels and taxonomy version, as far as they apply.

    Parameters
    ----------
    path
        A GeoPackage (the record is its GDAL layer metadata) or GeoParquet
        file (its ``s2vec`` key-value metadata).
    layer
        GeoPackage layer name or index; by default :func:`spatial_layer`.

    Examples
    --------
    >>> import tempfile, pathlib, s2vec_geo as sv
    >>> cells = sv.featurize("examples/data/helsinki.osm.pbf", level=14)
    >>> out = write_layer(cells, pathlib.Path(tempfile.mkdtemp()) / "cells.parquet")
    >>> record = read_provenance(out)
    >>> record["level"], record["taxonomy_version"], record["s2vec_geo_version"] == sv.__version__
    ('14', '1', True)
    """
    with reading(path, "layer file") as p:
        if is_parquet(p):
            import pyarrow.parquet as pq

            stored = (pq.read_schema(p).metadata or {}).get(PARQUET_KEY)
            record = json.loads(stored) if stored else {}
        else:
            import pyogrio

            layer = spatial_layer(p) if layer is None else layer
            record = pyogrio.read_info(p, layer=layer).get("layer_metadata") or {}
    return {key: str(record[key]) for key in KEYS if key in record}


def repair_geometries(
    frame: gpd.GeoDataFrame, source: str = "input", keep_missing: bool = False
) -> gpd.GeoDataFrame:
    """Repair invalid geometries and skip missing or empty ones, logging how many.

    Invalid geometries (self-intersecting rings, ...) are replaced by
    ``shapely.make_valid``; rows whose geometry is missing, empty or was
    unreadable are dropped (kept with ``keep_missing=True``), and so are rows
    with a NaN or infinite coordinate (:mod:`s2vec_geo.io.coordinates`: kept
    as missing geometries with ``keep_missing``). The counts are logged as
    warnings, so nothing is lost silently. A frame with nothing to mend is returned as is.
    Coordinates outside the domain of the frame's CRS are a ``ValueError``
    naming ``source`` (:func:`s2vec_geo.io.coordinates.non_finite`).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> bow_tie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    >>> g = gpd.GeoDataFrame(geometry=[bow_tie, None], crs=4326)
    >>> fixed = repair_geometries(g)
    >>> len(fixed), bool(fixed.is_valid.all())
    (1, True)
    """
    geoms = frame.geometry
    not_finite = non_finite(geoms.values, frame.crs, source)  # outside the CRS: refused
    missing = np.asarray(geoms.isna() | geoms.is_empty)
    invalid = ~missing & ~not_finite & ~np.asarray(geoms.is_valid)
    if not (missing.any() or invalid.any() or not_finite.any()):
        return frame
    out = frame.copy()
    if invalid.any():
        out.loc[invalid, geoms.name] = shapely.make_valid(np.asarray(geoms)[invalid])
        log.warning(
            "%s: repaired %d invalid geometries with shapely.make_valid", source, invalid.sum()
        )
    out.loc[not_finite, geoms.name] = None  # no place: a missing geometry
    for rows, what in (
        (not_finite, "NaN or infinite coordinates"),
        (missing, "a missing, empty or unreadable geometry"),
    ):
        if rows.any():
            action = "kept" if keep_missing else "skipped"
            log.warning("%s: %s %d features with %s", source, action, rows.sum(), what)
    return out if keep_missing else out[~(missing | not_finite)]


def read_cell_layer(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Read a cell layer written by this toolkit, indexed by its int64 ``cell_id``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from s2vec_geo.s2 import cells_frame, latlng_to_cell
    >>> p = write_layer(cells_frame(latlng_to_cell(60.17, 24.94, 14)),
    ...                 pathlib.Path(tempfile.mkdtemp()) / "c.gpkg")
    >>> read_cell_layer(p).index.name
    'cell_id'
    """
    frame = read_layer(path)
    if CELL_ID not in frame.columns:
        raise ValueError(
            f"{str(path)!r} has no cell_id column; pass a cell layer written by "
            "`s2vec featurize`, `s2vec cover` or `s2vec embed`"
        )
    frame = frame.set_index(CELL_ID)
    frame.index = frame.index.astype("int64")
    return frame
