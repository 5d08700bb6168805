"""PCA-RGB colours of embeddings: the first three principal components as a colour per row.

The one place the picture of an embedding layer is computed: the PNG map
(:func:`s2vec_geo.viz.plots.plot_embeddings`), the web map and the ``pca_rgb``
column that embedding layers carry (:data:`s2vec_geo.core.schema.PCA_RGB`, a
``#rrggbb`` text that QGIS draws through the layer's stored style and any
SLD renderer through ``<ogc:PropertyName>``) all come from :func:`pca_rgb`.
Neighbouring places with similar built environments get similar colours.
NumPy only: a leaf any stage may use.

Examples
--------
>>> import numpy as np
>>> hex_colours(np.array([[1.0, 0.5, 0.0]])).tolist()
['#ff8000']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from s2vec_geo.core.schema import PCA_RGB, embedding_columns

PERCENTILES = (2.0, 98.0)
"""Each component is stretched from its 2nd to its 98th percentile onto [0, 1]."""


def principal_components(values: np.ndarray, k: int = 3) -> np.ndarray:
    """The first ``k`` principal components of the rows of ``values``, shape ``(n, k)``.

    From the eigenvectors of the ``(dim, dim)`` covariance, so memory grows
    with the rows only through the product; each component's sign is fixed
    (its largest loading positive), so the same data always give the same
    colours. Fewer than ``k`` dimensions are padded with zero components.

    Examples
    --------
    >>> x = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.1]])
    >>> (principal_components(x, 2)[:, 0].round(2) + 0.0).tolist()
    [-2.0, 0.0, 2.0]
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"expected a non-empty (n, dim) array of embeddings, got {x.shape}")
    x = x - x.mean(axis=0)
    _, vectors = np.linalg.eigh(x.T @ x)
    top = vectors[:, ::-1][:, :k]
    top = top * np.where(top[np.abs(top).argmax(axis=0), np.arange(top.shape[1])] < 0, -1, 1)
    comps = x @ top
    return np.pad(comps, ((0, 0), (0, k - comps.shape[1])))


def pca_rgb(values: np.ndarray) -> np.ndarray:
    """First three principal components as RGB in [0, 1] (2nd-98th percentile scaling).

    Examples
    --------
    >>> rgb = pca_rgb(np.random.default_rng(0).normal(size=(50, 8)))
    >>> rgb.shape, bool(((rgb >= 0) & (rgb <= 1)).all())
    ((50, 3), True)
    """
    comps = principal_components(values)
    lo, hi = np.percentile(comps, PERCENTILES, axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((comps - lo) / span, 0.0, 1.0)


def hex_colours(rgb: np.ndarray) -> np.ndarray:
    """``#rrggbb`` text of RGB rows in [0, 1].

    Examples
    --------
    >>> hex_colours(np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])).tolist()
    ['#0000ff', '#ffffff']
    """
    levels = np.rint(np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0) * 255).astype(np.int64)
    packed = (levels[:, 0] << 16) | (levels[:, 1] << 8) | levels[:, 2]
    return np.array([f"#{v:06x}" for v in packed.tolist()], dtype=object)


def with_pca_colours(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a :data:`~s2vec_geo.core.schema.PCA_RGB` column: each row's PCA-RGB colour.

    Rows whose embedding is missing or not finite (a joined feature that
    touches no embedded cell) get no colour (missing); an existing column is
    replaced. The frame itself is not changed.

    Examples
    --------
    >>> emb = pd.DataFrame({"emb_000": [0.0, 1.0, np.nan], "emb_001": [1.0, 0.0, 0.0]})
    >>> colours = with_pca_colours(emb)["pca_rgb"]
    >>> colours.tolist()[:2], bool(colours.isna()[2])
    (['#000000', '#ff0000'], True)
    """
    values = frame[embedding_columns(frame)].to_numpy(dtype=np.float64)
    finite = np.isfinite(values).all(axis=1)
    colours = np.full(len(frame), None, dtype=object)
    if finite.any():
        colours[finite] = hex_colours(pca_rgb(values[finite]))
    return frame.assign(**{PCA_RGB: colours})
