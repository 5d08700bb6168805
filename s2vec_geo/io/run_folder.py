"""A pipeline run's work folder and its record: what was asked, which stages are done.

``s2vec run`` keeps its intermediate products (``cells.gpkg``, ``images/``,
``model/``) in a work folder, and ``run.json`` there records the run's
*settings* -- a fingerprint of the sources (path, size, modification time),
levels, area, training and embedding settings -- the stages finished so
far and the state (size, modification time, SHA-256) of the products
each stage wrote. A stage is recorded before it publishes its product
(:meth:`WorkFolder.publishing`), so that a run killed in between finds its
record and resumes. The record gives ``run`` its contract
(:meth:`WorkFolder.open`), the run-folder policy (:func:`admit`) that
``train`` follows as well:

- a new or empty folder starts a run (with ``resume`` too: a run stopped
  before it published anything left nothing to continue);
- ``resume`` continues the recorded run when the settings are unchanged,
  reusing its finished stages (and training's checkpoint) when their
  products in the work folder are as the run recorded them;
- ``overwrite`` starts afresh, replacing the products as it goes;
- anything else is refused before a file is touched: a recorded run without
  ``resume``/``overwrite``, changed settings with ``resume``, products no
  recorded run wrote (e.g. a ``cells.gpkg`` of the user's), or, with
  ``resume``, products another command changed since the run wrote them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from s2vec_geo.io.layers import atomic_path
from s2vec_geo.io.provenance import file_sha256

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


def product_state(path: str | os.PathLike) -> dict[str, Any] | None:
    """What a product file is: size, modification time and SHA-256; ``None`` when it is gone.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cells.gpkg"
    >>> _ = path.write_text("cells")
    >>> state = product_state(path)
    >>> state["size"], state["sha256"][:12]
    (5, '57104c57fbe0')
    >>> product_state(path.with_name("gone.gpkg")) is None
    True
    """
    stat = _stat(path)
    if stat is None:
        return None
    return {"size": stat[0], "mtime_ns": stat[1], "sha256": file_sha256(path)}


def same_product(state: dict[str, Any] | None, path: str | os.PathLike) -> bool:
    """Whether ``path`` is still the product recorded as ``state`` (:func:`product_state`).

    Size and modification time unchanged, or (a copy, times not kept) the
    same content: the content is read only when the time differs.

    Examples
    --------
    >>> import tempfile, os
    >>> path = Path(tempfile.mkdtemp()) / "cells.gpkg"
    >>> _ = path.write_text("cells")
    >>> state = product_state(path)
    >>> os.utime(path, ns=(0, 0))  # copied without its times
    >>> same_product(state, path)
    True
    >>> _ = path.write_text("CELLS")  # written again
    >>> same_product(state, path), same_product(state, path.with_name("gone.gpkg"))
    (False, False)
    """
    stat = _stat(path)
    if state is None or stat is None or stat[0] != state.get("size"):
        return False
    return stat[1] == state.get("mtime_ns") or file_sha256(path) == state.get("sha256")


def _stat(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """Size, modification time and inode of a file; ``None`` when it is gone."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def _inside(name: str) -> bool:
    """Whether a product name of the record (:attr:`WorkFolder.products`) is in the work folder.

    Examples
    --------
    >>> _inside("images/meta.json"), _inside("../emb.gpkg")
    (True, False)
    """
    path = Path(name)
    return not path.is_absolute() and ".." not in path.parts


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
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per finished stage, the state of each product it wrote (:func:`product_state`), by
    its path relative to the work folder (``../emb.gpkg`` outside it)."""

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
        >>> with first.publishing("featurize", root / "cells.gpkg"):
        ...     _ = (root / "cells.gpkg").write_text("cells")
        >>> WorkFolder.open(root, {"level": 12}, resume=True, overwrite=False).done
        ['featurize']
        >>> WorkFolder.open(root, {"level": 13}, resume=True, overwrite=False)
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: cannot resume the run in ...: its settings changed (level); start afresh ...
        >>> _ = (root / "cells.gpkg").write_text("other cells")
        >>> WorkFolder.open(root, {"level": 12}, resume=True, overwrite=False)
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: cannot resume the run in ...: cells.gpkg changed since the run wrote it ...
        """
        root = Path(root)
        settings = json.loads(json.dumps(settings))  # as it reads back from run.json
        record = None if overwrite else cls._read(root)
        if record is None:  # a new folder, or a run stopped before it published anything
            held = Held(unrecorded=[name for name in PRODUCTS if (root / name).exists()])
        else:
            held = Held(f"a run of these settings ({record.status()})", record.settings)
        if admit(root, held, settings, resume, overwrite, "work folder (--work-dir)"):
            assert record is not None  # only a recorded run is continued
            record._refuse_changed()
            return record
        return cls(root, settings)

    def _refuse_changed(self) -> None:
        """Refuse to continue when a finished stage's product in the work folder changed.

        Another command may have written there since (e.g. images at another
        level): reusing it would report a run that was not done.
        """
        changed = [
            name
            for stage in self.done
            for name, state in self.products.get(stage, {}).items()
            if _inside(name) and not same_product(state, self.root / name)
        ]
        if changed:
            names = ", ".join(changed)
            raise ValueError(
                f"cannot resume the run in {str(self.root)!r}: {names} changed since the run "
                f"wrote {'it' if len(changed) == 1 else 'them'} (written again, replaced or "
                "removed); start afresh with overwrite=True (--overwrite) or choose another "
                "work folder (--work-dir)"
            )

    @classmethod
    def _read(cls, root: Path) -> WorkFolder | None:
        path = root / RUN_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            if data.get("format") != RUN_FORMAT:
                raise ValueError(data.get("format"))
            return cls(
                root,
                data["settings"],
                list(data["done"]),
                dict(data.get("extra", {})),
                dict(data.get("products", {})),
            )
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

    def unchanged(self, stage: str, *products: str | os.PathLike) -> bool:
        """Whether ``stage`` is done and ``products`` are as it recorded them (all present).

        Examples
        --------
        >>> WorkFolder(Path("w"), {}, ["embed"]).unchanged("embed", "no/such/emb.gpkg")
        False
        """
        recorded = self.products.get(stage)
        if stage not in self.done:
            return False
        if recorded is None:  # recorded before products were: all present is all it knows
            return all(Path(p).exists() for p in products)
        return all(same_product(recorded.get(self._name(p)), p) for p in products)

    @contextlib.contextmanager
    def publishing(self, stage: str, *products: str | os.PathLike, **extra: Any) -> Iterator[None]:
        """Record the run before ``stage`` publishes ``products``; then the stage as done.

        ``run.json`` (and the work folder, for the first stage) is written
        before a product is renamed into place, so a run killed in between is
        recorded and ``resume`` redoes the stage over its own product. If the
        stage fails (an exception, Ctrl-C) before a product was published, a
        record and folder it made are removed again: nothing is left but what
        was there. Once the products are written, the stage is recorded as
        done with their states and ``extra`` facts.
        """
        made = not self.root.exists()
        first = not (self.root / RUN_FILE).exists()
        before = [_stat(p) for p in products]
        try:
            self.root.mkdir(exist_ok=True)
            self._write()  # this run's record, also over an earlier run's (overwrite)
            yield
        except BaseException:
            if first and [_stat(p) for p in products] == before:  # nothing published
                (self.root / RUN_FILE).unlink(missing_ok=True)
                if made:
                    with contextlib.suppress(OSError):  # not empty: kept as it is
                        self.root.rmdir()
            raise
        if stage not in self.done:
            self.done.append(stage)
        self.extra.update(extra)
        self.products[stage] = {self._name(p): product_state(p) for p in products}
        self._write()

    def _name(self, product: str | os.PathLike) -> str:
        """A product's name in the record: its path relative to the work folder.

        Relative, so that the record holds when the work folder moves (with
        the output beside it); absolute only where none is (another drive).
        """
        try:
            return Path(os.path.relpath(product, self.root)).as_posix()
        except ValueError:
            return Path(product).absolute().as_posix()

    def _write(self) -> None:
        record = {
            "format": RUN_FORMAT,
            "settings": self.settings,
            "done": self.done,
            "extra": self.extra,
            "products": self.products,
        }
        with atomic_path(self.root / RUN_FILE) as tmp:
            tmp.write_text(json.dumps(record, indent=1))
