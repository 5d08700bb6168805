"""``s2vec evaluate``: the paper's downstream evaluation of an embedding table."""

from __future__ import annotations

import argparse
from pathlib import Path

from s2vec_geo.downstream.labels import RULES, read_labels
from s2vec_geo.downstream.protocol import evaluate
from s2vec_geo.downstream.report import write_report


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
        help="downstream regression evaluation (paper section 5)",
        description="Align labels to the embedded cells, train a two-layer MLP per variant "
        "over random 60/20/20 splits or a spatial hold-out, and write results.md, "
        "results.json and results_r2.png.",
    )
    p.add_argument("--embeddings", required=True, help="embedding layer from s2vec embed")
    p.add_argument("--labels", required=True, help="label file: vector layer or lon/lat CSV")
    p.add_argument("--target", required=True, help="label column to predict")
    p.add_argument("--output", required=True, type=Path, help="output folder")
    p.add_argument("--counts", help="featurized cell layer (s2vec featurize): raw-counts baseline")
    p.add_argument(
        "--external",
        action="append",
        type=_external,
        default=[],
        metavar="NAME=PATH",
        help="extra embedding table keyed by cell_id or point (repeatable)",
    )
    p.add_argument("--geoclip", action="store_true", help="add GeoCLIP (optional extra)")
    p.add_argument("--no-location", action="store_true", help="skip the location variants")
    p.add_argument("--splits", type=int, default=20, help="number of splits/runs (default 20)")
    p.add_argument(
        "--block-level",
        type=int,
        help="random splits of whole blocks (the cells' ancestors at this S2 level) instead of "
        "single cells, so area-constant labels cannot leak between neighbours",
    )
    p.add_argument(
        "--holdout-bbox",
        type=_bbox,
        metavar="MINX,MINY,MAXX,MAXY",
        help="spatial hold-out test region in lon/lat; write --holdout-bbox=-74.02,... "
        "when it starts with a minus sign",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--rule", choices=RULES, default="overlap", help="polygon label alignment")
    p.add_argument(
        "--min-overlap",
        type=float,
        default=0.5,
        help="overlap rule: least covered fraction of a cell (default 0.5)",
    )
    p.add_argument("--labels-crs", help="CRS of labels without a usable one, e.g. EPSG:4326")
    p.add_argument("--lon-col", help="CSV longitude column")
    p.add_argument("--lat-col", help="CSV latitude column")
    p.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop labels whose target is missing or not a number",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run the evaluation and write the report."""
    labels = read_labels(
        args.labels,
        args.target,
        crs=args.labels_crs,
        lon_col=args.lon_col,
        lat_col=args.lat_col,
        drop_missing=args.drop_missing,
    )
    result = evaluate(
        args.embeddings,
        labels,
        args.target,
        counts=args.counts,
        external=dict(args.external),
        geoclip=args.geoclip,
        location=not args.no_location,
        n_splits=args.splits,
        holdout=args.holdout_bbox,
        block_level=args.block_level,
        seed=args.seed,
        rule=args.rule,
        min_overlap=args.min_overlap,
        threads=args.threads,
    )
    paths = write_report(result, args.output, title=f"s2vec evaluate: {args.target}")
    print(paths["markdown"].read_text())
