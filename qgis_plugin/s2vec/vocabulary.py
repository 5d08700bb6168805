"""The engine's option vocabulary, loaded by file path: the one source of every option.

QGIS cannot import the engine (``s2vec_geo``): it links its own GDAL, GEOS
and PROJ, and the engine runs out of process in another Python. The
declarations of the engine's options (``s2vec_geo/core/options.py``) need only
the standard library, so the plugin reads that one file directly: from the
plugin folder, where ``build_zip.py`` copies it into the zip, or from the
source checkout the plugin runs from. The algorithms build their parameters
from it (:mod:`.algorithms.params`), so they use the engine's words,
defaults and ranges.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

MODULE_NAME = "s2vec_plugin_options"
HERE = Path(__file__).resolve().parent
ENGINE = HERE.parents[1] / "s2vec_geo"
CANDIDATES = (HERE / "options.py", ENGINE / "core" / "options.py")
"""Where the declarations are: packed into the plugin, or in the checkout beside it."""
ENGINE_FILES = {"options.py": "core/options.py", "owners.py": "io/owners.py"}
"""The engine's standard-library modules the plugin loads: packed name -> engine path."""


def load_engine_file(packed: str) -> ModuleType:
    """One of :data:`ENGINE_FILES`, loaded once by its path: packed, or from the checkout.

    Raises
    ------
    ImportError
        When neither the plugin folder nor a checkout holds it (a plugin
        folder copied by hand instead of built with ``build_zip.py``).
    """
    name = f"s2vec_plugin_{Path(packed).stem}"
    if name in sys.modules:
        return sys.modules[name]
    candidates = (HERE / packed, ENGINE / ENGINE_FILES[packed])
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ImportError(
            f"the S2Vec plugin cannot find the engine's {packed}: build the plugin zip with "
            "qgis_plugin/build_zip.py, which packs it, and install that"
        )
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def load_options() -> ModuleType:
    """The option declarations module (loaded once, by file path)."""
    return load_engine_file("options.py")


OPTIONS = load_options()
