"""Full disks: one line naming the folder and the space needed, exit status 2, nothing left.

Each case mounts a small tmpfs (root only: skipped otherwise), fills it or
sizes it too small for the command, and runs the real command: the image
shards (memory-mapped, which a full disk used to kill by ``SIGBUS``), the
GeoTIFF export (whose write errors GDAL only logs), and training
(``torch.save``'s ``RuntimeError``). Afterwards the disk holds what it held
before -- no temporary, no lock, the user's files byte for byte -- and once
space is freed the same command (``--resume`` for training) succeeds.
Commands that a regression could kill by ``SIGBUS`` run in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from synthetic_cells import synthetic_cells

import s2vec_geo.model.training as training
from s2vec_geo.cli import main
from s2vec_geo.images import ImageDataset, build_images
from s2vec_geo.s2 import cell_to_token

REPO = Path(__file__).resolve().parents[1]
PBF = REPO / "examples" / "data" / "helsinki.osm.pbf"
TINY = ["--epochs", "2", "--embed-dim", "16", "--depth", "1", "--num-heads", "2"]
TINY += ["--decoder-dim", "8", "--decoder-depth", "1", "--batch-size", "8", "--init", "none"]
NO_ESTIMATE = "import s2vec_geo.images.build as b; b._Plan.disk_bytes = lambda self, sizes: 0\n"
"""Prelude of a command whose estimate misses (another writer fills the disk meanwhile)."""
NO_FALLOCATE = NO_ESTIMATE + "import os; del os.posix_fallocate\n"
"""... on a system without ``posix_fallocate`` (Windows, macOS)."""


# -- helpers ---------------------------------------------------------------------------


def s2vec(argv: list, prelude: str = "") -> tuple[int, str]:
    """``s2vec argv`` in a subprocess after running ``prelude``: (exit status, stderr)."""
    code = f"{prelude}import sys\nfrom s2vec_geo.cli import main\nsys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, argv)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, done.stderr


def cli(argv: list, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """``s2vec argv`` in this process: (exit status, stderr)."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().err


def disk_full_line(err: str, folder: Path) -> str:
    """The one error line of a full disk, naming ``folder`` and the space (no traceback)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    assert f"not enough free disk space in {str(folder)!r}" in lines[0], lines[0]
    return lines[0]


def contents(folder: Path) -> dict[str, str]:
    """Every entry below ``folder`` (hidden ones included) and a hash of each file's bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(folder.rglob("*"))
    }


def fill(folder: Path, leave: int) -> Path:
    """Fill the disk of ``folder`` up to ``leave`` free bytes with a file: its path."""
    filler = folder / "filler.bin"
    filler.write_bytes(bytes(max(shutil.disk_usage(folder).free - leave, 0)))
    return filler


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``disk(size)`` mounts (or resizes) a tmpfs of ``size`` (e.g. ``"1m"``): its folder."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small disk needs root and mount(8)")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        options = f"remount,size={size}" if mounted else f"size={size}"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    if mounted:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)  # even if a file is open


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cell layer of 40 images of 32 x 32 cells (about 700 KiB of shards)."""
    frame = synthetic_cells(n_parents=40, patch_level=15, image_level=10)
    path = tmp_path_factory.mktemp("cells") / "cells.parquet"
    frame.reset_index().to_parquet(path)
    return path


@pytest.fixture(scope="module")
def dataset(cells: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image dataset of ``cells``, on an ordinary disk."""
    out = tmp_path_factory.mktemp("images") / "images"
    build_images(cells, image_level=10, out=out)
    return out


# -- image shards ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prelude",
    ["", NO_ESTIMATE, NO_FALLOCATE],
    ids=["refused-before", "filled-while-writing", "no-fallocate"],
)
def test_images_on_a_full_disk_is_one_line_and_leaves_nothing(prelude, disk, cells, capsys):
    folder = disk("512k")
    status, err = s2vec(["images", cells, "--image-level", "10", "-o", folder / "imgs"], prelude)
    assert status == 2, err  # was 135: SIGBUS as the shards' pages were written
    line = disk_full_line(err, folder)
    assert prelude or re.search(r"about [\d.]+ .iB needed, [\d.]+ .*B free", line)
    assert contents(folder) == {}  # no temporary, no lock
    disk("8m")
    status, err = cli(["images", cells, "--image-level", "10", "-o", folder / "imgs"], capsys)
    assert status == 0, err
    assert len(ImageDataset.open(folder / "imgs")) == 40


# -- layers and the whole run ------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_a_layer_on_a_full_disk_is_one_line_and_leaves_nothing(suffix, disk, capsys):
    folder = disk("128k")
    out = folder / f"cells{suffix}"
    status, err = cli(["featurize", PBF, "--level", "17", "-o", out], capsys)
    assert status == 2, err
    line = disk_full_line(err, folder)  # was "Failed to commit transaction" (GeoPackage)
    assert repr(out.name) in line
    assert contents(folder) == {}


@pytest.mark.slow
def test_run_on_a_full_disk_resumes_once_space_is_freed(disk, tmp_path):
    folder = disk("512k")  # the cells fit, the images do not
    run = ["run", PBF, "--level", "17", "--image-level", "14", *TINY, "-o", folder / "emb.gpkg"]
    status, err = s2vec(run)
    assert status == 2, err  # was 135: SIGBUS, the lock and the temporary left
    assert "for the image dataset" in disk_full_line(err, folder / "emb_work")
    assert sorted(contents(folder)) == ["emb_work", "emb_work/cells.gpkg", "emb_work/run.json"]
    disk("4m")
    status, err = s2vec([*run, "--resume"])
    assert status == 0, err
    assert "reusing the featurized cells" in err
    assert (folder / "emb.gpkg").is_file()
    assert not [p for p in contents(folder) if any(n.startswith(".") for n in Path(p).parts)]


# -- GeoTIFFs ----------------------------------------------------------------------------


def test_geotiff_on_a_full_disk_is_refused_early_and_runs_once_space_is_freed(
    disk, dataset, capsys
):
    folder = disk("1m")
    filler = fill(folder, leave=64 * 1024)
    before = contents(folder)
    status, err = cli(["geotiff", dataset, "-o", folder / "tifs"], capsys)
    assert status == 2, err  # was 0: "wrote 40 GeoTIFF(s)", most of them unreadable
    assert "needed" in disk_full_line(err, folder / "tifs")
    assert contents(folder) == before  # not even the folder it made
    filler.unlink()
    status, err = cli(["geotiff", dataset, "-o", folder / "tifs"], capsys)
    assert status == 0, err
    tifs = sorted((folder / "tifs").iterdir())
    assert len(tifs) == 40
    for tif in tifs:
        with rasterio.open(tif) as src:
            assert np.isfinite(src.read()).any()


def test_geotiff_filling_the_disk_keeps_the_earlier_files(disk, dataset, capsys, monkeypatch):
    folder = disk("1m")
    first = cell_to_token(ImageDataset.open(dataset).parents[:1])[0]
    status, _ = cli(["geotiff", dataset, "-o", folder / "tifs", "--parents", first], capsys)
    assert status == 0
    (folder / "tifs" / "notes.txt").write_text("mine")
    fill(folder, leave=64 * 1024)
    before = contents(folder)
    # The estimate from the first file misses: another writer fills the disk meanwhile.
    monkeypatch.setattr("s2vec_geo.images.geotiff.check_space", lambda *args: None, raising=False)
    status, err = cli(["geotiff", dataset, "-o", folder / "tifs"], capsys)
    assert status == 2, err
    disk_full_line(err, folder / "tifs")
    assert "GDAL signalled" not in err  # its errors only with --verbose
    assert contents(folder) == before  # the earlier .tif byte for byte, no partial file


def test_geotiff_without_inodes_is_one_line_and_leaves_nothing(disk, dataset, capsys):
    folder = disk("8m,nr_inodes=4")  # bytes to spare, but hardly a file can be made
    status, err = cli(["geotiff", dataset, "-o", folder / "tifs"], capsys)
    assert status == 2, err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and repr(str(folder / "tifs")) in lines[0] and ".s2tmp" not in err
    assert contents(folder) == {}  # was: the folder it made


# -- training ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epoch", "free_known"),
    [(1, True), (1, False), (2, True)],
    ids=["checkpoint-refused-before", "checkpoint-found-writing", "model-file"],
)
def test_train_on_a_full_disk_keeps_its_checkpoint_and_resumes(
    epoch, free_known, disk, dataset, capsys, caplog, monkeypatch
):
    folder = disk("1m")
    run = folder / "run"
    save = training._save_checkpoint
    kept: dict[str, str] = {}

    def save_then_fill(path: Path, state: dict) -> None:
        save(path, state)
        if state["epoch"] == epoch:  # the disk fills after this checkpoint
            kept.update(contents(run))
            fill(folder, leave=8192)

    monkeypatch.setattr(training, "_save_checkpoint", save_then_fill)
    if not free_known:  # a file system that does not tell its free space
        monkeypatch.setattr("s2vec_geo.core.disk.free_space", lambda folder: None)
    argv = ["train", dataset, "-o", run, *TINY, "--checkpoint-every", "0"]
    status, err = cli(argv, capsys)
    assert status == 2, err  # was 1: unexpected RuntimeError ... inline_container.cc:672
    line = disk_full_line(err, run)
    assert "--resume" in line and ("KiB needed" in line) == free_known
    assert contents(run)["checkpoint.pt"] == kept["checkpoint.pt"]
    left = {"filler.bin", "run", "run/checkpoint.pt", "run/history.json"}  # history: by the clock
    assert left - {"run/history.json"} <= contents(folder).keys() <= left
    (folder / "filler.bin").unlink()
    with caplog.at_level(logging.INFO):
        status, err = cli([*argv, "--resume"], capsys)
    assert status == 0, err
    assert f"after epoch {epoch}" in caplog.text
    assert len(json.loads((run / "history.json").read_text())) == 2
    assert sorted(p.name for p in run.iterdir()) == ["history.json", "loss_curve.png", "model.pt"]
