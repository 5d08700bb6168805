"""Reading OSM GeoParquet written by QuackOSM: the columnar route for large areas.

`QuackOSM <https://github.com/kraina-ai/quackosm>`_ turns an OSM PBF into
GeoParquet with DuckDB, on all cores and out of core; for a country or the
planet that beats one pyosmium process by far (see
:func:`s2vec_geo.ingest.quack.pbf_to_geoparquet`). Its files hold one row per
OSM feature:

- ``feature_id``: ``node/<id>``, ``way/<id>`` or ``relation/<id>``;
- the tags: a ``tags`` map column (QuackOSM without a tags filter, or with
  ``explode_tags=False``) or one string column per tag key
  (``explode_tags=True``, QuackOSM's default with a tags filter);
- ``geometry``: WKB in EPSG:4326: nodes are points, ways lines (polygons when
  closed and tagged as areas), multipolygon relations (multi)polygons.

Such a file, or a folder of them (read in name order as one input), is read
in Arrow record batches, and every row goes through
:class:`~s2vec_geo.ingest.osm_collect.OsmFeatures`: the rules of the PBF
reader, applied to the same objects. A way is given by its vertices (a
polygon's exterior ring), so roads, closed-way POIs and areas, and
``area=yes`` follow the way's tags and vertices exactly as from the PBF.
Memory holds one batch plus the features kept (POI polygons are reduced to
their point after each batch). Where the result differs from the PBF reader's:

- Road-graph ``intersections`` are vertices shared by road lines, identified
  by their coordinates on OSM's 1e-7 degree grid instead of their node id:
  two distinct nodes at one position count as one vertex (and consecutive
  repeated vertices, which QuackOSM removes, add no degree). Their
  ``osm_id`` is :data:`~s2vec_geo.ingest.osm_collect.UNKNOWN_ID`.
- QuackOSM drops a way with a node missing from the file, and a relation
  with such a way or a missing member, where the PBF reader keeps what is
  located: features cut by an extract's boundary are absent.
- Multipolygon relations are assembled by QuackOSM (DuckDB spatial) rather
  than libosmium: the same polygons up to vertex order on the shared
  extracts; their areas agree to 1e-15.
- QuackOSM drops the ``area`` tag unless converted with
  ``ignore_metadata_tags=False`` (:func:`~s2vec_geo.ingest.quack.pbf_to_geoparquet`
  keeps it); without it, closed highway ways tagged ``area=yes`` (squares,
  pedestrian areas) count as roads, as they do in other OGR layers.
- A way whose polygon QuackOSM repaired into several parts keeps its POI and
  areas but is no road (its vertex ring is gone; counted in the log).

Intersections are found within one input: a folder read as one input is
exact across its files; on Dask each file is a map task (see
:func:`s2vec_geo.featurize_distributed`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from s2vec_geo.core.progress import progress
from s2vec_geo.ingest.bbox import BBox
from s2vec_geo.ingest.osm_collect import OsmFeatures, log_counts
from s2vec_geo.ingest.polygons import POLYGONAL
from s2vec_geo.ingest.roadgraph import coordinate_keys
from s2vec_geo.ingest.taxonomy.tags import Taxonomy
from s2vec_geo.io.coordinates import non_finite

log = logging.getLogger(__name__)

PARQUET_SUFFIXES = (".parquet", ".geoparquet")
FEATURE_ID = "feature_id"
TAGS = "tags"
BATCH_SIZE = 65_536
_FEATURE_ID = re.compile(r"(node|way|relation)/-?\d+")
_POINT, _LINE, _POLYGON = 0, 1, 3


def parquet_files(path: str | os.PathLike) -> list[Path]:
    """The parquet files of a path: the file itself, or a folder's files in name order.

    Examples
    --------
    >>> parquet_files("examples/data/helsinki.osm.pbf")
    []
    """
    p = Path(path)
    if p.is_dir():
        found = (f for f in p.rglob("*") if f.suffix.lower() in PARQUET_SUFFIXES and f.is_file())
        return sorted(found)
    return [p] if p.suffix.lower() in PARQUET_SUFFIXES and p.is_file() else []


@dataclass(frozen=True)
class _Layout:
    """Where a QuackOSM file keeps its geometry and tags."""

    geometry: str
    tags: str | None  # the map column; None: one column per tag key
    columns: tuple[str, ...]  # the tag key columns (exploded layout)

    def read(self, keys: Sequence[str]) -> list[str]:
        tags = [self.tags] if self.tags else [c for c in self.columns if c in keys]
        return [FEATURE_ID, *tags, self.geometry]


def input_parts(source: object) -> list[object]:
    """The inputs a source makes for map tasks: each file of a QuackOSM folder, else itself.

    Examples
    --------
    >>> input_parts("examples/data/helsinki.osm.pbf")
    ['examples/data/helsinki.osm.pbf']
    """
    is_folder = isinstance(source, (str, os.PathLike)) and Path(source).is_dir()
    return list(parquet_files(source)) if is_folder and is_osm_parquet(source) else [source]


def split_osm_parquet(
    path: str | os.PathLike, out: str | os.PathLike, rows_per_file: int = 2_000_000
) -> list[Path]:
    """Split a QuackOSM GeoParquet file into a new folder of files of ``rows_per_file`` rows.

    Rows keep their order (QuackOSM sorts them by geometry, so each file
    covers a compact area); each file becomes one Dask map task of
    :func:`s2vec_geo.featurize_distributed`. Streams batches: memory holds one.

    Examples
    --------
    >>> parts = split_osm_parquet("planet.parquet", "planet_parts")  # doctest: +SKIP
    >>> s2vec_geo.featurize_distributed("planet_parts", level=12, out="cells")  # doctest: +SKIP
    """
    source = Path(path)
    if _layout(source) is None:
        raise ValueError(f"{str(source)!r} is not QuackOSM GeoParquet; give a file it wrote")
    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be a positive integer, got {rows_per_file!r}")
    target = Path(out)
    if target.exists():
        raise ValueError(f"output {str(target)!r} already exists; choose a new folder")
    target.mkdir()
    parquet = pq.ParquetFile(source)
    files: list[Path] = []
    writer, room = None, 0
    for batch in parquet.iter_batches(min(rows_per_file, BATCH_SIZE)):
        while batch.num_rows:
            if room == 0:
                if writer is not None:
                    writer.close()
                files.append(target / f"part-{len(files):05d}.parquet")
                writer, room = pq.ParquetWriter(files[-1], parquet.schema_arrow), rows_per_file
            take = batch.slice(0, room)
            writer.write_batch(take)
            room -= take.num_rows
            batch = batch.slice(take.num_rows)
    if writer is not None:
        writer.close()
    return files


def _layout(path: Path) -> _Layout | None:
    """QuackOSM's layout of a parquet file, or ``None`` when it has another one."""
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError):
        return None
    schema = parquet.schema_arrow
    if FEATURE_ID not in schema.names or not _is_text(schema.field(FEATURE_ID).type):
        return None
    try:
        geometry = json.loads(schema.metadata[b"geo"])["primary_column"]
    except (KeyError, TypeError, ValueError):
        geometry = "geometry"
    if geometry not in schema.names or not pa.types.is_binary(schema.field(geometry).type):
        return None
    if parquet.metadata.num_rows:  # the ids must read node/1, way/2, relation/3
        first = parquet.read_row_group(0, columns=[FEATURE_ID]).column(0)[0].as_py()
        if not isinstance(first, str) or not _FEATURE_ID.fullmatch(first):
            return None
    if TAGS in schema.names and pa.types.is_map(schema.field(TAGS).type):
        return _Layout(geometry, TAGS, ())
    columns = (f.name for f in schema if f.name not in (FEATURE_ID, geometry))
    return _Layout(geometry, None, tuple(c for c in columns if _is_text(schema.field(c).type)))


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def is_osm_parquet(path: str | os.PathLike) -> bool:
    """Whether a path is QuackOSM GeoParquet: a file, or a folder whose first file is.

    Examples
    --------
    >>> is_osm_parquet("examples/data/helsinki.osm.pbf")
    False
    """
    files = parquet_files(path)
    return bool(files) and _layout(files[0]) is not None


def _row_tags(batch: pa.RecordBatch, layout: _Layout, keys: Sequence[str]) -> list[dict[str, str]]:
    """Each row's tags among ``keys`` (the ones the taxonomy reads)."""
    rows: list[dict[str, str]] = [{} for _ in range(batch.num_rows)]
    if layout.tags is None:
        for name in layout.columns:
            if name in keys:
                for row, value in enumerate(batch.column(name).to_pylist()):
                    if value is not None:
                        rows[row][name] = value
        return rows
    column = batch.column(layout.tags)
    offsets = column.offsets.to_numpy()  # into the unsliced keys and items
    size = int(offsets[-1] - offsets[0])
    owner = np.repeat(np.arange(batch.num_rows), np.diff(offsets))
    tag_keys = column.keys.slice(offsets[0], size)
    wanted = np.flatnonzero(pc.is_in(tag_keys, value_set=pa.array(keys)).to_numpy(False))
    pairs = zip(
        owner[wanted],
        tag_keys.take(wanted).to_pylist(),
        column.items.slice(offsets[0], size).take(wanted).to_pylist(),
        strict=True,
    )
    for row, key, value in pairs:
        if value is not None:
            rows[row][key] = value
    return rows


def _feature_ids(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """OSM type letters (``n``, ``w``, ``r``) and ids of ``feature_id`` values."""
    kinds = pc.utf8_slice_codeunits(column, 0, 1).to_numpy(zero_copy_only=False)
    try:
        ids = pc.cast(pc.replace_substring_regex(column, r"^[a-z]+/", ""), pa.int64())
    except pa.ArrowInvalid as exc:
        raise ValueError(
            f"feature_id values must read node/<id>, way/<id> or relation/<id> ({exc}); "
            "give GeoParquet written by QuackOSM"
        ) from exc
    return kinds.astype(str), ids.to_numpy(zero_copy_only=False)


class _Batches:
    """Adds QuackOSM record batches to an :class:`OsmFeatures`, counting what it skips."""

    def __init__(self, features: OsmFeatures) -> None:
        self.features = features
        self.keys = features.tag_keys
        self.no_geometry = 0
        self.repaired_roads = 0

    def add(self, batch: pa.RecordBatch, layout: _Layout) -> None:
        kinds, ids = _feature_ids(batch.column(FEATURE_ID))
        tags = _row_tags(batch, layout, self.keys)
        wkb = batch.column(layout.geometry).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):  # NaN coordinates: no readable geometry, counted
            geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        geoms[non_finite(geoms)] = None
        types = shapely.get_type_id(geoms)
        self.no_geometry += int((types < 0).sum())
        is_way = kinds == "w"
        self._nodes(np.flatnonzero((kinds == "n") & (types == _POINT)), ids, tags, geoms)
        self._ways(np.flatnonzero(is_way & np.isin(types, (_LINE, _POLYGON))), ids, tags, geoms)
        shaped = np.isin(types, POLYGONAL) & ((kinds == "r") | (is_way & (types != _POLYGON)))
        for row in np.flatnonzero(shaped):
            self._polygon(row, kinds[row], ids[row], tags[row], geoms[row])
        self.features.settle()

    def _nodes(self, rows: np.ndarray, ids: np.ndarray, tags: list, geoms: np.ndarray) -> None:
        xs, ys = shapely.get_x(geoms[rows]), shapely.get_y(geoms[rows])
        for row, x, y in zip(rows, xs, ys, strict=True):
            if tags[row]:
                self.features.node(int(ids[row]), float(x), float(y), tags[row])

    def _ways(self, rows: np.ndarray, ids: np.ndarray, tags: list, geoms: np.ndarray) -> None:
        """Ways as their vertices: a line's, or a polygon's exterior ring."""
        lines = geoms[rows]
        polygon = shapely.get_type_id(lines) == _POLYGON
        lines[polygon] = shapely.get_exterior_ring(lines[polygon])
        coords, owner = shapely.get_coordinates(lines, return_index=True)
        bounds = np.searchsorted(owner, np.arange(len(rows) + 1))
        vertex = coordinate_keys(coords[:, 0], coords[:, 1])
        xs, ys = coords[:, 0], coords[:, 1]
        for k, row in enumerate(rows):
            classes = self.features.way_classes(tags[row]) if tags[row] else None
            if classes is not None:
                a, b = bounds[k], bounds[k + 1]
                self.features.way(int(ids[row]), classes, vertex[a:b], xs[a:b], ys[a:b])

    def _polygon(
        self, row: int, kind: str, osm_id: int, tags: dict[str, str], shape: shapely.Geometry
    ) -> None:
        """A multipolygon relation, or a way whose polygon QuackOSM repaired into parts."""
        if kind == "r":
            classes = self.features.relation_classes(tags)
        else:
            classes = self.features.way_classes(tags)
            if classes is not None and classes.road is not None:
                self.repaired_roads += 1
        if classes is not None:
            self.features.polygon(int(osm_id), classes, shape, kind)


def read_osm_parquet(
    path: str | os.PathLike, taxonomy: Taxonomy, bbox: BBox | None = None
) -> gpd.GeoDataFrame:
    """Read POIs, roads, road nodes (and v2 areas) from QuackOSM GeoParquet.

    Parameters
    ----------
    path
        A GeoParquet file written by QuackOSM, or a folder of them (read
        together, as one input).
    taxonomy
        The tag mapping deciding what is kept and how it is classified.
    bbox
        ``(min_lng, min_lat, max_lng, max_lat)``: keep points inside it and
        cut roads and areas to it.

    Returns
    -------
    GeoDataFrame
        The features frame :func:`s2vec_geo.ingest.osm.read_osm` returns for
        the PBF (same columns; see the module notes for the differences).

    Raises
    ------
    ValueError
        When a file is not QuackOSM GeoParquet.

    Examples
    --------
    >>> from s2vec_geo.ingest.taxonomy.tags import load_taxonomy
    >>> f = read_osm_parquet("helsinki.parquet", load_taxonomy())  # doctest: +SKIP
    >>> sorted(set(f["kind"]))  # doctest: +SKIP
    ['node', 'poi', 'road']
    """
    files = parquet_files(path)
    if not files:
        raise ValueError(
            f"{str(path)!r} holds no .parquet files; give a QuackOSM GeoParquet file or a "
            "folder of them"
        )
    features = OsmFeatures(taxonomy, node_ids=False)
    batches = _Batches(features)
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    bar = progress(total=total, desc=f"reading {Path(path).name}", unit=" features")
    for file in files:
        layout = _layout(file)
        if layout is None:
            raise ValueError(
                f"{str(file)!r} is not QuackOSM GeoParquet (feature_id, tags, geometry); "
                "keep only QuackOSM output in the folder, or read it on its own"
            )
        parquet = pq.ParquetFile(file)
        for batch in parquet.iter_batches(BATCH_SIZE, columns=layout.read(batches.keys)):
            batches.add(batch, layout)
            bar.update(batch.num_rows)
    bar.close()
    frame = features.frame(bbox)
    if batches.no_geometry or batches.repaired_roads or features.skipped_ways:
        log.warning(
            "%s: %d row(s) without a readable geometry (missing, or NaN or infinite "
            "coordinates); %d road way(s) whose polygon QuackOSM "
            "repaired into parts and %d way(s) without a usable geometry were skipped as roads",
            Path(path).name,
            batches.no_geometry,
            batches.repaired_roads,
            features.skipped_ways,
        )
    log_counts(Path(path).name, frame)
    return frame
