"""The feature taxonomy: OSM tags -> POI categories, road classes, node features, areas.

A taxonomy is a versioned JSON document; its ``description`` and ``columns``
fields document the matching rules and the column order. Two are bundled:
``v1`` (``s2vec_geo/data/taxonomy_v1.json``, the default: POIs, roads and road
nodes) and ``v2`` (``taxonomy_v2.json``: v1's rules unchanged plus building
footprints and land use, see :mod:`s2vec_geo.ingest.taxonomy.areas`). A taxonomy
fixes the feature columns of every cell layer, so a model trained on one
area applies to another. Users may load their own mapping with
:func:`load_taxonomy`. Changing a taxonomy's content must change its
``version``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from s2vec_geo.ingest.taxonomy.areas import AreaRules, parse_area_rules

DEFAULT_TAXONOMY = "taxonomy_v1.json"
#: Bundled taxonomies by name (``load_taxonomy("v2")``).
BUNDLED = {"v1": DEFAULT_TAXONOMY, "v2": "taxonomy_v2.json"}

#: Node feature name for road-graph intersections (computed, never tagged).
INTERSECTIONS = "intersections"


def poi_column(category: str) -> str:
    """Column name of a POI category count.

    Examples
    --------
    >>> poi_column("cafe")
    'poi_cafe'
    """
    return f"poi_{category}"


def road_count_column(road_class: str) -> str:
    """Column name of the number of road ways of a class in a cell.

    Examples
    --------
    >>> road_count_column("primary")
    'road_count_primary'
    """
    return f"road_count_{road_class}"


def road_length_column(road_class: str) -> str:
    """Column name of the road length (metres) of a class in a cell.

    Examples
    --------
    >>> road_length_column("primary")
    'road_length_m_primary'
    """
    return f"road_length_m_{road_class}"


def feature_column_names(
    poi_categories: Sequence[str],
    road_classes: Sequence[str],
    node_features: Sequence[str],
    building_classes: Sequence[str] = (),
    landuse_classes: Sequence[str] = (),
) -> list[str]:
    """The ordered feature columns for the given categories, classes and node features.

    Order: ``poi_<category>`` ..., ``road_count_<class>`` ...,
    ``road_length_m_<class>`` ..., the node feature names, then (taxonomy v2)
    ``building_count_<class>`` ..., ``building_area_m2_<class>`` ...,
    ``building_floor_area_m2_<class>`` ... and ``landuse_area_m2_<class>`` ....

    Examples
    --------
    >>> feature_column_names(["cafe"], ["primary"], ["intersections"])
    ['poi_cafe', 'road_count_primary', 'road_length_m_primary', 'intersections']
    >>> feature_column_names([], [], [], ["civic"], ["forest"])
    ['building_count_civic', 'building_area_m2_civic', 'building_floor_area_m2_civic', \
'landuse_area_m2_forest']
    """
    return (
        [poi_column(c) for c in poi_categories]
        + [road_count_column(r) for r in road_classes]
        + [road_length_column(r) for r in road_classes]
        + list(node_features)
        + [f"building_count_{b}" for b in building_classes]
        + [f"building_area_m2_{b}" for b in building_classes]
        + [f"building_floor_area_m2_{b}" for b in building_classes]
        + [f"landuse_area_m2_{u}" for u in landuse_classes]
    )


@dataclass(frozen=True)
class FeatureLists:
    """The names that make a cell layer's columns, in order, and the taxonomy version.

    From a taxonomy (:meth:`Taxonomy.feature_lists`) or, for features with
    their own categories, from the categories found in the data.

    Examples
    --------
    >>> FeatureLists(pois=("cafe",), nodes=("intersections",)).columns()
    ['poi_cafe', 'intersections']
    """

    pois: tuple[str, ...] = ()
    roads: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    buildings: tuple[str, ...] = ()
    landuse: tuple[str, ...] = ()
    version: str | None = None

    @property
    def points(self) -> tuple[str, ...]:
        """POI categories then node features: the codes of point counts."""
        return self.pois + self.nodes

    def columns(self) -> list[str]:
        """The feature columns (see :func:`feature_column_names`)."""
        return feature_column_names(self.pois, self.roads, self.nodes, self.buildings, self.landuse)


def _fail(source: str, problem: str) -> ValueError:
    return ValueError(
        f"invalid taxonomy {source}: {problem}; fix the mapping (see the bundled "
        f"s2vec_geo/data/{DEFAULT_TAXONOMY} for the expected layout)"
    )


def _str_list(value: Any, what: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(source, f"{what} must be a list of non-empty strings")
    return tuple(value)


@dataclass(frozen=True)
class Taxonomy:
    """A parsed, validated tag mapping; build it with :func:`load_taxonomy`.

    Attributes
    ----------
    name, version
        Identify the mapping; ``version`` is stored with every feature frame.
    poi_categories
        POI category names, in column order.
    road_classes
        Road class names, in column order.
    node_features
        Point road features (``intersections``, ``traffic_signals``, ...).
    tag_keys
        Every OSM key the taxonomy looks at (for pre-filtering input).
    building_classes, landuse_classes
        Building and land-use class names, in column order (empty in v1).
    """

    name: str
    version: str
    poi_keys: tuple[str, ...]
    poi_categories: tuple[str, ...]
    road_classes: tuple[str, ...]
    node_features: tuple[str, ...]
    intersection_classes: frozenset[str]
    ignore_values: frozenset[str]
    road_exclude: frozenset[str]
    digest: str
    _poi_tags: Mapping[tuple[str, str], str] = field(repr=False)
    _poi_other: Mapping[str, str] = field(repr=False)
    _tag_key_order: tuple[str, ...] = field(repr=False)
    _road_values: Mapping[str, str] = field(repr=False)
    _road_other: str | None = field(repr=False)
    _node_tags: Mapping[tuple[str, str], str] = field(repr=False)
    _areas: AreaRules = field(repr=False, default_factory=AreaRules)

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """All OSM keys used by POI, road, node, building or land-use rules."""
        keys = list(self._tag_key_order)
        keys += [k for k, _ in self._node_tags if k not in keys]
        if "highway" not in keys:
            keys.append("highway")
        keys += [k for k in self._areas.keys if k not in keys]
        return tuple(keys)

    @property
    def area_keys(self) -> tuple[str, ...]:
        """Keys that make a closed way or multipolygon relation a POI, building or land use."""
        extra = ("building",) if self.building_classes else ()
        extra += self._areas.landuse_keys
        return tuple(dict.fromkeys(self.poi_keys + extra))

    @property
    def building_classes(self) -> tuple[str, ...]:
        """Building class names, in column order (empty without building rules)."""
        return self._areas.building_classes

    @property
    def landuse_classes(self) -> tuple[str, ...]:
        """Land-use class names, in column order (empty without land-use rules)."""
        return self._areas.landuse_classes

    def feature_lists(self) -> FeatureLists:
        """The names of every feature column and this taxonomy's version.

        Examples
        --------
        >>> load_taxonomy("v2").feature_lists().landuse[:3]
        ('residential', 'commercial', 'industrial')
        """
        return FeatureLists(
            self.poi_categories,
            self.road_classes,
            self.node_features,
            self.building_classes,
            self.landuse_classes,
            self.version,
        )

    def feature_columns(self) -> list[str]:
        """The ordered feature columns of a cell layer built with this taxonomy.

        Examples
        --------
        >>> cols = load_taxonomy().feature_columns()
        >>> cols[0], cols[-1]
        ('poi_restaurant', 'traffic_signals')
        """
        return self.feature_lists().columns()

    def classify_poi(self, tags: Mapping[str, str]) -> str | None:
        """The POI category of an OSM object's tags, or ``None`` when it is no POI.

        Examples
        --------
        >>> tax = load_taxonomy()
        >>> tax.classify_poi({"amenity": "cafe", "name": "Kahvila"})
        'cafe'
        >>> tax.classify_poi({"shop": "yes"})
        'shop_other'
        >>> tax.classify_poi({"building": "yes"}) is None
        True
        """
        ignore = self.ignore_values
        for key in self._tag_key_order:
            value = tags.get(key)
            if value is not None and value not in ignore:
                category = self._poi_tags.get((key, value))
                if category is not None:
                    return category
        for key in self.poi_keys:
            value = tags.get(key)
            if value is not None and value not in ignore:
                return self._poi_other[key]
        return None

    def classify_road(self, highway: str | None) -> str | None:
        """The road class of a way's ``highway`` value, or ``None`` when it is no road.

        Examples
        --------
        >>> tax = load_taxonomy()
        >>> tax.classify_road("primary_link"), tax.classify_road("busway")
        ('primary', 'other')
        >>> tax.classify_road("proposed") is None
        True
        """
        if highway is None or highway in self.road_exclude:
            return None
        return self._road_values.get(highway, self._road_other)

    def classify_node(self, tags: Mapping[str, str]) -> str | None:
        """The tagged node feature (e.g. ``traffic_signals``) of a node, if any.

        Examples
        --------
        >>> load_taxonomy().classify_node({"highway": "traffic_signals"})
        'traffic_signals'
        """
        for (key, value), feature in self._node_tags.items():
            if tags.get(key) == value:
                return feature
        return None

    def classify_building(self, tags: Mapping[str, str]) -> tuple[str, float] | None:
        """The building class and floor levels of a polygon's tags, or ``None``.

        See :mod:`s2vec_geo.ingest.taxonomy.areas` for the rules (levels are tagged,
        from the height, or estimated from the building value or class).

        Examples
        --------
        >>> tax = load_taxonomy("v2")
        >>> tax.classify_building({"building": "apartments", "building:levels": "6"})
        ('residential', 6.0)
        >>> tax.classify_building({"building": "yes", "amenity": "school"})
        ('civic', 2.0)
        >>> load_taxonomy().classify_building({"building": "yes"}) is None  # v1: no buildings
        True
        """
        found = self._areas.classify_building(tags)
        return None if found is None else (found, self._areas.building_levels(tags, found))

    def building_levels(self, tags: Mapping[str, str], building_class: str) -> float:
        """Floor levels of a building of a known class: tagged, from its height, or estimated.

        Examples
        --------
        >>> tax = load_taxonomy("v2")
        >>> tax.building_levels({"height": "10 m"}, "civic"), tax.building_levels({}, "civic")
        (3.0, 2.0)
        """
        return self._areas.building_levels(tags, building_class)

    @property
    def levels_tags(self) -> tuple[str, str]:
        """The tags holding a building's floor levels and its height (``building:levels``, ...)."""
        return self._areas.levels_tag, self._areas.height_tag

    def classify_areas(self, tags: Mapping[str, str]) -> list[tuple[str, str, float]]:
        """``(kind, class, floor levels)`` of a polygon: a building, land use, both or neither.

        Examples
        --------
        >>> load_taxonomy("v2").classify_areas({"building": "house", "landuse": "residential"})
        [('building', 'residential', 2.0), ('landuse', 'residential', nan)]
        """
        found: list[tuple[str, str, float]] = []
        building = self.classify_building(tags)
        if building is not None:
            found.append(("building", *building))
        landuse = self.classify_landuse(tags)
        if landuse is not None:
            found.append(("landuse", landuse, math.nan))
        return found

    def classify_landuse(self, tags: Mapping[str, str]) -> str | None:
        """The land-use class of a polygon's tags, or ``None`` when it is no land use.

        Examples
        --------
        >>> tax = load_taxonomy("v2")
        >>> tax.classify_landuse({"natural": "wood"}), tax.classify_landuse({"landuse": "military"})
        ('forest', 'other')
        """
        return self._areas.classify_landuse(tags)


def _check_distinct(lists: FeatureLists, source: str) -> None:
    """Reject names that would make two features share a column or a category name.

    POIs and road nodes are both points, told apart by their category name
    only, so a POI category may not be named like a node feature; and no two
    features may get the same column (e.g. a node feature named ``poi_cafe``).
    """
    shared = sorted(set(lists.pois) & set(lists.nodes))
    if shared:
        raise _fail(source, f"{shared[0]!r} is both a POI category and a node feature")
    seen: set[str] = set()
    for column in lists.columns():
        if column in seen:
            raise _fail(source, f"two features make the feature column {column!r} twice")
        seen.add(column)


def _poi_rules(doc: Mapping[str, Any], poi_keys: tuple[str, ...], source: str) -> dict[str, Any]:
    """:class:`Taxonomy` fields of the POI categories."""
    names: list[str] = []
    poi_tags: dict[tuple[str, str], str] = {}
    poi_other: dict[str, str] = {}
    key_order = list(poi_keys)
    for entry in doc["poi_categories"]:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name.isidentifier():
            raise _fail(source, f"POI category name {name!r} is not a valid identifier")
        if name in names:
            raise _fail(source, f"POI category {name!r} is defined twice")
        names.append(name)
        if "other_of" in entry:
            key = entry["other_of"]
            if key not in poi_keys or key in poi_other:
                raise _fail(source, f"{name!r}: other_of {key!r} must be a poi_key used once")
            poi_other[key] = name
            continue
        tags = entry.get("tags")
        if not isinstance(tags, Mapping) or not tags:
            raise _fail(source, f"POI category {name!r} needs 'tags' or 'other_of'")
        for key, values in tags.items():
            for value in _str_list(values, f"{name!r} tag {key!r}", source):
                if (key, value) in poi_tags:
                    raise _fail(
                        source,
                        f"{key}={value} maps to both {poi_tags[key, value]!r} and {name!r}",
                    )
                poi_tags[key, value] = name
            if key not in key_order:
                key_order.append(key)
    missing_other = [k for k in poi_keys if k not in poi_other]
    if missing_other:
        raise _fail(source, f"poi_keys {missing_other} have no '<key>_other' category")
    return {
        "poi_categories": tuple(names),
        "_poi_tags": poi_tags,
        "_poi_other": poi_other,
        "_tag_key_order": tuple(key_order),
    }


def _road_rules(doc: Mapping[str, Any], source: str) -> dict[str, Any]:
    """:class:`Taxonomy` fields of the road classes."""
    road_names: list[str] = []
    road_values: dict[str, str] = {}
    road_other: str | None = None
    intersection_classes: set[str] = set()
    for entry in doc["road_classes"]:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name.isidentifier() or name in road_names:
            raise _fail(source, f"road class name {name!r} is invalid or repeated")
        road_names.append(name)
        if entry.get("intersections", False):
            intersection_classes.add(name)
        if entry.get("other", False):
            if road_other is not None:
                raise _fail(source, 'only one road class may have "other": true')
            road_other = name
            continue
        for value in _str_list(entry.get("highway"), f"road class {name!r} 'highway'", source):
            if value in road_values:
                raise _fail(source, f"highway={value} is in two road classes")
            road_values[value] = name
    return {
        "road_classes": tuple(road_names),
        "intersection_classes": frozenset(intersection_classes),
        "_road_values": road_values,
        "_road_other": road_other,
    }


def _node_rules(doc: Mapping[str, Any], source: str) -> dict[str, Any]:
    """:class:`Taxonomy` fields of the node features."""
    node_names: list[str] = []
    node_tags: dict[tuple[str, str], str] = {}
    for entry in doc.get("node_features", []):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name.isidentifier() or name in node_names:
            raise _fail(source, f"node feature name {name!r} is invalid or repeated")
        node_names.append(name)
        for key, values in entry.get("tags", {}).items():
            for value in _str_list(values, f"node feature {name!r} tag {key!r}", source):
                node_tags[key, value] = name
        if name != INTERSECTIONS and not entry.get("tags"):
            raise _fail(source, f"node feature {name!r} needs 'tags'")
    return {"node_features": tuple(node_names), "_node_tags": node_tags}


def _parse(doc: Mapping[str, Any], source: str) -> Taxonomy:
    if not isinstance(doc, Mapping):
        raise _fail(source, "the top level must be a JSON object")
    for required in ("name", "version", "poi_keys", "poi_categories", "road_classes"):
        if required not in doc:
            raise _fail(source, f"missing field {required!r}")
    version = doc["version"]
    if not isinstance(version, str) or not version:
        raise _fail(source, "'version' must be a non-empty string")
    poi_keys = _str_list(doc["poi_keys"], "'poi_keys'", source)
    ignore = frozenset(_str_list(doc.get("ignore_values", []), "'ignore_values'", source))
    fields = {
        **_poi_rules(doc, poi_keys, source),
        **_road_rules(doc, source),
        **_node_rules(doc, source),
    }
    areas = parse_area_rules(doc, ignore, lambda problem: _fail(source, problem))
    lists = FeatureLists(
        fields["poi_categories"],
        fields["road_classes"],
        fields["node_features"],
        areas.building_classes,
        areas.landuse_classes,
    )
    _check_distinct(lists, source)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return Taxonomy(
        name=str(doc["name"]),
        version=version,
        poi_keys=poi_keys,
        ignore_values=ignore,
        road_exclude=frozenset(_str_list(doc.get("road_exclude", []), "'road_exclude'", source)),
        digest=hashlib.sha256(canonical).hexdigest(),
        _areas=areas,
        **fields,
    )


def load_taxonomy(
    mapping: str | os.PathLike | Mapping[str, Any] | Taxonomy | None = None,
) -> Taxonomy:
    """Load a taxonomy: the bundled default, a JSON file, or an in-memory mapping.

    Parameters
    ----------
    mapping
        ``None`` or ``"v1"`` for the bundled ``taxonomy_v1.json``, ``"v2"``
        for ``taxonomy_v2.json`` (v1 plus buildings and land use); a path to
        a JSON file with the same layout; a dict with that layout; or a
        :class:`Taxonomy` (returned unchanged).

    Returns
    -------
    Taxonomy

    Raises
    ------
    FileNotFoundError
        When the JSON file does not exist.
    ValueError
        When the document is not valid JSON or breaks the layout rules
        (the message names the offending entry).

    Examples
    --------
    >>> tax = load_taxonomy()
    >>> tax.version, len(tax.poi_categories) > 100
    ('1', True)
    >>> load_taxonomy("v2").building_classes
    ('residential', 'commercial', 'industrial', 'civic', 'other')
    """
    if isinstance(mapping, Taxonomy):
        return mapping
    name = BUNDLED.get("v1" if mapping is None else str(mapping))
    if name is not None and (mapping is None or isinstance(mapping, str)):
        text = resources.files("s2vec_geo").joinpath("data", name).read_text("utf-8")
        return _parse(json.loads(text), name)
    if isinstance(mapping, Mapping):
        return _parse(mapping, "(mapping)")
    path = Path(mapping)
    if not path.is_file():
        raise FileNotFoundError(
            f"taxonomy file {str(path)!r} does not exist; give a bundled taxonomy "
            f"({', '.join(BUNDLED)}) or the path of a taxonomy JSON file"
        )
    try:
        doc = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise _fail(repr(str(path)), f"not valid JSON ({exc})") from exc
    return _parse(doc, repr(str(path)))


def taxonomy_for(taxonomy: Any, version: str | None) -> Taxonomy:
    """The taxonomy to featurize with: the one given, else the bundled one of ``version``.

    Features read with a bundled taxonomy carry its version; featurizing them
    without naming a taxonomy uses the same one (v1 when the version is not
    a bundled one's).

    Examples
    --------
    >>> taxonomy_for(None, "2").version, taxonomy_for("v1", "2").version
    ('2', '1')
    """
    if taxonomy is not None:
        return load_taxonomy(taxonomy)
    name = f"v{version}"
    return load_taxonomy(name if name in BUNDLED else None)
