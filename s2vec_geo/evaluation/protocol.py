"""The downstream evaluation protocol of the S2Vec paper (section 5), end to end.

:func:`evaluate` runs it in steps: read the inputs (align labels to the
embedded cells and build the input blocks of each variant: raw normalised
counts, S2Vec, location encoding, external embeddings, see :mod:`.inputs`),
scale the target to [0, 1] with its min and max over all labelled cells (as
the paper does), make the splits (:func:`make_splits`: 20 random 60/20/20
splits, random splits of whole blocks, or a spatial hold-out), then for every
variant (:func:`run_variant`) sweep the MLP hyperparameters on the validation
set of the first split, train and test that configuration on every split and
score the test cells: R2, mean absolute error of the scaled target and
Spearman rank correlation. The multi-area evaluation
(:func:`~s2vec_geo.evaluation.areas.evaluate_areas`) reuses these steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from s2vec_geo.core.guards import at_most_cores
from s2vec_geo.core.options import EVALUATION, THREADS, check_fields
from s2vec_geo.core.progress import progress
from s2vec_geo.evaluation.baselines import BASELINES
from s2vec_geo.evaluation.inputs import Area, Labels, Table, prepare_areas
from s2vec_geo.evaluation.metrics import score, summarize
from s2vec_geo.evaluation.mlp import (
    DEFAULT_GRID,
    DEFAULT_SETTINGS,
    MLPConfig,
    TrainSettings,
    fit,
    sweep,
)
from s2vec_geo.evaluation.splits import Region, Split, holdout_splits, random_splits
from s2vec_geo.evaluation.targets import TargetScale
from s2vec_geo.s2 import cell_level, cell_parent, validate_level


@dataclass(frozen=True)
class Variant:
    """One model input: named blocks combined by a fusion (``concat``, ``wt-add``, ``proj-add``)."""

    name: str
    blocks: tuple[str, ...]
    fusion: str = "concat"


@dataclass(frozen=True)
class EvalConfig:
    """Settings of an evaluation, one area (:func:`evaluate`) or several (``evaluate_areas``).

    The declared options (:data:`s2vec_geo.core.options.EVALUATION`: names,
    defaults, ranges; the command line's and QGIS's too) and the Python-only
    ones (``variants``, ``grid``, ``train_settings``, ``location_scales``).
    Both functions also take every field as a keyword, which overrides the
    ``config`` given (``evaluate(emb, labels, "y", n_splits=3)``).

    Parameters
    ----------
    n_splits
        Number of splits / runs (paper: 20).
    holdout
        One area: a spatial hold-out region (bounding box, polygon, or cell
        ids), the test set of every run; ``None`` for random 60/20/20 splits.
    block_level
        Random splits of whole blocks instead of single cells: the cells'
        ancestors at this S2 level (coarser than the cells) are shuffled into
        train, validation and test, so labels that are constant over an area
        (census tracts) cannot leak between neighbouring cells. ``None`` (the
        paper): cells are split independently (several areas: three levels
        coarser than the cells).
    seed
        Seed of splits, initialisation and dropout: same seed, same scores.
    rule, min_overlap, drop_missing
        Polygon label alignment and missing values, see
        :func:`~s2vec_geo.evaluation.labels.align_labels` (for the areas
        that do not set them).
    geoclip
        Add GeoCLIP location-encoder embeddings of the cell centres (needs
        the optional ``geoclip`` package).
    location
        Add the Space2Vec-style location encoding and ``s2vec+location``.
    multiscale, untrained
        Add the multi-scale neighbourhood counts and the untrained-network
        baselines (:mod:`~s2vec_geo.evaluation.baselines`); both need the
        counts, the untrained network also the model.
    threads
        torch CPU threads while training (restored afterwards); one is fastest
        for these small models and fair to a shared machine.
    transfer_val_fraction
        Several areas, leave-one-area-out: share of the training areas' cells
        (whole blocks) that validate the MLP.
    variants
        Variants to run; default :func:`default_variants` of the blocks.
    grid
        Hyperparameter configurations swept on the first split's validation set.
    train_settings
        Epoch cap, early-stopping patience, batch size.
    location_scales
        Number of wavelengths of the location encoding.

    Examples
    --------
    >>> EvalConfig(n_splits=3).seed, EvalConfig.of(None, {"n_splits": 3}).n_splits
    (0, 3)
    >>> EvalConfig(n_splits=0)
    Traceback (most recent call last):
    ...
    ValueError: EvalConfig.n_splits must be >= 1, got 0
    """

    n_splits: int = 20
    holdout: Region | None = None
    block_level: int | None = None
    seed: int = 0
    rule: str = "overlap"
    min_overlap: float = 0.5
    drop_missing: bool = False
    geoclip: bool = False
    location: bool = True
    multiscale: bool = True
    untrained: bool = True
    threads: int = 1
    transfer_val_fraction: float = 0.25
    variants: Sequence[Variant] | None = None
    grid: Sequence[MLPConfig] = DEFAULT_GRID
    train_settings: TrainSettings = DEFAULT_SETTINGS
    location_scales: int = 16

    def __post_init__(self) -> None:
        check_fields(self, EVALUATION, "EvalConfig")  # every range: declared in core.options
        object.__setattr__(self, "threads", at_most_cores(self.threads, THREADS))

    @classmethod
    def of(cls, config: EvalConfig | None, options: Mapping[str, Any]) -> EvalConfig:
        """``config`` (default: the defaults) with the fields named in ``options`` replaced.

        Examples
        --------
        >>> EvalConfig.of(EvalConfig(seed=3), {"n_splits": 2}).seed
        3
        >>> EvalConfig.of(None, {"n_split": 2})
        Traceback (most recent call last):
        ...
        TypeError: unknown evaluation setting n_split; the settings are the fields of EvalConfig
        """
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(
                f"unknown evaluation setting {', '.join(unknown)}; the settings are the fields "
                "of EvalConfig"
            )
        return replace(config or cls(), **options)

    def inputs(self) -> dict[str, Any]:
        """The settings that build the input blocks (:func:`~.inputs.prepare_areas`)."""
        names = ("rule", "min_overlap", "drop_missing", "location", "location_scales")
        names += ("geoclip", "multiscale", "untrained", "seed")
        return {name: getattr(self, name) for name in names}

    def fitting(self) -> dict[str, Any]:
        """The settings of every variant's sweep and runs (:func:`run_variant`)."""
        return {
            "grid": self.grid,
            "seed": self.seed,
            "train_settings": self.train_settings,
            "threads": self.threads,
        }

    def recorded(self, widths: Mapping[str, int]) -> dict[str, Any]:
        """What every report records of the run: block widths, MLP grid and training limits.

        Examples
        --------
        >>> sorted(EvalConfig(grid=DEFAULT_GRID[:1]).recorded({"s2vec": 8}))
        ['blocks', 'grid', 'location_scales', 'train_settings']
        """
        return {
            "blocks": dict(widths),
            "grid": [asdict(c) for c in self.grid],
            "train_settings": asdict(self.train_settings),
            "location_scales": self.location_scales,
        }


def default_variants(dims: Mapping[str, int]) -> list[Variant]:
    """The paper's comparison for the available blocks, with the baselines S2Vec must beat.

    ``counts``, ``multiscale``, ``untrained``, ``s2vec``, ``location`` and
    ``s2vec+location`` when present,
    then for every other block ``X``: ``X`` alone and S2Vec fused with it by
    concat, wt-add (same length only) and proj-add.

    Examples
    --------
    >>> [v.name for v in default_variants({"s2vec": 8, "location": 96})]
    ['s2vec', 'location', 's2vec+location']
    """
    singles = ("counts", *BASELINES, "s2vec", "location")
    variants = [Variant(b, (b,)) for b in singles if b in dims]
    if "s2vec" in dims and "location" in dims:
        variants.append(Variant("s2vec+location", ("s2vec", "location")))
    for name in dims:
        if name in singles:
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
        """Mean and standard deviation of every metric per variant, in evaluation order.

        Examples
        --------
        >>> r = EvaluationResult(pd.DataFrame({"variant": ["a", "a"], "split": [0, 1],
        ...     "r2": [0.5, 0.7], "mae": [0.1, 0.1]}), {})
        >>> round(float(r.summary().loc["a", "r2_mean"]), 2)
        0.6
        """
        return summarize(self.scores, ["variant"])

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


@dataclass
class VariantRuns:
    """One variant trained and tested on every split of an evaluation."""

    variant: Variant
    config: MLPConfig
    scores: list[dict[str, float]]
    predictions: list[np.ndarray]


def check_block_level(cells: np.ndarray, block_level: int) -> int:
    """Check that blocks are coarser than the labelled cells.

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> check_block_level(latlng_to_cell([40.7], [-74.0], 15), 12)
    12
    """
    level = int(cell_level(cells[:1])[0])
    if validate_level(block_level, "block_level") >= level:
        raise ValueError(
            f"block_level ({block_level}) must be coarser (lower) than the cells' level "
            f"({level}), e.g. {max(level - 3, 0)}"
        )
    return block_level


def make_splits(
    cells: np.ndarray,
    n_splits: int,
    holdout: Region | None = None,
    block_level: int | None = None,
    seed: int = 0,
) -> tuple[list[Split], str]:
    """The splits of one area and their description for the report.

    Random 60/20/20 splits of the cells; of whole blocks (the cells' ancestors
    at ``block_level``); or a spatial hold-out region as every split's test set.

    Examples
    --------
    >>> from s2vec_geo.s2 import cover
    >>> import shapely
    >>> cells = cover(shapely.box(-74.02, 40.70, -74.0, 40.72), 15)
    >>> make_splits(cells, 2, block_level=13)[1]
    'random 60/20/20 of level-13 blocks'
    """
    if holdout is not None and block_level is not None:
        raise ValueError("give either a spatial hold-out or a block level, not both")
    if holdout is not None:
        return holdout_splits(cells, holdout, n_splits, seed=seed), "spatial hold-out"
    if block_level is not None:
        blocks_of = cell_parent(cells, check_block_level(cells, block_level))
        splits = random_splits(cells.size, n_splits, seed=seed, groups=blocks_of)
        return splits, f"random 60/20/20 of level-{block_level} blocks"
    return random_splits(cells.size, n_splits, seed=seed), "random 60/20/20"


def check_variants(variants: Sequence[Variant] | None, widths: Mapping[str, int]) -> list[Variant]:
    """The variants to run (default: :func:`default_variants`); each must have its blocks.

    Examples
    --------
    >>> [v.name for v in check_variants(None, {"s2vec": 8})]
    ['s2vec']
    """
    variants = list(variants or default_variants(widths))
    for v in variants:
        missing = [b for b in v.blocks if b not in widths]
        if missing:
            raise ValueError(
                f"variant {v.name!r} needs blocks {missing} that were not given; "
                f"available: {list(widths)}"
            )
    return variants


def run_variant(
    variant: Variant,
    blocks: Mapping[str, np.ndarray],
    y: np.ndarray,
    splits: Sequence[Split],
    *,
    grid: Sequence[MLPConfig] = DEFAULT_GRID,
    seed: int = 0,
    train_settings: TrainSettings = DEFAULT_SETTINGS,
    threads: int = 1,
    bar: Any = None,
) -> VariantRuns:
    """Sweep on the first split's validation set, then train, predict and score every split.

    Parameters
    ----------
    variant
        The blocks to use and their fusion.
    blocks
        Input blocks by name, rows aligned with ``y``.
    y
        The scaled target of every row.
    splits
        Row positions of training, validation and test per run.
    grid, seed, train_settings, threads
        As in :func:`evaluate`; run ``i`` trains with seed ``seed + i``.
    bar
        Progress bar to advance (``len(grid) + len(splits)`` steps), or ``None``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 2)).astype(np.float32); y = (x[:, 0] > 0) * 1.0
    >>> runs = run_variant(Variant("s2vec", ("s2vec",)), {"s2vec": x}, y,
    ...     random_splits(40, 2), grid=DEFAULT_GRID[:1], train_settings=TrainSettings(20, 5))
    >>> sorted(runs.scores[0])
    ['epochs', 'mae', 'r2', 'spearman']
    """
    xs = [blocks[b] for b in variant.blocks]

    def take(idx: np.ndarray) -> list[np.ndarray]:
        return [x[idx] for x in xs]

    first = splits[0]
    config, _ = sweep(
        take(first.train),
        y[first.train],
        take(first.val),
        y[first.val],
        variant.fusion,
        grid,
        seed,
        train_settings,
        threads,
    )
    if bar is not None:
        bar.update(len(grid))
    scores, predictions = [], []
    for i, s in enumerate(splits):
        fitted = fit(
            take(s.train),
            y[s.train],
            take(s.val),
            y[s.val],
            variant.fusion,
            config,
            seed + i,
            train_settings,
            threads,
        )
        pred = fitted.predict(take(s.test))
        scores.append({**score(y[s.test], pred), "epochs": fitted.epochs})
        predictions.append(pred)
        if bar is not None:
            bar.update(1)
    return VariantRuns(variant, config, scores, predictions)


def evaluate(
    embeddings: Table,
    labels: Labels,
    target: str,
    config: EvalConfig | None = None,
    *,
    counts: Table | None = None,
    external: Mapping[str, Table] | None = None,
    model: Any = None,
    transform: Sequence[str] = (),
    labels_crs: str | int | None = None,
    lon_col: str | None = None,
    lat_col: str | None = None,
    **settings: Any,
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
        :func:`~s2vec_geo.evaluation.labels.read_labels`.
    target
        Column to predict.
    config
        The evaluation's settings (:class:`EvalConfig`; default: the paper's).
    counts
        Featurized cell layer (``s2vec featurize``) for the raw-counts
        baseline (log1p + z-score) and the multi-scale and untrained-network
        baselines; omitted when ``None``.
    external
        Other embeddings by name: tables keyed by ``cell_id`` or by point.
    model
        The model behind ``embeddings`` (file or model), for the untrained
        network; default: the model file recorded in the embeddings' provenance.
    transform
        Target transforms (``"density"``, ``"log"``), see
        :mod:`~s2vec_geo.evaluation.targets`.
    labels_crs, lon_col, lat_col
        Passed to :func:`~s2vec_geo.evaluation.labels.read_labels`.
    **settings
        Fields of :class:`EvalConfig` (``n_splits=3``, ``holdout=...``,
        ``block_level=...``, ``seed=...``, ...), replacing those of ``config``.

    Returns
    -------
    EvaluationResult
        Per-split scores, chosen configurations and settings.

    Examples
    --------
    >>> result = evaluate("emb.gpkg", "tracts.gpkg", "income", n_splits=2)  # doctest: +SKIP
    >>> result.summary()[["r2_mean", "mae_mean", "spearman_mean"]]  # doctest: +SKIP
    """
    cfg = EvalConfig.of(config, settings)
    area = Area(
        "area",
        embeddings,
        labels,
        target,
        counts=counts,
        transform=transform,
        labels_crs=labels_crs,
        lon_col=lon_col,
        lat_col=lat_col,
        model=model,
    )
    (data,) = prepare_areas([area], external=external, name_errors=False, **cfg.inputs())
    scale = TargetScale.fit(data.y, target)
    splits, split_name = make_splits(
        data.cells, cfg.n_splits, cfg.holdout, cfg.block_level, cfg.seed
    )
    variants = check_variants(cfg.variants, data.widths)
    bar = progress(total=len(variants) * (len(cfg.grid) + len(splits)), desc="evaluate")
    y = scale.apply(data.y)
    runs = [run_variant(v, data.blocks, y, splits, bar=bar, **cfg.fitting()) for v in variants]
    bar.close()
    rows = [
        {"variant": r.variant.name, "split": i, **s} for r in runs for i, s in enumerate(r.scores)
    ]
    settings = {
        "target": target,
        "transform": list(area.transform),
        "level": data.level,
        "labelled_cells": int(data.cells.size),
        "split": split_name,
        "n_splits": len(splits),
        "test_cells": int(splits[0].test.size),
        "seed": cfg.seed,
        "rule": cfg.rule,
        "min_overlap": cfg.min_overlap,
        "target_min": scale.lo,
        "target_max": scale.hi,
        **cfg.recorded(data.widths),
    }
    return EvaluationResult(pd.DataFrame(rows), {r.variant.name: r.config for r in runs}, settings)
