"""What every S2Vec algorithm shares: naming, help, level parameters, engine outputs."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..engine import deliver, option, run_engine
from ..layers import export_source
from ..provider_icon import ICON_PATH

MAX_LEVEL = 30


class S2VecAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set the class constants and implement the two QGIS hooks.

    ``initAlgorithm`` declares parameters (their keys are class constants),
    ``processAlgorithm`` exports inputs, runs the engine and delivers outputs.
    """

    NAME = ""
    DISPLAY_NAME = ""
    GROUP = ""
    GROUP_ID = ""
    HELP = ""

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

    def createInstance(self) -> S2VecAlgorithm:  # noqa: N802 (QGIS API)
        """A fresh instance of the same algorithm, as Processing requires."""
        return type(self)()

    def tr(self, text: str) -> str:
        """Translate ``text`` in the plugin's context."""
        return QCoreApplication.translate("S2Vec", text)


def with_help(parameter: QgsProcessingParameterDefinition, text: str):
    """Attach help text (tooltip in the dialog, text in ``qgis_process help``) and return it."""
    parameter.setHelp(text)
    return parameter


def level_parameter(key: str, description: str, default: int, text: str):
    """An integer S2 level parameter limited to 0-30, with help text."""
    return integer_parameter(key, description, default, 0, MAX_LEVEL, text)


def integer_parameter(key: str, description: str, default: int, low: int, high: int, text: str):
    """A bounded integer parameter with help text."""
    return with_help(
        QgsProcessingParameterNumber(
            key,
            description,
            type=QgsProcessingParameterNumber.Integer,
            defaultValue=default,
            minValue=low,
            maxValue=high,
        ),
        text,
    )


def engine_output(folder: str, destination: str) -> str:
    """Path inside the work ``folder`` where the engine writes what goes to ``destination``.

    Keeping the destination's file name keeps the GeoPackage layer name the engine derives
    from it.

    Examples
    --------
    >>> engine_output("/tmp/s2vec-x", "/data/cells.gpkg")
    '/tmp/s2vec-x/cells.gpkg'
    """
    return os.path.join(folder, os.path.basename(os.path.normpath(destination)))


def run_to_destination(command: str, args: list, destination: str, folder: str, feedback) -> str:
    """Run ``s2vec <command> <args> --output <work copy>``; move the result to ``destination``.

    The engine writes into the run's work ``folder``; only a complete output is
    moved to ``destination`` (nothing appears there on failure or Cancel).
    """
    produced = engine_output(folder, destination)
    run_engine(command, [*args, option("--output", produced)], feedback)
    return deliver(produced, destination)


def optional_source(
    algorithm: QgsProcessingAlgorithm, parameters, name, context, feedback, folder, flag: str
) -> list[str]:
    """``[flag=exported file]`` for an optional layer parameter, or ``[]`` when not given."""
    if parameters.get(name) is None:
        return []
    return [option(flag, export_source(algorithm, parameters, name, context, feedback, folder))]
