"""Failures a user can fix end in one line that names the file or the option and the fix.

Issue 23, item 10: model files without a format version, an image dataset whose
``meta.json`` miscounts its images, a device that does not exist, tag values and
label files that are not UTF-8, advice naming an option the command lacks, and
more Dask workers than cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
import torch
from synthetic_cells import synthetic_cells

import s2vec_geo as sv
from s2vec_geo.cli import build_parser, main
from s2vec_geo.core.options import RENAMED
from s2vec_geo.io.layers import read_cell_layer, write_layer
from s2vec_geo.model.file import pretrained_path
from s2vec_geo.s2 import cell_to_latlng, cells_frame, cover

REPO = Path(__file__).resolve().parents[1]
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9_-]*[a-z0-9]")
OTHER_TOOLS = {
    "torchrun": {"--standalone", "--nnodes", "--nproc_per_node", "--node_rank"}
    | {"--rdzv_id", "--rdzv_backend", "--rdzv_endpoint"},
    "pip": {"--no-deps"},
}
"""Flags of other programs that the engine's help and messages show how to run."""


def cli(argv: list, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Run ``s2vec argv`` in this process: (exit status, its one error line)."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected" not in err, err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return status, lines[0]


def parser_flags() -> dict[str, set[str]]:
    """The flags each ``s2vec`` command accepts."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: {flag for action in p._actions for flag in action.option_strings}
        for name, p in sub.choices.items()
    }


def assert_advice_fits(command: str, line: str) -> None:
    """Every option a message of ``s2vec command`` names is one the command takes.

    Options after a mention of another command (``s2vec images --min-support``)
    may be that command's.
    """
    flags = parser_flags()
    current = command
    for part in re.split(r"(s2vec [a-z]+)", line.split(": error: ", 1)[-1]):
        if part.startswith("s2vec "):
            current = part.split()[1]
            continue
        for flag in FLAG.findall(part):
            allowed = flags[command] | flags.get(current, set())
            assert flag in allowed, f"s2vec {command} advises {flag}, which it does not take"


# -- model files and image datasets -------------------------------------------------------


@pytest.mark.parametrize("version", [None, "1", 1.5, [1], True])
def test_model_file_without_a_whole_format_version(version, tmp_path, capsys):
    data = torch.load(pretrained_path(), weights_only=True)
    if version is None:
        del data["format_version"]
    else:
        data["format_version"] = version
    torch.save(data, tmp_path / "model.pt")
    status, line = cli(
        ["embed", "cells.gpkg", "-m", tmp_path / "model.pt", "-o", tmp_path / "e.gpkg"], capsys
    )
    assert status == 2 and "model.pt' is a damaged s2vec model file" in line
    assert "format_version" in line and "train the model again" in line
    assert not (tmp_path / "e.gpkg").exists()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images") / "ds"
    sv.build_images(synthetic_cells(n_parents=6), image_level=10, out=folder)
    return folder


def spoiled_copy(images: Path, tmp_path: Path, change) -> Path:
    """A copy of the dataset with ``change(meta)`` applied to its meta.json."""
    copy = tmp_path / "ds"
    copy.mkdir()
    for path in images.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    meta = json.loads((copy / "meta.json").read_text())
    change(meta)
    (copy / "meta.json").write_text(json.dumps(meta))
    return copy


@pytest.mark.parametrize("n", [+5, -1, "x"])
def test_meta_json_with_a_wrong_image_count(n, images, tmp_path, capsys):
    def change(meta):
        shard = meta["shards"][0]
        shard["n"] = n if isinstance(n, str) else shard["n"] + n

    spoiled = spoiled_copy(images, tmp_path, change)
    status, line = cli(["train", spoiled, "-o", tmp_path / "run", "--epochs", "1"], capsys)
    assert status == 2 and f"image dataset {str(spoiled)!r} is damaged" in line
    assert "meta.json says images-00000.npy holds" in line and "rebuild it" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("other", [{"log1p": False}, {"rename": True}])
def test_train_on_datasets_that_do_not_fit_together(other, images, tmp_path, capsys):
    cells = synthetic_cells(n_parents=6, seed=1)
    if other.pop("rename", False):
        cells.columns = [f"other_{c}" for c in cells.columns]
    sv.build_images(cells, image_level=10, out=tmp_path / "b", **other)
    status, line = cli(["train", images, tmp_path / "b", "-o", tmp_path / "run"], capsys)
    assert status == 2 and "image datasets" in line
    assert_advice_fits("train", line)


def test_out_of_memory_advice_fits_every_command(monkeypatch, tmp_path, capsys):
    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 5.2 TiB")

    monkeypatch.setattr("s2vec_geo.model.file.read_torch_file", exhausted)
    argv = ["embed", "c.gpkg", "-m", pretrained_path(), "-o", tmp_path / "e.gpkg"]
    status, line = cli(argv, capsys)
    assert status == 2 and "out of memory" in line
    for command in parser_flags():
        assert_advice_fits(command, line)


@pytest.mark.parametrize("key", ["grid", "feature_names"])
def test_meta_json_without_the_image_shape(key, images, tmp_path, capsys):
    spoiled = spoiled_copy(images, tmp_path, lambda meta: meta.pop(key))
    status, line = cli(["train", spoiled, "-o", tmp_path / "run", "--epochs", "1"], capsys)
    assert status == 2 and "has no usable grid and feature_names" in line


def test_meta_json_with_a_wrong_feature_count(images, tmp_path, capsys):
    spoiled = spoiled_copy(images, tmp_path, lambda m: m["feature_names"].append("extra"))
    status, line = cli(["geotiff", spoiled, "-o", tmp_path / "x.tif"], capsys)
    assert status == 2 and "is damaged" in line and "rebuild it" in line


# -- devices and threads ------------------------------------------------------------------


@pytest.mark.parametrize(
    "device", ["xyz", "gpu", "CUDA", "cuda:x", "cuda:", "cuda:00", "cuda:99999999999999999999", ""]
)
def test_a_device_that_is_no_device(device, images, tmp_path, capsys):
    run = tmp_path / "run"
    status, line = cli(["train", images, "-o", run, "--epochs", "1", "--device", device], capsys)
    assert status == 2 and "device must be auto, cpu, cuda, cuda:N" in line, line
    assert not run.exists()
    model = pretrained_path()
    status, line = cli(
        ["embed", "c.gpkg", "-m", model, "-o", tmp_path / "e.gpkg", "--device", device], capsys
    )
    assert status == 2 and "device must be auto, cpu, cuda, cuda:N" in line, line


def test_a_cuda_device_this_machine_lacks(tmp_path, capsys):
    wanted = f"cuda:{torch.cuda.device_count()}"  # one past the last, or cuda:0 without CUDA
    argv = ["embed", "c.gpkg", "-m", pretrained_path(), "-o", tmp_path / "e.gpkg"]
    status, line = cli([*argv, "--device", wanted], capsys)
    assert status == 2 and f"device {wanted!r} requested but" in line


def test_run_refuses_a_cuda_device_it_lacks_before_any_stage(sample_pbf, tmp_path, capsys):
    wanted = f"cuda:{torch.cuda.device_count()}"
    argv = ["run", sample_pbf, "-o", tmp_path / "out.gpkg", "--device", wanted]
    status, line = cli([*argv, "--level", "14", "--image-level", "11", "--epochs", "1"], capsys)
    assert status == 2 and f"device {wanted!r} requested but" in line
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory) -> dict[str, Path]:
    """An embedding table (Helsinki, level 14), a label CSV of its centres, two areas of them."""
    folder = tmp_path_factory.mktemp("evaluation")
    cells = cover(shapely.box(24.90, 60.15, 24.96, 60.19), 14)
    rng = np.random.default_rng(0)
    columns = {f"emb_{i:03d}": rng.normal(size=cells.size).astype(np.float32) for i in range(4)}
    write_layer(cells_frame(cells).assign(**columns), folder / "emb.gpkg")
    lat, lng = cell_to_latlng(cells)
    table = pd.DataFrame({"lon": lng, "lat": lat, "price": columns["emb_000"] * 100, "note": "ok"})
    table.to_csv(folder / "prices.csv", index=False, float_format="%.6f")
    area = 'embeddings = "emb.gpkg"\nlabels = "prices.csv"\n'
    (folder / "areas.toml").write_text(
        f'target = "price"\n[[area]]\nname = "a"\n{area}[[area]]\nname = "b"\n{area}'
    )
    return {
        "emb": folder / "emb.gpkg",
        "csv": folder / "prices.csv",
        "areas": folder / "areas.toml",
    }


def test_evaluate_threads_zero_in_both_modes(evaluation, tmp_path, capsys):
    one = ["--embeddings", evaluation["emb"], "--labels", evaluation["csv"], "--target", "price"]
    for argv in (one, ["--areas", evaluation["areas"]]):
        status, line = cli(["evaluate", *argv, "--threads", "0", "--output", tmp_path], capsys)
        assert status == 2 and "threads must be >= 1, got 0" in line


# -- text that is not UTF-8 -----------------------------------------------------------------

OPL = (
    b"n1 v1 dV c0 t i0 u Tamenity=caf\xe9,name=x x24.9400 y60.1700\n"
    b"n2 v1 dV c0 t i0 u Tamenity=bar,name=caf\xe9 x24.9410 y60.1710\n"
    b"n3 v1 dV c0 t i0 u T x24.9420 y60.1720\n"
    b"n4 v1 dV c0 t i0 u T x24.9430 y60.1730\n"
    b"w10 v1 dV c0 t i0 u Thighway=residential,name=\xff Nn3,n4\n"
    b"w11 v1 dV c0 t i0 u Thighway=\xff Nn3,n4\n"
)
"""Two POIs (one with a broken amenity), a road and a road whose class is broken."""


@pytest.fixture(scope="module")
def broken_pbf(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("osm")
    (folder / "broken.opl").write_bytes(OPL)
    pbf = folder / "broken.osm.pbf"
    writer = osmium.SimpleWriter(str(pbf))
    for obj in osmium.FileProcessor(str(folder / "broken.opl")):
        (writer.add_node if obj.is_node() else writer.add_way)(obj)
    writer.close()
    return pbf


def test_a_tag_that_is_not_utf8_spoils_only_itself(broken_pbf, tmp_path, capsys, caplog):
    out = tmp_path / "cells.gpkg"
    with caplog.at_level(logging.WARNING):
        assert main(["featurize", str(broken_pbf), "-o", str(out), "--level", "14"]) == 0
    cells = read_cell_layer(out)
    assert cells["poi_bar"].sum() == 1 and cells["road_count_residential"].sum() == 1
    warned = [r.getMessage() for r in caplog.records if "not valid UTF-8" in r.getMessage()]
    assert warned == [
        "broken.osm.pbf: 2 tag value(s) that are not valid UTF-8 were read as absent (keys: "
        "amenity, highway); re-download or repair the file to count those objects too"
    ]


def test_quackosm_refuses_a_tag_that_is_not_utf8_in_one_line(broken_pbf, tmp_path):
    pytest.importorskip("quackosm")
    from s2vec_geo.ingest.quack import pbf_to_geoparquet

    with pytest.raises(ValueError, match=r"not valid UTF-8.*give s2vec the \.osm\.pbf itself"):
        pbf_to_geoparquet(broken_pbf, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_a_label_csv_that_is_not_utf8(evaluation, tmp_path, capsys):
    text = evaluation["csv"].read_bytes().replace(b",ok\n", b",caf\xe9\n", 1)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(text)
    offset = text.index(b"\xe9")
    argv = ["--embeddings", evaluation["emb"], "--labels", bad, "--target", "price"]
    status, line = cli(["evaluate", *argv, "--output", tmp_path / "out"], capsys)
    assert status == 2 and f"labels file {str(bad)!r} is not UTF-8 text" in line
    assert f"byte 0xe9 at offset {offset} (line 2)" in line and "save it as UTF-8" in line
    assert not (tmp_path / "out").exists()


def test_an_areas_file_that_is_not_utf8(evaluation, tmp_path, capsys):
    text = evaluation["areas"].read_bytes().replace(b'name = "b"', b'name = "\xe9"')
    bad = evaluation["areas"].parent / "latin1.toml"
    bad.write_bytes(text)
    status, line = cli(["evaluate", "--areas", bad, "--output", tmp_path / "out"], capsys)
    assert status == 2 and f"areas file {str(bad)!r} is not UTF-8 text: byte 0xe9" in line
    assert "save it as UTF-8" in line and not (tmp_path / "out").exists()


# -- advice names options the command has ----------------------------------------------------


def test_join_of_a_world_polygon_advises_what_join_takes(evaluation, tmp_path, capsys):
    world = tmp_path / "world.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.box(-179, -80, 179, 80)], crs=4326).to_file(world)
    argv = ["join", world, "-e", evaluation["emb"], "-o", tmp_path / "joined.gpkg"]
    status, line = cli(argv, capsys)
    assert status == 2 and "--max-cells" in line
    assert_advice_fits("join", line)
    status, line = cli([*argv, "--max-cells", "0"], capsys)
    assert status == 2 and "max_cells must be >= 1" in line
    assert not (tmp_path / "joined.gpkg").exists()


def test_every_flag_the_engine_names_is_a_flag_of_some_command():
    """Messages and help name options by flag: each must exist (earlier names say so)."""
    top = {flag for action in build_parser()._actions for flag in action.option_strings}
    known = set().union(top, *parser_flags().values(), *OTHER_TOOLS.values())
    known |= {old for _, old in RENAMED}
    named = {}
    for path in (REPO / "s2vec_geo").rglob("*.py"):
        for flag in FLAG.findall(path.read_text()):
            named.setdefault(flag, path.relative_to(REPO).as_posix())
    assert {f: where for f, where in named.items() if f not in known} == {}


# -- Dask workers ---------------------------------------------------------------------------


def test_more_workers_than_cores_are_capped_with_one_warning(caplog):
    from s2vec_geo.distributed.cluster import dask_client

    with caplog.at_level(logging.WARNING), dask_client(workers=CORES + 2) as client:
        started = len(client.scheduler_info()["workers"])
    assert started == CORES
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert (
        warned[0]
        == f"--workers {CORES + 2} is more than the {CORES} CPU core(s) here; using {CORES}"
    )


def test_more_threads_than_cores_are_capped_with_one_warning(caplog):
    from s2vec_geo.evaluation.protocol import EvalConfig

    with caplog.at_level(logging.WARNING):
        assert EvalConfig(threads=100_000).threads == CORES  # 100,000 threads crash torch
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [f"--threads 100000 is more than the {CORES} CPU core(s) here; using {CORES}"]
