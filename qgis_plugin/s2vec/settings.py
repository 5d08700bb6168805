"""The Processing option naming the Python interpreter that runs the s2vec-geo engine.

The option lives in Settings > Options > Processing > Providers > S2Vec. When
it is empty, the environment variable of the same name is used (handy for
``qgis_process`` on servers and in CI); when both are, the plugin finds an
engine by itself (:mod:`.discovery`).
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


def configured_python() -> tuple[str, str] | None:
    """The engine interpreter the user chose, with how; ``None`` when none was chosen.

    The Processing option comes first, then the environment variable.

    Raises
    ------
    QgsProcessingException
        When the chosen path is not an executable file; the message names the
        option to fix.

    Examples
    --------
    >>> configured_python()  # doctest: +SKIP
    ('/opt/s2vec/bin/python', 'set in Settings > Options > ... > S2Vec engine Python interpreter')
    """
    value = (ProcessingConfig.getSetting(ENGINE_PYTHON) or "").strip()
    how = f"set in {SETTING_PATH}"
    if not value:
        value, how = os.environ.get(ENGINE_PYTHON, "").strip(), f"from {ENGINE_PYTHON}"
    if not value:
        return None
    if not (os.path.isfile(value) and os.access(value, os.X_OK)):
        raise QgsProcessingException(
            f"The S2Vec engine Python {value!r} is not an executable file: fix "
            f"{SETTING_PATH} (or {ENGINE_PYTHON}) to point to the python executable of an "
            "environment with s2vec-geo installed (e.g. /path/to/venv/bin/python), or empty "
            "both to let the plugin find one."
        )
    return os.path.abspath(value), how
