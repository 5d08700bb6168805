"""The downstream evaluation protocol of the S2Vec paper (section 5), end to end.

:func:`evaluate` aligns labels to the embedded cells, builds the input blocks
of each variant (raw normalised counts, S2Vec, location encoding, external
embeddings, their fusions), scales the target to [0, 1] with its min and max
over all labelled cells (as the paper does), sweeps the MLP hyperparameters
once per variant on the validation set of the first split, then trains and
tests that configuration on every split (20 random 60/20/20 splits, or a
spatial hold-out) and reports R2 and mean absolute error of the scaled
target on the test cells.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from s2vec_geo.downstream.external import (
    embeddings_for_cells,
    geoclip_cell_embeddings,
    read_cell_table,
)
from s2vec_geo.downstream.labels import align_labels, read_labels
from s2vec_geo.downstream.location import cell_location_encoding
from s2vec_geo.downstream.mlp import (
    DEFAULT_GRID,
    DEFAULT_SETTINGS,
    MLPConfig,
    TrainSettings,
    fit,
    sweep,
)
from s2vec_geo.downstream.splits import Region, holdout_splits, random_splits
from s2vec_geo.features import feature_columns
from s2vec_geo.images.stats import NormStats
from s2vec_geo.progress import progress
from s2vec_geo.s2 import cell_level, cell_parent, validate_level

log = logging.getLogger(__name__)

Table = str | os.PathLike | pd.DataFrame


@dataclass(frozen=True)
class Variant:
    """One model input: named blocks combined by a fusion (``concat``, ``wt-add``, ``proj-add``)."""

    name: str
    blocks: tuple[str, ...]
    fusion: str = "concat"


def default_variants(dims: Mapping[str, int]) -> list[Variant]:
    """The paper's comparison for the available blocks.

    ``counts``, ``s2vec``, ``location`` and ``s2vec+location`` when present,
    then for every other block ``X``: ``X`` alone and S2Vec fused with it by
    concat, wt-add (same length only) and proj-add.

    Examples
    --------
    >>> [v.name for v in default_variants({"s2vec": 8, "location": 96})]
    ['s2vec', 'location', 's2vec+location']
    """
    variants = [Variant(b, (b,)) for b in ("counts", "s2vec", "location") if b in dims]
    if "s2vec" in dims and "location" in dims:
        variants.append(Variant("s2vec+location", ("s2vec", "location")))
    for name in dims:
        if name in ("counts", "s2vec", "location"):
            continue
        variants.append(Variant(name, (name,)))
        if "s2vec" in dims:
            for fusion in ("concat", "wt-add", "proj-add"):
                if fusion != "wt-add" or dims[name] == dims["s2vec"]:
                    variants.append(Variant(f"s2vec+{name} {fusion}", ("s2vec", name), fusion))
    return variants


@dataclass
class EvaluationResult:
    """Scores of every variant on every split, with the settings that produced them."""

    scores: pd.DataFrame
    configs: dict[str, MLPConfig]
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation of R2 and MAE per variant, in evaluation order.

        Examples
        --------
        >>> r = EvaluationResult(pd.DataFrame({"variant": ["a", "a"], "split": [0, 1],
        ...     "r2": [0.5, 0.7], "mae": [0.1, 0.1]}), {})
        >>> round(float(r.summary().loc["a", "r2_mean"]), 2)
        0.6
        """
        order = list(dict.fromkeys(self.scores["variant"]))
        stats = self.scores.groupby("variant", sort=False)[["r2", "mae"]].agg(["mean", "std"])
        stats.columns = [f"{m}_{s}" for m, s in stats.columns]
        return stats.loc[order].fillna(0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready results: settings, chosen configurations, summary and per-split scores."""
        return {
            "settings": self.settings,
            "configs": {k: asdict(v) for k, v in self.configs.items()},
            "summary": {
                k: {m: float(v) for m, v in row.items()}
                for k, row in self.summary().to_dict(orient="index").items()
            },
            "scores": self.scores.to_dict(orient="records"),
        }


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan")


def _counts_block(source: Table, cells: np.ndarray) -> pd.DataFrame:
    """log1p + z-score counts, statistics over every cell of the featurized table."""
    table = read_cell_table(source)
    if table.index.name != "cell_id":
        raise ValueError("the counts table needs an int64 cell_id column (use s2vec featurize)")
    cols = feature_columns(table)
    if not cols:
        raise ValueError("the counts table has no numeric feature columns; use s2vec featurize")
    stats = NormStats.from_array(table[cols].to_numpy(np.float64), log1p=True, feature_names=cols)
    counts = table[cols].reindex(cells, fill_value=0)  # cells without features count zero
    return pd.DataFrame(stats.apply(counts.to_numpy(np.float64)), index=counts.index)


def _block_level(cells: np.ndarray, block_level: int) -> int:
    """Check that blocks are coarser than the labelled cells."""
    level = int(cell_level(cells[:1])[0])
    if validate_level(block_level, "block_level") >= level:
        raise ValueError(
            f"block_level ({block_level}) must be coarser (lower) than the cells' level "
            f"({level}), e.g. {max(level - 3, 0)}"
        )
    return block_level


def evaluate(
    embeddings: Table,
    labels: str | os.PathLike | gpd.GeoDataFrame,
    target: str,
    *,
    counts: Table | None = None,
    external: Mapping[str, Table] | None = None,
    geoclip: bool = False,
    location: bool = True,
    variants: Sequence[Variant] | None = None,
    n_splits: int = 20,
    holdout: Region | None = None,
    block_level: int | None = None,
    seed: int = 0,
    rule: str = "overlap",
    min_overlap: float = 0.5,
    labels_crs: str | int | None = None,
    drop_missing: bool = False,
    grid: Sequence[MLPConfig] = DEFAULT_GRID,
    train_settings: TrainSettings = DEFAULT_SETTINGS,
    location_scales: int = 16,
    threads: int = 1,
) -> EvaluationResult:
    """Evaluate S2Vec embeddings on a downstream regression target like the paper.

    Parameters
    ----------
    embeddings
        Embedding table (file or frame) indexed by int64 ``cell_id`` with
        ``emb_*`` columns, as written by ``s2vec embed``; its cells (one
        level) are the cells evaluated.
    labels
        Label file or GeoDataFrame (points or polygons), see
        :func:`~s2vec_geo.downstream.labels.read_labels`.
    target
        Column to predict.
    counts
        Featurized cell layer (``s2vec featurize``) for the raw-counts
        baseline (log1p + z-score); omitted when ``None``.
    external
        Other embeddings by name: tables keyed by ``cell_id`` or by point.
    geoclip
        Add GeoCLIP location-encoder embeddings of the cell centres (needs
        the optional ``geoclip`` package).
    location
        Add the Space2Vec-style location encoding and ``s2vec+location``.
    variants
        Variants to run; default :func:`default_variants` of the blocks.
    n_splits
        Number of splits / runs (paper: 20).
    holdout
        Spatial hold-out region (bounding box, polygon, or cell ids): the
        test set of every run; ``None`` for random 60/20/20 splits.
    block_level
        Random splits of whole blocks instead of single cells: the cells'
        ancestors at this S2 level (coarser than the cells) are shuffled into
        train, validation and test, so labels that are constant over an area
        (census tracts) cannot leak between neighbouring cells. ``None`` (the
        paper): cells are split independently.
    seed
        Seed of splits, initialisation and dropout: same seed, same scores.
    rule, min_overlap
        Polygon label alignment, see
        :func:`~s2vec_geo.downstream.labels.align_labels`.
    labels_crs, drop_missing
        Passed to :func:`~s2vec_geo.downstream.labels.read_labels`.
    grid
        Hyperparameter configurations swept on the first split's validation set.
    train_settings
        Epoch cap, early-stopping patience, batch size.
    location_scales
        Number of wavelengths of the location encoding.
    threads
        torch CPU threads while training (restored afterwards); one is fastest
        for these small models and fair to a shared machine.

    Returns
    -------
    EvaluationResult
        Per-split scores, chosen configurations and settings.

    Examples
    --------
    >>> result = evaluate("emb.gpkg", "tracts.gpkg", "income", n_splits=2)  # doctest: +SKIP
    >>> result.summary()[["r2_mean", "mae_mean"]]  # doctest: +SKIP
    """
    emb = read_cell_table(embeddings)
    if emb.index.name != "cell_id":
        raise ValueError("the embedding table needs an int64 cell_id column (use s2vec embed)")
    labels = read_labels(labels, target, crs=labels_crs, drop_missing=drop_missing)
    y_all = align_labels(labels, emb.index.to_numpy(), target, rule, min_overlap)
    cells = y_all.index.to_numpy()

    blocks: dict[str, pd.DataFrame] = {}
    if counts is not None:
        blocks["counts"] = _counts_block(counts, cells)
    blocks["s2vec"] = embeddings_for_cells(emb, cells, prefix="emb_")
    if location:
        enc = cell_location_encoding(cells, scales=location_scales)
        blocks["location"] = pd.DataFrame(enc, index=pd.Index(cells, name="cell_id"))
    for name, source in (external or {}).items():
        if name in blocks:
            raise ValueError(f"external embedding name {name!r} is reserved; rename it")
        blocks[name] = embeddings_for_cells(source, cells)
    if geoclip:
        blocks["geoclip"] = geoclip_cell_embeddings(cells)

    common = cells
    for name, block in blocks.items():
        kept = np.isin(common, block.index.to_numpy())
        if not kept.all():
            log.warning("%d labelled cells have no %s embedding: left out", (~kept).sum(), name)
        common = common[kept]
    if common.size == 0:
        raise ValueError("no labelled cell has every embedding; check the external tables")
    y = y_all.loc[common].to_numpy()
    lo, hi = float(y.min()), float(y.max())
    if hi == lo:
        raise ValueError(
            f"the target {target!r} is constant ({lo}) over the {y.size} labelled cells; "
            "nothing to predict: choose another target or a larger area"
        )
    y = (y - lo) / (hi - lo)
    arrays = {k: b.loc[common].to_numpy(np.float32) for k, b in blocks.items()}

    if holdout is not None and block_level is not None:
        raise ValueError("give either a spatial hold-out or a block level, not both")
    if holdout is not None:
        splits = holdout_splits(common, holdout, n_splits, seed=seed)
        split_name = "spatial hold-out"
    elif block_level is not None:
        blocks_of = cell_parent(common, _block_level(common, block_level))
        splits = random_splits(common.size, n_splits, seed=seed, groups=blocks_of)
        split_name = f"random 60/20/20 of level-{block_level} blocks"
    else:
        splits = random_splits(common.size, n_splits, seed=seed)
        split_name = "random 60/20/20"
    variants = list(variants or default_variants({k: a.shape[1] for k, a in arrays.items()}))
    for v in variants:
        missing = [b for b in v.blocks if b not in arrays]
        if missing:
            raise ValueError(
                f"variant {v.name!r} needs blocks {missing} that were not given; "
                f"available: {list(arrays)}"
            )

    rows, configs = [], {}
    bar = progress(total=len(variants) * (len(grid) + len(splits)), desc="evaluate")
    for v in variants:
        xs = [arrays[b] for b in v.blocks]

        def take(idx: np.ndarray, xs: list[np.ndarray] = xs) -> list[np.ndarray]:
            return [x[idx] for x in xs]

        first = splits[0]
        configs[v.name], _ = sweep(
            take(first.train),
            y[first.train],
            take(first.val),
            y[first.val],
            v.fusion,
            grid,
            seed,
            train_settings,
            threads,
        )
        bar.update(len(grid))
        for i, s in enumerate(splits):
            fitted = fit(
                take(s.train),
                y[s.train],
                take(s.val),
                y[s.val],
                v.fusion,
                configs[v.name],
                seed + i,
                train_settings,
                threads,
            )
            pred = fitted.predict(take(s.test))
            rows.append(
                {
                    "variant": v.name,
                    "split": i,
                    "r2": _r2(y[s.test], pred),
                    "mae": float(np.abs(y[s.test] - pred).mean()),
                    "epochs": fitted.epochs,
                }
            )
            bar.update(1)
    bar.close()
    settings = {
        "target": target,
        "level": int(cell_level(common[:1])[0]),
        "labelled_cells": int(common.size),
        "split": split_name,
        "n_splits": len(splits),
        "test_cells": int(splits[0].test.size),
        "seed": seed,
        "rule": rule,
        "min_overlap": min_overlap,
        "target_min": lo,
        "target_max": hi,
        "blocks": {k: int(a.shape[1]) for k, a in arrays.items()},
        "grid": [asdict(c) for c in grid],
        "train_settings": asdict(train_settings),
        "location_scales": location_scales,
    }
    return EvaluationResult(pd.DataFrame(rows), configs, settings)
