"""The S2Vec masked autoencoder: the network, in the data-flow order of MAE's ``models_mae.py``.

:class:`MaskedAutoencoder` follows He et al. (2022) as the S2Vec paper does
(section 3.2): one token per patch cell, a linear patch projection plus
learned position embeddings, a Transformer encoder on the visible tokens
only, a light decoder that sees the encoded tokens and learned mask tokens,
and a mean squared error on the masked tokens. Its ``forward`` is
:meth:`~MaskedAutoencoder.forward_encoder` (with
:meth:`~MaskedAutoencoder.random_masking`),
:meth:`~MaskedAutoencoder.forward_decoder` and
:meth:`~MaskedAutoencoder.forward_loss`; :meth:`~MaskedAutoencoder.encode`
encodes whole images for embedding. Unlike photographs, S2Vec images have
holes (patch cells outside the area of interest): such invalid tokens are
never visible to the encoder, never masked targets, and are excluded from
attention with a key-padding mask.

The model file that packages a trained network is :mod:`s2vec_geo.model.file`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.nn.functional import scaled_dot_product_attention

from s2vec_geo.core.options import ARCHITECTURE, Option, check_fields

_SHAPE = (Option("num_features", int, min=1), Option("grid", int, min=1))
_STEP_OVERHEAD = 128 * 2**20  # bytes a first training step takes besides tensors
"""The image's shape: set from the images, never by the user, so not in core.options."""


@dataclass(frozen=True)
class MAEConfig:
    """Architecture of the masked autoencoder (defaults measured on 27 cities: docs/experiments.md).

    The paper's Table 1 (256 wide, 6 blocks, 8 heads, decoder 128 x 2, dropout
    0.2) memorises a city's few thousand windows; the defaults are half as
    wide and half as deep, without dropout, and beat both held-out baselines
    on cities they never saw.

    Parameters
    ----------
    num_features
        Features per patch cell (the paper: 116).
    grid
        Image side in patch cells, ``2 ** (patch_level - image_level)``.
    embed_dim
        Encoder width, which is also the embedding size (default 128; paper: 256).
    depth
        Encoder Transformer blocks (default 3; paper: 6).
    num_heads
        Attention heads in encoder and decoder (default 4; paper: 8).
    decoder_dim
        Decoder width (default 64; paper: 128).
    decoder_depth
        Decoder Transformer blocks (paper: 2).
    mlp_ratio
        Hidden size of each block's MLP relative to its width.
    dropout
        Dropout on the attention and MLP outputs of every block (default 0; paper: 0.2).
    pos_embed
        Position embeddings: ``"sincos"`` (default), MAE's fixed 2D sine-cosine
        table of each token's (row, column) in the window, or ``"learned"``
        (the paper's wording; what models of earlier releases have). Learned
        ones start near zero, and on the few thousand windows of a city they
        never learn which tokens are neighbours: the attention then averages
        the whole window, and the model predicts little beyond the window's
        mean.

    Examples
    --------
    >>> MAEConfig(num_features=116, grid=16).embed_dim
    128
    """

    num_features: int
    grid: int
    embed_dim: int = 128
    depth: int = 3
    num_heads: int = 4
    decoder_dim: int = 64
    decoder_depth: int = 2
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    pos_embed: str = "sincos"

    def __post_init__(self) -> None:
        check_fields(self, ARCHITECTURE + _SHAPE, "MAEConfig")  # every range: declared
        for dim_name in ("embed_dim", "decoder_dim"):
            if getattr(self, dim_name) % self.num_heads:
                raise ValueError(
                    f"MAEConfig.{dim_name}={getattr(self, dim_name)} is not divisible by "
                    f"num_heads={self.num_heads}; choose a multiple of num_heads"
                )
        if self.pos_embed == "sincos" and (self.embed_dim % 4 or self.decoder_dim % 4):
            raise ValueError(
                f"sine-cosine position embeddings need embed_dim and decoder_dim divisible by "
                f"4, got {self.embed_dim} and {self.decoder_dim}; pick multiples of 4"
            )

    @property
    def num_tokens(self) -> int:
        """Tokens per image, ``grid * grid``."""
        return self.grid * self.grid

    @property
    def num_parameters(self) -> int:
        """Parameters of the network, from its shape alone (nothing is built).

        Examples
        --------
        >>> cfg = MAEConfig(num_features=116, grid=16)
        >>> cfg.num_parameters == sum(p.numel() for p in MaskedAutoencoder(cfg).parameters())
        True
        """
        n_in = self.num_features
        count = n_in * self.embed_dim + self.embed_dim  # patch projection
        count += self.depth * _block_parameters(self.embed_dim, self.mlp_ratio)
        count += 2 * self.embed_dim  # encoder norm
        count += (self.embed_dim + 2) * self.decoder_dim  # decoder projection, mask token
        count += self.decoder_depth * _block_parameters(self.decoder_dim, self.mlp_ratio)
        count += 2 * self.decoder_dim + self.decoder_dim * n_in + n_in  # norm, prediction
        if self.pos_embed == "learned":
            count += self.num_tokens * (self.embed_dim + self.decoder_dim)
        return count

    def training_bytes(self, batch_size: int, mask_ratio: float = 0.75) -> float:
        """About the peak memory of a training step at ``batch_size`` windows (float32).

        Weights, gradients and AdamW's two moments (16 bytes a parameter),
        plus the activations kept for the backward pass: per block and
        token, its inputs, attention and MLP (about 18 widths) and the
        attention weights (heads x tokens); the encoder sees the unmasked
        tokens, the decoder all of them; and 128 MiB the first step takes besides
        (allocator, thread pools). Within about 25 % of peaks measured on the CPU
        (batch 16 to 512, widths 128 to 1024), erring high.

        Examples
        --------
        >>> cfg = MAEConfig(num_features=116, grid=16)
        >>> f"{cfg.training_bytes(16) / 2**20:.0f} MiB"
        '246 MiB'
        """
        seen = math.ceil(self.num_tokens * (1.0 - mask_ratio))

        def blocks(depth: int, dim: int, tokens: int) -> float:
            hidden = int(dim * self.mlp_ratio)
            return depth * tokens * (6 * dim + 3 * hidden + self.num_heads * tokens)

        per_window = (
            blocks(self.depth, self.embed_dim, seen)
            + blocks(self.decoder_depth, self.decoder_dim, self.num_tokens)
            + self.num_tokens * (4 * self.num_features + 2 * self.decoder_dim + 8)
        )
        return 4.0 * (4 * self.num_parameters + batch_size * per_window) + _STEP_OVERHEAD

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MAEConfig:
        """Build a config from :func:`dataclasses.asdict` output, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        known.setdefault("pos_embed", "learned")  # files from before the choice had learned ones
        return cls(**known)


def _block_parameters(dim: int, mlp_ratio: float) -> int:
    """Parameters of one :class:`Block`: two norms, attention and the MLP."""
    hidden = int(dim * mlp_ratio)
    return 4 * dim + 4 * dim * dim + 4 * dim + 2 * dim * hidden + hidden + dim


def sincos_position_embedding(dim: int, grid: int) -> torch.Tensor:
    """MAE's fixed 2D sine-cosine position embedding of a ``grid x grid`` window: (1, g*g, dim).

    Half of the channels encode the token's row, half its column, each as
    ``sin`` and ``cos`` of the position at ``dim / 4`` wavelengths (10000 ** (k / (dim / 4))),
    so nearby tokens have similar embeddings and attention can find neighbours
    from the start of training.

    Examples
    --------
    >>> table = sincos_position_embedding(8, 4)
    >>> tuple(table.shape), float(table[0, 0, :2].sum())   # row 0: sin 0 = 0 on every wavelength
    ((1, 16, 8), 0.0)
    """
    if dim % 4:
        raise ValueError(f"sine-cosine position embeddings need a width divisible by 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # (dim/4,)
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")

    def encode(position: torch.Tensor) -> torch.Tensor:
        angle = position.reshape(-1, 1).double() * omega  # (g*g, dim/4)
        return torch.cat([angle.sin(), angle.cos()], dim=1)  # (g*g, dim/2)

    return torch.cat([encode(rows), encode(cols)], dim=1).float()[None]  # (1, g*g, dim)


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


@dataclass
class Masking:
    """Which tokens the encoder sees (:meth:`MaskedAutoencoder.random_masking`).

    Attributes
    ----------
    keep_idx
        Long (B, k): the kept token positions of each image, padded to the
        largest count ``k``.
    keep_valid
        Bool (B, k): False for the padding slots.
    masked
        Bool (B, L): the valid tokens hidden from the encoder (the loss's targets).
    """

    keep_idx: torch.Tensor
    keep_valid: torch.Tensor
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
        self.pos_embed = self._position_table(c.embed_dim, "pos_embed")
        self.blocks = nn.ModuleList(
            Block(c.embed_dim, c.num_heads, c.mlp_ratio, c.dropout) for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.embed_dim)
        self.decoder_embed = nn.Linear(c.embed_dim, c.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_dim))
        self.decoder_pos_embed = self._position_table(c.decoder_dim, "decoder_pos_embed")
        self.decoder_blocks = nn.ModuleList(
            Block(c.decoder_dim, c.num_heads, c.mlp_ratio, c.dropout)
            for _ in range(c.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(c.decoder_dim)
        self.decoder_pred = nn.Linear(c.decoder_dim, c.num_features)
        self._init_weights()

    def _position_table(self, dim: int, name: str) -> torch.Tensor:
        """A fixed sine-cosine table (a buffer, not saved) or a learned parameter."""
        c = self.config
        if c.pos_embed == "sincos":
            self.register_buffer(name, sincos_position_embedding(dim, c.grid), persistent=False)
            return getattr(self, name)
        return nn.Parameter(torch.zeros(1, c.num_tokens, dim))

    def _init_weights(self) -> None:
        """MAE's initialization: small normal learned tokens, Xavier linears."""
        for p in (self.pos_embed, self.decoder_pos_embed, self.mask_token):
            if isinstance(p, nn.Parameter):
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
        This is what embedding uses (:func:`s2vec_geo.embed`).
        """
        self._check(x, valid)
        return self._encoder_blocks(self.patch_embed(x) + self.pos_embed, valid)

    def random_masking(
        self,
        valid: torch.Tensor,
        mask_ratio: float,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> Masking:
        """Choose each image's visible tokens: a random ``1 - mask_ratio`` of its valid ones.

        Valid tokens sort first in random order (invalid ones get +inf noise
        and sort last); the first ``n_keep`` are kept, at least one and at
        most all valid tokens per image. Images keep different numbers of
        tokens, so the kept slots are padded to the largest count.
        """
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        b, n = valid.shape
        if noise is None:
            where = generator.device if generator is not None else valid.device
            noise = torch.rand(b, n, generator=generator, device=where).to(valid.device)
        noise = noise.masked_fill(~valid, math.inf)
        order = torch.argsort(noise, dim=1)
        n_valid = valid.sum(dim=1)
        n_keep = (n_valid.float() * (1.0 - mask_ratio)).round().long().clamp(min=1)
        n_keep = torch.minimum(n_keep, n_valid)
        k = int(n_keep.max())
        rank = torch.arange(n, device=valid.device).expand(b, n)
        keep_idx = order[:, :k]
        keep_valid = rank[:, :k] < n_keep[:, None]
        visible = torch.zeros_like(valid).scatter(1, keep_idx, keep_valid)
        return Masking(keep_idx, keep_valid, valid & ~visible)

    def forward_encoder(
        self,
        x: torch.Tensor,
        valid: torch.Tensor,
        mask_ratio: float,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, Masking]:
        """Embed the tokens, keep the visible ones and encode them: (B, k, embed_dim)."""
        self._check(x, valid)
        masking = self.random_masking(valid, mask_ratio, generator, noise)
        h = self.patch_embed(x) + self.pos_embed
        h = torch.gather(h, 1, masking.keep_idx[..., None].expand(-1, -1, h.shape[-1]))
        return self._encoder_blocks(h, masking.keep_valid), masking

    def forward_decoder(
        self, latent: torch.Tensor, masking: Masking, valid: torch.Tensor
    ) -> torch.Tensor:
        """Put mask tokens in the hidden slots and decode every token: (B, L, F)."""
        d = self.decoder_embed(latent)
        mask_token = self.mask_token.to(d.dtype)
        # Padding slots (beyond an image's n_keep) go back as mask tokens.
        d = torch.where(masking.keep_valid[..., None], d, mask_token)
        b, n = valid.shape
        index = masking.keep_idx[..., None].expand_as(d)
        full = mask_token.expand(b, n, -1).scatter(1, index, d) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            full = blk(full, valid)
        return self.decoder_pred(self.decoder_norm(full))

    def forward_loss(self, x: torch.Tensor, pred: torch.Tensor, masking: Masking) -> MAEOutput:
        """Mean squared error over the masked valid tokens (mean over features)."""
        per_token = ((pred.float() - x.float()) ** 2).mean(dim=-1)
        sse = (per_token * masking.masked).sum()
        count = masking.masked.sum()
        loss = sse / count.clamp(min=1)
        return MAEOutput(loss=loss, sse=sse, count=count, pred=pred, masked=masking.masked)

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
        latent, masking = self.forward_encoder(x, valid, mask_ratio, generator, noise)
        pred = self.forward_decoder(latent, masking, valid)
        return self.forward_loss(x, pred, masking)

    def _encoder_blocks(self, h: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            h = blk(h, key_valid)
        return self.norm(h)
