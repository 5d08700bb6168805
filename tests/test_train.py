"""Training: learning, files, checkpoints, resume, settings."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from synthetic_cells import FEATURES, TINY_MODEL, synthetic_cells

import s2vec_geo.model.training as train_module
from s2vec_geo.images import build_images
from s2vec_geo.model.file import load_model
from s2vec_geo.model.heldout import heldout_error
from s2vec_geo.model.threads import StepThreads
from s2vec_geo.model.training import TrainConfig, lr_factor, split_indices, train


@pytest.fixture(scope="module")
def images():
    return build_images(synthetic_cells(n_parents=48), image_level=10)


def _config(**overrides: object) -> TrainConfig:
    base = {"epochs": 3, "batch_size": 8, "lr": 3e-3, "val_fraction": 0.2, "model": TINY_MODEL}
    return TrainConfig(**{**base, **overrides})


def test_training_beats_the_mean_and_writes_a_run_folder(images, tmp_path) -> None:
    # The synthetic counts follow each tile's own rows and columns (a gradient along the
    # tile's columns): a tie to absolute position in the tile that real places do not have,
    # which learned position embeddings catch and turned windows would hide.
    learned = {**TINY_MODEL, "pos_embed": "learned"}
    model = train(images, _config(epochs=10, augment=False, model=learned), out=tmp_path / "run")
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {"model.pt", "history.json", "loss_curve.png"}
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == list(range(1, 11))
    last = history[-1]
    assert last["train_loss"] < history[0]["train_loss"]
    assert last["val_loss"] < 0.8 * last["val_mean_baseline"]
    assert last["lr"] == pytest.approx(3e-3 * 0.1)

    loaded = load_model(run)
    assert loaded.feature_names == FEATURES and loaded.taxonomy_version == "synthetic-1"
    assert (loaded.patch_level, loaded.image_level, loaded.config.grid) == (13, 10, 8)
    assert loaded.stats == images.stats
    for name, value in model.module.state_dict().items():
        assert torch.equal(value, loaded.module.state_dict()[name])
    _, val = split_indices(len(images), 0.2, seed=0)
    score = heldout_error(loaded, images, val)
    assert score["loss"] < score["mean_baseline"] and score["count"] > 0


def test_interrupted_run_resumes_to_the_uninterrupted_result(images, tmp_path, monkeypatch):
    config = _config(epochs=4, model={**TINY_MODEL, "dropout": 0.2}, checkpoint_every=0)
    straight = train(images, config, out=tmp_path / "straight")

    saves = []
    original = train_module._save_checkpoint

    def save_then_die(path, state):
        original(path, state)
        saves.append(state["epoch"])
        if len(saves) == 2:
            raise KeyboardInterrupt  # the process is killed after epoch 2's checkpoint

    monkeypatch.setattr(train_module, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(images, config, out=tmp_path / "resumed")
    monkeypatch.setattr(train_module, "_save_checkpoint", original)
    assert not (tmp_path / "resumed" / "model.pt").exists()

    resumed = train(images, config, out=tmp_path / "resumed", resume=True)
    assert resumed.history == straight.history
    for name, value in straight.module.state_dict().items():
        assert torch.equal(value, resumed.module.state_dict()[name]), name


def test_same_seed_same_model_other_seed_other_model(images) -> None:
    a = train(images, _config(epochs=1))
    b = train(images, _config(epochs=1))
    c = train(images, _config(epochs=1, seed=1))
    wa, wb, wc = (m.module.patch_embed.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_existing_checkpoint_needs_resume_and_same_settings(images, tmp_path) -> None:
    train(images, _config(epochs=1, keep_checkpoint=True), out=tmp_path)
    assert (tmp_path / "checkpoint.pt").is_file()  # kept, as asked
    with pytest.raises(ValueError, match="resume=True"):  # as the command line asks
        train(images, _config(epochs=1), out=tmp_path, replace_earlier=False)
    with pytest.raises(ValueError, match="different settings"):
        train(images, _config(epochs=1, lr=1e-4), out=tmp_path, resume=True)
    again = train(images, _config(epochs=2), out=tmp_path)  # a notebook cell re-run: afresh
    assert len(again.history) == 2 and not (tmp_path / "checkpoint.pt").exists()


def test_a_finished_run_deletes_its_checkpoint_and_resume_reuses_its_model(
    images, tmp_path
) -> None:
    first = train(images, _config(epochs=2), out=tmp_path)
    assert not (tmp_path / "checkpoint.pt").exists()
    with pytest.raises(ValueError, match=r"holds a finished run .* resume=True"):
        train(images, _config(epochs=2), out=tmp_path, replace_earlier=False)
    with pytest.raises(ValueError, match=r"settings changed \(epochs\)"):
        train(images, _config(epochs=3), out=tmp_path, resume=True)
    before = (tmp_path / "model.pt").stat().st_mtime_ns
    again = train(images, _config(epochs=2, device="cpu"), out=tmp_path, resume=True)
    assert (tmp_path / "model.pt").stat().st_mtime_ns == before  # reused, not trained again
    assert again.history == first.history
    for name, value in first.module.state_dict().items():
        assert torch.equal(value, again.module.state_dict()[name]), name
    (tmp_path / "history.json").unlink()  # model.pt alone is no finished run
    for resume in (False, True):  # resuming does not replace a model.pt no run there wrote
        with pytest.raises(ValueError, match=r"model\.pt, loss_curve\.png that no recorded run"):
            train(images, _config(epochs=2), out=tmp_path, resume=resume)


def test_bad_settings_raise_clear_errors(images) -> None:
    with pytest.raises(ValueError, match="mask_ratio"):
        TrainConfig(mask_ratio=1.0)
    with pytest.raises(ValueError, match="cannot be set"):
        TrainConfig(model={"grid": 4})
    with pytest.raises(ValueError, match="CUDA is not available"):
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        train(images, _config(device="cuda"))
    with pytest.raises(ValueError, match="ImageDataset"):
        train(np.zeros((3, 4)), _config())


def test_checkpoints_are_written_by_the_clock_and_the_log_says_so(images, tmp_path, caplog):
    with caplog.at_level("INFO", logger="s2vec_geo.model.training"):
        train(images, _config(epochs=5, keep_checkpoint=True), out=tmp_path / "a")
    assert torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["epoch"] == 5
    assert "checkpoint.pt is written every 10 minutes and after the last epoch" in caplog.text
    saves = []
    original = train_module._save_checkpoint

    def counting(path, state):
        saves.append(state["epoch"])
        original(path, state)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "_save_checkpoint", counting)
        train(images, _config(epochs=5), out=tmp_path / "b")  # default: 10 minutes
        assert saves == [5]  # a short run writes its checkpoint once, at the end
        train(images, _config(epochs=3, checkpoint_every=0), out=tmp_path / "c")
    assert saves == [5, 1, 2, 3]


def test_cosine_schedule_and_split() -> None:
    assert lr_factor(0, 10, 2, 0.1) == 0.5  # warm-up
    assert lr_factor(2, 10, 2, 0.1) == 1.0
    assert lr_factor(10, 10, 2, 0.1) == pytest.approx(0.1)
    train_idx, val_idx = split_indices(2, 0.1, seed=3)
    assert len(train_idx) == 1 and len(val_idx) == 1
    assert split_indices(1, 0.1, seed=3)[1].size == 0


@pytest.mark.shared_data
def test_lower_manhattan_reconstruction_beats_the_per_feature_mean(shared_data, tmp_path):
    """Real OSM data: held-out masked reconstruction is clearly below predicting the mean.

    Patch level 18 (~38 m) in level-15 images (8 x 8) over the southern tip of
    Manhattan, where the extract's features are; water and empty blocks are real
    zero cells (the AOI covers them). Features present in at least 5 % of the cells
    are kept: the rarer ones are isolated spikes that no model can place from
    their neighbours, and they would only dilute the comparison.
    """
    import shapely

    from s2vec_geo.core.schema import feature_columns
    from s2vec_geo.features.featurize import featurize

    pbf = shared_data / "osm" / "autark-lower-manhattan.osm.pbf"
    cells = featurize(pbf, level=18, aoi=shapely.box(-74.025, 40.695, -73.995, 40.72))
    columns = feature_columns(cells)
    common = [c for c in columns if (cells[c] > 0).mean() >= 0.05]
    assert {"road_length_m_footway", "poi_bench"} <= set(common)
    images = build_images(cells[common], image_level=15)
    assert len(images) > 100
    arch = {**TINY_MODEL, "decoder_dim": 32}
    config = TrainConfig(epochs=8, batch_size=16, lr=3e-3, val_fraction=0.2, model=arch)
    model = train(images, config, out=tmp_path)
    last = model.history[-1]
    assert last["val_loss"] < 0.8 * last["val_mean_baseline"], model.history
    _, val = split_indices(len(images), 0.2, seed=0)
    score = heldout_error(model, images, val, seed=123)  # other masks, own-mean baseline
    assert score["loss"] < 0.8 * score["mean_baseline"]


def test_streamed_tiles_train_the_same_model_as_preloaded_ones(images, tmp_path) -> None:
    """The shards-read path (prefetched in a thread) and the device-resident path agree."""
    folder = build_images(synthetic_cells(n_parents=12), image_level=10, out=tmp_path / "imgs")
    models = [train(folder, _config(epochs=2, preload=p)) for p in (True, False)]
    assert models[0].history == models[1].history
    for name, value in models[0].module.state_dict().items():
        assert torch.equal(value, models[1].module.state_dict()[name]), name


def test_automatic_batch_scales_the_learning_rate_on_a_gpu_only() -> None:
    from s2vec_geo.model.training import resolve_settings

    cpu = resolve_settings(TrainConfig(), torch.device("cpu"), 10_000)
    gpu = resolve_settings(TrainConfig(), torch.device("cuda"), 10_000, world=1)
    small = resolve_settings(TrainConfig(), torch.device("cuda"), 100)
    assert (cpu.batch_size, cpu.lr, cpu.warmup_epochs) == (16, 1e-3, 0)
    assert (gpu.batch_size, gpu.lr, gpu.warmup_epochs) == (1024, 8e-3, 5)
    assert small.batch_size == 100 and small.lr == pytest.approx(1e-3 * (100 / 16) ** 0.5)
    assert resolve_settings(TrainConfig(batch_size=32), torch.device("cuda"), 10_000).lr == 1e-3


def test_cpu_threads_pins_the_count_and_auto_gives_it_back(images) -> None:
    # A number pins torch's threads for the run (the model equals a run at that count
    # set by hand); "auto" switches between two threads and one (a trial every step) and
    # leaves torch's count as it found it.
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        by_hand = train(images, _config(epochs=2))
        torch.set_num_threads(2)
        pinned = train(images, _config(epochs=2, cpu_threads="1"))
        assert torch.get_num_threads() == 2
        auto = StepThreads(torch.device("cpu"), "auto", period=0.0)
        seen = set()
        for _ in range(20):
            with auto.step():
                seen.add(torch.get_num_threads())
        auto.close()
        assert seen == {1, 2} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    for name, value in by_hand.module.state_dict().items():
        assert torch.equal(value, pinned.module.state_dict()[name]), name
    with pytest.raises(ValueError, match="cpu_threads must be all, auto or a whole number"):
        _config(cpu_threads="0")


@pytest.mark.parametrize(("slow_threads", "expected"), [(2, 1), (1, 2)])
def test_the_step_thread_tuner_keeps_the_faster_thread_count(slow_threads, expected) -> None:
    # A step that takes 30 ms on one thread count and 1 ms on the other, as a step does
    # on two threads next to a busy core (slow) or on an idle machine (fast).
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tuner = StepThreads(torch.device("cpu"), "auto", period=3600.0)
        for _ in range(12):
            with tuner.step():
                time.sleep(0.03 if torch.get_num_threads() == slow_threads else 0.001)
        assert tuner.choice == expected
        with tuner.step():
            assert torch.get_num_threads() == expected
        tuner.close()
        assert StepThreads(torch.device("cuda"), "auto").candidates == []
    finally:
        torch.set_num_threads(before)
