"""The ``s2vec`` command-line tool: one sub-command per pipeline step.

Each sub-command lives in a module of this package that defines
``register(subparsers)``; the module adds its parser and sets ``func`` to a
callable taking the parsed arguments. The commands mirror the QGIS
Processing algorithms and call the same core functions.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES: tuple[str, ...] = (
    "cells",
    "features",
    "images",
    "model",
    "join",
    "pipeline",
    "evaluate",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``s2vec`` argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="s2vec", description="S2Vec embeddings of the built environment on S2 cells."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"s2vec_geo.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``s2vec`` command line; returns the process exit status.

    Bad input (``ValueError``, ``FileNotFoundError``) ends with a one-line
    message naming the problem and status 2, never a traceback.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"s2vec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"s2vec {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
