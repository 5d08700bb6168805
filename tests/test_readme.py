"""The README's Python block runs, and runs again in the same folder, as a notebook cell re-run.

The second run replaces the image dataset and the training run the first one
wrote (this library's own earlier output); a folder holding anything else is
still refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import s2vec_geo as sv

REPO = Path(__file__).resolve().parents[1]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_readme_block_runs_twice_in_one_folder(tmp_path, monkeypatch) -> None:
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    block = PYTHON_BLOCK.findall((REPO / "README.md").read_text(encoding="utf-8"))[0]
    code = compile(block, "README.md, python block 1", "exec")
    stamps = []
    for _ in range(2):
        namespace: dict[str, object] = {}
        exec(code, namespace)
        stamps.append((tmp_path / "helsinki_model" / "model.pt").stat().st_mtime_ns)
        assert len(namespace["back"]) == len(namespace["emb"]) > 1_000
        assert {"emb_000", "n_cells", "coverage"} <= set(
            namespace["pois"].s2vec.embed(cells=namespace["emb"]).columns
        )
    assert stamps[1] > stamps[0]  # trained again, not refused
    assert sv.load_model("helsinki_model").taxonomy_version == "1"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not s2vec output")
    with pytest.raises(ValueError, match="not empty"):
        namespace["cells"].s2vec.build_images(image_level=15, out="mine")
