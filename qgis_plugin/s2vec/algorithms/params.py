"""Processing parameters: the engine's declared options, and the inputs and outputs.

:func:`declared` turns an option of the engine's vocabulary
(:mod:`..vocabulary`) into its Processing parameter: key, description,
type, default, range, choices and help come from the declaration, so a
parameter and its ``s2vec`` flag cannot drift apart. :func:`engine_options`
reads the chosen values back as ``--flag=value`` engine arguments, the one
place that does so for every algorithm. Inputs and outputs (layers, files,
folders) are the algorithms' own and are built by the helpers below.
"""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
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

from ..engine import option as engine_argument
from ..layers import export_source
from ..vocabulary import OPTIONS

INPUT = "INPUT"
"""Key of an algorithm's input layer, the parent of field parameters."""
LON_LAT = QgsCoordinateReferenceSystem("EPSG:4326")
"""The engine takes extents in longitude/latitude."""


def with_help(parameter: QgsProcessingParameterDefinition, text: str):
    """Attach help text (tooltip in the dialog, text in ``qgis_process help``) and return it."""
    parameter.setHelp(text)
    return parameter


def sentence(text: str) -> str:
    """Help text of a declaration as a sentence for the dialog.

    Examples
    --------
    >>> sentence("number of splits (paper: 20)")
    'Number of splits (paper: 20).'
    """
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _number(option) -> QgsProcessingParameterNumber:
    kind = QgsProcessingParameterNumber.Integer
    if option.type is float:
        kind = QgsProcessingParameterNumber.Double
    limits = {}
    if option.min is not None:
        limits["minValue"] = option.min
    if option.max is not None:
        limits["maxValue"] = option.max
    return QgsProcessingParameterNumber(
        option.key,
        option.label,
        type=kind,
        defaultValue=option.default,
        optional=option.default is None,
        **limits,
    )


def _enum(option) -> QgsProcessingParameterEnum:
    labels = list(option.enum_labels)
    if option.append:  # any of the choices, applied in the declared order
        return QgsProcessingParameterEnum(
            option.key, option.label, options=labels, allowMultiple=True, optional=True
        )
    return QgsProcessingParameterEnum(
        option.key, option.label, options=labels, defaultValue=enum_index(option)
    )


def text_default(option) -> str | None:
    """The default of a text option as the dialog shows it: several values space-separated.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> text_default(SimpleNamespace(default=("all",))), text_default(SimpleNamespace(default=None))
    ('all', None)
    """
    if isinstance(option.default, tuple):
        return " ".join(option.default)
    return option.default


def enum_index(option, value=None) -> int:
    """Index of ``value`` (default: the option's default) among the option's enum entries."""
    value = option.default if value is None else value
    if value is None:
        return 0
    return list(option.choices).index(value) + (option.none_label is not None)


def declaration(name: str):
    """The engine's declaration ``name``: its name in the vocabulary, in lower case.

    ``"level"`` is ``LEVEL``; ``"embed_windows"`` is ``EMBED_WINDOWS``, the option
    ``windows`` when embedding (key ``WINDOWS``).
    """
    return getattr(OPTIONS, name.upper())


def declared(name: str, parent: str = INPUT):
    """The Processing parameter of the declaration ``name`` (see :func:`declaration`).

    ``parent`` names the layer a field option (a category column) is chosen from.
    """
    option = declaration(name)
    if option.kind == "layer":
        parameter = QgsProcessingParameterFeatureSource(
            option.key, option.label, [QgsProcessing.TypeVectorPolygon], optional=True
        )
    elif option.kind == "field":
        parameter = QgsProcessingParameterField(
            option.key,
            option.label,
            parentLayerParameterName=parent,
            type=QgsProcessingParameterField.String,
        )
    elif option.kind == "extent":
        parameter = QgsProcessingParameterExtent(option.key, option.label, optional=True)
    elif option.type is bool:
        parameter = QgsProcessingParameterBoolean(option.key, option.label, option.default)
    elif option.choices:
        parameter = _enum(option)
    elif option.type in (int, float):
        parameter = _number(option)
    else:
        parameter = QgsProcessingParameterString(
            option.key, option.label, defaultValue=text_default(option), optional=True
        )
    if option.advanced:
        parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return with_help(parameter, sentence(option.help))


def engine_options(algorithm, names, parameters, context, feedback, folder: str) -> list[str]:
    """``--flag=value`` engine arguments for the declared options ``names``; unset ones left out."""
    args = []
    for name in names:
        option = declaration(name)
        value = _value(algorithm, option, parameters, context, feedback, folder)
        if value is None:
            continue
        if option.type is bool:
            if value:
                args.append(option.flag)
            elif option.default:  # an option on by default is turned off with --no-...
                args.append(f"--no-{option.flag[2:]}")
        elif option.append:  # repeated: --transform=density --transform=log
            args += [engine_argument(option.flag, v) for v in value]
        elif option.nargs is not None:  # several values after the flag: --parents a b
            args += [option.flag, *value]
        else:
            args.append(engine_argument(option.flag, value))
    return args


def _value(algorithm, option, parameters, context, feedback, folder: str):
    """The option's chosen value, as the engine takes it; ``None`` when not given."""
    key = option.key
    if option.kind == "layer":
        given = parameters.get(key) is not None
        return (
            export_source(algorithm, parameters, key, context, feedback, folder) if given else None
        )
    if option.kind == "field":
        fields = algorithm.parameterAsFields(parameters, key, context)
        return fields[0] if fields else None
    if option.kind == "extent":
        if parameters.get(key) is None:
            return None
        box = algorithm.parameterAsExtent(parameters, key, context, LON_LAT)
        corners = (box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum())
        return ",".join(repr(c) for c in corners)
    if option.type is bool:
        return algorithm.parameterAsBoolean(parameters, key, context)
    if option.choices and option.append:
        if parameters.get(key) is None:
            return None
        chosen = set(algorithm.parameterAsEnums(parameters, key, context))
        return [c for i, c in enumerate(option.choices) if i in chosen] or None
    if option.choices:
        index = algorithm.parameterAsEnum(parameters, key, context)
        offset = option.none_label is not None
        return None if index < offset else option.choices[index - offset]
    if option.type in (int, float):
        if parameters.get(key) is None and option.default is None:
            return None
        read = algorithm.parameterAsInt if option.type is int else algorithm.parameterAsDouble
        return read(parameters, key, context)
    text = algorithm.parameterAsString(parameters, key, context)
    if option.nargs is not None:  # several values, separated by spaces or commas
        return text.replace(",", " ").split() or None
    return text or None


# -- inputs and outputs -------------------------------------------------------------------


def pbf_file(key: str = "PBF"):
    """An OpenStreetMap file input."""
    return with_help(
        QgsProcessingParameterFile(
            key,
            "OpenStreetMap file (.osm.pbf)",
            behavior=QgsProcessingParameterFile.File,
            fileFilter="OpenStreetMap files (*.pbf *.osm *.osm.pbf)",
        ),
        "OpenStreetMap extract, e.g. from download.geofabrik.de. Points of interest and roads "
        "are read from it with the S2Vec taxonomy.",
    )


def feature_layer(
    description: str, text: str, key: str = INPUT, kind: int = QgsProcessing.TypeVectorAnyGeometry
):
    """A vector layer input from any provider, of any geometry (or of ``kind``)."""
    return with_help(QgsProcessingParameterFeatureSource(key, description, [kind]), text)


def cell_layer(key: str, description: str, text: str, optional: bool = False):
    """A cell layer input (written by an earlier S2Vec step)."""
    kinds = [QgsProcessing.TypeVectorPolygon]
    return with_help(
        QgsProcessingParameterFeatureSource(key, description, kinds, optional=optional), text
    )


def input_file(
    key: str,
    description: str,
    text: str,
    folder: bool = False,
    filter_: str = "",
    optional: bool = False,
):
    """A file (or folder) input."""
    behavior = QgsProcessingParameterFile.Folder if folder else QgsProcessingParameterFile.File
    parameter = QgsProcessingParameterFile(
        key, description, behavior=behavior, fileFilter=filter_, optional=optional
    )
    return with_help(parameter, text)


def more_files(key: str, description: str, text: str):
    """Optional extra input files (several areas trained as one model)."""
    parameter = QgsProcessingParameterMultipleLayers(
        key, description, layerType=QgsProcessing.TypeFile, optional=True
    )
    return with_help(parameter, text)


def layer_output(key: str, description: str, text: str, polygons: bool = True):
    """A layer output (GeoPackage by default)."""
    kind = QgsProcessing.TypeVectorPolygon if polygons else QgsProcessing.TypeVectorAnyGeometry
    return with_help(QgsProcessingParameterVectorDestination(key, description, kind), text)


def folder_output(key: str, description: str, text: str):
    """A folder output."""
    return with_help(QgsProcessingParameterFolderDestination(key, description), text)


def optional_file_output(key: str, description: str, filter_: str, text: str):
    """An optional file output, skipped unless the user picks a destination."""
    parameter = QgsProcessingParameterFileDestination(
        key, description, filter_, optional=True, createByDefault=False
    )
    return with_help(parameter, text)
