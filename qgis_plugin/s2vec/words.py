"""Engine messages in QGIS's words: parameters by their labels, algorithms by their names.

The engine speaks to three faces; its messages name command-line flags
(``--epochs``), Python keywords (``drop_missing=True``), functions
(``gdf.s2vec.cover(level)``) and commands (```s2vec train```). Shown in QGIS,
each becomes what the user sees in the dialog: ``--epochs`` is the
parameter *Epochs*, ``s2vec train`` the algorithm *Train model*. Flags are
read from the declarations (:mod:`.vocabulary`), so every declared option
has its label; an algorithm adds its own inputs and outputs (``--output``
is its output parameter).

Examples
--------
>>> words = Words({"--drop-missing": "Drop labels without a number", "--epochs": "Epochs"})
>>> words("no value in 3 rows; pass drop_missing=True (--drop-missing) to drop them")
"no value in 3 rows; tick 'Drop labels without a number' to drop them"
>>> words("Train longer (--epochs)")
"Train longer ('Epochs')"
>>> words("cell ids are for points: use cover(...) / gdf.s2vec.cover(level) for polygons")
"cell ids are for points: use 'S2 cells covering a layer' for polygons"
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .vocabulary import OPTIONS

COMMANDS = {
    "cells": "S2 cell of every point",
    "cover": "S2 cells covering a layer",
    "featurize": "Featurize cells from a layer",
    "images": "Build images",
    "geotiff": "Export images as GeoTIFF",
    "train": "Train model",
    "embed": "Embed cells",
    "join": "Join embeddings to a layer",
    "evaluate": "Evaluate embeddings against labels",
    "run": "Whole pipeline (OpenStreetMap to embeddings)",
}
"""Engine command -> the algorithm that runs it (the names the toolbox shows)."""
FUNCTIONS = {
    "cover": f"'{COMMANDS['cover']}'",
    "cells_for_points": f"'{COMMANDS['cells']}'",
    "set_crs": "Layer Properties > Source > Assigned Coordinate Reference System",
    "to_crs": "Layer Properties > Source > Assigned Coordinate Reference System",
    "featurize": f"'{COMMANDS['featurize']}'",
    "train": f"'{COMMANDS['train']}'",
    "embed": f"'{COMMANDS['embed']}'",
    "build_images": f"'{COMMANDS['images']}'",
}
"""Python functions the engine suggests -> what does it in QGIS."""
NAMES = {
    "GeoSeries/GeoDataFrame": "layer",
    "GeoDataFrame": "layer",
    "GeoSeries": "layer",
    "DataFrame": "table",
}
_COMMAND = re.compile(r"`?\bs2vec (\w+)`?")
_KEYWORD = re.compile(r"(?:\b(?:pass|use|set) )?\b(\w+)=(\S+?) \((--[\w-]+)\)")
_PAREN_FLAG = re.compile(r"\((--[\w-]+)(?:[ =][^)]*)?\)")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][\w-]*)(?:=\S+| [A-Z][A-Z_]*\b)?")
_CALL = re.compile(r"(?:\b[\w.]*\.)?\b(\w+)\((?:\.\.\.|[\w, =]*)\)")
_PREFIX = re.compile(r"\b(?:gdf\.|s2vec_geo\.|s2vec\.)")
_LOGGED = re.compile(r"^(?:DEBUG|INFO|WARNING|ERROR) [\w.]+: ")
_ENGINE_ERROR = re.compile(r"^s2vec(?: \w+)?: error: ")
_PARQUET = re.compile(r"(?: or |/)\.(?:geo)?parquet(?: \(GeoParquet\))?")
"""GeoParquet, which QGIS 3.22 (GDAL 3.6 without Arrow) cannot open, is not suggested."""


def declared_labels() -> dict[str, str]:
    """Every declared option's flag and its QGIS label (or its words when it has none).

    Examples
    --------
    >>> declared_labels()["--n-splits"]
    'Splits (runs)'
    """
    return {
        option.flag: option.label or option.name.replace("_", " ")
        for option in vars(OPTIONS).values()
        if isinstance(option, OPTIONS.Option)
    }


class Words:
    """Rewrites engine messages with QGIS's names; ``labels`` maps flags to parameter labels."""

    def __init__(self, labels: Mapping[str, str] | None = None) -> None:
        self.labels = {**declared_labels(), **(labels or {})}

    def label(self, flag: str) -> str:
        """The parameter label of ``flag``, quoted (its words when no parameter has it)."""
        return f"'{self.labels.get(flag, flag[2:].replace('-', ' '))}'"

    def __call__(self, message: str) -> str:
        """``message`` with flags, keywords, functions and commands named as in QGIS."""
        logged = _LOGGED.match(message)  # "INFO s2vec_geo.cli.run: ": the engine's log line
        head = logged[0] if logged else ""
        text = _ENGINE_ERROR.sub("", message[len(head) :])
        text = _COMMAND.sub(lambda m: f"'{COMMANDS.get(m[1], m[1])}'", text)
        text = _KEYWORD.sub(self._keyword, text)
        text = _PAREN_FLAG.sub(lambda m: f"({self.label(m[1])})", text)
        text = _FLAG.sub(lambda m: self.label(m[1]), text)
        text = re.sub(r"\b\w+\(\.\.\.\) / ", "", text)  # "cover(...) / gdf.s2vec.cover(level)"
        text = _CALL.sub(lambda m: FUNCTIONS.get(m[1], m[1]), text)
        text = _PREFIX.sub("", text)
        text = _PARQUET.sub("", text)
        for python, qgis in NAMES.items():
            text = text.replace(python, qgis)
        return head + text

    def _keyword(self, match: re.Match) -> str:
        """``drop_missing=True (--drop-missing)`` -> ``tick 'Drop ...'``."""
        value, flag = match[2], match[3]
        if value == "True":
            return f"tick {self.label(flag)}"
        if value == "False":
            return f"untick {self.label(flag)}"
        return f"set {self.label(flag)} to {value}"
