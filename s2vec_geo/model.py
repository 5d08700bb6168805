"""The S2Vec masked autoencoder and the model file that packages it.

:class:`MaskedAutoencoder` follows He et al. (2022) as the S2Vec paper does
(section 3.2): one token per patch cell, a linear patch projection plus
learned position embeddings, a Transformer encoder on the visible tokens
only, a light decoder that sees the encoded tokens and learned mask tokens,
and a mean squared error on the masked tokens. Unlike photographs, S2Vec
images have holes (patch cells outside the area of interest): such invalid
tokens are never visible to the encoder, never masked targets, and are
excluded from attention with a key-padding mask.

:class:`S2VecModel` bundles the trained network with what is needed to use
it on new data: the normalization statistics, the feature names and
taxonomy version, the S2 levels and the configurations. :func:`load_model`
reads it back.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.functional import scaled_dot_product_attention

from s2vec_geo.io import atomic_path

MODEL_NAME = "model.pt"
"""File name of the model inside a training run folder."""
MODEL_FORMAT = "s2vec-model"
MODEL_FORMAT_VERSION = 1


@dataclass(frozen=True)
class MAEConfig:
    """Architecture of the masked autoencoder (defaults: S2Vec paper, Table 1).

    Parameters
    ----------
    num_features
        Features per patch cell (the paper: 116).
    grid
        Image side in patch cells, ``2 ** (patch_level - image_level)``.
    embed_dim
        Encoder width, which is also the embedding size (paper: 256).
    depth
        Encoder Transformer blocks (paper: 6).
    num_heads
        Attention heads in encoder and decoder (paper: 8).
    decoder_dim
        Decoder width (paper: 128).
    decoder_depth
        Decoder Transformer blocks (paper: 2).
    mlp_ratio
        Hidden size of each block's MLP relative to its width.
    dropout
        Dropout on the attention and MLP outputs of every block (paper: 0.2).

    Examples
    --------
    >>> MAEConfig(num_features=116, grid=16).embed_dim
    256
    """

    num_features: int
    grid: int
    embed_dim: int = 256
    depth: int = 6
    num_heads: int = 8
    decoder_dim: int = 128
    decoder_depth: int = 2
    mlp_ratio: float = 4.0
    dropout: float = 0.2

    def __post_init__(self) -> None:
        for name in ("num_features", "grid", "embed_dim", "depth", "num_heads", "decoder_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"MAEConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        for dim_name in ("embed_dim", "decoder_dim"):
            if getattr(self, dim_name) % self.num_heads:
                raise ValueError(
                    f"MAEConfig.{dim_name}={getattr(self, dim_name)} is not divisible by "
                    f"num_heads={self.num_heads}; choose a multiple of num_heads"
                )
        if self.decoder_depth < 0:
            raise ValueError(f"MAEConfig.decoder_depth must be >= 0, got {self.decoder_depth}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"MAEConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def num_tokens(self) -> int:
        """Tokens per image, ``grid * grid``."""
        return self.grid * self.grid

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MAEConfig:
        """Build a config from :func:`dataclasses.asdict` output, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def autocast(device: torch.device) -> torch.autocast:
    """bfloat16 autocast on CUDA (the network's mixed precision); disabled elsewhere.

    Examples
    --------
    >>> autocast(torch.device("cpu"))._enabled
    False
    """
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


class Block(nn.Module):
    """Pre-norm Transformer block: self-attention then a GELU MLP, both residual."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        """Apply the block; ``key_valid`` (B, L) is False for padding tokens."""
        b, n, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = scaled_dot_product_attention(q, k, v, attn_mask=key_valid[:, None, None, :])
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.mlp(self.norm2(x)))


@dataclass
class MAEOutput:
    """Result of one masked-autoencoder pass.

    Attributes
    ----------
    loss
        Mean squared error over masked valid tokens (mean over features).
    sse
        Sum over masked valid tokens of the per-token mean squared error.
    count
        Number of masked valid tokens (``loss = sse / count``).
    pred
        Reconstruction of every token, (B, L, F).
    masked
        Bool (B, L), True for the masked valid tokens the loss is taken on.
    """

    loss: torch.Tensor
    sse: torch.Tensor
    count: torch.Tensor
    pred: torch.Tensor
    masked: torch.Tensor


class MaskedAutoencoder(nn.Module):
    """Masked autoencoder over S2 images, one token per patch cell.

    Parameters
    ----------
    config
        Architecture; see :class:`MAEConfig`.

    Examples
    --------
    >>> cfg = MAEConfig(num_features=5, grid=4, embed_dim=16, depth=1, num_heads=2,
    ...                 decoder_dim=8, decoder_depth=1)
    >>> mae = MaskedAutoencoder(cfg)
    >>> x, valid = torch.randn(2, 16, 5), torch.ones(2, 16, dtype=torch.bool)
    >>> out = mae(x, valid, mask_ratio=0.75, generator=torch.Generator().manual_seed(0))
    >>> tuple(out.pred.shape), int(out.masked.sum())
    ((2, 16, 5), 24)
    """

    def __init__(self, config: MAEConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.patch_embed = nn.Linear(c.num_features, c.embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, c.num_tokens, c.embed_dim))
        self.blocks = nn.ModuleList(
            Block(c.embed_dim, c.num_heads, c.mlp_ratio, c.dropout) for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.embed_dim)
        self.decoder_embed = nn.Linear(c.embed_dim, c.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, c.num_tokens, c.decoder_dim))
        self.decoder_blocks = nn.ModuleList(
            Block(c.decoder_dim, c.num_heads, c.mlp_ratio, c.dropout)
            for _ in range(c.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(c.decoder_dim)
        self.decoder_pred = nn.Linear(c.decoder_dim, c.num_features)
        self._init_weights()

    def _init_weights(self) -> None:
        """MAE's initialization: small normal position/mask tokens, Xavier linears."""
        for p in (self.pos_embed, self.decoder_pos_embed, self.mask_token):
            nn.init.normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _check(self, x: torch.Tensor, valid: torch.Tensor) -> None:
        c = self.config
        if x.ndim != 3 or x.shape[1:] != (c.num_tokens, c.num_features):
            raise ValueError(
                f"expected images of shape (batch, {c.num_tokens}, {c.num_features}), got "
                f"{tuple(x.shape)}; build images with the model's grid and features"
            )
        if valid.shape != x.shape[:2] or valid.dtype != torch.bool:
            raise ValueError(
                f"valid must be a bool tensor of shape {tuple(x.shape[:2])}, got "
                f"{valid.dtype} {tuple(valid.shape)}"
            )
        if not bool(valid.any(dim=1).all()):
            raise ValueError("every image needs at least one valid token; drop empty images")

    def encode(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Encode whole images without masking: (B, L, F) -> (B, L, embed_dim).

        Invalid tokens take no part in attention; their outputs are meaningless.
        """
        self._check(x, valid)
        h = self.patch_embed(x) + self.pos_embed
        for blk in self.blocks:
            h = blk(h, valid)
        return self.norm(h)

    def forward(
        self,
        x: torch.Tensor,
        valid: torch.Tensor,
        mask_ratio: float = 0.75,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> MAEOutput:
        """Mask, encode, decode and score a batch of images.

        Parameters
        ----------
        x
            Normalized images, (B, L, F).
        valid
            Bool (B, L), True where a patch cell exists.
        mask_ratio
            Share of each image's valid tokens hidden from the encoder; at
            least one valid token per image stays visible.
        generator
            Random generator for the masking noise (reproducible masks).
        noise
            Explicit masking noise (B, L) in [0, 1), overriding ``generator``.

        Returns
        -------
        MAEOutput
        """
        self._check(x, valid)
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        b, n, _ = x.shape
        if noise is None:
            where = generator.device if generator is not None else x.device
            noise = torch.rand(b, n, generator=generator, device=where).to(x.device)
        # Valid tokens sort first in random order; invalid ones get +inf and sort last.
        noise = noise.masked_fill(~valid, math.inf)
        order = torch.argsort(noise, dim=1)
        n_valid = valid.sum(dim=1)
        n_keep = (n_valid.float() * (1.0 - mask_ratio)).round().long().clamp(min=1)
        n_keep = torch.minimum(n_keep, n_valid)
        k = int(n_keep.max())
        rank = torch.arange(n, device=x.device).expand(b, n)
        keep_idx = order[:, :k]
        keep_valid = rank[:, :k] < n_keep[:, None]

        h = self.patch_embed(x) + self.pos_embed
        h = torch.gather(h, 1, keep_idx[..., None].expand(-1, -1, h.shape[-1]))
        for blk in self.blocks:
            h = blk(h, keep_valid)
        h = self.norm(h)

        d = self.decoder_embed(h)
        mask_token = self.mask_token.to(d.dtype)
        # Padding slots (beyond an image's n_keep) go back as mask tokens.
        d = torch.where(keep_valid[..., None], d, mask_token)
        full = mask_token.expand(b, n, -1).scatter(1, keep_idx[..., None].expand_as(d), d)
        full = full + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            full = blk(full, valid)
        pred = self.decoder_pred(self.decoder_norm(full))

        visible = torch.zeros_like(valid).scatter(1, keep_idx, keep_valid)
        masked = valid & ~visible
        per_token = ((pred.float() - x.float()) ** 2).mean(dim=-1)
        sse = (per_token * masked).sum()
        count = masked.sum()
        loss = sse / count.clamp(min=1)
        return MAEOutput(loss=loss, sse=sse, count=count, pred=pred, masked=masked)


def _plain(value: Any) -> Any:
    """Convert numpy containers to lists so a model file loads with weights_only=True."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class S2VecModel:
    """A trained S2Vec model with everything needed to embed new cells.

    Attributes
    ----------
    module
        The :class:`MaskedAutoencoder` (in eval mode after loading).
    config
        Its :class:`MAEConfig`.
    stats
        ``NormStats`` used to normalize features before the network.
    feature_names
        Feature columns in network order.
    taxonomy_version
        Version of the feature taxonomy the model was trained on, if known.
    patch_level, image_level
        S2 levels of the tokens and of the images.
    train_config
        Training settings (plain dict), for the record.
    history
        Per-epoch losses from training.
    """

    def __init__(
        self,
        module: MaskedAutoencoder,
        stats: Any,
        feature_names: list[str],
        patch_level: int,
        image_level: int,
        taxonomy_version: str | None = None,
        train_config: dict[str, Any] | None = None,
        history: list[dict[str, float]] | None = None,
    ) -> None:
        self.module = module
        self.config = module.config
        self.stats = stats
        self.feature_names = list(feature_names)
        self.patch_level = int(patch_level)
        self.image_level = int(image_level)
        self.taxonomy_version = taxonomy_version
        self.train_config = dict(train_config or {})
        self.history = list(history or [])
        if len(self.feature_names) != self.config.num_features:
            raise ValueError(
                f"{len(self.feature_names)} feature names for a network with "
                f"{self.config.num_features} inputs; they must match"
            )
        if self.config.grid != 2 ** (self.patch_level - self.image_level):
            raise ValueError(
                f"grid {self.config.grid} does not match patch level {self.patch_level} "
                f"and image level {self.image_level}"
            )

    @property
    def embed_dim(self) -> int:
        """Size of the embeddings."""
        return self.config.embed_dim

    def __repr__(self) -> str:
        return (
            f"S2VecModel(features={len(self.feature_names)}, levels={self.patch_level}/"
            f"{self.image_level}, grid={self.config.grid}, embed_dim={self.embed_dim})"
        )

    def check_features(self, names: list[str]) -> None:
        """Raise ``ValueError`` unless ``names`` are the model's features, in order.

        Examples
        --------
        >>> cfg = MAEConfig(num_features=2, grid=2, embed_dim=8, depth=1, num_heads=2,
        ...                 decoder_dim=8, decoder_depth=1)
        >>> m = S2VecModel(MaskedAutoencoder(cfg), stats=None, feature_names=["a", "b"],
        ...                patch_level=13, image_level=12)
        >>> m.check_features(["a", "c"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ...missing ['b'] (1), extra ['c'] (1); featurize the data with the same ...
        """
        names = list(names)
        if names == self.feature_names:
            return
        missing = [n for n in self.feature_names if n not in set(names)]
        extra = [n for n in names if n not in set(self.feature_names)]
        if not missing and not extra:
            raise ValueError(
                "the data has the model's features in a different order; reorder the "
                "columns as model.feature_names"
            )
        raise ValueError(
            f"the data's features do not match the model's (taxonomy "
            f"{self.taxonomy_version!r}): missing {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''} ({len(missing)}), extra {extra[:10]}"
            f"{' ...' if len(extra) > 10 else ''} ({len(extra)}); featurize the data with "
            "the same taxonomy the model was trained on"
        )

    def to_dict(self) -> dict[str, Any]:
        """The model file's content: plain dicts, lists and tensors only."""
        from s2vec_geo import __version__

        stats = self.stats.to_dict() if hasattr(self.stats, "to_dict") else self.stats
        return {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "s2vec_geo_version": __version__,
            "state_dict": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "mae_config": asdict(self.config),
            "train_config": _plain(self.train_config),
            "stats": _plain(stats),
            "feature_names": list(self.feature_names),
            "taxonomy_version": self.taxonomy_version,
            "patch_level": self.patch_level,
            "image_level": self.image_level,
            "grid": self.config.grid,
            "history": _plain(self.history),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file atomically (``torch.save`` of :meth:`to_dict`).

        Returns
        -------
        Path
            The written path.
        """
        target = Path(path)
        with atomic_path(target) as tmp:
            torch.save(self.to_dict(), tmp)
        return target


def read_torch_file(path: Path, what: str) -> Any:
    """``torch.load`` with ``weights_only=True``: plain data and tensors, never code.

    A file that is not a torch file, is truncated, or holds other objects
    (which could run code when loaded) is a ``ValueError`` naming ``what``.

    Examples
    --------
    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "model.pt"
    >>> _ = bad.write_bytes(b"not a model")
    >>> read_torch_file(bad, "s2vec model file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...model.pt' is not a readable s2vec model file: it is damaged, truncated or ...
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if "unsupported global" in str(exc).lower():  # weights_only refused a class or function
            problem = (
                "it holds Python objects besides plain data and tensors, which s2vec never "
                "loads (they could run code); use a file written by s2vec"
            )
        else:
            problem = "it is damaged, truncated or not a torch file; write it again"
        raise ValueError(f"{str(path)!r} is not a readable {what}: {problem}") from exc


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> S2VecModel:
    """Read a model file written by :func:`s2vec_geo.train`.

    The file holds only plain data and tensors and is loaded with
    ``weights_only=True``, so a model file cannot run code.

    Parameters
    ----------
    path
        ``model.pt`` file, or the training run folder holding it.
    device
        Where to put the network.

    Returns
    -------
    S2VecModel
        In eval mode.

    Examples
    --------
    >>> model = load_model("model.pt")  # doctest: +SKIP
    >>> model.check_features(feature_columns(cells))  # doctest: +SKIP
    """
    from s2vec_geo.images import NormStats

    p = Path(path)
    if p.is_dir():
        p = p / MODEL_NAME
    if not p.is_file():
        raise FileNotFoundError(f"model file {str(p)!r} not found; train one with `s2vec train`")
    data = read_torch_file(p, "s2vec model file")
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise ValueError(f"{str(p)!r} is not an s2vec model file; train one with `s2vec train`")
    if data["format_version"] > MODEL_FORMAT_VERSION:
        raise ValueError(
            f"{str(p)!r} has model format {data['format_version']}, newer than this "
            f"s2vec-geo supports ({MODEL_FORMAT_VERSION}); upgrade s2vec-geo"
        )
    try:  # a file with missing keys or tensors of other shapes is damaged, not a bug
        module = MaskedAutoencoder(MAEConfig.from_dict(data["mae_config"]))
        module.load_state_dict(data["state_dict"])
        model = S2VecModel(
            module,
            stats=NormStats.from_dict(data["stats"]),
            feature_names=data["feature_names"],
            patch_level=data["patch_level"],
            image_level=data["image_level"],
            taxonomy_version=data.get("taxonomy_version"),
            train_config=data.get("train_config"),
            history=data.get("history"),
        )
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())
        if len(detail) > 160:
            detail = detail[:157] + "..."
        raise ValueError(
            f"{str(p)!r} is a damaged s2vec model file ({detail}); train the model again "
            "(`s2vec train`) or use another copy of the file"
        ) from exc
    module.to(device).eval()
    return model
