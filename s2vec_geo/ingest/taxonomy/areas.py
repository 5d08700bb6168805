"""The area part of a taxonomy: building classes, floor levels and land-use classes.

Taxonomy v2 (``s2vec_geo/data/taxonomy_v2.json``) adds these sections to the
POI and road rules of v1; a taxonomy without them (v1) has no building or
land-use features. The rules, as the JSON's ``description`` states them:

- **building class**: the class listing the ``building`` value; otherwise
  (``building=yes`` and other unlisted values) the first tag, in
  ``building_tag_order``, whose value a class lists under ``tags`` (``"*"``:
  any value not in ``ignore_values``); otherwise the ``"other": true`` class.
  Values in ``building_exclude`` (``no``) are no building.
- **floor levels**: ``building:levels`` when it holds a number >= 1 (the
  first number in the value); otherwise ``height`` in metres (feet when the
  value says ``ft`` or ``'``) divided by ``metres_per_level``, rounded half
  up, at least 1; otherwise ``default_levels_by_value`` of the building
  value; otherwise ``default_levels_by_class`` of its class (1 if absent).
- **land-use class**: the keys are tried in ``landuse_keys`` order and the
  first key whose value a class lists wins; any other ``landuse`` value
  goes to the class with ``"other_of": "landuse"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

WILDCARD = "*"
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_FEET_M = 0.3048

Fail = Callable[[str], ValueError]


def first_number(value: str | None, feet_to_metres: bool = False) -> float | None:
    """The first number in a tag value (``"3"``, ``"2.5"``, ``"3;4"``, ``"12 m"``), or ``None``.

    With ``feet_to_metres``, values that say ``ft`` or ``'`` are converted.

    Examples
    --------
    >>> first_number("3;4"), first_number("12.5 m"), first_number("yes")
    (3.0, 12.5, None)
    >>> round(first_number("40'", feet_to_metres=True), 2)
    12.19
    """
    if not value:
        return None
    match = _NUMBER.search(value)
    if match is None:
        return None
    number = float(match.group())
    if feet_to_metres and ("ft" in value or "'" in value):
        number *= _FEET_M
    return number


@dataclass(frozen=True)
class AreaRules:
    """Parsed building and land-use rules (empty for a taxonomy without them)."""

    building_classes: tuple[str, ...] = ()
    landuse_classes: tuple[str, ...] = ()
    landuse_keys: tuple[str, ...] = ()
    building_tag_order: tuple[str, ...] = ()
    levels_tag: str = "building:levels"
    height_tag: str = "height"
    metres_per_level: float = 3.0
    ignore_values: frozenset[str] = frozenset()
    building_exclude: frozenset[str] = frozenset()
    building_other: str | None = None
    landuse_other: str | None = None
    building_values: Mapping[str, str] = field(default_factory=dict)
    building_tags: Mapping[tuple[str, str], str] = field(default_factory=dict)
    levels_by_value: Mapping[str, float] = field(default_factory=dict)
    levels_by_class: Mapping[str, float] = field(default_factory=dict)
    landuse_tags: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every OSM key the rules read (empty without building or land-use classes)."""
        keys: list[str] = []
        if self.building_classes:
            keys += ["building", *self.building_tag_order, self.levels_tag, self.height_tag]
        keys += list(self.landuse_keys)
        return tuple(dict.fromkeys(keys))

    def classify_building(self, tags: Mapping[str, str]) -> str | None:
        """The building class of an object's tags, or ``None`` when it is no building."""
        value = tags.get("building") if self.building_classes else None
        if value is None or value in self.building_exclude:
            return None
        found = self.building_values.get(value)
        if found is not None:
            return found
        for key in self.building_tag_order:
            other = tags.get(key)
            if other is None or other in self.ignore_values:
                continue
            found = self.building_tags.get((key, other)) or self.building_tags.get((key, WILDCARD))
            if found is not None:
                return found
        return self.building_other

    def building_levels(self, tags: Mapping[str, str], building_class: str) -> float:
        """Floor levels of a building: tagged, from its height, or the documented estimate."""
        levels = first_number(tags.get(self.levels_tag))
        if levels is not None and levels >= 1:
            return levels
        height = first_number(tags.get(self.height_tag), feet_to_metres=True)
        if height is not None and height > 0:
            return max(1.0, float(math.floor(height / self.metres_per_level + 0.5)))
        by_value = self.levels_by_value.get(tags.get("building", ""))
        if by_value is not None:
            return by_value
        return self.levels_by_class.get(building_class, 1.0)

    def classify_landuse(self, tags: Mapping[str, str]) -> str | None:
        """The land-use class of an object's tags, or ``None`` when it is no land use."""
        for key in self.landuse_keys:
            value = tags.get(key)
            if value is not None:
                found = self.landuse_tags.get((key, value))
                if found is not None:
                    return found
        value = tags.get("landuse") if self.landuse_other is not None else None
        if value is not None and value not in self.ignore_values:
            return self.landuse_other
        return None


def _names(entries: Any, what: str, fail: Fail) -> list[Mapping[str, Any]]:
    """Class entries with valid, distinct identifier names."""
    if not isinstance(entries, list) or not entries:
        raise fail(f"'{what}' must be a non-empty list of classes")
    seen: set[str] = set()
    for entry in entries:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name.isidentifier() or name in seen:
            raise fail(f"{what} name {name!r} is invalid or repeated")
        seen.add(name)
    return entries


def _strings(value: Any, what: str, fail: Fail) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fail(f"{what} must be a list of non-empty strings")
    return value


def _tag_table(
    entries: list[Mapping[str, Any]], keys: tuple[str, ...], what: str, fail: Fail
) -> dict[tuple[str, str], str]:
    """(key, value) -> class from the entries' ``tags``; keys must be in ``keys``."""
    table: dict[tuple[str, str], str] = {}
    for entry in entries:
        tags = entry.get("tags", {})
        if not isinstance(tags, Mapping):
            raise fail(f"{what} {entry['name']!r}: 'tags' must map keys to value lists")
        for key, values in tags.items():
            if key not in keys:
                raise fail(f"{what} {entry['name']!r} uses key {key!r}, which is not in {keys}")
            for value in _strings(values, f"{what} {entry['name']!r} tag {key!r}", fail):
                if (key, value) in table:
                    raise fail(f"{key}={value} is in two {what}es")
                table[key, value] = entry["name"]
    return table


def _levels(doc: Any, classes: tuple[str, ...], fail: Fail) -> dict[str, Any]:
    """Keyword arguments of :class:`AreaRules` from the ``building_levels`` section."""
    doc = doc or {}
    if not isinstance(doc, Mapping):
        raise fail("'building_levels' must be an object")
    by_value = doc.get("default_levels_by_value", {})
    by_class = doc.get("default_levels_by_class", {})
    metres = doc.get("metres_per_level", 3.0)
    numbers = [metres, *by_value.values(), *by_class.values()]
    if not all(isinstance(n, (int, float)) and n > 0 for n in numbers):
        raise fail("building_levels: metres_per_level and default levels must be positive numbers")
    unknown = sorted(set(by_class) - set(classes))
    if unknown:
        raise fail(f"default_levels_by_class names unknown building classes {unknown}")
    return {
        "levels_tag": str(doc.get("levels_tag", "building:levels")),
        "height_tag": str(doc.get("height_tag", "height")),
        "metres_per_level": float(metres),
        "levels_by_value": {k: float(v) for k, v in by_value.items()},
        "levels_by_class": {k: float(v) for k, v in by_class.items()},
    }


def _buildings(doc: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
    """Keyword arguments of :class:`AreaRules` for the building classes."""
    entries = _names(doc["building_classes"], "building class", fail)
    order = tuple(_strings(doc.get("building_tag_order", []), "'building_tag_order'", fail))
    values: dict[str, str] = {}
    others = [e["name"] for e in entries if e.get("other", False)]
    if len(others) != 1:
        raise fail('building classes need exactly one class with "other": true')
    for entry in entries:
        for value in _strings(entry.get("building", []), f"{entry['name']!r} 'building'", fail):
            if value in values:
                raise fail(f"building={value} is in two building classes")
            values[value] = entry["name"]
    classes = tuple(e["name"] for e in entries)
    exclude = _strings(doc.get("building_exclude", ["no"]), "'building_exclude'", fail)
    return {
        "building_classes": classes,
        "building_tag_order": order,
        "building_exclude": frozenset(exclude),
        "building_other": others[0],
        "building_values": values,
        "building_tags": _tag_table(entries, order, "building class", fail),
        **_levels(doc.get("building_levels"), classes, fail),
    }


def _landuse(doc: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
    """Keyword arguments of :class:`AreaRules` for the land-use classes."""
    entries = _names(doc["landuse_classes"], "land-use class", fail)
    keys = tuple(_strings(doc.get("landuse_keys"), "'landuse_keys'", fail))
    others = [e["name"] for e in entries if "other_of" in e]
    if len(others) > 1 or any(e["other_of"] != "landuse" for e in entries if "other_of" in e):
        raise fail('at most one land-use class may have "other_of": "landuse"')
    if others and "landuse" not in keys:
        raise fail("'landuse_keys' must hold 'landuse' when a class takes the other landuse values")
    return {
        "landuse_classes": tuple(e["name"] for e in entries),
        "landuse_keys": keys,
        "landuse_other": others[0] if others else None,
        "landuse_tags": _tag_table(entries, keys, "land-use class", fail),
    }


def parse_area_rules(doc: Mapping[str, Any], ignore: frozenset[str], fail: Fail) -> AreaRules:
    """The building and land-use rules of a taxonomy document (empty when it has none).

    ``fail(problem)`` makes the error raised for a broken section.

    Examples
    --------
    >>> rules = parse_area_rules({
    ...     "building_classes": [{"name": "home", "building": ["house"]},
    ...                          {"name": "other", "other": True}],
    ...     "landuse_keys": ["natural"],
    ...     "landuse_classes": [{"name": "forest", "tags": {"natural": ["wood"]}}],
    ... }, frozenset(), ValueError)
    >>> rules.classify_building({"building": "house"}), rules.classify_building({"building": "yes"})
    ('home', 'other')
    >>> rules.building_levels({"building": "house", "height": "7"}, "home")
    2.0
    >>> rules.classify_landuse({"natural": "wood"}), rules.classify_landuse({"landuse": "x"})
    ('forest', None)
    """
    kw: dict[str, Any] = {"ignore_values": ignore}
    if "building_classes" in doc:
        kw.update(_buildings(doc, fail))
    if "landuse_classes" in doc:
        kw.update(_landuse(doc, fail))
    return AreaRules(**kw)
