"""The QGIS half of the one vocabulary: every algorithm's parameters are the engine's declarations.

Every parameter of every S2Vec algorithm is either one of the engine's
declared options (``s2vec_geo/core/options.py``: key, type, default, range, enum
entries, advanced flag and help as declared, and a flag its engine command
takes) or one of its inputs and outputs (layers, files, folders, an extent,
the label field). The Python and command-line half is ``tests/test_vocabulary.py``.
"""

from __future__ import annotations

import sys

import pytest

pytest.importorskip(
    "qgis.core",
    reason="QGIS Python bindings not installed (apt-get install qgis python3-qgis "
    "qgis-providers; see qgis_plugin/README.md)",
)
pytest.importorskip("pytest_qgis", reason="pytest-qgis not installed (pip install pytest-qgis)")

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)
from qgis_helpers import PLUGIN_ROOT, run_library

INPUTS_AND_OUTPUTS = (
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterExtent,
    QgsProcessingParameterField,
    QgsProcessingParameterVectorDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterFileDestination,
)
UNBOUNDED = 1e300


@pytest.fixture(scope="module")
def vocabulary(provider):
    """The plugin's view of the engine's declarations (and its builders)."""
    if str(PLUGIN_ROOT) not in sys.path:
        sys.path.insert(0, str(PLUGIN_ROOT))
    from s2vec.algorithms import params

    return params


@pytest.fixture(scope="module")
def engine_flags(engine_python) -> dict[str, list[str]]:
    """The flags of every ``s2vec`` command, read from the engine's own parser."""
    return run_library(
        "import json, argparse; from s2vec_geo.cli import build_parser; "
        "sub = next(a for a in build_parser()._actions "
        "if isinstance(a, argparse._SubParsersAction)); "
        "print(json.dumps({name: [f for a in p._actions for f in a.option_strings] "
        "for name, p in sub.choices.items()}))"
    )


def check_declared(parameter, option, params) -> None:
    """One parameter against its declaration."""
    where = parameter.name()
    assert parameter.name() == option.key
    assert parameter.description() == option.label and option.label, where
    assert parameter.help() == params.sentence(option.help), where
    advanced = bool(parameter.flags() & QgsProcessingParameterDefinition.FlagAdvanced)
    assert advanced == option.advanced, where
    if option.kind == "layer":
        assert isinstance(parameter, QgsProcessingParameterFeatureSource), where
        assert parameter.flags() & QgsProcessingParameterDefinition.FlagOptional, where
    elif option.kind == "field":
        assert isinstance(parameter, QgsProcessingParameterField), where
        assert parameter.parentLayerParameterName() == params.INPUT, where
    elif option.kind == "extent":
        assert isinstance(parameter, QgsProcessingParameterExtent), where
        assert parameter.flags() & QgsProcessingParameterDefinition.FlagOptional, where
    elif option.type is bool:
        assert isinstance(parameter, QgsProcessingParameterBoolean), where
        assert parameter.defaultValue() == option.default, where
    elif option.choices:
        assert isinstance(parameter, QgsProcessingParameterEnum), where
        assert parameter.options() == list(option.enum_labels), where
        assert parameter.allowMultiple() == option.append, where
        default = None if option.append else params.enum_index(option)
        assert parameter.defaultValue() == default, where
    elif option.type in (int, float):
        check_number(parameter, option)
    else:
        assert isinstance(parameter, QgsProcessingParameterString), where
        shown = " ".join(option.default) if option.nargs and option.default else option.default
        assert parameter.defaultValue() == shown, where


def check_number(parameter, option) -> None:
    """A number parameter: its type, default, optional flag and range are the declaration's."""
    where = parameter.name()
    assert isinstance(parameter, QgsProcessingParameterNumber), where
    kind = (
        QgsProcessingParameterNumber.Integer
        if option.type is int
        else (QgsProcessingParameterNumber.Double)
    )
    assert parameter.dataType() == kind, where
    assert parameter.defaultValue() == option.default, where
    optional = bool(parameter.flags() & QgsProcessingParameterDefinition.FlagOptional)
    assert optional == (option.default is None), where
    if option.min is None:
        assert parameter.minimum() < -UNBOUNDED, where
    else:
        assert parameter.minimum() == option.min, where
    if option.max is None:
        assert parameter.maximum() > UNBOUNDED, where
    else:
        assert parameter.maximum() == option.max, where


def test_every_parameter_is_a_declared_option_or_an_input_or_output(provider, vocabulary):
    for algorithm in provider.algorithms():
        declared = {
            vocabulary.declaration(n).key: vocabulary.declaration(n) for n in algorithm.OPTIONS
        }
        for parameter in algorithm.parameterDefinitions():
            option = declared.get(parameter.name())
            if option is not None:
                check_declared(parameter, option, vocabulary)
                continue
            where = f"{algorithm.name()}:{parameter.name()}"
            assert isinstance(parameter, INPUTS_AND_OUTPUTS), f"{where} is not a declared option"
        names = [p.name() for p in algorithm.parameterDefinitions()]
        assert set(declared) <= set(names), algorithm.name()


def test_every_option_offered_is_a_flag_of_the_engine_command(provider, vocabulary, engine_flags):
    for algorithm in provider.algorithms():
        flags = engine_flags[algorithm.COMMAND]
        for name in algorithm.OPTIONS:
            option = vocabulary.declaration(name)
            assert option.flag in flags, (
                f"{algorithm.name()}: s2vec {algorithm.COMMAND} lacks {option.flag}"
            )


def test_the_zip_packs_the_declarations(tmp_path):
    import zipfile

    sys.path.insert(0, str(PLUGIN_ROOT))
    from build_zip import ENGINE_FILES, build_zip

    engine = PLUGIN_ROOT.parent / "s2vec_geo"
    with zipfile.ZipFile(build_zip(tmp_path)) as archive:
        for name, source in ENGINE_FILES.items():  # the engine's one copy, packed as it is
            assert archive.read(f"s2vec/{name}") == (engine / source).read_bytes()
