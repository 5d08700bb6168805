"""The model file: a trained network with everything needed to use it on new data.

:class:`S2VecModel` bundles the trained :class:`~s2vec_geo.model.mae.MaskedAutoencoder`
with the normalization statistics, the feature names and taxonomy version,
the S2 levels and the configurations; :meth:`S2VecModel.save` writes it as
plain data and tensors and :func:`load_model` reads it back
(``weights_only=True``: a model file cannot run code).

A model file is a zip archive (torch's format); before any of it is read,
:func:`check_torch_file` refuses one whose members declare more than a model
file can hold: ``data.pkl`` (everything but the weights) over
:data:`PICKLE_MAX_BYTES`, weights over :data:`WEIGHTS_MAX_BYTES` (the float32
weights of the widest, deepest network the options allow), a member
compressed more than :data:`MAX_COMPRESSION_RATIO`-fold (torch stores them
uncompressed), or contents that would not fit the memory budget
(:func:`s2vec_geo.core.guards.check_memory`). The architecture is then
checked against the weights before the network is built.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2vec_geo.core.disk import RERUN_FIX, enough_space
from s2vec_geo.core.guards import check_memory, format_bytes
from s2vec_geo.core.options import MAX_DEPTH, MAX_WIDTH
from s2vec_geo.images.normalization import NormStats
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.model.mae import MAEConfig, MaskedAutoencoder
from s2vec_geo.version import __version__

MODEL_NAME = "model.pt"
"""File name of the model inside a training run folder."""
MODEL_FORMAT = "s2vec-model"
MODEL_FORMAT_VERSION = 1

PICKLE_MAX_BYTES = 64 * 2**20
"""Largest ``data.pkl`` of a model file: its plain data (configurations, statistics,
feature names, history) take a few hundred KB."""
WEIGHTS_MAX_BYTES = 4 * (
    MAEConfig(
        num_features=4096,
        grid=256,
        embed_dim=MAX_WIDTH,
        depth=MAX_DEPTH,
        decoder_dim=MAX_WIDTH,
        decoder_depth=MAX_DEPTH,
        pos_embed="learned",
    ).num_parameters
)
"""Largest float32 weights of a model file: the widest, deepest network the options allow,
with 4,096 features and learned position tables for 256 x 256 images (about 3.0 GB); the
memory budget (2 GiB by default) usually refuses sooner."""
MAX_COMPRESSION_RATIO = 100
"""Most a member of a model file may be compressed: torch stores members uncompressed, so a
member that inflates more is built to exhaust memory."""


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
    path
        The model file it was loaded from or last saved to (``None`` until
        then); embedding layers record it and its SHA-256 as provenance.
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
        self.path: Path | None = None
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
        """Features, levels, grid, size, windows, epochs and the last held-out errors.

        Examples
        --------
        >>> cfg = MAEConfig(num_features=2, grid=4, embed_dim=8, depth=1, num_heads=2,
        ...                 decoder_dim=8, decoder_depth=1)
        >>> history = [{"epoch": 1, "train_loss": 0.9, "val_loss": 0.5,
        ...             "val_mean_baseline": 0.6, "val_neighbor_baseline": 0.7}]
        >>> model = S2VecModel(MaskedAutoencoder(cfg), None, ["a", "b"], 14, 12,
        ...                    train_config={"windows": "sliding"}, history=history)
        >>> print(repr(model).replace(" held", "\\n  held"))
        S2VecModel(features=2, levels=14/12, grid=4x4, embed_dim=8, windows=sliding, epochs=1,
          held-out error 0.5 vs 0.6 per-feature mean, 0.7 neighbour mean)
        """
        grid = self.config.grid
        parts = [
            f"features={len(self.feature_names)}",
            f"levels={self.patch_level}/{self.image_level}",
            f"grid={grid}x{grid}",
            f"embed_dim={self.embed_dim}",
            f"windows={self.train_config.get('windows', 'aligned')}",
            f"epochs={int(self.history[-1]['epoch']) if self.history else 0}",
        ]
        last = self.history[-1] if self.history else {}
        if "val_loss" in last:
            parts.append(
                f"held-out error {last['val_loss']:.4g} vs {last['val_mean_baseline']:.4g} "
                f"per-feature mean, {last['val_neighbor_baseline']:.4g} neighbour mean"
            )
        return f"S2VecModel({', '.join(parts)})"

    def untrained(self, seed: int = 0) -> S2VecModel:
        """The same network with fresh random weights: what training added is the difference.

        Same architecture, normalization statistics, features and levels;
        weights initialized as before training, seeded (the global torch
        random state is left as it was). Embedding with it is the *untrained
        network* baseline of :func:`s2vec_geo.evaluate`.

        Examples
        --------
        >>> cfg = MAEConfig(num_features=2, grid=4, embed_dim=8, depth=1, num_heads=2,
        ...                 decoder_dim=8, decoder_depth=1)
        >>> model = S2VecModel(MaskedAutoencoder(cfg), None, ["a", "b"], 14, 12)
        >>> a, b = model.untrained(seed=1), model.untrained(seed=1)
        >>> bool(torch.equal(a.module.patch_embed.weight, b.module.patch_embed.weight))
        True
        >>> a.train_config
        {'untrained': True, 'seed': 1}
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            module = MaskedAutoencoder(self.config).eval()
        return S2VecModel(
            module,
            self.stats,
            self.feature_names,
            self.patch_level,
            self.image_level,
            self.taxonomy_version,
            train_config={"untrained": True, "seed": int(seed)},
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

    def save(self, path: str | os.PathLike, *, half: bool = False) -> Path:
        """Write the model file atomically (``torch.save`` of :meth:`to_dict`).

        Parameters
        ----------
        path
            The file to write.
        half
            Store the weights in half precision (half the size; loaded back
            into float32 by :func:`load_model`), as the bundled pretrained model is.

        Returns
        -------
        Path
            The written path.
        """
        target = Path(path)
        data = self.to_dict()
        if half:
            data["state_dict"] = {
                k: v.half() if v.is_floating_point() else v for k, v in data["state_dict"].items()
            }
        save_torch(data, target, "the model file")
        self.path = target
        return target


def save_torch(data: Any, path: Path, what: str, fix: str = RERUN_FIX) -> None:
    """``torch.save`` ``data`` to ``path`` atomically, refused in one line on a full disk.

    The data are serialized in memory first: their exact size is checked
    against the free space before the file is touched, and a disk that fills
    up while writing is a :class:`~s2vec_geo.core.disk.DiskFullError` (an
    ``OSError``) naming the folder and the size, not ``torch.save``'s
    ``RuntimeError``. A file already at ``path`` stays intact either way.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "state.pt"
    >>> save_torch({"step": 3}, path, "the state")
    >>> torch.load(path)
    {'step': 3}
    """
    buffer = io.BytesIO()
    torch.save(data, buffer)
    content = buffer.getbuffer()
    with enough_space(path.parent, len(content), what, fix), atomic_path(path) as tmp:
        tmp.write_bytes(content)


def as_model(model: S2VecModel | str | os.PathLike) -> S2VecModel:
    """A model given as itself or as the path of its file (read with :func:`load_model`).

    Examples
    --------
    >>> as_model(3)
    Traceback (most recent call last):
    ...
    ValueError: model must be an S2VecModel or the path of a model file, got int
    """
    if isinstance(model, S2VecModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise ValueError(
        f"model must be an S2VecModel or the path of a model file, got {type(model).__name__}"
    )


def check_torch_file(path: Path, what: str, copies: int = 1) -> None:
    """Refuse a torch file that declares more than a ``what`` can hold, before reading it.

    Only the zip archive's directory is read: the members' declared sizes
    (see the module docstring; ``copies``: the weights a file holds, e.g. 3
    for a checkpoint with AdamW's two moments) and their compression. A file
    that is no zip archive is left to ``torch.load`` to judge.

    Examples
    --------
    >>> import tempfile
    >>> bomb = Path(tempfile.mkdtemp()) / "model.pt"
    >>> with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
    ...     zf.writestr("archive/data.pkl", bytes(2**24))
    >>> check_torch_file(bomb, "s2vec model file")  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: ...model.pt' is not a readable s2vec model file: its member
    'archive/data.pkl' inflates ...-fold (16.0 MiB from ... KiB), which no file written by
    torch does; use a file written by s2vec
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    if not members:
        return
    worst = max(members, key=lambda m: m.file_size / max(m.compress_size, 1))
    ratio = worst.file_size / max(worst.compress_size, 1)
    pickled = sum(m.file_size for m in members if m.filename.endswith(".pkl"))
    total = sum(m.file_size for m in members)
    problem = None
    if ratio > MAX_COMPRESSION_RATIO:
        problem = (
            f"its member {worst.filename!r} inflates {ratio:,.0f}-fold "
            f"({format_bytes(worst.file_size)} from {format_bytes(worst.compress_size)}), "
            "which no file written by torch does"
        )
    elif pickled > PICKLE_MAX_BYTES:
        problem = (
            f"it declares {format_bytes(pickled)} of data besides its weights, more than the "
            f"{format_bytes(PICKLE_MAX_BYTES)} a {what} can hold"
        )
    elif total - pickled > copies * WEIGHTS_MAX_BYTES:
        problem = (
            f"it declares {format_bytes(total - pickled)} of weights, more than the "
            f"{format_bytes(copies * WEIGHTS_MAX_BYTES)} of the largest network s2vec builds"
        )
    if problem is not None:
        raise ValueError(
            f"{str(path)!r} is not a readable {what}: {problem}; use a file written by s2vec"
        )
    check_memory(
        2.0 * total,  # the file's tensors, then the network's copy of them
        f"reading the {what} {str(path)!r} ({format_bytes(total)} unpacked)",
        fix="a smaller model",
    )


def read_torch_file(path: Path, what: str, copies: int = 1) -> Any:
    """``torch.load`` with ``weights_only=True``: plain data and tensors, never code.

    A file that is not a torch file, is truncated, declares more than a
    ``what`` holds (:func:`check_torch_file`), or holds other objects (which
    could run code when loaded) is a ``ValueError`` naming ``what``.

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
    check_torch_file(path, what, copies)
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


def _architecture(data: dict[str, Any]) -> MAEConfig:
    """A model file's architecture, checked against its weights before a network is built."""
    config = MAEConfig.from_dict(data["mae_config"])
    weights = data["state_dict"]
    if not isinstance(weights, dict):
        raise ValueError(f"its weights are a {type(weights).__name__}, not a table of tensors")
    held = sum(t.numel() for t in weights.values() if isinstance(t, torch.Tensor))
    if held != config.num_parameters:
        raise ValueError(
            f"its weights hold {held:,} values, its architecture needs {config.num_parameters:,}"
        )
    return config


def refuse_non_finite_weights(state: Any, name: str) -> None:
    """Refuse weights holding NaN or infinite values: such a network embeds nothing.

    ``state`` is a ``state_dict``; anything else is left to the loader's checks.

    Examples
    --------
    >>> refuse_non_finite_weights({"w": torch.ones(2)}, "'model.pt'")
    >>> refuse_non_finite_weights({"w": torch.tensor([1.0, float("nan")])}, "'model.pt'")
    Traceback (most recent call last):
    ...
    ValueError: 'model.pt' holds NaN or infinite weights (in 1 tensor, e.g. w): ...
    """
    if not isinstance(state, dict):
        return
    bad = [
        str(key)
        for key, value in state.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]
    if bad:
        raise ValueError(
            f"{name} holds NaN or infinite weights (in {len(bad)} tensor"
            f"{'s' if len(bad) > 1 else ''}, e.g. {bad[0]}): the training that wrote it "
            "diverged or the file was changed; train the model again (`s2vec train`) or use "
            "another copy of the file"
        )


PRETRAINED = "pretrained"
"""The name that loads the model bundled with the package (:func:`pretrained_path`)."""


def pretrained_path() -> Path:
    """The model pretrained over many cities that ships inside the package (no download).

    Its model card is ``docs/pretrained.md``: areas, levels, taxonomy, epochs
    and held-out scores. OpenStreetMap data (c) OpenStreetMap contributors, ODbL 1.0.

    Examples
    --------
    >>> pretrained_path().name
    'pretrained_v1_16_12.pt'
    """
    return Path(__file__).resolve().parents[1] / "data" / "pretrained_v1_16_12.pt"


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> S2VecModel:
    """Read a model file written by :func:`s2vec_geo.train`, or ``"pretrained"``.

    The file holds only plain data and tensors and is loaded with
    ``weights_only=True``, so a model file cannot run code.

    Parameters
    ----------
    path
        ``model.pt`` file, the training run folder holding it, or
        ``"pretrained"``: the model bundled with the package
        (:func:`pretrained_path`), pretrained over cities of four continents
        at levels 16/12 with taxonomy v1.
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
    p = pretrained_path() if str(path) == PRETRAINED else Path(path)
    if p.is_dir():
        p = p / MODEL_NAME
    if not p.is_file():
        raise FileNotFoundError(f"model file {str(p)!r} not found; train one with `s2vec train`")
    data = read_torch_file(p, "s2vec model file")
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise ValueError(f"{str(p)!r} is not an s2vec model file; train one with `s2vec train`")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(
            f"{str(p)!r} is a damaged s2vec model file (format_version {version!r}, not a "
            "whole number); train the model again (`s2vec train`) or use another copy of the file"
        )
    if version > MODEL_FORMAT_VERSION:
        raise ValueError(
            f"{str(p)!r} has model format {version}, newer than this "
            f"s2vec-geo supports ({MODEL_FORMAT_VERSION}); upgrade s2vec-geo"
        )
    refuse_non_finite_weights(data.get("state_dict"), repr(str(p)))
    try:  # a file with missing keys or tensors of other shapes is damaged, not a bug
        module = MaskedAutoencoder(_architecture(data))
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
    model.path = p
    return model
