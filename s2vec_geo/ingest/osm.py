"""Reading OpenStreetMap ``.osm.pbf`` and ``.osm`` XML files with pyosmium.

The file is streamed once (twice when multipolygon relations are assembled):
libosmium keeps node locations and pre-filters objects by the taxonomy's
keys in C++, and Python sees only tagged objects, which
:class:`~s2vec_geo.ingest.osm_collect.OsmFeatures` classifies (the rules are
in :mod:`s2vec_geo.ingest.osm_collect`; road-graph vertices are identified by
OSM node id). What is kept per feature is one point for a POI, the
coordinates of a road way, one point per node feature and the polygons of
buildings and land use. Memory therefore grows with the features kept plus
libosmium's node-location index, not with the rest of the file.

Ways referencing nodes missing from the file lose those nodes; ways left with
fewer than two located nodes are skipped, and the count is logged. A tag
value that is not valid UTF-8 (a broken editor, a damaged file) is read as
absent, and the objects holding one are counted in the log: the rest of the
file is read as usual.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import osmium
import shapely

from s2vec_geo.core.progress import progress
from s2vec_geo.ingest.bbox import BBox, validate_bbox
from s2vec_geo.ingest.osm_collect import OsmFeatures, log_counts
from s2vec_geo.ingest.taxonomy.tags import Taxonomy

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


class DecodedTags:
    """An OSM object's tags, read by key, with values that are not valid UTF-8 left out.

    pyosmium decodes a value when it is read and raises ``UnicodeDecodeError``
    on bytes that are not UTF-8; here such a value is absent (``get`` gives
    the default), and ``counts[key]`` goes up by one the first time this
    object's value of ``key`` fails.

    Examples
    --------
    >>> counts = Counter()
    >>> tags = DecodedTags({"amenity": "cafe"}, counts)
    >>> tags.get("amenity"), tags.get("shop"), "amenity" in tags, counts
    ('cafe', None, True, Counter())
    """

    def __init__(self, tags: Mapping[str, str] | osmium.osm.TagList, counts: Counter) -> None:
        self.tags = tags
        self.counts = counts
        self.failed: set[str] = set()

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of ``key``; ``default`` when absent or not valid UTF-8."""
        try:
            return self.tags.get(key, default)
        except UnicodeDecodeError:
            if key not in self.failed:
                self.failed.add(key)
                self.counts[key] += 1
            return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None


class _Reader:
    """Hands pyosmium's objects to :class:`OsmFeatures` as node ids, coordinates and shapes."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.features = OsmFeatures(taxonomy)
        self.wkb = osmium.geom.WKBFactory()
        self.undecodable: Counter = Counter()
        """Tag values the taxonomy read that are not valid UTF-8, by key."""

    def tags(self, obj: osmium.osm.OSMObject) -> DecodedTags:
        """The object's tags, bad values counted in :attr:`undecodable`."""
        return DecodedTags(obj.tags, self.undecodable)

    def node(self, obj: osmium.osm.Node) -> None:
        loc = obj.location
        if loc.valid():
            self.features.node(obj.id, loc.lon, loc.lat, self.tags(obj))

    def way(self, obj: osmium.osm.Way) -> None:
        classes = self.features.way_classes(self.tags(obj))
        if classes is None:
            return
        xs, ys, refs = [], [], []
        for nd in obj.nodes:
            loc = nd.location
            if loc.valid():
                xs.append(loc.lon)
                ys.append(loc.lat)
                refs.append(nd.ref)
        self.features.missing_nodes += len(obj.nodes) - len(refs)
        self.features.way(obj.id, classes, refs, xs, ys)

    def area(self, obj: osmium.osm.Area) -> None:
        if obj.from_way():  # closed ways are handled in way()
            return
        classes = self.features.relation_classes(self.tags(obj))
        if classes is None:
            return
        try:
            shape = shapely.from_wkb(self.wkb.create_multipolygon(obj), on_invalid="fix")
        except RuntimeError:  # an unassemblable multipolygon: no geometry
            self.features.skipped_ways += 1
            return
        self.features.polygon(obj.orig_id(), classes, shape)


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
        (points; LineStrings for roads, MultiLineStrings where cut at the
        antimeridian; polygons for buildings and land use).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the file is truncated, corrupt or not an OSM file.

    Examples
    --------
    >>> from s2vec_geo.ingest.taxonomy.tags import load_taxonomy
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
    reader = _Reader(taxonomy)
    try:
        bar = progress(desc=f"reading {path.name}", unit=" objects")
        seen = 0
        for obj in processor:
            if obj.is_node():
                reader.node(obj)
            elif obj.is_way():
                reader.way(obj)
            elif obj.is_area():
                reader.area(obj)
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
    collected = reader.features
    frame = collected.frame(bbox)
    if collected.skipped_ways or collected.missing_nodes:
        log.warning(
            "%s: %d way node(s) missing from the file were ignored; %d way(s)/relation(s) "
            "without a usable geometry were skipped",
            path.name,
            collected.missing_nodes,
            collected.skipped_ways,
        )
    if reader.undecodable:
        log.warning(
            "%s: %d tag value(s) that are not valid UTF-8 were read as absent (keys: %s); "
            "re-download or repair the file to count those objects too",
            path.name,
            reader.undecodable.total(),
            ", ".join(sorted(reader.undecodable)),
        )
    log_counts(path.name, frame)
    return frame
