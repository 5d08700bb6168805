"""Label reading/alignment, external tables, location encoding and fusion."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from s2vec_geo.evaluation import (
    align_labels,
    cell_location_encoding,
    embeddings_for_cells,
    location_encoding,
    make_fusion,
    read_labels,
)
from s2vec_geo.s2 import cell_parent, cell_to_latlng, cells_frame, cover, latlng_to_cell

BOX = shapely.box(-74.01, 40.70, -73.99, 40.72)


@pytest.fixture(scope="module")
def cells() -> np.ndarray:
    return cover(BOX, 16)


def halves(split_lng: float = -74.0) -> gpd.GeoDataFrame:
    """Two label polygons meeting at ``split_lng``: 10 to the west, 0 to the east."""
    west = shapely.box(-74.1, 40.6, split_lng, 40.8)
    east = shapely.box(split_lng, 40.6, -73.9, 40.8)
    return gpd.GeoDataFrame({"v": [10.0, 0.0]}, geometry=[west, east], crs=4326)


def test_points_take_the_median_of_their_cell(cells: np.ndarray) -> None:
    lat, lng = cell_to_latlng(cells[:2])
    pts = gpd.GeoDataFrame(
        {"v": [1.0, 2.0, 9.0, 4.0]},
        geometry=gpd.points_from_xy([lng[0]] * 3 + [lng[1]], [lat[0]] * 3 + [lat[1]]),
        crs=4326,
    )
    aligned = align_labels(pts, cells, "v")
    assert aligned.index.name == "cell_id"
    assert aligned.loc[cells[0]] == 2.0
    assert aligned.loc[cells[1]] == 4.0
    assert len(aligned) == 2
    via_accessor = pts.s2vec.align_labels(cells_frame(cells), "v")
    assert via_accessor.equals(aligned)


def test_accessor_takes_a_cell_id_column_and_drops_missing_labels(cells: np.ndarray) -> None:
    lat, lng = cell_to_latlng(cells[:2])
    pts = gpd.GeoDataFrame(
        {"v": [1.0, None]}, geometry=gpd.points_from_xy(lng[:2], lat[:2]), crs=4326
    )
    layer = cells_frame(cells).reset_index()  # cell_id a column, as read from a file
    with pytest.raises(ValueError, match="drop_missing"):
        pts.s2vec.align_labels(layer, "v")
    kept = pts.s2vec.align_labels(layer, "v", drop_missing=True)
    assert kept.index.tolist() == [cells[0]] and kept.iloc[0] == 1.0


def test_points_in_another_crs_are_reprojected(cells: np.ndarray) -> None:
    lat, lng = cell_to_latlng(cells[:1])
    pts = gpd.GeoDataFrame({"v": [3.0]}, geometry=gpd.points_from_xy(lng, lat), crs=4326)
    aligned = align_labels(read_labels(pts.to_crs(32618), "v"), cells, "v")
    assert aligned.to_dict() == {int(cells[0]): 3.0}


def test_polygon_overlap_rule_weights_by_covered_fraction(cells: np.ndarray) -> None:
    aligned = align_labels(halves(), cells, "v", rule="overlap")
    polys = cells_frame(aligned.index.to_numpy()).geometry.to_numpy()
    straddle = shapely.intersects(polys, shapely.LineString([(-74.0, 40.6), (-74.0, 40.8)]))
    assert len(aligned) == cells.size  # every cell is fully labelled
    west = (shapely.bounds(polys)[:, 2] <= -74.0) & ~straddle
    assert (aligned[west] == 10.0).all()
    assert (aligned[~west & ~straddle] == 0.0).all()
    # cells cut by the border get 10 x their western fraction
    frac_west = shapely.area(shapely.intersection(polys, halves().geometry[0])) / shapely.area(
        polys
    )
    assert straddle.sum() > 3
    assert np.allclose(aligned[straddle], 10.0 * frac_west[straddle])
    assert ((aligned[straddle] > 0) & (aligned[straddle] < 10)).all()


def test_polygon_centroid_rule_takes_the_polygon_under_the_centre(cells: np.ndarray) -> None:
    aligned = align_labels(halves(), cells, "v", rule="centroid")
    _, lng = cell_to_latlng(aligned.index.to_numpy())
    assert set(aligned.unique()) == {0.0, 10.0}
    assert np.array_equal(aligned.to_numpy() == 10.0, lng < -74.0)


def test_cells_little_covered_by_polygons_are_left_out(cells: np.ndarray) -> None:
    poly = cells_frame(cells[:1]).geometry.iloc[0]
    minx, miny, maxx, maxy = poly.bounds
    sliver = shapely.box(minx - 1e-3, miny - 1e-3, minx + 0.2 * (maxx - minx), maxy + 1e-3)
    labels = gpd.GeoDataFrame({"v": [1.0]}, geometry=[sliver], crs=4326)
    assert cells[0] not in align_labels(labels, cells, "v", min_overlap=0.5).index
    assert cells[0] in align_labels(labels, cells, "v", min_overlap=0.1).index


def test_text_targets_are_converted_and_missing_values_need_consent(tmp_path) -> None:
    csv = tmp_path / "sales.csv"
    pd.DataFrame(
        {
            "X_COORD": [-74.0, -74.0, -74.0],
            "Y_COORD": [40.7, 40.71, 40.72],
            "price": ["100", "unknown", "250.5"],
        }
    ).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"1 of 3 labels .* e\.g\. 'unknown'.*drop_missing=True"):
        read_labels(csv, "price", lon_col="X_COORD", lat_col="Y_COORD")
    labels = read_labels(csv, "price", lon_col="X_COORD", lat_col="Y_COORD", drop_missing=True)
    assert labels["price"].tolist() == [100.0, 250.5]
    assert labels.crs.equals("EPSG:4326")
    with pytest.raises(ValueError, match="cannot find a longitude column"):
        read_labels(csv, "price")


def test_nan_labels_are_a_clear_error() -> None:
    pts = gpd.GeoDataFrame(
        {"v": [1.0, np.nan]}, geometry=gpd.points_from_xy([-74.0, -74.0], [40.7, 40.71]), crs=4326
    )
    with pytest.raises(ValueError, match="1 of 2 labels have no usable 'v' value"):
        read_labels(pts, "v")


def test_labels_without_crs_or_target_are_clear_errors(tmp_path) -> None:
    pts = gpd.GeoDataFrame({"v": [1.0]}, geometry=[shapely.Point(-74.0, 40.7)])
    with pytest.raises(ValueError, match=r"no CRS.*--labels-crs EPSG:4326"):
        read_labels(pts, "v")
    assert read_labels(pts, "v", crs="EPSG:4326").crs.equals("EPSG:4326")
    with pytest.raises(ValueError, match="target column 'income' is not in the labels"):
        read_labels(pts, "income", crs=4326)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_labels(tmp_path / "missing.gpkg", "v")


def test_mixed_geometries_and_mixed_levels_are_rejected(cells: np.ndarray) -> None:
    mixed = gpd.GeoDataFrame(
        {"v": [1.0, 2.0]}, geometry=[shapely.Point(-74.0, 40.71), BOX], crs=4326
    )
    with pytest.raises(ValueError, match="all points or all polygons"):
        align_labels(mixed, cells, "v")
    with pytest.raises(ValueError, match="mixes S2 levels"):
        align_labels(halves(), np.concatenate([cells, cell_parent(cells[:1], 12)]), "v")


def test_external_tables_by_cell_by_point_and_by_coarser_cell(cells: np.ndarray) -> None:
    by_cell = pd.DataFrame({"cell_id": cells[:3], "e0": [1.0, 2.0, 3.0]})
    out = embeddings_for_cells(by_cell, cells)
    assert out.index.tolist() == cells[:3].tolist()  # cells without a row are left out
    assert out["e0"].tolist() == [1.0, 2.0, 3.0]

    lat, lng = cell_to_latlng(cells[:1])
    pts = gpd.GeoDataFrame(
        {"e0": [1.0, 5.0]}, geometry=gpd.points_from_xy([lng[0]] * 2, [lat[0]] * 2), crs=4326
    )
    assert embeddings_for_cells(pts.to_crs(3857), cells)["e0"].tolist() == [3.0]

    parents = np.unique(cell_parent(cells, 13))
    coarse = pd.DataFrame({"cell_id": parents, "e0": np.arange(parents.size, dtype=float)})
    out = embeddings_for_cells(coarse, cells)
    assert len(out) == cells.size
    expect = pd.Series(coarse["e0"].to_numpy(), index=parents).loc[cell_parent(cells, 13)]
    assert np.array_equal(out["e0"].to_numpy(), expect.to_numpy(np.float32))

    fine = pd.DataFrame({"cell_id": latlng_to_cell(lat, lng, 20), "e0": [7.0]})
    assert embeddings_for_cells(fine, cells)["e0"].tolist() == [7.0]


def test_location_encoding_is_multiscale_bounded_and_distinguishes_places() -> None:
    enc = location_encoding([40.70, 40.70, 40.71], [-74.0, -74.0, -74.0], scales=4)
    assert enc.shape == (3, 24)
    assert np.abs(enc).max() <= 1.0
    assert np.array_equal(enc[0], enc[1])
    assert not np.allclose(enc[0], enc[2])
    # cos^2 + sin^2 = 1 for every scale and direction
    cos, sin = enc.reshape(3, 4, 2, 3)[:, :, 0], enc.reshape(3, 4, 2, 3)[:, :, 1]
    assert np.allclose(cos**2 + sin**2, 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        location_encoding([np.nan], [0.0])


def test_cell_location_encoding_defaults_to_cell_sized_shortest_wave(cells: np.ndarray) -> None:
    lat, lng = cell_to_latlng(cells)
    wave = 4 * 90.0 / 2**16
    assert np.allclose(cell_location_encoding(cells), location_encoding(lat, lng, 16, wave, 360.0))


def test_fusion_shapes_and_weighted_add_needs_equal_sizes() -> None:
    assert make_fusion("concat", [4, 3], 8)[1] == 7
    assert make_fusion("wt-add", [4, 4], 8)[1] == 4
    assert make_fusion("proj-add", [4, 3], 8)[1] == 8
    with pytest.raises(ValueError, match="wt-add fusion needs blocks of equal length"):
        make_fusion("wt-add", [4, 3], 8)
    with pytest.raises(ValueError, match="unknown fusion"):
        make_fusion("sum", [4], 8)


def test_nyc_tracts_align_to_lower_manhattan_cells(shared_data) -> None:
    shp = shared_data / "labels" / "nyc_tract_acs" / "NYC_Tract_ACS2008_12.shp"
    with pytest.raises(ValueError, match="no CRS"):
        read_labels(shp, "medianinco")
    with pytest.raises(ValueError, match=r"54 of 2166 labels .* e\.g\. 'NA'"):
        read_labels(shp, "medianinco", crs="EPSG:4326")
    tracts = read_labels(shp, "medianinco", crs="EPSG:4326", drop_missing=True)
    assert len(tracts) == 2166 - 54
    cells = cover(shapely.box(-74.02, 40.70, -73.93, 40.80), 15)
    aligned = align_labels(tracts, cells, "medianinco")
    assert 500 < len(aligned) < cells.size  # water and unlabelled tracts drop out
    assert tracts["medianinco"].min() <= aligned.min() <= aligned.max()
    assert aligned.max() <= tracts["medianinco"].max()
