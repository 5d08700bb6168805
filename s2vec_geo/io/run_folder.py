"""A pipeline run's work folder and its record: what was asked, which stages are done.

``s2vec run`` keeps its intermediate products (``cells.gpkg``, ``images/``,
``model/``) in a work folder, and ``run.json`` there records the run's
*settings* -- a fingerprint of the sources (path, size, modification time),
levels, area, training and embedding settings -- and the stages finished so
far. The record gives ``run`` its contract (:meth:`WorkFolder.open`), the
run-folder policy (:func:`admit`) that ``train`` follows as well:

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
from collections.abc import Sequence
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


@dataclass(frozen=True)
class Held:
    """What a run folder holds, as the run-folder policy (:func:`admit`) reads it."""

    run: str | None = None
    """The recorded run, in words for messages (``"a finished run (model.pt)"``); ``None``: none."""
    settings: dict[str, Any] | None = None
    """The recorded run's settings; ``None`` when they are checked as it is continued."""
    unrecorded: Sequence[str] = ()
    """Products in the folder that no recorded run wrote."""
    leftovers: Sequence[str] = ()
    """Products a run writes before its first record: ``resume`` starts afresh over them."""


def check_choice(resume: bool, overwrite: bool) -> None:
    """Refuse ``resume`` with ``overwrite``: a run is continued or replaced, not both.

    Examples
    --------
    >>> check_choice(True, True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: resume=True (--resume) and overwrite=True (--overwrite) exclude each other: ...
    """
    if resume and overwrite:
        raise ValueError(
            "resume=True (--resume) and overwrite=True (--overwrite) exclude each other: "
            "continue a run or replace it"
        )


def admit(
    root: Path,
    held: Held,
    settings: dict[str, Any],
    resume: bool,
    overwrite: bool,
    elsewhere: str,
) -> bool:
    """The one resume / overwrite / refuse policy of run folders (``train`` and ``run``).

    Returns ``True`` to continue the recorded run, ``False`` to start afresh
    (``overwrite``, or nothing recorded); any other case raises ``ValueError``
    before a file is touched: a recorded run without ``resume``, changed
    settings, or products no recorded run wrote. ``elsewhere`` names the
    other folder the user may choose, for the messages.

    Examples
    --------
    >>> admit(Path("w"), Held("a run (complete)", {"level": 12}), {"level": 12}, True, False,
    ...       "work folder")
    True
    >>> admit(Path("w"), Held(unrecorded=["history.json"], leftovers=["history.json"]), {},
    ...       True, False, "folder")
    False
    >>> admit(Path("w"), Held(unrecorded=["model.pt"]), {}, True, False, "output folder")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'w' holds model.pt that no recorded run wrote; replace them with overwrite=True ...
    """
    check_choice(resume, overwrite)
    if overwrite:
        return False
    fresh = f"start afresh with overwrite=True (--overwrite) or choose another {elsewhere}"
    if held.run is None:
        kept = set(held.leftovers) if resume else set()
        unrecorded = [name for name in held.unrecorded if name not in kept]
        if unrecorded:
            raise ValueError(
                f"{str(root)!r} holds {', '.join(unrecorded)} that no recorded run wrote; "
                f"replace them with overwrite=True (--overwrite) or choose another {elsewhere} "
                "(other files there are kept)"
            )
        return False
    if held.settings is not None and held.settings != settings:
        changed = _changes(held.settings, settings)
        if resume:
            raise ValueError(
                f"cannot resume the run in {str(root)!r}: its settings changed ({changed}); "
                + fresh
            )
        raise ValueError(
            f"{str(root)!r} holds a run with other settings ({changed}); replace it with "
            f"overwrite=True (--overwrite) or choose another {elsewhere}"
        )
    if not resume:
        raise ValueError(
            f"{str(root)!r} holds {held.run}; continue or reuse it with resume=True (--resume), "
            + fresh
        )
    return True


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
        record = None if overwrite else cls._read(root)
        if record is None:  # a new folder, or a run stopped before its first stage ended
            held = Held(unrecorded=[name for name in PRODUCTS if (root / name).exists()])
        else:
            held = Held(f"a run of these settings ({record.status()})", record.settings)
        if admit(root, held, settings, resume, overwrite, "work folder (--work-dir)"):
            assert record is not None  # only a recorded run is continued
            return record
        return cls(root, settings)

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
