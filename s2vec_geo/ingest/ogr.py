"""Reading features from OGR vector sources and in-memory GeoDataFrames.

Any source pyogrio opens (GeoPackage, shapefile, GeoJSON, GeoParquet,
FlatGeobuf, ...) is streamed in Arrow batches with a progress bar; each batch
is reprojected to EPSG:4326, cleaned and classified, and only the kept
features (category, kind, one point per POI, road lines) stay in memory.

Categories come from one of:

- ``category_column``: the column's values, as they are (for non-OSM data, e.g.
  a shapefile of shops). With an explicit taxonomy, values must be its POI
  category, road class or node feature names. A point whose value is a node
  feature name (``intersections``; with a taxonomy, any of its node features
  such as ``traffic_signals``) is that road-node feature, never a POI, so it
  cannot collide with the node feature's column.
- OSM-like tag columns (``amenity``, ``shop``, ``highway``, ...; also their
  10-character shapefile truncations such as ``public_tra``), classified by
  the taxonomy.

Geometry rules: points and polygons are POIs (polygons counted once, at
``shapely.point_on_surface``), lines are roads. Polygons are also kept as
buildings or land use (areas): by their tags when the taxonomy has building
and land-use classes (v2; floor levels from ``building:levels`` or
``height`` columns, else the taxonomy's estimate), or, with
``category_column``, when ``polygons="building"`` or ``"landuse"`` says what
the layer's polygons are (building levels from those columns when present).
Cleaning, logged with counts: rows with missing/empty geometry, NaN or
infinite coordinates or no category are skipped (coordinates outside the
domain of the layer's CRS are refused: :mod:`s2vec_geo.io.coordinates`);
lines and polygons crossing the antimeridian are cut there
(:mod:`s2vec_geo.s2.antimeridian`); invalid geometries are repaired with
``shapely.make_valid``. Road layers get
``intersections`` derived from shared vertices (see
:mod:`s2vec_geo.ingest.roadgraph`), unless the data gives its own
``intersections`` points: then those are the intersections.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import shapely
from pyproj import CRS, Transformer

from s2vec_geo.core.errors import table_without_geometry
from s2vec_geo.core.progress import progress
from s2vec_geo.ingest.bbox import BBox, clip_to_bbox
from s2vec_geo.ingest.polygons import AREA_KINDS, POLYGONAL, repair_polygons
from s2vec_geo.ingest.roadgraph import coordinate_keys, intersections
from s2vec_geo.ingest.taxonomy.tags import INTERSECTIONS, Taxonomy
from s2vec_geo.io.coordinates import non_finite
from s2vec_geo.s2.antimeridian import split_antimeridian

log = logging.getLogger(__name__)

BATCH_SIZE = 65_536
_LINE_TYPES = (1, 2, 5)  # LineString, LinearRing, MultiLineString


def tag_columns(columns: list[str], taxonomy: Taxonomy | Sequence[str]) -> dict[str, str]:
    """Map tag keys (a taxonomy's, or given) to the columns holding them.

    A key matches a column of the same name in any case, its 10-character
    shapefile truncation, and both with ``:`` written as ``_``.

    Examples
    --------
    >>> from s2vec_geo.ingest.taxonomy.tags import load_taxonomy
    >>> tag_columns(["name", "AMENITY", "public_tra"], load_taxonomy())
    {'amenity': 'AMENITY', 'public_transport': 'public_tra'}
    >>> tag_columns(["building_levels"], ["building:levels"])
    {'building:levels': 'building_levels'}
    """
    keys = taxonomy.tag_keys if isinstance(taxonomy, Taxonomy) else taxonomy
    found: dict[str, str] = {}
    lowered = {c.lower(): c for c in columns}
    for key in keys:
        plain = key.replace(":", "_")
        for candidate in (key, key[:10], plain, plain[:10]):
            if candidate in lowered:
                found[key] = lowered[candidate]
                break
    return found


class _Classifier:
    """Turns raw batches into feature rows, counting what it skips or repairs."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        columns: list[str],
        category_column: str | None,
        taxonomy_given: bool,
        name: str,
        polygons: str = "poi",
    ) -> None:
        self.tax = taxonomy
        self.category_column = category_column
        self.taxonomy_given = taxonomy_given
        self.polygons = polygons
        self.counts: Counter[str] = Counter()
        self.tags: dict[str, str] = {}
        if category_column is not None:
            if category_column not in columns:
                raise ValueError(
                    f"category column {category_column!r} is not in {name}; "
                    f"choose one of the available columns: {', '.join(columns) or '(none)'}"
                )
            if polygons == "building":  # floor levels from the usual tags, when present
                self.tags = tag_columns(columns, taxonomy.levels_tags)
        else:
            self.tags = tag_columns(columns, taxonomy)
            if not self.tags:
                raise ValueError(
                    f"{name} has no category column and no OSM tag columns "
                    f"({', '.join(taxonomy.tag_keys)}); pass category_column= naming the "
                    f"column with each feature's category (available: {', '.join(columns)})"
                )
        self.levels = bool(taxonomy.building_classes) or polygons == "building"
        self.osm_id = next((c for c in columns if c.lower() == "osm_id"), None)

    @property
    def needed_columns(self) -> list[str]:
        cols = [self.category_column] if self.category_column else []
        cols += [c for c in self.tags.values() if c not in cols]
        return cols + ([self.osm_id] if self.osm_id else [])

    def classify(self, geoms: np.ndarray, table: pd.DataFrame) -> gpd.GeoDataFrame:
        """Clean one batch (EPSG:4326 geometries) and return its feature rows."""
        n = len(geoms)
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        self.counts["missing or empty geometry"] += int(n - keep.sum())
        not_finite = non_finite(geoms)
        self.counts["NaN or infinite coordinates"] += int((keep & not_finite).sum())
        keep &= ~not_finite
        geoms, table = geoms[keep], table.loc[keep].reset_index(drop=True)
        geoms = split_antimeridian(geoms)
        types = shapely.get_type_id(geoms)
        invalid = ~shapely.is_valid(geoms)
        if invalid.any():
            self.counts["invalid geometry, repaired"] += int(invalid.sum())
            geoms = geoms.copy()
            geoms[invalid] = shapely.make_valid(geoms[invalid])
        is_line = np.isin(types, _LINE_TYPES)
        is_polygon = np.isin(types, POLYGONAL)
        rows, categories, kinds, levels = self._categories(table, is_line, is_polygon)
        self.counts["no category"] += int(len(geoms) - len(set(rows)))
        g = geoms[rows]
        line = is_line[rows]
        g = np.where(line, g, shapely.point_on_surface(g)) if len(g) else g
        area = np.isin(kinds, AREA_KINDS)
        if area.any():
            g[area] = repair_polygons(geoms[rows[area]])[0]
        has_area = ~area | np.array([x is not None for x in g], dtype=bool)
        self.counts["polygon with no area left"] += int((~has_area).sum())
        data = {"category": categories, "kind": kinds}
        if self.osm_id:
            data["osm_id"] = pd.to_numeric(table[self.osm_id], errors="coerce").to_numpy()[rows]
        if self.levels:
            data["levels"] = levels
        data = {k: v[has_area] for k, v in data.items()}
        return gpd.GeoDataFrame(data, geometry=g[has_area], crs="EPSG:4326")

    def _categories(
        self, table: pd.DataFrame, is_line: np.ndarray, is_polygon: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(row index, category, kind, floor levels); a row may yield several (POI and node)."""
        if self.category_column is not None:
            return self._by_column(table, is_line, is_polygon)
        rows, cats, kinds, levels = [], [], [], []
        keys = list(self.tags)
        values = table[list(self.tags.values())].astype(object)
        for i, record in enumerate(values.itertuples(index=False, name=None)):
            tags = self._tag_dict(keys, record)
            if is_line[i]:
                found = [("road", self.tax.classify_road(tags.get("highway")), np.nan)]
            else:
                found = [
                    ("poi", self.tax.classify_poi(tags), np.nan),
                    ("node", self.tax.classify_node(tags), np.nan),
                ]
                if is_polygon[i]:
                    found += self.tax.classify_areas(tags)
            for kind, category, floors in found:
                if category is not None:
                    rows.append(i)
                    cats.append(category)
                    kinds.append(kind)
                    levels.append(floors)
        return (
            np.asarray(rows, dtype=np.int64),
            np.asarray(cats, dtype=object),
            np.asarray(kinds, dtype=object),
            np.asarray(levels, dtype=np.float64),
        )

    def _by_column(
        self, table: pd.DataFrame, is_line: np.ndarray, is_polygon: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows classified by the category column; polygons are ``self.polygons``."""
        values = table[self.category_column]
        ok = values.notna().to_numpy()
        rows = np.flatnonzero(ok)
        cats = values.astype(str).to_numpy()[ok]
        kinds = np.where(is_line[ok], "road", "poi").astype(object)
        if self.polygons != "poi":
            kinds[is_polygon[ok]] = self.polygons
        nodes = self.tax.node_features if self.taxonomy_given else (INTERSECTIONS,)
        kinds[np.isin(cats, nodes) & (kinds == "poi")] = "node"
        if self.taxonomy_given:
            self._check_known(cats, kinds)
        levels = np.full(len(rows), np.nan)
        tag_values = table[list(self.tags.values())].astype(object).to_numpy()[rows]
        for k in np.flatnonzero(kinds == "building"):
            tags = self._tag_dict(list(self.tags), tag_values[k])
            levels[k] = self.tax.building_levels(tags, cats[k])
        return rows, cats.astype(object), kinds, levels

    def _tag_dict(self, keys: list[str], record: Sequence[object]) -> dict[str, str]:
        """Tags of one row: non-empty strings; floor levels and heights may be numbers."""
        tags = {k: v for k, v in zip(keys, record, strict=True) if isinstance(v, str) and v}
        for key in self.tax.levels_tags:
            value = record[keys.index(key)] if key in keys else None
            if isinstance(value, (int, float)) and np.isfinite(value):
                tags[key] = str(value)
        return tags

    def _check_known(self, cats: np.ndarray, kinds: np.ndarray) -> None:
        allowed = {
            "poi": set(self.tax.poi_categories),
            "road": set(self.tax.road_classes),
            "node": set(self.tax.node_features),
            "building": set(self.tax.building_classes),
            "landuse": set(self.tax.landuse_classes),
        }
        for kind, names in allowed.items():
            unknown = sorted(set(cats[kinds == kind]) - names)
            if unknown:
                raise ValueError(
                    f"{kind} categories {unknown[:5]} in column {self.category_column!r} are "
                    f"not in taxonomy {self.tax.name!r} v{self.tax.version}; map them to its "
                    "names, or leave taxonomy=None to use the column's own categories"
                )


def _frame_batches(
    gdf: gpd.GeoDataFrame, columns: list[str]
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    geoms = _wgs84(gdf.geometry.values, gdf.crs, "the GeoDataFrame")
    table = pd.DataFrame(gdf[columns]).reset_index(drop=True)
    for start in progress(range(0, len(gdf), BATCH_SIZE), desc="reading features"):
        stop = start + BATCH_SIZE
        yield geoms[start:stop], table.iloc[start:stop].reset_index(drop=True)


def _file_batches(
    path: Path, layer: str | int | None, columns: list[str], crs: CRS, bbox: BBox | None, total: int
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    source_bbox = None
    if bbox is not None:
        source_bbox = Transformer.from_crs(4326, crs, always_xy=True).transform_bounds(*bbox)
    with pyogrio.open_arrow(
        path,
        layer=layer,
        columns=columns,
        bbox=source_bbox,
        batch_size=BATCH_SIZE,
        use_pyarrow=True,
    ) as (meta, reader):
        geometry_name = meta["geometry_name"] or "wkb_geometry"
        bar = progress(total=total, desc=f"reading {path.name}", unit=" features")
        for batch in reader:
            geoms = _wgs84(_from_wkb(batch.column(geometry_name)), crs, path.name)
            yield geoms, batch.drop_columns([geometry_name]).to_pandas()
            bar.update(batch.num_rows)
        bar.close()


def _from_wkb(wkb: pa.Array) -> np.ndarray:
    """Shapely geometries of a WKB column."""
    # unreadable geometries (e.g. a ring of two points) become missing ones, and NaN
    # coordinates stay: both are counted and skipped (classify), as io.read_layer does
    with np.errstate(invalid="ignore"):
        return shapely.from_wkb(wkb.to_numpy(zero_copy_only=False), on_invalid="ignore")


def _wgs84(geoms: np.ndarray, crs: CRS, name: str) -> np.ndarray:
    """Geometries in ``crs`` in EPSG:4326; coordinates outside the CRS's domain refused."""
    non_finite(geoms, crs, name)  # NaN and infinity: counted and skipped by classify
    geoms = np.asarray(geoms, dtype=object)
    if crs.equals(CRS.from_epsg(4326)) or crs.equals(CRS.from_user_input("OGC:CRS84")):
        return geoms
    return np.asarray(gpd.GeoSeries(geoms, crs=crs).to_crs(4326).values)


def _parquet_info(path: Path) -> dict:
    """Columns, CRS and row count of a GeoParquet file (GDAL wheels lack its driver)."""
    try:
        parquet = pq.ParquetFile(path)
        geo = json.loads(parquet.schema_arrow.metadata[b"geo"])
    except (pa.ArrowInvalid, OSError, KeyError, TypeError) as exc:
        raise ValueError(
            f"cannot read {str(path)!r} as GeoParquet ({exc!r}); give a GeoParquet file with "
            "a category column or OSM tag columns (e.g. written by GeoDataFrame.to_parquet), "
            "or OSM GeoParquet written by QuackOSM (feature_id, tags, WKB geometry)"
        ) from exc
    column = geo["primary_column"]
    spec = geo["columns"][column]
    crs = spec.get("crs", "OGC:CRS84")  # the GeoParquet default when the key is absent
    return {
        "crs": None if crs is None else CRS.from_user_input(crs),
        "features": parquet.metadata.num_rows,
        "fields": [c for c in parquet.schema_arrow.names if c != column],
        "geometry_name": column,
    }


def _parquet_batches(
    path: Path, columns: list[str], info: dict
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    geometry_name = info["geometry_name"]
    parquet = pq.ParquetFile(path)
    bar = progress(total=info["features"], desc=f"reading {path.name}", unit=" features")
    for batch in parquet.iter_batches(batch_size=BATCH_SIZE, columns=[*columns, geometry_name]):
        yield (
            _wgs84(_from_wkb(batch.column(geometry_name)), info["crs"], path.name),
            batch.drop_columns([geometry_name]).to_pandas(),
        )
        bar.update(batch.num_rows)
    bar.close()


def _open_info(path: Path, layer: str | int | None) -> dict:
    try:
        return pyogrio.read_info(path, layer=layer)
    except pyogrio.errors.DataLayerError as exc:
        layers = ", ".join(str(name) for name in pyogrio.list_layers(path)[:, 0])
        raise ValueError(
            f"cannot open layer {layer!r} of {str(path)!r} ({exc}); available layers: {layers}"
        ) from exc
    except pyogrio.errors.DataSourceError as exc:
        raise ValueError(
            f"cannot read {str(path)!r} as a vector data source ({exc}); give a GeoPackage, "
            "shapefile, GeoJSON, GeoParquet, OSM file or any other OGR vector format"
        ) from exc


def read_ogr(
    source: str | os.PathLike | gpd.GeoDataFrame,
    taxonomy: Taxonomy,
    layer: str | int | None = None,
    bbox: BBox | None = None,
    category_column: str | None = None,
    taxonomy_given: bool = False,
    polygons: str = "poi",
) -> gpd.GeoDataFrame:
    """Read and classify features from an OGR source or a GeoDataFrame.

    Parameters
    ----------
    source
        Path of any OGR vector source, or a GeoDataFrame (any CRS).
    taxonomy
        Mapping used for tag columns (and to check ``category_column`` values
        when ``taxonomy_given``).
    layer
        Layer name or index of a multi-layer source.
    bbox
        ``(min_lng, min_lat, max_lng, max_lat)`` in degrees.
    category_column
        Column holding each feature's category; ``None`` looks for OSM tag columns.
    taxonomy_given
        Whether the caller chose the taxonomy, so category names must belong to it.
    polygons
        With ``category_column``: what the layer's polygons are, ``"poi"``
        (counted at a point), ``"building"`` or ``"landuse"`` (kept as areas).

    Returns
    -------
    GeoDataFrame
        Features frame (``category``, ``kind``, optional ``osm_id``, ``levels``
        for buildings, geometry), EPSG:4326.

    Examples
    --------
    >>> from s2vec_geo.ingest.taxonomy.tags import load_taxonomy
    >>> f = read_ogr("examples/data/helsinki_roads.shp", load_taxonomy())
    >>> sorted(set(f["kind"]))
    ['node', 'road']
    """
    if isinstance(source, gpd.GeoDataFrame):
        name = "the GeoDataFrame"
        if source.crs is None:
            raise ValueError(
                "the GeoDataFrame has no CRS; set one with gdf.set_crs(...) "
                "(e.g. gdf.set_crs(4326) for longitude/latitude)"
            )
        if len(source) == 0:
            raise ValueError("the GeoDataFrame is empty; give one with features to read")
        columns = [str(c) for c in source.columns if c != source.geometry.name]
        classifier = _Classifier(taxonomy, columns, category_column, taxonomy_given, name, polygons)
        batches = _frame_batches(source, classifier.needed_columns)
    else:
        path = Path(source)
        name = repr(str(path)) + (f" layer {layer!r}" if layer is not None else "")
        parquet = path.suffix.lower() in (".parquet", ".geoparquet")
        info = _parquet_info(path) if parquet else _open_info(path, layer)
        if not parquet and info["geometry_type"] is None:
            raise table_without_geometry(name)
        if info["crs"] is None:
            raise ValueError(
                f"{name} has no CRS; define it (e.g. `ogr2ogr -a_srs EPSG:4326 out.gpkg in.shp`) "
                "or read it with geopandas, call set_crs and pass the GeoDataFrame"
            )
        if info["features"] == 0:
            raise ValueError(f"{name} is empty (no features); give a layer that has features")
        columns = [str(c) for c in info["fields"]]
        classifier = _Classifier(taxonomy, columns, category_column, taxonomy_given, name, polygons)
        if parquet:
            batches = _parquet_batches(path, classifier.needed_columns, info)
        else:
            batches = _file_batches(
                path, layer, classifier.needed_columns, CRS(info["crs"]), bbox, info["features"]
            )
    parts = [classifier.classify(geoms, table) for geoms, table in batches]
    frame = pd.concat(parts, ignore_index=True) if parts else None
    if frame is None or frame.empty:
        raise ValueError(
            f"no features left in {name}"
            + (f" inside bbox {bbox}" if bbox is not None else "")
            + f" ({_summary(classifier.counts)}); check the bbox, the layer and the category column"
        )
    by_taxonomy = category_column is None or taxonomy_given
    frame = _add_intersections(gpd.GeoDataFrame(frame, crs="EPSG:4326"), taxonomy, by_taxonomy)
    if bbox is not None:
        frame = clip_to_bbox(frame, bbox)
    if any(classifier.counts.values()):
        log.warning("%s: skipped or repaired: %s", name, _summary(classifier.counts))
    return frame


def _summary(counts: Counter[str]) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing skipped"


def _add_intersections(
    frame: gpd.GeoDataFrame, taxonomy: Taxonomy, by_taxonomy: bool
) -> gpd.GeoDataFrame:
    """Append ``intersections`` node rows derived from the road lines' shared vertices.

    Nothing is derived when the data names its own intersections (node rows
    ``intersections``): those are used instead, so none is counted twice.
    """
    roads = frame["kind"] == "road"
    if by_taxonomy and INTERSECTIONS not in taxonomy.node_features:
        return frame
    given = int(((frame["kind"] == "node") & (frame["category"] == INTERSECTIONS)).sum())
    if given:
        log.info("%d intersections given by the data; none derived from the road lines", given)
        return frame
    if by_taxonomy:
        roads &= frame["category"].isin(taxonomy.intersection_classes)
    if not roads.any():
        return frame
    parts = shapely.get_parts(frame.geometry.values[roads.to_numpy()])
    coords, line = shapely.get_coordinates(parts, return_index=True)
    points, _ = intersections(coordinate_keys(coords[:, 0], coords[:, 1]), line, *coords.T)
    if len(points) == 0:
        return frame
    nodes = gpd.GeoDataFrame(
        {"category": [INTERSECTIONS] * len(points), "kind": ["node"] * len(points)},
        geometry=points,
        crs="EPSG:4326",
    )
    return pd.concat([frame, nodes], ignore_index=True)
