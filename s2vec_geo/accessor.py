"""The ``GeoDataFrame.s2vec`` accessor: a thin face over the core functions.

Modelled on h3pandas: nothing is mutated, results come back as new frames
indexed by the int64 ``cell_id`` (or, where one row per input row is
returned, as the caller's frame with columns added: its index, columns and
CRS kept), cell geometries are EPSG:4326 polygons. Defaults are those of
the option vocabulary (:mod:`s2vec_geo.core.options`). Only pandas is imported
here (registering the accessor must stay cheap); the rest loads on first use.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from s2vec_geo.core.options import DEFAULT_IMAGE_LEVEL, DEFAULT_LEVEL

if TYPE_CHECKING:
    import geopandas as gpd

    from s2vec_geo.images import ImageDataset


@pd.api.extensions.register_dataframe_accessor("s2vec")
class S2VecAccessor:
    """S2Vec operations on a (Geo)DataFrame, available as ``df.s2vec``."""

    def __init__(self, obj: pd.DataFrame) -> None:
        self._obj = obj

    def _geo_frame(self) -> gpd.GeoDataFrame:
        """The frame, checked to be a GeoDataFrame."""
        import geopandas as gpd

        if not isinstance(self._obj, gpd.GeoDataFrame):
            raise ValueError("df.s2vec needs a GeoDataFrame with a geometry column")
        return self._obj

    def _geo(self) -> gpd.GeoDataFrame:
        """The frame as a GeoDataFrame in EPSG:4326 (a copy when reprojected)."""
        from s2vec_geo.s2.validation import to_lnglat

        return to_lnglat(self._geo_frame(), "the GeoDataFrame's rows")

    def embed(
        self,
        model: object = None,
        cells: pd.DataFrame | None = None,
        level: int | None = None,
        mode: str = "contextual",
    ) -> gpd.GeoDataFrame:
        """The frame with the S2Vec embedding of every row added, as ``s2vec join`` does.

        Points take the embedding of the cell containing them; polygons the
        mean over their covering cells weighted by intersection area (in an
        equal-area projection); lines by length. See
        :func:`s2vec_geo.join_embeddings`.

        Parameters
        ----------
        model
            Trained model or its file; not needed when ``cells`` is an
            embedding table.
        cells
            Featurized cells covering the rows (embedded with ``model``) or an
            embedding table (:func:`s2vec_geo.embed`, or a layer written by
            ``s2vec embed`` and read back: ``cell_id`` as index or column).
        level
            Lookup level: the model's patch level (default) or image level.
        mode
            ``"contextual"`` (default) or ``"patch"``, for featurized cells.

        Returns
        -------
        geopandas.GeoDataFrame
            A copy of the frame (its index, columns and CRS) with ``emb_...``
            columns, ``n_cells`` and ``coverage`` (the share of each row's
            area, length or points inside embedded cells) added.

        Examples
        --------
        >>> import geopandas as gpd, shapely, s2vec_geo
        >>> table = s2vec_geo.cells_frame(s2vec_geo.latlng_to_cell(60.17, 24.94, 14))
        >>> table["emb_000"] = 0.5
        >>> shops = gpd.GeoDataFrame({"name": ["kiosk"]},
        ...                          geometry=[shapely.Point(24.94, 60.17)], crs=4326)
        >>> shops.to_crs(3067).s2vec.embed(cells=table.reset_index()).crs.to_epsg()
        3067
        """
        from s2vec_geo.embeddings.join import join_embeddings

        if cells is None:
            raise ValueError(
                "pass cells=: featurized cells covering the rows, or an embedding table "
                "from s2vec_geo.embed(cells, model)"
            )
        return join_embeddings(self._geo_frame(), cells, model=model, level=level, mode=mode)

    def build_images(
        self,
        image_level: int = DEFAULT_IMAGE_LEVEL,
        out: str | os.PathLike | None = None,
        **kw: Any,
    ) -> ImageDataset:
        """S2Vec images of these featurized cells; see :func:`s2vec_geo.build_images`.

        Examples
        --------
        >>> ds = cells.s2vec.build_images(image_level=12, out="images/")  # doctest: +SKIP
        """
        from s2vec_geo.images import build_images

        return build_images(self._obj, image_level=image_level, out=out, **kw)

    def train(
        self,
        image_level: int = DEFAULT_IMAGE_LEVEL,
        *,
        others: Sequence[pd.DataFrame] = (),
        config: Any = None,
        out: str | os.PathLike | None = None,
        min_support: float = 0.0,
    ) -> Any:
        """Train one S2Vec model on these featurized cells and those of ``others``.

        Each area's cells become an image dataset (in memory) at
        ``image_level``; one model is trained over all of them, normalized
        over all of them (see :func:`s2vec_geo.train`). With ``min_support``
        the features are chosen over all areas' cells together.

        Parameters
        ----------
        image_level
            S2 level of the images (coarser than the cells).
        others
            Featurized cells of other areas, at the same level and taxonomy.
        config
            :class:`s2vec_geo.TrainConfig` (default: paper Table 1, sliding windows).
        out
            Run folder for the model, history and loss curve (``None``: in memory).
        min_support
            Keep the features non-zero in at least this share of all cells.

        Returns
        -------
        S2VecModel

        Examples
        --------
        >>> model = helsinki.s2vec.train(13, others=[tallinn], out="run")  # doctest: +SKIP
        >>> emb = s2vec_geo.embed(tallinn, model)  # doctest: +SKIP
        """
        from s2vec_geo.core.schema import feature_columns
        from s2vec_geo.images import build_images
        from s2vec_geo.model.training import train

        areas = [self._obj, *others]
        if min_support > 0.0:
            union = pd.concat([a[feature_columns(a)] for a in areas])
            keep = [c for c in union.columns if (union[c] != 0).mean() >= min_support]
            if not keep:
                raise ValueError(f"no feature is non-zero in {min_support:.0%} of the cells")
            areas = [a[keep] for a in areas]
        return train([build_images(a, image_level) for a in areas], config, out=out)

    def featurize(self, level: int = DEFAULT_LEVEL, aoi: Any = None, **kw: Any) -> gpd.GeoDataFrame:
        """Per-cell feature counts of these features; see :func:`s2vec_geo.featurize`.

        Examples
        --------
        >>> import s2vec_geo
        >>> f = s2vec_geo.read_features("examples/data/helsinki.osm.pbf")
        >>> f.s2vec.featurize(level=13).index.name
        'cell_id'
        """
        from s2vec_geo.features.featurize import featurize

        return featurize(self._geo(), level=level, aoi=aoi, **kw)

    def cell_ids(self, level: int = DEFAULT_LEVEL) -> pd.Series:
        """The level-``level`` S2 cell of every point row; see :func:`s2vec_geo.point_cells`.

        Non-point rows raise ``ValueError`` (cover them with :meth:`cover`).

        Examples
        --------
        >>> import geopandas as gpd, shapely, s2vec_geo
        >>> pts = gpd.GeoDataFrame(geometry=[shapely.Point(24.9384, 60.1699)], crs=4326)
        >>> pts.s2vec.cell_ids(12).name
        'cell_id'
        """
        from s2vec_geo.s2 import point_cells

        return point_cells(self._geo(), level)

    def cover(self, level: int = DEFAULT_LEVEL) -> gpd.GeoDataFrame:
        """The level-``level`` cells covering all rows, as a cell layer.

        See :func:`s2vec_geo.cover` (union of all geometries) and
        :func:`s2vec_geo.cells_frame` (``cell_id`` index, ``token``, EPSG:4326).

        Examples
        --------
        >>> import geopandas as gpd, shapely, s2vec_geo
        >>> area = gpd.GeoDataFrame(geometry=[shapely.box(24.9, 60.15, 24.98, 60.19)], crs=4326)
        >>> len(area.s2vec.cover(12))
        10
        """
        from s2vec_geo.s2 import cells_frame, cover

        return cells_frame(cover(self._geo(), level))

    def align_labels(
        self,
        cells: Any,
        target: str,
        rule: str = "overlap",
        min_overlap: float = 0.5,
        drop_missing: bool = False,
    ) -> pd.Series:
        """One value of ``target`` per cell; see :func:`s2vec_geo.align_labels`.

        ``cells`` are int64 cell ids or a cell layer (``cell_id`` as index or
        column). ``drop_missing`` drops rows whose target is missing or not a
        number instead of refusing them.

        Examples
        --------
        >>> tracts.s2vec.align_labels(embeddings, "income").head()  # doctest: +SKIP
        """
        from s2vec_geo.core.schema import cell_indexed
        from s2vec_geo.evaluation import align_labels, read_labels

        if isinstance(cells, pd.DataFrame):
            cells = cell_indexed(cells).index.to_numpy()
        labels = read_labels(self._geo(), target, drop_missing=drop_missing)
        return align_labels(labels, cells, target, rule, min_overlap)

    def evaluate(self, labels: Any, target: str, **kw: Any) -> Any:
        """Downstream evaluation of this embedding table; see :func:`s2vec_geo.evaluate`.

        Examples
        --------
        >>> emb.s2vec.evaluate(tracts, "income", n_splits=20).summary()  # doctest: +SKIP
        """
        from s2vec_geo.evaluation import evaluate

        return evaluate(self._obj, labels, target, **kw)
