"""Helpers shared by the QGIS plugin tests (kept apart from conftest to import them by name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN_ROOT = REPO / "qgis_plugin"
ENGINE_ENV = "S2VEC_ENGINE_PYTHON"
QGIS_PROCESS = "/usr/bin/qgis_process.bin"
"""Debian's ``qgis_process`` wrapper script fails (``--noversioncheck``); its binary works."""


def engine_interpreter() -> str:
    """The engine Python: ``$S2VEC_ENGINE_PYTHON`` or the interpreter running the tests."""
    return os.path.abspath(os.environ.get(ENGINE_ENV) or sys.executable)


def run_library(code: str) -> object:
    """Run ``code`` with the engine's s2vec-geo library; return the JSON it prints last.

    The test process (QGIS) never imports the engine's wheels, as in real use.
    """
    result = subprocess.run(
        [engine_interpreter(), "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def field_values(layer, name: str) -> list:
    """All values of one field, in feature order."""
    return [feature[name] for feature in layer.getFeatures()]


def qgis_process(
    profile: Path, engine_python: str, *args: str, plugins: Path = PLUGIN_ROOT, timeout=300
):
    """Run ``qgis_process <args>`` as a user would, headless, with the plugin in ``plugins``.

    ``profile`` is the QGIS settings folder (enable the plugin there first with
    ``qgis_process(profile, engine, "plugins", "enable", "s2vec")``); ``plugins``
    the folder holding the plugin folder ``s2vec`` (default: this checkout's).
    """
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        QGIS_PLUGINPATH=str(plugins),
        QGIS_CUSTOM_CONFIG_PATH=str(profile),
        S2VEC_ENGINE_PYTHON=engine_python,
    )
    return subprocess.run(
        [QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
