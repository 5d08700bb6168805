"""Nothing of yours lost: overwrite keeps your files, swaps survive kill -9, bad outputs refused.

Issue 23, items 1, 3 and 5: ``images --overwrite`` replaces only the files its
dataset wrote; a folder is an image dataset only when its manifest says so;
replacing an output is a swap that the next run finishes or undoes after a
kill at any instant; the current folder, home, an input, a name with a line
break are refused as outputs; ``run`` does not replace a PNG of the user's.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from synthetic_cells import synthetic_cells

import s2vec_geo.io.outputs as outputs
from s2vec_geo.cli import main
from s2vec_geo.images import ImageDataset, build_images
from s2vec_geo.images.dataset import FILES_KEY, META_FILE, owned_files
from s2vec_geo.io.layers import atomic_path, write_layer
from s2vec_geo.io.owners import host_tag
from s2vec_geo.s2 import cells_frame

REPO = Path(__file__).resolve().parents[1]
DEAD = 999_999_999  # a process id no system hands out: its owner is gone
LEVEL = 10


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return synthetic_cells(n_parents=6)


@pytest.fixture(scope="module")
def layer(cells: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("layer")
    return write_layer(cells_frame(cells.index.to_numpy()).join(cells), folder / "cells.parquet")


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name -> SHA-256): what must not change."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def users_files(folder: Path) -> dict[str, str]:
    """Put a user's notes, GeoTIFFs and model in ``folder``; their digest."""
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "tifs").mkdir()
    (folder / "tifs" / "a.tif").write_bytes(b"II*\x00tiff")
    (folder / "model.pt").write_bytes(b"PK\x03\x04 a model")
    return {k: v for k, v in digest(folder).items() if not k.endswith((".npy", META_FILE))}


def hidden(folder: Path) -> list[str]:
    """Hidden entries left in ``folder`` (temporaries, swap steps): none after a command."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def images_cli(layer: Path, out: Path | str, *extra: str) -> int:
    return main(["images", str(layer), "--image-level", str(LEVEL), "-o", str(out), *extra])


# -- 1. overwrite keeps the user's files ------------------------------------------------


def test_overwrite_replaces_only_the_datasets_files(
    cells: pd.DataFrame, layer: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    build_images(cells.iloc[:300], LEVEL, out=out, shard_size=1)  # more shards than the new one
    mine = users_files(out)
    assert images_cli(layer, out, "--overwrite") == 0
    after = digest(out)
    assert {k: after[k] for k in mine} == mine  # byte for byte
    ds = ImageDataset.open(out)
    assert ds.meta["n_cells"] == len(cells)
    assert sorted(after) == sorted([*mine, *ds.meta[FILES_KEY]])  # the old shards are gone
    assert hidden(out) == []


def test_manifest_names_its_format_and_files(cells: pd.DataFrame, tmp_path: Path) -> None:
    ds = build_images(cells, LEVEL, out=tmp_path / "ds", shard_size=2)
    meta = json.loads((tmp_path / "ds" / META_FILE).read_text())
    assert (meta["format"], meta["version"]) == ("s2vec-images", 1)
    assert meta[FILES_KEY][-1] == META_FILE
    assert sorted(meta[FILES_KEY]) == sorted(p.name for p in (tmp_path / "ds").iterdir())
    assert len(meta[FILES_KEY]) == 3 * len(ds.meta["shards"]) + 1


def test_a_meta_json_of_the_users_is_not_a_dataset(
    layer: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / META_FILE).write_text('{"title": "my thesis"}')
    (project / "thesis.tex").write_text("\\begin{document}")
    before = digest(project)
    for extra in ((), ("--overwrite",)):
        assert images_cli(layer, project, *extra) == 2
        err = capsys.readouterr().err
        assert "meta.json that is not an s2vec image dataset's" in err
        assert "--overwrite" not in err and len(err.strip().splitlines()) == 1
    assert digest(project) == before


def test_a_manifest_cannot_make_other_files_the_datasets(
    cells: pd.DataFrame, layer: Path, tmp_path: Path
) -> None:
    """A tampered manifest listing the user's files replaces none of them."""
    out = tmp_path / "ds"
    build_images(cells, LEVEL, out=out)
    mine = users_files(out)
    meta = json.loads((out / META_FILE).read_text())
    meta[FILES_KEY] += ["notes.txt", "../ds/model.pt", "tifs"]
    (out / META_FILE).write_text(json.dumps(meta))
    assert images_cli(layer, out, "--overwrite") == 0
    after = digest(out)
    assert {k: after[k] for k in mine} == mine


def test_a_dataset_of_the_earlier_release_opens_and_is_replaced(
    cells: pd.DataFrame, layer: Path, tmp_path: Path
) -> None:
    """Its manifest lists no files: its meta.json and the shards it lists are its own."""
    out = tmp_path / "ds"
    build_images(cells.iloc[:300], LEVEL, out=out, shard_size=1)
    meta = json.loads((out / META_FILE).read_text())
    del meta[FILES_KEY]
    (out / META_FILE).write_text(json.dumps(meta))
    assert len(ImageDataset.open(out)) == len(meta["shards"])
    assert sorted(owned_files(out)) == sorted(p.name for p in out.iterdir())
    mine = users_files(out)
    assert images_cli(layer, out) == 2  # refused without --overwrite, as before
    assert images_cli(layer, out, "--overwrite") == 0
    after = digest(out)
    assert {k: after[k] for k in mine} == mine
    assert sorted(after) == sorted([*mine, *ImageDataset.open(out).meta[FILES_KEY]])


def test_a_shard_name_the_dataset_did_not_write_is_refused(
    cells: pd.DataFrame, layer: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A file the new dataset would write that is not the old dataset's stops the build."""
    out = tmp_path / "ds"
    build_images(cells, LEVEL, out=out)
    (out / "images-00007.npy").write_bytes(b"mine")
    assert images_cli(layer, out, "--overwrite") == 2
    assert "holds a images-00007.npy that is not its dataset's" in capsys.readouterr().err
    assert (out / "images-00007.npy").read_bytes() == b"mine"


# -- 3. kill-safe swaps ------------------------------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL in-process: nothing the product does catches it."""


def kill_at_rename(monkeypatch: pytest.MonkeyPatch, n: int) -> list[int]:
    """Make the ``n``-th ``os.replace`` "kill" the process; swap steps are named for a dead one."""
    calls: list[int] = []
    real = os.replace

    def replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
        calls.append(1)
        if len(calls) == n:
            raise Killed
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(outputs, "owner_tag", lambda: f"{host_tag()}-{DEAD}-abcdef")
    return calls


def test_a_kill_at_any_rename_of_a_replacement_loses_nothing(
    cells: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed at every rename of `images --overwrite`: the next reader finds one whole dataset."""
    n = 1
    while True:
        out = tmp_path / f"ds{n}"
        build_images(cells.iloc[:200], LEVEL, out=out)
        old = digest(out)
        mine = users_files(out)
        with monkeypatch.context() as m:
            calls = kill_at_rename(m, n)
            try:
                build_images(cells, LEVEL, out=out, overwrite=True)
                finished = True
            except Killed:
                finished = False
        ds = ImageDataset.open(out)  # the next run: finishes a committed replacement
        after = digest(out)
        assert {k: after[k] for k in mine} == mine
        if ds.meta["n_cells"] == 200:  # killed before the commit: the old one, untouched
            assert {k: after[k] for k in old} == old
        else:
            assert ds.meta["n_cells"] == len(cells)
        assert sorted(after) == sorted([*mine, *ds.meta[FILES_KEY]])
        assert [h for h in hidden(out) if ".s2tmp-" not in h] == []  # temporaries: their own
        if finished:
            break
        n += 1
    assert n == len(calls) + 1 >= 8  # each rename of the swap was a kill point


def test_a_folder_swap_killed_between_the_renames_is_rolled_back(tmp_path: Path) -> None:
    """The old folder moved aside, the new one not yet in: the next writer restores the old."""
    target = tmp_path / "parts"
    aside = tmp_path / f".parts.s2old-{host_tag()}-{DEAD}-abcdef"
    aside.mkdir()
    (aside / "part-00000.parquet").write_bytes(b"the only copy")
    (tmp_path / f".parts.s2tmp-{host_tag()}-{DEAD}-abcdef").mkdir()  # the unfinished new one
    with pytest.raises(RuntimeError), atomic_path(target):
        raise RuntimeError("this write fails too")
    assert (target / "part-00000.parquet").read_bytes() == b"the only copy"
    assert hidden(tmp_path) == []


def test_a_folder_swap_killed_after_the_new_one_came_in_is_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "parts"
    target.mkdir()
    (target / "new.parquet").write_bytes(b"new")
    (tmp_path / f".parts.s2old-{host_tag()}-{DEAD}-abcdef").mkdir()
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "newer.parquet").write_bytes(b"newer")
    assert [p.name for p in target.iterdir()] == ["newer.parquet"]
    assert hidden(tmp_path) == []


def test_an_old_copy_of_a_live_swap_is_left_alone(tmp_path: Path) -> None:
    aside = tmp_path / f".parts.s2old-{host_tag()}-{os.getpid()}-abcdef"
    aside.mkdir()
    assert outputs.recover_aside(tmp_path, "parts") == []
    assert aside.is_dir() and not (tmp_path / "parts").exists()


SWAP_KILLED = """
import os, signal, sys
from pathlib import Path
from s2vec_geo.io.layers import atomic_path
calls = []
real = os.replace
def replace(src, dst):
    calls.append(1)
    if len(calls) == 2:  # the old folder is aside, the new one not in yet
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
os.replace = replace
with atomic_path(Path(sys.argv[1])) as tmp:
    tmp.mkdir()
    (tmp / "new.txt").write_text("new")
"""


def test_a_made_up_plan_moves_none_of_your_files(cells: pd.DataFrame, tmp_path: Path) -> None:
    """A staging folder found on disk is finished only for the dataset's own file names."""
    out = tmp_path / "ds"
    build_images(cells, LEVEL, out=out)
    mine = users_files(out)
    staged = out / f".ds.s2new-{host_tag()}-{DEAD}-abcdef"
    staged.mkdir()
    plan = {"remove": ["notes.txt", "model.pt"], "add": ["notes.txt"]}
    (staged / outputs.PLAN_FILE).write_text(json.dumps(plan))
    (staged / "notes.txt").write_text("not yours")
    ImageDataset.open(out)
    after = digest(out)
    assert {k: after[k] for k in mine} == mine
    assert hidden(out) == []


def test_a_second_writer_of_the_same_dataset_is_refused(
    cells: pd.DataFrame, tmp_path: Path
) -> None:
    from s2vec_geo.io.locks import OutputLockedError, hold

    out = tmp_path / "ds"
    build_images(cells.iloc[:200], LEVEL, out=out)
    before = digest(out)
    with hold(out), pytest.raises(OutputLockedError, match="is being written by"):
        build_images(cells, LEVEL, out=out, overwrite=True)
    assert digest(out) == before


@pytest.mark.slow
def test_kill_9_between_the_renames_of_a_folder_swap(tmp_path: Path) -> None:
    """A real SIGKILL at the dangerous instant; the next writer puts the old folder back."""
    target = tmp_path / "parts"
    target.mkdir()
    (target / "old.txt").write_text("old")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", SWAP_KILLED, str(target)], env=env, check=False)
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()  # the state the kill left: old aside, new staged
    assert len(hidden(tmp_path)) == 2
    assert outputs.recover_aside(tmp_path, "parts")
    assert (target / "old.txt").read_text() == "old"
    with atomic_path(target / "more.txt") as tmp:  # the next write cleans the rest
        tmp.write_text("x")
    with atomic_path(target) as tmp:
        tmp.mkdir()
    assert hidden(tmp_path) == []


IMAGES_KILLED = """
import os, signal, sys
n = int(sys.argv[3])
calls = []
real = os.replace
def replace(src, dst):
    calls.append(1)
    if len(calls) == n:
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
os.replace = replace
from s2vec_geo.cli import main
sys.exit(main(["images", sys.argv[1], "--image-level", "10", "-o", sys.argv[2], "--overwrite"]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 4, 7, 9])
def test_kill_9_during_images_overwrite(
    cells: pd.DataFrame, layer: Path, tmp_path: Path, n: int
) -> None:
    """Real SIGKILL at the n-th rename of `s2vec images --overwrite`; the next command recovers.

    The renames of a one-shard dataset: 1 its manifest into the staging folder, 2 the
    commit, 3-6 the old files aside (manifest first), 7-10 the new ones in (manifest last).
    """
    out = tmp_path / "ds"
    build_images(cells.iloc[:200], LEVEL, out=out)
    mine = users_files(out)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-c", IMAGES_KILLED, str(layer), str(out), str(n)]
    code = subprocess.run(args, env=env, check=False, capture_output=True).returncode
    assert code == -signal.SIGKILL
    assert ImageDataset.open(out).meta["n_cells"] == (200 if n <= 2 else len(cells))
    assert images_cli(layer, out, "--overwrite") == 0  # the next command
    after = digest(out)
    assert {k: after[k] for k in mine} == mine
    assert sorted(after) == sorted([*mine, *ImageDataset.open(out).meta[FILES_KEY]])
    assert hidden(out) == [] and hidden(tmp_path) == []


# -- 2. places that are never an output folder ---------------------------------------------


@pytest.mark.parametrize("spelling", [".", "./", "..", "sub/..", "{cwd}", "{home}", "/"])
def test_the_current_folder_home_and_root_are_refused(
    cells: pd.DataFrame,
    layer: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    spelling: str,
) -> None:
    """`images CELLS -o . --overwrite` in a folder holding an image dataset deletes nothing."""
    work = tmp_path / "home" / "work"
    work.parent.mkdir()
    build_images(cells, LEVEL, out=work)
    (work / "sub").mkdir()
    users_files(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(work)
    before = digest(tmp_path / "home")
    out = spelling.format(cwd=work, home=tmp_path / "home")
    capsys.readouterr()
    assert images_cli(layer, out, "--overwrite") == 2
    err = capsys.readouterr().err.strip()
    assert "give a folder of its own" in err and len(err.splitlines()) == 1
    assert digest(tmp_path / "home") == before


def test_a_folder_holding_the_input_is_refused(
    layer: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    source = data / "cells.parquet"
    source.write_bytes(layer.read_bytes())
    assert images_cli(source, data, "--overwrite") == 2
    assert "is a folder holding an input" in capsys.readouterr().err
    assert [p.name for p in data.iterdir()] == ["cells.parquet"]


# -- 4. an output that is an input, names with control characters -------------------------


def commands(source: Path, out: Path | str) -> dict[str, list[str]]:
    """Each command writing ``out`` from ``source`` (checked before any input is read)."""
    return {
        "featurize": ["featurize", str(source), "--level", "14", "-o", str(out)],
        "cells": ["cells", str(source), "--level", "14", "-o", str(out)],
        "cover": ["cover", str(source), "--level", "14", "-o", str(out)],
        "join": ["join", str(source), "--embeddings", str(source), "-o", str(out)],
        "embed": ["embed", str(source), "--model", "model.pt", "-o", str(out)],
        "run": ["run", str(source), "-o", str(out)],
    }


@pytest.mark.parametrize("command", list(commands(Path("a"), "b")))
def test_an_output_that_is_the_input_is_refused_before_work(
    layer: Path, tmp_path: Path, capsys: pytest.CaptureFixture, command: str
) -> None:
    """Also through a symbolic link; the source stays byte for byte."""
    source = tmp_path / "src.gpkg"
    source.write_bytes(b"SQLite format 3\x00 the user's only copy")
    link = tmp_path / "link.gpkg"
    link.symlink_to(source)
    for out in (source, link):
        assert main(commands(source, out)[command]) == 2
        err = capsys.readouterr().err.strip()
        assert "is the input" in err and len(err.splitlines()) == 1
    assert source.read_bytes() == b"SQLite format 3\x00 the user's only copy"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.gpkg", "src.gpkg"]


@pytest.mark.parametrize("command", list(commands(Path("a"), "b")))
def test_a_line_break_in_an_output_name_is_refused(
    layer: Path, tmp_path: Path, capsys: pytest.CaptureFixture, command: str
) -> None:
    out = tmp_path / "emb\n.gpkg"
    assert main(commands(layer, out)[command]) == 2
    assert "control character" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary


def test_atomic_path_refuses_a_control_character(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="control character"), atomic_path(tmp_path / "a\tb"):
        pass
    assert list(tmp_path.iterdir()) == []


# -- 5. run does not replace a PNG of the user's ------------------------------------------


def test_run_refuses_a_png_it_did_not_draw(
    sample_pbf: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    png = tmp_path / "emb.png"
    png.write_bytes(outputs.PNG_SIGNATURE + b"the user's picture")
    assert main(["run", str(sample_pbf), "-o", str(tmp_path / "emb.gpkg")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a map drawn by s2vec-geo" in err and len(err.splitlines()) == 1
    assert png.read_bytes() == outputs.PNG_SIGNATURE + b"the user's picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.png"]  # no work folder either


def test_the_maps_s2vec_draws_are_recognised(tmp_path: Path) -> None:
    import geopandas as gpd

    from s2vec_geo.viz.plots import plot_embedding_pca

    frame = cells_frame(synthetic_cells(n_parents=1).index.to_numpy()[:20])
    emb = gpd.GeoDataFrame(frame.assign(emb_000=range(20), emb_001=1.0, emb_002=0.0))
    assert outputs.written_here(plot_embedding_pca(emb, tmp_path / "emb.png"))
    (tmp_path / "other.png").write_bytes(outputs.PNG_SIGNATURE + b"\x00\x00\x00\x00IEND")
    assert not outputs.written_here(tmp_path / "other.png")


def test_cover_onto_its_readable_input_keeps_it(tmp_path: Path) -> None:
    """A layer that reads fine: before the fix it was read, covered and replaced."""
    import geopandas as gpd
    import shapely

    source = tmp_path / "area.gpkg"
    area = gpd.GeoDataFrame(geometry=[shapely.box(24.9, 60.1, 24.95, 60.15)], crs=4326)
    area.to_file(source, engine="pyogrio")
    before = source.read_bytes()
    assert main(["cover", str(source), "--level", "12", "-o", str(source)]) == 2
    assert source.read_bytes() == before


@pytest.mark.parametrize("command", ["train", "train-into-its-images", "evaluate", "run"])
def test_the_other_folder_outputs_refuse_the_current_folder_and_their_inputs(
    cells: pd.DataFrame,
    layer: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    command: str,
) -> None:
    """`train -o .`, `train ds -o ds`, `evaluate -o .` and `run --work-dir .` touch nothing."""
    images = tmp_path / "images"
    build_images(cells, LEVEL, out=images)
    monkeypatch.chdir(tmp_path)
    argv = {
        "train": ["train", "images", "-o", ".", "--epochs", "1", "--overwrite"],
        "train-into-its-images": ["train", "images", "-o", "images", "--epochs", "1"],
        "evaluate": [
            "evaluate",
            "--embeddings",
            str(layer),
            "--labels",
            str(layer),
            "--output",
            ".",
        ],
        "run": ["run", str(layer), "-o", "emb.gpkg", "--work-dir", ".", "--overwrite"],
    }[command]
    before = digest(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    said = "is the input" if command == "train-into-its-images" else "give a folder of its own"
    assert said in err and len(err.splitlines()) == 1, err
    assert digest(tmp_path) == before
