"""The quickstart notebook runs top to bottom on the bundled sample and its figures show something.

The notebook is executed in a temporary folder (with ``data/`` linked to the bundled
sample), in a Jupyter kernel of this interpreter that imports this checkout's code.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

REPO = Path(__file__).resolve().parents[1]

nbformat = pytest.importorskip("nbformat", reason="the dev extra installs nbformat")
nbclient = pytest.importorskip("nbclient", reason="the dev extra installs nbclient")
pytest.importorskip("ipykernel", reason="the dev extra installs ipykernel")

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The notebook's code cells, in order."""
    return [c for c in nb.cells if c.cell_type == "code"]


def png_outputs(nb: nbformat.NotebookNode) -> list[np.ndarray]:
    """Every inline PNG figure of an executed notebook, decoded to an RGB(A) array."""
    return [
        imread(io.BytesIO(base64.b64decode(out["data"]["image/png"])), format="png")
        for cell in code_cells(nb)
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    """The notebook after running every cell in a fresh folder, and that folder."""
    folder = tmp_path_factory.mktemp("quickstart")
    (folder / "data").symlink_to(REPO / "examples" / "data", target_is_directory=True)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)  # the kernel inherits it: this checkout's s2vec_geo
        mp.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the figures
        client = nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        )
        client.execute()
    return nb, folder


def test_the_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(c.outputs == [] and c.execution_count is None for c in code_cells(nb))


def test_every_cell_runs_and_writes_the_products(executed) -> None:
    nb, folder = executed
    cells = code_cells(nb)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert (folder / "quickstart_out" / "model" / "model.pt").is_file()
    assert (folder / "quickstart_out" / "helsinki_embeddings.gpkg").stat().st_size > 100_000
    html = [o["data"].get("text/html", "") for c in cells for o in c.outputs if "data" in o]
    assert any("leaflet" in h.lower() for h in html), "the explore() web map is missing"


def test_progress_in_the_notebook_warns_nothing(executed) -> None:
    nb, _ = executed
    streams = [o.get("text", "") for c in code_cells(nb) for o in c.outputs]
    assert streams and not [s for s in streams if "IProgress" in s or "TqdmWarning" in s]


def test_inline_figures_are_not_blank(executed) -> None:
    nb, _ = executed
    figures = png_outputs(nb)
    assert len(figures) == 3  # loss curve, PCA map beside the POI map, evaluation bars
    for rgb in figures:
        pixels = rgb[..., :3].reshape(-1, 3)
        colours = np.unique(np.round(pixels * 255).astype(np.uint8), axis=0)
        assert pixels.std() > 0.05 and len(colours) > 20
    pca_map = figures[1][..., :3].reshape(-1, 3)
    assert len(np.unique(np.round(pca_map * 255).astype(np.uint8), axis=0)) > 500
