"""Training the S2Vec masked autoencoder: seeded, resumable, single- or multi-process.

:func:`train` runs AdamW with a per-step cosine learning-rate schedule (paper
Table 1), holds out validation images, checkpoints every epoch and resumes
from the last checkpoint to exactly the result of an uninterrupted run on CPU.

Reproducibility without saving random states: every source of randomness is
re-seeded from ``(seed, epoch, ...)`` -- the shuffling at each epoch, the
dropout at each epoch and the masking noise at each step. A checkpoint taken
at the end of an epoch therefore holds all that is needed to continue
(weights, optimizer, scheduler, history).

Multi-process data-parallel training: launched by ``torchrun`` (``WORLD_SIZE``
> 1), :func:`train` joins the process group (NCCL on CUDA, gloo on CPU), wraps
the network in ``DistributedDataParallel`` and gives each process a slice of
every global batch (``batch_size`` is the global batch). Masking noise is drawn
for the global batch and sliced, and the loss is normalized by the global
count of masked tokens, so that N processes compute the same updates as one
process (up to floating-point summation order; dropout draws differ).
Only rank 0 writes files. On one node with 8 GPUs::

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
import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler

from s2vec_geo.io import atomic_path
from s2vec_geo.model import MODEL_NAME, MAEConfig, MaskedAutoencoder, S2VecModel
from s2vec_geo.progress import progress

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"
LOSS_CURVE_NAME = "loss_curve.png"

# Settings that may change between an interrupted run and its resumption.
_RUNTIME_FIELDS = ("device", "num_workers", "checkpoint_every")
# Independent random streams derived from the seed.
_STREAM_SPLIT, _STREAM_MASK, _STREAM_DROPOUT, _STREAM_VAL, _STREAM_INIT = range(5)


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (defaults: S2Vec paper, Table 1).

    Parameters
    ----------
    epochs
        Passes over the training images (paper: 50).
    batch_size
        Images per optimizer step, over all processes (paper: 64).
    lr
        Peak learning rate (paper: 5e-4).
    min_lr_ratio
        Final learning rate of the cosine decay, relative to ``lr`` (paper: 0.1).
    warmup_epochs
        Epochs of linear warm-up before the cosine decay (paper: none).
    weight_decay
        AdamW weight decay (paper: 1e-3).
    clip_grad
        Gradient-norm clipping (paper: 1.0); 0 turns it off.
    mask_ratio
        Share of each image's valid patch cells hidden from the encoder
        (not stated in the paper; MAE's 0.75).
    val_fraction
        Share of images held out for validation; at least one image when
        there are two or more, none when 0.
    seed
        Seed of every random choice (initialization, split, order, masks, dropout).
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    num_workers
        DataLoader worker processes.
    checkpoint_every
        Write ``checkpoint.pt`` every this many epochs (and after the last).
    model
        Overrides of :class:`~s2vec_geo.model.MAEConfig` fields, e.g. ``{"depth": 2}``;
        ``num_features`` and ``grid`` always come from the images.

    Examples
    --------
    >>> TrainConfig(epochs=5, model={"depth": 2}).lr
    0.0005
    """

    epochs: int = 50
    batch_size: int = 64
    lr: float = 5e-4
    min_lr_ratio: float = 0.1
    warmup_epochs: int = 0
    weight_decay: float = 1e-3
    clip_grad: float = 1.0
    mask_ratio: float = 0.75
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    checkpoint_every: int = 1
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("TrainConfig needs lr > 0 and min_lr_ratio in [0, 1]")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(
                f"TrainConfig.warmup_epochs={self.warmup_epochs} must be in [0, epochs)"
            )
        if not 0 <= self.mask_ratio < 1:
            raise ValueError(f"TrainConfig.mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"TrainConfig.val_fraction must be in [0, 1), got {self.val_fraction}")
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
    """Seeded split of ``n`` image indices into (train, validation), both sorted.

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
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use 'cpu'")
    return device


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
    """Turn on torch's deterministic algorithms for the block, then restore."""
    before = torch.are_deterministic_algorithms_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


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


def _open_images(images: Any) -> Dataset:
    if isinstance(images, (str, os.PathLike)):
        from s2vec_geo.images import ImageDataset

        return ImageDataset.open(images)
    for attr in ("stats", "feature_names", "patch_level", "image_level", "grid"):
        if not hasattr(images, attr):
            raise ValueError(
                f"images lacks the {attr!r} attribute; pass an ImageDataset (build_images) "
                "or the folder it was written to"
            )
    return images


def _loss_sums(
    module: MaskedAutoencoder,
    dataset: Dataset,
    indices: np.ndarray,
    mask_ratio: float,
    seed: int,
    batch_size: int,
    device: torch.device,
    mean: torch.Tensor | None,
) -> tuple[float, float, float]:
    """(model SSE, mean-predictor SSE, masked count) on fixed, seeded masks."""
    loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=batch_size, shuffle=False)
    sse = base = count = 0.0
    was_training = module.training
    module.eval()
    with torch.no_grad(), _autocast(device):
        for step, (x, valid) in enumerate(loader):
            x, valid = x.to(device), valid.to(device)
            g = torch.Generator().manual_seed(derive_seed(seed, _STREAM_VAL, step))
            out = module(x, valid, mask_ratio=mask_ratio, generator=g)
            sse += float(out.sse)
            count += float(out.count)
            if mean is not None:
                err = ((mean.to(device) - x.float()) ** 2).mean(dim=-1)
                base += float((err * out.masked).sum())
    module.train(was_training)
    return sse, base, count


def evaluate(
    model: S2VecModel | MaskedAutoencoder,
    images: Any,
    indices: np.ndarray | None = None,
    mask_ratio: float = 0.75,
    seed: int = 0,
    batch_size: int = 64,
    baseline_mean: np.ndarray | None = None,
) -> dict[str, float]:
    """Masked-reconstruction loss on images, beside the per-feature-mean predictor.

    The same seeded masks score both the model and the baseline, which
    predicts every masked token as ``baseline_mean`` (default: the mean over
    the valid tokens of ``images`` itself, in normalized units).

    Parameters
    ----------
    model
        Trained model (or bare network).
    images
        ``ImageDataset`` (or its folder).
    indices
        Images to score (default: all).
    mask_ratio, seed, batch_size
        Masking share, mask seed and batch size.
    baseline_mean
        Per-feature prediction of the baseline (normalized units).

    Returns
    -------
    dict
        ``loss`` (model MSE), ``baseline`` (mean-predictor MSE), ``count``
        (masked tokens scored).

    Examples
    --------
    >>> evaluate(load_model("run/model.pt"), "images/")  # doctest: +SKIP
    {'loss': 0.41, 'baseline': 0.97, 'count': 5120.0}
    """
    module = model.module if isinstance(model, S2VecModel) else model
    dataset = _open_images(images)
    idx = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    if baseline_mean is None:
        baseline_mean = valid_mean(dataset, idx)
    device = next(module.parameters()).device
    mean = torch.as_tensor(np.asarray(baseline_mean, dtype=np.float32))
    sse, base, count = _loss_sums(module, dataset, idx, mask_ratio, seed, batch_size, device, mean)
    return {"loss": sse / max(count, 1), "baseline": base / max(count, 1), "count": count}


def valid_mean(dataset: Dataset, indices: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Per-feature mean over the valid tokens of some images (normalized units)."""
    loader = DataLoader(Subset(dataset, np.asarray(indices).tolist()), batch_size=batch_size)
    total: torch.Tensor | None = None
    n = 0
    for x, valid in loader:
        s = (x.double() * valid[..., None]).sum(dim=(0, 1))
        total = s if total is None else total + s
        n += int(valid.sum())
    if total is None or n == 0:
        raise ValueError("no valid patch cells in these images; build images from real cells")
    return (total / n).numpy()


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(history, indent=1))


def train(
    images: Any,
    config: TrainConfig | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
) -> S2VecModel:
    """Train the S2Vec masked autoencoder on images.

    Parameters
    ----------
    images
        ``ImageDataset`` (from :func:`s2vec_geo.images.build_images`) or the
        folder an image set was written to.
    config
        Training settings; defaults to paper Table 1 (:class:`TrainConfig`).
    out
        Run folder (created when missing). Receives ``checkpoint.pt`` every
        ``checkpoint_every`` epochs, ``history.json`` every epoch, and at the
        end ``model.pt`` and ``loss_curve.png``. ``None`` trains in memory.
    resume
        Continue from ``out/checkpoint.pt``. Without it, an existing
        checkpoint raises ``ValueError`` rather than being overwritten. The
        checkpoint's settings must equal ``config`` (apart from ``device``,
        ``num_workers`` and ``checkpoint_every``); on CPU the resumed result
        equals an uninterrupted run bit for bit.

    Returns
    -------
    S2VecModel
        Trained model on the CPU in eval mode; ``model.history`` lists per-epoch
        ``train_loss``, ``val_loss``, ``val_baseline`` (masked MSE of predicting
        the training per-feature mean) and ``lr``.

    Notes
    -----
    CUDA runs in bfloat16 autocast with TF32 matmuls and are not bit-exact;
    CPU runs use deterministic algorithms. Under ``torchrun`` the run is
    data-parallel (see the module docstring for command lines).

    Examples
    --------
    >>> model = train("images/", TrainConfig(epochs=5), out="run")  # doctest: +SKIP
    >>> model.history[-1]["val_loss"] < model.history[-1]["val_baseline"]  # doctest: +SKIP
    True
    """
    cfg = config or TrainConfig()
    dataset = _open_images(images)
    out_dir = Path(out) if out is not None else None
    device = resolve_device(cfg.device)
    ddp, device = _setup_distributed(device)
    if cfg.batch_size % ddp.world:
        raise ValueError(
            f"batch_size {cfg.batch_size} is not divisible by the {ddp.world} processes; "
            "choose a multiple of the process count"
        )
    try:
        with _deterministic(device.type == "cpu"):
            return _train(dataset, cfg, out_dir, resume, device, ddp)
    finally:
        if ddp.owns_group:
            dist.destroy_process_group()


def _train(
    dataset: Dataset,
    cfg: TrainConfig,
    out_dir: Path | None,
    resume: bool,
    device: torch.device,
    ddp: _Dist,
) -> S2VecModel:
    checkpoint_path = out_dir / CHECKPOINT_NAME if out_dir is not None else None
    if checkpoint_path is not None and checkpoint_path.exists() and not resume:
        raise ValueError(
            f"{str(checkpoint_path)!r} exists from an earlier run; resume it with "
            "resume=True (CLI: --resume) or choose another output folder"
        )
    if out_dir is not None and ddp.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    mae_cfg = cfg.mae_config(len(dataset.feature_names), int(dataset.grid))
    torch.manual_seed(derive_seed(cfg.seed, _STREAM_INIT))
    module = MaskedAutoencoder(mae_cfg).to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    train_idx, val_idx = split_indices(len(dataset), cfg.val_fraction, cfg.seed)
    per_rank = cfg.batch_size // ddp.world
    sampler = DistributedSampler(
        Subset(dataset, train_idx.tolist()),
        num_replicas=ddp.world,
        rank=ddp.rank,
        shuffle=True,
        seed=derive_seed(cfg.seed, _STREAM_SPLIT) % 2**31,
    )
    loader = DataLoader(
        Subset(dataset, train_idx.tolist()),
        batch_size=per_rank,
        sampler=sampler,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
    )
    steps_per_epoch = len(loader)
    total_steps = cfg.epochs * steps_per_epoch
    warmup = cfg.warmup_epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, warmup, cfg.min_lr_ratio)
    )

    start_epoch, history = 0, []
    baseline_mean: np.ndarray | None = None
    if checkpoint_path is not None and resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if state["train_config"] != _plain_config(cfg):
            raise ValueError(
                f"{str(checkpoint_path)!r} was written with different settings "
                f"({state['train_config']}); resume with the same settings or use a new folder"
            )
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, history = int(state["epoch"]), list(state["history"])
        if state.get("baseline_mean") is not None:
            baseline_mean = np.asarray(state["baseline_mean"], dtype=np.float64)
        logger.info("resuming from %s after epoch %d", checkpoint_path, start_epoch)
    if baseline_mean is None and len(val_idx) and ddp.main:
        baseline_mean = valid_mean(dataset, train_idx)

    net: torch.nn.Module = module
    if ddp.world > 1:
        net = DistributedDataParallel(
            module, device_ids=[device] if device.type == "cuda" else None
        )

    n_tokens = mae_cfg.num_tokens
    bar = progress(
        total=(cfg.epochs - start_epoch) * steps_per_epoch, desc="train", disable=not ddp.main
    )
    module.train()
    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        torch.manual_seed(derive_seed(cfg.seed, _STREAM_DROPOUT, epoch, ddp.rank))
        sse_sum = count_sum = 0.0
        for step, (x, valid) in enumerate(loader):
            x = x.to(device, non_blocking=True)
            valid = valid.to(device, non_blocking=True)
            g = torch.Generator().manual_seed(derive_seed(cfg.seed, _STREAM_MASK, epoch, step))
            noise = torch.rand(cfg.batch_size, n_tokens, generator=g)[ddp.rank :: ddp.world]
            with _autocast(device):
                result = net(x, valid, mask_ratio=cfg.mask_ratio, noise=noise[: len(x)].to(device))
            global_count = ddp.sum([float(result.count)], device)[0]
            loss = result.sse * (ddp.world / max(global_count, 1.0))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.clip_grad)
            optimizer.step()
            scheduler.step()
            sse_sum += float(result.sse.detach())
            count_sum += float(result.count)
            bar.update(1)
            bar.set_postfix_str(f"epoch {epoch + 1} loss {float(result.loss.detach()):.4f}")
        sse_sum, count_sum = ddp.sum([sse_sum, count_sum], device)
        record = {
            "epoch": epoch + 1,
            "train_loss": sse_sum / max(count_sum, 1.0),
            "lr": optimizer.param_groups[0]["lr"],
        }
        if len(val_idx) and ddp.main:
            mean = torch.as_tensor(baseline_mean, dtype=torch.float32)
            v_sse, v_base, v_count = _loss_sums(
                module, dataset, val_idx, cfg.mask_ratio, cfg.seed, per_rank, device, mean
            )
            record["val_loss"] = v_sse / max(v_count, 1.0)
            record["val_baseline"] = v_base / max(v_count, 1.0)
        history.append(record)
        if ddp.main:
            logger.info(
                "epoch %d/%d: %s",
                epoch + 1,
                cfg.epochs,
                ", ".join(f"{k} {v:.5g}" for k, v in record.items() if k != "epoch"),
            )
        last = epoch + 1 == cfg.epochs
        if out_dir is not None and ddp.main:
            _write_history(out_dir / HISTORY_NAME, history)
            if last or (epoch + 1) % cfg.checkpoint_every == 0:
                _save_checkpoint(
                    out_dir / CHECKPOINT_NAME,
                    {
                        "epoch": epoch + 1,
                        "model": module.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "history": history,
                        "train_config": _plain_config(cfg),
                        "baseline_mean": None
                        if baseline_mean is None
                        else [float(v) for v in baseline_mean],
                    },
                )
    bar.close()

    result_model = S2VecModel(
        module.cpu().eval(),
        stats=dataset.stats,
        feature_names=list(dataset.feature_names),
        patch_level=int(dataset.patch_level),
        image_level=int(dataset.image_level),
        taxonomy_version=getattr(dataset, "taxonomy_version", None),
        train_config=asdict(cfg),
        history=history,
    )
    if out_dir is not None and ddp.main:
        result_model.save(out_dir / MODEL_NAME)
        from s2vec_geo.plots import plot_loss_curve

        plot_loss_curve(history, out_dir / LOSS_CURVE_NAME)
    return result_model


def _plain_config(cfg: TrainConfig) -> dict[str, Any]:
    """The settings a checkpoint must share with the run that resumes it (plain JSON)."""
    d = asdict(cfg)
    for name in _RUNTIME_FIELDS:
        d.pop(name)
    return json.loads(json.dumps(d))
