"""The whole S2Vec pipeline in one call: ingest -> cells -> images -> model -> embeddings.

:func:`run_pipeline` chains the core functions exactly as a user would call
them one by one, keeps every intermediate product in a work folder (so each
stage can be inspected or re-run on its own), and writes the embedding layer
and its PCA map last. The work folder's record (:mod:`s2vec_geo.io.run_folder`)
makes a run resumable and refuses, before any stage, to mix runs of
different settings or to replace files no run wrote.
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

from s2vec_geo.core.guards import DEFAULT_MAX_CELLS
from s2vec_geo.core.schema import CELL_ID
from s2vec_geo.embeddings.embed import EMBED_MODES, embed
from s2vec_geo.embeddings.seams import log_seams
from s2vec_geo.features.featurize import featurize
from s2vec_geo.images import ImageDataset, build_images
from s2vec_geo.images.build import MAX_LEVEL_GAP, check_min_support
from s2vec_geo.images.dataset import META_FILE
from s2vec_geo.io.layers import layer_format, read_cell_layer, write_layer
from s2vec_geo.io.locks import hold
from s2vec_geo.io.outputs import check_output, written_here
from s2vec_geo.io.provenance import PROVENANCE_ATTR
from s2vec_geo.io.run_folder import PRODUCTS, WorkFolder, fingerprint
from s2vec_geo.model.file import MODEL_NAME, S2VecModel, load_model
from s2vec_geo.model.training import (
    LOSS_CURVE_NAME,
    TrainConfig,
    resolve_device,
    resumable_settings,
    train,
)
from s2vec_geo.s2 import cells_frame, validate_level
from s2vec_geo.viz.plots import plot_embedding_pca

log = logging.getLogger(__name__)

MODEL_NOT_KEPT = "not kept"
"""What a layer's provenance says of a model its caller did not keep."""

CELLS_NAME, IMAGES_NAME, MODEL_DIR = PRODUCTS


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
    counts = pd.concat([f[columns] for f in frames]).groupby(level=CELL_ID, sort=True).sum()
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
    level: int = 16,
    image_level: int = 12,
    *,
    aoi: Any = None,
    config: TrainConfig | None = None,
    mode: str = "contextual",
    work_dir: str | os.PathLike | None = None,
    min_support: float = 0.0,
    featurize_options: dict[str, Any] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    max_cells: int | None = DEFAULT_MAX_CELLS,
    model_out: str | os.PathLike | bool | None = None,
) -> PipelineResult:
    """Run S2Vec end to end on a features source and write the embedding layer.

    Every check that can fail on the request itself (levels, image size,
    output format, min_support, sources, the work folder's state, a second
    writer) runs before the first stage; the work folder records the
    settings and the finished stages (:mod:`s2vec_geo.io.run_folder`), so an
    interrupted run continues with ``resume=True``.

    Parameters
    ----------
    source
        Anything :func:`s2vec_geo.read_features` reads: an ``.osm.pbf``, any
        OGR vector source, or a GeoDataFrame; or a list of them (several
        areas: one model over all, normalized over all, and one layer with
        every area's cells; see :func:`featurize_sources`).
    output
        Embedding layer to write (``.gpkg`` or ``.parquet``), not one of the
        sources; the PCA map goes beside it with the suffix ``.png``. Both are
        replaced when they exist, the PNG only when s2vec-geo drew it (or with
        ``overwrite``): a picture of yours of that name is refused.
    level, image_level
        Patch and image S2 levels (default 16 and 12, city scale; the paper:
        12 and 8, :data:`s2vec_geo.core.options.LEVEL_PRESETS`).
    aoi
        Area of interest for :func:`s2vec_geo.featurize` (every covering cell
        is embedded, empty ones included).
    config
        Training settings (default: paper Table 1).
    mode
        Embedding mode for :func:`s2vec_geo.embed`.
    work_dir
        Folder for intermediate products (``cells.gpkg``, ``images/``,
        ``model/``) and the run record ``run.json``; default
        :func:`work_folder` of ``output``. Locked while the run writes it.
    min_support
        Train on the features non-zero in at least this share of the cells
        (see :func:`s2vec_geo.build_images`); 0 keeps all.
    featurize_options
        Extra keyword arguments for :func:`s2vec_geo.featurize` (``taxonomy``,
        ``layer``, ``bbox``, ``category_column``, ``polygons``,
        ``max_cells_per_polygon``).
    resume
        Continue the run recorded in the work folder (same sources and
        settings): finished stages are reused, training continues from its
        checkpoint. Changed settings are refused, and so are products in the
        work folder that changed since the run wrote them; an output or PCA
        map changed since is written again. The work folder is locked while
        the run writes it: every other writer into it is refused
        (:func:`s2vec_geo.io.locks.check_not_held`).
    overwrite
        Start afresh in a work folder that holds an earlier run (or products
        no recorded run wrote), replacing them; other files are kept.
    max_cells
        Size guard for featurizing and the images (see :mod:`s2vec_geo.core.guards`).
    model_out
        Where the model is kept besides the work folder (a ``.pt`` file,
        replaced); ``False`` when the caller keeps none (it removes the work
        folder). The layer's provenance names that file, or says none was
        kept, with the model's SHA-256 either way.

    Returns
    -------
    PipelineResult
        Paths of everything written.

    Raises
    ------
    ValueError
        Before any stage, for a bad request or a work folder that holds a
        run (or files) the call did not ask to continue or replace.

    Examples
    --------
    >>> from s2vec_geo.model.training import TrainConfig
    >>> res = run_pipeline("examples/data/helsinki.osm.pbf", "/tmp/hki.gpkg", 17, 14,
    ...                    config=TrainConfig(epochs=2))  # doctest: +SKIP
    >>> res.embeddings.name  # doctest: +SKIP
    'hki.gpkg'
    """
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    config = config or TrainConfig()
    options = dict(featurize_options or {})
    _check_request(sources, output, level, image_level, aoi, mode, min_support)
    resolve_device(config.device)  # a GPU this machine lacks: refused before any stage runs
    out = Path(output)
    _check_map(out.with_suffix(".png"), [*sources, aoi], overwrite)
    work = Path(work_dir) if work_dir is not None else work_folder(out)
    check_output(work, [*sources, aoi], folder=True)
    settings = fingerprint(
        {
            "sources": [_as_file(s) for s in sources],
            "level": level,
            "image_level": image_level,
            "aoi": _as_file(aoi),
            "featurize": {**options, "taxonomy": _as_file(options.get("taxonomy"))},
            "min_support": min_support,
            "train": resumable_settings(config),
            "mode": mode,
        }
    )
    for folder in {out.parent, work.parent}:
        folder.mkdir(parents=True, exist_ok=True)
    with hold(work), hold(out):
        run = WorkFolder.open(work, settings, resume, overwrite)
        cells = _cells_stage(run, sources, level, aoi, options, max_cells)
        images = _images_stage(run, cells, image_level, min_support, max_cells)
        model = _train_stage(run, images, config, resume)
        png = _embed_stage(run, cells, model, out, mode, model_out)
    return PipelineResult(
        embeddings=out,
        pca_map=png,
        cells=work / CELLS_NAME,
        images=work / IMAGES_NAME,
        model=model.path if model_out else work / MODEL_DIR / MODEL_NAME,
        loss_curve=work / MODEL_DIR / LOSS_CURVE_NAME,
    )


def _as_file(value: Any) -> Any:
    """A path given as text, as a Path (fingerprinted as a file, not as its name)."""
    return Path(value) if isinstance(value, str) else value


def _check_request(
    sources: list[Source],
    output: str | os.PathLike,
    level: int,
    image_level: int,
    aoi: Any,
    mode: str,
    min_support: float,
) -> None:
    """Every check of the request that needs no stage to have run."""
    layer_format(check_output(output, [*sources, aoi]))
    validate_level(level, "level")
    validate_level(image_level, "image_level")
    gap = level - image_level
    if not 1 <= gap <= MAX_LEVEL_GAP:
        raise ValueError(
            f"image_level ({image_level}) must be lower than the patch level ({level}) by 1 to "
            f"{MAX_LEVEL_GAP} levels (2x2 to 256x256 cells per image); e.g. --level 12 "
            "--image-level 8 as in the paper"
        )
    if mode not in EMBED_MODES:
        raise ValueError(f"unknown embedding mode {mode!r}; use one of {EMBED_MODES}")
    check_min_support(min_support)
    if not sources:
        raise ValueError("no sources given; pass at least one features file or GeoDataFrame")
    for path in [s for s in [*sources, aoi] if isinstance(s, (str, os.PathLike))]:
        if not Path(path).exists():
            raise FileNotFoundError(f"input {str(path)!r} does not exist; check the path")


def _check_map(png: Path, inputs: list[Any], overwrite: bool) -> None:
    """Refuse to replace a PNG that s2vec-geo did not draw (unless ``overwrite``)."""
    check_output(png, inputs)
    if png.exists() and not overwrite and not written_here(png):
        raise ValueError(
            f"{str(png)!r} exists and is not a map drawn by s2vec-geo, but the run writes its "
            "PCA map there; move it away, choose another output name, or pass --overwrite "
            "to replace it"
        )


def _cells_stage(
    run: WorkFolder,
    sources: list[Source],
    level: int,
    aoi: Any,
    options: dict[str, Any],
    max_cells: int | None,
) -> gpd.GeoDataFrame:
    path = run.root / CELLS_NAME
    if "featurize" in run.done:
        log.info("1/4 reusing the featurized cells of %s", path)
        cells = read_cell_layer(path)
        cells.attrs.update(run.extra["cells"])
        return cells
    log.info("1/4 featurizing %d source(s) at level %d", len(sources), level)
    cells = featurize_sources(sources, level, aoi=aoi, max_cells=max_cells, **options)
    attrs = {k: cells.attrs.get(k) for k in ("feature_columns", "level", "taxonomy_version")}
    with run.publishing("featurize", path, cells=attrs):  # makes the work folder
        write_layer(cells, path)
    return cells


def _images_stage(
    run: WorkFolder,
    cells: gpd.GeoDataFrame,
    image_level: int,
    min_support: float,
    max_cells: int | None,
) -> ImageDataset:
    folder = run.root / IMAGES_NAME
    if "images" in run.done:
        log.info("2/4 reusing the images in %s", folder)
        return ImageDataset.open(folder)
    log.info("2/4 building level-%d images", image_level)
    with run.publishing("images", folder / META_FILE):
        images = build_images(
            cells,
            image_level,
            out=folder,
            overwrite=True,
            min_support=min_support,
            max_cells=max_cells,
        )
    log.info("%d images of %d x %d cells", len(images), images.grid, images.grid)
    return images


def _train_stage(
    run: WorkFolder, images: ImageDataset, config: TrainConfig, resume: bool
) -> S2VecModel:
    folder = run.root / MODEL_DIR
    if "train" in run.done:
        log.info("3/4 reusing the model in %s", folder)
        return load_model(folder)
    # The work folder's record vouches for the run folder: with resume, training continues
    # from its checkpoint or reuses the model of its finished run (train decides).
    proceed = resume and folder.is_dir()
    log.info("3/4 training%s", " (continuing the recorded run)" if proceed else "")
    with run.publishing("train", folder / MODEL_NAME):
        model = train(images, config, out=folder, resume=proceed, overwrite=not proceed)
    return model


def _embed_stage(
    run: WorkFolder,
    cells: gpd.GeoDataFrame,
    model: S2VecModel,
    out: Path,
    mode: str,
    model_out: str | os.PathLike | bool | None,
) -> Path:
    png = out.with_suffix(".png")
    if model_out:
        model.save(model_out)  # the provenance names the kept file
    if run.unchanged("embed", out, png) and model_out is None:
        log.info("4/4 the run is complete: %s", out)
        return png
    log.info("4/4 embedding %d cells (%s mode)", len(cells), mode)
    emb = embed(cells, model, mode=mode)
    if model_out is False:
        emb.attrs[PROVENANCE_ATTR]["model"] = MODEL_NOT_KEPT
    with run.publishing("embed", out, png):
        write_layer(emb, out)
        plot_embedding_pca(emb, png)
    log_seams(emb, model.image_level)
    return png
