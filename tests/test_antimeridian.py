"""The antimeridian: lines and polygons crossing it are cut there, the same in every reader
and in ``cover``; what does not cross is untouched (issue 23, item 8)."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pyproj
import pytest
import shapely
from test_quackosm import write_quackosm

import s2vec_geo
from s2vec_geo.cli import main
from s2vec_geo.core.geodesy import haversine_m
from s2vec_geo.core.guards import TooManyCellsError
from s2vec_geo.embeddings.join import embed_geometries
from s2vec_geo.evaluation.labels import align_labels
from s2vec_geo.features.cut import split_polygons
from s2vec_geo.features.equal_area import polygon_areas
from s2vec_geo.s2 import cell_to_latlng, cell_to_polygon, cells_frame, cover
from s2vec_geo.s2.antimeridian import split_antimeridian

LEVEL = 16
EAST, WEST = (179.999, 10.0), (-179.999, 10.0)  # 219 m apart on the 10th parallel
ROAD = shapely.LineString([EAST, WEST])
ROAD_M = float(haversine_m(*EAST, *WEST))
FIJI = shapely.Polygon([(179, -17), (-179, -17), (-179, -16), (179, -16)])  # 2 x 1 degrees
FIJI_PARTS = shapely.MultiPolygon(
    [shapely.box(179, -17, 180, -16), shapely.box(-180, -17, -179, -16)]
)
# a small closed way across the line (about 110 x 110 m): a restaurant, a building
SQUARE = [(179.9995, 0.0), (-179.9995, 0.0), (-179.9995, 0.001), (179.9995, 0.001)]


def road_xml(ways: str = "") -> str:
    """The example road (way 100) as OSM XML, with more ``ways`` when given."""
    nodes = [EAST, WEST, *SQUARE]
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6">']
    lines += [
        f'<node id="{i}" version="1" lat="{lat}" lon="{lng}"/>'
        for i, (lng, lat) in enumerate(nodes, start=1)
    ]
    lines.append(
        '<way id="100" version="1"><nd ref="1"/><nd ref="2"/>'
        '<tag k="highway" v="residential"/></way>'
    )
    return "\n".join([*lines, ways, "</osm>"])


def to_pbf(xml: Path) -> Path:
    """The OSM XML file rewritten as a PBF."""
    pbf = xml.with_suffix(".osm.pbf")
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(xml)):
            writer.add(obj)
    return pbf


def geodesic_area(geom: shapely.Geometry) -> float:
    """Square metres on the WGS84 ellipsoid of a polygon or of each part of a multipolygon."""
    geod = pyproj.Geod(ellps="WGS84")
    return sum(abs(geod.geometry_area_perimeter(p)[0]) for p in shapely.get_parts(geom))


def near_antimeridian(cells: np.ndarray, degrees: float) -> bool:
    _, lng = cell_to_latlng(cells)
    return bool((180.0 - np.abs(lng) < degrees).all())


def road_cells(layer: gpd.GeoDataFrame) -> dict[int, float]:
    return layer["road_length_m_residential"].round(6).to_dict()


@pytest.fixture(scope="module")
def road_sources(osm_xml, tmp_path_factory) -> dict[str, object]:
    """The example road as OSM XML, PBF, GeoPackage (two CRSs), GeoParquet, QuackOSM
    GeoParquet, a GeoDataFrame with tags and a features frame."""
    folder = tmp_path_factory.mktemp("road")
    xml = osm_xml("road.osm", road_xml())
    tagged = gpd.GeoDataFrame({"highway": ["residential"]}, geometry=[ROAD], crs=4326)
    tagged.to_file(folder / "road.gpkg")
    tagged.to_crs(3832).to_file(folder / "road_3832.gpkg")  # PDC Mercator: no jump there
    tagged.to_parquet(folder / "road.parquet")
    rows = [("way/100", {"highway": "residential"}, ROAD)]
    frame = gpd.GeoDataFrame(
        {"category": ["residential"], "kind": ["road"]}, geometry=[ROAD], crs=4326
    )
    return {
        "osm": xml,
        "pbf": to_pbf(xml),
        "gpkg": folder / "road.gpkg",
        "gpkg_3832": folder / "road_3832.gpkg",
        "geoparquet": folder / "road.parquet",
        "quackosm": write_quackosm(folder / "quack.parquet", rows),
        "geodataframe": tagged,
        "features frame": frame,
    }


def test_the_split_rule() -> None:
    crossing = shapely.LineString([(179.5, 10.0), (-179.5, 11.0), (-179.0, 11.0)])
    helsinki = shapely.box(24.9, 60.1, 25.0, 60.2)
    band = shapely.box(-180, -10, 180, 10)  # edges along the antimeridian: already cut
    pole = shapely.Polygon([(-180, -80), (0, -70), (180, -80), (180, -90), (-180, -90)])
    projected = shapely.LineString([(2e6, 1e6), (-2e6, 1e6)])  # metres: not lng/lat
    geoms = np.array([crossing, helsinki, band, pole, projected, FIJI_PARTS, None], dtype=object)
    split = split_antimeridian(geoms)
    assert all(split[k] is geoms[k] for k in range(1, 7))  # the same objects, bit for bit
    parts = shapely.get_parts(split[0])
    assert [p.coords[:] for p in parts] == [
        [(179.5, 10.0), (180.0, 10.5)],  # latitude interpolated at the cut
        [(-180.0, 10.5), (-179.5, 11.0), (-179.0, 11.0)],
    ]
    nothing = np.array([helsinki, None], dtype=object)
    assert split_antimeridian(nothing) is nothing


def test_polygons_keep_their_holes_and_area() -> None:
    hole_across = shapely.Polygon(
        [(170, -20), (-170, -20), (-170, 20), (170, 20)],
        [[(179, -1), (-179, -1), (-179, 1), (179, 1)]],
    )
    hole_west = shapely.Polygon(  # the hole lies wholly west of the line
        [(170, -20), (-170, -20), (-170, 20), (170, 20)],
        [[(-179, -1), (-178, -1), (-178, 1), (-179, 1)]],
    )
    three_d = shapely.LineString([(179.0, 0.0, 10.0), (-179.0, 0.0, 30.0)])
    split = split_antimeridian(np.array([hole_across, hole_west, three_d, FIJI]))
    assert [round(g.area, 9) for g in split[:2]] == [20 * 40 - 4, 20 * 40 - 2]
    assert all(g.geom_type == "MultiPolygon" and g.is_valid for g in split[:2])
    assert shapely.get_coordinates(split[2], include_z=True)[:, 2].tolist() == [10, 20, 20, 30]
    assert split[3].bounds == (-180.0, -17.0, 180.0, -16.0) and split[3].area == 2.0


def test_every_reader_cuts_the_road_at_the_antimeridian(road_sources) -> None:
    """One road, eight readers: the same two cells and 219 m (not 4.4 km in 31 cells)."""
    found = {
        name: road_cells(s2vec_geo.featurize(source, level=LEVEL))
        for name, source in road_sources.items()
    }
    expected = found["pbf"]
    assert len(expected) == 2 and near_antimeridian(np.array(list(expected)), 0.01)
    assert sum(expected.values()) == pytest.approx(ROAD_M, abs=1e-5)
    for name, cells in found.items():
        assert cells.keys() == expected.keys(), name
        assert list(cells.values()) == pytest.approx(list(expected.values()), rel=1e-6), name
    assert cover(ROAD, LEVEL).tolist() == sorted(expected)  # and cover agrees


def test_cover_cli_of_a_line_across_the_antimeridian(road_sources, tmp_path) -> None:
    """``cover`` of the road at level 20: about 30 cells, not refused as 5 M."""
    out = tmp_path / "cells.gpkg"
    assert main(["cover", str(road_sources["gpkg"]), "--level", "20", "-o", str(out)]) == 0
    cells = gpd.read_file(out, layer="cells")["cell_id"].to_numpy()
    assert 20 < len(cells) < 60 and near_antimeridian(cells, 0.002)


def test_cover_of_a_polygon_across_the_antimeridian() -> None:
    """The Fiji-like box: cells only within it, covering its area and about no more."""
    frame = gpd.GeoDataFrame(geometry=[FIJI], crs=4326)
    cells = cover(frame, 12, max_cells=100_000)  # the long way round: 1.8 M cells
    lat, _ = cell_to_latlng(cells)
    assert near_antimeridian(cells, 1.02) and ((lat > -17.02) & (lat < -15.98)).all()
    east, west = (cover(half, 12) for half in FIJI_PARTS.geoms)
    assert cells.tolist() == np.union1d(east, west).tolist()
    geodesic = geodesic_area(FIJI_PARTS)
    covered = polygon_areas(cell_to_polygon(cells)).sum()  # plus a band of boundary cells
    assert geodesic < covered < 1.1 * geodesic
    assert cover(shapely.box(-179, -17, 179, -16), 12, max_cells=100_000).tolist() == (
        cells.tolist()  # a box's edges jump too: the short way
    )
    long_way = shapely.segmentize(shapely.box(-179, -17, 179, -16), 90.0)  # no jumps
    with pytest.raises(TooManyCellsError, match="level 12"):
        cover(long_way, 12, max_cells=100_000)


def test_areas_and_pois_across_the_antimeridian(osm_xml) -> None:
    """A land-use polygon and a building/restaurant way across the line: their whole area
    (EPSG:6933) in cells beside the line, the POI on the building."""
    landuse = gpd.GeoDataFrame({"landuse": ["forest"]}, geometry=[FIJI], crs=4326)
    cells = s2vec_geo.featurize(landuse, level=10, category_column="landuse", polygons="landuse")
    area = polygon_areas(np.array([FIJI_PARTS]))[0]
    assert cells["landuse_area_m2_forest"].sum() == pytest.approx(area, rel=1e-9)
    assert area == pytest.approx(geodesic_area(FIJI_PARTS), rel=1e-4)
    assert near_antimeridian(cells.index.to_numpy(), 1.1)
    refs = "".join(f'<nd ref="{k}"/>' for k in (3, 4, 5, 6, 3))
    way = f'<way id="200" version="1">{refs}<tag k="building" v="yes"/>'
    xml = osm_xml("building.osm", road_xml(way + '<tag k="amenity" v="restaurant"/></way>'))
    features = s2vec_geo.read_features(xml, taxonomy="v2")
    building = features[features["kind"] == "building"].geometry.iloc[0]
    assert building.geom_type == "MultiPolygon" and building.bounds[::2] == (-180.0, 180.0)
    poi = features[features["category"] == "restaurant"].geometry.iloc[0]
    assert poi.within(building) and 180.0 - abs(poi.x) < 0.001
    cells = s2vec_geo.featurize(features, level=LEVEL)
    total = cells.filter(like="building_area").to_numpy().sum()
    assert total == pytest.approx(polygon_areas(np.array([building]))[0], rel=1e-9)
    assert near_antimeridian(cells.index.to_numpy(), 0.01)


def test_quackosm_conversion_keeps_the_road_short(road_sources, tmp_path) -> None:
    """The PBF converted by QuackOSM itself reads as the PBF does (needs quackosm)."""
    pytest.importorskip("quackosm")
    pytest.importorskip("duckdb_ext")
    from s2vec_geo.ingest.quack import pbf_to_geoparquet

    converted = pbf_to_geoparquet(road_sources["pbf"], tmp_path / "road.parquet", taxonomy="v1")
    found = road_cells(s2vec_geo.featurize(converted, level=LEVEL))
    assert found == road_cells(s2vec_geo.featurize(road_sources["pbf"], level=LEVEL))
    assert sum(found.values()) == pytest.approx(ROAD_M, abs=1e-5)


def test_cut_parts_on_both_sides_are_cut_as_fast_as_one_polygon() -> None:
    """A 110 m building cut at the line: cells found per part, not over 360 degrees (16 s)."""
    building = split_antimeridian(np.array([shapely.Polygon(SQUARE)]))
    split_polygons(building, 14)  # warm up
    start = time.perf_counter()
    parts = split_polygons(building, 18)
    assert time.perf_counter() - start < 2.0
    assert parts.area.sum() == pytest.approx(polygon_areas(building)[0], rel=1e-12)
    assert len(parts.cell) < 40 and near_antimeridian(parts.cell, 0.002)


def test_embedding_a_road_across_the_line() -> None:
    """The road's embedding: the mean over its two cells, the whole road inside them."""
    table = cells_frame(cover(ROAD, LEVEL)).assign(emb_000=[1.0, 3.0])
    row = embed_geometries(gpd.GeoSeries([ROAD], crs=4326), table).iloc[0]
    assert row["n_cells"] == 2 and row["coverage"] == pytest.approx(1.0)
    assert 1.0 < row["emb_000"] < 3.0


@pytest.mark.parametrize("rule", ["overlap", "centroid"])
def test_polygon_labels_across_the_line(rule: str) -> None:
    """A label polygon across the line labels the cells inside it, on both sides."""
    labels = gpd.GeoDataFrame({"v": [5.0]}, geometry=[FIJI], crs=4326)
    cells = cover(FIJI_PARTS, 9)
    aligned = align_labels(labels, cells, "v", rule=rule)
    _, lng = cell_to_latlng(aligned.index.to_numpy())
    assert np.allclose(aligned, 5.0) and len(aligned) > len(cells) / 2
    assert (lng > 0).any() and (lng < 0).any()
