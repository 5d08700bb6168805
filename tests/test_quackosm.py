"""QuackOSM GeoParquet input: detection, the PBF reader's rules, the CLI and Dask, and the
equality of the QuackOSM and PBF routes on real extracts (documented differences only)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

import s2vec_geo as sv
from s2vec_geo.core.schema import feature_columns
from s2vec_geo.ingest.osm_collect import UNKNOWN_ID
from s2vec_geo.ingest.osm_parquet import is_osm_parquet, split_osm_parquet

LEVEL = 15

# A toy map given once and written both as OSM XML (read by the PBF reader) and as the
# GeoParquet QuackOSM writes for it: T-junction at node 2, crossroads at node 3, a
# roundabout (a closed highway way, a polygon in QuackOSM's output) joining way 100 at
# node 1, a footway outside the intersection graph, a pedestrian area (area=yes: no
# road), POIs as nodes, a closed way and a multipolygon relation, an excluded highway.
NODES = {
    1: (25.000, 60.000),
    2: (25.001, 60.000),
    3: (25.002, 60.000),
    4: (25.001, 60.001),
    5: (25.001, 59.999),
    6: (25.002, 60.001),
    7: (25.002, 59.999),
    12: (24.9995, 60.0005),
    13: (24.999, 60.000),
    14: (24.9995, 59.9995),
    20: (25.010, 60.010),
    21: (25.011, 60.010),
    22: (25.011, 60.011),
    23: (25.010, 60.011),
    30: (25.020, 60.020),
    31: (25.030, 60.020),
    32: (25.030, 60.030),
    33: (25.020, 60.030),
    40: (25.005, 60.005),
    41: (25.006, 60.005),
    42: (25.006, 60.006),
}
TAGGED_NODES = {
    8: ((25.0005, 60.000), {"highway": "traffic_signals"}),
    9: ((25.0002, 60.0002), {"amenity": "cafe"}),
    10: ((25.0003, 60.0003), {"amenity": "no"}),
    11: ((25.0004, 60.0004), {"amenity": "bench", "shop": "bakery"}),
}
# id, node refs, tags, stored by QuackOSM as a polygon
WAYS = [
    (100, [1, 2, 3], {"highway": "residential"}, False),
    (101, [2, 4], {"highway": "residential"}, False),
    (102, [2, 5], {"highway": "footway"}, False),
    (103, [6, 3, 7], {"highway": "primary"}, False),
    (104, [20, 21, 22, 23, 20], {"building": "yes", "amenity": "restaurant"}, True),
    (107, [1, 4], {"highway": "proposed"}, False),
    (108, [1, 12, 13, 14, 1], {"highway": "tertiary", "junction": "roundabout"}, True),
    (109, [40, 41, 42, 40], {"highway": "pedestrian", "area": "yes"}, True),
]
RELATION = (500, [30, 31, 32, 33, 30], {"type": "multipolygon", "leisure": "park"})


def _xml() -> str:
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6">']

    def tags(t: dict[str, str]) -> str:
        return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in t.items())

    nodes = {i: (xy, {}) for i, xy in NODES.items()} | TAGGED_NODES
    for i, ((lng, lat), t) in sorted(nodes.items()):
        lines.append(f'<node id="{i}" version="1" lat="{lat}" lon="{lng}">{tags(t)}</node>')
    rel, outer, t = RELATION
    for i, refs, way_tags, _ in sorted([*WAYS, (106, outer, {}, True)]):
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        lines.append(f'<way id="{i}" version="1">{nds}{tags(way_tags)}</way>')
    lines.append(
        f'<relation id="{rel}" version="1"><member type="way" ref="106" role="outer"/>'
        f"{tags(t)}</relation>"
    )
    return "\n".join([*lines, "</osm>"])


def _rows() -> list[tuple[str, dict[str, str], shapely.Geometry]]:
    rows = [(f"node/{i}", t, shapely.Point(xy)) for i, (xy, t) in TAGGED_NODES.items()]
    for i, refs, t, polygon in WAYS:
        coords = [NODES[r] for r in refs]
        geometry = shapely.Polygon(coords) if polygon else shapely.LineString(coords)
        rows.append((f"way/{i}", t, geometry))
    rel, refs, t = RELATION
    rows.append((f"relation/{rel}", t, shapely.Polygon([NODES[r] for r in refs])))
    return rows


def write_quackosm(path: Path, rows: list, exploded: bool = False) -> Path:
    """A GeoParquet file in QuackOSM's layout (``tags`` map, or one column per key)."""
    columns: dict[str, pa.Array] = {"feature_id": pa.array([r[0] for r in rows])}
    if exploded:
        for key in sorted({k for r in rows for k in r[1]}):
            columns[key] = pa.array([r[1].get(key) for r in rows], pa.string())
    else:
        items = [list(r[1].items()) for r in rows]
        columns["tags"] = pa.array(items, pa.map_(pa.string(), pa.string()))
    columns["geometry"] = pa.array(shapely.to_wkb([r[2] for r in rows]), pa.binary())
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": {}}}
    table = pa.table(columns).replace_schema_metadata({"geo": json.dumps(geo)})
    pq.write_table(table, path, row_group_size=4)  # several row groups and batches
    return path


def by_kind(frame: gpd.GeoDataFrame) -> dict[str, Counter]:
    return {k: Counter(g["category"]) for k, g in frame.groupby("kind")}


def positions(frame: gpd.GeoDataFrame) -> list[tuple[str, str, float, float]]:
    """(kind, category, x, y) of every point feature, sorted."""
    points = frame[frame["kind"].isin(["poi", "node"])]
    xy = shapely.get_coordinates(points.geometry.values).round(9)
    return sorted(zip(points["kind"], points["category"], *xy.T, strict=True))


@pytest.fixture(scope="module")
def toy(osm_xml, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("quackosm")
    return osm_xml("toy.osm", _xml()), write_quackosm(folder / "toy.parquet", _rows())


def test_toy_parquet_reads_as_the_osm_file(toy) -> None:
    xml, parquet = toy
    assert is_osm_parquet(parquet) and not is_osm_parquet(xml)
    want = sv.read_features(xml, taxonomy="v2")
    got = sv.read_features(parquet, taxonomy="v2")
    assert by_kind(got) == by_kind(want)
    kinds = by_kind(got)
    assert kinds["poi"] == Counter(cafe=1, bench=1, restaurant=1, park=1)
    # the roundabout (a polygon in the file) is a road, the pedestrian area is not
    assert kinds["road"] == Counter(residential=2, footway=1, primary=1, tertiary=1)
    assert kinds["node"] == Counter(intersections=3, traffic_signals=1)
    assert positions(got) == positions(want)
    roads = [g.normalize() for g in got[got["kind"] == "road"].geometry]
    assert sorted(g.wkt for g in roads) == sorted(
        g.normalize().wkt for g in want[want["kind"] == "road"].geometry
    )
    inter = got[got["category"] == "intersections"]
    assert (inter["osm_id"] == UNKNOWN_ID).all()  # vertices known by position only
    assert got.attrs["taxonomy_version"] == "2"
    for kind in ("building", "landuse"):
        a, b = got[got["kind"] == kind], want[want["kind"] == kind]
        assert list(a["osm_id"]) == list(b["osm_id"])
        assert shapely.equals(a.geometry.values, b.geometry.values).all()


def test_exploded_tag_columns_and_folders(toy, tmp_path) -> None:
    _, parquet = toy
    want = sv.read_features(parquet, taxonomy="v2")
    exploded = write_quackosm(tmp_path / "exploded.parquet", _rows(), exploded=True)
    got = sv.read_features(exploded, taxonomy="v2")
    assert by_kind(got) == by_kind(want) and positions(got) == positions(want)
    # a folder of files reads as one input: intersections across files are found
    rows = _rows()
    folder = tmp_path / "parts"
    folder.mkdir()
    for k in range(0, len(rows), 5):
        write_quackosm(folder / f"part-{k // 5}.parquet", rows[k : k + 5])
    assert is_osm_parquet(folder)
    got = sv.read_features(folder, taxonomy="v2")
    assert by_kind(got) == by_kind(want) and positions(got) == positions(want)
    assert len(split_osm_parquet(parquet, tmp_path / "split", rows_per_file=5)) == 3
    split = sv.read_features(tmp_path / "split", taxonomy="v2")
    assert by_kind(split) == by_kind(want) and positions(split) == positions(want)


def test_bbox_and_category_column(toy) -> None:
    _, parquet = toy
    box = (24.9999, 59.9, 25.0015, 60.1)
    got = sv.read_features(parquet, bbox=box)
    assert shapely.within(got.geometry.values, shapely.box(*box).buffer(1e-12)).all()
    nodes = sorted(got.loc[got["kind"] == "node", "category"])
    assert nodes == ["intersections", "intersections", "traffic_signals"]  # at nodes 1, 2
    # with a category column the file is plain GeoParquet, read by OGR rules
    with pytest.raises(ValueError, match="category column 'kind' is not in"):
        sv.read_features(parquet, category_column="kind")


def test_bad_parquet_is_explained(tmp_path, toy) -> None:
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), plain)
    with pytest.raises(ValueError, match="QuackOSM"):
        sv.read_features(plain)
    # a folder that mixes QuackOSM output with another file
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_quackosm(folder / "a.parquet", _rows())
    pq.write_table(pa.table({"a": [1]}), folder / "b.parquet")
    with pytest.raises(ValueError, match=r"b\.parquet' is not QuackOSM GeoParquet"):
        sv.read_features(folder)
    bad = write_quackosm(tmp_path / "bad.parquet", [("way/x", {}, shapely.Point(0, 0))])
    assert not is_osm_parquet(bad)  # feature_id values must read node/1, way/2, ...
    with pytest.raises(ValueError, match="already exists"):
        split_osm_parquet(toy[1], tmp_path)


# -- QuackOSM itself, offline, on real extracts ------------------------------------------

PAIR = ("srai-monaco.osm.pbf", "graphhopper-krems.osm.pbf")  # small, far apart
EXACT = (*PAIR, "graphhopper-andorra.osm.pbf", "autark-lower-manhattan.osm.pbf")


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """``converted(pbf)``: the pbf converted by QuackOSM (once per session)."""
    pytest.importorskip("quackosm")
    from s2vec_geo.ingest.quack import pbf_to_geoparquet

    folder = tmp_path_factory.mktemp("quackosm-out")
    done: dict[Path, Path] = {}

    def convert(pbf: Path) -> Path:
        if pbf not in done:
            out = folder / (pbf.name.split(".")[0] + ".parquet")
            done[pbf] = pbf_to_geoparquet(pbf, out, working_directory=folder / "work")
        return done[pbf]

    return convert


def same_cells(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> pd.Series:
    """Per feature column, the sum of absolute per-cell differences (cells of either)."""
    cols = feature_columns(want)
    assert feature_columns(got) == cols
    cells = want.index.union(got.index)
    diff = got[cols].reindex(cells, fill_value=0) - want[cols].reindex(cells, fill_value=0)
    return diff.abs().sum()


def assert_equal_cells(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> None:
    """Same cells and counts; lengths and areas to summation order."""
    assert got.index.equals(want.index)
    cols = feature_columns(want)
    floats = [c for c in cols if want[c].dtype == np.float64]
    ints = [c for c in cols if c not in floats]
    pd.testing.assert_frame_equal(got[ints], want[ints])
    np.testing.assert_allclose(got[floats], want[floats], rtol=1e-9, atol=1e-6)


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("name", EXACT)
def test_quackosm_route_equals_pbf_route(shared_data, converted, name) -> None:
    pbf = shared_data / "osm" / name
    want = sv.featurize(pbf, level=LEVEL, taxonomy="v2")
    got = sv.featurize(converted(pbf), level=LEVEL, taxonomy="v2")
    assert_equal_cells(got, want)
    assert want.filter(like="building_area_m2_").to_numpy().sum() > 10_000
    assert want["intersections"].sum() > 100 and want.filter(like="poi_").to_numpy().sum() > 300


def _shared_positions(pbf: Path) -> set[tuple[float, float]]:
    """Positions (1e-7 degrees) held by two or more distinct nodes of a file."""
    xy = np.array(
        [
            (n.location.x, n.location.y)
            for n in osmium.FileProcessor(str(pbf))
            if n.is_node() and n.location.valid()
        ]
    )
    keys, counts = np.unique(xy, axis=0, return_counts=True)
    return {(x / 1e7, y / 1e7) for x, y in keys[counts > 1]}


@pytest.mark.shared_data
@pytest.mark.slow
def test_nodes_at_one_position_join_roads(shared_data, converted) -> None:
    """Liechtenstein: equal but for 2 intersections at positions of two distinct nodes."""
    pbf = shared_data / "osm" / "valhalla-liechtenstein.osm.pbf"
    want_f = sv.read_features(pbf, taxonomy="v2")
    got_f = sv.read_features(converted(pbf), taxonomy="v2")
    want = sv.featurize(want_f, level=LEVEL)
    got = sv.featurize(got_f, level=LEVEL)
    diff = same_cells(got, want)
    assert set(diff[diff > 1e-6].index) == {"intersections"}
    assert (got["intersections"] >= want["intersections"]).all()

    def where(f):
        inter = f[f["category"] == "intersections"].geometry.values
        return set(map(tuple, shapely.get_coordinates(inter).round(7)))

    extra = where(got_f) - where(want_f)
    assert len(extra) == int(diff["intersections"]) == 2
    assert extra <= {(round(x, 7), round(y, 7)) for x, y in _shared_positions(pbf)}
    assert where(want_f) <= where(got_f)


def _incomplete(pbf: Path) -> set[tuple[str, int]]:
    """Ways with a node missing from the file, relations with such a way or a missing way."""
    nodes = {n.id for n in osmium.FileProcessor(str(pbf), osmium.osm.NODE)}
    ways, cut = set(), set()
    for w in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
        ways.add(w.id)
        if any(nd.ref not in nodes for nd in w.nodes):
            cut.add(w.id)
    out = {("w", i) for i in cut}
    for r in osmium.FileProcessor(str(pbf), osmium.osm.RELATION):
        if any(m.type == "w" and (m.ref not in ways or m.ref in cut) for m in r.members):
            out.add(("r", r.id))
    return out


@pytest.mark.slow
def test_extract_boundary_is_the_only_difference(sample_pbf, converted) -> None:
    """Helsinki (cut from a larger map): QuackOSM drops the ways and relations the cut
    left incomplete, the PBF reader keeps their located part; all else is equal."""
    want_f = sv.read_features(sample_pbf, taxonomy="v2")
    got_f = sv.read_features(converted(sample_pbf), taxonomy="v2")
    incomplete = _incomplete(sample_pbf)
    key = ["kind", "category", "osm_type", "osm_id"]
    areal = ~want_f["kind"].isin(["node"])
    want_keys = Counter(map(tuple, want_f.loc[areal, key].values))
    got_keys = Counter(map(tuple, got_f.loc[~got_f["kind"].isin(["node"]), key].values))
    assert not got_keys - want_keys  # nothing the PBF reader does not have
    dropped = want_keys - got_keys
    assert dropped and all((t, i) in incomplete for _, _, t, i in dropped)
    # cells away from the incomplete objects are equal; 2+ km of roads are missing
    ids = zip(want_f["osm_type"], want_f["osm_id"], strict=True)
    cut = want_f[[(t, i) in incomplete for t, i in ids]]
    near = sv.featurize(cut, level=LEVEL).index
    want = sv.featurize(want_f, level=LEVEL)
    got = sv.featurize(got_f, level=LEVEL)
    assert_equal_cells(got.drop(index=near, errors="ignore"), want.drop(index=near))
    lost = want.reindex(near)["road_length_m_footway"].sum()
    assert lost - got.reindex(near)["road_length_m_footway"].sum() > 2_000


def test_offline_helper_needs_no_home_extension(monkeypatch, tmp_path, sample_pbf) -> None:
    pytest.importorskip("quackosm")
    from s2vec_geo.ingest.quack import offline_duckdb, spatial_extension_directory

    folder = spatial_extension_directory()
    before = sorted(folder.rglob("*"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with offline_duckdb() as kw:
        import duckdb

        con = duckdb.connect(config={**kw["config_kwargs"], "autoinstall_known_extensions": False})
        con.load_extension("spatial")
        assert con.sql("SELECT ST_AsText(ST_Point(1, 2))").fetchone()[0] == "POINT (1 2)"
    assert os.environ["HOME"] == str(tmp_path)
    assert not (tmp_path / ".duckdb").exists() and sorted(folder.rglob("*")) == before


@pytest.mark.shared_data
@pytest.mark.slow
def test_dask_and_cli(shared_data, converted, tmp_path) -> None:
    from distributed import Client, LocalCluster

    from s2vec_geo.cli import main

    parts = tmp_path / "extracts"
    parts.mkdir()
    for name in PAIR:  # two disjoint extracts: one map task each, summed cell by cell
        (parts / f"{name}.parquet").symlink_to(converted(shared_data / "osm" / name))
    whole = sv.featurize(parts, level=LEVEL, taxonomy="v2")  # one machine, one input
    liechtenstein = converted(shared_data / "osm" / "valhalla-liechtenstein.osm.pbf")
    split = split_osm_parquet(liechtenstein, tmp_path / "split", rows_per_file=5_000)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        got = sv.featurize_distributed(parts, level=LEVEL, taxonomy="v2")
        assert_equal_cells(got, whole)
        # one planet-like file split into row ranges: intersections found within each part
        one = sv.featurize(tmp_path / "split", level=LEVEL, taxonomy="v2")
        got = sv.featurize_distributed(tmp_path / "split", level=LEVEL, taxonomy="v2")
    assert len(split) == 4
    diff = same_cells(got, one)
    assert set(diff[diff > 1e-6].index) == {"intersections"}
    assert (got["intersections"] <= one["intersections"]).all()
    assert (
        one["intersections"].sum() - got["intersections"].sum() < 0.05 * one["intersections"].sum()
    )
    out = tmp_path / "cells.parquet"
    args = ["featurize", str(liechtenstein), "--level", str(LEVEL), "--taxonomy", "v2"]
    assert main([*args, "-o", str(out)]) == 0
    cells = gpd.read_parquet(out).set_index("cell_id")
    assert_equal_cells(cells, sv.featurize(liechtenstein, level=LEVEL, taxonomy="v2"))
