"""Layer files describe themselves: PCA-RGB colours, a stored QGIS style, provenance, version.

What a user opening an output elsewhere relies on: the embedding layer's
``pca_rgb`` colours, the QGIS style in its ``layer_styles`` table, a
GeoPackage version that QGIS 3.22's GDAL reads without warnings, and the
record of the model and settings behind it, in GeoPackage and GeoParquet.
(QGIS itself opening these files is tested in ``tests/qgis/test_qgis_styles.py``.)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
from synthetic_cells import TINY_MODEL, synthetic_cells

import s2vec_geo as sv
from s2vec_geo.cli import main
from s2vec_geo.core.colours import pca_rgb
from s2vec_geo.images import build_images
from s2vec_geo.io import layers
from s2vec_geo.model.training import TrainConfig, train

GPKG_1_2 = 10200
"""``PRAGMA user_version`` of a GeoPackage 1.2 file."""


@pytest.fixture(scope="module")
def cells():
    return synthetic_cells(n_parents=4)


@pytest.fixture(scope="module")
def model_file(cells, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    config = TrainConfig(epochs=1, batch_size=4, model=TINY_MODEL)
    train(build_images(cells, image_level=10), config, out=run)
    return run / "model.pt"


@pytest.fixture(scope="module")
def emb(cells, model_file):
    return sv.embed(cells, sv.load_model(model_file))


def sql(path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


def test_embedding_layers_record_the_model_and_settings(emb, model_file, tmp_path) -> None:
    expected = {
        "s2vec_geo_version": sv.__version__,
        "model": str(model_file.resolve()),
        "model_sha256": hashlib.sha256(model_file.read_bytes()).hexdigest(),
        "mode": "contextual",
        "windows": "sliding",
        "stride": "4",
        "images": "false",
        "level": "13",
        "image_level": "10",
        "taxonomy_version": "synthetic-1",
    }
    for name in ("emb.gpkg", "emb.parquet"):
        path = sv.write_layer(emb, tmp_path / name)
        assert sv.read_provenance(path) == expected
        assert sv.read_cell_layer(path).attrs["provenance"] == expected
    # GeoParquet: key-value metadata beside "geo"; GeoPackage: the abstract QGIS shows
    metadata = pq.read_schema(tmp_path / "emb.parquet").metadata
    assert b"geo" in metadata and json.loads(metadata[b"s2vec"]) == expected
    query = "SELECT description FROM gpkg_contents WHERE table_name = 'emb'"
    [(description,)] = sql(tmp_path / "emb.gpkg", query)
    assert description.startswith(f"Written by s2vec-geo {sv.__version__}; model: ")
    assert "mode: contextual" in description and model_file.name in description


def test_patch_and_image_embeddings_say_so(cells, model_file, tmp_path) -> None:
    model = sv.load_model(model_file)
    patch = sv.write_layer(sv.embed(cells, model, mode="patch"), tmp_path / "patch.parquet")
    record = sv.read_provenance(patch)
    assert record["mode"] == "patch" and "windows" not in record and "stride" not in record
    images = sv.embed(cells, model, images=True, windows="aligned")
    record = sv.read_provenance(sv.write_layer(images, tmp_path / "images.gpkg"))
    assert (record["images"], record["windows"]) == ("true", "aligned")
    assert "stride" not in record


def test_an_unsaved_model_is_named_as_such(cells, tmp_path) -> None:
    config = TrainConfig(epochs=1, batch_size=4, model=TINY_MODEL)
    model = train(build_images(cells, image_level=10), config)
    record = sv.read_provenance(sv.write_layer(sv.embed(cells, model), tmp_path / "e.gpkg"))
    assert record["model"] == "in memory (not saved)" and "model_sha256" not in record


def test_featurized_cells_record_level_and_taxonomy(sample_pbf, tmp_path) -> None:
    out = tmp_path / "cells.gpkg"
    assert main(["featurize", str(sample_pbf), "--level", "14", "-o", str(out)]) == 0
    record = sv.read_provenance(out)
    columns = json.loads(record.pop("feature_columns"))
    assert record == {"s2vec_geo_version": sv.__version__, "level": "14", "taxonomy_version": "1"}
    assert len(columns) > 100 and columns == sv.feature_columns(sv.read_cell_layer(out))
    assert sql(out, "SELECT styleName FROM layer_styles") == [("cells",)]


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_cell_metadata_survives_a_file_and_training_reads_it(sample_pbf, tmp_path, suffix):
    cells = sv.featurize(sample_pbf, level=16)
    kept = {k: cells.attrs[k] for k in ("level", "taxonomy_version", "feature_columns")}
    path = sv.write_layer(cells, tmp_path / f"cells{suffix}")
    back = sv.read_cell_layer(path)
    assert {k: back.attrs[k] for k in kept} == kept
    config = TrainConfig(epochs=1, batch_size=8, model=TINY_MODEL)
    for source in (path, back):  # the file, or the frame read back
        model = train(build_images(source, image_level=13), config)
        assert model.taxonomy_version == kept["taxonomy_version"] == "1"


def test_joined_layers_carry_the_embeddings_record(emb, tmp_path) -> None:
    embeddings = sv.write_layer(emb, tmp_path / "emb.gpkg")
    lat, lng = sv.cell_to_latlng(emb.index.to_numpy()[:5])
    points = gpd.GeoDataFrame({"n": range(5)}, geometry=gpd.points_from_xy(lng, lat), crs=4326)
    sv.write_layer(points, tmp_path / "points.gpkg")
    out = tmp_path / "joined.gpkg"
    assert main(["join", str(tmp_path / "points.gpkg"), "-e", str(embeddings), "-o", str(out)]) == 0
    assert sv.read_provenance(out) == sv.read_provenance(embeddings)
    assert sql(out, "SELECT styleName FROM layer_styles") == [("pca_rgb_marker",)]


def test_embedding_layers_carry_their_pca_colours_and_style(emb, tmp_path) -> None:
    path = sv.write_layer(emb, tmp_path / "emb.gpkg")
    back = gpd.read_file(path, layer="emb")
    rgb = pca_rgb(emb.filter(like="emb_").to_numpy(np.float64))
    expected = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in np.rint(rgb * 255).astype(int)]
    assert back["pca_rgb"].tolist() == expected
    assert len(set(expected)) > len(expected) // 2, "PCA colours do not tell cells apart"
    [(table, column, name, default, qml, sld)] = sql(
        path,
        "SELECT f_table_name, f_geometry_column, styleName, useAsDefault, styleQML, styleSLD "
        "FROM layer_styles",
    )
    assert (table, name, default) == ("emb", "pca_rgb_fill", 1)
    assert column == sql(path, "SELECT column_name FROM gpkg_geometry_columns")[0][0]
    assert '<Option type="QString" value="pca_rgb" name="field"/>' in qml  # as QGIS writes it
    assert "<ogc:PropertyName>pca_rgb</ogc:PropertyName>" in sld
    contents = sql(path, "SELECT table_name, data_type FROM gpkg_contents")
    assert ("layer_styles", "attributes") in contents
    # written again over itself (a re-run): one style, fresh colours
    sv.write_layer(sv.read_cell_layer(path), path)
    assert sql(path, "SELECT count(*) FROM layer_styles") == [(1,)]
    assert gpd.read_file(path, layer="emb")["pca_rgb"].tolist() == expected


def test_every_geopackage_is_version_1_2(emb, tmp_path) -> None:
    frames = {
        "emb": emb,
        "cells": sv.cells_frame(emb.index.to_numpy()),
        "plain": gpd.GeoDataFrame({"v": [1]}, geometry=gpd.points_from_xy([0], [0]), crs=4326),
    }
    for name, frame in frames.items():
        path = sv.write_layer(frame, tmp_path / f"{name}.gpkg")
        assert sql(path, "PRAGMA user_version") == [(GPKG_1_2,)], name
        assert sql(path, "PRAGMA application_id") == [(0x47504B47,)], name  # "GPKG"


def test_partitions_get_no_colours_of_their_own(emb, tmp_path) -> None:
    path = sv.write_layer(emb.iloc[:10], tmp_path / "part.parquet", style=False)
    assert "pca_rgb" not in gpd.read_parquet(path).columns


def test_atomic_write_is_on_disk_before_the_rename(tmp_path, monkeypatch) -> None:
    """fsync of the temporary, then the rename, then fsync of the folder (where allowed)."""
    events: list[str] = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(layers.os, "fsync", lambda fd: events.append("fsync") or fsync(fd))
    monkeypatch.setattr(
        layers.os, "replace", lambda a, b: events.append("replace") or replace(a, b)
    )
    target = tmp_path / "a.txt"
    with layers.atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert events[:2] == ["fsync", "replace"]
