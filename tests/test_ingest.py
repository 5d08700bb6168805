"""read_features: OSM PBF/XML, OGR sources, GeoDataFrames, cross-checks and bad input."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely

import s2vec_geo
from s2vec_geo.core.progress import progress
from s2vec_geo.ingest import ogr, osm, osm_header_bbox
from s2vec_geo.ingest.taxonomy.tags import load_taxonomy

REPO = Path(__file__).resolve().parents[1]
POIS_SHP = REPO / "examples" / "data" / "helsinki_pois.shp"
ROADS_SHP = REPO / "examples" / "data" / "helsinki_roads.shp"

# A hand-made OSM XML file whose answers are known: a T-junction at node 2, a
# crossroads at node 3 (end of way 100, interior of way 103), a footway that does not
# join the intersection graph, POIs as node, closed way and multipolygon relation, and
# a way whose nodes are missing from the file.
TOY_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="s2vec-geo test">
 <node id="1" version="1" lat="60.000" lon="25.000"/>
 <node id="2" version="1" lat="60.000" lon="25.001"/>
 <node id="3" version="1" lat="60.000" lon="25.002"/>
 <node id="4" version="1" lat="60.001" lon="25.001"/>
 <node id="5" version="1" lat="59.999" lon="25.001"/>
 <node id="6" version="1" lat="60.001" lon="25.002"/>
 <node id="7" version="1" lat="59.999" lon="25.002"/>
 <node id="8" version="1" lat="60.000" lon="25.0005"><tag k="highway" v="traffic_signals"/></node>
 <node id="9" version="1" lat="60.0002" lon="25.0002"><tag k="amenity" v="cafe"/></node>
 <node id="10" version="1" lat="60.0003" lon="25.0003"><tag k="amenity" v="no"/></node>
 <node id="11" version="1" lat="60.0004" lon="25.0004">
  <tag k="amenity" v="bench"/><tag k="shop" v="bakery"/></node>
 <node id="20" version="1" lat="60.0100" lon="25.0100"/>
 <node id="21" version="1" lat="60.0100" lon="25.0110"/>
 <node id="22" version="1" lat="60.0110" lon="25.0110"/>
 <node id="23" version="1" lat="60.0110" lon="25.0100"/>
 <node id="30" version="1" lat="60.0200" lon="25.0200"/>
 <node id="31" version="1" lat="60.0200" lon="25.0300"/>
 <node id="32" version="1" lat="60.0300" lon="25.0300"/>
 <node id="33" version="1" lat="60.0300" lon="25.0200"/>
 <way id="100" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
  <tag k="highway" v="residential"/></way>
 <way id="101" version="1"><nd ref="2"/><nd ref="4"/><tag k="highway" v="residential"/></way>
 <way id="102" version="1"><nd ref="2"/><nd ref="5"/><tag k="highway" v="footway"/></way>
 <way id="103" version="1"><nd ref="6"/><nd ref="3"/><nd ref="7"/>
  <tag k="highway" v="primary"/></way>
 <way id="104" version="1"><nd ref="20"/><nd ref="21"/><nd ref="22"/><nd ref="23"/>
  <nd ref="20"/><tag k="building" v="yes"/><tag k="amenity" v="restaurant"/></way>
 <way id="105" version="1"><nd ref="1"/><nd ref="99"/><tag k="highway" v="residential"/></way>
 <way id="106" version="1"><nd ref="30"/><nd ref="31"/><nd ref="32"/><nd ref="33"/>
  <nd ref="30"/></way>
 <way id="107" version="1"><nd ref="1"/><nd ref="4"/><tag k="highway" v="proposed"/></way>
 <relation id="500" version="1"><member type="way" ref="106" role="outer"/>
  <tag k="type" v="multipolygon"/><tag k="leisure" v="park"/></relation>
</osm>
"""


@pytest.fixture(scope="module")
def toy_osm(osm_xml) -> Path:
    return osm_xml("toy.osm", TOY_OSM)


@pytest.fixture(scope="module")
def helsinki(sample_pbf: Path) -> gpd.GeoDataFrame:
    return s2vec_geo.read_features(sample_pbf)


def by_kind(frame: gpd.GeoDataFrame) -> dict[str, Counter]:
    return {k: Counter(g["category"]) for k, g in frame.groupby("kind")}


def test_osm_xml_definitions(toy_osm: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        f = s2vec_geo.read_features(toy_osm)
    kinds = by_kind(f)
    assert kinds["poi"] == Counter(cafe=1, bench=1, restaurant=1, park=1)
    assert kinds["road"] == Counter(residential=2, footway=1, primary=1)  # 105 skipped
    assert kinds["node"] == Counter(intersections=2, traffic_signals=1)
    inter = f[f["category"] == "intersections"]
    assert sorted(inter["osm_id"]) == [2, 3]
    assert "1 way node(s) missing" in caplog.text and "1 way(s)" in caplog.text
    # polygons count once, at a point inside them
    restaurant = f[f["category"] == "restaurant"].geometry.iloc[0]
    assert restaurant.within(shapely.box(25.010, 60.010, 25.011, 60.011))
    park = f[f["category"] == "park"]
    assert park["osm_type"].tolist() == ["r"] and park.geometry.iloc[0].geom_type == "Point"


def test_osm_progress_counts_every_object(toy_osm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bars = []

    def recording(*args, **kwargs):
        bars.append(progress(*args, **kwargs))
        return bars[-1]

    monkeypatch.delenv("S2VEC_PROGRESS", raising=False)
    monkeypatch.setattr(osm, "progress", recording)
    s2vec_geo.read_features(toy_osm)
    # nodes 8-11, ways 100-105 and 107, relation 500, areas of way 104 and relation 500
    assert bars[0].n == 14


def test_pbf_frame_contract(helsinki: gpd.GeoDataFrame) -> None:
    f = helsinki
    assert f.crs.to_epsg() == 4326
    assert {"category", "kind", "osm_id", "geometry"} <= set(f.columns)
    assert f.attrs["taxonomy_version"] == load_taxonomy().version
    kinds = set(f["kind"])
    assert kinds == {"poi", "road", "node"}
    types = f.geometry.geom_type
    assert (types[f["kind"] != "road"] == "Point").all()
    assert (types[f["kind"] == "road"] == "LineString").all()
    tax = load_taxonomy()
    allowed = set(tax.poi_categories) | set(tax.road_classes) | set(tax.node_features)
    assert set(f["category"]) <= allowed
    assert len(set(f.loc[f["kind"] == "poi", "category"])) > 40  # central Helsinki is varied


def test_pbf_counts_match_independent_pyosmium(sample_pbf: Path, helsinki) -> None:
    assert_counts_match(sample_pbf, helsinki)


def test_bbox_keeps_inside_and_cuts_roads(sample_pbf: Path, helsinki) -> None:
    header = osm_header_bbox(sample_pbf)
    assert header is not None
    x0, y0, x1, y1 = header
    dx, dy = (x1 - x0) / 4, (y1 - y0) / 4
    box = (x0 + dx, y0 + dy, x1 - dx, y1 - dy)  # the middle of the extract
    clipped = s2vec_geo.read_features(sample_pbf, bbox=box)
    assert clipped.geometry.within(shapely.box(*box).buffer(1e-9)).all()
    inside = helsinki.geometry.intersects(shapely.box(*box))
    assert by_kind(clipped)["poi"] == by_kind(helsinki[inside])["poi"]
    roads = helsinki[(helsinki.kind == "road") & inside]
    cut = clipped[clipped.kind == "road"]
    assert len(cut) == len(roads)
    assert shapely.length(cut.geometry.values).sum() < shapely.length(roads.geometry.values).sum()
    with pytest.raises(ValueError, match="not a valid"):
        s2vec_geo.read_features(sample_pbf, bbox=(25, 60, 24, 61))


def test_shapefiles_reproduce_the_pbf(helsinki: gpd.GeoDataFrame) -> None:
    # the sample shapefiles carry raw OSM tag columns (public_transport cut to public_tra)
    from_shp = pd.concat([s2vec_geo.read_features(POIS_SHP), s2vec_geo.read_features(ROADS_SHP)])
    assert by_kind(from_shp) == by_kind(helsinki)


def test_projected_geopackage_geojson_geoparquet_and_frame(tmp_path: Path) -> None:
    reference = s2vec_geo.read_features(POIS_SHP)
    source = gpd.read_file(POIS_SHP).to_crs(3067)  # ETRS-TM35FIN metres
    paths = [tmp_path / "p.gpkg", tmp_path / "p.geojson", tmp_path / "p.parquet"]
    source.to_file(paths[0])
    source.to_crs(4326).to_file(paths[1])
    source.to_parquet(paths[2])
    for got in [*(s2vec_geo.read_features(p) for p in paths), s2vec_geo.read_features(source)]:
        assert got.crs.to_epsg() == 4326
        assert got["category"].tolist() == reference["category"].tolist()
        np.testing.assert_allclose(
            shapely.get_coordinates(got.geometry.values),
            shapely.get_coordinates(reference.geometry.values),
            atol=1e-7,
        )


def test_streams_in_batches_with_progress(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    whole = s2vec_geo.read_features(ROADS_SHP)
    monkeypatch.setattr(ogr, "BATCH_SIZE", 100)
    monkeypatch.setenv("S2VEC_PROGRESS", "lines")
    batched = s2vec_geo.read_features(ROADS_SHP)
    err = capsys.readouterr().err
    assert "s2vec-progress: 4 reading helsinki_roads.shp" in err  # 100 of 2,470 rows
    assert "s2vec-progress: 100 reading helsinki_roads.shp" in err
    pd.testing.assert_frame_equal(batched.drop(columns="geometry"), whole.drop(columns="geometry"))
    assert batched.geometry.geom_equals_exact(whole.geometry, 0).all()


def test_category_column_for_non_osm_data(tmp_path: Path) -> None:
    shops = gpd.GeoDataFrame(
        {"kind_of_shop": ["grocery", "grocery", "books", None]},
        geometry=shapely.points([(24.94, 60.17), (24.95, 60.17), (24.94, 60.16), (24.9, 60.1)]),
        crs=4326,
    )
    f = s2vec_geo.read_features(shops, category_column="kind_of_shop")
    assert f["category"].tolist() == ["grocery", "grocery", "books"]  # the null row is logged
    assert "taxonomy_version" not in f.attrs
    with pytest.raises(ValueError, match="not in taxonomy"):
        s2vec_geo.read_features(shops, category_column="kind_of_shop", taxonomy=load_taxonomy())
    with pytest.raises(ValueError, match="choose one of the available columns: kind_of_shop"):
        s2vec_geo.read_features(shops, category_column="shop_type")


# Three primary roads meeting at JUNCTION (a derived intersection), a cafe and a point the
# user labels "intersections" elsewhere.
JUNCTION = (24.94, 60.17)
JUNCTION_LAYER = gpd.GeoDataFrame(
    {"type": ["cafe", "intersections", "primary", "primary", "primary"]},
    geometry=[
        shapely.Point(24.93, 60.175),
        shapely.Point(24.95, 60.175),
        shapely.LineString([(24.93, 60.16), JUNCTION]),
        shapely.LineString([JUNCTION, (24.95, 60.16)]),
        shapely.LineString([JUNCTION, (24.94, 60.18)]),
    ],
    crs=4326,
)


@pytest.mark.parametrize("taxonomy", [None, load_taxonomy()])
def test_points_named_like_a_node_feature_are_that_node_feature(taxonomy) -> None:
    f = s2vec_geo.read_features(JUNCTION_LAYER, category_column="type", taxonomy=taxonomy)
    nodes = f[f["category"] == "intersections"]
    # the user's point is the intersections node, never also a POI; none derived beside it
    assert nodes["kind"].tolist() == ["node"]
    assert nodes.geometry.iloc[0].equals(shapely.Point(24.95, 60.175))
    cells = s2vec_geo.featurize(f, level=14, taxonomy=taxonomy)
    assert int(cells["intersections"].sum()) == 1
    assert "poi_intersections" not in cells
    roads_only = s2vec_geo.read_features(JUNCTION_LAYER.iloc[2:], category_column="type")
    derived = roads_only[roads_only["category"] == "intersections"]
    assert derived.geometry.tolist() == [shapely.Point(JUNCTION)]


def test_invalid_and_nan_geometries_are_repaired_or_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bowtie = shapely.Polygon([(24.0, 60.0), (24.1, 60.1), (24.1, 60.0), (24.0, 60.1)])
    frame = gpd.GeoDataFrame(
        {"amenity": ["cafe", "cafe", "cafe", "cafe"]},
        geometry=[bowtie, shapely.Point(np.nan, 60.0), None, shapely.Point(24.5, 60.2)],
        crs=4326,
    )
    with caplog.at_level(logging.WARNING):
        f = s2vec_geo.read_features(frame)
    assert len(f) == 2 and (f.geometry.geom_type == "Point").all()
    assert f.geometry.iloc[0].within(shapely.box(24.0, 60.0, 24.1, 60.1))
    for note in (
        "1 missing or empty geometry",
        "1 NaN or infinite coordinates",
        "1 invalid geometry",
    ):
        assert note in caplog.text


def test_bad_input_gets_clear_errors(tmp_path: Path, sample_pbf: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        s2vec_geo.read_features(tmp_path / "missing.osm.pbf")
    truncated = tmp_path / "truncated.osm.pbf"
    truncated.write_bytes(sample_pbf.read_bytes()[:300_000])
    with pytest.raises(ValueError, match=r"truncated\.osm\.pbf.*truncated, corrupt"):
        s2vec_geo.read_features(truncated)
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"this is not a protobuf" * 100)
    with pytest.raises(ValueError, match=r"garbage\.osm\.pbf"):
        s2vec_geo.read_features(garbage)
    with pytest.raises(ValueError, match="category_column applies to OGR"):
        s2vec_geo.read_features(sample_pbf, category_column="amenity")
    not_vector = tmp_path / "notes.txt"
    not_vector.write_text("hello")
    with pytest.raises(ValueError, match="as a vector data source"):
        s2vec_geo.read_features(not_vector)


def test_layers_without_crs_or_features(tmp_path: Path) -> None:
    no_crs = tmp_path / "no_crs"
    no_crs.mkdir()
    for part in ROADS_SHP.parent.glob("helsinki_roads.*"):
        if part.suffix != ".prj":
            shutil.copy(part, no_crs / part.name)
    with pytest.raises(ValueError, match="has no CRS; define it"):
        s2vec_geo.read_features(no_crs / "helsinki_roads.shp")
    frame = gpd.read_file(ROADS_SHP)
    with pytest.raises(ValueError, match="has no CRS"):
        s2vec_geo.read_features(frame.set_crs(None, allow_override=True))
    empty = tmp_path / "empty.gpkg"
    frame.iloc[:0].to_file(empty)
    with pytest.raises(ValueError, match="is empty"):
        s2vec_geo.read_features(empty)
    with pytest.raises(ValueError, match="available layers: empty"):
        s2vec_geo.read_features(empty, layer="roads")
    with pytest.raises(ValueError, match="no category column and no OSM tag columns"):
        s2vec_geo.read_features(frame[["name", "geometry"]])
    with pytest.raises(ValueError, match="no features left"):
        s2vec_geo.read_features(ROADS_SHP, bbox=(0.0, 0.0, 1.0, 1.0))


# --- cross-check with an independent reading of the real extracts -----------------

# categories defined by one amenity value only
AMENITIES = ("restaurant", "cafe", "bank", "atm", "toilets", "bench", "place_of_worship")
ROADS = {
    "residential": ("residential",),
    "service": ("service",),
    "primary": ("primary", "primary_link"),
    "footway": ("footway", "path", "steps", "bridleway", "corridor"),
}


class _Counter(osmium.SimpleHandler):
    """Counts amenity values and highway ways (with a geometry) with plain pyosmium callbacks."""

    def __init__(self) -> None:
        super().__init__()
        self.amenity: Counter[str] = Counter()
        self.highway: Counter[str] = Counter()

    def node(self, n: osmium.osm.Node) -> None:
        self.amenity[n.tags.get("amenity", "")] += 1

    def way(self, w: osmium.osm.Way) -> None:
        if sum(n.location.valid() for n in w.nodes) < 2:  # cut by the extract: no geometry
            return
        self.amenity[w.tags.get("amenity", "")] += 1
        if w.tags.get("area") != "yes":
            self.highway[w.tags.get("highway", "")] += 1

    def relation(self, r: osmium.osm.Relation) -> None:
        if r.tags.get("type") == "multipolygon":
            self.amenity[r.tags.get("amenity", "")] += 1


def assert_counts_match(path: Path, features: gpd.GeoDataFrame) -> None:
    independent = _Counter()
    independent.apply_file(str(path), locations=True)
    ours = Counter(features.loc[features["kind"] != "node", "category"])
    for amenity in AMENITIES:
        assert ours[amenity] == independent.amenity[amenity], amenity
    for road, values in ROADS.items():
        assert ours[road] == sum(independent.highway[v] for v in values), road


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name", ["autark-lower-manhattan.osm.pbf", "valhalla-liechtenstein.osm.pbf"]
)
def test_real_extracts_match_independent_pyosmium(shared_data: Path, name: str) -> None:
    path = shared_data / "osm" / name
    features = s2vec_geo.read_features(path)
    assert_counts_match(path, features)
    assert (features["kind"] == "poi").sum() > 900
