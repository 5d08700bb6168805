"""What the plugin's ``metadata.txt`` says, for the provider and its algorithms.

``metadata.txt`` is the one place that names the plugin's repository and
icon (the plugin manager and plugin repositories read it too); the toolbox
icon and each algorithm's help link come from it.
"""

from __future__ import annotations

import configparser
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERAL = configparser.ConfigParser(interpolation=None)
GENERAL.read(HERE / "metadata.txt", encoding="utf-8")
REPOSITORY = GENERAL["general"]["repository"]
ICON_PATH = str(HERE / GENERAL["general"]["icon"])
ALGORITHM_DOCS = "blob/main/qgis_plugin/README.md"
"""Where the algorithms are documented in the repository, one section each."""


def help_url(name: str) -> str:
    """The documentation of the algorithm ``s2vec:<name>``: its section of the plugin README.

    The section's heading is ``s2vec:<name>``; GitHub's anchor for it drops the colon.

    Examples
    --------
    >>> help_url("join").endswith("/qgis_plugin/README.md#s2vecjoin")
    True
    """
    return f"{REPOSITORY}/{ALGORITHM_DOCS}#s2vec{name}"
