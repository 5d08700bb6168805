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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

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

    def _cell_layer(self) -> pd.DataFrame | None:
        """The frame indexed by ``cell_id`` when it is a cell layer, else ``None``."""
        from s2vec_geo.core.schema import CELL_ID, cell_indexed

        obj = self._obj
        if obj.index.name != CELL_ID and CELL_ID not in obj.columns:
            return None
        return cell_indexed(obj)

    def embed(
        self,
        model: object = None,
        cells: pd.DataFrame | None = None,
        level: int | None = None,
        mode: str = "contextual",
    ) -> gpd.GeoDataFrame:
        """Embeddings for the frame: of its cells, or of the places its rows stand on.

        **The frame** is either a cell layer (featurized cells, ``cell_id`` as
        index or column, e.g. from :meth:`featurize`), or any layer of points,
        lines or polygons.

        - A cell layer without ``cells=`` is embedded with ``model``, as
          :func:`s2vec_geo.embed` does: one row per cell, ``emb_...`` columns.
        - Any other layer (or a cell layer with ``cells=``) gets the embedding
          of where its rows are, as ``s2vec join`` does: points take the
          embedding of the cell containing them; polygons the mean over their
          covering cells weighted by intersection area (in an equal-area
          projection); lines by length. See :func:`s2vec_geo.join_embeddings`.

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
            Lookup level for a join: the model's patch level (default) or image level.
        mode
            ``"contextual"`` (default) or ``"patch"``, for featurized cells.

        Returns
        -------
        geopandas.GeoDataFrame
            For a cell layer: one row per cell, indexed by ``cell_id``, with
            ``token``, ``emb_...`` and the cell polygons (EPSG:4326). For any
            other layer: a copy of the frame (its index, columns and CRS) with
            ``emb_...`` columns, ``n_cells`` and ``coverage`` (the share of each
            row's area, length or points inside embedded cells) added.

        Examples
        --------
        >>> import geopandas as gpd, shapely, s2vec_geo
        >>> table = s2vec_geo.cells_frame(s2vec_geo.latlng_to_cell(60.17, 24.94, 14))
        >>> table["emb_000"] = 0.5
        >>> shops = gpd.GeoDataFrame({"name": ["kiosk"]},
        ...                          geometry=[shapely.Point(24.94, 60.17)], crs=4326)
        >>> shops.to_crs(3067).s2vec.embed(cells=table.reset_index()).crs.to_epsg()
        3067
        >>> emb = cells.s2vec.embed(model)  # a featurized cell layer  # doctest: +SKIP
        """
        if cells is None:
            layer = self._cell_layer()
            if layer is None:
                raise ValueError(
                    "this frame is no cell layer (no cell_id index or column): pass cells=, "
                    "featurized cells covering its rows or an embedding table from "
                    "s2vec_geo.embed(cells, model)"
                )
            if model is None:
                raise ValueError("pass model=: the trained model (or its file) to embed the cells")
            from s2vec_geo.embeddings.embed import embed

            return embed(layer, model, mode=mode)
        from s2vec_geo.embeddings.join import join_embeddings

        return join_embeddings(self._geo_frame(), cells, model=model, level=level, mode=mode)

    def build_images(
        self,
        image_level: int = 12,
        out: str | os.PathLike | None = None,
        **kw: Any,
    ) -> ImageDataset:
        """S2Vec images of these featurized cells; see :func:`s2vec_geo.build_images`.

        **The frame** is featurized cells (:meth:`featurize`). Re-running the
        call into the same ``out`` replaces the image dataset written there.

        Examples
        --------
        >>> ds = cells.s2vec.build_images(image_level=12, out="images/")  # doctest: +SKIP
        """
        from s2vec_geo.images import build_images

        return build_images(self._obj, image_level=image_level, out=out, **kw)

    def train(
        self,
        image_level: int = 12,
        *,
        others: Sequence[pd.DataFrame] = (),
        config: Any = None,
        out: str | os.PathLike | None = None,
        min_support: float = 0.0,
    ) -> Any:
        """Train one S2Vec model on these featurized cells and those of ``others``.

        **The frame** is featurized cells (:meth:`featurize`).

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

    def featurize(self, level: int = 16, aoi: Any = None, **kw: Any) -> gpd.GeoDataFrame:
        """Per-cell feature counts of these features; see :func:`s2vec_geo.featurize`.

        **The frame** is a features layer (:func:`s2vec_geo.read_features`, or
        any layer with OSM tag or ``category`` columns), in any CRS.

        Examples
        --------
        >>> import s2vec_geo
        >>> f = s2vec_geo.read_features("examples/data/helsinki.osm.pbf")
        >>> f.s2vec.featurize(level=13).index.name
        'cell_id'
        """
        from s2vec_geo.features.featurize import featurize

        return featurize(self._geo(), level=level, aoi=aoi, **kw)

    def cell_ids(self, level: int = 16) -> pd.Series:
        """The level-``level`` S2 cell of every point row; see :func:`s2vec_geo.point_cells`.

        **The frame** is a point layer, in any CRS; non-point rows raise
        ``ValueError`` (cover them with :meth:`cover`).

        Examples
        --------
        >>> import geopandas as gpd, shapely, s2vec_geo
        >>> pts = gpd.GeoDataFrame(geometry=[shapely.Point(24.9384, 60.1699)], crs=4326)
        >>> pts.s2vec.cell_ids(12).name
        'cell_id'
        """
        from s2vec_geo.s2 import point_cells

        return point_cells(self._geo(), level)

    def cover(self, level: int = 16) -> gpd.GeoDataFrame:
        """The level-``level`` cells covering all rows, as a cell layer.

        **The frame** is any layer of points, lines or polygons, in any CRS.

        See :func:`s2vec_geo.cover` (union of all geometries) and
        :func:`s2vec_geo.cells_frame` (``cell_id`` index, ``token``, EPSG:4326).

        Examples
        --------
        >>> import geopandas as gpd, shapely, s2vec_geo
        >>> area = gpd.GeoDataFrame(geometry=[shapely.box(24.9, 60.15, 24.98, 60.19)], crs=4326)
        >>> len(area.s2vec.cover(12))
        10
        """
        from s2vec_geo.core.guards import LAYER_CELL_BYTES
        from s2vec_geo.s2 import cells_frame, cover

        return cells_frame(cover(self._geo(), level, cell_bytes=LAYER_CELL_BYTES))

    def align_labels(
        self,
        labels: Any,
        target: str,
        rule: str = "overlap",
        min_overlap: float = 0.5,
        drop_missing: bool = False,
    ) -> pd.Series:
        """One value of ``target`` for each of these cells; see :func:`s2vec_geo.align_labels`.

        **The frame** is the cells (a cell or embedding layer, ``cell_id`` as
        index or column), as for :meth:`evaluate`; ``labels`` is the layer of
        points or polygons holding ``target``, in any CRS. The older spelling
        ``labels.s2vec.align_labels(cells, target)`` still works but warns
        (``DeprecationWarning``).

        Parameters
        ----------
        labels
            Point or polygon layer with a numeric ``target`` column.
        target
            The column to align.
        rule
            Polygon rule: ``"overlap"`` (area-weighted mean) or ``"centroid"``.
        min_overlap
            ``"overlap"`` only: smallest share of a cell the polygons must cover.
        drop_missing
            Drop label rows whose target is missing or not a number instead of
            refusing them.

        Returns
        -------
        pandas.Series
            float64 labels indexed by the int64 ``cell_id`` of the cells that got one.

        Examples
        --------
        >>> import geopandas as gpd, shapely, s2vec_geo
        >>> cells = s2vec_geo.cells_frame(s2vec_geo.latlng_to_cell(60.17, 24.94, 16))
        >>> tract = gpd.GeoDataFrame({"income": [42.0]},
        ...                          geometry=[shapely.box(24.9, 60.1, 25.0, 60.2)], crs=4326)
        >>> cells.s2vec.align_labels(tract, "income").tolist()
        [42.0]
        """
        from s2vec_geo.core.schema import cell_indexed
        from s2vec_geo.evaluation import align_labels, read_labels

        frame, labels = self._cells_and_other(labels, "align_labels")
        ids = cell_indexed(frame).index.to_numpy()
        aligned = read_labels(labels, target, drop_missing=drop_missing)
        return align_labels(aligned, ids, target, rule, min_overlap)

    def _cells_and_other(self, other: Any, method: str) -> tuple[pd.DataFrame, Any]:
        """``(cells, labels)`` of a call, the frame being the cells; the old spelling warns.

        The old spelling made the frame the labels and passed the cells (ids, or a cell
        layer while the frame is none).
        """
        import warnings

        import numpy as np

        old = isinstance(other, (np.ndarray, pd.Index, pd.Series, list)) or (
            isinstance(other, pd.DataFrame)
            and self._cell_layer() is None
            and other.s2vec._cell_layer() is not None
        )
        if not old:
            return self._obj, other
        warnings.warn(
            f"labels.s2vec.{method}(cells, ...) is deprecated: the frame is the cells, as for "
            f"evaluate; call cells.s2vec.{method}(labels, ...)",
            DeprecationWarning,
            stacklevel=3,
        )
        if not isinstance(other, pd.DataFrame):
            from s2vec_geo.s2 import cells_frame

            other = cells_frame(np.asarray(other))
        return other, self._obj

    def evaluate(self, labels: Any, target: str, **kw: Any) -> Any:
        """Downstream evaluation of these embeddings on ``labels``; see :func:`s2vec_geo.evaluate`.

        **The frame** is the embedding table (one row per cell, ``emb_...``
        columns; ``cell_id`` as index or column), as for :meth:`align_labels`;
        ``labels`` is a point or polygon layer (or file) holding ``target``.

        Examples
        --------
        >>> emb.s2vec.evaluate(tracts, "income", n_splits=20).summary()  # doctest: +SKIP
        """
        from s2vec_geo.evaluation import evaluate

        return evaluate(self._obj, labels, target, **kw)

    def to_parent(self, level: int, agg: str | Mapping[str, str] = "sum") -> gpd.GeoDataFrame:
        """These cells' numeric columns aggregated to their parents at ``level``.

        **The frame** is a cell layer (``cell_id`` as index or column), e.g.
        featurized cells or embeddings, as h3pandas' ``h3_to_parent_aggregate``.

        Parameters
        ----------
        level
            The parents' S2 level, coarser than (or equal to) the cells'.
        agg
            A pandas aggregation for every numeric column (``"sum"``, the
            default, for counts; ``"mean"`` for embeddings; ``"max"``, ...), or
            a mapping column -> aggregation.

        Returns
        -------
        geopandas.GeoDataFrame
            One row per parent, indexed by int64 ``cell_id``, with ``token``, the
            aggregated columns and the parent polygons (EPSG:4326).

        Examples
        --------
        >>> import numpy as np, s2vec_geo as sv
        >>> cells = sv.cells_frame(sv.cell_children(sv.latlng_to_cell(60.17, 24.94, 14), 16))
        >>> cells["shops"] = 1.0
        >>> parents = cells.s2vec.to_parent(15)
        >>> len(parents), parents["shops"].tolist()
        (4, [4.0, 4.0, 4.0, 4.0])
        """
        from s2vec_geo.core.schema import CELL_ID, feature_columns
        from s2vec_geo.s2 import cell_parent, cells_frame
        from s2vec_geo.s2.validation import validate_level

        frame = self._require_cells("to_parent")
        columns = list(agg) if isinstance(agg, Mapping) else feature_columns(frame)
        parents = pd.Index(cell_parent(frame.index.to_numpy(), validate_level(level)), name=CELL_ID)
        values = frame[columns].groupby(parents, sort=True).agg(agg)
        out = cells_frame(values.index.to_numpy()).join(values)
        out.attrs.update({k: v for k, v in frame.attrs.items() if k != "level"}, level=int(level))
        return out

    def neighborhood(self, radius: int, agg: str = "sum") -> gpd.GeoDataFrame:
        """Each cell's numeric columns summed (or averaged) over its neighbourhood.

        **The frame** is a cell layer of one level (``cell_id`` as index or
        column). A cell's neighbourhood is the ``(2 radius + 1)``-square block
        of same-level cells around it on the S2 lattice, as h3pandas'
        ``k_ring_smoothing``; the sums are those of the multi-scale
        neighbourhood baseline of :func:`s2vec_geo.evaluate`
        (:func:`s2vec_geo.neighborhood_sums`).

        Parameters
        ----------
        radius
            Half-width of the block in cells (1: the cell and its 8 neighbours).
        agg
            ``"sum"`` (cells not in the layer count zero) or ``"mean"`` (over
            the layer's cells in the block).

        Returns
        -------
        geopandas.GeoDataFrame
            The frame (index, other columns, geometry) with its numeric
            columns replaced by their neighbourhood sums or means (float64).

        Examples
        --------
        >>> import s2vec_geo as sv
        >>> cells = sv.cells_frame(sv.cell_children(sv.latlng_to_cell(60.17, 24.94, 14), 16))
        >>> cells["shops"] = 1.0
        >>> sorted(set(cells.s2vec.neighborhood(1)["shops"]))  # corners see 4 cells, inner 9
        [4.0, 6.0, 9.0]
        >>> sorted(set(cells.s2vec.neighborhood(1, agg="mean")["shops"]))
        [1.0]
        """
        import numpy as np

        from s2vec_geo.core.schema import feature_columns
        from s2vec_geo.features.neighborhood import neighborhood_sums

        if agg not in ("sum", "mean"):
            raise ValueError(f"agg must be 'sum' or 'mean', got {agg!r}")
        frame = self._require_cells("neighborhood")
        columns = feature_columns(frame)
        ids = frame.index.to_numpy()
        sums = neighborhood_sums(ids, frame[columns].to_numpy(np.float64), int(radius))
        if agg == "mean":
            sums /= neighborhood_sums(ids, np.ones(len(ids)), int(radius))[:, None]
        out = frame.copy()
        out[columns] = sums
        return out

    def _require_cells(self, method: str) -> pd.DataFrame:
        """The frame indexed by ``cell_id``, or a ``ValueError`` naming ``method``."""
        frame = self._cell_layer()
        if frame is None:
            raise ValueError(
                f"s2vec.{method} needs a cell layer (a cell_id index or column, as "
                "s2vec.featurize and s2vec_geo.embed make); cover other layers first "
                "(gdf.s2vec.cover(level))"
            )
        return frame
