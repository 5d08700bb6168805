"""Held-out masked reconstruction: the model beside two baselines it has to beat.

A masked autoencoder's loss means little on its own: on sparse counts, most of
it is noise no model can predict. Each held-out batch is masked once, with
seeded noise, and the same masked cells are predicted three ways:

- by the model (its decoder output);
- by the **per-feature mean** of the training cells (what the loss of an
  untrained model tends to);
- by the **mean of the cell's visible neighbours** (the up to eight cells
  around it in the window that are present and not masked; the per-feature
  mean where it has none): spatial interpolation, which a model that learned
  only "places look like their neighbours" would match.

A model that does not beat both has learned nothing its embeddings could add
to the raw counts; :func:`s2vec_geo.train` says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch.nn.functional import conv2d

from s2vec_geo.images.collection import ImageCollection
from s2vec_geo.images.sampler import WindowSampler
from s2vec_geo.model.file import S2VecModel
from s2vec_geo.model.mae import MaskedAutoencoder, autocast

ERROR_KEYS = ("model", "mean", "neighbors")
"""The predictors scored by :func:`error_sums`, in report order."""


def neighbor_prediction(
    x: torch.Tensor, visible: torch.Tensor, grid: int, fallback: torch.Tensor
) -> torch.Tensor:
    """Predict every token as the mean of its visible 8-neighbours in the window.

    Parameters
    ----------
    x
        Normalized windows ``(B, g*g, F)``.
    visible
        Bool ``(B, g*g)``: tokens whose values may be used.
    grid
        Window side ``g``.
    fallback
        ``(F,)`` prediction for tokens with no visible neighbour.

    Examples
    --------
    >>> x = torch.arange(4.0).reshape(1, 4, 1)
    >>> vis = torch.tensor([[True, True, True, False]])
    >>> neighbor_prediction(x, vis, 2, torch.zeros(1)).flatten().tolist()
    [1.5, 1.0, 0.5, 1.0]
    """
    b, n, f = x.shape
    v = visible.to(x.dtype).reshape(b, 1, grid, grid)
    values = (x * visible[..., None]).permute(0, 2, 1).reshape(b, f, grid, grid)
    kernel = torch.ones(1, 1, 3, 3, dtype=x.dtype, device=x.device)
    kernel[0, 0, 1, 1] = 0.0
    counts = conv2d(v, kernel, padding=1).reshape(b, n, 1)
    sums = conv2d(values.reshape(b * f, 1, grid, grid), kernel, padding=1)
    sums = sums.reshape(b, f, n).permute(0, 2, 1)
    mean = fallback.to(x.dtype).expand(b, n, f)
    return torch.where(counts > 0, sums / counts.clamp(min=1), mean)


def error_sums(
    module: MaskedAutoencoder,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    mask_ratio: float,
    generator: torch.Generator,
    mean: torch.Tensor,
) -> dict[str, float]:
    """Summed squared errors on masked tokens of the model and both baselines.

    Returns ``{"model": ..., "mean": ..., "neighbors": ..., "count": ...}``:
    sums over masked valid tokens of the per-token mean squared error, and
    the number of such tokens. The module is run in eval mode (no dropout)
    and restored afterwards.
    """
    sums = dict.fromkeys((*ERROR_KEYS, "count"), 0.0)
    grid = module.config.grid
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for x, valid in batches:
                noise = torch.rand(x.shape[:2], generator=generator, device=generator.device)
                with autocast(x.device):
                    out = module(x, valid, mask_ratio=mask_ratio, noise=noise.to(x.device))
                visible = valid & ~out.masked
                preds = {
                    "model": out.pred.float(),
                    "mean": mean.to(x.device).expand_as(x),
                    "neighbors": neighbor_prediction(x, visible, grid, mean.to(x.device)),
                }
                for key, pred in preds.items():
                    err = ((pred - x.float()) ** 2).mean(dim=-1)
                    sums[key] += float((err * out.masked).sum())
                sums["count"] += float(out.count)
    finally:
        module.train(was_training)
    return sums


def heldout_error(
    model: S2VecModel,
    images: Any,
    tiles: np.ndarray | None = None,
    *,
    mask_ratio: float = 0.75,
    seed: int = 0,
    batch_size: int = 64,
    mean: np.ndarray | None = None,
) -> dict[str, float]:
    """Masked-reconstruction error of a trained model on image tiles, beside both baselines.

    Each tile is scored whole (aligned), masked with seeded noise, and
    normalized with the *model's* statistics.

    Parameters
    ----------
    model
        Trained model.
    images
        ``ImageDataset``, its folder, a list of them or an ``ImageCollection``.
    tiles
        Global tile indices to score (default: all).
    mask_ratio, seed, batch_size
        Masking share, mask seed and windows per forward pass.
    mean
        Per-feature prediction of the mean baseline, normalized units
        (default: the mean over the scored tiles' cells).

    Returns
    -------
    dict
        ``loss`` (model), ``mean_baseline``, ``neighbor_baseline`` (mean
        squared errors per masked cell) and ``count`` (masked cells scored).

    Examples
    --------
    >>> heldout_error(load_model("run/"), "images/")  # doctest: +SKIP
    {'loss': 0.41, 'mean_baseline': 0.97, 'neighbor_baseline': 0.66, 'count': 5120.0}
    """
    collection = (
        images
        if isinstance(images, ImageCollection)
        else ImageCollection(
            list(images) if isinstance(images, (list, tuple)) else images, stats=model.stats
        )
    )
    index = np.arange(len(collection)) if tiles is None else np.asarray(tiles, dtype=np.int64)
    device = next(model.module.parameters()).device
    sampler = WindowSampler(collection, index, index, windows="aligned", device=device)
    if mean is None:
        x, valid = collection.tiles(index)
        mean = x[valid].mean(axis=0, dtype=np.float64)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    sums = error_sums(
        model.module,
        sampler.val_batches(batch_size),
        mask_ratio,
        generator,
        torch.as_tensor(np.asarray(mean), dtype=torch.float32),
    )
    count = max(sums["count"], 1.0)
    return {
        "loss": sums["model"] / count,
        "mean_baseline": sums["mean"] / count,
        "neighbor_baseline": sums["neighbors"] / count,
        "count": sums["count"],
    }


def training_gain(record: dict[str, float]) -> str | None:
    """One line: the held-out masked error as a gain over both baselines, in percent.

    ``record`` is a history record with ``val_loss``, ``val_mean_baseline``
    and ``val_neighbor_baseline`` (the last epoch's, as :func:`s2vec_geo.train`
    keeps them); ``None`` when it has none (no held-out tiles).

    Examples
    --------
    >>> line = training_gain({"val_loss": 0.08, "val_mean_baseline": 0.1,
    ...                       "val_neighbor_baseline": 0.16})
    >>> for part in line.split(", "):
    ...     print(part)
    held-out masked error 0.08: 20.0 % below the per-feature mean (0.1)
    50.0 % below the neighbour mean (0.16)
    """
    if "val_loss" not in record:
        return None
    loss = record["val_loss"]
    parts = []
    for key, name in (("val_mean_baseline", "per-feature"), ("val_neighbor_baseline", "neighbour")):
        base = record[key]
        gain = 100.0 * (1.0 - loss / base) if base > 0 else 0.0
        side = "below" if gain >= 0 else "above"
        parts.append(f"{abs(gain):.1f} % {side} the {name} mean ({base:.4g})")
    return f"held-out masked error {loss:.4g}: " + ", ".join(parts)
