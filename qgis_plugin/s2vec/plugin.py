"""The plugin object QGIS loads: it registers and removes the Processing provider."""

from __future__ import annotations

from qgis.core import QgsApplication

from .provider import S2VecProvider


class S2VecPlugin:
    """Registers the S2Vec Processing provider with QGIS's processing registry.

    ``initProcessing`` is what ``qgis_process`` calls (it has no GUI);
    QGIS desktop calls ``initGui``.
    """

    def __init__(self, iface: object = None) -> None:
        self.iface = iface
        self.provider: S2VecProvider | None = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS API)
        """Add the provider to the processing registry (idempotent)."""
        if self.provider is None:
            self.provider = S2VecProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 (QGIS API)
        """Called by QGIS desktop after loading the plugin."""
        self.initProcessing()

    def unload(self) -> None:
        """Remove the provider when the plugin is unloaded or reloaded."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
