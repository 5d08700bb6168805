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
table used the defaults.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import osmium
import shapely

import s2vec_geo as sv
from s2vec_geo.io import read_cell_layer, write_layer
from s2vec_geo.seams import seams
from s2vec_geo.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
KONTUR = SHARED / "labels" / "kontur"
log = logging.getLogger("evaluate_transfer")


@dataclass(frozen=True)
class Area:
    """An OSM extract, its population labels and the box where its features are."""

    pbf: Path
    labels: Path
    target: str
    box: tuple[float, float, float, float] | None = None  # None: the PBF header box
    labels_crs: str | None = None


AREAS = {
    "helsinki": Area(
        REPO / "examples" / "data" / "helsinki.osm.pbf",
        SHARED / "labels" / "helsinki_population_grid_2020.gpkg",
        "population",
    ),
    "manhattan": Area(
        SHARED / "osm" / "autark-lower-manhattan.osm.pbf",
        SHARED / "labels" / "nyc_tract_acs" / "NYC_Tract_ACS2008_12.shp",
        "poptot",
        box=(-74.02, 40.70, -74.00, 40.716),
        labels_crs="EPSG:4326",
    ),
    "andorra": Area(
        SHARED / "osm" / "graphhopper-andorra.osm.pbf",
        KONTUR / "kontur_population_andorra.gpkg",
        "population",
    ),
    "liechtenstein": Area(
        SHARED / "osm" / "valhalla-liechtenstein.osm.pbf",
        KONTUR / "kontur_population_liechtenstein.gpkg",
        "population",
    ),
    "monaco": Area(
        SHARED / "osm" / "srai-monaco.osm.pbf",
        KONTUR / "kontur_population_monaco.gpkg",
        "population",
    ),
    "krems": Area(
        SHARED / "osm" / "graphhopper-krems.osm.pbf",
        KONTUR / "kontur_population_krems.gpkg",
        "population",
    ),
}
EMBEDDINGS = {
    # name: (model trained with these windows, embed mode, embed windows)
    "s2vec": ("sliding", "contextual", "sliding"),
    "s2vec_aligned": ("aligned", "contextual", "aligned"),
    "s2vec_patch": ("sliding", "patch", None),
}


def labels_of(area: Area) -> gpd.GeoDataFrame:
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


def featurize_areas(out: Path, level: int) -> dict[str, Path]:
    """Cells of every area over its labelled polygons (zeros included), cached."""
    paths = {}
    (out / "cells").mkdir(parents=True, exist_ok=True)
    for name, area in AREAS.items():
        path = out / "cells" / f"{name}.parquet"
        if not path.exists():
            aoi = shapely.union_all(labels_of(area).geometry.to_numpy())
            cells = sv.featurize(area.pbf, level=level, aoi=aoi)
            write_layer(cells, path)
            log.info("%s: %d cells", name, len(cells))
        paths[name] = path
    return paths


def train_models(out: Path, cells: dict[str, Path], image_level: int, cfg: TrainConfig) -> None:
    """One model over all areas per window mode (one image dataset per area)."""
    for windows in ("sliding", "aligned"):
        run = out / f"model_{windows}"
        if (run / "model.pt").exists():
            continue
        images = []
        for name, path in cells.items():
            folder = out / "images" / name
            folder.parent.mkdir(parents=True, exist_ok=True)
            if not (folder / "meta.json").exists():
                sv.build_images(read_cell_layer(path), image_level, out=folder)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "transfer")
    parser.add_argument("--level", type=int, default=16)
    parser.add_argument("--image-level", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = args.out / f"L{args.level}_{args.image_level}_e{args.epochs}_s{args.seed}"
    cells = featurize_areas(out, args.level)
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed, device="cpu")
    train_models(out, cells, args.image_level, cfg)
    ratios = embed_areas(out, cells, args.image_level)
    (out / "seams.json").write_text(json.dumps(ratios, indent=1))
    log.info("seam ratios: %s", json.dumps(ratios, indent=1))


if __name__ == "__main__":
    main()
