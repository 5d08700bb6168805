"""Pretrain S2Vec over every shared OSM extract, score it on areas it never saw, ship it.

Reproduces the held-out table of ``docs/pretrained.md`` and the model bundled
with the package (``s2vec_geo/data/pretrained_v1_16_12.pt``):

1. every OSM extract in ``../shared/data/osm`` (and the bundled Helsinki
   sample) is featurized at level 16 (taxonomy v1) over its *footprint*: all
   level-16 cells of the level-14 cells that hold any feature, empty ones
   included (zeros are information: parks, water, fields), not the ocean of a
   header box;
2. images at level 12 (16 x 16 windows);
3. leave-areas-out pretraining: the areas are split into folds; for each fold
   a model is trained on all other areas with the package defaults and scored
   on the fold's areas by the held-out masked error
   (:func:`s2vec_geo.model.heldout.heldout_error`) beside the per-feature mean
   of the scored area itself and the mean of each masked cell's visible
   neighbours, on the same seeded masks;
4. the shipped model: the same settings over every area, saved in half precision.

Run from the repository root (needs ``../shared/data``; about 20 minutes on
two CPU cores)::

    .venv/bin/python examples/pretraining.py --out runs/pretraining

Stages are cached in ``--out``. ``--ship`` also writes the bundled model.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import osmium
import pandas as pd

import s2vec_geo as sv
from s2vec_geo.io.layers import read_cell_layer, write_layer
from s2vec_geo.model.file import pretrained_path
from s2vec_geo.model.heldout import heldout_error
from s2vec_geo.model.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "osm"
HELSINKI = REPO / "examples" / "data" / "helsinki.osm.pbf"
LEVEL, IMAGE_LEVEL, FOOTPRINT_LEVEL = 16, 12, 14
BOXES = {"autark-lower-manhattan": (-74.02, 40.70, -74.00, 40.716)}  # its features' box
FOLDS = {
    # the six areas of the README's transfer tables, then six more with population labels
    "A": [
        "graphhopper-andorra",
        "valhalla-liechtenstein",
        "graphhopper-krems",
        "srai-monaco",
        "helsinki",
        "autark-lower-manhattan",
    ],
    "B": [
        "project-osrm-copenhagen",
        "itinero-prague-north",
        "dominicparga-isle-of-man",
        "hotosm-port-au-prince",
        "yntymacho-bishkek",
        "a-b-street-us-virgin-islands",
    ],
}
log = logging.getLogger("pretraining")


def extracts() -> dict[str, Path]:
    """Every OSM extract by name (file name without ``.osm.pbf``)."""
    files = [*sorted(SHARED.glob("*.osm.pbf")), HELSINKI]
    return {f.name.removesuffix(".osm.pbf"): f for f in files}


def header_box(pbf: Path) -> tuple[float, float, float, float] | None:
    """The PBF header's bounding box, if it has one."""
    b = osmium.io.Reader(str(pbf), osmium.osm.osm_entity_bits.NOTHING).header().box()
    if not b.valid():
        return None
    return (b.bottom_left.lon, b.bottom_left.lat, b.top_right.lon, b.top_right.lat)


def footprint_cells(pbf: Path, box: tuple[float, float, float, float] | None):
    """Cells of the extract's footprint: every child of a level-14 cell holding a feature."""
    cells = sv.featurize(pbf, level=LEVEL, bbox=box)
    columns = list(sv.feature_columns(cells))
    parents = np.unique(sv.cell_parent(cells.index.to_numpy().astype(np.uint64), FOOTPRINT_LEVEL))
    children = np.sort(np.concatenate([sv.cell_children(int(p), LEVEL) for p in parents]))
    counts = cells[columns].reindex(children.astype(np.int64), fill_value=0)
    frame = sv.cells_frame(children)
    counts.index = frame.index
    full = frame.join(counts)
    full.attrs = dict(cells.attrs)
    return full


def prepare(out: Path) -> dict[str, Path]:
    """Cells and images of every extract (cached); returns the image folders."""
    folders = {}
    for name, pbf in extracts().items():
        cells_path = out / "cells" / f"{name}.parquet"
        folder = out / "images" / name
        if not (folder / "meta.json").exists():
            cells_path.parent.mkdir(parents=True, exist_ok=True)
            folder.parent.mkdir(parents=True, exist_ok=True)
            if not cells_path.exists():
                write_layer(footprint_cells(pbf, BOXES.get(name, header_box(pbf))), cells_path)
            sv.build_images(read_cell_layer(cells_path), IMAGE_LEVEL, out=folder)
        folders[name] = folder
    return folders


def score(model: sv.S2VecModel, folder: Path, mask_ratio: float) -> dict[str, float]:
    """Held-out masked error on one unseen area, beside both baselines, and the gains."""
    r = heldout_error(model, folder, mask_ratio=mask_ratio, seed=0)
    r["gain_vs_mean_pct"] = 100 * (1 - r["loss"] / r["mean_baseline"])
    r["gain_vs_neighbors_pct"] = 100 * (1 - r["loss"] / r["neighbor_baseline"])
    return {k: round(float(v), 5) for k, v in r.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "pretraining")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fold", action="append", choices=sorted(FOLDS), help="folds to score")
    parser.add_argument("--ship", action="store_true", help="write the bundled model")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    folders = prepare(args.out)
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed, val_fraction=0.0, device="cpu")
    results: dict[str, dict] = {
        "settings": {
            "levels": [LEVEL, IMAGE_LEVEL],
            "taxonomy": "v1",
            "epochs": args.epochs,
            "seed": args.seed,
        }
    }
    for fold in args.fold or sorted(FOLDS):
        held_out = FOLDS[fold]
        run = args.out / f"model_without_{fold}"
        training = [folders[n] for n in folders if n not in held_out]
        model = sv.train(training, cfg, out=run, resume=(run / "model.pt").exists())
        results[fold] = {n: score(model, folders[n], cfg.mask_ratio) for n in held_out}
        table = pd.DataFrame(results[fold]).T
        log.info("fold %s, areas it never saw:\n%s", fold, table.to_string())
        (args.out / f"heldout_{fold}.json").write_text(json.dumps(results[fold], indent=1))
    if args.ship:
        run = args.out / "model_all"
        model = sv.train(list(folders.values()), cfg, out=run, resume=(run / "model.pt").exists())
        model.save(pretrained_path(), half=True)
        log.info("wrote %s (%d bytes)", pretrained_path(), pretrained_path().stat().st_size)


if __name__ == "__main__":
    main()
