"""Run folders keep what is not theirs: resume adopts only recorded runs, locks cover folders.

Issue 23, items 2 to 4: ``train --resume`` continues only a run this library
recorded (never the user's ``model.pt`` or ``history.json``); ``run`` records a
stage before it publishes its product, so a run killed in between resumes;
a run's lock covers its whole work folder (every other writer inside is
refused), and ``--resume`` refuses a work folder whose products changed since
the run recorded them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from synthetic_cells import TINY_MODEL

import s2vec_geo.io.run_folder as run_folder
import s2vec_geo.pipeline as pipeline
from s2vec_geo.cli import main
from s2vec_geo.images import build_images
from s2vec_geo.io.layers import read_cell_layer, write_layer
from s2vec_geo.io.locks import OutputLockedError, check_not_held, hold, lock_path
from s2vec_geo.model.training import TrainConfig, train

HANG = Path(__file__).with_name("cli_hang.py")
REPO = HANG.parents[1]
TINY = ["--epochs", "1", "--batch-size", "8", "--embed-dim", "32", "--depth", "2"]
TINY += ["--num-heads", "4", "--decoder-dim", "16", "--decoder-depth", "1", "--init", "none"]
CONFIG = TrainConfig(epochs=1, batch_size=8, model=TINY_MODEL, init="none")


def hidden(folder: Path) -> list[str]:
    """Hidden entries (temporaries, locks) anywhere below ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def digests(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones included) and a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def cli(argv: list, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Run ``s2vec argv`` in this process: (exit status, the one error line or "")."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) <= 1, err
    return status, errors[0] if errors else ""


# -- a finished run -----------------------------------------------------------------------


def run_argv(source: Path, out: Path, *flags: str) -> list:
    """``s2vec run`` of the synthetic points, tiny, into ``out``."""
    return ["run", source, "--category-column", "kind", "--level", "17", "--image-level", "14",
            *TINY, "-o", out, *flags]  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict[str, Path]:
    """A points source and a finished tiny ``s2vec run`` of it: its output and products."""
    root = tmp_path_factory.mktemp("finished")
    rng = np.random.default_rng(0)
    n = 400
    points = gpd.GeoDataFrame(
        {"kind": rng.choice(["shop", "bar", "school"], n)},
        geometry=shapely.points(24.9 + 0.02 * rng.random(n), 60.16 + 0.01 * rng.random(n)),
        crs=4326,
    )
    points.to_file(root / "points.gpkg")
    assert main([str(a) for a in run_argv(root / "points.gpkg", root / "emb.gpkg")]) == 0
    work = root / "emb_work"
    return {
        "source": root / "points.gpkg",
        "out": root / "emb.gpkg",
        "work": work,
        "cells": work / "cells.gpkg",
        "images": work / "images",
        "run": work / "model",
    }


@pytest.fixture
def copied(finished, tmp_path) -> Path:
    """A copy of the finished run's folder (output, PCA map, work folder; times kept)."""
    shutil.copytree(finished["out"].parent, tmp_path / "moved")
    return tmp_path / "moved" / finished["out"].name


def embeddings(path: Path) -> np.ndarray:
    return read_cell_layer(path).filter(like="emb_").to_numpy()


# -- item 2: train --resume continues only a run this library recorded --------------------

USERS_FILES = {
    "a model of theirs, their notes as history": {"model.pt": None, "history.json": "my notes"},
    "their own files": {"model.pt": "not a model", "history.json": "{}"},
    "their history.json": {"history.json": '{"runs": ["mine"]}'},
    "their loss curve": {"loss_curve.png": "my plot"},
    "their checkpoint": {"checkpoint.pt": "my checkpoint", "model.pt": None},
}


@pytest.mark.parametrize("files", list(USERS_FILES.values()), ids=list(USERS_FILES))
def test_train_resume_refuses_a_folder_of_the_users(files, finished, tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    for name, text in files.items():
        if text is None:  # a real model file, trained elsewhere and copied there
            (run / name).write_bytes((finished["run"] / name).read_bytes())
        else:
            (run / name).write_text(text)
    before = digests(tmp_path)
    for flag in ([], ["--resume"]):
        status, err = cli(["train", finished["images"], "-o", run, *TINY, *flag], capsys)
        assert status == 2 and "that no recorded run wrote" in err and "--overwrite" in err
        assert digests(tmp_path) == before


@pytest.mark.parametrize("kept", ["model.pt", "checkpoint.pt"])
def test_train_resume_refuses_a_run_on_other_images(kept, finished, tmp_path, capsys):
    run, other = tmp_path / "r", tmp_path / "other_images"
    build_images(finished["cells"], 15, out=other)  # the same cells at another level
    argv = ["train", finished["images"], "-o", run, *TINY, "--keep-checkpoint"]
    assert cli(argv, capsys) == (0, "")
    if kept == "model.pt":
        (run / "checkpoint.pt").unlink()  # a finished run
    before = digests(run)
    status, err = cli(["train", other, "-o", run, *TINY, "--resume"], capsys)
    assert status == 2 and ("on other images" in err or "settings changed (images)" in err)
    assert digests(run) == before


def test_train_in_python_replaces_only_its_own_earlier_run(finished, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "checkpoint.pt").write_text("my checkpoint")  # not a run of this library's
    before = digests(tmp_path)
    with pytest.raises(ValueError, match=r"checkpoint\.pt that no recorded run wrote"):
        train(finished["images"], CONFIG, out=run)  # replace_earlier: its own runs only
    assert digests(tmp_path) == before


def test_train_resume_starts_over_a_history_its_own_run_left(finished, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    history = json.loads((finished["run"] / "history.json").read_text())
    (run / "history.json").write_text(json.dumps(history[:1]))  # stopped before a checkpoint
    model = train(finished["images"], CONFIG, out=run, resume=True)
    assert len(model.history) == CONFIG.epochs and (run / "model.pt").is_file()


# -- item 3: a run records a stage before it publishes its product ------------------------


def test_run_stopped_after_publishing_its_cells_resumes(finished, tmp_path, capsys, monkeypatch):
    def published_then_stopped(cells, path):
        write_layer(cells, path)
        raise KeyboardInterrupt  # as a kill -9 after the rename, before the stage is recorded

    out, work = tmp_path / "emb.gpkg", tmp_path / "emb_work"
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "write_layer", published_then_stopped)
        assert main([str(a) for a in run_argv(finished["source"], out)]) == 130
    assert (work / "cells.gpkg").is_file()  # its own product, the stage not done
    assert json.loads((work / "run.json").read_text())["done"] == []
    status, err = cli(run_argv(finished["source"], out), capsys)
    assert status == 2 and "holds a run of these settings" in err and "--resume" in err
    assert cli(run_argv(finished["source"], out, "--resume"), capsys) == (0, "")
    np.testing.assert_array_equal(embeddings(out), embeddings(finished["out"]))
    assert hidden(tmp_path) == []


@pytest.mark.slow
def test_run_killed_between_its_cells_and_their_record_resumes(finished, tmp_path, capsys):
    flag, out = tmp_path / "HANGING", tmp_path / "emb.gpkg"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.update(S2VEC_HANG_ON="run.json", S2VEC_HANG_FLAG=str(flag), S2VEC_HANG_SECONDS="5")
    argv = [sys.executable, str(HANG), *map(str, run_argv(finished["source"], out))]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(2):  # the record before cells.gpkg is renamed in, then the one after
            deadline = time.monotonic() + 300
            while not flag.exists():
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            flag.unlink()
    finally:
        proc.kill()  # SIGKILL: cells.gpkg published, its stage not recorded
        proc.wait()
    assert json.loads((tmp_path / "emb_work" / "run.json").read_text())["done"] == []
    assert (tmp_path / "emb_work" / "cells.gpkg").is_file() and hidden(tmp_path)
    assert cli(run_argv(finished["source"], out, "--resume"), capsys) == (0, "")
    np.testing.assert_array_equal(embeddings(out), embeddings(finished["out"]))
    assert hidden(tmp_path) == []  # no lock or temporary left by the killed run


@pytest.mark.parametrize("failing", ["the layer", "the record"])
def test_a_failed_first_stage_leaves_no_record(failing, finished, tmp_path, capsys, monkeypatch):
    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    if failing == "the layer":
        monkeypatch.setattr(pipeline, "write_layer", full_disk)
    else:
        monkeypatch.setattr(run_folder, "atomic_path", full_disk)  # run.json
    status, err = cli(run_argv(finished["source"], tmp_path / "emb.gpkg"), capsys)
    assert status == 2 and "No space left" in err
    assert list(tmp_path.iterdir()) == []


def test_resume_refuses_the_users_own_cells(finished, tmp_path, capsys):
    work = tmp_path / "emb_work"
    work.mkdir()
    shutil.copy2(finished["work"] / "cells.gpkg", work / "cells.gpkg")  # theirs: no record
    before = digests(tmp_path)
    status, err = cli(run_argv(finished["source"], tmp_path / "emb.gpkg", "--resume"), capsys)
    assert status == 2 and "cells.gpkg that no recorded run wrote" in err
    assert digests(tmp_path) == before


# -- item 4: every writer into a running run's work folder is refused ---------------------


@contextlib.contextmanager
def held_by_a_run(work: Path) -> Iterator[None]:
    """Hold ``work``'s lock as a running ``s2vec run`` does (in a thread: other code)."""
    taken, done = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            with hold(work):
                taken.set()
                done.wait(120)
        except BaseException as exc:  # reported by the test
            failed.append(exc)
            taken.set()

    thread = threading.Thread(target=run)
    thread.start()
    taken.wait(60)
    try:
        assert not failed, failed
        yield
    finally:
        done.set()
        thread.join()


WRITERS: dict[str, Callable[[dict[str, Path], Path], object]] = {
    "build_images": lambda made, work: build_images(
        made["cells"], 15, out=work / "images", overwrite=True
    ),
    "train": lambda made, work: train(made["images"], CONFIG, out=work / "model", overwrite=True),
    "write_layer": lambda made, work: write_layer(
        read_cell_layer(made["cells"]), work / "sub" / "cells.gpkg"
    ),
}
"""Library calls writing into a work folder, with the finished run's files."""
COMMANDS = {
    "images --overwrite": "images CELLS --image-level 15 -o WORK/images --overwrite",
    "images into the folder": "images CELLS --image-level 15 -o WORK --overwrite",
    "train": "train IMAGES -o WORK/model --epochs 1 --init none",
    "featurize": "featurize SOURCE --category-column kind --level 16 -o WORK/cells.gpkg",
    "embed": "embed CELLS --model MODEL -o WORK/emb.gpkg",
    "geotiff": "geotiff IMAGES -o WORK/tifs",
}
"""Command lines writing into a work folder (``WORK``), with the finished run's files."""


def command_line(command: str, made: dict[str, Path], work: Path) -> list[str]:
    """``command`` with its placeholders replaced by the paths of ``made`` and ``work``."""
    paths = {
        "CELLS": made["cells"],
        "IMAGES": made["images"],
        "MODEL": made["run"] / "model.pt",
        "SOURCE": made["source"],
    }
    words = [str(paths.get(word, word)) for word in command.split()]
    return [word.replace("WORK", str(work)) for word in words]


@pytest.fixture
def work(finished, tmp_path) -> Path:
    """A work folder with a run's images in it (the run is training)."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copytree(finished["images"], folder / "images")
    (folder / "sub").mkdir()
    return folder


@pytest.fixture
def link(work) -> Path:
    """A link to the work folder beside it (skips where links cannot be made)."""
    path = work.with_name("link")
    try:
        path.symlink_to(work, target_is_directory=True)
    except OSError as exc:  # Windows without the privilege
        pytest.skip(f"cannot make a link here: {exc}")
    return path


@pytest.mark.parametrize("writer", list(WRITERS))
def test_library_writers_into_a_running_runs_folder_are_refused(writer, finished, work):
    before = digests(work)
    with held_by_a_run(work), pytest.raises(OutputLockedError) as refused:
        WRITERS[writer](finished, work)
    message = str(refused.value)
    assert f"lies in {str(work)!r}, which is being written by s2vec process {os.getpid()}" in (
        message
    )
    assert digests(work) == before and hidden(work.parent) == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_commands_into_a_running_runs_folder_are_refused(command, finished, work, capsys):
    before = digests(work)
    with held_by_a_run(work):
        status, err = cli(command_line(COMMANDS[command], finished, work), capsys)
    assert status == 2 and f"being written by s2vec process {os.getpid()}" in err
    assert digests(work) == before and hidden(work.parent) == []


def test_a_second_run_into_the_work_folder_is_refused(finished, copied, capsys):
    work = copied.with_name("emb_work")
    before = digests(copied.parent)
    with held_by_a_run(work):
        status, err = cli(run_argv(finished["source"], copied, "--resume"), capsys)
        assert status == 2 and f"being written by s2vec process {os.getpid()}" in err
        other = copied.with_name("other.gpkg")
        status, err = cli([*run_argv(finished["source"], other), "--work-dir", work / "w"], capsys)
        assert status == 2 and f"lies in {str(work)!r}" in err
    assert digests(copied.parent) == before


def test_a_run_does_not_start_while_another_command_writes_inside(finished, copied, capsys):
    work = copied.with_name("emb_work")
    before = digests(copied.parent)
    with held_by_a_run(work / "images"):  # e.g. `s2vec images ... -o emb_work/images`
        status, err = cli(run_argv(finished["source"], copied, "--resume"), capsys)
    assert status == 2 and f"images' is being written by s2vec process {os.getpid()}" in err
    assert digests(copied.parent) == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_as_a_folders_lock_does_not_hang_a_writer(work):
    fifo = lock_path(work)
    os.mkfifo(fifo)
    writer = threading.Thread(target=check_not_held, args=[work / "cells.gpkg"], daemon=True)
    writer.start()
    writer.join(20)
    hung = writer.is_alive()
    if hung:  # let it go: a reader waits for a writer of the FIFO
        with open(fifo, "w"):
            pass
    assert not hung


@pytest.mark.parametrize("linked", ["the run's work folder", "the writer's output"])
def test_writers_through_a_link_are_refused(linked, finished, work, link):
    held, written = (link, work) if linked == "the run's work folder" else (work, link)
    before = digests(work)
    with held_by_a_run(held), pytest.raises(OutputLockedError, match="being written by"):
        write_layer(read_cell_layer(finished["cells"]), written / "sub" / "cells.gpkg")
    assert digests(work) == before and hidden(work.parent) == []


@pytest.mark.parametrize("linked", [False, True])
def test_the_runs_own_stages_write_inside_its_lock(linked, finished, work, link):
    with hold(link if linked else work):  # this code's own run: its stages write there
        images = build_images(finished["cells"], 15, out=link / "images", overwrite=True)
        write_layer(read_cell_layer(finished["cells"]), work / "cells.gpkg")
    assert len(images) > 0 and hidden(work.parent) == []


# -- item 4: resume refuses products changed since the run recorded them ------------------

SWAPS: dict[str, Callable[[Path], object]] = {
    "images at another level": lambda work: build_images(
        read_cell_layer(work / "cells.gpkg"), 15, out=work / "images", overwrite=True
    ),
    "cells of other counts": lambda work: write_layer(
        read_cell_layer(work / "cells.gpkg").iloc[1:], work / "cells.gpkg"
    ),
    "model removed": lambda work: (work / "model" / "model.pt").unlink(),
}


@pytest.mark.parametrize("swap", list(SWAPS))
def test_resume_refuses_a_product_changed_since_it_was_recorded(swap, finished, copied, capsys):
    SWAPS[swap](copied.with_name("emb_work"))
    before = digests(copied.parent)
    status, err = cli(run_argv(finished["source"], copied, "--resume"), capsys)
    assert status == 2 and "changed since the run wrote it" in err and "--overwrite" in err
    assert digests(copied.parent) == before


def test_resume_embeds_again_over_a_changed_output(finished, copied, capsys, caplog):
    copied.write_bytes(b"not the run's layer")
    with caplog.at_level("INFO", logger="s2vec_geo.pipeline"):
        assert cli(run_argv(finished["source"], copied, "--resume"), capsys) == (0, "")
    assert "the run is complete" not in caplog.text and "4/4 embedding" in caplog.text
    np.testing.assert_array_equal(embeddings(copied), embeddings(finished["out"]))


def test_resume_of_a_moved_run_reuses_it(finished, copied, capsys, caplog):
    for path in [*copied.parent.rglob("*.*")]:
        os.utime(path, ns=(0, 0))  # copied without the files' times (cp -r)
    before = digests(copied.parent)
    with caplog.at_level("INFO", logger="s2vec_geo.pipeline"):
        assert cli(run_argv(finished["source"], copied, "--resume"), capsys) == (0, "")
    assert "the run is complete" in caplog.text and digests(copied.parent) == before
