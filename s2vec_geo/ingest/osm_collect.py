"""OSM objects to features by the taxonomy's rules, whatever file format they come from.

:class:`OsmFeatures` receives OSM objects one at a time -- a node's location
and tags, a way's node ids (or any vertex identity) and coordinates, a
multipolygon relation's polygon -- and keeps, in compact arrays, what the
taxonomy makes of them. The PBF reader (:mod:`s2vec_geo.ingest.osm`, pyosmium)
and the QuackOSM GeoParquet reader (:mod:`s2vec_geo.ingest.osm_parquet`) both
feed it, so both apply one set of rules (see the taxonomy's ``description``):

- POI: a node, way or multipolygon relation the taxonomy assigns a POI
  category; ways and relations are counted at ``shapely.point_on_surface`` of
  their polygon (a closed way: at least 4 vertices, the first equal to the
  last) or line (an open way); invalid polygons are repaired first.
- road: a way whose ``highway`` value maps to a road class and that is not an
  area (``area=yes``); kept as a LineString.
- lines and polygons crossing the antimeridian are cut there into their parts
  on each side (:mod:`s2vec_geo.s2.antimeridian`): such a road is a
  MultiLineString, a POI's point lies on one of its parts.
- ``intersections``: road-graph vertices of degree >= 3 among road classes
  marked ``"intersections": true`` (an interior way vertex adds 2, a way end
  adds 1; see :mod:`s2vec_geo.ingest.roadgraph`).
- node features such as ``traffic_signals``: nodes with the listed tags.
- buildings and land use (taxonomy v2): closed ways and multipolygon
  relations the taxonomy assigns a building or land-use class, kept as
  polygons (see :mod:`s2vec_geo.ingest.polygons`) with the building's floor
  ``levels``.

Ways with fewer than two located vertices are skipped and counted.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from s2vec_geo.ingest.bbox import BBox, clip_to_bbox
from s2vec_geo.ingest.polygons import AreaPolygons
from s2vec_geo.ingest.roadgraph import intersections
from s2vec_geo.ingest.taxonomy.tags import INTERSECTIONS, Taxonomy
from s2vec_geo.s2.antimeridian import split_antimeridian

log = logging.getLogger(__name__)

#: ``osm_id`` of derived intersections when the vertices have no OSM node id.
UNKNOWN_ID = -1


@dataclass(frozen=True)
class ObjectClasses:
    """What the taxonomy makes of one way or relation: road class, POI category, areas."""

    road: str | None
    poi: str | None
    areas: list[tuple[str, str, float]]


class OsmFeatures:
    """Kept features of a stream of OSM objects, in compact arrays.

    Parameters
    ----------
    taxonomy
        The tag mapping.
    node_ids
        Whether the way vertex identities given to :meth:`way` are OSM node
        ids (then they are the ``osm_id`` of derived intersections); else
        those intersections get ``osm_id`` :data:`UNKNOWN_ID`.

    Examples
    --------
    >>> from s2vec_geo.ingest.taxonomy.tags import load_taxonomy
    >>> f = OsmFeatures(load_taxonomy())
    >>> f.node(9, 25.0, 60.0, {"amenity": "cafe"})
    >>> road = f.way_classes({"highway": "residential"})
    >>> for way, refs in ((1, [1, 2, 3]), (2, [2, 4])):
    ...     f.way(way, road, refs, [24.0 + r for r in refs], [60.0] * len(refs))
    >>> f.frame(None)[["category", "kind", "osm_id"]].values.tolist()
    [['cafe', 'poi', 9], ['residential', 'road', 1], ['residential', 'road', 2], \
['intersections', 'node', 2]]
    """

    def __init__(self, taxonomy: Taxonomy, node_ids: bool = True) -> None:
        self.tax = taxonomy
        self.node_ids = node_ids
        # points: POIs and tagged nodes
        self.px, self.py = array("d"), array("d")
        self.pcat: list[str] = []
        self.pkind: list[str] = []
        self.pid, self.ptype = array("q"), []
        # POIs of ways/relations waiting to be reduced to a point, and those reduced
        self.shapes: list[shapely.Geometry] = []
        self.scat: list[str] = []
        self.sid, self.stype = array("q"), []
        self.settled: list[tuple[np.ndarray, list[str], np.ndarray, list[str]]] = []
        # roads: flat coordinates, one entry per located way vertex
        self.rx, self.ry, self.rref, self.rway = array("d"), array("d"), array("q"), array("q")
        self.rcat: list[str] = []
        self.rid = array("q")
        self.rgraph: list[bool] = []
        # buildings and land use, as polygons
        self.areas = AreaPolygons(taxonomy)
        self.skipped_ways = 0
        self.missing_nodes = 0
        self.repaired_pois = 0

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """Every tag key the rules read: the taxonomy's, and ``area`` (roads that are areas)."""
        return tuple(dict.fromkeys((*self.tax.tag_keys, "area")))

    def node(self, osm_id: int, lon: float, lat: float, tags: Mapping[str, str]) -> None:
        """A located node: a POI, a node feature, both or neither."""
        for kind, category in (
            ("poi", self.tax.classify_poi(tags)),
            ("node", self.tax.classify_node(tags)),
        ):
            if category is not None:
                self.px.append(lon)
                self.py.append(lat)
                self.pcat.append(category)
                self.pkind.append(kind)
                self.pid.append(osm_id)
                self.ptype.append("n")

    def way_classes(self, tags: Mapping[str, str]) -> ObjectClasses | None:
        """A way's road class, POI category and areas, or ``None`` when it is nothing."""
        road = None if tags.get("area") == "yes" else self.tax.classify_road(tags.get("highway"))
        poi = self.tax.classify_poi(tags)
        areas = self.areas.classes(tags)
        if road is None and poi is None and not areas:
            return None
        return ObjectClasses(road, poi, areas)

    def relation_classes(self, tags: Mapping[str, str]) -> ObjectClasses | None:
        """A multipolygon relation's POI category and areas (never a road), or ``None``."""
        poi = self.tax.classify_poi(tags)
        areas = self.areas.classes(tags)
        return None if poi is None and not areas else ObjectClasses(None, poi, areas)

    def way(
        self,
        osm_id: int,
        classes: ObjectClasses,
        refs: Sequence[int],
        xs: Sequence[float],
        ys: Sequence[float],
    ) -> None:
        """A classified way given by its located vertices (identities and coordinates)."""
        if len(refs) < 2:
            self.skipped_ways += 1
            return
        if classes.road is not None:
            way_index = len(self.rcat)
            self.rx.extend(xs)
            self.ry.extend(ys)
            self.rref.extend(refs)
            self.rway.extend([way_index] * len(refs))
            self.rcat.append(classes.road)
            self.rid.append(osm_id)
            self.rgraph.append(classes.road in self.tax.intersection_classes)
        closed = len(refs) >= 4 and refs[0] == refs[-1]
        if classes.poi is not None or (classes.areas and closed):
            coords = np.column_stack([xs, ys])
            shape = shapely.Polygon(coords) if closed else shapely.LineString(coords)
            if classes.poi is not None:
                self._shape(shape, classes.poi, osm_id, "w")
            if classes.areas and closed:  # open ways have no area
                self.areas.add(shape, classes.areas, osm_id, "w")

    def polygon(
        self, osm_id: int, classes: ObjectClasses, shape: shapely.Geometry, osm_type: str = "r"
    ) -> None:
        """A classified object given by its (multi)polygon: a multipolygon relation.

        Its POI and areas are kept (``classes.road`` is not: roads are ways'
        vertex lines, see :meth:`way`).
        """
        if classes.poi is not None:
            self._shape(shape, classes.poi, osm_id, osm_type)
        self.areas.add(shape, classes.areas, osm_id, osm_type)

    def _shape(self, shape: shapely.Geometry, category: str, osm_id: int, osm_type: str) -> None:
        self.shapes.append(shape)
        self.scat.append(category)
        self.sid.append(osm_id)
        self.stype.append(osm_type)

    def settle(self) -> None:
        """Reduce the POI polygons and lines kept so far to their points (bounds memory)."""
        if not self.shapes:
            return
        shapes = split_antimeridian(np.asarray(self.shapes, dtype=object))
        invalid = ~shapely.is_valid(shapes)
        if invalid.any():
            self.repaired_pois += int(invalid.sum())
            shapes[invalid] = shapely.make_valid(shapes[invalid])
        reps = shapely.point_on_surface(shapes)
        self.settled.append((reps, self.scat, _np(self.sid).copy(), self.stype))
        self.shapes, self.scat, self.sid, self.stype = [], [], array("q"), []

    def frame(self, bbox: BBox | None) -> gpd.GeoDataFrame:
        """The features frame of everything kept (see :mod:`s2vec_geo.ingest`)."""
        self.settle()
        if self.repaired_pois:
            log.info("repaired %d invalid POI polygon(s) with make_valid", self.repaired_pois)
        points = shapely.points(_np(self.px), _np(self.py))
        roads, road_keep = self._roads()
        inter, inter_keys = self._intersections()
        inter_ids = inter_keys if self.node_ids else np.full(len(inter), UNKNOWN_ID)
        parts = [
            (points, self.pcat, self.pkind, _np(self.pid), self.ptype),
            *((reps, cat, ["poi"] * len(reps), ids, kind) for reps, cat, ids, kind in self.settled),
            (
                roads,
                np.asarray(self.rcat, dtype=object)[road_keep],
                ["road"] * len(roads),
                _np(self.rid)[road_keep],
                ["w"] * len(roads),
            ),
            (
                inter,
                [INTERSECTIONS] * len(inter),
                ["node"] * len(inter),
                inter_ids,
                ["n"] * len(inter),
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
        """Road lines; ways whose located vertices collapse to one point are dropped."""
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
        return split_antimeridian(np.asarray(lines, dtype=object)), keep

    def _intersections(self) -> tuple[np.ndarray, np.ndarray]:
        """Road-graph vertices of degree >= 3 among the intersection road classes."""
        way = _np(self.rway)
        if INTERSECTIONS not in self.tax.node_features:
            way = way[:0]
        in_graph = np.asarray(self.rgraph, dtype=bool)[way] if len(way) else way.astype(bool)
        return intersections(
            _np(self.rref)[in_graph], way[in_graph], _np(self.rx)[in_graph], _np(self.ry)[in_graph]
        )


def log_counts(name: str, frame: gpd.GeoDataFrame) -> None:
    """Log how many features of each kind a reader kept from ``name``."""
    log.info(
        "%s: %d POIs, %d roads, %d road nodes, %d buildings, %d land-use polygons",
        name,
        *(int((frame["kind"] == k).sum()) for k in ("poi", "road", "node", "building", "landuse")),
    )


def _np(values: array) -> np.ndarray:
    """A NumPy view of a typed ``array.array`` (empty arrays included)."""
    dtype = np.float64 if values.typecode == "d" else np.int64
    return np.frombuffer(values, dtype) if len(values) else np.empty(0, dtype)
