"""``gdf.s2vec.cell_ids`` / ``gdf.s2vec.cover`` and the ``s2vec cells`` / ``s2vec cover`` CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import s2vec_geo  # noqa: F401  (registers the accessor)
from s2vec_geo.cli import main
from s2vec_geo.s2 import cell_to_token, cells_frame, cover, latlng_to_cell

REPO = Path(__file__).resolve().parents[1]
LAT = np.array([60.1699, 40.7128, -33.8688, 64.1466, 1.3521])
LNG = np.array([24.9384, -74.0060, 151.2093, -21.9426, 103.8198])


@pytest.fixture
def points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["Helsinki", "NYC", "Sydney", "Reykjavik", "Singapore"]},
        geometry=gpd.points_from_xy(LNG, LAT),
        index=[10, 20, 30, 40, 50],
        crs=4326,
    )


@pytest.fixture
def area() -> gpd.GeoDataFrame:
    ring = [(24.90, 60.15), (24.99, 60.155), (25.00, 60.19), (24.95, 60.205), (24.89, 60.18)]
    return gpd.GeoDataFrame({"name": ["Helsinki"]}, geometry=[shapely.Polygon(ring)], crs=4326)


def test_cell_ids_in_a_projected_crs_equal_lng_lat_and_do_not_mutate(points):
    projected = points.to_crs(3857)
    before = projected.copy()
    ids = projected.s2vec.cell_ids(14)
    assert ids.name == "cell_id" and ids.dtype == np.int64
    assert list(ids.index) == [10, 20, 30, 40, 50]
    np.testing.assert_array_equal(ids.to_numpy(), points.s2vec.cell_ids(14).to_numpy())
    np.testing.assert_array_equal(ids.to_numpy(), latlng_to_cell(LAT, LNG, 14))
    assert projected.equals(before) and projected.crs == before.crs


def test_cell_ids_refuse_non_points_and_point_to_cover(points, area):
    mixed = gpd.GeoDataFrame(geometry=[*points.geometry, *area.geometry], crs=4326)
    with pytest.raises(ValueError, match=r"1 of 6 rows are not .*points.*cover"):
        mixed.s2vec.cell_ids(12)


def test_cell_ids_need_a_crs(points):
    with pytest.raises(ValueError, match="no CRS"):
        points.set_crs(None, allow_override=True).s2vec.cell_ids(12)


def test_cover_returns_the_cell_layer(area):
    cells = area.to_crs(3857).s2vec.cover(15)
    assert isinstance(cells, gpd.GeoDataFrame)
    assert cells.index.name == "cell_id" and cells.index.dtype == np.int64
    assert cells.crs.to_epsg() == 4326
    np.testing.assert_array_equal(cells.index.to_numpy(), cover(area, 15))
    assert list(cells["token"]) == list(cell_to_token(cells.index.to_numpy()))
    assert cells.union_all().contains(area.geometry[0].representative_point())


def test_cli_cells_adds_cell_id_and_token(tmp_path, points):
    source = tmp_path / "points.gpkg"
    points.to_crs(3857).to_file(source)
    out = tmp_path / "cells.parquet"
    assert main(["cells", str(source), "--level", "12", "--output", str(out)]) == 0
    written = gpd.read_parquet(out)
    assert written["cell_id"].dtype == np.int64
    np.testing.assert_array_equal(written["cell_id"], latlng_to_cell(LAT, LNG, 12))
    assert list(written["token"]) == list(cell_to_token(latlng_to_cell(LAT, LNG, 12)))
    assert list(written["name"]) == list(points["name"]) and written.crs.to_epsg() == 3857


def test_cli_log_leaves_out_pyogrio_records_unless_verbose(tmp_path, points):
    """The engine's log (also the QGIS log) says what was written, once, in its own words."""
    source = tmp_path / "points.gpkg"
    points.to_file(source)

    def run(*flags: str, output: str) -> str:
        argv = [sys.executable, "-m", "s2vec_geo", *flags, "cells", str(source), "-o", output]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
        assert done.returncode == 0, done.stderr
        return done.stderr

    quiet = run(output=str(tmp_path / "a.gpkg"))
    assert "wrote 5 points with level-16 cells" in quiet and "pyogrio" not in quiet
    assert "INFO pyogrio" in run("--verbose", output=str(tmp_path / "b.gpkg"))


def test_cli_cover_writes_a_cell_layer(tmp_path, area):
    source = tmp_path / "area.gpkg"
    area.to_file(source)
    out = tmp_path / "cover.gpkg"
    assert main(["cover", str(source), "--level", "14", "--output", str(out)]) == 0
    written = gpd.read_file(out)
    expected = cells_frame(cover(area, 14))
    np.testing.assert_array_equal(written["cell_id"], expected.index.to_numpy())
    assert list(written["token"]) == list(expected["token"])
    assert written.crs.to_epsg() == 4326


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cover", "missing.gpkg", "--level", "12", "-o", "x.gpkg"], "does not exist"),
        (["cover", "{area}", "--level", "40", "-o", "{tmp}/x.gpkg"], "between 0 and 30"),
        (["cover", "{area}", "--level", "12", "-o", "{tmp}/x.csv"], "unknown extension"),
        (["cells", "{area}", "--level", "12", "-o", "{tmp}/x.gpkg"], "not (non-empty) points"),
    ],
)
def test_cli_errors_are_one_line_with_status_2(tmp_path, area, capsys, argv, message):
    source = tmp_path / "area.gpkg"
    area.to_file(source)
    argv = [a.format(area=source, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
