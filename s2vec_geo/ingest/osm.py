"""Reading OpenStreetMap ``.osm.pbf`` and ``.osm`` XML files with pyosmium.

The file is streamed once (twice when multipolygon relations are assembled):
libosmium keeps node locations and pre-filters objects by the taxonomy's
keys in C++, and Python sees only tagged objects. What is kept per feature is
one point for a POI (its representative point; polygons and multipolygons are
counted once), the coordinates of a road way, and one point per node feature.
Memory therefore grows with the features kept plus libosmium's node-location
index, not with the rest of the file.

Definitions (see the taxonomy's ``description``):

- POI: a node, way or multipolygon relation the taxonomy assigns a POI
  category; ways and relations are counted at ``shapely.representative_point``
  of their polygon (a closed way) or line (an open way).
- road: a way whose ``highway`` value maps to a road class and that is not an
  area (``area=yes``); kept as a LineString.
- ``intersections``: road-graph nodes of degree >= 3 among road classes marked
  ``"intersections": true`` (an interior way node adds 2, a way end adds 1).
- node features such as ``traffic_signals``: nodes with the listed tags.
- buildings and land use (taxonomy v2): closed ways and multipolygon
  relations the taxonomy assigns a building or land-use class, kept as
  polygons (repaired like POI polygons, see :mod:`s2vec_geo.ingest.polygons`)
  with the building's floor ``levels``.

Ways referencing nodes missing from the file lose those nodes; ways left with
fewer than two located nodes are skipped, and the count is logged.
"""

from __future__ import annotations

import logging
import os
from array import array
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import shapely

from s2vec_geo.ingest.bbox import BBox, clip_to_bbox, validate_bbox
from s2vec_geo.ingest.polygons import AreaPolygons
from s2vec_geo.ingest.roadgraph import intersections
from s2vec_geo.progress import progress
from s2vec_geo.taxonomy import INTERSECTIONS, Taxonomy

log = logging.getLogger(__name__)

OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".o5m", ".opl")


def is_osm_path(path: str | os.PathLike) -> bool:
    """Whether a path names an OSM file (read with pyosmium rather than OGR).

    Examples
    --------
    >>> is_osm_path("helsinki.osm.pbf"), is_osm_path("shops.gpkg")
    (True, False)
    """
    return str(path).lower().endswith(OSM_SUFFIXES)


def osm_header_bbox(path: str | os.PathLike) -> BBox | None:
    """The bounding box stored in an OSM file's header, or ``None`` if it has none.

    Complete ways pull in nodes from outside an extract's box: pass this box
    as ``bbox=`` to :func:`read_osm` to keep only the extract's core area.

    Examples
    --------
    >>> osm_header_bbox("examples/data/helsinki.osm.pbf")  # doctest: +ELLIPSIS
    (24.9..., 60.1..., 24.9..., 60.1...)
    """
    box = osmium.FileProcessor(str(_existing(path))).header.box()
    if not box.valid():
        return None
    return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)


def _existing(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"input file {str(p)!r} does not exist; check the path")
    return p


class _Collector:
    """Accumulates kept features in compact arrays while the file streams."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.tax = taxonomy
        # points: POIs and tagged nodes
        self.px, self.py = array("d"), array("d")
        self.pcat: list[str] = []
        self.pkind: list[str] = []
        self.pid, self.ptype = array("q"), []
        # POIs from ways/relations, as geometries for representative points
        self.shapes: list[shapely.Geometry] = []
        self.scat: list[str] = []
        self.sid, self.stype = array("q"), []
        # roads: flat coordinates, one entry per located way node
        self.rx, self.ry, self.rref, self.rway = array("d"), array("d"), array("q"), array("q")
        self.rcat: list[str] = []
        self.rid = array("q")
        self.rgraph: list[bool] = []
        # buildings and land use, as polygons
        self.areas = AreaPolygons(taxonomy)
        self.skipped_ways = 0
        self.missing_nodes = 0
        self.wkb = osmium.geom.WKBFactory()

    def node(self, obj: osmium.osm.Node) -> None:
        tags = obj.tags
        loc = obj.location
        if not loc.valid():
            return
        for kind, category in (
            ("poi", self.tax.classify_poi(tags)),
            ("node", self.tax.classify_node(tags)),
        ):
            if category is not None:
                self.px.append(loc.lon)
                self.py.append(loc.lat)
                self.pcat.append(category)
                self.pkind.append(kind)
                self.pid.append(obj.id)
                self.ptype.append("n")

    def way(self, obj: osmium.osm.Way) -> None:
        tags = obj.tags
        road = None if tags.get("area") == "yes" else self.tax.classify_road(tags.get("highway"))
        poi = self.tax.classify_poi(tags)
        areas = self.areas.classes(tags)
        if road is None and poi is None and not areas:
            return
        xs, ys, refs = [], [], []
        for nd in obj.nodes:
            loc = nd.location
            if loc.valid():
                xs.append(loc.lon)
                ys.append(loc.lat)
                refs.append(nd.ref)
        self.missing_nodes += len(obj.nodes) - len(refs)
        if len(refs) < 2:
            self.skipped_ways += 1
            return
        if road is not None:
            way_index = len(self.rcat)
            self.rx.extend(xs)
            self.ry.extend(ys)
            self.rref.extend(refs)
            self.rway.extend([way_index] * len(refs))
            self.rcat.append(road)
            self.rid.append(obj.id)
            self.rgraph.append(road in self.tax.intersection_classes)
        closed = len(refs) >= 4 and refs[0] == refs[-1]
        if poi is not None or (areas and closed):
            coords = np.column_stack([xs, ys])
            shape = shapely.Polygon(coords) if closed else shapely.LineString(coords)
            if poi is not None:
                self._shape(shape, poi, obj.id, "w")
            if areas and closed:  # open ways have no area
                self.areas.add(shape, areas, obj.id, "w")

    def area(self, obj: osmium.osm.Area) -> None:
        if obj.from_way():  # closed ways are handled in way()
            return
        poi = self.tax.classify_poi(obj.tags)
        areas = self.areas.classes(obj.tags)
        if poi is None and not areas:
            return
        try:
            shape = shapely.from_wkb(self.wkb.create_multipolygon(obj), on_invalid="fix")
        except RuntimeError:  # an unassemblable multipolygon: no geometry
            self.skipped_ways += 1
            return
        if poi is not None:
            self._shape(shape, poi, obj.orig_id(), "r")
        self.areas.add(shape, areas, obj.orig_id(), "r")

    def _shape(self, shape: shapely.Geometry, category: str, osm_id: int, osm_type: str) -> None:
        self.shapes.append(shape)
        self.scat.append(category)
        self.sid.append(osm_id)
        self.stype.append(osm_type)

    def frame(self, bbox: BBox | None) -> gpd.GeoDataFrame:
        points = shapely.points(_np(self.px), _np(self.py))
        shapes = np.asarray(self.shapes, dtype=object)
        invalid = ~shapely.is_valid(shapes)
        if invalid.any():
            log.info("repairing %d invalid POI polygon(s) with make_valid", int(invalid.sum()))
            shapes[invalid] = shapely.make_valid(shapes[invalid])
        reps = shapely.point_on_surface(shapes) if len(shapes) else np.empty(0, dtype=object)
        roads, road_keep = self._roads()
        inter = self._intersections()
        parts = [
            (points, self.pcat, self.pkind, _np(self.pid), self.ptype),
            (reps, self.scat, ["poi"] * len(reps), _np(self.sid), self.stype),
            (
                roads,
                np.asarray(self.rcat, dtype=object)[road_keep],
                ["road"] * len(roads),
                _np(self.rid)[road_keep],
                ["w"] * len(roads),
            ),
            (
                inter[0],
                [INTERSECTIONS] * len(inter[0]),
                ["node"] * len(inter[0]),
                inter[1],
                ["n"] * len(inter[0]),
            ),
        ]
        n_other = sum(len(p[0]) for p in parts)
        if self.areas.enabled:
            areas = self.areas.rows()
            if self.areas.repaired:
                log.info("repaired %d invalid building/land-use polygon(s)", self.areas.repaired)
            names = ("geometry", "category", "kind", "osm_id", "osm_type")
            parts.append(tuple(areas[name] for name in names))
        geometry = np.concatenate([np.asarray(p[0], dtype=object) for p in parts])
        columns = {
            "category": np.concatenate([np.asarray(p[1], dtype=object) for p in parts]),
            "kind": np.concatenate([np.asarray(p[2], dtype=object) for p in parts]),
            "osm_id": np.concatenate([p[3] for p in parts]).astype(np.int64),
            "osm_type": np.concatenate([np.asarray(p[4], dtype=object) for p in parts]),
        }
        if self.tax.building_classes:  # floor levels of buildings, NaN for the rest
            columns["levels"] = np.r_[np.full(n_other, np.nan), areas["levels"]]
        frame = gpd.GeoDataFrame(columns, geometry=geometry, crs="EPSG:4326")
        if bbox is not None:
            frame = clip_to_bbox(frame, bbox)
        return frame

    def _roads(self) -> tuple[np.ndarray, np.ndarray]:
        """Road LineStrings; ways whose located nodes collapse to one point are dropped."""
        n = len(self.rcat)
        if n == 0:
            return np.empty(0, dtype=object), np.zeros(0, dtype=bool)
        coords = np.column_stack([_np(self.rx), _np(self.ry)])
        way = _np(self.rway)
        first = np.r_[True, way[1:] != way[:-1]]
        moved = first | np.any(coords != np.roll(coords, 1, axis=0), axis=1)
        distinct = np.bincount(way[moved], minlength=n)
        keep = distinct >= 2
        self.skipped_ways += int((~keep).sum())
        sel = keep[way] & moved
        new_index = np.cumsum(keep) - 1
        lines = shapely.linestrings(coords[sel], indices=new_index[way[sel]])
        return np.asarray(lines, dtype=object), keep

    def _intersections(self) -> tuple[np.ndarray, np.ndarray]:
        """Road-graph nodes of degree >= 3 among the intersection road classes."""
        way = _np(self.rway)
        if INTERSECTIONS not in self.tax.node_features:
            way = way[:0]
        in_graph = np.asarray(self.rgraph, dtype=bool)[way] if len(way) else way.astype(bool)
        return intersections(
            _np(self.rref)[in_graph], way[in_graph], _np(self.rx)[in_graph], _np(self.ry)[in_graph]
        )


def _np(values: array) -> np.ndarray:
    """A NumPy view of a typed ``array.array`` (empty arrays included)."""
    dtype = np.float64 if values.typecode == "d" else np.int64
    return np.frombuffer(values, dtype) if len(values) else np.empty(0, dtype)


def read_osm(
    path: str | os.PathLike,
    taxonomy: Taxonomy,
    bbox: BBox | None = None,
) -> gpd.GeoDataFrame:
    """Read POIs, roads, road nodes (and v2 areas) from an OSM file (``.osm.pbf``, ``.osm``).

    Parameters
    ----------
    path
        OSM file; any format libosmium reads (PBF, XML, optionally compressed).
    taxonomy
        The tag mapping deciding what is kept and how it is classified.
    bbox
        ``(min_lng, min_lat, max_lng, max_lat)``: keep points inside it and
        cut roads to it. ``None`` keeps everything the file holds.

    Returns
    -------
    GeoDataFrame
        EPSG:4326, columns ``category``, ``kind`` (``poi``, ``road``,
        ``node``; with taxonomy v2 also ``building`` and ``landuse``),
        ``osm_id``, ``osm_type`` (``n``, ``w``, ``r``), ``levels`` (floor
        levels of buildings, NaN otherwise; taxonomy v2 only) and geometry
        (points; LineStrings for roads; polygons for buildings and land use).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the file is truncated, corrupt or not an OSM file.

    Examples
    --------
    >>> from s2vec_geo.taxonomy import load_taxonomy
    >>> gdf = read_osm("examples/data/helsinki.osm.pbf", load_taxonomy())
    >>> sorted(set(gdf["kind"]))
    ['node', 'poi', 'road']
    """
    path = _existing(path)
    bbox = validate_bbox(bbox)
    keys = osmium.filter.KeyFilter(*taxonomy.tag_keys)
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas(osmium.filter.KeyFilter(*taxonomy.area_keys))
        .with_filter(keys)
    )
    collector = _Collector(taxonomy)
    try:
        bar = progress(desc=f"reading {path.name}", unit=" objects")
        seen = 0
        for obj in processor:
            if obj.is_node():
                collector.node(obj)
            elif obj.is_way():
                collector.way(obj)
            elif obj.is_area():
                collector.area(obj)
            seen += 1
            if seen % 4096 == 0:
                bar.update(4096)
        bar.update(seen % 4096)
        bar.close()
    except RuntimeError as exc:
        raise ValueError(
            f"cannot read OSM file {str(path)!r}: {exc}; the file is truncated, corrupt or "
            "not in an OSM format (re-download it or check it with `osmium fileinfo`)"
        ) from exc
    if collector.skipped_ways or collector.missing_nodes:
        log.warning(
            "%s: %d way node(s) missing from the file were ignored; %d way(s)/relation(s) "
            "without a usable geometry were skipped",
            path.name,
            collector.missing_nodes,
            collector.skipped_ways,
        )
    frame = collector.frame(bbox)
    log.info(
        "%s: %d POIs, %d roads, %d road nodes, %d buildings, %d land-use polygons",
        path.name,
        *(int((frame["kind"] == k).sum()) for k in ("poi", "road", "node", "building", "landuse")),
    )
    return frame
