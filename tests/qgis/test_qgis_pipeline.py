"""Featurize, images, train, embed, join, evaluate and the whole pipeline through Processing.

The steps share their outputs through module-scoped fixtures: the bundled
Helsinki sample at patch level 16 with images at level 13, a small model
(embedding size 16, one epoch) to keep the run short.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "qgis.core",
    reason="QGIS Python bindings not installed (apt-get install qgis python3-qgis "
    "qgis-providers; see qgis_plugin/README.md)",
)
pytest.importorskip("pytest_qgis", reason="pytest-qgis not installed (pip install pytest-qgis)")

import processing
from qgis.core import (
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingUtils,
    QgsRasterLayer,
    QgsSymbolLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage
from qgis_helpers import REPO, engine_interpreter, field_values, run_library

LEVEL, IMAGE_LEVEL, DIM = 16, 13, 16
POIS = REPO / "examples" / "data" / "helsinki_pois.shp"


def run(name: str, parameters: dict) -> dict:
    return processing.run(f"s2vec:{name}", parameters)


def open_layer(path) -> QgsVectorLayer:
    layer = QgsVectorLayer(str(path), "layer", "ogr")
    assert layer.isValid(), f"QGIS cannot open {path}"
    return layer


def table(path, fields: list[str]) -> dict[int, tuple]:
    """cell_id -> values of ``fields``, read with QGIS."""
    layer = open_layer(path)
    rows = {f["cell_id"]: tuple(f[n] for n in fields) for f in layer.getFeatures()}
    del layer
    return rows


def library_table(path, fields_prefix: str = "") -> dict:
    """cell_id -> all numeric columns (or those starting with a prefix), read by the library."""
    return run_library(
        "import json, geopandas as gpd; "
        f"g = gpd.read_file({str(path)!r}); "
        "num = g.drop(columns='geometry').select_dtypes('number').columns; "
        f"cols = [c for c in num if c.startswith({fields_prefix!r}) and c != 'cell_id']; "
        "print(json.dumps({'columns': cols, 'rows': {str(int(r)): "
        "[float(v) for v in row] for r, row in zip(g['cell_id'], g[cols].to_numpy())}}))"
    )


def engine(*args) -> None:
    """Run the engine CLI directly (what a user of the library would run)."""
    import subprocess

    subprocess.run([engine_interpreter(), "-m", "s2vec_geo", *map(str, args)], check=True, cwd=REPO)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipeline")


@pytest.fixture(scope="module")
def featurized(provider, sample_pbf, work) -> Path:
    out = work / "features.gpkg"
    run("featurizeosm", {"PBF": str(sample_pbf), "LEVEL": LEVEL, "OUTPUT": str(out)})
    return out


@pytest.fixture(scope="module")
def images(provider, featurized, work) -> Path:
    out = work / "images"
    run("images", {"CELLS": str(featurized), "IMAGE_LEVEL": IMAGE_LEVEL, "OUTPUT": str(out)})
    return out


@pytest.fixture(scope="module")
def trained(provider, images, work) -> tuple[Path, float]:
    """The model file and the progress the training reported to Processing."""
    out = work / "run"
    feedback = QgsProcessingFeedback()
    results = processing.run(
        "s2vec:train",
        {"IMAGES": str(images), "EPOCHS": 2, "EMBED_DIM": DIM, "SEED": 0, "OUTPUT": str(out)},
        feedback=feedback,
    )
    return Path(results["MODEL"]), feedback.progress()


@pytest.fixture(scope="module")
def model(trained) -> Path:
    return trained[0]


@pytest.fixture(scope="module")
def embeddings(provider, featurized, model, work) -> Path:
    out = work / "embeddings.gpkg"
    run("embed", {"CELLS": str(featurized), "MODEL": str(model), "OUTPUT": str(out)})
    return out


def test_featurize_osm_matches_library(featurized, sample_pbf, work):
    expected_path = work / "library_features.gpkg"
    engine("featurize", sample_pbf, "--level", LEVEL, "--output", expected_path)
    expected = library_table(expected_path)
    layer = open_layer(featurized)
    assert layer.featureCount() == len(expected["rows"]) > 10
    got = {
        str(f["cell_id"]): [float(f[c]) for c in expected["columns"]] for f in layer.getFeatures()
    }
    del layer
    assert got == expected["rows"]


def test_featurize_layer_counts_a_category_column(provider, work):
    out = work / "pois.gpkg"
    run(
        "featurizelayer",
        {"INPUT": str(POIS), "CATEGORY_COLUMN": "amenity", "LEVEL": LEVEL, "OUTPUT": str(out)},
    )
    expected_path = work / "library_pois.gpkg"
    engine("featurize", POIS, "--level", LEVEL, "--category-column", "amenity", "--output",
           expected_path)  # fmt: skip
    assert library_table(out) == library_table(expected_path)


def test_a_category_field_starting_with_a_dash(provider, work):
    dashed = work / "dashed_pois.gpkg"
    run_library(
        "import geopandas as gpd; "
        f"g = gpd.read_file({str(POIS)!r}); g['-kind'] = g['amenity']; "
        f"g.to_file({str(dashed)!r}); print('[]')"
    )
    out = work / "dashed.gpkg"
    run(
        "featurizelayer",
        {"INPUT": str(dashed), "CATEGORY_COLUMN": "-kind", "LEVEL": LEVEL, "OUTPUT": str(out)},
    )
    assert library_table(out) == library_table(work / "pois.gpkg")


def test_images_min_support_matches_the_engine(provider, featurized, images, work):
    out = work / "images_frequent"
    params = {"CELLS": str(featurized), "IMAGE_LEVEL": IMAGE_LEVEL, "MIN_SUPPORT": 0.05}
    run("images", {**params, "OUTPUT": str(out)})
    expected = work / "library_images_frequent"
    engine("images", featurized, "--image-level", IMAGE_LEVEL, "--min-support", 0.05,
           "--output", expected)  # fmt: skip
    kept = json.loads((out / "meta.json").read_text())["feature_names"]
    everything = json.loads((images / "meta.json").read_text())["feature_names"]
    assert kept == json.loads((expected / "meta.json").read_text())["feature_names"]
    assert 0 < len(kept) < len(everything)


def test_geotiff_export_matches_the_engine(provider, images, work):
    features = json.loads((images / "meta.json").read_text())["feature_names"][:2]
    out = work / "tiffs"
    run("geotiff", {"IMAGES": str(images), "FEATURES": ", ".join(features), "OUTPUT": str(out)})
    expected = work / "library_tiffs"
    engine("geotiff", images, "--features", *features, "--output", expected)
    tiffs = sorted(p.name for p in out.iterdir())
    assert tiffs == sorted(p.name for p in expected.iterdir()) and len(tiffs) > 1
    for name in tiffs:
        assert (out / name).read_bytes() == (expected / name).read_bytes(), name
    raster = QgsRasterLayer(str(out / tiffs[0]), "image", "gdal")
    assert raster.isValid() and raster.bandCount() == 2 and raster.crs().isValid()
    del raster


def test_geotiffs_open_in_qgis_without_gdal_errors(provider, images, work):
    """Constant bands (features absent from an image) carry a usable range: QGIS's stretch
    and GDAL's histograms of every band run without "dfMax should be strictly greater"."""
    from osgeo import gdal

    out = work / "all_bands"
    run("geotiff", {"IMAGES": str(images), "OUTPUT": str(out)})
    errors: list[str] = []
    gdal.PushErrorHandler(lambda level, number, message: errors.append(message))
    try:
        for tif in sorted(out.iterdir()):
            raster = QgsRasterLayer(str(tif), "image", "gdal")
            assert raster.isValid()
            provider_ = raster.dataProvider()
            for band in range(1, raster.bandCount() + 1):
                assert provider_.histogram(band).valid
            del raster
    finally:
        gdal.PopErrorHandler()
    assert errors == []


def test_images_and_model_are_written(images, trained):
    model, progress = trained
    assert (images / "meta.json").is_file()
    assert model.is_file() and model.name == "model.pt"
    assert progress == pytest.approx(100), "the engine's progress did not reach Processing"


def test_train_over_two_areas_matches_the_engine(provider, sample_pbf, images, work):
    """Two image datasets (two halves of the sample) train one model, as `s2vec train A B`."""
    north_cells, north = work / "north.gpkg", work / "images_north"
    engine("featurize", sample_pbf, "--level", LEVEL, "--bbox", "24.93", "60.172", "24.96",
           "60.18", "--output", north_cells)  # fmt: skip
    engine("images", north_cells, "--image-level", IMAGE_LEVEL, "--output", north)
    out = work / "run_two"
    settings = {"EPOCHS": 1, "EMBED_DIM": DIM, "SEED": 0, "WINDOWS": 1}
    run("train", {"IMAGES": str(images), "MORE_IMAGES": [str(north / "meta.json")],
                  **settings, "OUTPUT": str(out)})  # fmt: skip
    expected = work / "library_run_two"
    engine("train", images, north, "--epochs", 1, "--embed-dim", DIM, "--seed", 0,
           "--windows", "aligned", "--output", expected)  # fmt: skip
    got = json.loads((out / "history.json").read_text())
    assert got == json.loads((expected / "history.json").read_text())
    assert len(got) == 1 and "val_neighbor_baseline" in got[0]


def test_whole_pipeline_over_two_extracts(
    provider, recording_feedback, sample_pbf, shared_data, work
):
    monaco = shared_data / "osm" / "srai-monaco.osm.pbf"
    out = work / "two_areas.gpkg"
    log = recording_feedback()
    results = processing.run(
        "s2vec:pipeline",
        {
            "PBF": str(sample_pbf),
            "MORE_PBF": [str(monaco)],
            "LEVEL": 15,
            "IMAGE_LEVEL": 12,
            "EPOCHS": 1,
            "EMBED_DIM": DIM,
            "OUTPUT": str(out),
        },
        feedback=log,
    )
    layer = open_layer(out)
    latitudes = {round(f.geometry().centroid().asPoint().y()) for f in layer.getFeatures()}
    del layer
    assert latitudes == {44, 60}, "both areas are embedded into the one layer"
    # model, loss curve and PCA map are kept only when asked for
    assert not any(results.get(key) for key in ("MODEL", "LOSS_CURVE", "PCA_MAP"))
    assert [p.name for p in work.glob("two_areas*")] == ["two_areas.gpkg"], "unasked products"
    summary = next(line for line in log.lines if line.startswith("INFO s2vec_geo.cli.run:"))
    assert f"embeddings: {out};" in summary and "model: (not kept" in summary


def test_training_warnings_reach_the_processing_log(provider, recording_feedback, images, work):
    """The sample is too small to learn from: the engine says so as a Processing warning."""

    feedback = recording_feedback()
    params = {"IMAGES": str(images), "EPOCHS": 1, "EMBED_DIM": DIM, "OUTPUT": str(work / "warn")}
    processing.run("s2vec:train", params, feedback=feedback)
    assert any(text.startswith("only ") and "too little data" in text for text in feedback.warnings)
    assert any("does not beat its baselines" in text for text in feedback.warnings)


def test_cancel_stops_training_promptly_and_leaves_no_output(provider, images, tmp_path):
    temp = Path(QgsProcessingUtils.tempFolder())
    before = set(temp.glob("s2vec-*"))
    feedback = QgsProcessingFeedback()
    timer = threading.Timer(4.0, feedback.cancel)
    out = tmp_path / "run"
    timer.start()
    started = time.monotonic()
    with pytest.raises(QgsProcessingException, match="cancelled"):
        processing.run(
            "s2vec:train",
            {"IMAGES": str(images), "EPOCHS": 5000, "EMBED_DIM": DIM, "OUTPUT": str(out)},
            feedback=feedback,
        )
    elapsed = time.monotonic() - started
    assert elapsed < 15, f"Cancel took {elapsed:.1f} s"
    assert not out.exists(), "a cancelled run left an output"
    assert set(temp.glob("s2vec-*")) == before, "a cancelled run left its work folder"


def test_embed_matches_library_and_styles(embeddings, featurized, model, work, tmp_path):
    got = library_table(embeddings, "emb_")
    assert len(got["columns"]) == DIM
    assert len(got["rows"]) == open_layer(featurized).featureCount()
    expected_path = work / "library_embeddings.gpkg"
    engine("embed", featurized, "--model", model, "--output", expected_path)
    expected = library_table(expected_path, "emb_")
    assert got["rows"].keys() == expected["rows"].keys()
    for cell, values in got["rows"].items():
        assert values == pytest.approx(expected["rows"][cell], abs=1e-5)

    from s2vec.styles import style_embedding

    layer = open_layer(embeddings)
    style_embedding(layer)  # the PCA-RGB style the engine stored in the file
    coloured = layer.renderer().rootRule().children()[0].symbol()  # then "no embedding"
    fill = coloured.symbolLayer(0).dataDefinedProperties()
    assert fill.property(QgsSymbolLayer.PropertyFillColor).field() == "pca_rgb"
    abstract = layer.metadata().abstract()  # Layer Properties > Information
    assert f"model: {Path(model).resolve()}" in abstract and "mode: contextual" in abstract
    png = tmp_path / "embeddings.png"
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(200, 200))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    assert image.save(str(png))
    colours = {image.pixel(x, y) for x in range(0, 200, 4) for y in range(0, 200, 4)}
    del layer, job
    assert png.stat().st_size > 0
    assert len(colours) >= 4, "the styled embedding map is blank or single-coloured"


def test_join_gives_every_feature_an_embedding(provider, embeddings, sample_polygons, work):
    out = work / "joined.gpkg"
    run("join", {"INPUT": str(sample_polygons), "EMBEDDINGS": str(embeddings), "OUTPUT": str(out)})
    joined, source = open_layer(out), open_layer(sample_polygons)
    assert joined.featureCount() == source.featureCount()
    names = joined.fields().names()
    assert "emb_000" in names and "osm_id" in names
    filled = [v for v in field_values(joined, "emb_000") if v is not None]
    del joined, source
    assert len(filled) > 0


def evaluated_alike(parameters: dict, flags: list, out: Path, recomputed: tuple = ()) -> dict:
    """Run s2vec:evaluate(areas) with ``parameters`` and the engine with ``flags``: same report.

    ``recomputed``: variants whose inputs each run computes afresh (the untrained network's
    embeddings): present in both reports, their scores compared only for being there.
    """
    name = "evaluateareas" if "AREAS" in parameters else "evaluate"
    results = run(name, {**parameters, "OUTPUT": str(out)})
    assert "R2" in Path(results["REPORT"]).read_text() and Path(results["PLOT"]).is_file()
    got = json.loads(Path(results["RESULTS"]).read_text())
    engine("evaluate", *flags, "--output", out.with_name(f"{out.name}_engine"))
    want = json.loads((out.with_name(f"{out.name}_engine") / "results.json").read_text())
    for report in (got, want):
        assert all(v in report["summary"] for v in recomputed)
        report["scores"] = [s for s in report["scores"] if s["variant"] not in recomputed]
        for key in ("summary", "configs"):
            report[key] = {k: v for k, v in report[key].items() if k not in recomputed}
    assert got == want
    return got


@pytest.fixture(scope="module")
def population(embeddings, shared_data) -> tuple[dict, list]:
    """Helsinki's population grid against the embeddings: the algorithm's inputs, the flags."""
    labels = shared_data / "labels" / "helsinki_population_grid_2020.gpkg"
    return (
        {"EMBEDDINGS": str(embeddings), "LABELS": str(labels), "TARGET": "population"},
        ["--embeddings", embeddings, "--labels", labels, "--target", "population"],
    )


def test_evaluate_takes_counts_block_splits_transforms_and_drops_missing(
    provider, population, featurized, model, work
):
    inputs, flags = population
    # transforms chosen in any order are applied in the declared one: density, then log
    chosen = {**inputs, "COUNTS": str(featurized), "MODEL": str(model), "BLOCK_LEVEL": 14,
              "TRANSFORM": [1, 0], "DROP_MISSING": True, "N_SPLITS": 2}  # fmt: skip
    same = [*flags, "--counts", featurized, "--model", model, "--block-level", 14,
            "--transform", "density", "--transform", "log", "--drop-missing",
            "--n-splits", 2]  # fmt: skip
    # the untrained twin of the model is embedded afresh by each run (its last bits follow
    # the process's threads and BLAS, and the MLP amplifies them): there in both, not equal
    got = evaluated_alike(chosen, same, work / "report_blocks", recomputed=("untrained",))
    assert got["settings"]["split"] == "random 60/20/20 of level-14 blocks"
    assert got["settings"]["transform"] == ["density", "log"]
    assert {"counts", "multiscale", "s2vec"} <= set(got["summary"])


def test_evaluate_holds_out_a_region(provider, population, work):
    inputs, flags = population
    east = "24.945,24.96,60.16,60.18 [EPSG:4326]"  # QGIS: xmin,xmax,ymin,ymax
    got = evaluated_alike(
        {**inputs, "HOLDOUT": east, "N_SPLITS": 1, "LOCATION": False},
        [*flags, "--holdout=24.945,60.16,24.96,60.18", "--n-splits", 1, "--no-location"],
        work / "report_holdout",
    )
    assert got["settings"]["split"].startswith("spatial hold-out")


def test_evaluate_across_areas_leaves_one_area_out(provider, embeddings, shared_data, work):
    """Two areas (the west and east of the sample's labels): transfer from one to the other."""
    labels = shared_data / "labels" / "helsinki_population_grid_2020.gpkg"
    areas = work / "areas"
    areas.mkdir()
    run_library(
        "import geopandas as gpd; "
        f"g = gpd.read_file({str(labels)!r}); x = g.geometry.to_crs(4326).centroid.x; "
        f"g[x < 24.945].to_file({str(areas / 'west.gpkg')!r}); "
        f"g[x >= 24.945].to_file({str(areas / 'east.gpkg')!r}); print('[]')"
    )
    areas_file = areas / "areas.toml"
    areas_file.write_text(
        f'target = "population"\n[[area]]\nname = "west"\nembeddings = "{embeddings}"\n'
        f'labels = "west.gpkg"\n[[area]]\nname = "east"\nembeddings = "{embeddings}"\n'
        'labels = "east.gpkg"\n'
    )
    got = evaluated_alike(
        {"AREAS": str(areas_file), "LEAVE_ONE_AREA_OUT": True, "N_SPLITS": 1, "LOCATION": False},
        ["--areas", areas_file, "--leave-one-area-out", "--n-splits", 1, "--no-location"],
        work / "report_areas",
    )
    assert "west" in json.dumps(got) and "east" in json.dumps(got)


def test_whole_pipeline_keeps_model_loss_curve_and_pca_map(
    provider, recording_feedback, sample_pbf, featurized, work
):
    out, kept = work / "pipeline.gpkg", work / "kept"
    products = {
        "MODEL": kept / "helsinki.pt",
        "LOSS_CURVE": kept / "loss.png",
        "PCA_MAP": kept / "pca.png",
    }
    log = recording_feedback()
    parameters = {"PBF": str(sample_pbf), "LEVEL": LEVEL, "IMAGE_LEVEL": IMAGE_LEVEL, "EPOCHS": 1,
                  "EMBED_DIM": DIM, "SEED": 0, "OUTPUT": str(out)}  # fmt: skip
    results = processing.run(
        "s2vec:pipeline", {**parameters, **{k: str(v) for k, v in products.items()}}, feedback=log
    )
    got = library_table(out, "emb_")
    assert len(got["columns"]) == DIM
    assert got["rows"].keys() == library_table(featurized)["rows"].keys()
    for key, path in products.items():
        assert results[key] == str(path) and path.is_file() and path.stat().st_size > 0, key
    assert sorted(p.name for p in kept.iterdir()) == ["helsinki.pt", "loss.png", "pca.png"]
    for png in ("LOSS_CURVE", "PCA_MAP"):
        image = QImage(str(products[png]))
        colours = {image.pixel(x, y) for x in range(0, image.width(), 7)
                   for y in range(0, image.height(), 7)}  # fmt: skip
        assert len(colours) > 4, f"{png} is blank"
    model = run_library(
        "import json; from s2vec_geo.model.file import load_model; "
        f"m = load_model({str(products['MODEL'])!r}); "
        "print(json.dumps([m.patch_level, m.image_level, m.embed_dim]))"
    )
    assert model == [LEVEL, IMAGE_LEVEL, DIM]
    summary = next(line for line in log.lines if line.startswith("INFO s2vec_geo.cli.run:"))
    for path in [out, *products.values()]:
        assert str(path) in summary, summary
    assert QgsProcessingUtils.tempFolder() not in "\n".join(log.lines), "log names removed files"


def test_image_level_must_be_coarser(provider, sample_pbf, work):
    with pytest.raises(QgsProcessingException, match="must be lower than the patch level"):
        run(
            "pipeline",
            {
                "PBF": str(sample_pbf),
                "LEVEL": 14,
                "IMAGE_LEVEL": 14,
                "OUTPUT": str(work / "x.gpkg"),
            },
        )


def refused_at_once(name: str, parameters: dict) -> str:
    """Run ``s2vec:<name>`` expecting a refusal before any work: its message."""
    started = time.monotonic()
    with pytest.raises(QgsProcessingException) as refused:
        run(name, parameters)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"{name} took {elapsed:.1f} s to refuse a used folder"
    return str(refused.value)


def test_rerun_into_a_used_folder_refuses_at_once_or_overwrites_when_asked(
    provider, recording_feedback, featurized, images, trained, population, work
):
    """Build images, Train model and Evaluate into their own earlier folders: refused in a
    moment with the fix named, nothing touched; with Overwrite, the output is replaced."""
    model, _ = trained
    before = model.stat().st_mtime_ns
    train = {"IMAGES": str(images), "EPOCHS": 1, "EMBED_DIM": DIM, "SEED": 1,
             "OUTPUT": str(model.parent)}  # fmt: skip
    report = work / "report_again"
    evaluate = {**population[0], "N_SPLITS": 1, "LOCATION": False, "OUTPUT": str(report)}
    run("evaluate", evaluate)
    first_report = (report / "results.json").stat().st_mtime_ns
    for name, parameters in (
        ("images", {"CELLS": str(featurized), "IMAGE_LEVEL": IMAGE_LEVEL, "OUTPUT": str(images)}),
        ("train", train),
        ("evaluate", evaluate),
    ):
        message = refused_at_once(name, parameters)
        assert "is not empty" in message and "tick 'Overwrite'" in message, message
        assert "--" not in message, message
    assert model.stat().st_mtime_ns == before, "a refused run touched model.pt"
    log = recording_feedback()
    processing.run("s2vec:train", {**train, "OVERWRITE": True}, feedback=log)
    assert model.stat().st_mtime_ns != before, "Overwrite did not replace model.pt"
    written = next(line for line in log.lines if "model written to" in line)
    assert str(model) in written, written
    run("evaluate", {**evaluate, "OVERWRITE": True})
    assert (report / "results.json").stat().st_mtime_ns != first_report


def test_a_failed_run_into_a_new_folder_leaves_nothing(provider, featurized, tmp_path):
    out = tmp_path / "images"
    with pytest.raises(QgsProcessingException, match="'Largest request"):
        run("images", {"CELLS": str(featurized), "IMAGE_LEVEL": IMAGE_LEVEL, "MAX_CELLS": 1,
                       "OUTPUT": str(out)})  # fmt: skip
    assert not out.exists(), "a failed run left its folder"


def test_pipeline_provenance_names_the_kept_model_or_none(provider, sample_pbf, work, tmp_path):
    """The layer records the kept model.pt and its SHA-256, or that none was kept."""
    parameters = {"PBF": str(sample_pbf), "LEVEL": LEVEL, "IMAGE_LEVEL": IMAGE_LEVEL, "EPOCHS": 1,
                  "EMBED_DIM": DIM, "SEED": 0}  # fmt: skip
    kept = tmp_path / "kept" / "m.pt"
    run("pipeline", {**parameters, "OUTPUT": str(tmp_path / "a.gpkg"), "MODEL": str(kept)})
    run("pipeline", {**parameters, "OUTPUT": str(tmp_path / "b.gpkg")})
    records = run_library(
        "import json, hashlib, s2vec_geo as sv; "
        f"r = [sv.read_provenance({str(tmp_path)!r} + '/' + n) for n in ('a.gpkg', 'b.gpkg')]; "
        f"h = hashlib.sha256(open({str(kept)!r}, 'rb').read()).hexdigest(); "
        "print(json.dumps([r, h]))"
    )
    (a, b), digest = records
    assert a["model"] == str(kept.resolve()) and a["model_sha256"] == digest
    assert b["model"] == "not kept" and len(b["model_sha256"]) == 64


def test_embed_without_a_model_file_uses_the_pretrained_model(provider, sample_pbf, work):
    """An empty model file embeds with the model that ships with the engine (levels 16/12)."""
    cells = work / "features_16.gpkg"
    run("featurizeosm", {"PBF": str(sample_pbf), "LEVEL": 16, "OUTPUT": str(cells)})
    out = work / "pretrained_embeddings.gpkg"
    run("embed", {"CELLS": str(cells), "OUTPUT": str(out)})
    layer = open_layer(out)
    names = layer.fields().names()
    assert "emb_127" in names and "emb_128" not in names
    assert layer.featureCount() == open_layer(cells).featureCount() > 10
    del layer
