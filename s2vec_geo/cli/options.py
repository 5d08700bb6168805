"""Command-line arguments built from the option vocabulary, and the command specification.

Every option flag comes from a declaration of :mod:`s2vec_geo.core.options`
(:func:`add_option`): its flag, type, default, choices and help. A command
module describes its command once, as a :class:`Command`: its words, its
inputs and outputs (:class:`Argument`, the only arguments written here by
hand), the declared options it takes and the function that runs it.
Building the parser imports nothing beyond the standard library, so
``s2vec --help`` stays fast; the commands import the engine when they run.

Examples
--------
>>> import argparse
>>> from s2vec_geo.core import options
>>> parser = argparse.ArgumentParser()
>>> add_option(parser, options.N_SPLITS)
>>> parser.parse_args(["--n-splits", "3"]).n_splits
3
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from s2vec_geo.core.options import (
    ARCHITECTURE,
    IMAGE_LEVEL,
    LEVEL,
    LEVEL_PRESETS,
    LEVELS,
    TRAINING,
    Option,
)

ArgumentsTarget = argparse.ArgumentParser | argparse._ArgumentGroup


def _converter(option: Option) -> Callable[[str], Any]:
    """The option's ``type``, reporting a bad value as argparse does (with its message)."""
    if option.type in (int, float, str):
        return option.type

    def convert(text: str) -> Any:
        try:
            return option.type(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option.name
    return convert


def help_text(option: Option, default: Any = None) -> str:
    """The option's help, with its default when the text does not say it.

    Examples
    --------
    >>> from s2vec_geo.core import options
    >>> help_text(options.SHARD_SIZE)
    'images per shard file (default 1024)'
    """
    shown = option.default if default is None else default
    text = option.help
    if "default" not in text and shown not in (None, False, (), ""):
        text += f" (default {shown})"
    return text.replace("%", "%%")


def add_option(p: ArgumentsTarget, option: Option, default: Any = None) -> None:
    """Add one declared option; ``default`` replaces the parser's default (levels)."""
    kw: dict[str, Any] = {"dest": option.name, "help": help_text(option, default)}
    if option.type is bool:
        kw["action"] = argparse.BooleanOptionalAction if option.default else "store_true"
        kw["default"] = bool(option.default)
        p.add_argument(option.flag, **kw)
        return
    kw["type"] = _converter(option)
    kw["default"] = list(option.default) if isinstance(option.default, tuple) else option.default
    if default is not None:
        kw["default"] = None
    if option.choices and not option.open_choices:
        kw["choices"] = option.choices
    if option.metavar is not None:
        kw["metavar"] = option.metavar
    if option.nargs is not None:
        kw["nargs"] = option.nargs
    if option.append:
        kw["action"] = "append"
    p.add_argument(option.flag, **kw)


def add_options(p: ArgumentsTarget, options: Sequence[Option]) -> None:
    """Add declared options; ``--level``/``--image-level`` follow ``--levels`` unless given."""
    presets = LEVEL_PRESETS[LEVELS.default]
    for option in options:
        preset = {LEVEL.name: presets[0], IMAGE_LEVEL.name: presets[1]}.get(option.name)
        add_option(p, option, default=preset)


def resolve_levels(args: argparse.Namespace) -> argparse.Namespace:
    """Fill ``--level``/``--image-level`` left out from the ``--levels`` preset.

    Examples
    --------
    >>> args = resolve_levels(argparse.Namespace(levels="paper", level=None, image_level=13))
    >>> args.level, args.image_level
    (12, 13)
    """
    preset = getattr(args, LEVELS.name, None)
    if preset is not None:
        level, image_level = LEVEL_PRESETS[preset]
        for name, value in ((LEVEL.name, level), (IMAGE_LEVEL.name, image_level)):
            if getattr(args, name, False) is None:
                setattr(args, name, value)
    return args


def values(args: argparse.Namespace, options: Sequence[Option]) -> dict[str, Any]:
    """The parsed values of declared options, as keyword arguments of the Python face."""
    return {option.name: getattr(args, option.name) for option in options}


def train_config(args: argparse.Namespace) -> Any:
    """The :class:`~s2vec_geo.TrainConfig` of parsed training and architecture options.

    Architecture options equal to the network's defaults are left out of
    ``TrainConfig.model``, so a run records only what was changed.
    """
    from s2vec_geo.model.training import TrainConfig

    arch = {o.name: getattr(args, o.name) for o in ARCHITECTURE}
    changed = {o.name: arch[o.name] for o in ARCHITECTURE if arch[o.name] != o.default}
    return TrainConfig(**values(args, TRAINING), model=changed)


@dataclass(frozen=True)
class Argument:
    """An input or output argument of one command (a path), written out by hand.

    Examples
    --------
    >>> Argument("--output", "-o", required=True, help="output .gpkg").flags
    ('--output', '-o')
    """

    flags: tuple[str, ...]
    kwargs: dict[str, Any]

    def __init__(self, *flags: str, **kwargs: Any) -> None:
        object.__setattr__(self, "flags", flags)
        object.__setattr__(self, "kwargs", kwargs)


OUTPUT_LAYER = Argument("--output", "-o", required=True, help="output .gpkg or .parquet")


@dataclass(frozen=True)
class Command:
    """One ``s2vec`` sub-command: its words, arguments, declared options and runner."""

    name: str
    help: str
    description: str
    run: Callable[[argparse.Namespace], None]
    arguments: tuple[Argument, ...] = ()
    options: tuple[Option, ...] = ()
    groups: dict[str, tuple[Option, ...]] = field(default_factory=dict)
    epilog: str | None = None
    raw_text: bool = False

    def register(self, sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """Add this command's parser to ``sub``."""
        p = sub.add_parser(
            self.name,
            help=self.help,
            description=self.description,
            epilog=self.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter
            if self.raw_text
            else argparse.HelpFormatter,
        )
        for argument in self.arguments:
            p.add_argument(*argument.flags, **argument.kwargs)
        add_options(p, self.options)
        for title, group in self.groups.items():
            add_options(p.add_argument_group(title), group)
        p.set_defaults(func=self.run)
        return p

    def all_options(self) -> list[Option]:
        """Every declared option of the command, groups included."""
        return [*self.options, *(o for group in self.groups.values() for o in group)]
