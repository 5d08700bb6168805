"""GeoTIFF export: files open in rasterio/QGIS and every pixel lies on its S2 cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.transform import xy

from s2vec_geo.cli import main
from s2vec_geo.images import ImageDataset, build_images, export_geotiff, georeference
from s2vec_geo.s2 import (
    cell_children,
    cell_parent,
    cell_to_polygon,
    cell_to_token,
    latlng_to_cell,
)

PATCH, IMAGE = 14, 10
PLACES = {
    "nyc": (40.7128, -74.0060),
    "reykjavik": (64.1466, -21.9426),
    "sydney": (-33.8688, 151.2093),
    "singapore": (1.3521, 103.8198),
    "north_pole": (89.5, 30.0),
    "south_pole": (-89.5, -120.0),
}


def parent_of(place: str, level: int = IMAGE) -> np.int64:
    lat, lng = PLACES[place]
    return latlng_to_cell(np.array([lat]), np.array([lng]), level)[0]


@pytest.fixture(scope="module")
def built() -> tuple[ImageDataset, np.ndarray]:
    """One image per place, every 7th child missing (nodata); feature ``ident`` = row."""
    ids = np.concatenate([cell_children(parent_of(p), PATCH) for p in PLACES])
    ids = np.delete(ids, np.arange(0, len(ids), 7))
    rng = np.random.default_rng(7)
    cells = pd.DataFrame(
        {"ident": np.arange(len(ids)), "shops": rng.poisson(2.0, len(ids))},
        index=pd.Index(ids, name="cell_id"),
    )
    return build_images(cells, image_level=IMAGE), ids


@pytest.fixture(scope="module")
def dataset(built: tuple[ImageDataset, np.ndarray]) -> ImageDataset:
    return built[0]


@pytest.fixture(scope="module")
def tiles(dataset: ImageDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiles")
    files = export_geotiff(dataset, folder)
    assert sorted(files) == sorted(folder / f"{t}.tif" for t in cell_to_token(dataset.parents))
    return folder


@pytest.mark.parametrize("place", list(PLACES))
def test_every_pixel_centre_falls_in_its_cell(
    built: tuple[ImageDataset, np.ndarray], tiles: Path, place: str
) -> None:
    cell_ids = built[1]  # the input cell each "ident" value stands for
    parent = parent_of(place)
    token = cell_to_token(np.array([parent]))[0]
    with rasterio.open(tiles / f"{token}.tif") as src:
        ident = src.read(1)
        rows, cols = np.indices(ident.shape)
        xs, ys = xy(src.transform, rows.ravel(), cols.ravel(), offset="center")
        to_lnglat = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
        lng, lat = (np.asarray(v) for v in to_lnglat.transform(xs, ys))
    under = latlng_to_cell(lat, lng, PATCH)
    # The raster tiles the parent: one pixel per child, each centre in its own cell.
    assert np.array_equal(np.sort(under), np.sort(cell_children(parent, PATCH)))
    polygons = cell_to_polygon(under)
    assert shapely.contains_xy(polygons, lng, lat).all()
    # ...and the value there is the one of that cell (nodata where the cell is missing).
    valid = ~np.isnan(ident.ravel())
    held = cell_ids[ident.ravel()[valid].astype(np.int64)]
    assert np.array_equal(held, under[valid])
    assert not np.isin(under[~valid], cell_ids).any()
    assert (~valid).sum() > 0


@pytest.mark.parametrize("place", list(PLACES))
def test_fit_residual_is_a_small_fraction_of_a_pixel(place: str) -> None:
    # Measured 0.001-0.003 px (16 x 16 at level 10), 0.007-0.012 px (16 x 16 at level 8).
    assert georeference(parent_of(place), PATCH).max_error_px < 0.005
    assert georeference(parent_of(place, 8), 12).max_error_px < 0.02


def test_files_carry_crs_band_names_nodata_and_tags(dataset: ImageDataset, tiles: Path) -> None:
    parent = parent_of("sydney")
    token = cell_to_token(np.array([parent]))[0]
    i = int(dataset.index_of(parent)[0])
    with rasterio.open(tiles / f"{token}.tif") as src:
        crs = CRS.from_user_input(src.crs.to_wkt())
        assert crs.is_projected and crs.coordinate_operation.method_name == "Gnomonic"
        assert src.descriptions == ("ident", "shops")
        assert src.count == 2 and src.width == src.height == 16
        assert np.isnan(src.nodata)
        assert int(np.isnan(src.read(2)).sum()) == int((~dataset.mask(i)).sum())
        tags = src.tags()
        assert tags["S2VEC_PARENT"] == token and tags["S2VEC_PATCH_LEVEL"] == str(PATCH)
        assert float(tags["S2VEC_FIT_MAX_ERROR_PX"]) < 0.005
        # Raster cells roughly north-up: x grows to the right, y down the rows.
        assert src.transform.a > 0 and src.transform.e < 0


def test_one_file_selected_features_and_normalized_values(
    dataset: ImageDataset, tmp_path: Path
) -> None:
    parent = parent_of("reykjavik")
    i = int(dataset.index_of(parent)[0])
    token = cell_to_token(np.array([parent]))[0]
    [path] = export_geotiff(
        dataset, tmp_path / "one.tif", parents=[token], features=["shops"], normalized=True
    )
    geo = georeference(parent, PATCH)
    with rasterio.open(path) as src:
        assert src.descriptions == ("shops",)
        band = src.read(1).ravel()
    x, mask = dataset[i]
    expected = np.where(mask.numpy(), x.numpy()[:, 1], np.nan)[geo.order.ravel()]
    np.testing.assert_array_equal(band, expected)


def test_bad_requests_are_explained(dataset: ImageDataset, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give a folder"):
        export_geotiff(dataset, tmp_path / "all.tif")
    with pytest.raises(ValueError, match="unknown feature"):
        export_geotiff(dataset, tmp_path / "x", features=["cafes"])
    with pytest.raises(FileNotFoundError, match="create it first"):
        export_geotiff(dataset, tmp_path / "missing" / "tiles")
    elsewhere = cell_parent(latlng_to_cell(np.array([48.85]), np.array([2.35]), PATCH), IMAGE)
    with pytest.raises(ValueError, match="not images of this dataset"):
        export_geotiff(dataset, tmp_path / "p.tif", parents=elsewhere)


def test_cli_exports_geotiffs(dataset: ImageDataset, tmp_path: Path) -> None:
    cells = pd.DataFrame(
        {"shops": np.arange(256.0)},
        index=pd.Index(cell_children(parent_of("singapore"), PATCH), name="cell_id"),
    )
    source = tmp_path / "cells.parquet"
    cells.reset_index().to_parquet(source)
    out = tmp_path / "imgs"
    tif = tmp_path / "sg.tif"
    args = ["images", str(source), "--image-level", "10", "--output", str(out)]
    assert main([*args, "--geotiff", "all", "--geotiff-out", str(tif)]) == 0
    token = cell_to_token(np.array([parent_of("singapore")]))[0]
    assert main(["geotiff", str(out), "--parents", token, "--output", str(tmp_path / "t")]) == 0
    with rasterio.open(tif) as a, rasterio.open(tmp_path / "t" / f"{token}.tif") as b:
        assert np.array_equal(a.read(), b.read()) and a.transform == b.transform
        assert sorted(a.read(1).ravel().tolist()) == list(range(256))


def test_export_with_machine_readable_progress(
    dataset: ImageDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S2VEC_PROGRESS", "lines")
    files = export_geotiff(dataset, tmp_path / "tiles", parents=dataset.parents[:1])
    assert [f.name for f in files] == [f"{cell_to_token(dataset.parents[:1])[0]}.tif"]
