"""The ``s2vec`` command-line tool: one sub-command per pipeline step.

Each sub-command lives in the module of its name (``s2vec cover`` in
:mod:`s2vec_geo.cli.cover`), which describes it as a
:class:`~s2vec_geo.cli.options.Command` named ``COMMAND``: its inputs and
outputs, the declared options it takes (:mod:`s2vec_geo.core.options`, turned
into flags by :mod:`s2vec_geo.cli.options`) and the function that runs it.
The commands mirror the QGIS Processing algorithms and call the same core
functions; building the parser imports neither of them.

:func:`main` is the one error boundary: a failure that is the user's to fix
(:func:`s2vec_geo.core.errors.known_failures`: bad values, missing or unreadable
files, a full disk, a refused size, a locked output) ends with one line
``s2vec <command>: error: ...`` and exit status 2; Ctrl-C with
``s2vec <command>: interrupted`` and 130; anything else with one line and
status 1, and its traceback under ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import TracebackType

from s2vec_geo.cli.options import resolve_levels
from s2vec_geo.core.errors import known_failures, one_line
from s2vec_geo.core.guards import using_budget
from s2vec_geo.core.options import RENAMED
from s2vec_geo.version import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "cells",
    "cover",
    "featurize",
    "images",
    "geotiff",
    "train",
    "embed",
    "join",
    "run",
    "evaluate",
)
"""The command modules, in data-flow order; each defines ``COMMAND``."""
QUIET_LOGGERS = ("pyogrio", "rasterio")
"""Libraries whose INFO lines (pyogrio: ``Created N records`` for every layer written;
rasterio: each GDAL error of a write that then fails as a whole) are shown only with
``--verbose``."""
OUTPUTS = ("output", "work_dir", "geotiff_out", "model_out")
"""The arguments that name what a command writes."""
DEBUG_HELP = "show the traceback of a failure (for bug reports)"
VERSION_HELP = "print the version of s2vec-geo and exit"


def build_parser() -> argparse.ArgumentParser:
    """Return the ``s2vec`` argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="s2vec", description="S2Vec embeddings of the built environment on S2 cells."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument(
        "--version", action="version", version=f"s2vec-geo {__version__}", help=VERSION_HELP
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"s2vec_geo.cli.{name}").COMMAND.register(sub)
    for command in sub.choices.values():  # also accepted after the command's name
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse an ``s2vec`` command line; levels left out follow ``--levels``.

    Examples
    --------
    >>> args = parse(["featurize", "in.osm.pbf", "-o", "cells.gpkg"])
    >>> args.level, parse(["images", "c.gpkg", "-o", "i", "--levels", "paper"]).image_level
    (16, 8)
    """
    return resolve_levels(build_parser().parse_args(argv))


def renamed_flag(argv: list[str]) -> str | None:
    """The message for a flag of an earlier release, with its name now; ``None`` if none.

    Examples
    --------
    >>> renamed_flag(["evaluate", "--splits", "5"])
    's2vec evaluate: error: --splits is now --n-splits (one vocabulary for Python, CLI and QGIS)'
    """
    command = next((a for a in argv if not a.startswith("-")), "")
    for arg in argv:
        new = RENAMED.get((command, arg.split("=", 1)[0]))
        if new is not None:
            old = arg.split("=", 1)[0]
            return (
                f"s2vec {command}: error: {old} is now {new} (one vocabulary for Python, CLI "
                "and QGIS)"
            )
    return None


def _interrupted(command: str) -> int:
    print(f"s2vec{' ' + command if command else ''}: interrupted", file=sys.stderr)
    return 130


def quiet_interrupts() -> None:
    """Make Ctrl-C while the libraries load end with one line instead of a traceback.

    Called when ``s2vec_geo`` is imported to run the command line (before
    :func:`main` can catch anything); other exceptions keep the default hook.
    """
    default = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            _interrupted("")
        else:
            default(kind, value, tb)

    sys.excepthook = hook


def refuse_held_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, outputs that another command writes or that lie in its folder.

    A running ``s2vec run`` holds its work folder: every other command
    writing there is refused (:func:`s2vec_geo.io.locks.check_not_held`; the
    write itself checks again).
    """
    from s2vec_geo.io.locks import check_not_held

    for name in OUTPUTS:
        if getattr(args, name, None):
            check_not_held(getattr(args, name))


def main(argv: list[str] | None = None) -> int:
    """Run the ``s2vec`` command line; returns the process exit status.

    Failures that are the user's to fix end with a one-line message naming
    the problem and status 2, never a traceback; others with one line and
    status 1 (the traceback with ``--debug``); Ctrl-C with status 130.
    """
    renamed = renamed_flag(sys.argv[1:] if argv is None else [str(a) for a in argv])
    if renamed is not None:
        print(renamed, file=sys.stderr)
        return 2
    try:
        args = parse(argv)
    except KeyboardInterrupt:
        return _interrupted("")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if args.verbose else logging.WARNING)
    try:
        refuse_held_outputs(args)
        with using_budget(getattr(args, "memory_budget", None)):
            args.func(args)
    except KeyboardInterrupt:
        return _interrupted(args.command)
    except Exception as exc:
        if args.debug:
            raise
        known = isinstance(exc, known_failures())
        hint = "" if known else f"unexpected {type(exc).__name__}: "
        print(f"s2vec {args.command}: error: {hint}{one_line(exc)}", file=sys.stderr)
        if not known:
            print("(run again with --debug for the traceback, and report it)", file=sys.stderr)
        return 2 if known else 1
    return 0
