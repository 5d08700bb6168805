"""The whole S2Vec pipeline in one call: ingest -> cells -> images -> model -> embeddings.

:func:`run_pipeline` chains the core functions exactly as a user would call
them one by one, keeps every intermediate product in a work folder (so each
stage can be inspected or re-run on its own), and writes the embedding layer
and its PCA map last.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from s2vec_geo.embedding import embed
from s2vec_geo.features import featurize
from s2vec_geo.images import build_images
from s2vec_geo.io import layer_format, write_layer
from s2vec_geo.model import MODEL_NAME
from s2vec_geo.plots import plot_embedding_pca
from s2vec_geo.s2 import cells_frame, validate_level
from s2vec_geo.seams import log_seams
from s2vec_geo.training import LOSS_CURVE_NAME, TrainConfig, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineResult:
    """Where :func:`run_pipeline` put its products."""

    embeddings: Path
    """The embedding cell layer (``cell_id``, ``token``, ``emb_000``..., cell polygon)."""
    pca_map: Path
    """PNG map of the embeddings' first three principal components as RGB."""
    cells: Path
    """The featurized cell layer."""
    images: Path
    """The image dataset folder."""
    model: Path
    """The trained model file."""
    loss_curve: Path
    """PNG of the training and validation loss per epoch."""


def work_folder(output: str | os.PathLike) -> Path:
    """Default folder for a run's intermediate products: ``<output stem>_work`` beside it.

    Examples
    --------
    >>> work_folder("out/helsinki.gpkg").as_posix()
    'out/helsinki_work'
    """
    out = Path(output)
    return out.with_name(f"{out.stem}_work")


Source = str | os.PathLike | gpd.GeoDataFrame


def featurize_sources(
    sources: Sequence[Source], level: int, aoi: Any = None, **options: Any
) -> gpd.GeoDataFrame:
    """Featurize every source and sum them cell by cell (several areas, one cell layer).

    Sources that do not overlap simply sit side by side; where two share a
    cell, their counts add up, as ``s2vec featurize A B`` sums them on Dask.

    Examples
    --------
    >>> cells = featurize_sources(["examples/data/helsinki.osm.pbf"], 13)  # doctest: +SKIP
    """
    frames = [featurize(src, level=level, aoi=aoi, **options) for src in sources]
    if len(frames) == 1:
        return frames[0]
    columns = list(frames[0].attrs["feature_columns"])
    if any(list(f.attrs["feature_columns"]) != columns for f in frames[1:]):
        raise ValueError(
            "the sources give different feature columns; read them all with the same "
            "taxonomy (or the same category column)"
        )
    counts = pd.concat([f[columns] for f in frames]).groupby(level="cell_id", sort=True).sum()
    frame = cells_frame(counts.index.to_numpy())
    cells = gpd.GeoDataFrame(
        pd.concat([frame.drop(columns=frame.geometry.name), counts], axis=1),
        geometry=frame.geometry,
        crs=frame.crs,
    )
    cells.attrs = dict(frames[0].attrs)
    return cells


def run_pipeline(
    source: Source | Sequence[Source],
    output: str | os.PathLike,
    level: int = 12,
    image_level: int = 8,
    *,
    aoi: Any = None,
    config: TrainConfig | None = None,
    mode: str = "contextual",
    work_dir: str | os.PathLike | None = None,
    min_support: float = 0.0,
    featurize_options: dict[str, Any] | None = None,
) -> PipelineResult:
    """Run S2Vec end to end on a features source and write the embedding layer.

    Parameters
    ----------
    source
        Anything :func:`s2vec_geo.read_features` reads: an ``.osm.pbf``, any
        OGR vector source, or a GeoDataFrame; or a list of them (several
        areas: one model over all, normalized over all, and one layer with
        every area's cells; see :func:`featurize_sources`).
    output
        Embedding layer to write (``.gpkg`` or ``.parquet``); the PCA map goes
        beside it with the suffix ``.png``.
    level, image_level
        Patch and image S2 levels (paper: 12 and 8; for a city centre rather
        e.g. 17 and 14).
    aoi
        Area of interest for :func:`s2vec_geo.featurize` (every covering cell
        is embedded, empty ones included).
    config
        Training settings (default: paper Table 1).
    mode
        Embedding mode for :func:`s2vec_geo.embed`.
    work_dir
        Folder for intermediate products (``cells.gpkg``, ``images/``,
        ``model/``); default :func:`work_folder` of ``output``. An existing
        image dataset there is replaced; training starts afresh.
    min_support
        Train on the features non-zero in at least this share of the cells
        (see :func:`s2vec_geo.build_images`); 0 keeps all.
    featurize_options
        Extra keyword arguments for :func:`s2vec_geo.featurize` (``taxonomy``,
        ``layer``, ``bbox``, ``category_column``).

    Returns
    -------
    PipelineResult
        Paths of everything written.

    Examples
    --------
    >>> from s2vec_geo.training import TrainConfig
    >>> res = run_pipeline("examples/data/helsinki.osm.pbf", "/tmp/hki.gpkg", 17, 14,
    ...                    config=TrainConfig(epochs=2))  # doctest: +SKIP
    >>> res.embeddings.name  # doctest: +SKIP
    'hki.gpkg'
    """
    layer_format(output)  # a bad extension fails before any work
    validate_level(level, "level")
    validate_level(image_level, "image_level")
    if image_level >= level:
        raise ValueError(
            f"image_level ({image_level}) must be lower than the patch level ({level}); "
            "e.g. --level 12 --image-level 8 as in the paper"
        )
    out = Path(output)
    work = Path(work_dir) if work_dir is not None else work_folder(out)
    work.mkdir(parents=True, exist_ok=True)

    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    log.info("1/4 featurizing %d source(s) at level %d", len(sources), level)
    cells = featurize_sources(sources, level, aoi=aoi, **(featurize_options or {}))
    cells_path = write_layer(cells, work / "cells.gpkg")

    log.info("2/4 building level-%d images", image_level)
    images = build_images(
        cells, image_level, out=work / "images", overwrite=True, min_support=min_support
    )
    log.info("%d images of %d x %d cells", len(images), images.grid, images.grid)

    log.info("3/4 training")
    model_dir = work / "model"
    model = train(images, config, out=model_dir)

    log.info("4/4 embedding %d cells (%s mode)", len(cells), mode)
    emb = embed(cells, model, mode=mode)
    write_layer(emb, out)
    png = plot_embedding_pca(emb, out.with_suffix(".png"))
    log_seams(emb, image_level)
    return PipelineResult(
        embeddings=out,
        pca_map=png,
        cells=cells_path,
        images=work / "images",
        model=model_dir / MODEL_NAME,
        loss_curve=model_dir / LOSS_CURVE_NAME,
    )
