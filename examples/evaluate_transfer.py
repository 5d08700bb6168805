"""Reproduce the README's transfer table: one model over six areas, population labels.

Every shared OSM extract with population labels is featurized over its
labelled area (the label polygons inside the extract), one S2Vec model is
trained over all of them (sliding windows, the default, and aligned tiles, the
paper's recipe, with the same seed and epochs), every area is embedded
(sliding-window contextual, aligned contextual, the paper's patch embedding),
and the embeddings are evaluated on log population density (people per km2,
computed from each label polygon's area) with block splits inside every area
and leave-one-area-out across areas, beside raw counts, the location encoding,
GeoCLIP (when installed) and S2Vec fused with GeoCLIP.

Run from the repository root (needs ``../shared/data``)::

    .venv/bin/python examples/evaluate_transfer.py --out runs/transfer

Stages are cached in ``--out`` (cells, models, embeddings), so a rerun only
does what is missing. Levels, epochs and the seed are options; the README
tables used the defaults (and ``--taxonomy v2`` for the v2 rows). The
results behind the README are in ``examples/results/transfer_*.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import osmium
import pandas as pd
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
MODELS = {
    # name: (training windows, min_support over all areas' cells)
    "sliding": ("sliding", 0.0),
    "aligned": ("aligned", 0.0),
}
SUPPORT_MODEL = {"sliding_support": ("sliding", 0.01)}
EMBEDDINGS = {
    # name: (model, embed mode, embed windows)
    "s2vec": ("sliding", "contextual", "sliding"),
    "s2vec_aligned": ("aligned", "contextual", "aligned"),
    "s2vec_patch": ("sliding", "patch", None),
}
SUPPORT_EMBEDDING = {"s2vec_support": ("sliding_support", "contextual", "sliding")}


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


def frequent_features(cells: dict[str, Path], min_support: float) -> list[str] | None:
    """Features non-zero in at least ``min_support`` of all areas' cells (None: all)."""
    if min_support <= 0:
        return None
    frames = [read_cell_layer(p) for p in cells.values()]
    columns = sv.feature_columns(frames[0])
    share = pd.concat([f[columns] for f in frames]).ne(0).mean()
    return [c for c in columns if share[c] >= min_support]


def train_models(out: Path, cells: dict[str, Path], image_level: int, cfg: TrainConfig) -> None:
    """One model over all areas per entry of MODELS (one image dataset per area)."""
    for model_name, (windows, min_support) in MODELS.items():
        run = out / f"model_{model_name}"
        if (run / "model.pt").exists():
            continue
        keep = frequent_features(cells, min_support)
        images = []
        for name, path in cells.items():
            folder = out / f"images_{min_support:g}" / name
            folder.parent.mkdir(parents=True, exist_ok=True)
            if not (folder / "meta.json").exists():
                layer = read_cell_layer(path)
                sv.build_images(layer if keep is None else layer[keep], image_level, out=folder)
            images.append(folder)
        config = TrainConfig(**{**cfg.__dict__, "windows": windows})
        sv.train(images, config, out=run, resume=(run / "checkpoint.pt").exists())


def embed_areas(out: Path, cells: dict[str, Path], image_level: int) -> dict:
    """Embed every area with every embedding variant; returns the seam ratios."""
    ratios: dict[str, dict[str, float]] = {}
    for variant, (trained, mode, windows) in EMBEDDINGS.items():
        model = sv.load_model(out / f"model_{trained}")
        (out / "embeddings" / variant).mkdir(parents=True, exist_ok=True)
        for name, path in cells.items():
            target = out / "embeddings" / variant / f"{name}.parquet"
            if not target.exists():
                emb = sv.embed(read_cell_layer(path), model, mode=mode, windows=windows)
                write_layer(emb, target)
            try:
                ratio = seams(read_cell_layer(target), image_level).ratio
            except ValueError:
                ratio = float("nan")  # the area fits inside one image
            ratios.setdefault(variant, {})[name] = ratio
    for name, path in cells.items():
        try:
            ratio = seams(read_cell_layer(path), image_level).ratio
        except ValueError:
            ratio = float("nan")
        ratios.setdefault("raw counts", {})[name] = ratio
    return ratios


VARIANTS = [
    Variant("counts", ("counts",)),
    Variant("s2vec", ("s2vec",)),
    Variant("s2vec_aligned", ("s2vec_aligned",)),
    Variant("s2vec_patch", ("s2vec_patch",)),
    Variant("location", ("location",)),
    Variant("s2vec+location", ("s2vec", "location")),
    Variant("geoclip", ("geoclip",)),
    Variant("s2vec+geoclip proj-add", ("s2vec", "geoclip"), "proj-add"),
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
                external={v: emb / v / f"{name}.parquet" for v in EMBEDDINGS if v != "s2vec"},
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
        "--taxonomy",
        default="v1",
        help="v2: buildings and land use too; only the sliding model, counts and S2Vec",
    )
    parser.add_argument(
        "--support-model",
        action="store_true",
        help="also train and evaluate a model on the features in >= 1 %% of all cells",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = args.out / f"L{args.level}_{args.image_level}_e{args.epochs}_s{args.seed}"
    if args.taxonomy != "v1":
        out = out.with_name(f"{out.name}_{args.taxonomy}")
        for name in ("aligned",):
            MODELS.pop(name)
        for name in ("s2vec_aligned", "s2vec_patch"):
            EMBEDDINGS.pop(name)
        VARIANTS[:] = [v for v in VARIANTS if v.name in ("counts", "s2vec")]
    if args.support_model:
        MODELS.update(SUPPORT_MODEL)
        EMBEDDINGS.update(SUPPORT_EMBEDDING)
        VARIANTS.insert(4, Variant("s2vec_support", ("s2vec_support",)))
    cells = featurize_areas(out, args.level, args.taxonomy)
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed, device="cpu")
    train_models(out, cells, args.image_level, cfg)
    ratios = embed_areas(out, cells, args.image_level)
    (out / "seams.json").write_text(json.dumps(ratios, indent=1))
    log.info("seam ratios: %s", json.dumps(ratios, indent=1))
    evaluate_all(out, cells, args.splits, args.block_level)


if __name__ == "__main__":
    main()
