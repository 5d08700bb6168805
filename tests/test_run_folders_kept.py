"""Run folders keep what is not theirs: resume adopts only recorded runs, locks cover folders.

Issue 23, items 2 to 4: ``train --resume`` continues only a run this library
recorded (never the user's ``model.pt`` or ``history.json``); ``run`` records a
stage before it publishes its product, so a run killed in between resumes;
a run's lock covers its whole work folder (every other writer inside is
refused), and ``--resume`` refuses a work folder whose products changed since
the run recorded them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from synthetic_cells import TINY_MODEL, synthetic_cells

from s2vec_geo.cli import main
from s2vec_geo.images import build_images
from s2vec_geo.model.training import TrainConfig, train

TINY = ["--epochs", "1", "--batch-size", "8", "--embed-dim", "32", "--depth", "2"]
TINY += ["--num-heads", "4", "--decoder-dim", "16", "--decoder-depth", "1", "--init", "none"]
CONFIG = TrainConfig(epochs=1, batch_size=8, model=TINY_MODEL, init="none")


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


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """An image dataset folder and a finished training run on it."""
    root = tmp_path_factory.mktemp("trained")
    images = build_images(synthetic_cells(n_parents=12), image_level=10, out=root / "images")
    train(images, CONFIG, out=root / "run")
    return {"images": root / "images", "run": root / "run"}


# -- item 2: train --resume continues only a run this library recorded --------------------

USERS_FILES = {
    "a model of theirs, their notes as history": {"model.pt": None, "history.json": "my notes"},
    "their own files": {"model.pt": "not a model", "history.json": "{}"},
    "their history.json": {"history.json": '{"runs": ["mine"]}'},
    "their loss curve": {"loss_curve.png": "my plot"},
}


@pytest.mark.parametrize("files", list(USERS_FILES.values()), ids=list(USERS_FILES))
def test_train_resume_refuses_a_folder_of_the_users(files, trained, tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    for name, text in files.items():
        if text is None:  # a real model file, trained elsewhere and copied there
            (run / name).write_bytes((trained["run"] / name).read_bytes())
        else:
            (run / name).write_text(text)
    before = digests(tmp_path)
    for flag in ([], ["--resume"]):
        status, err = cli(["train", trained["images"], "-o", run, *TINY, *flag], capsys)
        assert status == 2 and "that no recorded run wrote" in err and "--overwrite" in err
        assert digests(tmp_path) == before


def test_train_resume_starts_over_a_history_its_own_run_left(trained, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    history = json.loads((trained["run"] / "history.json").read_text())
    (run / "history.json").write_text(json.dumps(history[:1]))  # stopped before a checkpoint
    model = train(trained["images"], CONFIG, out=run, resume=True)
    assert len(model.history) == CONFIG.epochs and (run / "model.pt").is_file()
