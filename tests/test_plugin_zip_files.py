"""The plugin zip packs the plugin's own files only: no links, special files or strays.

``qgis_plugin/build_zip.py`` needs no QGIS, so these run in the main suite;
the zip as QGIS loads it is tested in ``tests/qgis/test_qgis_plugin_zip.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILDER = REPO / "qgis_plugin"
SECRET = b"root:$6$not-for-a-plugin-zip"


@pytest.fixture
def plugin(tmp_path) -> Path:
    """A copy of the plugin folder (without caches) to spoil."""
    copy = tmp_path / "plugin" / "s2vec"
    shutil.copytree(BUILDER / "s2vec", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def build(plugin: Path, out: Path) -> subprocess.CompletedProcess:
    """Build the zip of ``plugin`` into ``out`` in a fresh process (a hang is a timeout)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "from build_zip import build_zip; print(build_zip(Path(sys.argv[3]), Path(sys.argv[2])))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(BUILDER), str(plugin), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(plugin: Path, out: Path) -> str:
    """The one-line refusal of building ``plugin``; nothing may be written to ``out``."""
    done = build(plugin, out)
    assert done.returncode != 0, done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert not out.exists() or not list(out.iterdir())
    return last


def zip_names(plugin: Path, out: Path) -> list[str]:
    done = build(plugin, out)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(done.stdout.strip()) as archive:
        assert not [n for n in archive.namelist() if SECRET in archive.read(n)]
        return archive.namelist()


def test_stray_folders_and_notes_are_not_packed(plugin, tmp_path):
    clean = zip_names(plugin, tmp_path / "clean")
    for folder in ("build", "tests", "algorithms/tests"):
        (plugin / folder).mkdir()
        (plugin / folder / "test_x.py").write_text("x = 1\n")
    (plugin / "credentials.md").write_bytes(SECRET)
    (plugin / "README.md").write_text("# notes\n")
    outside = tmp_path / "shadow"
    outside.write_bytes(SECRET)
    os.link(outside, plugin / "notes.md")  # `ln /etc/shadow .../notes.md`
    assert zip_names(plugin, tmp_path / "dirty") == clean


def test_a_hard_linked_plugin_file_is_refused(plugin, tmp_path):
    outside = tmp_path / "shadow"
    outside.write_bytes(SECRET)
    (plugin / "words.py").unlink()
    os.link(outside, plugin / "words.py")
    message = refused(plugin, tmp_path / "dist")
    assert "words.py has 2 hard links" in message and "build again" in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("name", ["engine.py", "extra.py"])
def test_a_fifo_is_refused_not_waited_on(name, plugin, tmp_path):
    (plugin / name).unlink(missing_ok=True)
    os.mkfifo(plugin / name)
    message = refused(plugin, tmp_path / "dist")
    assert f"{name}" in message
    assert "not a regular file" in message or "not in build_zip.PLUGIN_FILES" in message


def test_a_folder_or_socket_in_place_of_a_plugin_file_is_refused(plugin, tmp_path):
    (plugin / "words.py").unlink()
    (plugin / "words.py").mkdir()
    assert "words.py is not a regular file" in refused(plugin, tmp_path / "dist")
    (plugin / "words.py").rmdir()
    if not hasattr(socket, "AF_UNIX") or len(str(plugin / "words.py")) > 100:
        return  # no Unix sockets here, or a path longer than a socket's address may be
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(plugin / "words.py"))
        assert "words.py is not a regular file" in refused(plugin, tmp_path / "dist")


@pytest.mark.parametrize("name", ["my-module.py", "two words.py", "tab\there.py", "bell\x07.py"])
def test_an_oddly_named_module_is_refused_not_dropped(name, plugin, tmp_path):
    (plugin / "algorithms" / name).write_text("x = 1\n")
    message = refused(plugin, tmp_path / "dist")
    assert "has a name Python cannot import" in message and "rename it" in message


def test_a_module_missing_from_the_list_is_refused(plugin, tmp_path):
    (plugin / "algorithms" / "newer.py").write_text("x = 1\n")
    message = refused(plugin, tmp_path / "dist")
    assert "newer.py' is not in build_zip.PLUGIN_FILES" in message


def test_a_new_subpackage_missing_from_the_list_is_refused(plugin, tmp_path):
    (plugin / "algorithms" / "widgets").mkdir()
    (plugin / "algorithms" / "widgets" / "__init__.py").write_text("")
    message = refused(plugin, tmp_path / "dist")
    assert "widgets/__init__.py' is not in build_zip.PLUGIN_FILES" in message


def test_a_linked_package_folder_is_refused(plugin, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(plugin / "algorithms", elsewhere)
    (plugin / "algorithms").symlink_to(elsewhere)
    assert "algorithms is a symbolic link" in refused(plugin, tmp_path / "dist")
