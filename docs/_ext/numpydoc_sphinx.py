"""Griffe extension for the API reference: read s2vec-geo's Sphinx-flavoured numpydoc.

The package's docstrings cross-reference with Sphinx roles (``:func:`evaluate```,
``:mod:`.labels```) and document several parameters in one entry
(``rule, min_overlap``), as numpydoc allows. mkdocstrings reads neither: roles would
show as literal text, and every parameter of a shared entry would show the first one's
type and default. Once the package is loaded, this extension rewrites each docstring:
a role becomes a mkdocs-autorefs cross-reference (a link where the target is in the
reference, code elsewhere) and a shared entry one entry per parameter. mkdocs.yml
loads it; ``tests/test_docs.py`` runs its examples and builds the site.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`(?P<short>~?)(?P<target>[^`]+)`")
SHARED_ENTRY = re.compile(r"^(?P<names>\w+(?:, \w+)+)(?P<type> : .+)?$")
ENTRY_SECTIONS = ("Parameters", "Other Parameters", "Attributes")


def link_roles(text: str, resolve: Callable[[str], str | None]) -> str:
    """Replace Sphinx roles by autorefs cross-references (code when ``resolve`` finds nothing).

    Examples
    --------
    >>> link_roles("see :func:`~pkg.mod.f` and :mod:`.other`", {"pkg.mod.f": "pkg.mod.f"}.get)
    'see <autoref identifier="pkg.mod.f" optional><code>f</code></autoref> and `.other`'
    """

    def replace(match: re.Match[str]) -> str:
        target = match["target"]
        shown = target.rsplit(".", 1)[-1] if match["short"] else target
        found = resolve(target)
        if found is None:
            return f"`{shown}`"
        return f'<autoref identifier="{found}" optional><code>{shown}</code></autoref>'

    return ROLE.sub(replace, text)


def split_shared_entries(text: str) -> str:
    """Give each parameter of a shared numpydoc entry (``a, b``) an entry of its own.

    Examples
    --------
    >>> doc = "Parameters\\n----------\\na, b : int\\n    Sizes.\\nc\\n    Other.\\n"
    >>> print(split_shared_entries(doc))
    Parameters
    ----------
    a : int
        Sizes.
    b : int
        Sizes.
    c
        Other.
    <BLANKLINE>
    """
    lines = text.split("\n")
    out: list[str] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1]) and line:
            section = line.strip()
        match = SHARED_ENTRY.match(line) if section in ENTRY_SECTIONS else None
        if match is None:
            out.append(line)
            i += 1
            continue
        end = i + 1
        while end < len(lines) and (lines[end].startswith(" ") or not lines[end]):
            end += 1
        for name in match["names"].split(", "):
            out += [name + (match["type"] or ""), *lines[i + 1 : end]]
        i = end
    return "\n".join(out)


def own_objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and every object defined in it, recursively (aliases left to their targets)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from own_objects(member)  # type: ignore[arg-type]


class NumpydocSphinx(griffe.Extension):
    """Rewrite every docstring of a package once it is loaded (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kw: Any) -> None:
        """Rewrite the docstrings of ``pkg``'s objects in place."""
        for obj in own_objects(pkg):
            if obj.docstring is not None:
                resolve = self.resolver(obj, loader.modules_collection)
                text = split_shared_entries(obj.docstring.value)
                obj.docstring.value = link_roles(text, resolve)

    @staticmethod
    def resolver(
        obj: griffe.Object, collection: griffe.ModulesCollection
    ) -> Callable[[str], str | None]:
        """Find a role's target as Sphinx would: relative to ``obj``, then absolute."""
        scopes = [obj.path] if obj.is_module or obj.is_class else []
        scope = obj.parent
        while scope is not None:
            scopes.append(scope.path)
            scope = scope.parent

        def resolve(target: str) -> str | None:
            names = [s + target if target.startswith(".") else f"{s}.{target}" for s in scopes]
            for name in [*names, target.lstrip("."), f"{obj.package.path}.{target}"]:
                try:
                    return collection.get_member(name).canonical_path
                except (KeyError, ValueError, griffe.AliasResolutionError):
                    continue
            return None

        return resolve
