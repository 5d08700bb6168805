"""The bundled taxonomy: coverage, matching rules, versioning and custom mappings."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest

import s2vec_geo
from s2vec_geo.ingest.taxonomy.tags import load_taxonomy

EXPECTED = Path(__file__).parent / "expected" / "taxonomy.json"
EXPECTED_V2 = Path(__file__).parent / "expected" / "taxonomy_v2.json"


@pytest.fixture(scope="module")
def tax() -> s2vec_geo.Taxonomy:
    return load_taxonomy()


def bundled_doc() -> dict:
    text = resources.files("s2vec_geo").joinpath("data", "taxonomy_v1.json").read_text("utf-8")
    return json.loads(text)


def test_content_change_requires_version_change(tax: s2vec_geo.Taxonomy) -> None:
    # Editing the taxonomy must bump its version and the stored expectations together:
    # regenerate with S2VEC_UPDATE_EXPECTED=1 after bumping "version".
    expected = json.loads(EXPECTED.read_text())
    assert tax.version == expected["version"], "taxonomy version changed: update expectations"
    assert tax.digest == expected["sha256"], (
        "taxonomy content changed without a version bump: raise 'version' in "
        "taxonomy_v1.json and regenerate tests/expected (S2VEC_UPDATE_EXPECTED=1)"
    )


def test_v2_is_pinned_to_its_content_and_keeps_v1_rules(tax: s2vec_geo.Taxonomy) -> None:
    v2 = load_taxonomy("v2")
    expected = json.loads(EXPECTED_V2.read_text())
    assert (v2.version, v2.digest) == (expected["version"], expected["sha256"]), (
        "taxonomy_v2.json changed without a version bump: raise 'version' and regenerate "
        "tests/expected/taxonomy_v2.json"
    )
    assert load_taxonomy("v1").digest == tax.digest  # "v1" is the default
    v1_columns = tax.feature_columns()
    assert v2.feature_columns()[: len(v1_columns)] == v1_columns
    added = v2.feature_columns()[len(v1_columns) :]
    assert added[:2] == ["building_count_residential", "building_count_commercial"]
    assert "building_floor_area_m2_civic" in added and added[-1] == "landuse_area_m2_other"
    for tags in ({"amenity": "cafe"}, {"shop": "yes"}, {"highway": "bus_stop"}):
        assert v2.classify_poi(tags) == tax.classify_poi(tags)
    assert v2.tag_keys[: len(tax.tag_keys)] == tax.tag_keys
    assert tax.building_classes == tax.landuse_classes == ()


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"building": "apartments"}, ("residential", 4.0)),  # levels estimated by value
        ({"building": "apartments", "building:levels": "7"}, ("residential", 7.0)),
        ({"building": "house", "building:levels": "2;3"}, ("residential", 2.0)),  # first number
        ({"building": "retail", "height": "13.5 m"}, ("commercial", 5.0)),  # 13.5 / 3 -> 4.5 -> 5
        ({"building": "warehouse", "height": "30'"}, ("industrial", 3.0)),  # feet
        ({"building": "yes", "amenity": "school"}, ("civic", 2.0)),  # refined by other tags
        ({"building": "yes", "shop": "bakery"}, ("commercial", 2.0)),  # "*": any shop
        ({"building": "yes", "shop": "no"}, ("other", 1.0)),  # ignore_values never refine
        ({"building": "yes", "building:levels": "0"}, ("other", 1.0)),  # < 1 is not a level
        ({"building": "garage"}, ("other", 1.0)),
        ({"building": "no"}, None),
        ({"amenity": "school"}, None),
    ],
)
def test_v2_building_classes_and_floor_levels(tags: dict, expected: tuple | None) -> None:
    assert load_taxonomy("v2").classify_building(tags) == expected


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"landuse": "forest"}, "forest"),
        ({"natural": "wood"}, "forest"),
        ({"landuse": "residential", "leisure": "park"}, "residential"),  # landuse_keys order
        ({"leisure": "park"}, "grass"),
        ({"natural": "water", "water": "lake"}, "water"),
        ({"landuse": "meadow"}, "farmland"),
        ({"landuse": "military"}, "other"),  # any other landuse value
        ({"natural": "scrub"}, "other"),
        ({"natural": "tree_row"}, None),  # unlisted natural values are no land use
        ({"building": "yes"}, None),
    ],
)
def test_v2_landuse_classes(tags: dict, expected: str | None) -> None:
    assert load_taxonomy("v2").classify_landuse(tags) == expected


def test_covers_paper_scale_poi_categories_and_road_features(tax: s2vec_geo.Taxonomy) -> None:
    assert len(tax.poi_categories) >= 100
    for key in tax.poi_keys:  # an "other" bucket per key
        assert f"{key}_other" in tax.poi_categories
    for key in (
        "amenity",
        "shop",
        "tourism",
        "leisure",
        "office",
        "craft",
        "healthcare",
        "public_transport",
        "historic",
        "sport",
    ):
        assert key in tax.poi_keys
    assert {"motorway", "primary", "residential", "footway", "other"} <= set(tax.road_classes)
    assert tax.node_features == ("intersections", "traffic_signals")


def test_column_order_is_documented_scheme(tax: s2vec_geo.Taxonomy) -> None:
    cols = tax.feature_columns()
    n_poi, n_road = len(tax.poi_categories), len(tax.road_classes)
    assert len(cols) == len(set(cols)) == n_poi + 2 * n_road + len(tax.node_features)
    assert cols[:n_poi] == [f"poi_{c}" for c in tax.poi_categories]
    assert cols[n_poi : n_poi + n_road] == [f"road_count_{r}" for r in tax.road_classes]
    assert cols[n_poi + n_road : n_poi + 2 * n_road] == [
        f"road_length_m_{r}" for r in tax.road_classes
    ]
    assert cols[-2:] == ["intersections", "traffic_signals"]
    # the order follows the JSON document
    assert list(tax.poi_categories) == [c["name"] for c in bundled_doc()["poi_categories"]]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"amenity": "cafe", "name": "Fazer"}, "cafe"),
        ({"amenity": "pharmacy"}, "pharmacy"),
        ({"healthcare": "pharmacy"}, "pharmacy"),  # two keys, one category
        ({"shop": "yes"}, "shop_other"),  # per-key other bucket
        ({"amenity": "bench", "shop": "bakery"}, "bench"),  # poi_keys order decides
        ({"amenity": "nonexistent_value", "shop": "bakery"}, "bakery"),  # specific beats other
        ({"highway": "bus_stop"}, "transit_stop"),  # non-POI key with a specific tag
        ({"railway": "station", "public_transport": "station"}, "transit_station"),
        ({"sport": "boules"}, "sport_other"),
        ({"amenity": "no"}, None),  # ignore_values never count
        ({"building": "yes"}, None),
        ({"highway": "residential"}, None),  # roads are no POIs
    ],
)
def test_poi_matching_rules(tax: s2vec_geo.Taxonomy, tags: dict, expected: str | None) -> None:
    assert tax.classify_poi(tags) == expected


def test_road_and_node_rules(tax: s2vec_geo.Taxonomy) -> None:
    assert tax.classify_road("motorway_link") == "motorway"
    assert tax.classify_road("steps") == "footway"
    assert tax.classify_road("busway") == "other"
    assert tax.classify_road("proposed") is None
    assert tax.classify_road(None) is None
    assert tax.classify_node({"highway": "traffic_signals"}) == "traffic_signals"
    assert tax.classify_node({"highway": "crossing"}) is None
    assert "residential" in tax.intersection_classes
    assert "footway" not in tax.intersection_classes


TINY = {
    "name": "tiny",
    "version": "t1",
    "poi_keys": ["amenity"],
    "poi_categories": [
        {"name": "food", "tags": {"amenity": ["cafe", "restaurant"]}},
        {"name": "amenity_other", "other_of": "amenity"},
    ],
    "road_classes": [{"name": "any_road", "other": True, "intersections": True}],
}


def test_custom_mapping_drives_read_and_featurize(sample_pbf: Path) -> None:
    features = s2vec_geo.read_features(sample_pbf, taxonomy=TINY)
    assert set(features["category"]) == {"food", "amenity_other", "any_road"}  # no node features
    assert features.attrs["taxonomy_version"] == "t1"
    cells = s2vec_geo.featurize(features, level=14, taxonomy=TINY)
    assert s2vec_geo.feature_columns(cells) == [
        "poi_food",
        "poi_amenity_other",
        "road_count_any_road",
        "road_length_m_any_road",
    ]
    default = s2vec_geo.read_features(sample_pbf)
    n_food = int(default["category"].isin(["cafe", "restaurant"]).sum())
    assert int(cells["poi_food"].sum()) == n_food


def test_custom_mapping_from_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    assert load_taxonomy(path).poi_categories == ("food", "amenity_other")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("version"), "missing field 'version'"),
        (lambda d: d["poi_categories"].pop(), "no '<key>_other' category"),
        (lambda d: d["poi_categories"].append(dict(d["poi_categories"][0])), "defined twice"),
        (
            lambda d: d["poi_categories"].insert(
                0, {"name": "cafe_again", "tags": {"amenity": ["cafe"]}}
            ),
            "amenity=cafe maps to both",
        ),
        (lambda d: d["poi_categories"][0].update(name="bad name"), "not a valid identifier"),
        (
            lambda d: d.update(node_features=[{"name": "food", "tags": {"highway": ["stop"]}}]),
            "'food' is both a POI category and a node feature",
        ),
        (
            lambda d: d.update(node_features=[{"name": "poi_food", "tags": {"highway": ["x"]}}]),
            "feature column 'poi_food' twice",
        ),
    ],
)
def test_invalid_mappings_name_the_problem(edit, message: str) -> None:
    doc = json.loads(json.dumps(TINY))
    edit(doc)
    with pytest.raises(ValueError, match=message):
        load_taxonomy(doc)


AREAS = {
    "building_classes": [
        {"name": "home", "building": ["house"]},
        {"name": "rest", "other": True},
    ],
    "building_tag_order": ["amenity"],
    "landuse_keys": ["landuse"],
    "landuse_classes": [{"name": "wood", "tags": {"landuse": ["forest"]}}],
}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["building_classes"].pop(), 'exactly one class with "other": true'),
        (
            lambda d: d["building_classes"].insert(0, {"name": "x", "building": ["house"]}),
            "building=house is in two building classes",
        ),
        (
            lambda d: d["building_classes"][0].update(tags={"shop": ["*"]}),
            "uses key 'shop', which is not in",
        ),
        (
            lambda d: d["landuse_classes"].append({"name": "wood", "tags": {}}),
            "'wood' is invalid or repeated",
        ),
        (
            lambda d: d.update(building_levels={"default_levels_by_class": {"castle": 3}}),
            "unknown building classes ['castle']",
        ),
        (
            lambda d: d["landuse_classes"].append({"name": "poi_food", "tags": {}}),
            None,  # a distinct name is fine
        ),
    ],
)
def test_invalid_area_rules_name_the_problem(edit, message: str | None) -> None:
    doc = json.loads(json.dumps({**TINY, **AREAS}))
    edit(doc)
    if message is None:
        assert load_taxonomy(doc).landuse_classes == ("wood", "poi_food")
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        load_taxonomy(doc)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_taxonomy(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match=r"give a bundled taxonomy \(v1, v2\)"):
        load_taxonomy("v3")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_taxonomy(broken)
