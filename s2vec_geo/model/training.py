"""Training the S2Vec masked autoencoder: seeded, resumable, single- or multi-process.

:func:`train` runs AdamW with a per-step cosine learning-rate schedule (paper
Table 1) on *windows* of patch cells (:mod:`s2vec_geo.images.windows`): each
epoch, every training tile anchors one window at a random offset, so a cell
is seen at every position and with every neighbourhood (``windows="sliding"``,
the default), or the tiles themselves are the images (``"aligned"``, the
paper's recipe). One or several image datasets train one model, normalized
over all of them. Whole tiles are held out for validation and are holes in
every training window; each epoch scores the held-out tiles against the
per-feature mean and neighbour interpolation (:mod:`s2vec_geo.model.heldout`).
Checkpoints are written every ``checkpoint_every`` minutes and after the
last epoch; resuming reproduces an uninterrupted run
exactly on CPU. A finished run deletes its checkpoint (``keep_checkpoint``
keeps it): resuming it returns its ``model.pt``.

Reproducibility without saving random states: every source of randomness is
re-seeded from ``(seed, epoch, ...)`` -- the window order and offsets, the
dropout and the masking noise of each epoch. A checkpoint taken at the end of
an epoch therefore holds all that is needed to continue (weights, optimizer,
scheduler, history).

Multi-process data-parallel training: launched by ``torchrun`` (``WORLD_SIZE``
> 1), :func:`train` joins the process group (NCCL on CUDA, gloo on CPU), wraps
the network in ``DistributedDataParallel`` and gives each process a slice of
every global batch (``batch_size`` is the global batch). Windows and masking
noise are drawn for the global batch and sliced, and the loss is normalized
by the global count of masked tokens, so that N processes compute the same
updates as one process (up to floating-point summation order; dropout draws
differ). Only rank 0 writes files. On one node with 8 GPUs::

    torchrun --standalone --nproc_per_node 8 -m s2vec_geo train IMAGES --output RUN

On 2 nodes, on each (``--node_rank`` 0 and 1, ``HOST`` reachable from both)::

    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 \\
        --rdzv_id s2vec --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        -m s2vec_geo train IMAGES --output RUN

(``RUN`` on a file system all nodes share, so that ``--resume`` finds the
checkpoint everywhere.) On CPU, e.g. to try it: ``torchrun --standalone
--nproc_per_node 2 -m s2vec_geo train IMAGES --output RUN --device cpu``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from s2vec_geo.core.disk import enough_space
from s2vec_geo.core.guards import check_memory, format_bytes
from s2vec_geo.core.options import DEVICE, TRAINING, check_fields
from s2vec_geo.core.progress import progress
from s2vec_geo.images.augment import dihedral, random_symmetries
from s2vec_geo.images.collection import ImageCollection
from s2vec_geo.images.normalization import NormStats
from s2vec_geo.images.sampler import WindowSampler
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.io.locks import hold
from s2vec_geo.io.outputs import check_output, removed_if_left_empty
from s2vec_geo.io.run_folder import Held, admit, check_choice
from s2vec_geo.model.file import (
    MODEL_NAME,
    PRETRAINED,
    S2VecModel,
    load_model,
    read_torch_file,
    save_torch,
)
from s2vec_geo.model.heldout import error_sums
from s2vec_geo.model.mae import MAEConfig, MaskedAutoencoder, autocast
from s2vec_geo.model.threads import StepThreads, thread_choice

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"
HISTORY_SECONDS = 10.0
"""Seconds between two writes of ``history.json`` (each an fsync'd file: once an epoch, they
cost the demo's 50 short epochs 15 % of their time)."""
LOSS_CURVE_NAME = "loss_curve.png"
RESUME_FIX = (
    "free some space, then run it again with --resume (Python: resume=True): training "
    "continues from its last checkpoint"
)
"""What to do when the run folder's disk is full."""
SMALL_DATA_CELLS = 2000
"""Fewer valid patch cells than this is too little to learn from: training warns."""
SMALL_DATA_WINDOWS = 16
"""Fewer training tiles (windows per epoch) than this: training warns."""
BEAT_MARGIN = 0.98
"""The model must reach below this share of the better baseline's held-out error."""
CPU_BATCH = 16
"""Automatic batch size on the CPU, the reference of ``TrainConfig.lr``: a city
has a few hundred to a few thousand windows, and at the paper's 64 an epoch is
a handful of optimizer steps (50 epochs of 950 tiles: 750 steps, too few to
learn anything; at 16: 3,000)."""
GPU_BATCH = 1024
"""Automatic batch size on a GPU (the model is small: small batches starve it)."""
AUTO_INIT = "auto"
"""``TrainConfig.init`` default: the bundled pretrained model when the images fit it."""
NO_INIT = "none"
"""``TrainConfig.init`` for random weights."""
LARGE_BATCH_WARMUP = 5
"""Warm-up epochs with an automatic batch larger than the paper's."""

# Settings that may change between an interrupted run and its resumption.
_RUNTIME_FIELDS = (
    "device",
    "num_workers",
    "checkpoint_every",
    "keep_checkpoint",
    "preload",
    "compile",
    "cpu_threads",
)
# Independent random streams derived from the seed.
_STREAM_SPLIT, _STREAM_MASK, _STREAM_DROPOUT, _STREAM_VAL, _STREAM_INIT, _STREAM_WINDOWS = range(6)
_STREAM_AUGMENT = 6


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (defaults: S2Vec paper, Table 1, except ``windows``).

    Parameters
    ----------
    epochs
        Passes over the training tiles (paper: 50): each epoch draws one
        window per training tile.
    batch_size
        Windows per optimizer step, over all processes. ``None`` (default):
        :data:`CPU_BATCH` (16) on the CPU, :data:`GPU_BATCH` on a GPU (at most
        the number of training tiles). The paper's 64 makes an epoch of a city
        a handful of steps.
    lr
        Peak learning rate at a batch of 16 (the paper: 5e-4 at 64). With the
        automatic batch size it is scaled with the square root of the batch
        (``lr * sqrt(batch / 16)``: 8e-3 at a GPU's 1024); a batch size you
        set uses ``lr`` as given.
    min_lr_ratio
        Final learning rate of the cosine decay, relative to ``lr`` (paper: 0.1).
    warmup_epochs
        Epochs of linear warm-up before the cosine decay. ``None`` (default):
        none at a batch of 64 or less (the paper), else up to
        :data:`LARGE_BATCH_WARMUP` epochs, as MAE warms up large batches.
    weight_decay
        AdamW weight decay (paper: 1e-3).
    clip_grad
        Gradient-norm clipping (paper: 1.0); 0 turns it off.
    mask_ratio
        Share of each window's valid patch cells hidden from the encoder
        (not stated in the paper; MAE's 0.75).
    val_fraction
        Share of tiles held out for validation (whole tiles: blocks of
        ``grid x grid`` cells, holes in every training window); at least one
        tile when there are two or more, none when 0.
    windows
        ``"sliding"`` (default): every epoch each training tile anchors a
        window at a random offset of up to half a tile, the random crop of
        image models, so no cell is tied to one position or one tile.
        ``"aligned"``: the tiles themselves, the paper's images.
    seed
        Seed of every random choice (initialization, split, windows, masks, dropout).
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    num_workers
        Kept for compatibility; windows are assembled in the training process.
    checkpoint_every
        Minutes of training between two writes of ``checkpoint.pt``: it is
        written after the first epoch ending this long after the last write
        (or the start), and after the last epoch; ``0`` writes it after every
        epoch. The default, 10 minutes, writes one checkpoint (tens of MB)
        per 10 minutes, not one per epoch.
    keep_checkpoint
        Keep ``checkpoint.pt`` when the run finishes. By default it is
        deleted once ``model.pt`` is written: it holds the same weights plus
        the optimizer's state (about three times the model's size), and a
        finished run needs it for nothing (resuming it reuses ``model.pt``;
        more epochs change the learning-rate schedule, so a longer run starts
        afresh).
    preload
        Load all tiles onto the device once (``True``), read each batch's
        tiles from the shards (``False``, prefetched one batch ahead in
        pinned memory on a GPU), or decide by size (``None``).
    compile
        Run the training network through ``torch.compile`` (off by default:
        not measured faster for this model yet).
    augment
        Turn each training window by one of the 8 rotations and mirrorings of
        the square, drawn at random (:mod:`s2vec_geo.images.augment`): built
        form has no preferred orientation, and the S2 (i, j) axes point
        differently on different cube faces. ``False``: windows as drawn.
    init
        Where the weights start. ``"auto"`` (default): from the model
        pretrained on 27 cities that ships with the package when the images
        fit it (levels 16/12, taxonomy v1, its features) and no architecture
        is set in ``model``, else from random weights; fine-tuning it beats
        training on one area alone on held-out cells (docs/experiments.md).
        ``"pretrained"`` or a model file: start from that model (an error if
        the images do not fit it); ``"none"``: random weights. A starting
        model's architecture, features and normalization are kept.
    cpu_threads
        Torch's CPU threads while training (:mod:`s2vec_geo.model.threads`):
        ``"all"`` (default: torch's count; reproducible bit for bit), a
        number, or ``"auto"``: timed steps pick all threads or one, again
        every minute -- much faster on a machine busy with other work, but
        the model then depends on the choices, not only on the seed.
    model
        Overrides of :class:`~s2vec_geo.model.mae.MAEConfig` fields, e.g. ``{"depth": 2}``;
        ``num_features`` and ``grid`` always come from the images.

    Examples
    --------
    >>> TrainConfig(epochs=5, model={"depth": 2}).lr
    0.001
    """

    epochs: int = 50
    batch_size: int | None = None
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_epochs: int | None = None
    weight_decay: float = 1e-3
    clip_grad: float = 1.0
    mask_ratio: float = 0.75
    val_fraction: float = 0.1
    windows: str = "sliding"
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    checkpoint_every: float = 10.0
    keep_checkpoint: bool = False
    preload: bool | None = None
    compile: bool = False
    augment: bool = True
    init: str | None = AUTO_INIT
    cpu_threads: str | int = "all"
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_fields(self, TRAINING, "TrainConfig")  # every range: declared in core.options
        thread_choice(self.cpu_threads)
        if self.warmup_epochs is not None and self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"TrainConfig.warmup_epochs={self.warmup_epochs} must be in [0, epochs)"
            )
        settable = {f.name for f in fields(MAEConfig)} - {"num_features", "grid"}
        bad = sorted(set(self.model) - settable)
        if bad:
            raise ValueError(
                f"TrainConfig.model has keys {bad} that cannot be set; use MAEConfig "
                f"fields {sorted(settable)} (num_features and grid come from the images)"
            )

    def mae_config(self, num_features: int, grid: int) -> MAEConfig:
        """The network architecture for images of ``grid`` x ``grid`` x ``num_features``."""
        return MAEConfig(num_features=num_features, grid=grid, **self.model)


def derive_seed(*keys: int) -> int:
    """A 63-bit seed derived from integers (independent streams per key tuple).

    Examples
    --------
    >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
    True
    """
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)[0] >> 1)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``n`` tile indices into (train, validation), both sorted.

    Examples
    --------
    >>> tr, va = split_indices(10, 0.2, seed=0)
    >>> len(tr), len(va), sorted(set(tr) | set(va)) == list(range(10))
    (8, 2, True)
    """
    if n < 1:
        raise ValueError("no images to train on; build images from a non-empty area first")
    n_val = 0 if val_fraction == 0 or n < 2 else max(1, round(n * val_fraction))
    perm = np.random.default_rng(derive_seed(seed, _STREAM_SPLIT)).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; other names checked for availability.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("cuda:99")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: device 'cuda:99' requested but ...
    """
    if DEVICE.check(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use 'cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {name!r} requested but MPS (Apple GPU) is not available; use 'cpu'"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device {name!r} requested but this machine has {torch.cuda.device_count()} CUDA "
            "device(s), cuda:0 to cuda:N-1; use one of them, 'cuda' or 'auto'"
        )
    return device


def resolve_settings(cfg: TrainConfig, device: torch.device, n_tiles: int, world: int = 1):
    """The config with the automatic batch size, learning rate and warm-up made concrete.

    Examples
    --------
    >>> cpu = resolve_settings(TrainConfig(), torch.device("cpu"), 500)
    >>> cpu.batch_size, cpu.lr, cpu.warmup_epochs
    (16, 0.001, 0)
    >>> gpu = resolve_settings(TrainConfig(), torch.device("cuda"), 5000)
    >>> gpu.batch_size, round(gpu.lr, 6), gpu.warmup_epochs
    (1024, 0.008, 5)
    >>> resolve_settings(TrainConfig(batch_size=256), torch.device("cuda"), 5000).lr
    0.001
    """
    batch, lr = cfg.batch_size, cfg.lr
    if batch is None:
        batch = CPU_BATCH if device.type == "cpu" else GPU_BATCH
        batch = max(CPU_BATCH, min(batch, -(-n_tiles // world) * world))
        batch = -(-batch // world) * world
        lr = cfg.lr * (batch / CPU_BATCH) ** 0.5  # square-root scaling, as for Adam
    warmup = cfg.warmup_epochs
    if warmup is None:
        warmup = 0 if batch <= CPU_BATCH else min(LARGE_BATCH_WARMUP, cfg.epochs - 1)
    return replace(cfg, batch_size=int(batch), lr=float(lr), warmup_epochs=int(warmup))


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to ``min_ratio``.

    Examples
    --------
    >>> lr_factor(0, 100, 0, 0.1), round(lr_factor(100, 100, 0, 0.1), 6)
    (1.0, 0.1)
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress_ = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(progress_, 1.0)))


@contextlib.contextmanager
def _deterministic(enabled: bool) -> Iterator[None]:
    """Turn on torch's deterministic algorithms for the block, then restore.

    Through the debug-mode switch: the same flag as
    ``torch.use_deterministic_algorithms``, which also imports torch's
    compiler stack to tell ``torch.compile`` (1.5 s of every first training).
    """
    before = torch.get_deterministic_debug_mode()
    if enabled:
        torch.set_deterministic_debug_mode("error")
    try:
        yield
    finally:
        torch.set_deterministic_debug_mode(before)


@dataclass
class _Dist:
    """Process-group facts for this process."""

    world: int = 1
    rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Sum numbers over all processes."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()


def _setup_distributed(device: torch.device) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist(), device
    owns = False
    if not dist.is_initialized():
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return _Dist(world=dist.get_world_size(), rank=dist.get_rank(), owns_group=owns), device


def open_images(images: Any, stats: NormStats | None = None) -> ImageCollection:
    """An :class:`ImageCollection` of one dataset, a folder, or a list of either.

    ``stats``: normalize with these (a pretrained model's) instead of the images' own.

    Examples
    --------
    >>> open_images(42)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: images must be ImageDatasets (build_images) or their folders, got int
    """
    if isinstance(images, ImageCollection):
        if stats is None:
            return images
        images = images.datasets
    if isinstance(images, Sequence) and not isinstance(images, str):
        return ImageCollection(list(images), stats=stats)
    return ImageCollection(images, stats=stats)


def _fits(base: S2VecModel, collection: ImageCollection) -> str | None:
    """Why ``base`` cannot start training on ``collection`` (``None``: it can)."""
    if (base.patch_level, base.image_level) != (collection.patch_level, collection.image_level):
        return (
            f"the images are at levels {collection.patch_level}/{collection.image_level}, "
            f"the model at {base.patch_level}/{base.image_level}"
        )
    if base.taxonomy_version != collection.taxonomy_version:
        return f"the images were counted with taxonomy {collection.taxonomy_version!r}"
    missing = sorted(set(base.feature_names) - set(collection.feature_names))
    if missing:
        return f"the images lack {len(missing)} of its features (e.g. {missing[0]})"
    return None


@functools.lru_cache(maxsize=1)
def _bundled_model() -> S2VecModel:
    """The bundled pretrained model, read once a process (training only reads it)."""
    return load_model(PRETRAINED)


def starting_model(cfg: TrainConfig, collection: ImageCollection) -> S2VecModel | None:
    """The model training starts from (``cfg.init``), checked against the images.

    ``"auto"``: the bundled pretrained model when the images fit it (same levels,
    taxonomy and features) and no architecture is set, else random weights
    (both logged); ``"none"`` or ``None``: random weights; a model file or
    ``"pretrained"``: that model, or an error saying why it does not fit.

    Examples
    --------
    >>> starting_model(TrainConfig(init="none"), None) is None
    True
    """
    if cfg.init in (None, NO_INIT):
        return None
    if cfg.init == AUTO_INIT:
        if cfg.model:
            return None  # an architecture of one's own: trained from random weights
        base = _bundled_model()
        why = _fits(base, collection)
        if why is not None:
            logger.info("training from random weights: the pretrained model does not fit (%s)", why)
            return None
        logger.info(
            "starting from the pretrained model (levels %d/%d, taxonomy %s; init='none' "
            "trains from random weights)",
            base.patch_level,
            base.image_level,
            base.taxonomy_version,
        )
        return base
    base = load_model(cfg.init)
    if cfg.model:
        raise ValueError(
            f"fine-tuning keeps the architecture of {cfg.init!r}; drop the architecture "
            f"options ({', '.join(sorted(cfg.model))}) or train from random weights (init none)"
        )
    why = _fits(base, collection)
    if why is not None:
        raise ValueError(
            f"{cfg.init!r} cannot start this training: {why}; build the images at the model's "
            "levels with its taxonomy, or train from random weights (init none)"
        )
    return base


def _seeded(seed: int, *keys: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(derive_seed(seed, *keys))


def train_mean(sampler: WindowSampler) -> np.ndarray:
    """Per-feature mean of the training tiles' valid cells (normalized units)."""
    collection, tiles = sampler.store.collection, sampler.train_tiles.numpy()
    total = np.zeros(len(collection.feature_names), dtype=np.float64)
    n = 0
    for start in range(0, len(tiles), 512):
        x, valid = collection.tiles(tiles[start : start + 512])
        total += x[valid].sum(axis=0, dtype=np.float64)
        n += int(valid.sum())
    return total / max(n, 1)


def _refuse_non_finite_images(mean: np.ndarray, collection: ImageCollection) -> None:
    """Refuse images whose training tiles hold NaN or infinite values (their mean is not finite).

    Building images refuses such values, so they come from shards changed or
    damaged afterwards; training on them would only make NaN weights.
    """
    if np.isfinite(mean).all():
        return
    bad = [
        name for name, m in zip(collection.feature_names, mean, strict=True) if not np.isfinite(m)
    ]
    folders = ", ".join(repr(str(d.root)) for d in collection.datasets if d.root is not None)
    raise ValueError(
        f"the images {folders or 'given'} hold NaN or infinite values (feature {bad[0]!r}): "
        "their shards were changed or damaged after they were built; rebuild them (s2vec "
        "images CELLS -o IMAGES --overwrite)"
    )


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    save_torch(state, path, "the training checkpoint", RESUME_FIX)


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    space = enough_space(path.parent, None, "the training history", RESUME_FIX)
    with space, atomic_path(path) as tmp:
        tmp.write_text(json.dumps(history, indent=1))


def train(
    images: Any,
    config: TrainConfig | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    *,
    replace_earlier: bool = True,
) -> S2VecModel:
    """Train the S2Vec masked autoencoder on windows of one or several image datasets.

    Parameters
    ----------
    images
        ``ImageDataset`` (from :func:`s2vec_geo.images.build_images`), the
        folder an image set was written to, or a list of them (one model
        over several areas, normalized over all of them; the features they
        share are used).
    config
        Training settings; defaults to paper Table 1 with sliding windows
        (:class:`TrainConfig`).
    out
        Run folder (created when missing). Receives ``checkpoint.pt`` every
        ``checkpoint_every`` minutes, ``history.json`` every ten seconds, and at the
        end ``model.pt`` and ``loss_curve.png``; the checkpoint is then
        deleted unless ``config.keep_checkpoint``. ``None`` trains in memory.
        The folder is locked while training (:func:`s2vec_geo.io.locks.hold`):
        a second run into it is refused.
    resume
        Continue from ``out/checkpoint.pt``, or return the model of a run
        that finished in ``out`` (its ``model.pt`` and ``history.json``).
        Without it, an earlier run there is replaced (``replace_earlier``).
        The run's settings must equal ``config`` (apart from ``device``, ``num_workers``,
        ``checkpoint_every``, ``keep_checkpoint`` and ``preload``); on CPU
        the resumed result equals an uninterrupted run bit for bit.
    overwrite
        Start afresh in a folder holding an earlier run (its files are
        replaced as the new run writes them), or holding a ``model.pt``,
        ``history.json`` or ``loss_curve.png`` that no run there wrote.
    replace_earlier
        Start afresh, without ``resume`` or ``overwrite``, in a folder holding
        an earlier run (finished, or its checkpoint): the default, so that
        re-running a notebook cell works; files no run wrote are still
        refused. ``False`` refuses the earlier run too, as the command line
        does (``--resume`` or ``--overwrite``).

    Returns
    -------
    S2VecModel
        Trained model on the CPU in eval mode; ``model.history`` lists per-epoch
        ``train_loss``, ``lr`` and, with held-out tiles, ``val_loss`` with its
        baselines ``val_mean_baseline`` (predicting the training per-feature
        mean) and ``val_neighbor_baseline`` (the mean of each masked cell's
        visible neighbours). A warning is logged when the data are too small
        to learn from or the model does not beat both baselines.

    Notes
    -----
    CUDA runs in bfloat16 autocast with TF32 matmuls and are not bit-exact;
    CPU runs use deterministic algorithms. Under ``torchrun`` the run is
    data-parallel (see the module docstring for command lines).

    Examples
    --------
    >>> model = train("images/", TrainConfig(epochs=5), out="run")  # doctest: +SKIP
    >>> model.history[-1]["val_loss"] < model.history[-1]["val_mean_baseline"]  # doctest: +SKIP
    True
    """
    cfg = config or TrainConfig()
    collection = open_images(images)
    base = starting_model(cfg, collection)
    if base is not None:  # normalize as the starting model does, with its features
        collection = open_images(collection, base.stats)
    out_dir = None if out is None else check_output(out, _image_paths(images), folder=True)
    device = resolve_device(cfg.device)
    ddp, device = _setup_distributed(device)
    n_train = len(split_indices(len(collection), cfg.val_fraction, cfg.seed)[0])
    cfg = resolve_settings(cfg, device, n_train, ddp.world)
    if cfg.batch_size % ddp.world:
        raise ValueError(
            f"batch_size {cfg.batch_size} is not divisible by the {ddp.world} processes; "
            "choose a multiple of the process count"
        )
    check_training_memory(architecture(cfg, collection, base), cfg, device, ddp.world, n_train)
    check_choice(resume, overwrite)
    try:
        with contextlib.ExitStack() as stack:
            if out_dir is not None and ddp.main:
                out_dir.parent.mkdir(parents=True, exist_ok=True)
                stack.enter_context(removed_if_left_empty(out_dir))
                stack.enter_context(hold(out_dir))
            finished = (
                _open_run_folder(out_dir, cfg, collection, resume, overwrite, replace_earlier)
                if out_dir
                else None
            )
            if finished is not None:
                return finished
            stack.enter_context(_deterministic(device.type == "cpu"))
            return _train(collection, cfg, out_dir, resume, device, ddp, base)
    finally:
        if ddp.owns_group:
            dist.destroy_process_group()


def architecture(
    cfg: TrainConfig, collection: ImageCollection, base: S2VecModel | None
) -> MAEConfig:
    """The network to train: the starting model's, else ``cfg.model`` for these images."""
    if base is not None:
        return base.config
    return cfg.mae_config(len(collection.feature_names), collection.grid)


def check_training_memory(
    mae_cfg: MAEConfig,
    cfg: TrainConfig,
    device: torch.device,
    world: int = 1,
    n_windows: int | None = None,
) -> None:
    """Refuse, before the network is built, training that would not fit in memory.

    The estimate (:meth:`~s2vec_geo.model.mae.MAEConfig.training_bytes`: weights,
    gradients, AdamW's moments and the activations of one process's batch, of
    at most ``n_windows``, the training tiles) is
    held against the memory budget on the CPU
    (:func:`~s2vec_geo.core.guards.check_memory`), against the GPU's memory on CUDA.

    Examples
    --------
    >>> cfg = TrainConfig(batch_size=65_536)
    >>> check_training_memory(cfg.mae_config(116, 16), cfg, torch.device("cpu"))
    ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    s2vec_geo.core.guards.OverBudgetError: training a network of 0.7 M parameters on batches
    of 65,536 windows of 16x16 cells would take about ... GiB of memory, over the memory
    budget of ...: ask for less (a smaller --batch-size, --embed-dim, --depth or
    --decoder-depth), ...
    """
    batch = cfg.batch_size if n_windows is None else min(cfg.batch_size, max(n_windows, 1))
    need = mae_cfg.training_bytes(-(-batch // world), cfg.mask_ratio)
    grid = mae_cfg.grid
    what = (
        f"training a network of {mae_cfg.num_parameters / 1e6:,.1f} M parameters on batches "
        f"of {cfg.batch_size:,} windows of {grid}x{grid} cells"
    )
    fix = "a smaller --batch-size, --embed-dim, --depth or --decoder-depth"
    if device.type != "cuda":
        check_memory(need, what, fix=fix)
        return
    total = torch.cuda.get_device_properties(device).total_memory
    if need > total:
        raise ValueError(
            f"{what} would take about {format_bytes(need)} of GPU memory, more than the "
            f"{format_bytes(total)} of {device}: ask for less ({fix})"
        )


def _image_paths(images: Any) -> list[Any]:
    """The folders among ``images`` (a dataset, a folder or a list of them), for checks."""
    items = images if isinstance(images, (list, tuple)) else [images]
    return [getattr(item, "root", item) for item in items]


RUN_FILES = (MODEL_NAME, HISTORY_NAME, LOSS_CURVE_NAME)
"""Files a training run writes beside its checkpoint."""


def _open_run_folder(
    out_dir: Path,
    cfg: TrainConfig,
    collection: ImageCollection,
    resume: bool,
    overwrite: bool,
    replace: bool = False,
) -> S2VecModel | None:
    """The finished run's model to reuse, or ``None`` to train (from its checkpoint with resume).

    The run-folder policy is :func:`s2vec_geo.io.run_folder.admit`: a
    checkpoint with the run's ``history.json`` (:func:`_unfinished_run`) or a
    finished run (``model.pt`` with its ``history.json``) is the folder's
    record; its other files are products no recorded run wrote, except a
    ``history.json`` that a run stopped before its first checkpoint left. A
    run continues with the same settings on the same images
    (:func:`_trained_on`).
    """
    held, model = Held(), None
    if replace and not resume and not overwrite and _earlier_run(out_dir):
        logger.info("replacing the earlier training run in %s", out_dir)
        overwrite = True  # a notebook cell run again: this library's own run, replaced
    if overwrite:
        held = Held()  # replaced as the new run writes
    elif _unfinished_run(out_dir):  # settings checked as it is restored
        held = Held(f"an unfinished run ({CHECKPOINT_NAME})")
    elif (model := finished_model(out_dir)) is not None:
        recorded = json.loads(json.dumps(model.train_config))
        recorded = {k: v for k, v in recorded.items() if k not in _RUNTIME_FIELDS}
        held = Held(f"a finished run ({MODEL_NAME})", {**recorded, "images": _trained_on(model)})
    else:
        present = [name for name in (*RUN_FILES, CHECKPOINT_NAME) if (out_dir / name).exists()]
        left = [HISTORY_NAME] if _run_history(out_dir / HISTORY_NAME) else []
        held = Held(unrecorded=present, leftovers=left)
    resumable = {**resumable_settings(cfg), "images": _trained_on(collection)}
    if not admit(out_dir, held, resumable, resume, overwrite, "output folder (--output)"):
        return None
    if model is not None:
        logger.info(
            "the run in %s is complete (%d epochs): reusing its model.pt",
            out_dir,
            len(model.history),
        )
    return model


def _run_history(path: Path) -> bool:
    """Whether ``path`` is a ``history.json`` a training run wrote: epochs 1, 2, ... with losses.

    A run stopped before its first checkpoint leaves one (``resume`` starts
    afresh over it); a file of another shape there is the user's, and kept.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "history.json"
    >>> _ = path.write_text('[{"epoch": 1, "train_loss": 0.5, "lr": 0.001}]')
    >>> _run_history(path)
    True
    >>> _ = path.write_text('{"my": "notes"}')
    >>> _run_history(path)
    False
    """
    try:
        history = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, unreadable or not JSON
        return False
    return (
        isinstance(history, list)
        and len(history) > 0
        and all(
            isinstance(record, dict)
            and record.get("epoch") == epoch
            and {"train_loss", "lr"} <= record.keys()
            for epoch, record in enumerate(history, start=1)
        )
    )


def _trained_on(source: Any) -> dict[str, Any]:
    """What identifies the images of a run: features, levels and their statistics.

    ``source``: the :class:`ImageCollection` trained on, or the model trained
    on it (which keeps them). Plain JSON, as checkpoints and messages hold it.
    """
    identity = {
        "features": list(source.feature_names),
        "patch_level": int(source.patch_level),
        "image_level": int(source.image_level),
        "stats": source.stats.to_dict(),
    }
    return json.loads(json.dumps(identity))


def _unfinished_run(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a run's checkpoint: ``checkpoint.pt`` beside the run's history.

    A run writes ``history.json`` before each checkpoint (and every few
    seconds); a ``checkpoint.pt`` without it is not this library's.
    """
    return (out_dir / CHECKPOINT_NAME).exists() and _run_history(out_dir / HISTORY_NAME)


def _earlier_run(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a run's checkpoint or a finished run."""
    return _unfinished_run(out_dir) or finished_model(out_dir) is not None


@dataclass
class _Run:
    """The state of one training run: network, optimizer, schedule, data, history."""

    cfg: TrainConfig
    module: MaskedAutoencoder
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: WindowSampler
    device: torch.device
    ddp: _Dist
    start_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    baseline_mean: np.ndarray | None = None
    images: dict[str, Any] = field(default_factory=dict)
    """The images trained on (:func:`_trained_on`): a checkpoint continues on them only."""

    def checkpoint(self, epoch: int) -> dict[str, Any]:
        """Everything needed to continue after ``epoch``."""
        return {
            "epoch": epoch,
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": self.history,
            "train_config": resumable_settings(self.cfg),
            "images": self.images,
            "baseline_mean": None
            if self.baseline_mean is None
            else [float(v) for v in self.baseline_mean],
        }

    def restore(self, path: Path) -> None:
        """Load a checkpoint written with the same settings."""
        state = read_torch_file(path, "training checkpoint", copies=3)
        try:
            settings = state["train_config"]
            if settings != resumable_settings(self.cfg):
                raise ValueError(
                    f"{str(path)!r} was written with different settings ({settings}); resume "
                    "with the same settings, start afresh with --overwrite or use a new folder"
                )
            if state.get("images", self.images) != self.images:  # (older checkpoints: none)
                raise ValueError(
                    f"{str(path)!r} was written training on other images (features, levels or "
                    "their statistics differ); resume with those images, start afresh with "
                    "--overwrite or use a new folder"
                )
            self.module.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.start_epoch, self.history = int(state["epoch"]), list(state["history"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise ValueError(
                f"{str(path)!r} is a damaged training checkpoint ({type(exc).__name__}); start "
                "afresh with overwrite=True (CLI: --overwrite) or use a new folder"
            ) from exc
        if state.get("baseline_mean") is not None:
            self.baseline_mean = np.asarray(state["baseline_mean"], dtype=np.float64)
        logger.info("resuming from %s after epoch %d", path, self.start_epoch)


def _new_run(
    collection: ImageCollection,
    cfg: TrainConfig,
    device: torch.device,
    ddp: _Dist,
    base: S2VecModel | None = None,
) -> _Run:
    torch.manual_seed(derive_seed(cfg.seed, _STREAM_INIT))
    module = MaskedAutoencoder(architecture(cfg, collection, base))
    if base is not None:  # fine-tuning: start from the pretrained weights
        module.load_state_dict(base.module.state_dict())
    module = module.to(device)
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=device.type == "cuda"
    )
    train_idx, val_idx = split_indices(len(collection), cfg.val_fraction, cfg.seed)
    sampler = WindowSampler(
        collection, train_idx, val_idx, windows=cfg.windows, device=device, preload=cfg.preload
    )
    steps = sampler.steps(cfg.batch_size, ddp.world)
    total, warmup = cfg.epochs * steps, cfg.warmup_epochs * steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, warmup, cfg.min_lr_ratio)
    )
    return _Run(
        cfg, module, optimizer, scheduler, sampler, device, ddp, images=_trained_on(collection)
    )


def _train_epoch(
    run: _Run, net: torch.nn.Module, epoch: int, bar: Any, threads: StepThreads
) -> dict[str, float]:
    cfg, ddp, device = run.cfg, run.ddp, run.device
    torch.manual_seed(derive_seed(cfg.seed, _STREAM_DROPOUT, epoch, ddp.rank))
    windows = _seeded(cfg.seed, _STREAM_WINDOWS, epoch)
    masks = _seeded(cfg.seed, _STREAM_MASK, epoch, device=device)
    turns = _seeded(cfg.seed, _STREAM_AUGMENT, epoch, device=device)
    n_tokens = run.module.config.num_tokens
    sse_sum = count_sum = 0.0
    batches = run.sampler.train_batches(windows, cfg.batch_size, ddp.rank, ddp.world)
    for step, (x, valid) in enumerate(batches, start=1):
        if cfg.augment:  # each window turned by a symmetry drawn for the global batch
            pick = random_symmetries(cfg.batch_size, turns)[ddp.rank :: ddp.world][: len(x)]
            x, valid = dihedral(x, valid, pick)
        noise = torch.rand(cfg.batch_size, n_tokens, generator=masks, device=device)
        noise = noise[ddp.rank :: ddp.world][: len(x)]
        with threads.step():
            with autocast(device):
                result = net(x, valid, mask_ratio=cfg.mask_ratio, noise=noise)
            sse, count = float(result.sse.detach()), float(result.count)
            global_count, global_sse = ddp.sum([count, sse], device)  # NaN anywhere: everywhere
            where = f"epoch {epoch + 1}, step {step}"
            _stop_unless_finite({"the training loss": global_sse}, where)
            loss = result.sse * (ddp.world / max(global_count, 1.0))
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(run.module.parameters(), cfg.clip_grad)
            run.optimizer.step()
            run.scheduler.step()
        sse_sum += sse
        count_sum += count
        bar.update(1)
        bar.set_postfix_str(f"epoch {epoch + 1} loss {float(result.loss.detach()):.4f}")
    sse_sum, count_sum = ddp.sum([sse_sum, count_sum], device)
    return {
        "epoch": epoch + 1,
        "train_loss": sse_sum / max(count_sum, 1.0),
        "lr": run.optimizer.param_groups[0]["lr"],
    }


NOT_FINITE_CAUSES = (
    "the images hold NaN or infinite values (rebuild them: s2vec images CELLS -o IMAGES "
    "--overwrite) or the learning rate is too high (lower --lr / TrainConfig.lr)"
)
"""The likely causes of a loss or weight that is NaN or infinite, and their fixes."""


def _stop_unless_finite(values: dict[str, float], where: str) -> None:
    """Stop training in one line when a loss or weight is NaN or infinite.

    Raised before the step that would spread it and before any checkpoint or
    model is written, so the files of the last good epoch stay as they were.

    Examples
    --------
    >>> _stop_unless_finite({"the training loss": 0.5}, "epoch 1, step 1")
    >>> _stop_unless_finite({"the training loss": float("nan")}, "epoch 2, step 7")
    Traceback (most recent call last):
    ...
    ValueError: training stopped at epoch 2, step 7: the training loss is nan; likely ...
    """
    bad = [f"{name} is {value:g}" for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(
            f"training stopped at {where}: {', '.join(bad)}; likely {NOT_FINITE_CAUSES}; no "
            "model was written and the last checkpoint, if any, is kept"
        )


def _largest_weight(module: torch.nn.Module) -> float:
    """The largest absolute weight of a network (NaN when any weight is NaN).

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 1)
    >>> _ = torch.nn.init.constant_(layer.weight, -3.0), torch.nn.init.zeros_(layer.bias)
    >>> _largest_weight(layer)
    3.0
    """
    return float(torch.stack([p.detach().abs().max() for p in module.parameters()]).max())


def _validate(run: _Run) -> dict[str, float]:
    """Held-out masked error of the model and both baselines, on fixed seeded masks."""
    mean = torch.as_tensor(run.baseline_mean, dtype=torch.float32)
    generator = _seeded(run.cfg.seed, _STREAM_VAL, device=run.device)
    batches = run.sampler.val_batches(run.cfg.batch_size // run.ddp.world)
    sums = error_sums(run.module, batches, run.cfg.mask_ratio, generator, mean)
    count = max(sums["count"], 1.0)
    return {
        "val_loss": sums["model"] / count,
        "val_mean_baseline": sums["mean"] / count,
        "val_neighbor_baseline": sums["neighbors"] / count,
    }


def _warn_if_small(run: _Run) -> None:
    sampler = run.sampler
    cells = int(sampler.store.valid.sum())
    tiles = len(sampler.train_tiles)
    if cells < SMALL_DATA_CELLS or tiles < SMALL_DATA_WINDOWS:
        logger.warning(
            "only %d cells in %d training tiles: too little data for the masked autoencoder "
            "to learn much from; its embeddings may add little to the raw counts. Train on a "
            "larger area or on several areas together (s2vec run A B ..., s2vec train "
            "IMAGES_A IMAGES_B ...)",
            cells,
            tiles,
        )


def beats_baselines(record: dict[str, float]) -> bool:
    """Whether a history record's ``val_loss`` clearly beats both baselines.

    Clearly: below :data:`BEAT_MARGIN` times the better baseline.

    Examples
    --------
    >>> beats_baselines({"val_loss": 0.5, "val_mean_baseline": 1.0, "val_neighbor_baseline": 0.8})
    True
    >>> beats_baselines({"val_loss": 0.5, "val_mean_baseline": 0.51, "val_neighbor_baseline": 0.9})
    False
    """
    best = min(record["val_mean_baseline"], record["val_neighbor_baseline"])
    return record["val_loss"] < BEAT_MARGIN * best


def _warn_if_nothing_to_learn(history: list[dict[str, float]]) -> None:
    """Warn when the data are constant (the mean predicts held-out cells perfectly) or no
    cell was ever masked (a loss of 0 in every epoch)."""
    constant = bool(history) and history[-1].get("val_mean_baseline") == 0.0
    if not constant and any(record["train_loss"] > 0.0 for record in history):
        return
    logger.warning(
        "the data hold nothing to predict: every feature is constant (e.g. all zero) or "
        "there are too few cells for any to be masked, so the embeddings carry no "
        "information; check the cells (s2vec featurize) and train on a larger area"
    )


def _warn_if_not_learned(history: list[dict[str, float]]) -> None:
    last = history[-1] if history else {}
    if "val_loss" not in last or beats_baselines(last):
        return
    logger.warning(
        "the model does not beat its baselines on held-out cells by the %d %% margin asked: "
        "masked error %.4g, not under %.4g, vs %.4g predicting the per-feature mean and "
        "%.4g the mean of the visible neighbours; its embeddings may describe little beyond "
        "the raw counts. Train longer (--epochs), on a larger area or several areas, or on "
        "images without rare features (s2vec images --min-support)",
        round(100 * (1 - BEAT_MARGIN)),
        last["val_loss"],
        BEAT_MARGIN * min(last["val_mean_baseline"], last["val_neighbor_baseline"]),
        last["val_mean_baseline"],
        last["val_neighbor_baseline"],
    )


class _Every:
    """A clock that is due every ``seconds`` (always, for 0).

    Examples
    --------
    >>> _Every(0.0).due(), _Every(600.0).due()
    (True, False)
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reset()

    def due(self) -> bool:
        return time.monotonic() - self.start >= self.seconds

    def reset(self) -> None:
        self.start = time.monotonic()


def _train(
    collection: ImageCollection,
    cfg: TrainConfig,
    out_dir: Path | None,
    resume: bool,
    device: torch.device,
    ddp: _Dist,
    base: S2VecModel | None = None,
) -> S2VecModel:
    checkpoint_path = out_dir / CHECKPOINT_NAME if out_dir is not None else None
    if out_dir is not None and ddp.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run = _new_run(collection, cfg, device, ddp, base)
    if checkpoint_path is not None and resume and checkpoint_path.exists():
        run.restore(checkpoint_path)
    if run.baseline_mean is None:
        run.baseline_mean = train_mean(run.sampler)
        _refuse_non_finite_images(run.baseline_mean, collection)
    if ddp.main:
        _warn_if_small(run)
    net: torch.nn.Module = run.module
    if ddp.world > 1:
        ids = [device] if device.type == "cuda" else None
        net = DistributedDataParallel(run.module, device_ids=ids)
    if cfg.compile:
        net = torch.compile(net)
    if out_dir is not None and ddp.main:
        logger.info(
            "checkpoint.pt is written %s and after the last epoch (checkpoint_every)",
            f"every {cfg.checkpoint_every:g} minutes" if cfg.checkpoint_every else "every epoch",
        )
    steps = run.sampler.steps(cfg.batch_size, ddp.world)
    bar = progress(total=(cfg.epochs - run.start_epoch) * steps, desc="train", disable=not ddp.main)
    run.module.train()
    threads = StepThreads(device, cfg.cpu_threads)
    try:
        _epochs(run, net, out_dir, bar, threads)
    finally:
        threads.close()
    bar.close()
    return _finish(run, collection, out_dir)


def _epochs(
    run: _Run, net: torch.nn.Module, out_dir: Path | None, bar: Any, threads: StepThreads
) -> None:
    """Train the remaining epochs, validating, logging and checkpointing after each."""
    cfg, ddp = run.cfg, run.ddp
    saved, written = _Every(cfg.checkpoint_every * 60.0), _Every(HISTORY_SECONDS)
    for epoch in range(run.start_epoch, cfg.epochs):
        record = _train_epoch(run, net, epoch, bar, threads)
        if len(run.sampler.val_tiles) and ddp.main:
            record.update(_validate(run))
        scores = {k: v for k, v in record.items() if k != "epoch"}
        _stop_unless_finite(
            {**scores, "the largest weight": _largest_weight(run.module)}, f"epoch {epoch + 1}"
        )
        run.history.append(record)
        if ddp.main:
            summary = ", ".join(f"{k} {v:.5g}" for k, v in record.items() if k != "epoch")
            logger.info("epoch %d/%d: %s", epoch + 1, cfg.epochs, summary)
        if out_dir is not None and ddp.main:
            checkpoint = epoch + 1 == cfg.epochs or saved.due()
            if checkpoint or written.due():  # a checkpoint always has its history beside it
                _write_history(out_dir / HISTORY_NAME, run.history)
                written.reset()
            if checkpoint:
                _save_checkpoint(out_dir / CHECKPOINT_NAME, run.checkpoint(epoch + 1))
                saved.reset()


def _finish(run: _Run, collection: ImageCollection, out_dir: Path | None) -> S2VecModel:
    """Package the trained network, warn if it learned nothing, write model and curve."""
    model = S2VecModel(
        run.module.cpu().eval(),
        stats=collection.stats,
        feature_names=list(collection.feature_names),
        patch_level=collection.patch_level,
        image_level=collection.image_level,
        taxonomy_version=collection.taxonomy_version,
        train_config=asdict(run.cfg),
        history=run.history,
    )
    if not run.ddp.main:
        return model
    _warn_if_nothing_to_learn(run.history)
    _warn_if_not_learned(run.history)
    if out_dir is not None:
        from s2vec_geo.viz.plots import plot_loss_curve

        with enough_space(out_dir, None, "the trained model", RESUME_FIX):
            model.save(out_dir / MODEL_NAME)
            plot_loss_curve(run.history, out_dir / LOSS_CURVE_NAME)
        if not run.cfg.keep_checkpoint:  # the run is complete: model.pt is all it leaves
            (out_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
    return model


def finished_model(out_dir: Path) -> S2VecModel | None:
    """The model of a run that finished in ``out_dir`` and deleted its checkpoint, else ``None``.

    A finished run leaves ``model.pt`` and ``history.json`` with every epoch
    of the model's history; a ``model.pt`` without them (e.g. copied there)
    is no finished run.

    Examples
    --------
    >>> import tempfile
    >>> finished_model(Path(tempfile.mkdtemp())) is None
    True
    """
    model_path, history_path = out_dir / MODEL_NAME, out_dir / HISTORY_NAME
    if (out_dir / CHECKPOINT_NAME).exists() or not history_path.is_file():
        return None
    try:
        history = json.loads(history_path.read_text())
        model = load_model(model_path)
    except (OSError, ValueError):  # missing, damaged or not a model: no finished run
        return None
    epochs = model.train_config.get("epochs")
    return model if history == model.history and len(history) == epochs else None


def resumable_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The settings a checkpoint must share with the run that resumes it (plain JSON).

    Examples
    --------
    >>> "device" in resumable_settings(TrainConfig()), resumable_settings(TrainConfig())["epochs"]
    (False, 50)
    """
    d = asdict(cfg)
    for name in _RUNTIME_FIELDS:
        d.pop(name)
    return json.loads(json.dumps(d))
