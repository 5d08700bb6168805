"""Reproduce the README's transfer tables: six areas with population labels.

Every shared OSM extract with population labels is featurized over its
labelled area (the label polygons inside the extract), and S2Vec models are
trained over all six (the defaults; and the paper's Table 1 as the previous
release trained it); with ``--pretrained``, a model pretrained over the other
21 shared extracts and never shown these six joins (``examples/pretraining.py``).
Every area is embedded with each (contextual, sliding windows) and evaluated
on log population density (people per km2, computed from each label polygon's
area) with block splits inside every area and leave-one-area-out across areas,
beside the baselines every embedding must beat: raw counts, multi-scale
neighbourhood counts, the untrained network (the default model's architecture
with random weights) and the location encoding.

Run from the repository root (needs ``../shared/data``)::

    .venv/bin/python examples/evaluate_transfer.py --out runs/transfer \
        --pretrained runs/pretraining/model_without_A

Stages are cached in ``--out`` (cells, models, embeddings), so a rerun only
does what is missing. Levels, epochs and the seed are options; the README
tables used the defaults. The results behind the README are in
``examples/results/transfer_*.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import osmium
import shapely

import s2vec_geo as sv
from s2vec_geo.embeddings.seams import seams
from s2vec_geo.evaluation import Area, MLPConfig, TrainSettings, evaluate_areas
from s2vec_geo.evaluation.protocol import Variant
from s2vec_geo.evaluation.report import write_report
from s2vec_geo.io.layers import read_cell_layer, write_layer
from s2vec_geo.model.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
KONTUR = SHARED / "labels" / "kontur"
log = logging.getLogger("evaluate_transfer")


@dataclass(frozen=True)
class Extract:
    """An OSM extract, its population labels and the box where its features are."""

    pbf: Path
    labels: Path
    target: str
    box: tuple[float, float, float, float] | None = None  # None: the PBF header box
    labels_crs: str | None = None


AREAS: dict[str, Extract] = {
    "helsinki": Extract(
        REPO / "examples" / "data" / "helsinki.osm.pbf",
        SHARED / "labels" / "helsinki_population_grid_2020.gpkg",
        "population",
    ),
    "manhattan": Extract(
        SHARED / "osm" / "autark-lower-manhattan.osm.pbf",
        SHARED / "labels" / "nyc_tract_acs" / "NYC_Tract_ACS2008_12.shp",
        "poptot",
        box=(-74.02, 40.70, -74.00, 40.716),
        labels_crs="EPSG:4326",
    ),
    "andorra": Extract(
        SHARED / "osm" / "graphhopper-andorra.osm.pbf",
        KONTUR / "kontur_population_andorra.gpkg",
        "population",
    ),
    "liechtenstein": Extract(
        SHARED / "osm" / "valhalla-liechtenstein.osm.pbf",
        KONTUR / "kontur_population_liechtenstein.gpkg",
        "population",
    ),
    "monaco": Extract(
        SHARED / "osm" / "srai-monaco.osm.pbf",
        KONTUR / "kontur_population_monaco.gpkg",
        "population",
    ),
    "krems": Extract(
        SHARED / "osm" / "graphhopper-krems.osm.pbf",
        KONTUR / "kontur_population_krems.gpkg",
        "population",
    ),
}
PAPER = {
    "embed_dim": 256,
    "depth": 6,
    "num_heads": 8,
    "decoder_dim": 128,
    "decoder_depth": 2,
    "dropout": 0.2,
    "pos_embed": "learned",
}
MODELS = {
    # name: training settings over the TrainConfig given on the command line
    # the default recipe: fine-tune a pretrained model (--pretrained; it never saw these areas)
    "default": {"init": "pretrained"},
    # the defaults from random weights, trained on the six areas alone
    "scratch": {"init": "none"},
    # the paper's Table 1 as the previous release trained it: learned positions, batch 64
    "paper": {"model": PAPER, "batch_size": 64, "lr": 5e-4, "augment": False, "init": "none"},
}
EMBEDDINGS = {
    # name: model (a MODELS entry, or "pretrained": --pretrained itself, not fine-tuned)
    "s2vec": "default",
    "s2vec_scratch": "scratch",
    "s2vec_paper": "paper",
    "s2vec_pretrained": "pretrained",
}


def labels_of(area: Extract) -> gpd.GeoDataFrame:
    """The area's label polygons inside its extract's box, in EPSG:4326."""
    labels = gpd.read_file(area.labels)
    if labels.crs is None:
        labels = labels.set_crs(area.labels_crs or 4326)
    labels = labels.to_crs(4326)
    box = area.box
    if box is None:
        header = osmium.io.Reader(str(area.pbf), osmium.osm.osm_entity_bits.NOTHING).header()
        b = header.box()
        box = (b.bottom_left.lon, b.bottom_left.lat, b.top_right.lon, b.top_right.lat)
    return labels[labels.intersects(shapely.box(*box))]


def featurize_areas(out: Path, level: int, taxonomy: str = "v1") -> dict[str, Path]:
    """Cells of every area over its labelled polygons (zeros included), cached."""
    paths = {}
    (out / "cells").mkdir(parents=True, exist_ok=True)
    for name, area in AREAS.items():
        path = out / "cells" / f"{name}.parquet"
        if not path.exists():
            aoi = shapely.union_all(labels_of(area).geometry.to_numpy())
            cells = sv.featurize(area.pbf, level=level, aoi=aoi, taxonomy=taxonomy)
            write_layer(cells, path)
            log.info("%s: %d cells", name, len(cells))
        paths[name] = path
    return paths


def train_models(
    out: Path, cells: dict[str, Path], image_level: int, cfg: TrainConfig, pretrained: Path | None
) -> None:
    """One model over all areas per entry of MODELS (one image dataset per area)."""
    images = []
    for name, path in cells.items():
        folder = out / "images" / name
        folder.parent.mkdir(parents=True, exist_ok=True)
        if not (folder / "meta.json").exists():
            sv.build_images(read_cell_layer(path), image_level, out=folder)
        images.append(folder)
    for model_name, settings in MODELS.items():
        if settings.get("init") == "pretrained":  # the given model, else the bundled one
            settings = {**settings, "init": str(pretrained or "pretrained")}
        run = out / f"model_{model_name}"
        if not (run / "model.pt").exists():
            sv.train(
                images, replace(cfg, **settings), out=run, resume=(run / "checkpoint.pt").exists()
            )


def embed_areas(
    out: Path, cells: dict[str, Path], image_level: int, pretrained: Path | None
) -> dict:
    """Embed every area with every model; returns the seam ratios."""
    ratios: dict[str, dict[str, float]] = {}
    for variant, trained in EMBEDDINGS.items():
        source = pretrained if trained == "pretrained" else out / f"model_{trained}"
        if source is None:
            continue
        model = sv.load_model(source)
        (out / "embeddings" / variant).mkdir(parents=True, exist_ok=True)
        for name, path in cells.items():
            target = out / "embeddings" / variant / f"{name}.parquet"
            if not target.exists():
                write_layer(sv.embed(read_cell_layer(path), model), target)
            ratios.setdefault(variant, {})[name] = seam_ratio_or_nan(target, image_level)
    for name, path in cells.items():
        ratios.setdefault("raw counts", {})[name] = seam_ratio_or_nan(path, image_level)
    return ratios


def seam_ratio_or_nan(path: Path, image_level: int) -> float:
    """The seam ratio of a layer, NaN when the area fits inside one image."""
    try:
        return seams(read_cell_layer(path), image_level).ratio
    except ValueError:
        return float("nan")


VARIANTS = [
    Variant("counts", ("counts",)),
    Variant("multiscale", ("multiscale",)),
    Variant("untrained", ("untrained",)),
    Variant("s2vec", ("s2vec",)),
    Variant("s2vec_scratch", ("s2vec_scratch",)),
    Variant("s2vec_paper", ("s2vec_paper",)),
    Variant("s2vec_pretrained", ("s2vec_pretrained",)),
    Variant("location", ("location",)),
    Variant("s2vec+location", ("s2vec", "location")),
]


GRID = [MLPConfig(lr=1e-3, hidden=128, dropout=0.1), MLPConfig(lr=1e-2, hidden=128, dropout=0.3)]
SETTINGS = TrainSettings(max_epochs=200, patience=10)


def evaluate_all(out: Path, cells: dict[str, Path], n_splits: int, block_level: int) -> None:
    """Leave-one-area-out over all areas and block splits inside every area.

    The MLP sweep is two configurations (learning rate 1e-3 with dropout 0.1,
    1e-2 with dropout 0.3; 128 hidden units), at most 200 epochs with patience
    10, so that two modes x eight variants x six areas stay within about an
    hour on two CPU cores (the MLP trains on up to 28,000 cells per fold).
    """
    areas = []
    for name, area in AREAS.items():
        emb = out / "embeddings"
        areas.append(
            Area(
                name,
                emb / "s2vec" / f"{name}.parquet",
                labels_of(area),
                area.target,
                counts=cells[name],
                transform=("density", "log"),
                external={
                    v: emb / v / f"{name}.parquet"
                    for v in EMBEDDINGS
                    if v != "s2vec" and (emb / v / f"{name}.parquet").exists()
                },
            )
        )
    uses = {b for v in VARIANTS for b in v.blocks}
    options = {
        "geoclip": "geoclip" in uses,
        "location": "location" in uses,
        "variants": VARIANTS,
        "block_level": block_level,
        "seed": 0,
        "grid": GRID,
        "train_settings": SETTINGS,
    }
    for mode, chosen in (("leave-one-area-out", areas), ("blocks", areas)):
        target = out / f"eval_{mode}"
        if (target / "results.json").exists():
            continue
        result = evaluate_areas(chosen, mode, n_splits=n_splits, **options)
        write_report(result, target, title=f"{mode}: log population density")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "transfer")
    parser.add_argument("--level", type=int, default=16)
    parser.add_argument("--image-level", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", type=int, default=3, help="runs per area and mode")
    parser.add_argument("--block-level", type=int, default=13, help="blocks of the splits")
    parser.add_argument(
        "--pretrained",
        type=Path,
        help="a model pretrained WITHOUT these six areas (examples/pretraining.py's "
        "model_without_A): its embeddings join as s2vec_pretrained",
    )
    parser.add_argument(
        "--taxonomy", default="v1", help="v2: buildings and land use too (counts and S2Vec only)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = args.out / f"L{args.level}_{args.image_level}_e{args.epochs}_s{args.seed}"
    if args.taxonomy != "v1":
        out = out.with_name(f"{out.name}_{args.taxonomy}")
        MODELS.pop("paper")
        VARIANTS[:] = [v for v in VARIANTS if v.name in ("counts", "multiscale", "s2vec")]
    if args.pretrained is None:
        VARIANTS[:] = [v for v in VARIANTS if v.name != "s2vec_pretrained"]
    cells = featurize_areas(out, args.level, args.taxonomy)
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed, device="cpu")
    train_models(out, cells, args.image_level, cfg, args.pretrained)
    ratios = embed_areas(out, cells, args.image_level, args.pretrained)
    (out / "seams.json").write_text(json.dumps(ratios, indent=1))
    log.info("seam ratios: %s", json.dumps(ratios, indent=1))
    evaluate_all(out, cells, args.splits, args.block_level)


if __name__ == "__main__":
    main()
