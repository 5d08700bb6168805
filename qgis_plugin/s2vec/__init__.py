"""S2Vec QGIS plugin: a Processing provider that runs the s2vec-geo engine out of process.

QGIS imports this package and calls :func:`classFactory`. Nothing here
imports the engine's scientific stack: every algorithm starts the engine as
``<python> -m s2vec_geo <command> ...`` in the Python environment chosen in
the Processing options.
"""

from __future__ import annotations


def classFactory(iface):  # noqa: N802 (name required by QGIS)
    """Return the plugin instance; QGIS calls this when it loads the plugin.

    Parameters
    ----------
    iface
        The ``QgisInterface`` of the running QGIS (``None`` in ``qgis_process``).
    """
    from .plugin import S2VecPlugin

    return S2VecPlugin(iface)
