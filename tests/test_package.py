"""The package's public names: functions and classes, loaded lazily, never shadowed by a module."""

from __future__ import annotations

import importlib
import pkgutil
import types

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
