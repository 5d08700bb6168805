"""The plugin as a plugin repository and QGIS receive it: the zip, its metadata, icon and help.

The zip is what users install (Plugins > Install from ZIP) and what a plugin
repository validates: one top folder, the metadata the repository requires,
the icon it names, no caches or tests; extracted, it must load into real
QGIS and register every algorithm on its own (with the option declarations
it packs, not the checkout's).
"""

from __future__ import annotations

import configparser
import os
import re
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip(
    "qgis.core",
    reason="QGIS Python bindings not installed (apt-get install qgis python3-qgis "
    "qgis-providers; see qgis_plugin/README.md)",
)
pytest.importorskip("pytest_qgis", reason="pytest-qgis not installed (pip install pytest-qgis)")

from qgis.PyQt.QtCore import QByteArray, QSize
from qgis.PyQt.QtGui import QImage, QPainter
from qgis.PyQt.QtSvg import QSvgRenderer
from qgis_helpers import PLUGIN_ROOT, QGIS_PROCESS, qgis_process

REQUIRED = ("name", "qgisMinimumVersion", "description", "version", "author", "email", "about",
            "tracker", "repository")  # fmt: skip
"""What plugins.qgis.org refuses a plugin without."""
RECOMMENDED = ("homepage", "tags", "icon", "hasProcessingProvider", "license", "changelog")


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory) -> Path:
    sys.path.insert(0, str(PLUGIN_ROOT))
    from build_zip import build_zip

    first = build_zip(tmp_path_factory.mktemp("a"))
    second = build_zip(tmp_path_factory.mktemp("b"))
    assert first.read_bytes() == second.read_bytes(), "zip build is not reproducible"
    return first


def zip_metadata(archive: zipfile.ZipFile) -> configparser.SectionProxy:
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read_string(archive.read("s2vec/metadata.txt").decode())
    return metadata["general"]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_zip_holds_one_plugin_folder_and_nothing_else(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as archive:
        names = archive.namelist()
    assert {name.split("/")[0] for name in names} == {"s2vec"}
    assert {
        "s2vec/__init__.py",
        "s2vec/metadata.txt",
        "s2vec/options.py",
        "s2vec/owners.py",
    } <= set(names)
    unwanted = re.compile(r"__pycache__|\.pyc$|(^|/)tests?(/|$)|(^|/)\.")
    assert not [name for name in names if unwanted.search(name)]


def test_zip_holds_exactly_the_listed_files_and_every_module_of_the_checkout(plugin_zip):
    from build_zip import ENGINE_FILES, PLUGIN_DIR, PLUGIN_FILES

    with zipfile.ZipFile(plugin_zip) as archive:
        files = {n[len("s2vec/") :] for n in archive.namelist() if not n.endswith("/")}
    assert files == {*PLUGIN_FILES, *ENGINE_FILES}
    modules = {p.relative_to(PLUGIN_DIR).as_posix() for p in PLUGIN_DIR.rglob("*.py")}
    assert modules <= files, "a module of the plugin is not packed"


def test_metadata_has_what_a_plugin_repository_requires(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as archive:
        general = zip_metadata(archive)
        icon = archive.read(f"s2vec/{general['icon']}")
    assert not [key for key in (*REQUIRED, *RECOMMENDED) if not general.get(key, "").strip()]
    assert plugin_zip.name == f"s2vec-{general['version']}.zip"
    repository = general["repository"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repository)
    assert general["tracker"] == f"{repository}/issues"
    assert general["homepage"].startswith(repository)
    assert general["hasProcessingProvider"] == "yes"
    assert general["category"] in ("Raster", "Vector", "Database", "Mesh", "Web")
    for algorithm in ("cells", "GeoTIFF", "transfer", "whole pipeline", "virtualenv"):
        assert algorithm in general["about"], f"about does not mention {algorithm}"
    renderer = QSvgRenderer(QByteArray(icon))
    assert renderer.isValid(), "the icon is not a valid SVG"
    image = QImage(QSize(32, 32), QImage.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    assert len({image.pixel(x, y) for x in range(32) for y in range(32)}) > 3, "blank icon"


def test_every_algorithm_links_to_its_section_of_the_plugin_readme(provider):
    from s2vec.metadata import REPOSITORY

    readme = (PLUGIN_ROOT / "README.md").read_text()
    sections = {
        github_anchor(line[4:]): line[4:]
        for line in readme.splitlines()
        if line.startswith("### s2vec:")
    }
    prefix = f"{REPOSITORY}/blob/main/qgis_plugin/README.md#"
    linked = {}
    for algorithm in provider.algorithms():
        url = algorithm.helpUrl()
        assert url.startswith(prefix), url
        linked[url[len(prefix) :]] = algorithm.name()
    assert set(linked) == set(sections), "algorithms and README sections differ"
    for anchor, name in linked.items():
        assert sections[anchor] == f"s2vec:{name}"


def test_the_zip_plugin_loads_and_registers_its_provider_in_qgis(
    plugin_zip, engine_python, tmp_path, provider
):
    if not os.path.exists(QGIS_PROCESS):
        pytest.skip("qgis_process.bin not installed")
    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(plugins)
    profile = tmp_path / "profile"
    enable = qgis_process(profile, engine_python, "plugins", "enable", "s2vec", plugins=plugins)
    assert enable.returncode == 0, enable.stderr
    listed = qgis_process(profile, engine_python, "list", plugins=plugins)
    assert listed.returncode == 0, listed.stderr
    ids = set(re.findall(r"s2vec:\w+", listed.stdout))
    assert ids == {f"s2vec:{algorithm.name()}" for algorithm in provider.algorithms()}
    helped = qgis_process(profile, engine_python, "help", "s2vec:evaluate", plugins=plugins)
    assert "HOLDOUT" in helped.stdout and "BLOCK_LEVEL" in helped.stdout, helped.stderr
