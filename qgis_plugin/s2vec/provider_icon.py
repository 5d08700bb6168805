"""Location of the plugin's icon, shared by the provider and its algorithms."""

from __future__ import annotations

import os

ICON_PATH = os.path.join(os.path.dirname(__file__), "icon.svg")
