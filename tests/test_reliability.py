"""Reliability: bad input, sizes, interruption, concurrency, leftovers and the plugin zip.

A failure case asserts the exit status (2 for the user's errors), one message
line naming the problem, no traceback, no partial output or temporary left,
and that existing outputs are byte-identical afterwards. Cases that kill
subprocesses are marked ``slow`` (``pytest -m slow``), except one SIGKILL
case and the memory of refused requests, which run by default.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import torch

import s2vec_geo.model.training as training
from s2vec_geo.cli import main
from s2vec_geo.core.guards import TooManyCellsError
from s2vec_geo.features.featurize import featurize
from s2vec_geo.images import build_images
from s2vec_geo.io.layers import atomic_path, read_cell_layer
from s2vec_geo.io.locks import hold, host_tag, lock_path, temporary_owner
from s2vec_geo.model.file import load_model
from s2vec_geo.model.training import TrainConfig, train
from s2vec_geo.s2 import cover

REPO = Path(__file__).resolve().parents[1]
PBF = REPO / "examples" / "data" / "helsinki.osm.pbf"
POIS = REPO / "examples" / "data" / "helsinki_pois.shp"
HANG = Path(__file__).with_name("cli_hang.py")
TINY = ["--epochs", "1", "--embed-dim", "16", "--depth", "1", "--num-heads", "2"]
TINY += ["--decoder-dim", "8", "--decoder-depth", "1", "--batch-size", "8"]
RUN = ["run", str(PBF), "--level", "17", "--image-level", "14", *TINY]
AFRICA = shapely.box(-18, -35, 52, 38)
GIB = 2**30
TINY_CONFIG = TrainConfig(
    epochs=1,
    batch_size=8,
    model={"embed_dim": 16, "depth": 1, "num_heads": 2, "decoder_dim": 8, "decoder_depth": 1},
)


# -- helpers ---------------------------------------------------------------------------


def digests(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones included) and a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def hidden(folder: Path) -> list[str]:
    """Hidden entries (temporaries, locks) anywhere below ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Run ``s2vec argv`` in this process: (exit status, standard error)."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().err


def one_error(err: str) -> str:
    """The single ``s2vec <cmd>: error: ...`` line of a failed run (and no traceback)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return lines[0]


class Spawned:
    """``python -m s2vec_geo argv`` in a subprocess (through ``cli_hang.py`` with ``hang_on``).

    Standard error goes to an unnamed file (a pipe could fill up and block
    the command) and is read with :meth:`finish`.
    """

    def __init__(self, argv: list, cwd: Path, hang_on: str | None = None, **env: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **env}
        command = [sys.executable, "-m", "s2vec_geo"]
        self.flag = cwd / "HANGING"
        if hang_on is not None:
            env.update(S2VEC_HANG_ON=hang_on, S2VEC_HANG_FLAG=str(self.flag))
            command = [sys.executable, str(HANG)]
        self.err = tempfile.TemporaryFile("w+")  # noqa: SIM115 (read in finish)
        self.proc = subprocess.Popen(
            [*command, *map(str, argv)],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.err,
        )

    def wait_for(self, condition: Callable[[], bool], seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert self.proc.poll() is None, f"exited early: {self.finish()}"
            assert time.monotonic() < deadline, "the command never reached the point to stop"
            time.sleep(0.02)

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        """Wait for the command: (exit status, standard error)."""
        status = self.proc.wait(timeout)
        self.err.seek(0)
        return status, self.err.read()

    def stop_at_hang(self, sig: int) -> tuple[int, str]:
        """Send ``sig`` once the command hangs at its rename; (exit status, stderr)."""
        self.wait_for(self.flag.exists)
        self.flag.unlink()
        self.proc.send_signal(sig)
        return self.finish(60)


def peak_rss(argv: list, cwd: Path) -> tuple[int, str, int]:
    """Run the CLI in a subprocess: (exit status, stderr, peak resident memory in bytes).

    The peak is the kernel's high-water mark of the command's own memory
    (``VmHWM``), read until it exits. (``ru_maxrss`` would also count the
    test process, whose memory a forked child shares until it runs Python.)
    """
    run = Spawned(argv, cwd)
    peak = 0
    status_file = Path(f"/proc/{run.proc.pid}/status")
    while run.proc.poll() is None:
        with contextlib.suppress(OSError):
            fields = dict(line.split(":", 1) for line in status_file.read_text().splitlines())
            peak = max(peak, int(fields.get("VmHWM", "0 kB").split()[0]) * 1024)  # none: exited
        time.sleep(0.01)
    return (*run.finish(), peak)


def dead_pid() -> int:
    """The id of a process that has exited."""
    code = "import os; print(os.getpid())"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True).stdout)


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A finished tiny run of the pipeline on the Helsinki sample (its checkpoint kept), and a
    label layer."""
    out = tmp_path_factory.mktemp("made") / "emb.gpkg"
    assert main([*RUN, "--keep-checkpoint", "--output", str(out)]) == 0
    work = out.with_name("emb_work")
    cells = read_cell_layer(work / "cells.gpkg")
    labels = gpd.GeoDataFrame(
        {"target": np.arange(len(cells), dtype=float)},
        geometry=cells.geometry.representative_point().to_numpy(),
        crs=4326,
    )
    labels.to_file(out.with_name("labels.gpkg"))
    return {
        "emb": out,
        "work": work,
        "cells": work / "cells.gpkg",
        "images": work / "images",
        "model": work / "model" / "model.pt",
        "labels": out.with_name("labels.gpkg"),
    }


@pytest.fixture(scope="module")
def bad(tmp_path_factory, made) -> dict[str, Path]:
    """Inputs no command can read: missing, a folder, empty, truncated, garbage, a CSV."""
    folder = tmp_path_factory.mktemp("bad")
    data = made["cells"].read_bytes()
    (folder / "truncated.gpkg").write_bytes(data[: len(data) // 3])
    (folder / "garbage.gpkg").write_bytes(np.random.default_rng(0).bytes(20_000))
    (folder / "empty.gpkg").write_bytes(b"")
    (folder / "folder.gpkg").mkdir()
    (folder / "points.csv").write_text("lon,lat,category,target\n24.94,60.17,cafe,1\n")
    names = ("missing.gpkg", "folder.gpkg", "empty.gpkg", "truncated.gpkg", "garbage.gpkg")
    return {**{n.split(".")[0]: folder / n for n in names}, "csv": folder / "points.csv"}


@pytest.fixture
def copied(made, tmp_path) -> Path:
    """A copy of the finished run (output, PCA map, work folder) in ``tmp_path``."""
    for name in ("emb.gpkg", "emb.png"):
        shutil.copy(made["emb"].with_name(name), tmp_path / name)
    shutil.copytree(made["work"], tmp_path / "emb_work")
    return tmp_path / "emb.gpkg"


# -- unreadable inputs, every command ---------------------------------------------------

OUT = "out.gpkg"
COMMANDS: dict[str, Callable[[str, dict[str, Path]], list]] = {
    "cells": lambda bad, m: ["cells", bad, "--level", "12", "-o", OUT],
    "cover": lambda bad, m: ["cover", bad, "--level", "12", "-o", OUT],
    "featurize": lambda bad, m: ["featurize", bad, "--level", "12", "-o", OUT],
    "join": lambda bad, m: ["join", bad, "--embeddings", m["emb"], "-o", OUT],
    "join --embeddings": lambda bad, m: ["join", POIS, "--embeddings", bad, "-o", OUT],
    "embed": lambda bad, m: ["embed", bad, "--model", m["model"], "-o", OUT],
    "embed --model": lambda bad, m: ["embed", m["cells"], "--model", bad, "-o", OUT],
    "images": lambda bad, m: ["images", bad, "--image-level", "14", "-o", "imgs"],
    "train": lambda bad, m: ["train", bad, "-o", "run", *TINY],
    "geotiff": lambda bad, m: ["geotiff", bad, "-o", "t.tif"],
    "evaluate --embeddings": lambda bad, m: [
        *("evaluate", "--embeddings", bad, "--labels", m["labels"], "--target", "target"),
        *("--n-splits", "1", "--output", "ev"),
    ],
    "evaluate --labels": lambda bad, m: [
        *("evaluate", "--embeddings", m["emb"], "--labels", bad, "--target", "target"),
        *("--n-splits", "1", "--output", "ev"),
    ],
    "run": lambda bad, m: ["run", bad, "--level", "17", "--image-level", "14", "-o", OUT],
}
KINDS = ("missing", "folder", "empty", "truncated", "garbage", "csv")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_unreadable_input_is_one_line_and_leaves_nothing(
    command, kind, made, bad, tmp_path, capsys, monkeypatch
):
    if (command, kind) == ("evaluate --labels", "csv"):
        pytest.skip("a lon/lat CSV is a valid label file")
    monkeypatch.chdir(tmp_path)
    status, err = cli(COMMANDS[command](bad[kind], made), capsys)
    line = one_error(err)
    assert status == 2
    assert bad[kind].name in line  # the message names the file it could not use
    assert list(tmp_path.iterdir()) == []  # no output, temporary or lock


def test_csv_and_folders_are_explained(bad, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, err = cli(["featurize", bad["csv"], "--level", "12", "-o", OUT], capsys)
    assert "longitude/latitude" in one_error(err) and "X_POSSIBLE_NAMES=lon" in err
    (tmp_path / "x.osm.pbf").mkdir()
    _, err = cli(["featurize", tmp_path / "x.osm.pbf", "--level", "12", "-o", OUT], capsys)
    assert "is a folder, not an OSM file" in one_error(err)


# -- model files and checkpoints ---------------------------------------------------------


def _damaged_models(model: Path, folder: Path) -> dict[str, Path]:
    data = torch.load(model, weights_only=True)
    state = dict(data["state_dict"])
    first = next(iter(state))
    variants = {
        "missing key": {k: v for k, v in data.items() if k != "stats"},
        "missing weight": {**data, "state_dict": {k: v for k, v in state.items() if k != first}},
        "wrong shape": {**data, "state_dict": {**state, first: torch.zeros(3, 3)}},
    }
    paths = {}
    for name, content in variants.items():
        paths[name] = folder / f"{name}.pt"
        torch.save(content, paths[name])
    return paths


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("damage", ["missing key", "missing weight", "wrong shape"])
def test_damaged_model_files_are_one_line(damage, made, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _damaged_models(made["model"], tmp_path)[damage]
    status, err = cli(["embed", made["cells"], "--model", path, "-o", OUT], capsys)
    assert status == 2 and "is a damaged s2vec model file" in one_error(err)
    assert not (tmp_path / OUT).exists()


def test_a_model_file_never_runs_code(made, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"format": _RunsCode()}, tmp_path / "evil.pt")
    status, err = cli(["embed", made["cells"], "--model", "evil.pt", "-o", OUT], capsys)
    assert status == 2 and "never loads (they could run code)" in one_error(err)
    assert not (tmp_path / "PWNED").exists()


def test_resume_from_a_damaged_checkpoint_is_one_line(made, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    data = (made["work"] / "model" / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    shutil.copy(made["work"] / "model" / "history.json", run)  # the run's: its checkpoint
    before = digests(tmp_path)
    status, err = cli(["train", made["images"], "-o", run, "--resume", *TINY], capsys)
    assert status == 2 and "training checkpoint" in one_error(err)
    assert digests(tmp_path) == before and hidden(tmp_path) == []


# -- sizes and levels --------------------------------------------------------------------


def test_oversize_requests_are_refused_with_the_estimate_and_the_fix():
    with pytest.raises(TooManyCellsError, match=r"about 7\d\d,\d{3},\d{3},\d{3} cells") as exc:
        cover(AFRICA, 20)
    assert "level 11 or coarser" in str(exc.value) and "--max-cells" in str(exc.value)
    with pytest.raises(TooManyCellsError, match="level 11 or coarser"):
        cover(AFRICA, 12)  # ~12 M cells, ~11 GiB as a layer: refused by default
    assert len(cover(AFRICA, 12 - 2)) > 700_000
    assert len(cover(shapely.box(24.9, 60.15, 24.98, 60.19), 16, max_cells=1000)) == 934
    with pytest.raises(TooManyCellsError, match="max_cells=N"):
        cover(shapely.box(24.9, 60.15, 24.98, 60.19), 16, max_cells=900)


def test_roads_at_level_30_are_refused_before_they_are_cut():
    with pytest.raises(TooManyCellsError, match=r"cutting roads .* level 30 .*level 28"):
        featurize(PBF, level=30)
    cells = featurize(PBF, level=30, bbox=(24.9450, 60.1680, 24.9456, 60.1683))
    assert len(cells) > 0  # a small area at level 30 is fine


@pytest.mark.parametrize(
    "argv",
    [
        ["featurize", PBF, "--level", "30", "-o", OUT],
        ["cover", "africa.gpkg", "--level", "20", "-o", OUT],
    ],
    ids=["featurize level 30", "cover Africa level 20"],
)
def test_a_refused_request_stays_under_1_gb(argv, tmp_path):
    gpd.GeoDataFrame(geometry=[AFRICA], crs=4326).to_file(tmp_path / "africa.gpkg")
    status, err, peak = peak_rss(argv, tmp_path)
    print(f"peak memory of the refused request: {peak / 2**20:.0f} MiB")
    assert status == 2 and "--max-cells" in one_error(err)
    assert peak < GIB
    assert sorted(p.name for p in tmp_path.iterdir()) == ["africa.gpkg"]


def test_sparse_images_are_refused_and_max_cells_lets_them_through(made, tmp_path):
    with pytest.raises(TooManyCellsError, match="finer image level than 9"):
        build_images(made["cells"], 9, out=tmp_path / "imgs", max_cells=10_000)
    assert not (tmp_path / "imgs").exists()
    assert len(build_images(made["cells"], 9, max_cells=1_000_000)) >= 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["featurize", PBF, "--level", "31", "-o", OUT], "between 0 and 30"),
        (["cells", POIS, "--level=-1", "-o", OUT], "between 0 and 30"),
        (["cover", POIS, "--level", "31", "-o", OUT], "between 0 and 30"),
        (["images", "CELLS", "--image-level", "8", "-o", "imgs"], "level gap of 9"),
        (["images", "CELLS", "--image-level", "14", "--min-support=-0.5", "-o", "i"], "0 to 1"),
        (["images", "CELLS", "--image-level", "14", "--min-support", "1.5", "-o", "i"], "0 to 1"),
        ([*RUN, "--level", "20", "--image-level", "10", "-o", OUT], "by 1 to 8 levels"),
        ([*RUN, "--level", "14", "--image-level", "14", "-o", OUT], "must be lower"),
        ([*RUN, "--min-support=-0.5", "-o", OUT], "0 to 1"),
        ([*RUN, "-o", "out.shp"], "unknown extension"),
        ([*RUN, "-o", "a;b.gpkg"], "containing ';'"),
        (["featurize", PBF, "--level", "14", "-o", "a;b.gpkg"], "containing ';'"),
    ],
)
def test_bad_settings_fail_before_any_work(argv, message, made, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [made["cells"] if a == "CELLS" else a for a in argv]
    status, err = cli(argv, capsys)
    assert status == 2 and message in one_error(err)
    assert list(tmp_path.iterdir()) == []


# -- the run contract --------------------------------------------------------------------


def test_run_again_is_refused_before_anything_is_touched(copied, capsys, monkeypatch):
    monkeypatch.chdir(copied.parent)
    before = digests(copied.parent)
    status, err = cli([*RUN, "-o", copied], capsys)
    assert status == 2 and "--resume" in one_error(err) and "complete" in err
    status, err = cli([*RUN[:3], "16", *RUN[4:], "-o", copied, "--resume"], capsys)
    assert status == 2 and "settings changed (level)" in one_error(err)
    status, err = cli([*RUN[:3], "16", *RUN[4:], "-o", copied], capsys)
    assert status == 2 and "other settings (level)" in one_error(err)
    status, err = cli([*RUN, "-o", copied, "--resume", "--overwrite"], capsys)
    assert status == 2 and "exclude each other" in one_error(err)
    assert digests(copied.parent) == before


def test_resume_of_a_finished_run_reuses_it(copied, capsys, caplog):
    before = digests(copied.parent)
    with caplog.at_level("INFO", logger="s2vec_geo.pipeline"):
        assert cli([*RUN, "-o", copied, "--resume"], capsys)[0] == 0
    assert "the run is complete" in caplog.text
    assert digests(copied.parent) == before


def test_a_changed_source_is_a_changed_setting(copied, tmp_path, capsys):
    source = tmp_path / "helsinki.osm.pbf"
    shutil.copy(PBF, source)
    argv = ["run", source, *RUN[2:], "-o", copied, "--resume"]
    status, err = cli(argv, capsys)
    assert status == 2 and "settings changed (sources)" in one_error(err)


def test_interrupted_run_resumes_where_it_stopped(made, tmp_path, capsys, monkeypatch, caplog):
    def interrupt(path, state):
        raise KeyboardInterrupt  # Ctrl-C while the first checkpoint is written

    out = tmp_path / "emb.gpkg"
    with monkeypatch.context() as patch:
        patch.setattr(training, "_save_checkpoint", interrupt)
        status, err = cli([*RUN, "-o", out], capsys)
    assert status == 130 and err.strip().endswith("s2vec run: interrupted")
    record = json.loads((tmp_path / "emb_work" / "run.json").read_text())
    assert record["done"] == ["featurize", "images"]
    with caplog.at_level("INFO", logger="s2vec_geo.pipeline"):
        assert cli([*RUN, "-o", out, "--resume"], capsys)[0] == 0
    assert "reusing the images" in caplog.text
    np.testing.assert_array_equal(
        read_cell_layer(out).filter(like="emb_").to_numpy(),
        read_cell_layer(made["emb"]).filter(like="emb_").to_numpy(),
    )
    assert hidden(tmp_path) == []


def test_work_dir_with_the_users_files_is_refused(made, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(made["cells"], work / "cells.gpkg")
    (work / "notes.txt").write_text("mine")
    before = digests(tmp_path)
    status, err = cli([*RUN, "-o", OUT, "--work-dir", work], capsys)
    assert status == 2 and "cells.gpkg that no recorded run wrote" in one_error(err)
    assert digests(tmp_path) == before
    assert cli([*RUN, "-o", OUT, "--work-dir", work, "--overwrite"], capsys)[0] == 0
    assert (work / "notes.txt").read_text() == "mine" and (tmp_path / OUT).exists()
    assert hidden(tmp_path) == []


# -- locks, temporaries and other writers ------------------------------------------------


SECOND_WRITERS = {
    "train": lambda m: ["train", m["images"], "-o", "out", *TINY],
    "run": lambda m: [*RUN, "-o", "out.gpkg", "--work-dir", "out"],
    "evaluate": lambda m: [
        *("evaluate", "--embeddings", m["emb"], "--labels", m["labels"], "--target", "target"),
        *("--output", "out"),
    ],
}


@pytest.mark.parametrize("command", list(SECOND_WRITERS))
def test_a_second_writer_is_refused(command, made, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with hold(tmp_path / "out"):  # another s2vec process is writing there
        status, err = cli(SECOND_WRITERS[command](made), capsys)
    assert status == 2 and f"being written by s2vec process {os.getpid()}" in one_error(err)
    assert list(tmp_path.iterdir()) == []


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    lock_path(tmp_path / "run").write_text(f"pid={dead_pid()} host=here\n")
    with hold(tmp_path / "run") as lock:
        assert f"pid={os.getpid()}" in lock.read_text()
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    dead, here = dead_pid(), host_tag()
    elsewhere = "000000" if here != "000000" else "111111"
    stale = tmp_path / f".a.gpkg.s2tmp-{here}-{dead}-abcdef.gpkg"
    journal = stale.with_name(stale.name + "-journal")
    live = tmp_path / f".a.gpkg.s2tmp-{here}-{os.getppid()}-abcdef.gpkg"
    other_host = tmp_path / f".a.gpkg.s2tmp-{elsewhere}-{dead}-abcdef.gpkg"
    for path in (stale, journal, live, other_host):
        path.write_text("half")
    assert temporary_owner(journal.name) == (here, dead)
    with atomic_path(tmp_path / "a.gpkg") as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a.gpkg", live.name, other_host.name]
    )


def test_evaluate_never_replaces_the_users_report(made, tmp_path, capsys):
    out = tmp_path / "ev"
    out.mkdir()
    (out / "results.md").write_text("my notes")
    argv = ["evaluate", "--embeddings", made["emb"], "--labels", made["labels"]]
    status, err = cli([*argv, "--target", "target", "--n-splits", "1", "--output", out], capsys)
    assert status == 2 and "results.md that no s2vec evaluation wrote" in one_error(err)
    assert digests(tmp_path) == {"ev/results.md": hashlib.sha1(b"my notes").hexdigest()}


def test_train_refuses_a_model_of_the_users(made, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(made["model"], run / "model.pt")
    before = digests(tmp_path)
    status, err = cli(["train", made["images"], "-o", run, *TINY], capsys)
    assert status == 2 and "holds model.pt that no recorded run wrote" in one_error(err)
    assert digests(tmp_path) == before


def test_featurize_killed_mid_write_leaves_nothing_after_the_rerun(tmp_path, capsys):
    argv = ["featurize", PBF, "--level", "17", "-o", tmp_path / "out.gpkg"]
    Spawned(argv, tmp_path, hang_on="out.gpkg").stop_at_hang(signal.SIGKILL)
    assert [p for p in hidden(tmp_path) if ".out.gpkg.s2tmp-" in p]  # the kill left one
    assert cli(argv, capsys)[0] == 0
    assert hidden(tmp_path) == [] and len(read_cell_layer(tmp_path / "out.gpkg")) > 100


# -- slow: real signals and two real writers ---------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "hang_on"),
    [
        (["featurize", PBF, "--level", "17", "-o", "out.gpkg"], "out.gpkg"),
        (["train", "IMAGES", "-o", "out", *TINY], "checkpoint.pt"),
    ],
    ids=["featurize", "train"],
)
def test_sigint_is_one_line_and_leaves_no_temporary(argv, hang_on, made, tmp_path):
    argv = [made["images"] if a == "IMAGES" else a for a in argv]
    status, err = Spawned(argv, tmp_path, hang_on).stop_at_hang(signal.SIGINT)
    assert status == 130 and err.strip().splitlines()[-1] == f"s2vec {argv[0]}: interrupted"
    assert "Traceback" not in err and hidden(tmp_path) == []
    assert not (tmp_path / hang_on).exists() and not (tmp_path / "out" / hang_on).exists()


@pytest.mark.slow
def test_train_killed_at_a_checkpoint_resumes_cleanly(made, tmp_path, capsys):
    argv = ["train", made["images"], "-o", tmp_path / "run", *TINY[:1], "3", *TINY[2:]]
    Spawned(argv, tmp_path, hang_on="checkpoint.pt").stop_at_hang(signal.SIGKILL)
    assert [p for p in hidden(tmp_path) if ".checkpoint.pt.s2tmp-" in p]
    assert cli([*argv, "--resume"], capsys)[0] == 0
    assert hidden(tmp_path) == [] and load_model(tmp_path / "run").history[-1]["epoch"] == 3


@pytest.mark.slow
def test_run_interrupted_by_sigint_resumes(made, tmp_path, capsys):
    run = Spawned([*RUN, "-o", "emb.gpkg"], tmp_path, hang_on="checkpoint.pt")
    status, err = run.stop_at_hang(signal.SIGINT)
    assert status == 130 and "s2vec run: interrupted" in err and "Traceback" not in err
    assert cli([*RUN, "-o", tmp_path / "emb.gpkg", "--resume"], capsys)[0] == 0
    assert hidden(tmp_path) == [] and (tmp_path / "emb.png").exists()


@pytest.mark.slow
def test_run_killed_in_its_first_stage_resumes(tmp_path, capsys):
    Spawned([*RUN, "-o", "emb.gpkg"], tmp_path, hang_on="cells.gpkg").stop_at_hang(signal.SIGKILL)
    assert [p for p in hidden(tmp_path) if ".cells.gpkg.s2tmp-" in p]
    assert cli([*RUN, "-o", tmp_path / "emb.gpkg", "--resume"], capsys)[0] == 0
    assert hidden(tmp_path) == [] and (tmp_path / "emb_work" / "run.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 1.5])
def test_ctrl_c_while_the_cli_starts_is_one_line(delay, tmp_path):
    # featurize at level 22 takes about 3 s on an idle machine: both signals land before
    # it ends (a level-12 cover ended within 1.5 s once the machine was idle)
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2vec_geo", "featurize", PBF, "--level", "22", "-o", OUT],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGINT) and "Traceback" not in err
    assert "interrupted" in err and not (tmp_path / OUT).exists()


@pytest.mark.slow
def test_two_trainings_into_one_folder(made, tmp_path):
    argv = ["train", made["images"], "-o", tmp_path / "run", *TINY]
    first = Spawned(argv, tmp_path, "model.pt", S2VEC_HANG_SECONDS="20")  # holds the lock
    first.wait_for(first.flag.exists)
    status, err = Spawned(argv, tmp_path).finish()
    assert status == 2 and "is being written by s2vec process" in one_error(err)
    assert first.finish()[0] == 0
    first.flag.unlink()
    assert load_model(tmp_path / "run").history[-1]["epoch"] == 1 and hidden(tmp_path) == []


# -- the plugin zip ----------------------------------------------------------------------


@pytest.fixture
def plugin_copy(tmp_path) -> Path:
    sys.path.insert(0, str(REPO / "qgis_plugin"))
    copy = tmp_path / "s2vec"
    shutil.copytree(REPO / "qgis_plugin" / "s2vec", copy, ignore=shutil.ignore_patterns("__py*"))
    yield copy
    sys.path.remove(str(REPO / "qgis_plugin"))


def test_plugin_zip_packs_only_the_plugin_files(plugin_copy, tmp_path):
    from build_zip import build_zip

    expected = build_zip(tmp_path / "clean", plugin_copy)
    (plugin_copy / ".env").write_text("SECRET=1")
    (plugin_copy / ".DS_Store").write_text("x")
    (plugin_copy / ".git").mkdir()
    (plugin_copy / ".git" / "config").write_text("[core]")
    for junk in ("engine.py~", "#engine.py#", ".engine.py.swp", "notes.txt", "x.pyc"):
        (plugin_copy / junk).write_text("junk")
    built = build_zip(tmp_path / "dirty", plugin_copy)
    assert built.read_bytes() == expected.read_bytes()
    names = zipfile.ZipFile(built).namelist()
    assert "s2vec/engine.py" in names and "s2vec/algorithms/base.py" in names
    assert not [n for n in names if "/." in n or n.endswith(("~", "#", "notes.txt", ".pyc"))]


@pytest.mark.parametrize("target", ["/etc/passwd", "algorithms"])
def test_plugin_zip_refuses_links(target, plugin_copy, tmp_path):
    from build_zip import build_zip

    (plugin_copy / "linked.py").symlink_to(target)
    with pytest.raises(ValueError, match=r"linked\.py is a symbolic link"):
        build_zip(tmp_path / "dist", plugin_copy)
    assert not (tmp_path / "dist").exists()


# -- smaller ones ------------------------------------------------------------------------


def test_unexpected_errors_are_one_line_and_debug_shows_them(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug\nwith details")

    monkeypatch.setattr("s2vec_geo.s2.point_cells", broken)
    status, err = cli(["cells", POIS, "--level", "12", "-o", OUT], capsys)
    assert status == 1 and "unexpected RuntimeError: a bug" in one_error(err)
    assert "--debug" in err
    with pytest.raises(RuntimeError, match="a bug"):
        main(["cells", str(POIS), "--level", "12", "-o", OUT, "--debug"])


def _cells_like(made: dict[str, Path], rows: slice, value: float) -> pd.DataFrame:
    cells = read_cell_layer(made["cells"]).iloc[rows]
    numeric = cells.select_dtypes("number").columns
    return pd.DataFrame(value, index=cells.index, columns=numeric)


@pytest.mark.parametrize("rows", [slice(None), slice(0, 1)], ids=["all zero", "one cell"])
def test_data_with_nothing_to_learn_warn(rows, made, caplog):
    images = build_images(_cells_like(made, rows, 0.0), 14)
    with caplog.at_level("WARNING", logger="s2vec_geo.model.training"):
        train(images, TINY_CONFIG)
    assert "the data hold nothing to predict" in caplog.text
