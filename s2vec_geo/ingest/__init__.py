"""Ingest: read built-environment features from OSM files, OGR sources or GeoDataFrames.

Every reader returns a *features frame*: a GeoDataFrame in EPSG:4326 with

- ``category``: a POI category, a road class or a node feature name,
- ``kind``: ``"poi"`` (a point; polygons are reduced to a representative
  point), ``"road"`` (a LineString) or ``"node"`` (a point road feature such
  as ``intersections`` or ``traffic_signals``),
- optionally ``osm_id``,

and ``attrs["taxonomy_version"]`` when the categories come from a taxonomy.
:func:`s2vec_geo.featurize` turns it into per-cell feature vectors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import geopandas as gpd

from s2vec_geo.ingest.bbox import BBox, validate_bbox
from s2vec_geo.ingest.ogr import read_ogr
from s2vec_geo.ingest.osm import is_osm_path, osm_header_bbox, read_osm
from s2vec_geo.taxonomy import Taxonomy, load_taxonomy

__all__ = ["osm_header_bbox", "read_features"]


def read_features(
    source: str | os.PathLike | gpd.GeoDataFrame,
    layer: str | int | None = None,
    taxonomy: str | os.PathLike | dict[str, Any] | Taxonomy | None = None,
    bbox: BBox | None = None,
    category_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Read POIs, roads and road nodes from a file or GeoDataFrame as a features frame.

    Parameters
    ----------
    source
        An OSM file (``.osm.pbf``, ``.osm``), any OGR vector source
        (GeoPackage, shapefile, GeoJSON, GeoParquet, ...) or a GeoDataFrame.
    layer
        Layer name or index for multi-layer OGR sources.
    taxonomy
        Tag mapping (see :func:`s2vec_geo.load_taxonomy`); default: the bundled v1.
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
    """
    tax = load_taxonomy(taxonomy)
    bbox = validate_bbox(bbox)
    if isinstance(source, gpd.GeoDataFrame):
        frame = read_ogr(source, tax, None, bbox, category_column, taxonomy is not None)
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
        else:
            frame = read_ogr(path, tax, layer, bbox, category_column, taxonomy is not None)
    if category_column is None or taxonomy is not None:
        frame.attrs["taxonomy_version"] = tax.version
        frame.attrs["taxonomy_name"] = tax.name
    return frame
