"""A quick-look PNG of one feature of one image, in the image's S2 pixel layout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2vec_geo import s2
from s2vec_geo.images.dataset import ImageDataset
from s2vec_geo.viz.plots import new_figure, save_figure


def plot_image(
    dataset: ImageDataset,
    i: int,
    feature: str,
    path: str | os.PathLike,
    normalized: bool = False,
) -> Path:
    """Draw feature ``feature`` of image ``i`` as a PNG (empty pixels blank).

    Pixels are drawn as the model sees them: row ``r``, column ``c`` is the
    child at S2 position ``(r, c)`` (the ``i`` and ``j`` axes of the cube
    face), so north is not necessarily up; :func:`export_geotiff` puts an
    image on a map.

    Parameters
    ----------
    dataset
        The images.
    i
        Index of the image in ``dataset``.
    feature
        Name of the feature to draw (one of ``dataset.feature_names``).
    path
        PNG file to write (atomically).
    normalized
        Draw normalized values instead of raw counts.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, s2vec_geo as sv
    >>> from s2vec_geo.images.plot import plot_image
    >>> ids = sv.cell_children(sv.latlng_to_cell(64.14, -21.94, 10), 13)
    >>> cells = pd.DataFrame({"n": np.arange(64.0)}, index=pd.Index(ids, name="cell_id"))
    >>> png = plot_image(sv.build_images(cells, 10), 0, "n", tempfile.mkdtemp() + "/i.png")
    >>> png.read_bytes()[:4] == b"\\x89PNG"
    True
    """
    if feature not in dataset.feature_names:
        raise ValueError(
            f"unknown feature {feature!r}; choose one of ds.feature_names "
            f"(e.g. {list(dataset.feature_names[:5])})"
        )
    k = dataset.feature_names.index(feature)
    values = dataset.normalized(i)[0][:, k] if normalized else dataset.raw(i)[:, k]
    g = dataset.grid
    picture = np.where(dataset.mask(i), values, np.nan).reshape(g, g)
    fig, ax = new_figure(5.0, 4.2)
    shown = ax.imshow(picture, cmap="viridis", interpolation="nearest")
    fig.colorbar(shown, ax=ax, label=f"{feature} ({'normalized' if normalized else 'raw'})")
    token = s2.cell_to_token(dataset.parents[[i]])[0]
    ax.set_title(f"image {token}, level {dataset.image_level}: {g}x{g} S2 grid")
    ax.set_xlabel("column (S2 j)")
    ax.set_ylabel("row (S2 i)")
    fig.tight_layout()
    return save_figure(fig, path)
