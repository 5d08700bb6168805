"""PBF to OSM GeoParquet with QuackOSM, offline: DuckDB's spatial extension from PyPI.

QuackOSM (``pip install 's2vec-geo[quackosm]'``) needs DuckDB's ``spatial``
extension, which DuckDB normally downloads from extensions.duckdb.org on first
use. PyPI ships it as the package ``duckdb-ext-spatial`` (the version of
``duckdb``), whose wheel holds
``duckdb_ext/extensions/v<duckdb version>/<platform>/spatial.duckdb_extension``:
an extension directory as DuckDB lays it out. :func:`offline_duckdb` points
DuckDB at it, so nothing is downloaded and nothing is copied into the home
folder:

- QuackOSM's connections get ``extension_directory`` through its
  ``duckdb_conn_kwargs``;
- QuackOSM 0.19 opens one connection (merging its result files) without those
  arguments, which reads DuckDB's default directory ``~/.duckdb/extensions``;
  so for the conversion ``HOME`` names a temporary folder whose
  ``.duckdb/extensions`` links to the wheel's directory (worker processes
  inherit it). It is restored afterwards; ``HOME`` is process-wide, so do not
  run other work that reads it in threads meanwhile.

:func:`pbf_to_geoparquet` converts with the keys a taxonomy reads as the tags
filter, keeping the ``tags`` map and the ``area`` tag (which QuackOSM drops by
default as metadata) so that :func:`s2vec_geo.read_features` reads the file
as it reads the PBF.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from s2vec_geo.ingest.osm_collect import OsmFeatures
from s2vec_geo.ingest.taxonomy.tags import Taxonomy, load_taxonomy

_INSTALL = (
    "pip install 's2vec-geo[quackosm]' (quackosm, duckdb==1.4.4, duckdb-ext-spatial==1.4.4.*)"
)


def spatial_extension_directory() -> Path:
    """The DuckDB extension directory inside the ``duckdb-ext-spatial`` wheel.

    Raises
    ------
    ValueError
        When duckdb or duckdb-ext-spatial is not installed, or the wheel has
        no spatial extension for the installed duckdb version and platform.

    Examples
    --------
    >>> spatial_extension_directory().name  # doctest: +SKIP
    'extensions'
    """
    try:
        import duckdb
    except ImportError as exc:
        raise ValueError(f"duckdb is not installed; {_INSTALL}") from exc
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"DuckDB's spatial extension package is not installed; {_INSTALL}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    platform = duckdb.execute("PRAGMA platform").fetchone()[0]
    version = f"v{duckdb.__version__}"
    if not (folder / version / platform / "spatial.duckdb_extension").is_file():
        found = sorted(str(p.relative_to(folder)) for p in folder.glob("*/*/*.duckdb_extension"))
        raise ValueError(
            f"duckdb-ext-spatial has no spatial extension for duckdb {version} on {platform} "
            f"(it has {', '.join(found) or 'none'}); install the matching one: "
            f"pip install 'duckdb-ext-spatial=={duckdb.__version__}.*'"
        )
    return folder


@contextlib.contextmanager
def offline_duckdb() -> Iterator[dict[str, Any]]:
    """Run QuackOSM with the spatial extension from PyPI: yields its ``duckdb_conn_kwargs``.

    Examples
    --------
    >>> import quackosm  # doctest: +SKIP
    >>> with offline_duckdb() as kw:  # doctest: +SKIP
    ...     quackosm.convert_pbf_to_parquet("a.osm.pbf", duckdb_conn_kwargs=kw)
    """
    folder = spatial_extension_directory()
    old_home = os.environ.get("HOME")
    with tempfile.TemporaryDirectory(prefix="s2vec-duckdb-home-") as home:
        (Path(home) / ".duckdb").mkdir()
        (Path(home) / ".duckdb" / "extensions").symlink_to(folder, target_is_directory=True)
        os.environ["HOME"] = home
        try:
            yield {"config_kwargs": {"extension_directory": str(folder)}}
        finally:
            if old_home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = old_home


def quackosm_tags_filter(taxonomy: Any = "v2") -> dict[str, bool]:
    """QuackOSM's tags filter for a taxonomy: every key it reads (``True``: any value).

    Examples
    --------
    >>> f = quackosm_tags_filter("v1")
    >>> f["amenity"], "area" in f, "building" in f
    (True, True, False)
    """
    tax = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    return dict.fromkeys(OsmFeatures(tax).tag_keys, True)


def pbf_to_geoparquet(
    pbf: str | os.PathLike,
    out: str | os.PathLike,
    *,
    taxonomy: Any = "v2",
    working_directory: str | os.PathLike | None = None,
    **quackosm_kw: Any,
) -> Path:
    """Convert an OSM PBF to GeoParquet with QuackOSM, offline, for :func:`read_features`.

    Parameters
    ----------
    pbf
        The OSM PBF file (an extract or the planet).
    out
        The GeoParquet file to write.
    taxonomy
        Keep the objects and tags this taxonomy reads (default ``"v2"``, whose
        keys include v1's, so the file serves both); ``None``: every tagged
        object with all its tags.
    working_directory
        QuackOSM's folder for intermediate files (default: a temporary one,
        removed afterwards).
    **quackosm_kw
        Passed to ``quackosm.convert_pbf_to_parquet`` (e.g. ``geometry_filter``,
        ``cpu_limit``, ``verbosity_mode``).

    Returns
    -------
    Path
        The GeoParquet file.

    Examples
    --------
    >>> import s2vec_geo
    >>> pbf = "examples/data/helsinki.osm.pbf"
    >>> path = pbf_to_geoparquet(pbf, "helsinki.parquet")  # doctest: +SKIP
    >>> len(s2vec_geo.read_features(path)) > 5000  # doctest: +SKIP
    True
    """
    try:
        import quackosm
    except ImportError as exc:
        raise ValueError(f"quackosm is not installed; {_INSTALL}") from exc
    kw: dict[str, Any] = {
        "tags_filter": None if taxonomy is None else quackosm_tags_filter(taxonomy),
        "explode_tags": False,
        "ignore_metadata_tags": False,
        "verbosity_mode": "silent",
        **quackosm_kw,
    }
    with contextlib.ExitStack() as stack:
        if working_directory is None:
            working_directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="quackosm-"))
        conn_kw = stack.enter_context(offline_duckdb())
        stack.enter_context(_utf8_refused(pbf))
        path = quackosm.convert_pbf_to_parquet(
            Path(pbf),
            result_file_path=Path(out),
            working_directory=working_directory,
            duckdb_conn_kwargs=conn_kw,
            **kw,
        )
    return Path(path)


@contextlib.contextmanager
def _utf8_refused(pbf: str | os.PathLike) -> Iterator[None]:
    """Say in one line that DuckDB refused a tag value that is not valid UTF-8."""
    import duckdb

    try:
        yield
    except duckdb.InvalidInputException as exc:
        if "utf8" not in str(exc).lower():
            raise
        raise ValueError(
            f"{str(pbf)!r} holds tag values that are not valid UTF-8, which QuackOSM (DuckDB) "
            "cannot convert; give s2vec the .osm.pbf itself (it reads such tags as absent), or "
            "repair the file (re-download it)"
        ) from None
