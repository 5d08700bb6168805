"""``s2vec evaluate``: the paper's downstream evaluation of one embedding table, or of
several areas (leave-one-area-out transfer and per-area block splits)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from s2vec_geo.downstream.areas import BLOCKS, LEAVE_ONE_AREA_OUT, AreasResult, evaluate_areas
from s2vec_geo.downstream.labels import RULES
from s2vec_geo.downstream.protocol import EvaluationResult, evaluate
from s2vec_geo.downstream.report import check_report_folder, write_report
from s2vec_geo.downstream.targets import TRANSFORMS
from s2vec_geo.locks import hold

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
  counts = "helsinki/cells.gpkg"     # optional: raw-counts baseline

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

area keys: name, embeddings, labels, target (required), counts, transform
(density, log), labels_crs, lon_col, lat_col, rule, min_overlap,
drop_missing, external (NAME = "path" for this area only).

  s2vec evaluate --areas areas.toml --leave-one-area-out --blocks --output eval/

runs both modes (neither flag: both): --leave-one-area-out trains on all
other areas and tests on each area in turn (validation: whole blocks of the
training areas, target scaled with the training areas' min and max);
--blocks evaluates each area on its own with random splits of whole blocks.
"""

#: Options of one area, and the key that replaces each in an areas file.
SINGLE_AREA_OPTIONS = {
    "embeddings": "embeddings",
    "labels": "labels",
    "target": "target",
    "counts": "counts",
    "labels_crs": "labels_crs",
    "lon_col": "lon_col",
    "lat_col": "lat_col",
    "transform": "transform",
}


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    try:
        box = tuple(float(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not minx,miny,maxx,maxy (four comma-separated lon/lat numbers)"
        )
    return box  # type: ignore[return-value]


def _external(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=PATH (e.g. satclip=satclip.gpkg)")
    return name, path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    p = sub.add_parser(
        "evaluate",
        help="downstream regression evaluation (paper section 5), one area or several",
        description="Align labels to the embedded cells, train a two-layer MLP per variant\n"
        "and write results.md, results.json and results_r2.png. One area: random\n"
        "60/20/20 splits, block splits or a spatial hold-out. Several areas (--areas):\n"
        "leave one area out and/or block splits within each area.",
        epilog=AREAS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _one_area_options(p.add_argument_group("one area"))
    _areas_options(p.add_argument_group("several areas"))
    _shared_options(p)
    p.set_defaults(func=run)


def _one_area_options(one: argparse._ArgumentGroup) -> None:
    one.add_argument("--embeddings", help="embedding layer from s2vec embed")
    one.add_argument("--labels", help="label file: vector layer or lon/lat CSV")
    one.add_argument("--target", help="label column to predict")
    one.add_argument(
        "--counts", help="featurized cell layer (s2vec featurize): raw-counts baseline"
    )
    one.add_argument(
        "--holdout-bbox",
        type=_bbox,
        metavar="MINX,MINY,MAXX,MAXY",
        help="spatial hold-out test region in lon/lat; write --holdout-bbox=-74.02,... "
        "when it starts with a minus sign",
    )
    one.add_argument("--labels-crs", help="CRS of labels without a usable one, e.g. EPSG:4326")
    one.add_argument("--lon-col", help="CSV longitude column")
    one.add_argument("--lat-col", help="CSV latitude column")
    one.add_argument(
        "--transform",
        action="append",
        choices=TRANSFORMS,
        help="target transform, repeatable in this order: density (polygon label / its area "
        "in km2), log (log1p)",
    )


def _areas_options(several: argparse._ArgumentGroup) -> None:
    several.add_argument("--areas", type=Path, help="areas file (TOML, format below)")
    several.add_argument(
        "--leave-one-area-out",
        action="store_true",
        help="test on each area with an MLP trained on the others",
    )
    several.add_argument(
        "--blocks",
        action="store_true",
        help="evaluate each area on its own with block splits (neither mode flag: both run)",
    )
    several.add_argument(
        "--val-fraction",
        type=float,
        help="leave-one-area-out: share of the training areas' cells (whole blocks) used for "
        "validation (default 0.25)",
    )


def _shared_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", required=True, type=Path, help="output folder")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace results.md/.json/_r2.png in --output even if no evaluation wrote them "
        "(other files there are always kept)",
    )
    p.add_argument(
        "--external",
        action="append",
        type=_external,
        default=[],
        metavar="NAME=PATH",
        help="extra embedding table keyed by cell_id or point (repeatable; every area)",
    )
    p.add_argument("--geoclip", action="store_true", help="add GeoCLIP (optional extra)")
    p.add_argument("--no-location", action="store_true", help="skip the location variants")
    p.add_argument("--splits", type=int, default=20, help="number of splits/runs (default 20)")
    p.add_argument(
        "--block-level",
        type=int,
        help="random splits of whole blocks (the cells' ancestors at this S2 level) instead of "
        "single cells, so area-constant labels cannot leak between neighbours; with --areas "
        "also the validation blocks (default: 3 levels coarser than the cells)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--rule", choices=RULES, default="overlap", help="polygon label alignment")
    p.add_argument(
        "--min-overlap",
        type=float,
        default=0.5,
        help="overlap rule: least covered fraction of a cell (default 0.5)",
    )
    p.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop labels whose target is missing or not a number",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")


def _shared(args: argparse.Namespace) -> dict[str, Any]:
    """Keywords that one-area and several-area evaluations share."""
    return {
        "external": dict(args.external),
        "geoclip": args.geoclip,
        "location": not args.no_location,
        "n_splits": args.splits,
        "block_level": args.block_level,
        "seed": args.seed,
        "rule": args.rule,
        "min_overlap": args.min_overlap,
        "drop_missing": args.drop_missing,
        "threads": args.threads,
    }


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _run_areas(args: argparse.Namespace) -> None:
    for name, key in SINGLE_AREA_OPTIONS.items():
        if getattr(args, name) is not None:
            raise ValueError(
                f"{_option(name)} is for one area; with --areas set {key!r} in the areas file"
            )
    if args.holdout_bbox is not None:
        raise ValueError(
            "--holdout-bbox is for one area; with --areas use --leave-one-area-out or --blocks"
        )
    chosen = [LEAVE_ONE_AREA_OUT] * args.leave_one_area_out + [BLOCKS] * args.blocks
    result = evaluate_areas(
        args.areas,
        chosen or [LEAVE_ONE_AREA_OUT, BLOCKS],
        val_fraction=0.25 if args.val_fraction is None else args.val_fraction,
        **_shared(args),
    )
    _report(result, args, f"s2vec evaluate: {args.areas.name}")


def _run_single(args: argparse.Namespace) -> None:
    for name in ("leave_one_area_out", "blocks", "val_fraction"):
        if getattr(args, name) not in (None, False):
            raise ValueError(f"{_option(name)} needs several areas: give them with --areas FILE")
    missing = [_option(n) for n in ("embeddings", "labels", "target") if getattr(args, n) is None]
    if missing:
        raise ValueError(
            f"missing {', '.join(missing)}: give --embeddings, --labels and --target (one area) "
            "or --areas FILE (several areas)"
        )
    result = evaluate(
        args.embeddings,
        args.labels,
        args.target,
        counts=args.counts,
        holdout=args.holdout_bbox,
        labels_crs=args.labels_crs,
        lon_col=args.lon_col,
        lat_col=args.lat_col,
        transform=args.transform or (),
        **_shared(args),
    )
    _report(result, args, f"s2vec evaluate: {args.target}")


def _report(result: EvaluationResult | AreasResult, args: argparse.Namespace, title: str) -> None:
    paths = write_report(result, args.output, title=title, overwrite=args.overwrite)
    print(paths["markdown"].read_text())


def run(args: argparse.Namespace) -> None:
    """Run the evaluation of one area or of several, and write the report.

    The output folder is locked and checked before the evaluation starts.
    """
    args.output.absolute().parent.mkdir(parents=True, exist_ok=True)
    with hold(args.output):
        check_report_folder(args.output, args.overwrite)
        if args.areas is not None:
            _run_areas(args)
        else:
            _run_single(args)
