"""Evaluation over several areas: leave-one-area-out transfer and per-area block splits.

What built-environment embeddings are for is describing a place that neither
the embedding model's user nor the regressor has labels for. With several
areas (:class:`~s2vec_geo.evaluation.inputs.Area`), :func:`evaluate_areas`
measures that in two modes, with the same steps as the single-area
:func:`~s2vec_geo.evaluation.protocol.evaluate`:

- ``"leave-one-area-out"``: each area in turn is the test set; the MLP trains
  on all the other areas. Validation (early stopping and the hyperparameter
  sweep, which is redone for every held-out area) is a seeded random share
  (``transfer_val_fraction``, default 25 %) of whole blocks (the cells' ancestors at
  ``block_level``) of the training areas' cells, never cells of the test
  area. The target is min-max scaled with ONE min and max over all the
  training areas' labelled cells, and the test area's values with the same
  constants (so they may fall outside [0, 1]): the test area's labels are
  never looked at before testing. Each area's scores are its own test cells';
  "mean over areas" averages the areas' means (its spread is the standard
  deviation across areas); "pooled" scores all areas' test cells together,
  every prediction mapped back to the target's units and scaled with the
  min and max over all areas, so that R2, MAE and Spearman compare across
  folds.
- ``"blocks"``: every area on its own with random 60/20/20 splits of whole
  blocks, the target scaled with the area's own min and max (exactly
  :func:`~s2vec_geo.evaluation.protocol.evaluate` with ``block_level``);
  reported per area and as the mean over areas.

Areas should share one target on one scale: use the per-area target
transforms (``transform=("density", "log")`` for population counts over
polygons, see :mod:`~s2vec_geo.evaluation.targets`) to put them there. All
areas must be embedded at one S2 level by one model.

An areas file (TOML, read by :func:`read_areas`; a full example is in
``s2vec evaluate --help``) has one ``[[area]]`` table per area with the keys
``name``, ``embeddings``, ``labels``, ``target`` (required), ``counts``,
``transform``, ``labels_crs``, ``lon_col``, ``lat_col``, ``rule``,
``min_overlap``, ``drop_missing`` and ``external`` (a table ``NAME = "path"``
for this area only). Keys outside the ``[[area]]`` tables are defaults for
every area, and an ``[external]`` table adds embeddings to every area.
Relative paths are read from the file's folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from s2vec_geo.core.errors import not_utf8
from s2vec_geo.core.progress import progress
from s2vec_geo.evaluation.inputs import (
    MEAN_OVER_AREAS,
    POOLED,
    Area,
    CellData,
    Table,
    area_errors,
    prepare_areas,
)
from s2vec_geo.evaluation.metrics import METRICS, score, summarize
from s2vec_geo.evaluation.mlp import MLPConfig
from s2vec_geo.evaluation.protocol import (
    EvalConfig,
    Variant,
    VariantRuns,
    check_block_level,
    check_variants,
    make_splits,
    run_variant,
)
from s2vec_geo.evaluation.splits import Split, area_splits
from s2vec_geo.evaluation.targets import TargetScale
from s2vec_geo.s2 import cell_parent, single_level

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]

LEAVE_ONE_AREA_OUT = "leave-one-area-out"
BLOCKS = "blocks"
#: Evaluation modes of :func:`evaluate_areas`.
MODES = (LEAVE_ONE_AREA_OUT, BLOCKS)

_AREA_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "embeddings": (str,),
    "labels": (str,),
    "target": (str,),
    "counts": (str,),
    "model": (str,),
    "transform": (str, list),
    "labels_crs": (str, int),
    "lon_col": (str,),
    "lat_col": (str,),
    "rule": (str,),
    "min_overlap": (float, int),
    "drop_missing": (bool,),
    "external": (dict,),
}
_PATHS = ("embeddings", "labels", "counts", "model")
_DEFAULTS = (
    "target",
    "transform",
    "labels_crs",
    "lon_col",
    "lat_col",
    "rule",
    "min_overlap",
    "drop_missing",
)
_TOP_KEYS = ("area", "external", *_DEFAULTS)


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise ValueError(
            f"{where}: unknown key {unknown[0]!r}; use one of {', '.join(allowed)} "
            "(see s2vec evaluate --help)"
        )


def _existing(value: Any, base: Path, where: str) -> Path:
    """A path from the areas file, relative ones resolved against its folder; must exist."""
    path = Path(value)
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise ValueError(
            f"{where}: file {str(path)!r} does not exist; fix the path (relative paths are "
            "read from the areas file's folder)"
        )
    return path


def _external_paths(table: Any, base: Path, where: str) -> dict[str, Path]:
    if not isinstance(table, dict):
        raise ValueError(f'{where}: external must be a table of NAME = "path" entries')
    bad = [k for k, v in table.items() if not isinstance(v, str)]
    if bad:
        raise ValueError(f"{where}: external {bad[0]!r} must be a path in quotes")
    return {k: _existing(v, base, f"{where}: external {k!r}") for k, v in table.items()}


def _area_from_toml(
    table: Any, defaults: Mapping[str, Any], external: Mapping[str, Path], base: Path, where: str
) -> Area:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: write each area as an [[area]] table")
    if "name" in table:
        where = f"{where} {table['name']!r}"
    _check_keys(table, tuple(_AREA_TYPES), where)
    fields = {**defaults, **table}
    missing = [k for k in ("name", "embeddings", "labels", "target") if k not in fields]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}; add them to the [[area]] table")
    for key, value in fields.items():
        if not isinstance(value, _AREA_TYPES[key]) or (
            isinstance(value, bool) and key != "drop_missing"
        ):
            kinds = " or ".join(t.__name__ for t in _AREA_TYPES[key])
            raise ValueError(f"{where}: {key} must be a {kinds}, got {value!r}")
    for key in _PATHS:
        if key in fields:
            fields[key] = _existing(fields[key], base, f"{where}: {key}")
    own = _external_paths(fields.pop("external", {}), base, where)
    both = sorted(set(own) & set(external))
    if both:
        raise ValueError(f"{where}: external {both[0]!r} is also in [external]; keep one")
    try:
        return Area(**fields, external={**external, **own})
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def read_areas(path: str | os.PathLike) -> list[Area]:
    """Read the areas of a multi-area evaluation from a TOML file (format: module docs).

    Relative paths resolve against the file's folder; every named file must
    exist. Keys outside ``[[area]]`` tables are defaults for every area.

    Raises
    ------
    ValueError
        One line naming the problem and the fix: a missing file, an unknown
        key, a missing required key, a duplicate name, invalid TOML.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("a.gpkg", "a.csv", "b.gpkg", "b.csv"):
    ...     (folder / name).touch()
    >>> _ = (folder / "areas.toml").write_text('''
    ... target = "population"
    ... transform = "log"
    ... [[area]]
    ... name = "a"
    ... embeddings = "a.gpkg"
    ... labels = "a.csv"
    ... [[area]]
    ... name = "b"
    ... embeddings = "b.gpkg"
    ... labels = "b.csv"
    ... lon_col = "x"
    ... ''')
    >>> areas = read_areas(folder / "areas.toml")
    >>> [(a.name, a.target, a.transform, a.labels.name) for a in areas]
    [('a', 'population', ('log',), 'a.csv'), ('b', 'population', ('log',), 'b.csv')]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"areas file {str(path)!r} does not exist; check the path")
    if tomllib is None:
        raise ValueError("reading an areas file needs Python 3.11 or newer (tomllib)")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path.name} is not valid TOML ({exc}); fix the syntax") from exc
    except UnicodeDecodeError:
        raise not_utf8(path, "areas file") from None
    _check_keys(doc, _TOP_KEYS, path.name)
    defaults = {k: v for k, v in doc.items() if k not in ("area", "external")}
    external = _external_paths(doc.get("external", {}), path.parent, path.name)
    tables = doc.get("area")
    if not isinstance(tables, list) or not tables:
        raise ValueError(
            f"{path.name} lists no areas; add one [[area]] table per area "
            "(name, embeddings, labels, target)"
        )
    areas = [
        _area_from_toml(t, defaults, external, path.parent, f"{path.name}: area {i + 1}")
        for i, t in enumerate(tables)
    ]
    _check_names(areas)
    return areas


def _check_names(areas: Sequence[Area]) -> None:
    names = [a.name for a in areas]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"area name {repeated[0]!r} is used twice; give every area its own name")


@dataclass
class AreasResult:
    """Scores of every variant on every area, run and mode, with the settings used.

    ``scores`` has one row per mode, area, variant and run (``split``);
    ``pooled`` one per variant and run of leave-one-area-out, scored over all
    areas' test cells together; ``configs[mode][area][variant]`` is the
    configuration chosen on validation.
    """

    scores: pd.DataFrame
    pooled: pd.DataFrame
    configs: dict[str, dict[str, dict[str, MLPConfig]]]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def modes(self) -> list[str]:
        """The modes evaluated, in order."""
        return list(dict.fromkeys(self.scores["mode"]))

    def summary(self, mode: str = LEAVE_ONE_AREA_OUT) -> pd.DataFrame:
        """Mean and std over runs per variant and area, then the mean over areas and pooled.

        Rows are indexed by ``(variant, area)``; for each variant the areas
        come first, then ``"mean over areas"`` (mean and standard deviation
        across the areas' means) and, for leave-one-area-out, ``"pooled"``.

        Examples
        --------
        >>> runs = pd.DataFrame({"mode": "blocks", "area": ["a", "b"], "variant": "s2vec",
        ...     "split": 0, "r2": [0.2, 0.6], "mae": [0.1, 0.1], "spearman": [0.5, 0.7]})
        >>> r = AreasResult(runs, pd.DataFrame(), {})
        >>> r.summary("blocks")["r2_mean"].round(2).tolist()
        [0.2, 0.6, 0.4]
        """
        runs = self.scores[self.scores["mode"] == mode]
        if runs.empty:
            raise ValueError(f"there are no {mode!r} runs in this result; it has {self.modes}")
        per_area = summarize(runs, ["variant", "area"])
        metrics = [m for m in METRICS if f"{m}_mean" in per_area.columns]
        variants = list(dict.fromkeys(runs["variant"]))
        frames = []
        for variant in variants:
            block = per_area.loc[variant].copy()
            means = block[[f"{m}_mean" for m in metrics]]
            over = {}
            for m in metrics:
                over[f"{m}_mean"], over[f"{m}_std"] = means[f"{m}_mean"].agg(["mean", "std"])
            block.loc[MEAN_OVER_AREAS] = pd.Series(over)
            if mode == LEAVE_ONE_AREA_OUT and not self.pooled.empty:
                pooled = self.pooled[self.pooled["variant"] == variant]
                block.loc[POOLED] = summarize(pooled, ["variant"]).iloc[0]
            frames.append(block)
        return pd.concat(frames, keys=variants, names=["variant", "area"]).fillna(0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready results: settings, configurations, summaries, per-run and pooled scores."""
        summary: dict[str, Any] = {}
        for mode in self.modes:
            table = self.summary(mode)
            summary[mode] = {}
            for (variant, area), row in table.iterrows():
                summary[mode].setdefault(variant, {})[area] = {k: float(v) for k, v in row.items()}
        return {
            "settings": self.settings,
            "configs": {
                mode: {a: {v: asdict(c) for v, c in cs.items()} for a, cs in areas.items()}
                for mode, areas in self.configs.items()
            },
            "summary": summary,
            "scores": self.scores.to_dict(orient="records"),
            "pooled": self.pooled.to_dict(orient="records"),
        }


@dataclass
class _ModeRuns:
    """The runs of one mode as they accumulate."""

    mode: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    configs: dict[str, dict[str, MLPConfig]] = field(default_factory=dict)
    scales: dict[str, TargetScale] = field(default_factory=dict)
    pooled: list[dict[str, Any]] = field(default_factory=list)

    def add(self, area: str, runs: VariantRuns) -> None:
        name = runs.variant.name
        self.configs.setdefault(area, {})[name] = runs.config
        base = {"mode": self.mode, "area": area, "variant": name}
        self.rows += [{**base, "split": i, **s} for i, s in enumerate(runs.scores)]


def _plan(
    data: Sequence[CellData],
    modes: Sequence[str],
    block_level: int,
    n_splits: int,
    val_fraction: float,
    seed: int,
) -> dict[str, list[list[Split]]]:
    """The splits of every mode and area (``plan[mode][k]``), made before any training."""
    plan = {}
    if LEAVE_ONE_AREA_OUT in modes:
        cells = np.concatenate([d.cells for d in data])
        area_of = np.repeat(np.arange(len(data)), [d.cells.size for d in data])
        blocks_of = cell_parent(cells, block_level)
        plan[LEAVE_ONE_AREA_OUT] = area_splits(
            area_of, cells, blocks_of, n_splits, val_fraction, seed
        )
    if BLOCKS in modes:
        plan[BLOCKS] = []
        for d in data:
            with area_errors(d.name):
                splits, _ = make_splits(d.cells, n_splits, block_level=block_level, seed=seed)
            plan[BLOCKS].append(splits)
    return plan


def _leave_one_area_out(
    data: Sequence[CellData],
    variants: Sequence[Variant],
    folds: Sequence[Sequence[Split]],
    fit_kw: dict[str, Any],
) -> _ModeRuns:
    """Each area tested by MLPs trained on the others; see the module docs."""
    joined = CellData.concat(data)
    common = TargetScale.fit(joined.y, joined.target)  # only to pool the folds' predictions
    out = _ModeRuns(LEAVE_ONE_AREA_OUT)
    pooled: dict[str, list[list[np.ndarray]]] = {v.name: [[] for _ in folds[0]] for v in variants}
    for d, splits in zip(data, folds, strict=True):
        with area_errors(d.name):
            seen = np.concatenate([splits[0].train, splits[0].val])  # the training areas
            scale = TargetScale.fit(joined.y[seen], joined.target)
            y = scale.apply(joined.y)
            for v in variants:
                runs = run_variant(v, joined.blocks, y, splits, **fit_kw)
                out.add(d.name, runs)
                for i, pred in enumerate(runs.predictions):
                    pooled[v.name][i].append(common.apply(scale.invert(pred)))
        out.scales[d.name] = scale
    truth = common.apply(np.concatenate([joined.y[splits[0].test] for splits in folds]))
    out.pooled = [
        {"variant": name, "split": i, **score(truth, np.concatenate(preds))}
        for name, per_run in pooled.items()
        for i, preds in enumerate(per_run)
    ]
    out.scales[POOLED] = common
    return out


def _blocks(
    data: Sequence[CellData],
    variants: Sequence[Variant],
    splits_of: Sequence[Sequence[Split]],
    fit_kw: dict[str, Any],
) -> _ModeRuns:
    """Every area on its own, random splits of whole blocks, its own target scale."""
    out = _ModeRuns(BLOCKS)
    for d, splits in zip(data, splits_of, strict=True):
        with area_errors(d.name):
            scale = TargetScale.fit(d.y, d.target)
            for v in variants:
                out.add(d.name, run_variant(v, d.blocks, scale.apply(d.y), splits, **fit_kw))
        out.scales[d.name] = scale
    return out


def _check_modes(mode: str | Sequence[str], n_areas: int) -> list[str]:
    modes = [mode] if isinstance(mode, str) else list(dict.fromkeys(mode))
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown evaluation mode {m!r}; choose from {', '.join(MODES)}")
    if not modes:
        raise ValueError(f"no evaluation mode given; choose from {', '.join(MODES)}")
    if n_areas == 0:
        raise ValueError("no areas to evaluate; give at least one Area")
    if LEAVE_ONE_AREA_OUT in modes and n_areas < 2:
        raise ValueError(
            f"leave-one-area-out needs at least 2 areas, got {n_areas}; add areas or use "
            "mode='blocks'"
        )
    return modes


def evaluate_areas(
    areas: Sequence[Area] | str | os.PathLike,
    mode: str | Sequence[str] = LEAVE_ONE_AREA_OUT,
    config: EvalConfig | None = None,
    *,
    external: Mapping[str, Table] | None = None,
    **settings: Any,
) -> AreasResult:
    """Evaluate embeddings across areas: leave-one-area-out transfer and/or per-area blocks.

    Parameters
    ----------
    areas
        The areas (:class:`~s2vec_geo.evaluation.inputs.Area`), or the path of
        an areas TOML file (:func:`read_areas`).
    mode
        ``"leave-one-area-out"``, ``"blocks"``, or both as a list (see the
        module docs).
    config
        The evaluation's settings (:class:`~s2vec_geo.evaluation.protocol.EvalConfig`),
        as in :func:`~s2vec_geo.evaluation.protocol.evaluate` (each area may
        name its ``model`` for the untrained network, and set its own
        ``rule``, ``min_overlap`` and ``drop_missing``). Here ``n_splits`` is
        the runs per area (leave-one-area-out: differing by the validation
        blocks and the initialisation; blocks: random block splits),
        ``block_level`` the S2 level of the leave-one-area-out validation
        blocks and of the block splits (default three levels coarser than the
        cells, 8 x 8 cells), ``transfer_val_fraction`` the share of the training
        areas' cells (whole blocks) that validate the MLP (the training's
        ``val_fraction`` is another thing: held-out image tiles); a ``holdout``
        is for one area only.
    external
        Embedding tables for every area by name (keyed by cell or point).
    **settings
        Fields of ``EvalConfig``, replacing those of ``config``.

    Returns
    -------
    AreasResult
        Per-run scores of every mode, area and variant, pooled scores and settings.

    Examples
    --------
    Two areas with a target that one embedding column explains everywhere:

    >>> import geopandas as gpd, shapely
    >>> from s2vec_geo.s2 import cells_frame, cell_to_latlng, cover
    >>> from s2vec_geo.evaluation.mlp import MLPConfig, TrainSettings
    >>> def area(name, box, seed):
    ...     emb = cells_frame(cover(shapely.box(*box), 15))
    ...     emb["emb_000"] = np.random.default_rng(seed).normal(size=len(emb))
    ...     lat, lng = cell_to_latlng(emb.index.to_numpy())
    ...     labels = gpd.GeoDataFrame({"y": emb["emb_000"].to_numpy() ** 2},
    ...         geometry=gpd.points_from_xy(lng, lat), crs=4326)
    ...     return Area(name, emb, labels, "y")
    >>> areas = [area("nyc", (-74.01, 40.70, -73.99, 40.72), 0),
    ...          area("helsinki", (24.93, 60.16, 24.97, 60.18), 1)]
    >>> result = evaluate_areas(areas, location=False, n_splits=1, block_level=12,
    ...     grid=[MLPConfig(lr=1e-2, hidden=32)], train_settings=TrainSettings(200, 20))
    >>> bool(result.summary().loc[("s2vec", "mean over areas"), "spearman_mean"] > 0.8)
    True
    """
    cfg = EvalConfig.of(config, settings)
    if cfg.holdout is not None:
        raise ValueError(
            "a spatial hold-out is for one area; with several areas use leave-one-area-out"
        )
    areas = read_areas(areas) if isinstance(areas, (str, os.PathLike)) else list(areas)
    modes = _check_modes(mode, len(areas))
    _check_names(areas)
    data = prepare_areas(areas, external=external, **cfg.inputs())
    cells = CellData.concat(data).cells  # also checks that the areas share their blocks
    level = single_level(cells, "the areas mix S2 levels {levels}; embed every area at one level")
    block_level = check_block_level(
        cells, max(level - 3, 0) if cfg.block_level is None else cfg.block_level
    )
    variants = check_variants(cfg.variants, data[0].widths)
    plan = _plan(data, modes, block_level, cfg.n_splits, cfg.transfer_val_fraction, cfg.seed)
    steps = len(modes) * len(data) * len(variants) * (len(cfg.grid) + cfg.n_splits)
    bar = progress(total=steps, desc="evaluate areas")
    fit_kw = {**cfg.fitting(), "bar": bar}
    run_mode = {LEAVE_ONE_AREA_OUT: _leave_one_area_out, BLOCKS: _blocks}
    done = [run_mode[m](data, variants, plan[m], fit_kw) for m in modes]
    bar.close()
    settings = {
        "modes": modes,
        "level": level,
        "block_level": block_level,
        "transfer_val_fraction": cfg.transfer_val_fraction,
        "n_splits": cfg.n_splits,
        "seed": cfg.seed,
        "rule": cfg.rule,
        "min_overlap": cfg.min_overlap,
        **_scales(areas, data, done),
        **cfg.recorded(data[0].widths),
    }
    return AreasResult(
        pd.DataFrame([row for runs in done for row in runs.rows]),
        pd.DataFrame([row for runs in done for row in runs.pooled]),
        {runs.mode: runs.configs for runs in done},
        settings,
    )


def _scales(
    areas: Sequence[Area], data: Sequence[CellData], done: Sequence[_ModeRuns]
) -> dict[str, Any]:
    """What the report says about the areas: target, transforms, cells and target scales."""
    out: dict[str, Any] = {"areas": []}
    for area, d in zip(areas, data, strict=True):
        entry = {
            "name": area.name,
            "target": area.target,
            "transform": list(area.transform),
            "labelled_cells": int(d.cells.size),
            "target_min": float(d.y.min()),
            "target_max": float(d.y.max()),
        }
        entry.update(
            {f"{r.mode} scale": [r.scales[area.name].lo, r.scales[area.name].hi] for r in done}
        )
        out["areas"].append(entry)
    for runs in done:
        if POOLED in runs.scales:
            out[f"{runs.mode} pooled scale"] = [runs.scales[POOLED].lo, runs.scales[POOLED].hi]
    return out
