"""The "S2Vec" Processing provider: lists the algorithms and owns the engine option."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import ALGORITHMS
from .metadata import ICON_PATH
from .settings import register_settings, unregister_settings


class S2VecProvider(QgsProcessingProvider):
    """Processing provider with id ``s2vec``; algorithms are ``s2vec:<name>``."""

    def load(self) -> bool:
        """Register the Processing options, then the algorithms."""
        register_settings()
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        """Remove the Processing options."""
        unregister_settings()

    def loadAlgorithms(self) -> None:  # noqa: N802 (QGIS API)
        """Add one instance of each algorithm class."""
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())

    def id(self) -> str:
        """Provider id, the prefix of algorithm ids."""
        return "s2vec"

    def name(self) -> str:
        """Name shown in the Processing toolbox."""
        return "S2Vec"

    def longName(self) -> str:  # noqa: N802 (QGIS API)
        """Longer name shown in tooltips."""
        return "S2Vec embeddings of the built environment on S2 cells"

    def icon(self) -> QIcon:
        """The provider's toolbox icon."""
        return QIcon(ICON_PATH)

    def svgIconPath(self) -> str:  # noqa: N802 (QGIS API)
        """Path of the SVG icon."""
        return ICON_PATH

    def supportsNonFileBasedOutput(self) -> bool:  # noqa: N802 (QGIS API)
        """Outputs are always files: the engine writes them out of process."""
        return False

    def defaultVectorFileExtension(self, hasGeometry: bool = True) -> str:  # noqa: N802
        """Layers are GeoPackages unless the user picks another format."""
        return "gpkg"

    def supportedOutputVectorLayerExtensions(self) -> list[str]:  # noqa: N802 (QGIS API)
        """The engine writes GeoPackage layers."""
        return ["gpkg"]
