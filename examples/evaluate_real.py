"""Reproduce the downstream evaluation numbers reported in the README.

Two real pairings of OpenStreetMap built-environment features with labels:

- ``manhattan``: the autark Lower Manhattan extract (its POIs and roads lie in
  the Financial District, about 1.7 x 1.8 km) with NYC census tracts, ACS
  2008-2012: median household income (``medianinco``) and population density
  (``popdty``). Random 60/20/20 splits and a spatial hold-out of the southern
  tip (south of 40.7045 N), and random splits of whole level-14 blocks (``blocks``).
- ``helsinki``: the bundled central-Helsinki sample with the Helsinki 250 m
  population grid 2020 (``population``), random splits and a hold-out of the
  eastern strip (east of 24.948 E).

For each pairing the script featurizes the OSM file at the patch level, builds
images, trains the masked autoencoder on the CPU, embeds the cells, then runs
:func:`s2vec_geo.evaluate` with the raw-counts baseline, the location
encoding, and GeoCLIP (when installed) and writes one report folder per run.
Run from the repository root, with ``../shared/data`` beside it::

    python examples/evaluate_real.py --out evaluate_runs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import geopandas as gpd
import shapely
import torch

import s2vec_geo as s2v
from s2vec_geo.evaluation import write_report

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

PAIRINGS = {
    "manhattan": {
        "osm": DATA / "osm" / "autark-lower-manhattan.osm.pbf",
        "box": (-74.020, 40.700, -74.000, 40.716),
        "labels": DATA / "labels" / "nyc_tract_acs" / "NYC_Tract_ACS2008_12.shp",
        "labels_crs": "EPSG:4326",  # the .prj does not parse; coordinates are lon/lat
        "targets": ("medianinco", "popdty"),
        "holdout": (-74.020, 40.700, -74.000, 40.7045),
    },
    "helsinki": {
        "osm": REPO / "examples" / "data" / "helsinki.osm.pbf",
        "box": (24.935, 60.164, 24.954, 60.1766),  # the sample inside the population grid
        "labels": DATA / "labels" / "helsinki_population_grid_2020.gpkg",
        "labels_crs": None,
        "targets": ("population",),
        "holdout": (24.948, 60.164, 24.954, 60.1766),
    },
}


def build_embeddings(
    osm: Path, box: tuple | None, level: int, image_level: int, epochs: int, folder: Path
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Featurize, build images, train and embed (cached in ``folder``)."""
    cells_path, emb_path = folder / "cells.gpkg", folder / "embeddings.gpkg"
    if cells_path.exists() and emb_path.exists():
        return gpd.read_file(cells_path), gpd.read_file(emb_path)
    folder.mkdir(parents=True, exist_ok=True)
    aoi = None if box is None else gpd.GeoDataFrame(geometry=[shapely.box(*box)], crs=4326)
    cells = s2v.featurize(osm, level=level, aoi=aoi, bbox=box)
    images = s2v.build_images(cells, image_level, folder / "images", overwrite=True)
    config = s2v.TrainConfig(epochs=epochs, seed=0, device="cpu")
    model = s2v.train(images, config, out=folder / "model")
    emb = s2v.embed(cells, model)
    s2v.write_layer(cells, cells_path)
    s2v.write_layer(emb, emb_path)
    return gpd.read_file(cells_path), gpd.read_file(emb_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("evaluate_runs"))
    parser.add_argument("--pairing", choices=[*PAIRINGS, "all"], default="all")
    parser.add_argument("--level", type=int, default=17, help="patch level")
    parser.add_argument("--image-level", type=int, default=13)
    parser.add_argument("--epochs", type=int, default=50, help="MAE training epochs")
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--block-level", type=int, default=14, help="S2 level of the blocks of block splits"
    )
    parser.add_argument(
        "--split-kinds",
        nargs="+",
        choices=("random", "blocks", "holdout"),
        default=("random", "blocks", "holdout"),
        help="random cells, random whole blocks, spatial hold-out",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    geoclip = importlib.util.find_spec("geoclip") is not None
    names = list(PAIRINGS) if args.pairing == "all" else [args.pairing]
    for name in names:
        p = PAIRINGS[name]
        folder = args.out / f"{name}_L{args.level}_I{args.image_level}"
        cells, emb = build_embeddings(
            p["osm"], p["box"], args.level, args.image_level, args.epochs, folder
        )
        for target in p["targets"]:
            labels = s2v.read_labels(p["labels"], target, crs=p["labels_crs"], drop_missing=True)
            kinds = {
                "random": {},
                "blocks": {"block_level": args.block_level},
                "holdout": {"holdout": p["holdout"]},
            }
            for split in args.split_kinds:
                start = time.perf_counter()
                result = s2v.evaluate(
                    emb,
                    labels,
                    target,
                    counts=cells,
                    geoclip=geoclip,
                    n_splits=args.splits,
                    seed=args.seed,
                    **kinds[split],
                )
                result.settings.update(
                    pairing=name,
                    image_level=args.image_level,
                    mae_epochs=args.epochs,
                    seconds=round(time.perf_counter() - start, 1),
                )
                out = folder / f"{target}_{split}"
                write_report(result, out, title=f"{name}: {target}, {split} splits")
                print(out / "results.md")
                print((out / "results.md").read_text())
                print(json.dumps(result.settings["seconds"]), "seconds")


if __name__ == "__main__":
    main()
