"""The documentation: its snippets run, the site builds strictly, the API reference is complete.

The stage pages' ``python`` blocks form one pipeline, page after page; they run in
order, in one namespace, in a temporary folder that sees the bundled sample as
``examples/``. Blocks in other languages (``bash``) are shown, not run.
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest

import s2vec_geo

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
STAGE_PAGES = ["ingest", "cells", "featurize", "images", "train", "embed", "evaluate"]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
REFERENCE_ENTRY = re.compile(r"^::: (\S+)$", re.MULTILINE)


def is_module(path: str) -> bool:
    """Whether a dotted path names a module (rather than a member of one)."""
    try:
        return importlib.util.find_spec(path) is not None
    except ModuleNotFoundError:  # its parent is a module, not a package
        return False


def test_stage_page_snippets_run_in_order(tmp_path, monkeypatch) -> None:
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    matplotlib.use("Agg")
    namespace: dict[str, object] = {}
    for page in STAGE_PAGES:
        blocks = PYTHON_BLOCK.findall((DOCS / f"{page}.md").read_text(encoding="utf-8"))
        assert blocks, f"docs/{page}.md has no python snippet"
        for i, block in enumerate(blocks):
            exec(compile(block, f"docs/{page}.md, python block {i + 1}", "exec"), namespace)
    plt.close("all")
    assert (tmp_path / "run" / "model.pt").is_file()
    assert (tmp_path / "embeddings.html").stat().st_size > 10_000
    summary = namespace["result"].summary()  # the evaluate page's result
    assert {"counts", "s2vec", "location"} <= set(summary.index)


def test_api_reference_documents_every_public_name() -> None:
    entries = REFERENCE_ENTRY.findall(
        "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "reference").glob("*.md"))
    )
    documented = {}
    for path in entries:  # resolved as mkdocstrings does: a submodule shadows a member
        module, name = path.rsplit(".", 1)
        parent = importlib.import_module(module)
        submodule = is_module(path)
        documented[name] = importlib.import_module(path) if submodule else getattr(parent, name)
    public = [n for n in s2vec_geo.__all__ if n != "__version__"]
    assert [n for n in public if n not in documented] == []
    assert all(documented[n] is getattr(s2vec_geo, n) for n in public)
    assert "S2VecAccessor" in documented


def test_docstring_extension_examples() -> None:
    spec = importlib.util.spec_from_file_location(
        "numpydoc_sphinx", DOCS / "_ext" / "numpydoc_sphinx.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert doctest.testmod(module).failed == 0


def test_site_builds_strictly_with_the_api_reference(tmp_path) -> None:
    for name in ("mkdocs", "mkdocstrings_handlers.python", "material"):
        pytest.importorskip(name, reason="the dev extra installs the documentation tools")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml")]
    done = subprocess.run(
        [*build, "-d", str(site)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for page in [*STAGE_PAGES, "scaling", "qgis", "architecture"]:
        assert (site / page / "index.html").is_file(), page
    evaluation = (site / "reference" / "evaluation" / "index.html").read_text(encoding="utf-8")
    assert "Polygon label alignment" in evaluation  # docstrings are rendered
    assert ":func:" not in evaluation  # Sphinx roles became links or code
    assert 'href="#s2vec_geo.evaluation.read_labels"' in evaluation  # a role, linked
