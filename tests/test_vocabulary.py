"""One vocabulary: the Python faces and the command line say what ``core.options`` declares.

Every user-facing option is declared once (:mod:`s2vec_geo.core.options`). These
tests enumerate the faces and fail on any name, default, choice or range that
differs from its declaration:

- the command-line parsers: every flag of every command is a declared option
  of that command (or one of the few input/output paths), spelled as
  declared, with the declared default, choices, type and repetition;
- the Python signatures and settings dataclasses: every option a function
  takes is a keyword of that name with the declared default;
- the checks: values just outside a declared range are refused where the
  Python face checks them, and the bounds themselves pass.

The QGIS half is ``tests/qgis/test_qgis_vocabulary.py``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

import s2vec_geo as sv
from s2vec_geo.accessor import S2VecAccessor
from s2vec_geo.cli import COMMAND_MODULES, build_parser, parse
from s2vec_geo.core import options as o
from s2vec_geo.core.guards import limit
from s2vec_geo.distributed import dask_client
from s2vec_geo.evaluation import align_labels, random_splits
from s2vec_geo.images.build import check_min_support
from s2vec_geo.model.mae import MAEConfig
from s2vec_geo.model.training import TrainConfig
from s2vec_geo.pipeline import run_pipeline
from s2vec_geo.s2 import validate_level

PACKAGE = Path(sv.__file__).parent

IO_FLAGS = {
    "--output",
    "--model",
    "--embeddings",
    "--labels",
    "--target",
    "--counts",
    "--areas",
    "--work-dir",
    "--model-out",
    "--png",
    "--geotiff-out",
}
"""Flags that name files, folders or a label column: a command's inputs and outputs, not options."""
GLOBAL_FLAGS = {"--help", "--debug", "--verbose"}
SHARED_NAMES = {
    "windows": {o.WINDOWS, o.EMBED_WINDOWS},
    "batch_size": {o.BATCH_SIZE, o.EMBED_BATCH_SIZE},
}
"""Names declared twice on purpose: training vs embedding (the model decides the embedding's)."""

FACES = {
    sv.featurize: (
        o.LEVEL,
        o.AOI,
        o.TAXONOMY,
        o.LAYER,
        o.BBOX,
        o.CATEGORY_COLUMN,
        o.POLYGONS,
        o.MAX_CELLS_PER_POLYGON,
        o.MAX_CELLS,
        o.MEMORY_BUDGET,
    ),
    sv.cover: (o.MEMORY_BUDGET,),
    sv.read_features: (o.LAYER, o.TAXONOMY, o.BBOX, o.CATEGORY_COLUMN, o.POLYGONS),
    sv.featurize_distributed: (
        o.LEVEL,
        o.TAXONOMY,
        o.LAYER,
        o.BBOX,
        o.CATEGORY_COLUMN,
        o.POLYGONS,
        o.WORKERS,
        o.SCHEDULER,
        o.MAX_CELLS_PER_POLYGON,
    ),
    sv.build_images: (
        o.IMAGE_LEVEL,
        o.LOG1P,
        o.SHARD_SIZE,
        o.OVERWRITE,
        o.MIN_SUPPORT,
        o.MAX_CELLS,
    ),
    sv.build_images_distributed: (o.IMAGE_LEVEL, o.LOG1P, o.SHARD_SIZE, o.WORKERS, o.SCHEDULER),
    sv.export_geotiff: (o.FEATURES, o.NORMALIZED),
    sv.train: (o.RESUME, o.OVERWRITE),
    sv.embed: (o.MODE, o.IMAGES, o.EMBED_BATCH_SIZE, o.EMBED_WINDOWS, o.STRIDE),
    sv.embed_distributed: (
        o.MODE,
        o.IMAGES,
        o.EMBED_BATCH_SIZE,
        o.EMBED_WINDOWS,
        o.STRIDE,
        o.WORKERS,
        o.SCHEDULER,
    ),
    sv.embed_geometries: (o.MODE, o.MAX_CELLS),
    sv.join_embeddings: (o.MODE, o.MAX_CELLS),
    run_pipeline: (
        o.LEVEL,
        o.IMAGE_LEVEL,
        o.AOI,
        o.MODE,
        o.MIN_SUPPORT,
        o.RESUME,
        o.OVERWRITE,
        o.MAX_CELLS,
    ),
    sv.evaluate: (o.LABELS_CRS, o.LON_COL, o.LAT_COL, o.TRANSFORM, o.EXTERNAL),
    sv.evaluate_areas: (o.EXTERNAL,),
    align_labels: (o.RULE, o.MIN_OVERLAP),
    dask_client: (o.WORKERS, o.SCHEDULER),
    S2VecAccessor.featurize: (o.LEVEL, o.AOI),
    S2VecAccessor.build_images: (o.IMAGE_LEVEL,),
    S2VecAccessor.train: (o.IMAGE_LEVEL, o.MIN_SUPPORT),
    S2VecAccessor.embed: (o.MODE,),
    S2VecAccessor.cell_ids: (o.LEVEL,),
    S2VecAccessor.cover: (o.LEVEL,),
    S2VecAccessor.align_labels: (o.RULE, o.MIN_OVERLAP, o.DROP_MISSING),
}
"""The Python faces and the declared options each takes."""
SETTINGS = {TrainConfig: o.TRAINING, MAEConfig: o.ARCHITECTURE, sv.EvalConfig: o.EVALUATION}
"""Settings dataclasses and the declared options that are their fields."""


def same(value: object, declared: object) -> bool:
    """Equal defaults; "nothing given" may be ``None`` or empty, sequences any kind."""
    if value in (None, ()) and declared in (None, ()):
        return True
    if isinstance(value, (list, tuple)) and isinstance(declared, (list, tuple)):
        return list(value) == list(declared)
    return value == declared and type(value) is type(declared)


# -- the declarations -----------------------------------------------------------------------


def test_declarations_are_well_formed() -> None:
    names: dict[str, set[o.Option]] = {}
    for option in o.ALL:
        names.setdefault(option.name, set()).add(option)
        assert option.flag == "--" + option.name.replace("_", "-")
        assert option.key == option.name.upper()
        assert option.help, option.name
        if option.default is not None and not option.append and option.nargs is None:
            assert option.check(option.default) == option.default, option.name
        if option.labels:
            assert len(option.labels) == len(option.choices), option.name
        if option.min is not None and option.max is not None:
            assert option.min < option.max, option.name
    doubled = {name: opts for name, opts in names.items() if len(opts) > 1}
    assert doubled == SHARED_NAMES, "a name may mean one thing only (or be listed here)"


def test_level_defaults_come_from_one_place() -> None:
    assert (o.LEVEL.default, o.IMAGE_LEVEL.default) == o.LEVEL_PRESETS["city"] == (16, 12)
    assert o.LEVEL_PRESETS["paper"] == (12, 8)
    assert o.LEVEL.max == o.IMAGE_LEVEL.max == o.MAX_LEVEL == 30


def test_one_max_level_in_the_package() -> None:
    defined = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "MAX_LEVEL" for t in node.targets)
    ]
    assert defined == ["core/options.py"]


def test_no_cell_id_literal_outside_the_schema() -> None:
    """Code names the id column ``schema.CELL_ID``; docstrings and messages may say cell_id."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "schema.py":
            continue
        tree = ast.parse(path.read_text())
        in_fstring = {
            id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value == "cell_id"
                and id(node) not in in_fstring
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []


# -- the command line -------------------------------------------------------------------------


def commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def declared_by_command() -> dict[str, dict[str, o.Option]]:
    import importlib

    found = {}
    for module in COMMAND_MODULES:
        command = importlib.import_module(f"s2vec_geo.cli.{module}").COMMAND
        found[command.name] = {opt.flag: opt for opt in command.all_options()}
    return found


def test_every_command_module_is_named_after_its_command() -> None:
    assert set(declared_by_command()) == set(COMMAND_MODULES) == set(commands())


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_command_line_flags_are_the_declared_options(command: str) -> None:
    parser = commands()[command]
    declared = declared_by_command()[command]
    seen = set()
    for action in parser._actions:
        if not action.option_strings:
            continue  # positional inputs
        flag = next(f for f in action.option_strings if f.startswith("--"))
        if flag in GLOBAL_FLAGS | IO_FLAGS:
            continue
        assert flag in declared, f"s2vec {command} {flag} is not a declared option of the command"
        option = declared[flag]
        seen.add(flag)
        assert action.dest == option.name
        assert action.help and action.help.startswith(option.help.replace("%", "%%")[:20])
        if option.type is bool:
            kind = argparse.BooleanOptionalAction if option.default else argparse._StoreTrueAction
            assert isinstance(action, kind) and action.default == option.default
            continue
        assert action.choices == (None if option.open_choices else option.choices or None)
        assert action.nargs == option.nargs
        assert isinstance(action, argparse._AppendAction) == option.append
        if option.type in (int, float, str):
            assert action.type is option.type, flag
    assert seen == set(declared), f"declared but not on the command line: {set(declared) - seen}"


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_command_line_defaults_are_the_declared_ones(command: str) -> None:
    """Parsed with only the required arguments, every option takes its declared default."""
    minimal = {
        "cells": ["in.gpkg", "-o", "out.gpkg"],
        "cover": ["in.gpkg", "-o", "out.gpkg"],
        "featurize": ["in.osm.pbf", "-o", "out.gpkg"],
        "images": ["cells.gpkg", "-o", "images"],
        "geotiff": ["images", "-o", "out.tif"],
        "train": ["images", "-o", "run"],
        "embed": ["cells.gpkg", "-m", "run", "-o", "out.gpkg"],
        "join": ["in.gpkg", "-e", "emb.gpkg", "-o", "out.gpkg"],
        "run": ["in.osm.pbf", "-o", "out.gpkg"],
        "evaluate": ["--output", "eval"],
    }
    args = parse([command, *minimal[command]])
    for option in declared_by_command()[command].values():
        assert same(getattr(args, option.name), option.default), f"s2vec {command} {option.flag}"


def test_the_paper_levels_are_one_flag_away() -> None:
    args = parse(["run", "in.osm.pbf", "-o", "out.gpkg", "--levels", "paper"])
    assert (args.level, args.image_level) == (12, 8)
    args = parse(["run", "in.osm.pbf", "-o", "o.gpkg", "--levels", "paper", "--level", "13"])
    assert (args.level, args.image_level) == (13, 8)
    assert "--levels paper" in commands()["featurize"].format_help().replace("\n", " ")


def test_flags_of_earlier_releases_say_their_new_name(capsys) -> None:
    from s2vec_geo.cli import main

    assert main(["evaluate", "--splits", "3", "--output", "x"]) == 2
    assert "--splits is now --n-splits" in capsys.readouterr().err
    assert main(["train", "images", "-o", "run", "--heads=2"]) == 2
    assert "--heads is now --num-heads" in capsys.readouterr().err


# -- the Python faces ---------------------------------------------------------------------------


@pytest.mark.parametrize("face", FACES, ids=lambda f: f.__qualname__)
def test_python_keywords_and_defaults_are_the_declared_ones(face) -> None:
    parameters = inspect.signature(face).parameters
    for option in FACES[face]:
        assert option.name in parameters, f"{face.__qualname__} has no keyword {option.name}"
        default = parameters[option.name].default
        if default is inspect.Parameter.empty:
            default = None
        assert same(default, option.default), f"{face.__qualname__}({option.name}=...)"


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.__name__)
def test_settings_fields_and_defaults_are_the_declared_ones(settings) -> None:
    fields = {f.name: f.default for f in dataclasses.fields(settings)}
    for option in SETTINGS[settings]:
        assert option.name in fields, f"{settings.__name__} has no field {option.name}"
        assert same(fields[option.name], option.default), f"{settings.__name__}.{option.name}"


# -- the checks ---------------------------------------------------------------------------


def _outside(option: o.Option) -> list[object]:
    """Values just outside the declared range (and the open bounds themselves)."""
    step = 1 if option.type is int else 0.01
    values = []
    if option.min is not None:
        values.append(option.min if option.min_open else option.min - step)
    if option.max is not None:
        values.append(option.max if option.max_open else option.max + step)
    return [option.type(v) for v in values]


def _inside(option: o.Option) -> list[object]:
    """The closed bounds of the declared range."""
    values = [] if option.min is None or option.min_open else [option.min]
    values += [] if option.max is None or option.max_open else [option.max]
    return [option.type(v) for v in values]


def _settings(cls, option: o.Option, value: object) -> None:
    # learned positions: the sine-cosine table's own rule (widths divisible by 4) is a
    # cross-field check, not the declared range under test
    base: dict[str, object] = {"num_features": 4, "grid": 4, "num_heads": 1, "pos_embed": "learned"}
    if cls is TrainConfig:
        base = {"epochs": 10**6} if option is o.WARMUP_EPOCHS else {}
    cls(**{**base, option.name: value})


CHECKS = [
    *((o.LEVEL, validate_level), (o.IMAGE_LEVEL, validate_level), (o.BLOCK_LEVEL, validate_level)),
    (o.MIN_SUPPORT, check_min_support),
    (o.MAX_CELLS, limit),
    (o.N_SPLITS, lambda n: random_splits(10, n)),
    *((opt, lambda v, opt=opt: _settings(TrainConfig, opt, v)) for opt in o.TRAINING),
    *((opt, lambda v, opt=opt: _settings(MAEConfig, opt, v)) for opt in o.ARCHITECTURE),
    *((opt, lambda v, opt=opt: sv.EvalConfig.of(None, {opt.name: v})) for opt in o.EVALUATION),
]
"""The checks the Python faces run on the declared ranges."""


@pytest.mark.parametrize(("option", "check"), CHECKS, ids=lambda x: getattr(x, "name", ""))
def test_the_faces_check_the_declared_ranges(option: o.Option, check) -> None:
    for value in _outside(option):
        with pytest.raises(ValueError):
            check(value)
    for value in _inside(option):
        check(value)
