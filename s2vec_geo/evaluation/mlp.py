"""The downstream model: a two-layer MLP regression head, trained like the paper.

Inputs are one or more embedding blocks, each standardised with the training
rows' mean and standard deviation, fused (see :mod:`.fusion`) and fed to
``Linear -> ReLU -> Dropout -> Linear``. Training minimises the mean squared
error with AdamW, full batch when the training set fits in ``batch_size``
rows, and stops early when the validation loss has not improved for
``patience`` epochs, restoring the best weights. :func:`sweep` picks the
learning rate / hidden units / dropout with the lowest validation loss.
Everything is seeded: same data, configuration and seed give the same model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from s2vec_geo.evaluation.fusion import make_fusion
from s2vec_geo.images.normalization import STD_FLOOR


@dataclass(frozen=True)
class MLPConfig:
    """Hyperparameters of the MLP head swept on validation."""

    lr: float = 1e-3
    hidden: int = 128
    dropout: float = 0.1
    weight_decay: float = 1e-2


#: Default sweep: learning rate x hidden units x dropout (8 configurations).
DEFAULT_GRID: tuple[MLPConfig, ...] = tuple(
    MLPConfig(lr=lr, hidden=hidden, dropout=dropout)
    for lr in (1e-3, 1e-2)
    for hidden in (64, 256)
    for dropout in (0.0, 0.3)
)


@dataclass(frozen=True)
class TrainSettings:
    """Training loop limits (not swept)."""

    max_epochs: int = 1000
    patience: int = 30
    batch_size: int = 2048


#: Default training limits.
DEFAULT_SETTINGS = TrainSettings()


class Regressor(nn.Module):
    """Standardise each block, fuse the blocks, then a two-layer MLP to one output."""

    def __init__(self, blocks: Sequence[np.ndarray], fusion: str, config: MLPConfig) -> None:
        super().__init__()
        self.means = nn.ParameterList()
        self.scales = nn.ParameterList()
        for b in blocks:
            mean = b.mean(axis=0, dtype=np.float64)
            std = b.std(axis=0, dtype=np.float64)
            std[std < STD_FLOOR] = 1.0  # constant in training: centre only, never blow up
            self.means.append(nn.Parameter(_tensor(mean), requires_grad=False))
            self.scales.append(nn.Parameter(_tensor(std), requires_grad=False))
        self.fusion, width = make_fusion(fusion, [b.shape[1] for b in blocks], config.hidden)
        self.head = nn.Sequential(
            nn.Linear(width, config.hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, 1),
        )

    def forward(self, blocks: Sequence[torch.Tensor]) -> torch.Tensor:
        normed = [(b - m) / s for b, m, s in zip(blocks, self.means, self.scales, strict=True)]
        return self.head(self.fusion(normed)).squeeze(1)


@dataclass
class Fitted:
    """A trained regressor with its best validation MSE and epochs run."""

    model: Regressor
    val_mse: float
    epochs: int

    def predict(self, blocks: Sequence[np.ndarray]) -> np.ndarray:
        """Predict the (scaled) target for rows given as embedding blocks."""
        self.model.eval()
        with torch.no_grad():
            return self.model([_tensor(b) for b in blocks]).numpy().astype(np.float64)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads, restoring the previous count.

    Examples
    --------
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def fit(
    train: Sequence[np.ndarray],
    y_train: np.ndarray,
    val: Sequence[np.ndarray],
    y_val: np.ndarray,
    fusion: str = "concat",
    config: MLPConfig = DEFAULT_GRID[0],
    seed: int = 0,
    settings: TrainSettings = DEFAULT_SETTINGS,
    threads: int = 1,
) -> Fitted:
    """Train the MLP head with early stopping on the validation loss.

    Parameters
    ----------
    train, val
        Embedding blocks (one ``(n, d_i)`` array per block) of the training and
        validation rows.
    y_train, y_val
        Targets (already min-max scaled).
    fusion
        How blocks are combined: ``concat``, ``wt-add`` or ``proj-add``.
    config
        Hyperparameters.
    seed
        Seed of initialisation, dropout and batch order; the caller's global
        torch random state is left untouched.
    settings
        Epoch cap, patience and batch size.
    threads
        torch CPU threads while training (one is fastest for these small
        models, and several threads crawl on a busy machine).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3)); y = (x[:, 0] > 0).astype(float)
    >>> f = fit([x[:150]], y[:150], [x[150:]], y[150:], seed=0)
    >>> f.val_mse < 0.1
    True
    """
    with torch.random.fork_rng(devices=[]), torch_threads(threads):
        torch.manual_seed(seed)
        model = Regressor(train, fusion, config)
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        xt, xv = [_tensor(b) for b in train], [_tensor(b) for b in val]
        yt, yv = _tensor(y_train), _tensor(y_val)
        n = yt.shape[0]
        best, best_state, best_epoch, epoch = np.inf, None, 0, 0
        for epoch in range(1, settings.max_epochs + 1):
            model.train()
            order = torch.randperm(n) if n > settings.batch_size else torch.arange(n)
            for start in range(0, n, settings.batch_size):
                idx = order[start : start + settings.batch_size]
                opt.zero_grad()
                loss = nn.functional.mse_loss(model([b[idx] for b in xt]), yt[idx])
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                val_loss = nn.functional.mse_loss(model(xv), yv).item()
            if val_loss < best:
                best, best_epoch = val_loss, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            elif epoch - best_epoch >= settings.patience:
                break
        model.load_state_dict(best_state)
    return Fitted(model, float(best), epoch)


def sweep(
    train: Sequence[np.ndarray],
    y_train: np.ndarray,
    val: Sequence[np.ndarray],
    y_val: np.ndarray,
    fusion: str = "concat",
    grid: Sequence[MLPConfig] = DEFAULT_GRID,
    seed: int = 0,
    settings: TrainSettings = DEFAULT_SETTINGS,
    threads: int = 1,
) -> tuple[MLPConfig, list[float]]:
    """Pick the configuration with the lowest validation MSE.

    Returns
    -------
    tuple
        The best configuration (first one on ties) and every configuration's
        validation MSE, in grid order.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(100, 2)); y = x[:, 0] ** 2 / 10
    >>> best, losses = sweep([x[:70]], y[:70], [x[70:]], y[70:], grid=DEFAULT_GRID[:2])
    >>> len(losses)
    2
    """
    if not grid:
        raise ValueError("the hyperparameter grid is empty; pass at least one MLPConfig")
    losses = [
        fit(train, y_train, val, y_val, fusion, cfg, seed, settings, threads).val_mse
        for cfg in grid
    ]
    return grid[int(np.argmin(losses))], losses
