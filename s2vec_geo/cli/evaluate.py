"""``s2vec evaluate``: the paper's downstream evaluation of one embedding table, or of
several areas (leave-one-area-out transfer and per-area block splits)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from s2vec_geo.cli.options import Argument, Command, values
from s2vec_geo.core import options as o

AREAS_HELP = """\
several areas (--areas FILE): a TOML file with one [[area]] table per area.
Relative paths are read from the file's folder; keys outside [[area]] are
defaults for every area. Example:

  target = "population"
  transform = ["density", "log"]     # log people per km2 (density: polygons only)

  [[area]]
  name = "helsinki"
  embeddings = "helsinki/embeddings.gpkg"
  labels = "labels/helsinki_population_grid_2020.gpkg"
  counts = "helsinki/cells.gpkg"     # raw, multi-scale and untrained-network baselines
  model = "helsinki/model.pt"        # optional: default, the one the embeddings record

  [[area]]
  name = "nyc"
  embeddings = "nyc/embeddings.gpkg"
  labels = "labels/NYC_Tract_ACS2008_12.shp"
  counts = "nyc/cells.gpkg"
  target = "poptot"
  labels_crs = "EPSG:4326"
  drop_missing = true

  [external]                         # optional: NAME = "path", for every area
  satclip = "satclip_cells.parquet"

area keys: name, embeddings, labels, target (required), counts, model, transform
(density, log), labels_crs, lon_col, lat_col, rule, min_overlap,
drop_missing, external (NAME = "path" for this area only).

  s2vec evaluate --areas areas.toml --leave-one-area-out --blocks --output eval/

runs both modes (neither flag: both): --leave-one-area-out trains on all
other areas and tests on each area in turn (validation: whole blocks of the
training areas, target scaled with the training areas' min and max);
--blocks evaluates each area on its own with random splits of whole blocks.
"""

ONE_AREA = (o.HOLDOUT, o.LABELS_CRS, o.LON_COL, o.LAT_COL, o.TRANSFORM)
"""Options of one area (with ``--embeddings``, ``--labels``, ``--target``, ``--counts``)."""
ONE_AREA_FILES = ("embeddings", "labels", "target", "counts", "model")
SEVERAL_AREAS = (o.LEAVE_ONE_AREA_OUT, o.BLOCKS, o.TRANSFER_VAL_FRACTION)
SHARED = (
    o.EXTERNAL,
    o.GEOCLIP,
    o.LOCATION,
    o.MULTISCALE,
    o.UNTRAINED,
    o.N_SPLITS,
    o.BLOCK_LEVEL,
    o.SEED,
    o.RULE,
    o.MIN_OVERLAP,
    o.DROP_MISSING,
    o.THREADS,
)
"""Options that one-area and several-area evaluations share."""


def _shared(args: argparse.Namespace) -> dict[str, Any]:
    kw = values(args, SHARED)
    kw["external"] = dict(args.external or [])
    return kw


def _run_areas(args: argparse.Namespace) -> Any:
    from s2vec_geo.evaluation.areas import BLOCKS, LEAVE_ONE_AREA_OUT, evaluate_areas

    for name in (*ONE_AREA_FILES, *(option.name for option in ONE_AREA)):
        if getattr(args, name) is None:
            continue
        flag = "--" + name.replace("_", "-")
        if name == o.HOLDOUT.name:
            raise ValueError(
                f"{flag} is for one area; with --areas use --leave-one-area-out or --blocks"
            )
        raise ValueError(f"{flag} is for one area; with --areas set {name!r} in the areas file")
    chosen = [LEAVE_ONE_AREA_OUT] * args.leave_one_area_out + [BLOCKS] * args.blocks
    return evaluate_areas(
        args.areas,
        chosen or [LEAVE_ONE_AREA_OUT, BLOCKS],
        transfer_val_fraction=args.transfer_val_fraction,
        **_shared(args),
    )


def _run_single(args: argparse.Namespace) -> Any:
    from s2vec_geo.evaluation.protocol import evaluate

    for option in SEVERAL_AREAS:
        if getattr(args, option.name) != option.default:
            raise ValueError(f"{option.flag} needs several areas: give them with --areas FILE")
    missing = [f"--{n}" for n in ("embeddings", "labels", "target") if getattr(args, n) is None]
    if missing:
        raise ValueError(
            f"missing {', '.join(missing)}: give --embeddings, --labels and --target (one area) "
            "or --areas FILE (several areas)"
        )
    kw = values(args, ONE_AREA)
    kw["transform"] = kw["transform"] or ()
    return evaluate(
        args.embeddings,
        args.labels,
        args.target,
        counts=args.counts,
        model=args.model,
        **kw,
        **_shared(args),
    )


def run(args: argparse.Namespace) -> None:
    """Run the evaluation of one area or of several, and write the report.

    The output folder is locked and checked before the evaluation starts.
    """
    from s2vec_geo.evaluation.report import check_report_folder, write_report
    from s2vec_geo.io.locks import hold

    args.output.absolute().parent.mkdir(parents=True, exist_ok=True)
    with hold(args.output):
        check_report_folder(args.output, args.overwrite)
        several = args.areas is not None
        result = _run_areas(args) if several else _run_single(args)
        title = f"s2vec evaluate: {args.areas.name if several else args.target}"
        paths = write_report(result, args.output, title=title, overwrite=args.overwrite)
    print(paths["markdown"].read_text())


COMMAND = Command(
    "evaluate",
    help="downstream regression evaluation (paper section 5), one area or several",
    description="Align labels to the embedded cells, train a two-layer MLP per variant\n"
    "and write results.md, results.json and results_r2.png. One area: random\n"
    "60/20/20 splits, block splits or a spatial hold-out. Several areas (--areas):\n"
    "leave one area out and/or block splits within each area.",
    run=run,
    arguments=(
        Argument("--embeddings", help="one area: embedding layer from s2vec embed"),
        Argument("--labels", help="one area: label file, vector layer or lon/lat CSV"),
        Argument("--target", help="one area: label column to predict"),
        Argument(
            "--counts",
            help="one area: featurized cell layer (s2vec featurize) for the raw-counts, "
            "multi-scale counts and untrained-network baselines",
        ),
        Argument(
            "--model",
            help="one area: the model behind --embeddings, for the untrained-network baseline "
            "(default: the model file the embedding layer records)",
        ),
        Argument("--areas", type=Path, help="several areas: areas file (TOML, format below)"),
        Argument("--output", required=True, type=Path, help="output folder"),
    ),
    options=(
        o.OVERWRITE.with_help(
            "replace results.md/.json/_r2.png in --output even if no evaluation wrote them "
            "(other files there are always kept)"
        ),
        *SHARED,
    ),
    groups={"one area": ONE_AREA, "several areas": SEVERAL_AREAS},
    epilog=AREAS_HELP,
    raw_text=True,
)
