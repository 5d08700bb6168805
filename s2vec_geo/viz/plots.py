"""Figures: the training loss curve and PCA-RGB maps of cell embeddings.

:func:`plot_history` and :func:`plot_embeddings` draw on axes you give them
(or on a new matplotlib Agg figure: no pyplot, so the caller's backend and
open figures are left alone) and return the axes, to compose with your own
figures; :func:`plot_loss_curve` and :func:`plot_embedding_pca` write them as
PNG files, atomically; :func:`explore_embeddings` makes an interactive web map.
A leaf of the house: it knows the layer contract (:mod:`s2vec_geo.core.schema`)
and the atomic writer, nothing of the pipeline, so the stages that write a
figure among their outputs (a training run's ``loss_curve.png``) may call it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Polygon as MplPolygon
from matplotlib.ticker import MaxNLocator

from s2vec_geo.core.colours import pca_rgb
from s2vec_geo.core.schema import TOKEN, embedding_columns
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.io.outputs import SOFTWARE
from s2vec_geo.version import __version__

_RASTERIZE_ABOVE = 5_000  # cells; more are drawn as one image in PDF/SVG output


def plot_history(history: Sequence[dict[str, float]], ax: Axes | None = None) -> Axes:
    """Draw training (and held-out) masked-reconstruction loss per epoch on ``ax``.

    Parameters
    ----------
    history
        Per-epoch records with ``epoch``, ``train_loss`` and optionally
        ``val_loss`` with its baselines ``val_mean_baseline`` and
        ``val_neighbor_baseline`` (as in ``model.history``).
    ax
        Matplotlib axes to draw on (e.g. a subplot of your figure); a new
        figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> h = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}]
    >>> plot_history(h).get_xlabel()
    'epoch'
    """
    if not history:
        raise ValueError("the history is empty; train for at least one epoch before plotting")
    if ax is None:
        ax = new_figure(6, 4)[1]
    epochs = [r["epoch"] for r in history]
    ax.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train (masked MSE)")
    baselines = (
        ("val_loss", "-", None, "held out"),
        ("val_mean_baseline", "--", "grey", "held out, per-feature mean"),
        ("val_neighbor_baseline", ":", "grey", "held out, mean of visible neighbours"),
    )
    for key, style, color, label in baselines:
        if all(key in r for r in history):
            values = [r[key] for r in history]
            ax.plot(epochs, values, linestyle=style, color=color, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked reconstruction loss (normalized MSE)")
    ax.set_title("S2Vec masked-autoencoder training")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_loss_curve(history: Sequence[dict[str, float]], path: str | os.PathLike) -> Path:
    """Write :func:`plot_history` to a PNG file; returns its path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> h = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}]
    >>> plot_loss_curve(h, pathlib.Path(tempfile.mkdtemp()) / "loss.png").stat().st_size > 0
    True
    """
    ax = plot_history(history)
    ax.figure.tight_layout()
    return save_figure(ax.figure, path)


def core_extent(frame: gpd.GeoDataFrame) -> tuple[float, ...]:
    """Map extent ``(minx, miny, maxx, maxy)`` of a layer, leaving out a few stray cells.

    The core is the box between the quartiles of the cell centres; cells whose
    centres lie more than three times its size beyond it (Tukey's "far out"
    fences, with the larger of the two interquartile ranges) are strays, and the
    extent is that of all other cells. A compact area keeps every cell, and
    the scattered cells an OSM extract drags in from outside its area (a fifth
    of Lower Manhattan's level-16 cells) do not leave the map mostly blank.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pts = [shapely.Point(x / 100, 0).buffer(0.001) for x in range(100)]
    >>> far = gpd.GeoDataFrame(geometry=pts + [shapely.Point(50, 0).buffer(0.001)], crs=4326)
    >>> float(round(core_extent(far)[2], 2))
    0.99
    >>> block = [shapely.Point(x / 100, y / 100) for x in range(1, 9) for y in range(1, 9)]
    >>> strays = [shapely.Point(k / 10, -k / 5) for k in range(2, 18)]  # a fifth of the cells
    >>> cells = gpd.GeoDataFrame(geometry=[p.buffer(0.001) for p in block + strays], crs=4326)
    >>> [round(v, 2) for v in core_extent(cells)]
    [0.01, 0.01, 0.08, 0.08]
    """
    x, y = _centres(frame)
    (x0, x1), (y0, y1) = np.percentile(x, [25, 75]), np.percentile(y, [25, 75])
    reach = 3 * max(x1 - x0, y1 - y0, 1e-9)
    near = (x >= x0 - reach) & (x <= x1 + reach) & (y >= y0 - reach) & (y <= y1 + reach)
    return tuple(float(v) for v in frame[near].total_bounds)


def _centres(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Planar centres of the geometries in their own coordinates (lng/lat here)."""
    centres = shapely.centroid(np.asarray(frame.geometry.values))
    return shapely.get_x(centres), shapely.get_y(centres)


def _rgb_cells(embeddings: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The cells with finite embeddings (EPSG:4326) and their PCA-RGB colours."""
    cols = embedding_columns(embeddings)
    frame = embeddings if embeddings.crs is None else embeddings.to_crs(4326)
    values = frame[cols].to_numpy(dtype=np.float64)
    ok = np.isfinite(values).all(axis=1)
    if not ok.any():
        raise ValueError("no cell has a finite embedding; nothing to map")
    return frame[ok], pca_rgb(values[ok])


def _cell_patches(frame: gpd.GeoDataFrame, rgb: np.ndarray) -> PatchCollection:
    """The cells as one collection of polygons, drawn edge to edge without seams.

    Antialiased polygons let the background show through along every shared
    edge; with tens of thousands of cells a few pixels wide those seams beat
    with the pixel grid into diagonal moire stripes. So the cells are filled
    without antialiasing, each outlined in its own colour to close the pixels
    that no cell covers by half, and large layers are rasterized in vector
    files (one image instead of a path per cell).
    """
    patches, colors = [], []
    for geom, color in zip(frame.geometry, rgb, strict=True):
        for poly in getattr(geom, "geoms", [geom]):
            patches.append(MplPolygon(np.asarray(poly.exterior.coords), closed=True))
            colors.append(color)
    return PatchCollection(
        patches,
        facecolors=colors,
        edgecolors=colors,
        linewidths=0.5,
        antialiased=False,
        rasterized=len(patches) > _RASTERIZE_ABOVE,
    )


def plot_embeddings(
    embeddings: gpd.GeoDataFrame, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Draw cells coloured by the first three principal components of their embeddings.

    Parameters
    ----------
    embeddings
        Embedding table (``emb_000 ...`` columns, cell polygons), any CRS; drawn
        in longitude/latitude.
    ax
        Matplotlib axes to draw on (e.g. beside a map of your labels); a new
        figure when ``None``.
    title
        Title; defaults to a description of the map.

    Returns
    -------
    matplotlib.axes.Axes
        The view leaves out a few stray cells far from the rest
        (:func:`core_extent`); the title then says how many.

    Examples
    --------
    >>> import numpy as np, s2vec_geo as sv
    >>> emb = sv.cells_frame(sv.cell_children(sv.latlng_to_cell(60.17, 24.94, 12), 14))
    >>> emb[["emb_000", "emb_001"]] = np.random.default_rng(0).normal(size=(len(emb), 2))
    >>> plot_embeddings(emb).get_xlabel()
    'longitude (degrees)'
    """
    frame, rgb = _rgb_cells(embeddings)
    if ax is None:
        ax = new_figure(7, 7)[1]
    ax.add_collection(_cell_patches(frame, rgb))
    minx, miny, maxx, maxy = core_extent(frame)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    aspect = 1.0 / max(np.cos(np.radians((miny + maxy) / 2)), 1e-6)
    ax.set_aspect(aspect)
    ax.set_xlabel("longitude (degrees)")
    ax.set_ylabel("latitude (degrees)")
    wide = (maxx - minx) / max((maxy - miny) * aspect, 1e-12)  # shown width / height
    for axis, bins in ((ax.xaxis, np.clip(round(4 * wide), 2, 4)), (ax.yaxis, 4)):
        axis.set_major_locator(MaxNLocator(nbins=int(bins), steps=[1, 2, 2.5, 5, 10]))
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(axis="x", labelrotation=30 if wide >= 0.25 else 90)  # upright when narrow
    x, y = _centres(frame)
    outside = int((~((x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))).sum())
    note = f"; {outside} stray cells outside the view" if outside else ""
    default = "S2Vec embeddings: first 3 principal components as RGB"
    ax.set_title(title or f"{default}\n({len(frame)} cells{note})")
    return ax


def plot_embedding_pca(
    embeddings: gpd.GeoDataFrame, path: str | os.PathLike, title: str | None = None
) -> Path:
    """Write :func:`plot_embeddings` to a PNG file; returns its path.

    Examples
    --------
    >>> emb = s2vec_geo.embed(cells, model)  # doctest: +SKIP
    >>> plot_embedding_pca(emb, "map.png")  # doctest: +SKIP
    """
    ax = plot_embeddings(embeddings, title=title)
    ax.figure.tight_layout()
    return save_figure(ax.figure, path)


def explore_embeddings(embeddings: gpd.GeoDataFrame, **kwargs: Any) -> Any:
    """An interactive web map of the PCA-RGB colours (``GeoDataFrame.explore``).

    Needs the ``maps`` extra (``folium``, ``mapclassify``). Hovering a cell
    shows its token; extra keyword arguments go to
    :meth:`geopandas.GeoDataFrame.explore`.

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> explore_embeddings(emb).save("embeddings.html")  # doctest: +SKIP
    """
    frame, rgb = _rgb_cells(embeddings)
    hexes = ["#{:02x}{:02x}{:02x}".format(*(np.round(c * 255).astype(int))) for c in rgb]
    shown = frame[[c for c in (TOKEN,) if c in frame.columns] + [frame.geometry.name]]
    style = {"weight": 0, "fillOpacity": 0.8}
    options = {"color": hexes, "tooltip": list(shown.columns[:-1]) or False, "style_kwds": style}
    return shown.explore(**{**options, **kwargs})


def new_figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure of ``width`` x ``height`` inches on an Agg canvas (no pyplot state touched)."""
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` to a PNG atomically, signed as this library's; return the path.

    The PNG's ``Software`` text names s2vec-geo: a later run tells its own
    map from a file of the user's (:func:`s2vec_geo.io.outputs.written_here`).
    """
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": f"{SOFTWARE} {__version__}"})
    return target
