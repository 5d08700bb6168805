"""The Processing option naming the Python interpreter that runs the s2vec-geo engine.

The option lives in Settings > Options > Processing > Providers > S2Vec. When
it is empty, the environment variable of the same name is used (handy for
``qgis_process`` on servers and in CI).
"""

from __future__ import annotations

import os

from processing.core.ProcessingConfig import ProcessingConfig, Setting
from qgis.core import QgsProcessingException

ENGINE_PYTHON = "S2VEC_ENGINE_PYTHON"
ENGINE_PYTHON_LABEL = "S2Vec engine Python interpreter (an environment with s2vec-geo installed)"
SETTING_PATH = (
    "Settings > Options > Processing > Providers > S2Vec > S2Vec engine Python interpreter"
)
PROVIDER_GROUP = "S2Vec"


def register_settings() -> None:
    """Add the provider's options to the Processing options dialog."""
    ProcessingConfig.addSetting(
        Setting(PROVIDER_GROUP, ENGINE_PYTHON, ENGINE_PYTHON_LABEL, "", valuetype=Setting.FILE)
    )
    ProcessingConfig.readSettings()


def unregister_settings() -> None:
    """Remove the provider's options (when the provider is unloaded)."""
    ProcessingConfig.removeSetting(ENGINE_PYTHON)


def set_engine_python(path: str) -> None:
    """Store ``path`` as the engine interpreter (what the options dialog does).

    Examples
    --------
    >>> set_engine_python("/opt/s2vec/bin/python")  # doctest: +SKIP
    """
    ProcessingConfig.setSettingValue(ENGINE_PYTHON, path)


def engine_python() -> str:
    """Return the configured engine interpreter, checked to exist and be executable.

    Raises
    ------
    QgsProcessingException
        When neither the option nor the environment variable is set, or the
        path is not an executable file; the message names the option to fix.

    Examples
    --------
    >>> engine_python()  # doctest: +SKIP
    '/opt/s2vec/bin/python'
    """
    value = (ProcessingConfig.getSetting(ENGINE_PYTHON) or "").strip()
    value = value or os.environ.get(ENGINE_PYTHON, "").strip()
    if not value:
        raise QgsProcessingException(
            "The S2Vec engine Python is not configured: set "
            f"{SETTING_PATH} (or the environment variable {ENGINE_PYTHON}) to the python "
            "executable of an environment where `pip install s2vec-geo` was run."
        )
    if not (os.path.isfile(value) and os.access(value, os.X_OK)):
        raise QgsProcessingException(
            f"The S2Vec engine Python {value!r} is not an executable file: fix "
            f"{SETTING_PATH} (or {ENGINE_PYTHON}) to point to the python executable of an "
            "environment with s2vec-geo installed (e.g. /path/to/venv/bin/python)."
        )
    return os.path.abspath(value)
