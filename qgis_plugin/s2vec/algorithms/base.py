"""What every S2Vec algorithm shares: naming, help, parameters from declarations, the run.

An algorithm is a declaration (QuickOSM's pairing of each parameter with how
it is read): its engine ``COMMAND``, its inputs (:meth:`S2VecAlgorithm.inputs`
and :meth:`S2VecAlgorithm.engine_inputs`, side by side), the engine options
it offers (``OPTIONS``, names of the engine's vocabulary, built by
:func:`.params.declared` and read back by :func:`.params.engine_options`) and
its output. :meth:`S2VecAlgorithm.processAlgorithm` is the same for all:
check the destinations, export the inputs, run the engine, deliver the output.
"""

from __future__ import annotations

import contextlib
import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingOutputFile,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterVectorDestination,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..destinations import check_file, check_folder, new_folder_or_cleared, workspace
from ..engine import deliver, option, run_engine
from ..layers import export_source
from ..metadata import ICON_PATH, help_url
from ..styles import style_on_load
from ..words import Words
from .params import (
    INPUT,
    declaration,
    declared,
    engine_options,
    feature_layer,
    folder_output,
    layer_output,
    more_files,
    optional_file_output,
)

NOT_KEPT = "(not kept: choose a destination for it to keep it)"
"""What the log shows for an optional product the user did not ask for."""


class S2VecAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses declare the class constants and their inputs and output."""

    NAME = ""
    DISPLAY_NAME = ""
    GROUP = ""
    GROUP_ID = ""
    HELP = ""
    COMMAND = ""
    """The ``s2vec`` engine command."""
    OPTIONS: tuple[str, ...] = ()
    """Names of the engine's declared options this algorithm offers."""
    OUTPUT = "OUTPUT"
    OUTPUT_FOLDER = False
    """The output is a folder (else a layer)."""
    OUTPUT_POLYGONS = True
    """An output layer of polygons (cells); else of any geometry."""
    OUTPUT_LABEL = ""
    OUTPUT_HELP = ""
    FILES: tuple[tuple[str, str, str], ...] = ()
    """Outputs inside an output folder: (key, description, file name)."""
    MORE: tuple[str, str, str] | None = None
    """Optional further input files (several areas): (key, description, help)."""
    PRODUCTS: tuple[tuple[str, str, str, str], ...] = ()
    """Optional further outputs the engine writes beside its output, kept when the user picks
    a destination: (key, description, file filter, help); see :meth:`products`."""
    FLAGS: tuple[tuple[str, str], ...] = ()
    """Engine flags of the algorithm's own inputs, by parameter key (named in its messages)."""
    STYLE = None
    """Style applied to the output layer when Processing loads it (or ``None``)."""

    def name(self) -> str:
        """Algorithm id inside the provider (``s2vec:<name>``)."""
        return self.NAME

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        """Name shown in the toolbox."""
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:
        """Toolbox group shown to users."""
        return self.tr(self.GROUP)

    def groupId(self) -> str:  # noqa: N802 (QGIS API)
        """Stable id of the toolbox group."""
        return self.GROUP_ID

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS API)
        """Help shown beside the dialog."""
        return self.tr(self.HELP)

    def icon(self) -> QIcon:
        """The S2Vec icon."""
        return QIcon(ICON_PATH)

    def helpUrl(self) -> str:  # noqa: N802 (QGIS API)
        """The algorithm's section of the plugin's README on the repository."""
        return help_url(self.NAME)

    def createInstance(self) -> S2VecAlgorithm:  # noqa: N802 (QGIS API)
        """A fresh instance of the same algorithm, as Processing requires."""
        return type(self)()

    def tr(self, text: str) -> str:
        """Translate ``text`` in the plugin's context."""
        return QCoreApplication.translate("S2Vec", text)

    # -- what a subclass declares ---------------------------------------------------------

    def inputs(self) -> list[QgsProcessingParameterDefinition]:
        """The input parameters (layers, files), shown before the options."""
        return []

    def engine_inputs(self, parameters, context, feedback, folder: str) -> list[str]:
        """The engine arguments of the inputs (exported layers, files)."""
        return []

    def output(self) -> QgsProcessingParameterDefinition:
        """The output parameter: a folder or a layer (:data:`OUTPUT_FOLDER`)."""
        if self.OUTPUT_FOLDER:
            return folder_output(self.OUTPUT, self.OUTPUT_LABEL, self.OUTPUT_HELP)
        return layer_output(self.OUTPUT, self.OUTPUT_LABEL, self.OUTPUT_HELP, self.OUTPUT_POLYGONS)

    def products(self, folder: str, produced: str, kept: dict[str, str]) -> dict[str, str]:
        """Where the engine writes each of :data:`PRODUCTS`, by key.

        ``produced`` is the engine's ``--output`` path in the work ``folder``;
        ``kept`` the products' destinations the user chose.
        """
        return {}

    def more(self, parameters, context) -> list[str]:
        """The further input files chosen for :data:`MORE` (none when not offered)."""
        if self.MORE is None:
            return []
        return [p for p in self.parameterAsFileList(parameters, self.MORE[0], context) if p]

    # -- the same for all -------------------------------------------------------------------

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """Inputs, then the declared options, then the output."""
        for parameter in self.inputs():
            self.addParameter(parameter)
        if self.MORE is not None:
            self.addParameter(more_files(*self.MORE))
        for name in self.OPTIONS:
            self.addParameter(declared(name))
        self.addParameter(self.output())
        for product in self.PRODUCTS:
            self.addParameter(optional_file_output(*product))
        for key, description, _ in self.FILES:
            self.addOutput(QgsProcessingOutputFile(key, description))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Check the destinations, export the inputs, run ``s2vec <COMMAND>``, deliver the outputs.

        A folder output is written by the engine straight into its destination
        (its own checks and ``Overwrite`` apply there); a layer output and the
        optional products are written in the work folder and moved into place.
        """
        destination, kept = self.destinations(parameters, context)
        output = self.parameterDefinition(self.OUTPUT).description()
        if self.OUTPUT_FOLDER:
            check_folder(destination, output, self.overwrite(parameters, context))
        else:
            check_file(destination, output)
        for key, path in kept.items():
            check_file(path, self.parameterDefinition(key).description())
        words = Words(self.flag_labels())
        with workspace() as folder, self.fresh(destination):
            args = [
                *self.engine_inputs(parameters, context, feedback, folder),
                *engine_options(self, self.OPTIONS, parameters, context, feedback, folder),
            ]
            produced = destination
            if not self.OUTPUT_FOLDER:
                produced = engine_output(folder, destination)
                os.makedirs(os.path.dirname(produced))
            extras = self.products(folder, produced, kept)
            shown = {produced: destination}
            shown.update((extras[key], kept.get(key, NOT_KEPT)) for key in extras)
            args.append(option("--output", produced))
            run_engine(self.COMMAND, args, feedback, shown=shown, words=words)
            if not self.OUTPUT_FOLDER:
                deliver(produced, destination)
            for key, path in kept.items():
                if extras.get(key) != path:
                    deliver(extras[key], path)
        if self.STYLE is not None:
            style_on_load(context, destination, self.STYLE)
        files = {key: os.path.join(destination, name) for key, _, name in self.FILES}
        return {self.OUTPUT: destination, **files, **kept}

    def destinations(self, parameters, context) -> tuple[str, dict[str, str]]:
        """The output's destination and those of the optional products the user chose."""
        layer = isinstance(
            self.parameterDefinition(self.OUTPUT), QgsProcessingParameterVectorDestination
        )
        read = self.parameterAsOutputLayer if layer else self.parameterAsFileOutput
        chosen = {
            key: self.parameterAsFileOutput(parameters, key, context) for key, *_ in self.PRODUCTS
        }
        return read(parameters, self.OUTPUT, context), {k: p for k, p in chosen.items() if p}

    def overwrite(self, parameters, context) -> bool | None:
        """Whether the user ticked *Overwrite*; ``None`` when the algorithm offers none."""
        if "overwrite" not in self.OPTIONS:
            return None
        return self.parameterAsBoolean(parameters, declaration("overwrite").key, context)

    def fresh(self, destination: str):
        """For a folder output: what a failed run wrote there is removed if it was new or empty."""
        if self.OUTPUT_FOLDER:
            return new_folder_or_cleared(destination)
        return contextlib.nullcontext()

    def flag_labels(self) -> dict[str, str]:
        """The engine flags of this algorithm's own inputs and output, by parameter label."""
        own = {"--output": self.OUTPUT, **dict(self.FLAGS)}
        return {
            flag: self.parameterDefinition(key).description()
            for flag, key in own.items()
            if self.parameterDefinition(key) is not None
        }

    def exported(self, parameters, name: str, context, feedback, folder: str) -> str:
        """The layer parameter ``name`` written to a file for the engine."""
        return export_source(self, parameters, name, context, feedback, folder)


class LayerInput(S2VecAlgorithm):
    """An algorithm whose input is one vector layer (``INPUT``), exported for the engine."""

    INPUT_LABEL = ""
    INPUT_HELP = ""
    INPUT_KIND = QgsProcessing.TypeVectorAnyGeometry
    """The geometries the layer may have."""

    def inputs(self):
        """The layer."""
        return [feature_layer(self.INPUT_LABEL, self.INPUT_HELP, kind=self.INPUT_KIND)]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The layer, exported."""
        return [self.exported(parameters, INPUT, context, feedback, folder)]


def engine_output(folder: str, destination: str) -> str:
    """Path inside the work ``folder`` where the engine writes what goes to ``destination``.

    Keeping the destination's file name keeps the GeoPackage layer name the engine derives
    from it; the file goes into a subfolder of its own, so that it never has the name of an
    input exported into the work folder (an output ``cells.gpkg`` beside the exported
    ``cells.gpkg`` would be refused by the engine as its own input).

    Examples
    --------
    >>> engine_output("/tmp/s2vec-x", "/data/cells.gpkg")
    '/tmp/s2vec-x/output/cells.gpkg'
    """
    return os.path.join(folder, "output", os.path.basename(os.path.normpath(destination)))
