"""A pipeline run's work folder and its record: what was asked, which stages are done.

``s2vec run`` keeps its intermediate products (``cells.gpkg``, ``images/``,
``model/``) in a work folder, and ``run.json`` there records the run's
*settings* -- a fingerprint of the sources (path, size, modification time),
levels, area, training and embedding settings -- and the stages finished so
far. The record gives ``run`` its contract (:meth:`WorkFolder.open`):

- a new or empty folder starts a run (with ``resume`` too: a run stopped
  before its first stage ended left nothing to continue);
- ``resume`` continues the recorded run when the settings are unchanged,
  reusing its finished stages (and training's checkpoint);
- ``overwrite`` starts afresh, replacing the products as it goes;
- anything else is refused before a file is touched: a recorded run without
  ``resume``/``overwrite``, changed settings with ``resume``, or products no
  recorded run wrote (e.g. a ``cells.gpkg`` of the user's).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from s2vec_geo.io.layers import atomic_path

RUN_FILE = "run.json"
RUN_FORMAT = "s2vec-run"
PRODUCTS = ("cells.gpkg", "images", "model")
"""What a run writes in its work folder."""
STAGES = ("featurize", "images", "train", "embed")


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def fingerprint(value: Any) -> Any:
    """A JSON-able value that changes when ``value`` (a setting or an input) changes.

    Files are fingerprinted by absolute path, size and modification time
    (not content: sources may be planet-sized); GeoDataFrames and geometries
    by a hash of their content.

    Examples
    --------
    >>> fingerprint({"level": 12, "bbox": (1.0, 2.0, 3.0, 4.0)})
    {'level': 12, 'bbox': [1.0, 2.0, 3.0, 4.0]}
    >>> fingerprint(Path("no/such/file.pbf"))["exists"]
    False
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        path = Path(value).absolute()
        if not path.exists():
            return {"path": str(path), "exists": False}
        stat = path.stat()
        return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [fingerprint(v) for v in value]
    if isinstance(value, pd.DataFrame):
        wkb = b""
        if isinstance(value, gpd.GeoDataFrame):
            wkb = b"".join(value.geometry.to_wkb(hex=False).fillna(b""))
            value = pd.DataFrame(value.drop(columns=value.geometry.name))
        hashed = pd.util.hash_pandas_object(value).to_numpy().tobytes()
        return {"frame": _digest(hashed + wkb)}
    if hasattr(value, "wkb"):  # a shapely geometry
        return {"geometry": _digest(value.wkb)}
    return {"object": type(value).__name__, "version": str(getattr(value, "version", value))}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The settings that differ, for a message."""
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ", ".join(keys) or "format"


@dataclass
class WorkFolder:
    """The work folder of one run and its record (``run.json``)."""

    root: Path
    settings: dict[str, Any]
    done: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(
        cls, root: str | os.PathLike, settings: dict[str, Any], resume: bool, overwrite: bool
    ) -> WorkFolder:
        """The run to do in ``root``: continued, fresh, or refused before anything is touched.

        Examples
        --------
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> first = WorkFolder.open(root, {"level": 12}, resume=False, overwrite=False)
        >>> first.mark("featurize")
        >>> WorkFolder.open(root, {"level": 12}, resume=True, overwrite=False).done
        ['featurize']
        >>> WorkFolder.open(root, {"level": 13}, resume=True, overwrite=False)
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: cannot resume the run in ...: its settings changed (level); start afresh ...
        """
        root = Path(root)
        settings = json.loads(json.dumps(settings))  # as it reads back from run.json
        if resume and overwrite:
            raise ValueError("--resume and --overwrite exclude each other: continue or replace")
        record = cls._read(root)
        fresh = cls(root, settings)
        if record is None:  # a new folder, or a run stopped before its first stage ended
            products = [name for name in PRODUCTS if (root / name).exists()]
            if products and not overwrite:
                raise ValueError(
                    f"{str(root)!r} holds {', '.join(products)} that no recorded run wrote; "
                    "choose another --work-dir, or pass --overwrite to replace them (other "
                    "files there are kept)"
                )
            return fresh
        if overwrite:
            return fresh
        if record.settings != settings:
            changed = _changes(record.settings, settings)
            if resume:
                raise ValueError(
                    f"cannot resume the run in {str(root)!r}: its settings changed ({changed}); "
                    "start afresh with --overwrite or choose another --work-dir"
                )
            raise ValueError(
                f"{str(root)!r} holds a run with other settings ({changed}); replace it with "
                "--overwrite or choose another --work-dir (or --output)"
            )
        if not resume:
            raise ValueError(
                f"{str(root)!r} holds a run of these settings ({record.status()}); continue "
                "or reuse it with --resume, or start afresh with --overwrite"
            )
        return record

    @classmethod
    def _read(cls, root: Path) -> WorkFolder | None:
        path = root / RUN_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            if data.get("format") != RUN_FORMAT:
                raise ValueError(data.get("format"))
            return cls(root, data["settings"], list(data["done"]), dict(data.get("extra", {})))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"{str(path)!r} is not a readable s2vec run record; start afresh with "
                "--overwrite or choose another --work-dir"
            ) from exc

    def status(self) -> str:
        """``"complete"`` or which stages are done, for messages.

        Examples
        --------
        >>> WorkFolder(Path("w"), {}, ["featurize", "images"]).status()
        'stopped after images'
        """
        if all(stage in self.done for stage in STAGES):
            return "complete"
        return f"stopped after {self.done[-1]}" if self.done else "stopped before any stage"

    def mark(self, stage: str, **extra: Any) -> None:
        """Record ``stage`` as done, with ``extra`` facts (the first mark writes ``run.json``)."""
        if stage not in self.done:
            self.done.append(stage)
        self.extra.update(extra)
        record = {
            "format": RUN_FORMAT,
            "settings": self.settings,
            "done": self.done,
            "extra": self.extra,
        }
        with atomic_path(self.root / RUN_FILE) as tmp:
            tmp.write_text(json.dumps(record, indent=1))
