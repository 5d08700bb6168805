"""Seam ratios of embeddings on real OSM data: sliding windows leave no image border.

The demo's levels on the bundled sample (patch level 18, image level 15) and
three shared extracts at city levels (16 / 13), each with one model trained
on its own cells: the paper's architecture, trained for three epochs only so
that the test stays fast. The seam comes from how cells are read (from their
tile, or through overlapping sliding windows), which these settings exercise
fully; the README has the figures after full training. Raw log counts score
about 0.95 on the same pairs.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

import s2vec_geo as sv
from s2vec_geo.embeddings.seams import seams
from s2vec_geo.ingest import osm_header_bbox
from s2vec_geo.model.training import TrainConfig

EXTRACTS = {
    "monaco": "srai-monaco.osm.pbf",
    "krems": "graphhopper-krems.osm.pbf",
    "liechtenstein": "valhalla-liechtenstein.osm.pbf",
}


def seam_ratios(source, level: int, image_level: int, aoi=None) -> dict[str, float]:
    cells = sv.featurize(source, level=level, aoi=aoi)
    images = sv.build_images(cells, image_level)
    ratios = {"counts": seams(cells, image_level).ratio}
    for windows in ("sliding", "aligned"):
        config = TrainConfig(epochs=3, windows=windows)
        model = sv.train(images, config)
        ratios[windows] = seams(sv.embed(cells, model), image_level).ratio
    return ratios


def test_demo_embeddings_have_no_seams(sample_pbf) -> None:
    ratios = seam_ratios(sample_pbf, 18, 15)
    assert ratios["sliding"] <= 1.10, ratios
    assert ratios["aligned"] > ratios["sliding"] + 0.2, ratios


@pytest.mark.shared_data
@pytest.mark.parametrize("name", EXTRACTS)
def test_city_embeddings_have_no_seams(shared_data, name) -> None:
    """Cells over the populated part of each extract (its Kontur hexagons), zeros included.

    Every cell of the area is present, zeros included. On areas this small the
    raw counts' own ratio is noisy (0.9-1.25 here: a few cells with a rare
    feature dominate the mean distance), so the embeddings are held to the
    absolute bound, and to a clear gap from the aligned tiles.
    """
    pbf = shared_data / "osm" / EXTRACTS[name]
    hexagons = gpd.read_file(shared_data / "labels" / "kontur" / f"kontur_population_{name}.gpkg")
    box = shapely.box(*osm_header_bbox(pbf))
    aoi = shapely.union_all(hexagons.geometry[hexagons.intersects(box)].to_numpy())
    ratios = seam_ratios(pbf, 16, 13, aoi=aoi)
    assert ratios["sliding"] <= 1.10, ratios
    assert ratios["aligned"] > ratios["sliding"] + 0.5, ratios
