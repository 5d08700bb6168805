"""Messages the plugin can show speak QGIS: parameters and algorithms, not flags or Python.

Two sources of text reach a QGIS user: the plugin's own (errors, log lines,
help) and the engine's messages, which the plugin rewrites with its
parameters' labels (``s2vec.words``). Every engine message and every plugin
string is checked for ``--``, ``gdf.``, ``s2vec.`` and ``()``; shell commands
a user is told to run stay quoted in backticks and are not checked.
"""

from __future__ import annotations

import ast
import re

import pytest

pytest.importorskip(
    "qgis.core",
    reason="QGIS Python bindings not installed (apt-get install qgis python3-qgis "
    "qgis-providers; see qgis_plugin/README.md)",
)
pytest.importorskip("pytest_qgis", reason="pytest-qgis not installed (pip install pytest-qgis)")

from qgis_helpers import PLUGIN_ROOT, REPO

PYTHON_WORDS = re.compile(r"--|gdf\.|s2vec\.|\(\)")
QUOTED = re.compile(r"`[^`]*`")
ISSUE_EXAMPLES = (
    "cell ids are for points: use cover(...) / gdf.s2vec.cover(level) for lines and polygons",
    "labels: 3 rows have no value; pass drop_missing=True (--drop-missing) to drop them",
    "no model here; train one with `s2vec train`",
    "the loss still falls: Train longer (--epochs)",
    "pass a GeoSeries/GeoDataFrame with its CRS",
    "unknown layer format; use .gpkg (GeoPackage) or .parquet (GeoParquet)",
)


def message_text(node: ast.AST) -> str:
    """A message as it reads, with ``{...}`` for what an f-string fills in."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            message_text(v) if isinstance(v, ast.Constant) else "{x}" for v in node.values
        )
    if isinstance(node, ast.BinOp):
        return message_text(node.left) + message_text(node.right)
    return ""


def engine_messages() -> list[str]:
    """Every error message the engine raises (the text of each ``raise X("...")``)."""
    found = []
    for path in (REPO / "s2vec_geo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                text = message_text(node.exc.args[0])
                if text:
                    found.append(f"{path.relative_to(REPO)}: {text}")
    return found


SHOWN = ("QgsProcessingException", "pushInfo", "pushWarning", "with_help", "setHelp")


def plugin_messages() -> list[str]:
    """The plugin's own texts a user sees: errors, log lines, help (HELP, parameter help)."""
    found = []
    for path in (PLUGIN_ROOT / "s2vec").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            texts = []
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in SHOWN:
                    texts = [message_text(a) for a in node.args]
            elif isinstance(node, ast.Assign) and any(
                getattr(t, "id", "").endswith("HELP") for t in node.targets
            ):
                texts = [message_text(node.value)]
            found += [f"{path.relative_to(PLUGIN_ROOT)}: {t}" for t in texts if t]
    return found


def unquoted(text: str) -> list[str]:
    """The Python words left in ``text`` outside backtick-quoted commands."""
    return PYTHON_WORDS.findall(QUOTED.sub("", text.partition(": ")[2]))


def test_engine_messages_shown_in_qgis_name_parameters_not_flags_or_python(provider) -> None:
    from s2vec.words import Words

    words = Words()
    messages = engine_messages()
    assert len(messages) > 100, "the engine's messages were not found"
    for example in ISSUE_EXAMPLES:
        assert not PYTHON_WORDS.findall(words(example)), words(example)
    left = [words(m) for m in messages if unquoted(words(m))]
    assert not left, "\n".join(left)


def test_plugin_messages_and_help_speak_qgis(provider) -> None:
    messages = plugin_messages()
    assert len(messages) > 40, "the plugin's messages were not found"
    left = [m for m in messages if unquoted(m)]
    assert not left, "\n".join(left)


def test_the_areas_file_format_is_in_the_algorithm_help(provider) -> None:
    from qgis.core import QgsApplication

    help_text = QgsApplication.processingRegistry().algorithmById("s2vec:evaluateareas")
    text = help_text.shortHelpString()
    for key in ("[[area]]", "embeddings", "labels", "target", "counts", "transform"):
        assert key in text, key
    assert "--help" not in text
