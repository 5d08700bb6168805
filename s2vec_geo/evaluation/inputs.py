"""What an evaluation reads: areas, their aligned targets and the input blocks of their cells.

An :class:`Area` names an embedding table, labels, the target column and the
options to read and align them. :func:`prepare_areas` turns areas into
:class:`CellData`: the labelled cells of each area that have every input
block (raw counts, S2Vec, location encoding, external tables, GeoCLIP), the
target of each cell (transformed, not yet scaled) and the blocks as arrays.
The single-area :func:`~s2vec_geo.evaluation.protocol.evaluate` and the
multi-area :func:`~s2vec_geo.evaluation.areas.evaluate_areas` both read their
inputs this way.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from s2vec_geo.core.schema import CELL_ID
from s2vec_geo.evaluation.baselines import (
    BASELINES,
    multiscale_blocks,
    normalized_blocks,
    untrained_embeddings,
)
from s2vec_geo.evaluation.external import (
    embeddings_for_cells,
    geoclip_cell_embeddings,
    read_cell_table,
)
from s2vec_geo.evaluation.labels import align_labels, read_labels
from s2vec_geo.evaluation.location import cell_location_encoding
from s2vec_geo.evaluation.targets import check_transform, transform_labels, transform_values
from s2vec_geo.s2 import single_level

log = logging.getLogger(__name__)

#: An embedding or cell table: a file path or a frame keyed by ``cell_id``.
Table = str | os.PathLike | pd.DataFrame
#: Labels: a vector file or lon/lat CSV, or a (Geo)DataFrame.
Labels = str | os.PathLike | gpd.GeoDataFrame | pd.DataFrame

#: Summary rows of a multi-area report; no area may take these names.
MEAN_OVER_AREAS = "mean over areas"
POOLED = "pooled"


@dataclass(eq=False)
class Area:
    """One evaluated area: an embedding table, labels and the target to predict.

    Parameters
    ----------
    name
        Name in reports (unique among the areas of one evaluation).
    embeddings
        Embedding table (``s2vec embed``): int64 ``cell_id`` and ``emb_*``
        columns. Embed every area with the same model and cell level.
    labels
        Label file or frame (points or polygons), see
        :func:`~s2vec_geo.evaluation.labels.read_labels`.
    target
        Label column to predict.
    counts
        Featurized cells (``s2vec featurize``) for the raw-counts baseline.
    transform
        Target transforms, see :mod:`~s2vec_geo.evaluation.targets`:
        ``("density", "log")`` turns polygon population counts into log
        population density.
    labels_crs, lon_col, lat_col
        How to read the labels (CRS when the file has none; CSV columns).
    rule, min_overlap, drop_missing
        Label alignment and missing values; ``None`` takes the evaluation's
        setting.
    external
        Other embeddings of this area by name (tables keyed by cell or point).
    model
        The model behind ``embeddings`` (file or :class:`~s2vec_geo.S2VecModel`),
        for the untrained-network baseline; default: the model file the
        embedding layer's provenance records.

    Examples
    --------
    >>> Area("nyc", "nyc/embeddings.gpkg", "tracts.shp", "poptot",
    ...      transform=["density", "log"], labels_crs="EPSG:4326").transform
    ('density', 'log')
    """

    name: str
    embeddings: Table
    labels: Labels
    target: str
    counts: Table | None = None
    transform: Sequence[str] = ()
    labels_crs: str | int | None = None
    lon_col: str | None = None
    lat_col: str | None = None
    rule: str | None = None
    min_overlap: float | None = None
    drop_missing: bool | None = None
    external: Mapping[str, Table] = field(default_factory=dict)
    model: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"an area needs a non-empty name, got {self.name!r}")
        if self.name in (MEAN_OVER_AREAS, POOLED):
            raise ValueError(f"{self.name!r} names a summary row of the report; rename the area")
        if not isinstance(self.target, str) or not self.target:
            raise ValueError(f"area {self.name!r} needs a target column name")
        self.transform = check_transform(self.transform)
        self.external = dict(self.external)


@dataclass
class CellData:
    """The labelled cells of an area with their target and input blocks, row-aligned.

    ``y`` is the transformed target in its own units (not yet scaled);
    ``blocks`` maps block name to a float32 ``(cells, width)`` array.
    """

    name: str
    target: str
    cells: np.ndarray
    y: np.ndarray
    blocks: dict[str, np.ndarray]

    @property
    def level(self) -> int:
        """The S2 level of the cells."""
        return single_level(self.cells, "the cells mix S2 levels {levels}")

    @property
    def widths(self) -> dict[str, int]:
        """Width of every input block."""
        return {k: int(b.shape[1]) for k, b in self.blocks.items()}

    @classmethod
    def concat(cls, parts: Sequence[CellData], name: str = "all areas") -> CellData:
        """Stack the rows of several areas (same blocks and widths) in order.

        Examples
        --------
        >>> a = CellData("a", "y", np.array([1]), np.array([2.0]), {"s2vec": np.ones((1, 2))})
        >>> CellData.concat([a, a]).blocks["s2vec"].shape
        (2, 2)
        """
        widths = parts[0].widths
        for p in parts[1:]:
            if p.widths != widths:
                raise ValueError(
                    f"areas {parts[0].name!r} and {p.name!r} have different input blocks "
                    f"({widths} and {p.widths}); embed every area with the same model and "
                    "give every area the same external tables"
                )
        return cls(
            name,
            ", ".join(dict.fromkeys(p.target for p in parts)),
            np.concatenate([p.cells for p in parts]),
            np.concatenate([p.y for p in parts]),
            {k: np.concatenate([p.blocks[k] for p in parts]) for k in widths},
        )


@contextlib.contextmanager
def area_errors(name: str | None) -> Iterator[None]:
    """Prefix bad-input errors raised inside the block with ``area 'name': ``.

    Examples
    --------
    >>> with area_errors("nyc"):
    ...     raise ValueError("no labels")
    Traceback (most recent call last):
    ValueError: area 'nyc': no labels
    """
    try:
        yield
    except (ValueError, FileNotFoundError) as exc:
        if name is None:
            raise
        raise type(exc)(f"area {name!r}: {exc}") from exc


def read_keyed_table(
    source: Table, what: str = "embedding", made_by: str = "s2vec embed"
) -> pd.DataFrame:
    """A cell table indexed by ``cell_id``; an error naming ``what`` if it has none.

    Examples
    --------
    >>> read_keyed_table(pd.DataFrame({"cell_id": [5], "emb_000": [0.5]})).index.name
    'cell_id'
    >>> read_keyed_table(pd.DataFrame({"shop": [2]}), "counts", "s2vec featurize")
    Traceback (most recent call last):
    ValueError: the counts table needs an int64 cell_id column (use s2vec featurize)
    """
    table = read_cell_table(source)
    if table.index.name != CELL_ID:
        name = "" if isinstance(source, pd.DataFrame) else f" {str(source)!r}"
        raise ValueError(f"the {what} table{name} needs an int64 cell_id column (use {made_by})")
    return table


def area_target(
    area: Area, cells: np.ndarray, rule: str, min_overlap: float, drop_missing: bool
) -> pd.Series:
    """The area's target on ``cells``: read, transformed and aligned (see :class:`Area`)."""
    labels = read_labels(
        area.labels,
        area.target,
        crs=area.labels_crs,
        lon_col=area.lon_col,
        lat_col=area.lat_col,
        drop_missing=drop_missing if area.drop_missing is None else area.drop_missing,
    )
    labels = transform_labels(labels, area.target, area.transform)
    aligned = align_labels(
        labels,
        cells,
        area.target,
        rule if area.rule is None else area.rule,
        min_overlap if area.min_overlap is None else area.min_overlap,
    )
    return transform_values(aligned, area.transform)


def input_blocks(
    cells: np.ndarray,
    emb: pd.DataFrame,
    counts: pd.DataFrame | None,
    external: Mapping[str, Table],
    *,
    baselines: Mapping[str, pd.DataFrame],
    location: bool,
    location_scales: int,
    geoclip: bool,
) -> dict[str, pd.DataFrame]:
    """Every input block of the cells, by name, in the order of the default variants."""
    blocks: dict[str, pd.DataFrame] = {}
    if counts is not None:
        blocks["counts"] = counts
    blocks.update(baselines)
    blocks["s2vec"] = embeddings_for_cells(emb, cells, prefix="emb_")
    if location:
        enc = cell_location_encoding(cells, scales=location_scales)
        blocks["location"] = pd.DataFrame(enc, index=pd.Index(cells, name=CELL_ID))
    for name, source in external.items():
        if name in blocks or name in BASELINES or (geoclip and name == "geoclip"):
            raise ValueError(f"external embedding name {name!r} is reserved; rename it")
        blocks[name] = embeddings_for_cells(source, cells)
    if geoclip:
        blocks["geoclip"] = geoclip_cell_embeddings(cells)
    return blocks


def labelled_cells(
    name: str, target: str, y: pd.Series, blocks: Mapping[str, pd.DataFrame]
) -> CellData:
    """Keep the labelled cells that have every block; log how many each block lacks."""
    common = y.index.to_numpy()
    for block_name, block in blocks.items():
        kept = np.isin(common, block.index.to_numpy())
        if not kept.all():
            log.warning(
                "%d labelled cells have no %s embedding: left out", (~kept).sum(), block_name
            )
        common = common[kept]
    if common.size == 0:
        raise ValueError("no labelled cell has every embedding; check the external tables")
    arrays = {k: b.loc[common].to_numpy(np.float32) for k, b in blocks.items()}
    return CellData(name, target, common, y.loc[common].to_numpy(np.float64), arrays)


def _merged_external(area: Area, external: Mapping[str, Table]) -> dict[str, Table]:
    both = sorted(set(area.external) & set(external))
    if both:
        raise ValueError(
            f"external embeddings {both} are given for every area and for this area; keep one"
        )
    return {**external, **area.external}


def baseline_blocks(
    areas: Sequence[Area],
    tables: Sequence[pd.DataFrame],
    cells: Sequence[np.ndarray],
    chosen: Mapping[str, bool],
    seed: int = 0,
) -> list[dict[str, pd.DataFrame]]:
    """The baseline blocks (``multiscale``, ``untrained``) of every area, as ``chosen``.

    None without counts tables; the untrained network only when the model of
    every area's embeddings is known (a block must exist for all areas or none).
    """
    out: list[dict[str, pd.DataFrame]] = [{} for _ in areas]
    if not tables or not any(chosen.values()):
        return out
    if chosen.get("multiscale"):
        for blocks, block in zip(out, multiscale_blocks(tables, cells), strict=True):
            blocks["multiscale"] = block
    if chosen.get("untrained"):
        twins: dict = {}  # one untrained twin per model, however many areas it embedded
        embedded = [
            untrained_embeddings(t, ids, a.embeddings, a.model, seed, twins)
            for a, t, ids in zip(areas, tables, cells, strict=True)
        ]
        if all(e is not None for e in embedded):
            for blocks, block in zip(out, embedded, strict=True):
                blocks["untrained"] = block
        else:
            log.warning(
                "no untrained-network baseline: the model behind the embeddings of %s is not "
                "recorded or its file is gone; give the model file to compare with it",
                ", ".join(repr(a.name) for a, e in zip(areas, embedded, strict=True) if e is None),
            )
    return out


def prepare_areas(
    areas: Sequence[Area],
    *,
    rule: str = "overlap",
    min_overlap: float = 0.5,
    drop_missing: bool = False,
    external: Mapping[str, Table] | None = None,
    location: bool = True,
    location_scales: int = 16,
    geoclip: bool = False,
    multiscale: bool = True,
    untrained: bool = True,
    seed: int = 0,
    name_errors: bool = True,
) -> list[CellData]:
    """Read, transform and align every area's labels and build its input blocks.

    Parameters
    ----------
    areas
        The areas.
    rule, min_overlap, drop_missing
        Defaults for areas that do not set their own.
    external
        Embeddings used for every area (each area may add its own).
    location, location_scales, geoclip
        Add the location encoding (with that many wavelengths) / GeoCLIP.
    multiscale, untrained, seed
        Add the multi-scale neighbourhood counts / the untrained network
        (random weights seeded with ``seed``) baselines; both need every
        area's counts table (:mod:`~s2vec_geo.evaluation.baselines`).
    name_errors
        Prefix bad-input errors with the area's name.

    Returns
    -------
    list of CellData
        One per area, in order.
    """
    if any(a.counts is not None for a in areas) and any(a.counts is None for a in areas):
        raise ValueError("give a counts table for every area or for none of them")
    embs, targets, tables = [], [], []
    for area in areas:
        with area_errors(area.name if name_errors else None):
            embs.append(read_keyed_table(area.embeddings))
            cells = embs[-1].index.to_numpy()
            targets.append(area_target(area, cells, rule, min_overlap, drop_missing))
            if area.counts is not None:
                tables.append(read_keyed_table(area.counts, "counts", "s2vec featurize"))
    labelled = [t.index.to_numpy() for t in targets]
    counts: list[pd.DataFrame | None] = [None] * len(areas)
    if tables:
        counts = list(normalized_blocks(tables, labelled))
    chosen = {"multiscale": multiscale, "untrained": untrained}
    baselines = baseline_blocks(areas, tables, labelled, chosen, seed)
    out = []
    for area, emb, y, count, base in zip(areas, embs, targets, counts, baselines, strict=True):
        with area_errors(area.name if name_errors else None):
            blocks = input_blocks(
                y.index.to_numpy(),
                emb,
                count,
                _merged_external(area, external or {}),
                baselines=base,
                location=location,
                location_scales=location_scales,
                geoclip=geoclip,
            )
            out.append(labelled_cells(area.name, area.target, y, blocks))
    return out
