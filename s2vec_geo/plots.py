"""Figures: the training loss curve and a PCA-RGB map of cell embeddings.

Both are drawn on matplotlib Agg canvases (no pyplot: the caller's backend
and open figures are left alone) and written atomically as PNG files. A leaf
of the house: it knows the layer contract (:mod:`s2vec_geo.schema`) and the
atomic writer, nothing of the pipeline, so the stages that write a figure
among their outputs (a training run's ``loss_curve.png``) may call it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Polygon as MplPolygon
from matplotlib.ticker import MaxNLocator

from s2vec_geo.io import atomic_path
from s2vec_geo.schema import embedding_columns


def plot_loss_curve(history: Sequence[dict[str, float]], path: str | os.PathLike) -> Path:
    """Plot training (and validation) masked-reconstruction loss per epoch.

    Parameters
    ----------
    history
        Per-epoch records with ``epoch``, ``train_loss`` and optionally
        ``val_loss`` with its baselines ``val_mean_baseline`` and
        ``val_neighbor_baseline`` (as in ``model.history``).
    path
        PNG file to write.

    Returns
    -------
    Path
        The written path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> h = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}]
    >>> plot_loss_curve(h, pathlib.Path(tempfile.mkdtemp()) / "loss.png").stat().st_size > 0
    True
    """
    if not history:
        raise ValueError("the history is empty; train for at least one epoch before plotting")
    epochs = [r["epoch"] for r in history]
    fig, ax = new_figure(6, 4)
    ax.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train (masked MSE)")
    if all("val_loss" in r for r in history):
        ax.plot(epochs, [r["val_loss"] for r in history], marker="o", label="validation")
        baselines = (
            ("val_mean_baseline", "--", "validation, per-feature mean"),
            ("val_neighbor_baseline", ":", "validation, mean of visible neighbours"),
        )
        for key, style, label in baselines:
            if all(key in r for r in history):
                values = [r[key] for r in history]
                ax.plot(epochs, values, linestyle=style, color="grey", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked reconstruction loss (normalized MSE)")
    ax.set_title("S2Vec masked-autoencoder training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def pca_rgb(values: np.ndarray) -> np.ndarray:
    """First three principal components as RGB in [0, 1] (2nd-98th percentile scaling).

    Examples
    --------
    >>> rgb = pca_rgb(np.random.default_rng(0).normal(size=(50, 8)))
    >>> rgb.shape, bool(((rgb >= 0) & (rgb <= 1)).all())
    ((50, 3), True)
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"expected a non-empty (n, dim) array of embeddings, got {x.shape}")
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    comps = x @ vt[:3].T
    if comps.shape[1] < 3:
        comps = np.pad(comps, ((0, 0), (0, 3 - comps.shape[1])))
    lo, hi = np.percentile(comps, [2, 98], axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((comps - lo) / span, 0.0, 1.0)


def plot_embedding_pca(
    embeddings: gpd.GeoDataFrame, path: str | os.PathLike, title: str | None = None
) -> Path:
    """Map cells coloured by the first three principal components of their embeddings.

    Parameters
    ----------
    embeddings
        Embedding table (``emb_000 ...`` columns, cell polygons), any CRS; drawn
        in longitude/latitude.
    path
        PNG file to write.
    title
        Figure title; defaults to a description of the map.

    Returns
    -------
    Path
        The written path.

    Examples
    --------
    >>> emb = s2vec_geo.embed(cells, model)  # doctest: +SKIP
    >>> plot_embedding_pca(emb, "map.png")  # doctest: +SKIP
    """
    cols = embedding_columns(embeddings)
    frame = embeddings if embeddings.crs is None else embeddings.to_crs(4326)
    values = frame[cols].to_numpy(dtype=np.float64)
    ok = np.isfinite(values).all(axis=1)
    if not ok.any():
        raise ValueError("no cell has a finite embedding; nothing to map")
    frame, rgb = frame[ok], pca_rgb(values[ok])
    patches = []
    colors = []
    for geom, color in zip(frame.geometry, rgb, strict=True):
        for poly in getattr(geom, "geoms", [geom]):
            patches.append(MplPolygon(np.asarray(poly.exterior.coords), closed=True))
            colors.append(color)
    fig, ax = new_figure(7, 7)
    ax.add_collection(PatchCollection(patches, facecolors=colors, edgecolors="none"))
    minx, miny, maxx, maxy = frame.total_bounds
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect(1.0 / max(np.cos(np.radians((miny + maxy) / 2)), 1e-6))
    ax.set_xlabel("longitude (degrees)")
    ax.set_ylabel("latitude (degrees)")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_title(
        title or f"S2Vec embeddings: first 3 principal components as RGB ({ok.sum()} cells)"
    )
    fig.tight_layout()
    return save_figure(fig, path)


def new_figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure of ``width`` x ``height`` inches on an Agg canvas (no pyplot state touched)."""
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` to a PNG atomically; return the path."""
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target
