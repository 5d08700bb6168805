"""The process environment the engine runs in: progress lines on, QGIS's library paths off."""

from __future__ import annotations

import os

SCRUBBED_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PROJ_DATA",
    "PROJ_LIB",
    "GDAL_DATA",
    "GDAL_DRIVER_PATH",
)
"""Set by QGIS or a system GDAL for QGIS's own libraries; the engine's wheels bundle theirs."""


def engine_environment() -> dict[str, str]:
    """Return the environment for the engine: progress lines on, QGIS's GDAL/PROJ paths off.

    Examples
    --------
    >>> engine_environment()["S2VEC_PROGRESS"]
    'lines'
    """
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["S2VEC_PROGRESS"] = "lines"
    env["PYTHONUNBUFFERED"] = "1"
    return env
