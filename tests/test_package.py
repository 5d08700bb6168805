"""The package's public names: functions and classes, loaded lazily, never shadowed by a module."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import types
from pathlib import Path

import s2vec_geo


def test_dir_lists_the_public_names_only() -> None:
    assert dir(s2vec_geo) == sorted(s2vec_geo.__all__)
    assert not {"Any", "Path", "sys", "ast", "importlib"} & set(dir(s2vec_geo))


def test_no_submodule_shadows_a_public_name() -> None:
    """Importing a subpackage sets it on its parent: no folder may bear a public name."""
    for module in pkgutil.walk_packages(s2vec_geo.__path__, "s2vec_geo."):
        if not module.name.endswith("__main__"):  # it runs the command line
            importlib.import_module(module.name)
    for name in s2vec_geo.__all__:
        value = getattr(s2vec_geo, name)
        assert not isinstance(value, types.ModuleType), name
        if name != "__version__":
            assert callable(value), name


def _defined(names: set[str]) -> dict[str, list[str]]:
    """Where each of ``names`` is assigned or defined (``def``, ``class``) in the package."""
    package = Path(s2vec_geo.__file__).parent
    where: dict[str, list[str]] = {name: [] for name in names}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found = {getattr(t, "id", None) for t in targets}
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                found = {node.name}
            else:
                continue
            for name in found & names:
                where[name].append(path.relative_to(package).as_posix())
    return where


def test_each_fact_is_said_once() -> None:
    """The Earth's radius, cell sizes, lengths, areas, estimates and the std floor: one home."""
    geodesy = {"EARTH_RADIUS_M", "mean_cell_area_m2", "avg_cell_area", "haversine_m"}
    where = _defined({*geodesy, "shoelace_areas", "estimate_cells", "STD_FLOOR"})
    assert {name: where[name] for name in geodesy} == {n: ["core/geodesy.py"] for n in geodesy}
    assert where["shoelace_areas"] == ["core/geodesy.py"]
    assert where["estimate_cells"] == ["s2/cover.py"]
    assert where["STD_FLOOR"] == ["images/normalization.py"]
