"""Several areas in one evaluation: leave-one-area-out transfer, per-area blocks, areas files."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from s2vec_geo.cli import main
from s2vec_geo.evaluation import (
    Area,
    MLPConfig,
    TrainSettings,
    Variant,
    area_splits,
    evaluate,
    evaluate_areas,
    read_areas,
    write_report,
)
from s2vec_geo.evaluation.baselines import normalized_blocks
from s2vec_geo.evaluation.inputs import read_keyed_table
from s2vec_geo.io.layers import write_layer
from s2vec_geo.s2 import cell_parent, cell_to_latlng, cells_frame, cover

# Real level-15 S2 cells in three cities; one embedding column explains the target everywhere.
BOXES = {
    "nyc": (-74.02, 40.70, -73.98, 40.73),
    "helsinki": (24.92, 60.16, 24.98, 60.18),
    "sydney": (151.19, -33.88, 151.23, -33.85),
}
FAST = {
    "grid": (MLPConfig(lr=1e-2, hidden=64, dropout=0.0),),
    "train_settings": TrainSettings(max_epochs=200, patience=20),
}


def embeddings(box: tuple[float, float, float, float], seed: int) -> gpd.GeoDataFrame:
    cells = cover(shapely.box(*box), 15)
    frame = cells_frame(cells)
    x = np.random.default_rng(seed).normal(size=(cells.size, 4)).astype(np.float32)
    for i in range(x.shape[1]):
        frame[f"emb_{i:03d}"] = x[:, i]
    return frame


def point_labels(cells: np.ndarray, values: np.ndarray, name: str = "y") -> gpd.GeoDataFrame:
    lat, lng = cell_to_latlng(cells)
    return gpd.GeoDataFrame({name: values}, geometry=gpd.points_from_xy(lng, lat), crs=4326)


def synthetic_area(name: str, seed: int, box: tuple | None = None) -> Area:
    """The target is the same function of emb_000 and emb_001 in every area."""
    emb = embeddings(box or BOXES[name], seed)
    x = emb[["emb_000", "emb_001"]].to_numpy(np.float64)
    return Area(name, emb, point_labels(emb.index.to_numpy(), np.sin(x[:, 0]) + x[:, 1]), "y")


@pytest.fixture(scope="module")
def areas() -> list[Area]:
    return [synthetic_area(name, seed) for seed, name in enumerate(BOXES)]


@pytest.fixture(scope="module")
def both_modes(areas: list[Area]):
    return evaluate_areas(
        areas, ["leave-one-area-out", "blocks"], n_splits=2, block_level=12, seed=1, **FAST
    )


def test_a_feature_that_explains_the_target_everywhere_transfers_and_location_does_not(
    both_modes,
) -> None:
    loao = both_modes.summary("leave-one-area-out")
    assert list(loao.index.unique("variant")) == ["s2vec", "location", "s2vec+location"]
    assert list(loao.loc["s2vec"].index) == [*BOXES, "mean over areas", "pooled"]
    for area in BOXES:
        assert loao.loc[("s2vec", area), "r2_mean"] > 0.8
        assert loao.loc[("s2vec", area), "spearman_mean"] > 0.9
        # location cannot know a city it never saw
        assert loao.loc[("location", area), "r2_mean"] < 0.2
        assert loao.loc[("s2vec", area), "r2_mean"] > loao.loc[("location", area), "r2_mean"] + 0.6
    assert loao.loc[("s2vec", "pooled"), "r2_mean"] > 0.8
    assert loao.loc[("s2vec", "mean over areas"), "r2_mean"] == pytest.approx(
        np.mean([loao.loc[("s2vec", a), "r2_mean"] for a in BOXES])
    )
    blocks = both_modes.summary("blocks")
    assert list(blocks.loc["s2vec"].index) == [*BOXES, "mean over areas"]  # no pooled row
    assert blocks.loc[("s2vec", "mean over areas"), "r2_mean"] > 0.7
    assert set(both_modes.scores["mode"]) == {"leave-one-area-out", "blocks"}
    assert len(both_modes.scores) == 2 * 3 * 3 * 2  # modes x areas x variants x runs


def test_loao_scales_the_target_with_the_training_areas_only(areas: list[Area], both_modes) -> None:
    ys = {a.name: a.labels["y"].to_numpy() for a in areas}
    for entry in both_modes.settings["areas"]:
        others = np.concatenate([y for name, y in ys.items() if name != entry["name"]])
        assert entry["leave-one-area-out scale"] == [others.min(), others.max()]
        own = ys[entry["name"]]
        assert entry["blocks scale"] == [own.min(), own.max()]
    every = np.concatenate(list(ys.values()))
    assert both_modes.settings["leave-one-area-out pooled scale"] == [every.min(), every.max()]


def test_the_test_area_never_trains_or_validates_even_where_areas_overlap() -> None:
    a = cover(shapely.box(*BOXES["nyc"]), 15)
    b = cover(shapely.box(-74.00, 40.72, -73.96, 40.75), 15)  # overlaps a's north-east corner
    c = cover(shapely.box(*BOXES["helsinki"]), 15)
    cells = np.concatenate([a, b, c])
    areas = np.repeat([0, 1, 2], [a.size, b.size, c.size])
    blocks = cell_parent(cells, 13)
    shared = np.intersect1d(a, b)
    assert shared.size > 5
    folds = area_splits(areas, cells, blocks, n_splits=3, val_fraction=0.25, seed=4)
    for k, runs in enumerate(folds):
        for s in runs:
            assert np.array_equal(s.test, np.flatnonzero(areas == k))
            seen = np.concatenate([s.train, s.val])
            assert not np.isin(cells[seen], cells[s.test]).any()
            assert not set(blocks[s.train]) & set(blocks[s.val])  # whole blocks
            assert 0.1 < s.val.size / seen.size < 0.4
        # every other cell of the other areas is used; only the shared ones are left out
        other = (areas != k) & ~np.isin(cells, cells[areas == k])
        assert np.array_equal(
            np.sort(np.concatenate([runs[0].train, runs[0].val])), np.flatnonzero(other)
        )
    assert not np.array_equal(folds[0][0].val, folds[0][1].val)  # runs differ


def test_block_mode_of_each_area_is_evaluate_with_a_block_level(areas: list[Area]) -> None:
    kw = {"location": False, "n_splits": 2, "block_level": 12, "seed": 3, **FAST}
    result = evaluate_areas(areas[:2], "blocks", **kw)
    for area in areas[:2]:
        alone = evaluate(area.embeddings, area.labels, area.target, **kw)
        got = result.scores[result.scores["area"] == area.name]
        cols = ["variant", "split", "r2", "mae", "spearman", "epochs"]
        assert got[cols].reset_index(drop=True).equals(alone.scores[cols])


def test_raw_counts_and_fusions_run_across_areas_too() -> None:
    """Counts tables with different feature columns share one normalisation; an external
    table for every area joins S2Vec in the fusion variants."""
    small = {"nyc": (-74.01, 40.70, -73.995, 40.71), "helsinki": (24.93, 60.16, 24.95, 60.17)}
    areas, ext = [], []
    for seed, (name, box) in enumerate(small.items()):
        emb = embeddings(box, seed)
        cells = emb.index.to_numpy()
        rng = np.random.default_rng(10 + seed)
        counts = pd.DataFrame({"cell_id": cells, "shop": rng.poisson(5, cells.size)})
        if name == "helsinki":
            counts["sauna"] = rng.poisson(1, cells.size)  # a column the other area lacks
        labels = point_labels(cells, np.log1p(counts["shop"].to_numpy()))
        areas.append(Area(name, emb, labels, "y", counts=counts))
        ext.append(pd.DataFrame({"cell_id": cells, "sat_0": rng.normal(size=cells.size)}))
    result = evaluate_areas(
        areas, external={"sat": pd.concat(ext)}, location=False, n_splits=1, **FAST
    )
    summary = result.summary()
    assert list(summary.index.unique("variant")) == [
        "counts",
        "multiscale",  # built from the counts; no model is known, so no untrained network
        "s2vec",
        "sat",
        "s2vec+sat concat",
        "s2vec+sat proj-add",
    ]
    assert summary.loc[("counts", "pooled"), "spearman_mean"] > 0.9
    assert summary.loc[("s2vec", "pooled"), "spearman_mean"] < 0.5
    assert result.settings["blocks"] == {"counts": 2, "multiscale": 6, "s2vec": 4, "sat": 1}
    with pytest.raises(ValueError, match="counts table for every area or for none"):
        evaluate_areas([areas[0], synthetic_area("helsinki", 1, small["helsinki"])], **FAST)


def test_counts_layers_with_geometry_and_missing_cells_count_zero() -> None:
    """A featurized layer (cell polygons) that lacks some labelled cells: those count zero."""
    cells = cover(shapely.box(-74.01, 40.70, -74.005, 40.705), 17)
    layer = cells_frame(cells[::2]).assign(shop=1)  # every other cell has a feature row
    (block,) = normalized_blocks([read_keyed_table(layer, "counts", "s2vec featurize")], [cells])
    assert block.index.tolist() == cells.tolist()
    np.testing.assert_array_equal(block[0].to_numpy() > 0, np.isin(cells, cells[::2]))


def test_same_seed_gives_byte_identical_json(areas: list[Area], tmp_path: Path) -> None:
    kw = {"n_splits": 1, "block_level": 12, "variants": [Variant("s2vec", ("s2vec",))], **FAST}
    dumps = []
    for i, seed in enumerate((5, 5, 6)):
        paths = write_report(evaluate_areas(areas[:2], seed=seed, **kw), tmp_path / str(i))
        dumps.append(paths["json"].read_bytes())
    assert dumps[0] == dumps[1]
    assert dumps[0] != dumps[2]
    text = (tmp_path / "0" / "results.md").read_text()
    assert "## Leave one area out" in text and "| s2vec |" in text and "pooled" in text
    assert (tmp_path / "0" / "results_r2.png").read_bytes().startswith(b"\x89PNG")


def test_density_and_log_put_areas_with_different_units_on_one_scale() -> None:
    """People per polygon over polygons of different sizes become one log density."""
    utm = 32618  # build exact 500 m and 1 km squares in metres near Manhattan
    x0, y0 = 583000.0, 4507000.0
    small = [shapely.box(x0 + 500 * i, y0, x0 + 500 * (i + 1), y0 + 500) for i in range(4)]
    big = [shapely.box(x0 + 1000 * i, y0 + 2000, x0 + 1000 * (i + 1), y0 + 3000) for i in range(2)]
    density = np.array([100.0, 2000.0, 500.0, 8000.0, 300.0, 4000.0])  # people per km2
    area_km2 = np.array([0.25] * 4 + [1.0] * 2)
    polys = gpd.GeoDataFrame({"people": density * area_km2}, geometry=small + big, crs=utm).to_crs(
        4326
    )
    cells = cover(shapely.box(*polys.total_bounds), 16)
    emb = cells_frame(cells)
    emb["emb_000"] = np.random.default_rng(0).normal(size=cells.size)
    result = evaluate(
        emb,
        polys,
        "people",
        transform=("density", "log"),
        rule="centroid",
        location=False,
        n_splits=1,
        **FAST,
    )
    lo, hi = result.settings["target_min"], result.settings["target_max"]
    assert lo == pytest.approx(np.log1p(100.0), abs=0.01)  # UTM squares are ~0.1 % off
    assert hi == pytest.approx(np.log1p(8000.0), abs=0.01)
    assert result.settings["transform"] == ["density", "log"]
    with pytest.raises(ValueError, match="density transform divides polygon labels"):
        evaluate(emb, point_labels(cells, np.arange(cells.size)), "y", transform=["density"])
    with pytest.raises(ValueError, match="order density, log"):
        Area("a", emb, polys, "people", transform=["log", "density"])


def test_spearman_ranks_cells_and_ignores_monotone_distortions(areas: list[Area]) -> None:
    from s2vec_geo.evaluation import spearman

    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    pred = y + rng.normal(scale=0.5, size=200)
    assert spearman(y, np.exp(3 * pred)) == pytest.approx(spearman(y, pred))
    ranks = pd.Series(y).rank().to_numpy(), pd.Series(pred).rank().to_numpy()
    assert spearman(y, pred) == pytest.approx(np.corrcoef(*ranks)[0, 1])
    assert spearman(np.array([1.0, 1.0, 2.0, 3.0]), np.array([5.0, 5.0, 6.0, 7.0])) == 1.0
    assert np.isnan(spearman(y, np.ones(200)))
    assert spearman(y, -pred) == pytest.approx(-spearman(y, pred))


# ----------------------------------------------------------------------------- areas files


def write_area_files(folder: Path, name: str, seed: int, box: tuple | None = None) -> None:
    area = synthetic_area(name, seed, box)
    folder.mkdir(parents=True, exist_ok=True)
    write_layer(area.embeddings, folder / f"{name}_emb.gpkg")
    area.labels.to_file(folder / f"{name}_labels.gpkg")


AREAS_TOML = """
target = "y"
rule = "centroid"

[[area]]
name = "nyc"
embeddings = "../data/nyc_emb.gpkg"
labels = "../data/nyc_labels.gpkg"

[[area]]
name = "helsinki"
embeddings = "../data/helsinki_emb.gpkg"
labels = "../data/helsinki_labels.gpkg"
drop_missing = true
"""


@pytest.fixture(scope="module")
def areas_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("areas")
    for seed, name in enumerate(("nyc", "helsinki")):
        box = {"nyc": (-74.01, 40.70, -73.995, 40.71), "helsinki": (24.93, 60.16, 24.95, 60.17)}
        write_area_files(root / "data", name, seed, box[name])
    path = root / "config" / "areas.toml"
    path.parent.mkdir()
    path.write_text(AREAS_TOML)
    return path


def test_areas_file_resolves_paths_against_its_folder(
    areas_file: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths must not depend on the working folder
    nyc, helsinki = read_areas(areas_file)
    assert nyc.embeddings == areas_file.parent / "../data/nyc_emb.gpkg"
    assert Path(nyc.embeddings).is_file() and Path(helsinki.labels).is_file()
    assert (nyc.target, nyc.rule, nyc.drop_missing) == ("y", "centroid", None)
    assert helsinki.drop_missing is True
    monkeypatch.chdir(areas_file.parents[1])  # the areas file given by a relative path
    nyc, _ = read_areas(Path("config") / "areas.toml")
    assert nyc.embeddings == Path("config/../data/nyc_emb.gpkg")
    assert Path(nyc.embeddings).is_file()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('labels = "../data/helsinki_labels.gpkg"', 'labels = "../data/helsinky.gpkg"'),
            r"areas\.toml: area 2 'helsinki': labels: file '.*helsinky\.gpkg' does not exist; "
            r"fix the path \(relative paths are read from the areas file's folder\)",
        ),
        (
            ("drop_missing = true", 'lables = "x.gpkg"'),
            r"areas\.toml: area 2 'helsinki': unknown key 'lables'; use one of name, ",
        ),
        (('rule = "centroid"', 'rules = "centroid"'), r"areas\.toml: unknown key 'rules'"),
        (('name = "helsinki"', 'name = "nyc"'), "area name 'nyc' is used twice"),
        (('target = "y"', "target = 3"), r"area 1 'nyc': target must be a str, got 3"),
        (('target = "y"', 'transform = ["log", "density"]\ntarget = "y"'), "order density, log"),
        (('target = "y"', 'target = "y'), "is not valid TOML"),
    ],
)
def test_areas_file_errors_name_the_problem_and_the_fix(
    areas_file: Path, tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    bad = tmp_path / "areas.toml"
    data = (areas_file.parents[1] / "data").as_posix()
    bad.write_text(AREAS_TOML.replace(*edit).replace("../data", data))
    with pytest.raises(ValueError, match=message) as err:
        read_areas(bad)
    assert "\n" not in str(err.value)


def test_an_area_without_labelled_cells_is_named_in_the_error(areas: list[Area]) -> None:
    far = Area("nowhere", areas[1].embeddings, areas[0].labels, "y")  # NYC labels, Helsinki cells
    with pytest.raises(ValueError, match=r"area 'nowhere': none of the \d+ labels falls on any"):
        evaluate_areas([areas[0], far], **FAST)
    with pytest.raises(ValueError, match="needs at least 2 areas"):
        evaluate_areas(areas[:1], "leave-one-area-out", **FAST)
    with pytest.raises(ValueError, match="unknown evaluation mode 'loao'"):
        evaluate_areas(areas, "loao", **FAST)
    with pytest.raises(ValueError, match="used twice"):
        evaluate_areas([areas[0], areas[0]], **FAST)
    with pytest.raises(ValueError, match="names a summary row"):
        Area("pooled", areas[0].embeddings, areas[0].labels, "y")


def test_cli_runs_both_modes_from_an_areas_file(areas_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    argv = ["evaluate", "--areas", str(areas_file), "--leave-one-area-out", "--blocks"]
    argv += ["--n-splits", "1", "--block-level", "14", "--no-location", "--output", str(out)]
    assert main(argv) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["settings"]["modes"] == ["leave-one-area-out", "blocks"]
    assert set(result["summary"]["leave-one-area-out"]["s2vec"]) == {
        "nyc",
        "helsinki",
        "mean over areas",
        "pooled",
    }
    assert result["summary"]["leave-one-area-out"]["s2vec"]["mean over areas"]["r2_mean"] > 0.5
    text = (out / "results.md").read_text()
    assert "## Leave one area out" in text and "## Block splits within each area" in text
    assert (out / "results_r2.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--embeddings", "emb.gpkg"], "--embeddings is for one area; with --areas set"),
        (["--holdout=1,2,3,4"], "--holdout is for one area"),
    ],
)
def test_cli_bad_areas_input_exits_2_with_one_line(
    areas_file: Path, tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    argv = ["evaluate", "--areas", str(areas_file), "--output", str(tmp_path / "o"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_without_areas_or_with_a_missing_areas_file_exits_2(tmp_path: Path, capsys) -> None:
    out = ["--output", str(tmp_path / "o")]
    assert main(["evaluate", "--leave-one-area-out", *out]) == 2
    assert "--leave-one-area-out needs several areas" in capsys.readouterr().err
    assert main(["evaluate", *out]) == 2
    assert "give --embeddings, --labels and --target" in capsys.readouterr().err
    assert main(["evaluate", "--areas", str(tmp_path / "none.toml"), *out]) == 2
    assert "areas file" in capsys.readouterr().err


@pytest.mark.shared_data
def test_kontur_hexagons_become_people_per_km2(shared_data: Path) -> None:
    from s2vec_geo.evaluation import geodesic_area_km2, read_labels
    from s2vec_geo.evaluation.targets import transform_labels

    path = shared_data / "labels" / "kontur" / "kontur_population_monaco.gpkg"
    hexagons = read_labels(path, "population")
    area = geodesic_area_km2(hexagons.geometry)
    assert ((area > 0.70) & (area < 0.78)).all()  # H3 resolution 8: about 0.74 km2
    density = transform_labels(hexagons, "population", ["density"])["population"]
    assert np.allclose(density * area, hexagons["population"])
    assert density.max() > 10_000  # Monaco: one of the densest places on Earth


@pytest.mark.shared_data
def test_kontur_population_density_transfers_between_countries(shared_data: Path) -> None:
    """Raw counts of the OSM extracts as the 'embedding', Kontur log population density:
    what counts of shops and roads say about density carries over to another country; the
    location encoding of a country never seen carries nothing."""
    import s2vec_geo as s2v

    areas = []
    for country, pbf in (
        ("andorra", "graphhopper-andorra.osm.pbf"),
        ("liechtenstein", "valhalla-liechtenstein.osm.pbf"),
        ("krems", "graphhopper-krems.osm.pbf"),
    ):
        cells = s2v.featurize(shared_data / "osm" / pbf, level=14)
        cols = s2v.feature_columns(cells)
        emb = pd.DataFrame(
            np.log1p(cells[cols].to_numpy(np.float32)),
            index=cells.index,
            columns=[f"emb_{i:03d}" for i in range(len(cols))],
        )
        labels = shared_data / "labels" / "kontur" / f"kontur_population_{country}.gpkg"
        areas.append(Area(country, emb, labels, "population", transform=["density", "log"]))
    result = evaluate_areas(areas, n_splits=1, **FAST)
    summary = result.summary()
    assert [a["labelled_cells"] > 50 for a in result.settings["areas"]] == [True] * 3
    assert list(summary.index.unique("area")) == [
        *(a.name for a in areas),
        "mean over areas",
        "pooled",
    ]
    pooled = summary.xs("pooled", level="area")["spearman_mean"]
    assert pooled["s2vec"] > 0.3
    assert pooled["s2vec"] > pooled["location"] + 0.2
