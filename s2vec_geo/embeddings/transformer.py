"""A scikit-learn transformer: fit S2Vec on features or cells, transform any geometries.

:class:`S2VecTransformer` follows scikit-learn's estimator protocol
(``get_params`` / ``set_params`` / ``fit`` / ``transform``) without importing
scikit-learn, so it works inside ``sklearn.pipeline.Pipeline``,
``cross_val_score`` and ``GridSearchCV`` as the embedders of srai do: ``fit``
featurizes the area (or takes featurized cells), trains a model on it (or takes
a trained one) and embeds its cells; ``transform`` gives any points, lines or
polygons the embedding of where they are (:func:`s2vec_geo.join_embeddings`).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np
import pandas as pd

from s2vec_geo.core.schema import CELL_ID, embedding_columns


class S2VecTransformer:
    """S2Vec embeddings as a scikit-learn transformer.

    Parameters
    ----------
    source
        What to fit on: a features frame (:func:`s2vec_geo.read_features`), a
        file it reads (OSM PBF, GeoPackage, ...), or featurized cells (a cell
        layer). ``None``: ``fit(X)`` fits on ``X`` itself, which must then be
        features or cells. In a ``Pipeline`` whose ``X`` are the rows to
        predict (e.g. label polygons), give the area here.
    model
        A trained model (or its file) to embed with; ``None`` trains one in
        ``fit`` with ``config``.
    level, image_level
        S2 levels of the cells and of the training images (default 16 and 12).
    config
        :class:`s2vec_geo.TrainConfig` of the training (default: paper Table 1).
    mode
        ``"contextual"`` (default) or ``"patch"``, as :func:`s2vec_geo.embed`.
    fill_value
        Embedding value of rows that touch no embedded cell (scikit-learn
        models refuse NaN).

    Attributes
    ----------
    model_
        The model used (trained in ``fit`` or the one given).
    embeddings_
        The embedding table of the fitted area's cells (indexed by ``cell_id``).

    Examples
    --------
    >>> import geopandas as gpd, shapely, s2vec_geo as sv
    >>> t = S2VecTransformer("examples/data/helsinki.osm.pbf", level=17, image_level=14,
    ...                      config=sv.TrainConfig(epochs=1, model={"depth": 1}))
    >>> t.get_params()["level"]
    17
    >>> pois = gpd.read_file("examples/data/helsinki_pois.shp").head(3)
    >>> t.fit(pois).transform(pois).shape  # doctest: +SKIP
    (3, 256)
    """

    def __init__(
        self,
        source: Any = None,
        model: Any = None,
        level: int = 16,
        image_level: int = 12,
        config: Any = None,
        mode: str = "contextual",
        fill_value: float = 0.0,
    ) -> None:
        self.source = source
        self.model = model
        self.level = level
        self.image_level = image_level
        self.config = config
        self.mode = mode
        self.fill_value = fill_value

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn's estimator protocol).

        Examples
        --------
        >>> sorted(S2VecTransformer().get_params())[:3]
        ['config', 'fill_value', 'image_level']
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> S2VecTransformer:
        """Set constructor parameters; unknown names raise ``ValueError``.

        Examples
        --------
        >>> S2VecTransformer().set_params(level=15).level
        15
        """
        unknown = sorted(set(params) - set(self._param_names()))
        if unknown:
            raise ValueError(f"S2VecTransformer has no parameter {', '.join(unknown)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _cells(self, data: Any) -> pd.DataFrame:
        """Featurized cells of ``data``: a cell layer as it is, features featurized."""
        from s2vec_geo.features.featurize import featurize
        from s2vec_geo.ingest import read_features

        if data is None:
            raise ValueError(
                "nothing to fit on: give S2VecTransformer(source=...) the area's features, "
                "their file or featurized cells, or fit(X) on them"
            )
        if isinstance(data, pd.DataFrame) and (
            data.index.name == CELL_ID or CELL_ID in data.columns
        ):
            return data
        if isinstance(data, (str, os.PathLike)):
            data = read_features(data)
        return featurize(data, level=self.level)

    def fit(self, X: Any = None, y: Any = None) -> S2VecTransformer:
        """Featurize the area, train (unless ``model``) and embed its cells.

        ``X`` is fitted on when ``source`` is ``None``; ``y`` is ignored (the
        training is self-supervised).
        """
        from s2vec_geo.embeddings.embed import embed
        from s2vec_geo.images import build_images
        from s2vec_geo.model.training import train

        cells = self._cells(self.source if self.source is not None else X)
        model = self.model
        if model is None:
            model = train(build_images(cells, self.image_level), self.config)
        self.model_ = model
        self.embeddings_ = embed(cells, model, mode=self.mode)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The embedding of every row of ``X`` (any geometries, any CRS), as a float array.

        Returns
        -------
        numpy.ndarray
            ``(len(X), embedding dimension)``; rows touching no embedded cell
            get ``fill_value``.
        """
        from s2vec_geo.embeddings.join import join_embeddings

        if not hasattr(self, "embeddings_"):
            raise ValueError("this S2VecTransformer is not fitted yet: call fit first")
        joined = join_embeddings(X, self.embeddings_)
        values = joined[embedding_columns(joined)].to_numpy(np.float64)
        return np.nan_to_num(values, nan=self.fill_value)

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X, y)`` then ``transform(X)``."""
        return self.fit(X, y).transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of the output columns: ``emb_000``, ``emb_001``, ...

        Examples
        --------
        >>> S2VecTransformer().get_feature_names_out()
        Traceback (most recent call last):
        ...
        ValueError: this S2VecTransformer is not fitted yet: call fit first
        """
        if not hasattr(self, "embeddings_"):
            raise ValueError("this S2VecTransformer is not fitted yet: call fit first")
        return np.asarray(embedding_columns(self.embeddings_), dtype=object)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"S2VecTransformer({shown})"
