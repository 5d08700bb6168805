"""Ingest: read built-environment features from OSM files, OGR sources or GeoDataFrames.

OSM data comes as PBF/XML (:mod:`s2vec_geo.ingest.osm`, pyosmium) or as the
GeoParquet QuackOSM writes (:mod:`s2vec_geo.ingest.osm_parquet`; convert with
:func:`s2vec_geo.ingest.quack.pbf_to_geoparquet`); both apply the same rules
(:mod:`s2vec_geo.ingest.osm_collect`).

Every reader returns a *features frame*: a GeoDataFrame in EPSG:4326 with

- ``category``: a POI category, a road class or a node feature name,
- ``kind``: ``"poi"`` (a point; polygons are reduced to a representative
  point), ``"road"`` (a LineString; a MultiLineString when cut at the
  antimeridian, as every line and polygon crossing it is, see
  :mod:`s2vec_geo.s2.antimeridian`), ``"node"`` (a point road feature such
  as ``intersections`` or ``traffic_signals``), and with taxonomy v2 (or
  ``polygons=``) ``"building"`` or ``"landuse"`` (a polygon),
- optionally ``osm_id``, and ``levels`` (a building's floor levels),

and ``attrs["taxonomy_version"]`` when the categories come from a taxonomy.
:func:`s2vec_geo.featurize` turns it into per-cell feature vectors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import geopandas as gpd

from s2vec_geo.core.options import POLYGONS
from s2vec_geo.ingest.bbox import BBox, validate_bbox
from s2vec_geo.ingest.ogr import read_ogr
from s2vec_geo.ingest.osm import is_osm_path, osm_header_bbox, read_osm
from s2vec_geo.ingest.osm_parquet import is_osm_parquet, read_osm_parquet
from s2vec_geo.ingest.taxonomy.tags import Taxonomy, load_taxonomy

__all__ = ["osm_header_bbox", "read_features"]

POLYGON_KINDS = POLYGONS.choices


def read_features(
    source: str | os.PathLike | gpd.GeoDataFrame,
    layer: str | int | None = None,
    taxonomy: str | os.PathLike | dict[str, Any] | Taxonomy | None = None,
    bbox: BBox | None = None,
    category_column: str | None = None,
    polygons: str = "poi",
) -> gpd.GeoDataFrame:
    """Read POIs, roads, road nodes (v2: buildings, land use) as a features frame.

    Parameters
    ----------
    source
        An OSM file (``.osm.pbf``, ``.osm``), OSM GeoParquet written by
        QuackOSM (a file or a folder of them; see
        :mod:`s2vec_geo.ingest.osm_parquet`), any OGR vector source
        (GeoPackage, shapefile, GeoJSON, GeoParquet, ...) or a GeoDataFrame.
    layer
        Layer name or index for multi-layer OGR sources.
    taxonomy
        Tag mapping (see :func:`s2vec_geo.load_taxonomy`): ``"v1"`` (the
        default), ``"v2"`` (adds building footprints and land use), a JSON file.
    bbox
        ``(min_lng, min_lat, max_lng, max_lat)`` in degrees: keep features in
        it, cut roads to it.
    category_column
        For non-OSM data: the column naming each feature's category. Its values
        become the categories as they are, unless ``taxonomy`` is given, in
        which case they must be names from that taxonomy. Points whose value
        names a road-node feature (``"intersections"``; with ``taxonomy``, any
        of its node features) are read as that node feature, not as a POI;
        given intersections replace those derived from the road lines. Rename
        such a value if it means a POI category.
    polygons
        With ``category_column``: what the layer's polygons are, ``"poi"``
        (the default: counted at a point), ``"building"`` (footprints; the
        column names the building class) or ``"landuse"`` (land-use areas).

    Returns
    -------
    GeoDataFrame
        The features frame (EPSG:4326; ``category``, ``kind``, maybe ``osm_id``).

    Raises
    ------
    FileNotFoundError
        When ``source`` is a path that does not exist.
    ValueError
        For unreadable or truncated files, empty layers, a missing CRS, an
        unknown category column, a bad bbox or nothing left inside it.

    Examples
    --------
    >>> import s2vec_geo
    >>> f = s2vec_geo.read_features("examples/data/helsinki.osm.pbf")
    >>> f.crs.to_epsg(), f.attrs["taxonomy_version"]
    (4326, '1')
    >>> int((f["category"] == "cafe").sum()) > 10
    True
    >>> v2 = s2vec_geo.read_features("examples/data/helsinki.osm.pbf", taxonomy="v2")
    >>> int((v2["kind"] == "building").sum()) > 400
    True
    """
    tax = load_taxonomy(taxonomy)
    bbox = validate_bbox(bbox)
    if polygons not in POLYGON_KINDS:
        raise ValueError(
            f"polygons={polygons!r} is not one of {', '.join(POLYGON_KINDS)}; say what the "
            "layer's polygons are"
        )
    if polygons != "poi" and category_column is None:
        raise ValueError(
            f"polygons={polygons!r} applies to layers read with category_column=; OSM data "
            "and OSM tag columns are classified by their tags (taxonomy='v2' reads buildings "
            "and land use)"
        )
    if isinstance(source, gpd.GeoDataFrame):
        frame = read_ogr(source, tax, None, bbox, category_column, taxonomy is not None, polygons)
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"input {str(path)!r} does not exist; check the path")
        if is_osm_path(path) and path.is_dir():
            raise ValueError(f"input {str(path)!r} is a folder, not an OSM file; give the file")
        if is_osm_path(path):
            if category_column is not None:
                raise ValueError(
                    "category_column applies to OGR sources; OSM files are classified by "
                    "their tags (pass taxonomy= to change the mapping)"
                )
            frame = read_osm(path, tax, bbox)
        elif category_column is None and is_osm_parquet(path):
            frame = read_osm_parquet(path, tax, bbox)
        else:
            frame = read_ogr(
                path, tax, layer, bbox, category_column, taxonomy is not None, polygons
            )
    if category_column is None or taxonomy is not None:
        frame.attrs["taxonomy_version"] = tax.version
        frame.attrs["taxonomy_name"] = tax.name
    return frame
