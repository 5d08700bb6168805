"""Provenance: where a layer came from, recorded in the file the toolkit writes.

A layer carries, as far as they apply, the s2vec-geo version, the model
(its file and the file's SHA-256), the embedding mode, windows and stride,
the S2 levels and the taxonomy version. In memory the record is
``frame.attrs["provenance"]`` (set by :func:`s2vec_geo.embed`; a featurized
frame's ``level`` and ``taxonomy_version`` attrs count too);
:func:`s2vec_geo.io.layers.write_layer` stores it

- in a GeoPackage as GDAL layer metadata (``gpkg_metadata``, bound to the layer
  by ``gpkg_metadata_reference``), with a one-line :func:`summary` as the
  layer's description, which QGIS shows as the *Abstract* under Layer
  Properties > Information;
- in GeoParquet as key-value metadata :data:`PARQUET_KEY` (JSON) beside ``geo``.

:func:`s2vec_geo.io.layers.read_provenance` reads either back. Every value is text.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame()
>>> frame.attrs.update(level=16, taxonomy_version="1")  # as featurize leaves them
>>> record = layer_provenance(frame)
>>> record["level"], record["taxonomy_version"], "s2vec_geo_version" in record
('16', '1', True)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from s2vec_geo.version import __version__

PROVENANCE_ATTR = "provenance"
"""``frame.attrs`` key of a frame's provenance record (a dict of text)."""
T = TypeVar("T")
PARQUET_KEY = b"s2vec"
"""GeoParquet key-value metadata key of the record (JSON), beside ``geo``."""
KEYS = (
    "s2vec_geo_version",
    "model",
    "model_sha256",
    "mode",
    "windows",
    "stride",
    "images",
    "level",
    "image_level",
    "taxonomy_version",
    "feature_columns",
)
"""What a record may hold, in this order."""
FROM_ATTRS = ("level", "taxonomy_version", "feature_columns")
"""``frame.attrs`` entries of a featurized frame that are provenance (and come back as
``attrs`` when the layer is read: :func:`record_attrs`)."""


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, hex.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"")
    >>> file_sha256(p)[:12]
    'e3b0c44298fc'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embedding_provenance(model: Any, **settings: Any) -> dict[str, str]:
    """The record of embeddings made by ``model`` with ``settings`` (``None`` left out).

    ``model`` is an :class:`~s2vec_geo.model.file.S2VecModel`: its ``path`` (the
    file it was loaded from or saved to; ``None`` for a model never saved),
    levels and taxonomy version are recorded.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> m = SimpleNamespace(path=None, patch_level=16, image_level=12, taxonomy_version="1")
    >>> embedding_provenance(m, mode="patch", stride=None)["model"]
    'in memory (not saved)'
    """
    path = getattr(model, "path", None)
    record = {
        "model": str(Path(path).resolve()) if path is not None else "in memory (not saved)",
        "model_sha256": file_sha256(path) if path is not None and Path(path).is_file() else None,
        **settings,
        "level": model.patch_level,
        "image_level": model.image_level,
        "taxonomy_version": model.taxonomy_version,
    }
    return as_text(record)


def carry_provenance(source: Any, target: T) -> T:
    """``target`` (a frame made from ``source``) with ``source``'s provenance record, if any.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame()
    >>> a.attrs[PROVENANCE_ATTR] = {"mode": "patch"}
    >>> carry_provenance(a, pd.DataFrame()).attrs
    {'provenance': {'mode': 'patch'}}
    """
    record = getattr(source, "attrs", {}).get(PROVENANCE_ATTR)
    if record:
        target.attrs[PROVENANCE_ATTR] = dict(record)
    return target


def as_text(record: Mapping[str, Any]) -> dict[str, str]:
    """The record with ``None`` left out, booleans as ``true``/``false``, all else as text.

    Examples
    --------
    >>> as_text({"images": False, "stride": None, "level": 16, "feature_columns": ["a", "b"]})
    {'images': 'false', 'level': '16', 'feature_columns': '["a", "b"]'}
    """
    return {key: _text(value) for key, value in record.items() if value is not None}


def _text(value: Any) -> str:
    """One value of a record as text: lists as JSON, booleans in lower case."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return json.dumps([str(v) for v in value])
    return str(value)


def record_attrs(record: Mapping[str, str]) -> dict[str, Any]:
    """The ``frame.attrs`` a featurized frame had, from its layer's record (:data:`FROM_ATTRS`).

    A cell layer read back from a GeoPackage or GeoParquet file so keeps its
    ``level``, ``taxonomy_version`` and ``feature_columns`` (training reads them).

    Examples
    --------
    >>> record_attrs({"level": "16", "taxonomy_version": "1", "feature_columns": '["a"]'})
    {'level': 16, 'taxonomy_version': '1', 'feature_columns': ['a']}
    """
    attrs: dict[str, Any] = {}
    if record.get("level", "").isdigit():
        attrs["level"] = int(record["level"])
    if record.get("taxonomy_version"):
        attrs["taxonomy_version"] = record["taxonomy_version"]
    if record.get("feature_columns"):
        with contextlib.suppress(ValueError, TypeError):  # not a list of ours: ignored
            attrs["feature_columns"] = [str(c) for c in json.loads(record["feature_columns"])]
    return attrs


def layer_provenance(frame: Any) -> dict[str, str]:
    """What a written layer records: the frame's record, featurize's attrs and this version.

    Keys in :data:`KEYS` order; the frame's own record wins over its attrs,
    and the version is the one writing (a layer read back and written again
    was written by this s2vec-geo).
    """
    attrs = getattr(frame, "attrs", {})
    record = {
        **as_text({key: attrs.get(key) for key in FROM_ATTRS}),
        **as_text(attrs.get(PROVENANCE_ATTR) or {}),
        "s2vec_geo_version": __version__,
    }
    return {key: record[key] for key in KEYS if key in record}


def summary(record: Mapping[str, str]) -> str:
    """One line for people (the GeoPackage layer description QGIS shows as the abstract).

    Examples
    --------
    >>> summary({"s2vec_geo_version": "0.1.0", "model": "/m/model.pt", "mode": "contextual"})
    'Written by s2vec-geo 0.1.0; model: /m/model.pt; mode: contextual'
    """
    parts = [f"Written by s2vec-geo {record.get('s2vec_geo_version', '?')}"]
    parts += [
        f"{key}: {value}"
        for key, value in record.items()
        if key not in ("s2vec_geo_version", "feature_columns")  # the columns show them
    ]
    return "; ".join(parts)


def parquet_metadata(record: Mapping[str, str]) -> dict[bytes, bytes]:
    """The key-value metadata entry of a record in a GeoParquet file."""
    return {PARQUET_KEY: json.dumps(dict(record)).encode("utf-8")}
