"""Failures that are the user's to fix, and how to say them in one line.

Bad input is answered by a ``ValueError`` (or ``FileNotFoundError``) whose
message names the problem and the fix. Libraries underneath speak their own
languages -- pyogrio's ``DataSourceError`` for a truncated GeoPackage,
pyarrow's ``ArrowInvalid`` for a broken GeoParquet file, NumPy's
``MemoryError`` for an impossible allocation -- and :func:`reading`
translates them where a file is read. :func:`known_failures` lists what the
command line reports as one clean line (exit status 2) rather than a
traceback; :func:`one_line` phrases any of them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

OUT_OF_MEMORY_FIX = (
    "use a coarser level, a smaller area, or Dask with GeoParquet partitions (s2vec featurize "
    "--workers N, then s2vec embed --workers N)"
)


def reader_errors() -> tuple[type[BaseException], ...]:
    """The exceptions GDAL/OGR (pyogrio) and Arrow raise for unreadable files."""
    import pyarrow
    import pyogrio.errors

    return (
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
        pyarrow.ArrowException,
    )


def known_failures() -> tuple[type[BaseException], ...]:
    """Exceptions the command line reports as one line and exit status 2.

    Bad values and files (``ValueError``, ``OSError`` such as a missing file,
    a full disk or a permission), unreadable files (:func:`reader_errors`) and
    allocations that cannot succeed (``MemoryError``).

    Examples
    --------
    >>> ValueError in known_failures() and MemoryError in known_failures()
    True
    """
    return (ValueError, OSError, MemoryError, *reader_errors())


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, with a fix for memory errors.

    Examples
    --------
    >>> one_line(ValueError("level must be 0-30\\n  (details)"))
    'level must be 0-30'
    >>> one_line(MemoryError("Unable to allocate 5.23 TiB"))  # doctest: +ELLIPSIS
    'out of memory (Unable to allocate 5.23 TiB); use a coarser level, ...'
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    if isinstance(exc, MemoryError):
        return f"out of memory ({text}); {OUT_OF_MEMORY_FIX}"
    return text


def not_utf8(path: Path, what: str) -> ValueError:
    r"""The error for a text file that is not UTF-8: where its first bad byte is, and the fix.

    Examples
    --------
    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "prices.csv"
    >>> _ = bad.write_bytes(b"lon,lat,price\n24.9,60.1,1\n24.9,60.1,caf\xe9\n")
    >>> print(not_utf8(bad, "labels file"))  # doctest: +ELLIPSIS
    labels file '...prices.csv' is not UTF-8 text: byte 0xe9 at offset 39 (line 3); save ...
    """
    data = path.read_bytes()
    where = ""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f": byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line})"
    return ValueError(
        f"{what} {str(path)!r} is not UTF-8 text{where}; save it as UTF-8 (a spreadsheet: "
        "Save As, CSV UTF-8; an editor: save with encoding UTF-8; or "
        f"`iconv -f latin1 -t utf-8 {path.name} > utf8-{path.name}`)"
    )


def table_without_geometry(name: str) -> ValueError:
    """The error for a table (e.g. a CSV) given where a vector layer is needed.

    Examples
    --------
    >>> print(table_without_geometry("'shops.csv'"))  # doctest: +ELLIPSIS
    'shops.csv' has no geometry (a table such as a CSV); make points of its ...
    """
    return ValueError(
        f"{name} has no geometry (a table such as a CSV); make points of its longitude/latitude "
        "columns first, e.g. `ogr2ogr -oo X_POSSIBLE_NAMES=lon -oo Y_POSSIBLE_NAMES=lat "
        "-a_srs EPSG:4326 points.gpkg points.csv`, or in Python gpd.GeoDataFrame(df, "
        "geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326)"
    )


@contextlib.contextmanager
def reading(
    path: str | os.PathLike, what: str = "input", missing: str = "check the path"
) -> Iterator[Path]:
    """Check that ``path`` exists and translate a library's failure to read it.

    A missing ``path`` is a ``FileNotFoundError`` naming ``what`` and the
    ``missing`` fix.

    Inside the block, :func:`reader_errors` become a ``ValueError`` that
    names the file and the likely fix (a truncated, empty or foreign file,
    or a folder).

    Examples
    --------
    >>> import tempfile, pyogrio
    >>> bad = Path(tempfile.mkdtemp()) / "cut.gpkg"
    >>> _ = bad.write_bytes(b"SQLite format 3" + bytes(50))
    >>> with reading(bad, "cell layer") as p:  # doctest: +ELLIPSIS
    ...     pyogrio.read_info(p)
    Traceback (most recent call last):
    ...
    ValueError: cannot read cell layer '...cut.gpkg': ...
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist; {missing}")
    try:
        yield p
    except reader_errors() as exc:
        if ";" in str(p):
            problem = "GDAL cannot open paths containing ';'; rename the file or its folder"
        elif p.is_dir():
            problem = "it is a folder GDAL cannot read as a vector dataset; give the file itself"
        elif p.stat().st_size == 0:
            problem = "the file is empty; write it again"
        else:
            problem = (
                f"{_detail(exc)}the file is truncated, damaged or in a format GDAL does not "
                "know; write it again, or check it with ogrinfo or QGIS"
            )
        raise ValueError(f"cannot read {what} {str(p)!r}: {problem}") from exc


def _detail(exc: BaseException) -> str:
    """A library's own words, unless they only repeat that the file is unreadable."""
    import pyogrio.errors

    return "" if isinstance(exc, pyogrio.errors.DataSourceError) else f"{one_line(exc)}; "
