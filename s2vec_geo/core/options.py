"""The option vocabulary: every user-facing option declared once, for all three faces.

An :class:`Option` holds an option's name, type, default, range, choices and
help. The three faces derive their spelling from it:

- the Python keyword is :attr:`Option.name` (``n_splits``);
- the command-line flag is :attr:`Option.flag` (``--n-splits``), built by
  :mod:`s2vec_geo.cli.options`;
- the QGIS Processing parameter is :attr:`Option.key` (``N_SPLITS``), built
  by the plugin's ``params`` module, which loads *this file* by its path
  (QGIS cannot import the engine's scientific stack), so this module imports
  nothing but the standard library.

The core functions take their checks (:meth:`Option.check`) and constants
(:data:`MAX_LEVEL`, the level presets, the choices) from here, and
``tests/test_vocabulary.py`` and ``tests/qgis/test_qgis_vocabulary.py`` fail
when a Python signature, a command-line parser or a QGIS algorithm drifts
from these declarations.

Examples
--------
>>> N_SPLITS.flag, N_SPLITS.key, N_SPLITS.default
('--n-splits', 'N_SPLITS', 20)
>>> MASK_RATIO.check(0.75)
0.75
>>> MASK_RATIO.check(1.0)
Traceback (most recent call last):
...
ValueError: mask_ratio must be in [0, 1), got 1.0
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

MAX_LEVEL = 30
"""The finest S2 level (leaf cells, about 1 cm); level 0 is a cube face."""

LEVEL_PRESETS: dict[str, tuple[int, int]] = {"city": (16, 12), "paper": (12, 8)}
"""(patch level, image level) by scale. ``city`` (the default): about 150 m cells in
images of 16 x 16 cells (about 5 km2); ``paper``: the S2Vec paper's 12/8, about 5 km2
cells in images of about 1,300 km2, for a country or a continent."""

DEFAULT_LEVEL, DEFAULT_IMAGE_LEVEL = LEVEL_PRESETS["city"]


@dataclass(frozen=True)
class Option:
    """One user-facing option: its words, its value and what it means.

    Parameters
    ----------
    name
        The Python keyword; the flag and the QGIS key are derived from it.
    type
        ``int``, ``float``, ``str`` or ``bool``, or a converter from text
        (the command line's ``type=``).
    default
        The value when the option is not given (``None``: the help says what
        is done instead).
    help
        What it does, for ``--help``, docstrings and the QGIS dialog.
    min, max, min_open, max_open
        The range (``None``: unbounded); ``*_open`` excludes the bound.
    choices
        The allowed values, when a list.
    labels
        QGIS enum entries, one per choice (default: the choices themselves).
    none_label
        QGIS enum entry for a ``None`` default (e.g. ``"as trained"``).
    open_choices
        Other values than ``choices`` are accepted too (e.g. a file path).
    label
        The QGIS parameter's description.
    advanced
        Shown under QGIS's "Advanced parameters".
    kind
        ``"value"`` (the default), or an input QGIS makes from a project
        item: ``"layer"`` (a vector layer written to a file), ``"field"`` (a
        field of the algorithm's input layer), ``"extent"`` (a rectangle,
        given to the engine in lon/lat as ``minx,miny,maxx,maxy``).
    metavar, nargs, append
        Command-line spelling of the value: ``nargs=4`` for a box,
        ``append=True`` for a repeatable option.
    range_text
        How the range reads in error messages, when better than the numbers.
    pattern
        A regular expression a text value must match as a whole (e.g. a
        device name); ``range_text`` says it in words.
    """

    name: str
    type: Callable[[str], Any] = str
    default: Any = None
    help: str = ""
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple[Any, ...] = ()
    labels: tuple[str, ...] = ()
    none_label: str | None = None
    open_choices: bool = False
    label: str = ""
    advanced: bool = False
    kind: str = "value"
    metavar: str | tuple[str, ...] | None = None
    nargs: int | str | None = None
    append: bool = False
    range_text: str | None = None
    pattern: str | None = None

    @property
    def flag(self) -> str:
        """The command-line flag: ``--`` and the name with dashes.

        Examples
        --------
        >>> MAX_CELLS_PER_POLYGON.flag
        '--max-cells-per-polygon'
        """
        return "--" + self.name.replace("_", "-")

    @property
    def key(self) -> str:
        """The QGIS Processing parameter key: the name in capitals.

        Examples
        --------
        >>> IMAGE_LEVEL.key
        'IMAGE_LEVEL'
        """
        return self.name.upper()

    @property
    def enum_labels(self) -> tuple[str, ...]:
        """The entries of a QGIS enum: ``none_label`` first when set, then one per choice.

        Examples
        --------
        >>> EMBED_WINDOWS.enum_labels[0]
        'as trained'
        """
        own = self.labels or tuple(str(c) for c in self.choices)
        return ((self.none_label,) if self.none_label is not None else ()) + own

    def with_help(self, text: str) -> Option:
        """The same option with help text for one command (name, default and range stay)."""
        return replace(self, help=text)

    def describe_range(self) -> str:
        """The range in words, e.g. ``"in [0, 1)"``, ``">= 1"``; empty when unbounded.

        Examples
        --------
        >>> EPOCHS.describe_range(), MASK_RATIO.describe_range(), MIN_OVERLAP.describe_range()
        ('>= 1', 'in [0, 1)', 'between 0 and 1')
        """
        if self.range_text is not None:
            return self.range_text
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            if not (self.min_open or self.max_open):
                return f"between {lo:g} and {hi:g}"
            return (
                f"in {'(' if self.min_open else '['}{lo:g}, {hi:g}{')' if self.max_open else ']'}"
            )
        if lo is not None:
            return f"{'>' if self.min_open else '>='} {lo:g}"
        if hi is not None:
            return f"{'<' if self.max_open else '<='} {hi:g}"
        return ""

    def check(self, value: Any, where: str | None = None) -> Any:
        """Return ``value`` after checking its type, range and choices; else ``ValueError``.

        Numbers must also be finite: no setting means infinity or NaN.

        ``None`` passes when it is the default (the option's "not given").
        ``where`` names the value in the message (default: the option's name).

        Examples
        --------
        >>> EPOCHS.check(0, "TrainConfig.epochs")
        Traceback (most recent call last):
        ...
        ValueError: TrainConfig.epochs must be >= 1, got 0
        >>> LR.check(float("inf"), "TrainConfig.lr")
        Traceback (most recent call last):
        ...
        ValueError: TrainConfig.lr must be a finite number > 0, got inf
        >>> DEVICE.check("gpu")
        Traceback (most recent call last):
        ...
        ValueError: device must be auto, cpu, cuda, cuda:N (N: a GPU's number, from 0) or mps, ...
        """
        where = where or self.name
        if value is None and self.default is None:
            return value
        if self.type in (int, float) and (
            isinstance(value, bool) or not isinstance(value, numbers.Real)
        ):
            raise ValueError(f"{where} must be a number, got {value!r}")
        if self.type in (int, float) and not math.isfinite(value):  # no setting means inf or NaN
            wanted = f"a finite number {self.describe_range()}".rstrip()
            raise ValueError(f"{where} must be {wanted}, got {value!r}")
        if self.type is int and value != int(value):
            raise ValueError(f"{where} must be a whole number, got {value!r}")
        if self.choices and not self.open_choices and value not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise ValueError(f"{where} must be one of {allowed}; got {value!r}")
        if not self._in_range(value) or not self._matches(value):
            raise ValueError(f"{where} must be {self.describe_range()}, got {value!r}")
        return value

    def _matches(self, value: Any) -> bool:
        return self.pattern is None or (
            isinstance(value, str) and re.fullmatch(self.pattern, value) is not None
        )

    def _in_range(self, value: Any) -> bool:
        if self.min is None and self.max is None:
            return True
        if value != value:  # NaN is in no range
            return False
        low_ok = self.min is None or (value > self.min if self.min_open else value >= self.min)
        high_ok = self.max is None or (value < self.max if self.max_open else value <= self.max)
        return low_ok and high_ok


def check_fields(settings: Any, options: Iterable[Option], owner: str) -> None:
    """Check the declared options that are fields of a settings object (e.g. ``TrainConfig``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> check_fields(SimpleNamespace(epochs=0), [EPOCHS], "TrainConfig")
    Traceback (most recent call last):
    ...
    ValueError: TrainConfig.epochs must be >= 1, got 0
    """
    for option in options:
        option.check(getattr(settings, option.name), f"{owner}.{option.name}")


def parse_box(text: str) -> tuple[float, float, float, float]:
    """A lon/lat box written ``minx,miny,maxx,maxy``.

    Examples
    --------
    >>> parse_box("-74.02,40.70,-74.0,40.71")
    (-74.02, 40.7, -74.0, 40.71)
    """
    try:
        box = tuple(float(p) for p in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise ValueError(
            f"{text!r} is not minx,miny,maxx,maxy (four comma-separated lon/lat numbers)"
        )
    return box  # type: ignore[return-value]


def parse_named_path(text: str) -> tuple[str, str]:
    """A ``NAME=PATH`` pair.

    Examples
    --------
    >>> parse_named_path("satclip=satclip.gpkg")
    ('satclip', 'satclip.gpkg')
    """
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"{text!r} is not NAME=PATH (e.g. satclip=satclip.gpkg)")
    return name, path


_SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str | int) -> int:
    """A size in bytes from ``2GB``, ``1.5 GiB``, ``500M`` or a number of bytes.

    K, M, G and T are powers of 1024 whether written ``GB`` or ``GiB``.

    Examples
    --------
    >>> parse_size("2GB"), parse_size("1.5 GiB"), parse_size("500m"), parse_size(4096)
    (2147483648, 1610612736, 524288000, 4096)
    >>> parse_size("lots")
    Traceback (most recent call last):
    ...
    ValueError: 'lots' is not a size; write e.g. 2GB, 500MB or a number of bytes
    """
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        number, unit = float(text), ""
    else:
        spelled = str(text).strip().upper().replace(" ", "")
        spelled = spelled[:-1] if spelled.endswith("B") else spelled
        spelled = spelled[:-1] if spelled.endswith("I") else spelled
        unit = spelled[-1:] if spelled[-1:] in _SIZE_UNITS else ""
        try:
            number = float(spelled[: len(spelled) - len(unit)])
        except ValueError:
            number = float("nan")
    if not number > 0 or number == float("inf"):
        raise ValueError(f"{text!r} is not a size; write e.g. 2GB, 500MB or a number of bytes")
    return int(number * _SIZE_UNITS[unit])


# -- levels ----------------------------------------------------------------------------

LEVELS = Option(
    "levels",
    choices=tuple(LEVEL_PRESETS),
    default="city",
    help="level defaults by scale: city (the default: --level 16 --image-level 12, about 150 m "
    "cells in images of 16 x 16 cells, about 5 km2) or, with --levels paper, the S2Vec paper's "
    "--level 12 --image-level 8 (about 5 km2 cells, for a country); --level and --image-level "
    "override them",
)
LEVEL = Option(
    "level",
    int,
    DEFAULT_LEVEL,
    "S2 level of the patch cells that get a feature vector and an embedding: 16 (about "
    "150 m, city scale) by default; the paper uses 12 (about 5 km2)",
    min=0,
    max=MAX_LEVEL,
    label="Patch (cell) S2 level",
    range_text=f"an S2 level between 0 and {MAX_LEVEL}",
)
IMAGE_LEVEL = Option(
    "image_level",
    int,
    DEFAULT_IMAGE_LEVEL,
    "S2 level of the images: each patch cell sits at its true position inside its ancestor "
    "at this level, a 2^(level - image_level) square grid; 12 (16 x 16 cells of level 16) by "
    "default, the paper's 8 with patch level 12; 1 to 8 levels coarser than the patch level",
    min=0,
    max=MAX_LEVEL,
    label="Image S2 level",
    range_text=f"an S2 level between 0 and {MAX_LEVEL}",
)

# -- reading and classifying features ----------------------------------------------------

AOI = Option(
    "aoi",
    help="area of interest (polygons): every cell covering it is written, empty ones included; "
    "default: the cells holding features",
    label="Area of interest",
    kind="layer",
)
LAYER = Option("layer", help="layer of a multi-layer input (name)")
CATEGORY_COLUMN = Option(
    "category_column",
    help="column naming each feature's category (non-OSM data; one count column per value)",
    label="Category field",
    kind="field",
)
POLYGONS = Option(
    "polygons",
    choices=("poi", "building", "landuse"),
    default="poi",
    labels=(
        "Points of interest (counted once, at a point inside)",
        "Building footprints (count, footprint and floor area per cell)",
        "Land use (area per cell)",
    ),
    help="with a category column: what the layer's polygons are: points of interest (poi, the "
    "default), building footprints (building: the column names the building class) or land "
    "use (landuse); buildings and land use are cut exactly at cell edges",
    label="Polygons are",
)
TAXONOMY = Option(
    "taxonomy",
    choices=("v1", "v2"),
    open_choices=True,
    labels=(
        "v1: points of interest, roads, road nodes",
        "v2: v1 plus building footprints and land use",
    ),
    none_label="Default (v1 for OpenStreetMap files; the layer's own categories)",
    help="feature taxonomy: v1 (POIs, roads, road nodes: the default for OSM data), v2 (v1 plus "
    "building footprints and land use per class) or a taxonomy JSON file; default for a layer "
    "with a category column: one column per category found",
    label="Feature taxonomy",
    metavar="v1|v2|FILE",
)
MAX_CELLS_PER_POLYGON = Option(
    "max_cells_per_polygon",
    int,
    1_000_000,
    "refuse a building or land-use polygon estimated to cover more than N cells on its own "
    "(default 1,000,000; 0: no limit); --max-cells limits the whole request",
    min=0,
    label="Largest polygon (cells)",
    advanced=True,
    metavar="N",
)
BBOX = Option(
    "bbox",
    float,
    help="keep features inside this box (degrees)",
    nargs=4,
    metavar=("MIN_LNG", "MIN_LAT", "MAX_LNG", "MAX_LAT"),
)

# -- size, outputs, Dask ------------------------------------------------------------------

MAX_CELLS = Option(
    "max_cells",
    int,
    5_000_000,
    "refuse a request that would make more than N cells in all (default 5,000,000; each cell "
    "of a featurized layer takes about 1-2 KB of memory); raise it if you mean it; "
    "--max-cells-per-polygon limits one polygon",
    min=1,
    label="Largest request (cells)",
    advanced=True,
    metavar="N",
)
MEMORY_BUDGET = Option(
    "memory_budget",
    parse_size,
    help="refuse work estimated to need more memory than SIZE, before it starts (e.g. 8GB; "
    "default 2GB, or the S2VEC_MEMORY_BUDGET environment variable); raise it if the machine "
    "has the memory",
    label="Memory budget",
    advanced=True,
    metavar="SIZE",
)
OVERWRITE = Option(
    "overwrite",
    bool,
    False,
    "replace an earlier output of this command (other files are kept)",
    label="Overwrite",
)
RESUME = Option(
    "resume", bool, False, "continue an interrupted run with the same sources and settings"
)
WORKERS = Option(
    "workers",
    int,
    help="run on a local Dask cluster of N single-threaded processes",
    min=1,
    metavar="N",
)
SCHEDULER = Option(
    "scheduler",
    help="run on this Dask cluster (scheduler address tcp://HOST:8786), or 'synchronous': "
    "the same tasks one after another in this process",
)

# -- images -----------------------------------------------------------------------------

MIN_SUPPORT = Option(
    "min_support",
    float,
    0.0,
    "keep only the features non-zero in at least this share of the cells, e.g. 0.02 (default "
    "0: every feature, as the paper); rare categories are spikes the model cannot predict",
    min=0.0,
    max=1.0,
    label="Minimum feature support",
    range_text="a share of cells from 0 to 1 (e.g. 0.02)",
)
LOG1P = Option(
    "log1p",
    bool,
    True,
    "normalize log1p(count) (default; counts are heavy-tailed) or raw values (--no-log1p)",
)
SHARD_SIZE = Option("shard_size", int, 1024, "images per shard file", min=1)
GEOTIFF = Option(
    "geotiff",
    help="also export these parent tokens (or 'all') as GeoTIFF to --geotiff-out",
    nargs="+",
    metavar="PARENT",
)
PARENTS = Option(
    "parents",
    default=("all",),
    help="parent tokens of the images to write, or 'all'",
    nargs="+",
    label="Images (parent cell tokens)",
)
FEATURES = Option(
    "features",
    help="features to write as bands (default: all)",
    nargs="+",
    label="Features (bands)",
)
NORMALIZED = Option(
    "normalized",
    bool,
    False,
    "write normalized values instead of raw ones",
    label="Normalized values",
)

# -- training (TrainConfig; the architecture: MAEConfig) ---------------------------------

MAX_BATCH = 65_536
"""Largest batch of windows (training and embedding): 16 x 16 windows of 200 features are
then 3.4 GB of input alone."""
MAX_WIDTH, MAX_DEPTH, MAX_HEADS = 1024, 24, 64
"""Largest encoder/decoder width, block count and head count: 4 times the paper's 256
wide, 6 deep, 8 heads (the widest, deepest network has about 600 M parameters, 2.4 GB)."""

EPOCHS = Option(
    "epochs",
    int,
    50,
    "passes over the training tiles (paper: 50); each epoch draws one window per tile",
    min=1,
    label="Training epochs",
)
BATCH_SIZE = Option(
    "batch_size",
    int,
    help="windows per optimizer step over all processes (default: 16 on the CPU, 1024 on a GPU "
    "with the learning rate scaled by the square root of the batch; the paper: 64)",
    min=1,
    max=MAX_BATCH,
    label="Batch size (windows)",
    advanced=True,
)
LR = Option(
    "lr",
    float,
    1e-3,
    "peak learning rate at a batch of 16 (the paper: 5e-4 at 64)",
    min=0.0,
    min_open=True,
    label="Peak learning rate",
    advanced=True,
)
MIN_LR_RATIO = Option(
    "min_lr_ratio",
    float,
    0.1,
    "final learning rate of the cosine decay, relative to the peak (paper: 0.1)",
    min=0.0,
    max=1.0,
    label="Final learning rate ratio",
    advanced=True,
)
WARMUP_EPOCHS = Option(
    "warmup_epochs",
    int,
    help="epochs of linear warm-up before the cosine decay, fewer than --epochs (default: none "
    "at a batch of 64, as the paper; 5 with a larger automatic batch)",
    min=0,
    label="Warm-up epochs",
    advanced=True,
)
WEIGHT_DECAY = Option(
    "weight_decay", float, 1e-3, "AdamW weight decay (paper: 1e-3)", min=0.0, advanced=True
)
CLIP_GRAD = Option(
    "clip_grad",
    float,
    1.0,
    "gradient-norm clipping (paper: 1.0); 0 turns it off",
    min=0.0,
    label="Gradient clipping",
    advanced=True,
)
MASK_RATIO = Option(
    "mask_ratio",
    float,
    0.75,
    "share of each window's cells hidden from the encoder (MAE's 0.75; not stated in the paper)",
    min=0.0,
    max=1.0,
    max_open=True,
    label="Mask ratio",
    advanced=True,
)
VAL_FRACTION = Option(
    "val_fraction",
    float,
    0.1,
    "share of the image tiles held out to validate the masked autoencoder (whole tiles, holes "
    "in every training window); 0: none",
    min=0.0,
    max=1.0,
    max_open=True,
    label="Held-out tiles (share)",
    advanced=True,
)
WINDOWS = Option(
    "windows",
    choices=("sliding", "aligned"),
    default="sliding",
    help="training windows: sliding (the default) draws every epoch one window per tile at a "
    "random offset, so embeddings show no image borders; aligned trains on the tiles "
    "themselves (the paper's images)",
    label="Windows",
)
INIT = Option(
    "init",
    str,
    "auto",
    "where the weights start: auto (default: the model pretrained on 27 cities that ships "
    "with s2vec-geo when the images fit it: levels 16/12, taxonomy v1, no architecture "
    "options; else random weights), pretrained, a model file (fine-tune it: its "
    "architecture, features and normalization are kept) or none (random weights)",
    metavar="MODEL",
    label="Start from model (fine-tune)",
    advanced=True,
)
AUGMENT = Option(
    "augment",
    bool,
    True,
    "turn each training window by a random one of the 8 rotations and mirrorings of the square "
    "(default: built form has no preferred orientation; --no-augment trains on windows as drawn)",
    label="Rotate and mirror training windows",
    advanced=True,
)
SEED = Option(
    "seed",
    int,
    0,
    "seed of every random choice: same input and seed, same result",
    min=0,
    label="Random seed",
)
DEVICE = Option(
    "device",
    default="auto",
    help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps (Apple GPUs)",
    pattern=r"auto|cpu|mps|cuda(:(0|[1-9][0-9]{0,3}))?",  # torch parses no longer index
    range_text="auto, cpu, cuda, cuda:N (N: a GPU's number, from 0) or mps",
)
CPU_THREADS = Option(
    "cpu_threads",
    str,
    "all",
    "torch CPU threads for training: all (default: torch's count, which OMP_NUM_THREADS "
    "sets; runs are reproducible bit for bit), a number, or auto: time steps on all threads "
    "and on one, keep the faster and time again every minute (on a machine busy with other "
    "work, about 1.3x faster; the model then depends on the choices made, so runs are not "
    "reproducible bit for bit)",
    metavar="N|all|auto",
    label="CPU threads (all, auto or a number)",
    advanced=True,
)
NUM_WORKERS = Option(
    "num_workers",
    int,
    0,
    "kept for compatibility; windows are assembled in the training process",
    min=0,
)
COMPILE = Option(
    "compile",
    bool,
    False,
    "run the network through torch.compile (GPU; not measured faster for this model yet)",
    advanced=True,
)
CHECKPOINT_EVERY = Option(
    "checkpoint_every",
    float,
    10.0,
    "write checkpoint.pt after the first epoch that ends MINUTES after the last one written "
    "(and after the last epoch); 0 writes it after every epoch",
    min=0.0,
    advanced=True,
    metavar="MINUTES",
)
KEEP_CHECKPOINT = Option(
    "keep_checkpoint",
    bool,
    False,
    "keep checkpoint.pt (the weights with the optimizer's state, about 3 times model.pt) "
    "when the run finishes; by default it is deleted once model.pt is written, as a finished "
    "run needs it for nothing: --resume reuses its model.pt",
    label="Keep the training checkpoint",
    advanced=True,
)
EMBED_DIM = Option(
    "embed_dim",
    int,
    128,
    "encoder width, which is the embedding size (default 128; the paper: 256, which "
    "memorises a city); a multiple of --num-heads",
    min=1,
    max=MAX_WIDTH,
    label="Embedding size",
)
DEPTH = Option(
    "depth",
    int,
    3,
    "encoder blocks (default 3; the paper: 6)",
    min=1,
    max=MAX_DEPTH,
    label="Encoder blocks",
    advanced=True,
)
NUM_HEADS = Option(
    "num_heads",
    int,
    4,
    "attention heads of encoder and decoder (default 4; the paper: 8)",
    min=1,
    max=MAX_HEADS,
    label="Attention heads",
    advanced=True,
)
DECODER_DIM = Option(
    "decoder_dim",
    int,
    64,
    "decoder width (default 64; the paper: 128); a multiple of --num-heads",
    min=1,
    max=MAX_WIDTH,
    label="Decoder width",
    advanced=True,
)
DECODER_DEPTH = Option(
    "decoder_depth",
    int,
    2,
    "decoder blocks (paper: 2)",
    min=0,
    max=MAX_DEPTH,
    label="Decoder blocks",
    advanced=True,
)
DROPOUT = Option(
    "dropout",
    float,
    0.0,
    "dropout of every block (default 0: augmentation and many windows regularize; the paper: 0.2)",
    min=0.0,
    max=1.0,
    max_open=True,
    label="Dropout",
    advanced=True,
)
TRAINING = (
    EPOCHS,
    BATCH_SIZE,
    LR,
    MIN_LR_RATIO,
    WARMUP_EPOCHS,
    WEIGHT_DECAY,
    CLIP_GRAD,
    MASK_RATIO,
    VAL_FRACTION,
    WINDOWS,
    SEED,
    DEVICE,
    NUM_WORKERS,
    CHECKPOINT_EVERY,
    KEEP_CHECKPOINT,
    COMPILE,
    AUGMENT,
    INIT,
    CPU_THREADS,
)
"""The options of :class:`s2vec_geo.TrainConfig`, in its field order."""
POS_EMBED = Option(
    "pos_embed",
    choices=("sincos", "learned"),
    default="sincos",
    labels=(
        "sincos: MAE's fixed 2D sine-cosine table (neighbours known from the start)",
        "learned: learned from the data (the paper's wording; earlier releases)",
    ),
    help="position embeddings of the tokens: sincos (default, MAE's fixed 2D sine-cosine "
    "table: attention finds a cell's neighbours from the first step) or learned",
    label="Position embeddings",
    advanced=True,
)
ARCHITECTURE = (EMBED_DIM, DEPTH, NUM_HEADS, DECODER_DIM, DECODER_DEPTH, DROPOUT, POS_EMBED)
"""The options of :class:`s2vec_geo.MAEConfig` a user sets (``TrainConfig(model=...)``)."""

# -- embedding ----------------------------------------------------------------------------

MODE = Option(
    "mode",
    choices=("contextual", "patch"),
    default="contextual",
    labels=(
        "contextual: the encoder's output with the neighbourhood visible",
        "patch: the paper's linear patch embedding of the cell alone",
    ),
    help="embedding mode: contextual (the default) is each cell's encoder output with its "
    "neighbourhood visible; patch is the paper's linear patch embedding of the cell alone",
    label="Embedding",
)
EMBED_WINDOWS = Option(
    "windows",
    choices=WINDOWS.choices,
    none_label="as trained",
    help="windows when embedding (contextual mode): sliding reads the area through "
    "overlapping windows blended towards their centres, so image borders leave no seam; "
    "aligned reads each cell from its own tile (the paper's images); default: the windows "
    "the model was trained with",
    label="Windows",
)
STRIDE = Option(
    "stride",
    int,
    help="step of sliding windows in cells when embedding, a power of two up to the image "
    "side (default: half the side); each cell is encoded (side / stride)^2 times",
    min=1,
    label="Sliding-window stride (cells)",
    advanced=True,
)
EMBED_BATCH_SIZE = Option(
    "batch_size",
    int,
    64,
    "windows per forward pass when embedding",
    min=1,
    max=MAX_BATCH,
    label="Batch size (windows)",
    advanced=True,
)
IMAGES = Option(
    "images",
    bool,
    False,
    "image-level embeddings: the mean over each image-level parent's cells, one row per parent",
)

# -- evaluation ---------------------------------------------------------------------------

N_SPLITS = Option(
    "n_splits",
    int,
    20,
    "number of splits (runs) per variant (paper: 20)",
    min=1,
    label="Splits (runs)",
)
BLOCK_LEVEL = Option(
    "block_level",
    int,
    help="random splits of whole blocks (the cells' ancestors at this S2 level) instead of "
    "single cells, so area-constant labels cannot leak between neighbours; with several areas "
    "also the validation blocks (default there: 3 levels coarser than the cells)",
    min=0,
    max=MAX_LEVEL,
    label="Block splits: block S2 level",
)
HOLDOUT = Option(
    "holdout",
    parse_box,
    help="spatial hold-out: the labelled cells inside this lon/lat box are the test set (a "
    "region the model never saw); on the command line write --holdout=-74.02,... when the "
    "box starts with a minus sign",
    metavar="MINX,MINY,MAXX,MAXY",
    label="Spatial hold-out (test region)",
    kind="extent",
)
RULE = Option(
    "rule",
    choices=("overlap", "centroid"),
    default="overlap",
    help="polygon label alignment: overlap (the default: a cell takes the label covering at "
    "least --min-overlap of it) or centroid",
    label="Polygon label rule",
    advanced=True,
)
MIN_OVERLAP = Option(
    "min_overlap",
    float,
    0.5,
    "overlap rule: least covered share of a cell (default 0.5)",
    min=0.0,
    max=1.0,
    label="Least overlap",
    advanced=True,
)
DROP_MISSING = Option(
    "drop_missing",
    bool,
    False,
    "drop labels whose target is missing or not a number",
    label="Drop missing labels",
)
LABELS_CRS = Option("labels_crs", help="CRS of labels without a usable one, e.g. EPSG:4326")
LON_COL = Option("lon_col", help="CSV longitude column")
LAT_COL = Option("lat_col", help="CSV latitude column")
TRANSFORM = Option(
    "transform",
    choices=("density", "log"),
    labels=("density: a polygon's label per km2 of its area", "log: log(1 + value)"),
    help="target transform, repeatable in this order: density (polygon label / its area in "
    "km2), log (log1p)",
    append=True,
    label="Target transform",
)
EXTERNAL = Option(
    "external",
    parse_named_path,
    help="extra embedding table keyed by cell_id or point (repeatable; every area)",
    metavar="NAME=PATH",
    append=True,
)
GEOCLIP = Option(
    "geoclip",
    bool,
    False,
    "add GeoCLIP (optional extra)",
    label="GeoCLIP variants",
    advanced=True,
)
LOCATION = Option(
    "location",
    bool,
    True,
    "add the location-encoding variants (default; --no-location skips them)",
    label="Location variants",
    advanced=True,
)
MULTISCALE = Option(
    "multiscale",
    bool,
    True,
    "add the multi-scale neighbourhood counts baseline: each cell's counts and their sums over "
    "the 5 x 5 and 11 x 11 blocks of neighbours (default, needs the featurized cells; "
    "--no-multiscale skips it)",
    label="Multi-scale neighbourhood counts baseline",
    advanced=True,
)
UNTRAINED = Option(
    "untrained",
    bool,
    True,
    "add the untrained-network baseline: the embeddings' model with random weights, same "
    "inference (default, needs the featurized cells and the model file; --no-untrained skips it)",
    label="Untrained network baseline",
    advanced=True,
)
THREADS = Option(
    "threads", int, 1, "torch threads (default 1)", min=1, label="Threads", advanced=True
)
LEAVE_ONE_AREA_OUT = Option(
    "leave_one_area_out",
    bool,
    False,
    "test on each area with an MLP trained on the others",
    label="Leave one area out (transfer)",
)
BLOCKS = Option(
    "blocks",
    bool,
    False,
    "evaluate each area on its own with block splits (neither mode flag: both run)",
    label="Block splits within each area",
)
TRANSFER_VAL_FRACTION = Option(
    "transfer_val_fraction",
    float,
    0.25,
    "leave-one-area-out: share of the training areas' cells (whole blocks) that validate the MLP",
    min=0.0,
    max=1.0,
    min_open=True,
    max_open=True,
    label="Validation share of the training areas",
    advanced=True,
)
EVALUATION = (
    N_SPLITS,
    HOLDOUT,
    BLOCK_LEVEL,
    SEED,
    RULE,
    MIN_OVERLAP,
    DROP_MISSING,
    GEOCLIP,
    LOCATION,
    MULTISCALE,
    UNTRAINED,
    THREADS,
    TRANSFER_VAL_FRACTION,
)
"""The options of :class:`s2vec_geo.EvalConfig`, in its field order."""

ALL: tuple[Option, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, Option))
"""Every declared option, in declaration order (``windows`` twice: training and embedding)."""

RENAMED: dict[tuple[str, str], str] = {
    ("evaluate", "--splits"): N_SPLITS.flag,
    ("evaluate", "--holdout-bbox"): HOLDOUT.flag,
    ("evaluate", "--val-fraction"): TRANSFER_VAL_FRACTION.flag,
    ("train", "--heads"): NUM_HEADS.flag,
    ("run", "--heads"): NUM_HEADS.flag,
    ("join", "--input-layer"): LAYER.flag,
    ("featurize", "--max-polygon-cells"): MAX_CELLS_PER_POLYGON.flag,
    ("run", "--max-polygon-cells"): MAX_CELLS_PER_POLYGON.flag,
}
"""Flags of earlier releases, by command, and their names in this vocabulary."""
