"""Area polygons (buildings, land use): the repair rule.

Buildings and land use keep their polygons (POIs are reduced to a point).
They are repaired as POI polygons are, with ``shapely.make_valid``; what has
no area afterwards (a ring collapsed to a line or a point) is dropped, and
only the polygonal parts of a repaired geometry are kept.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import shapely

from s2vec_geo.core.options import POLYGONS
from s2vec_geo.ingest.taxonomy.tags import Taxonomy
from s2vec_geo.s2.antimeridian import split_antimeridian

POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon
AREA_KINDS = tuple(kind for kind in POLYGONS.choices if kind != "poi")


def _polygon_parts(geometry: shapely.Geometry) -> shapely.Geometry | None:
    """The polygons of a (repaired) geometry as one (multi)polygon, or ``None``."""
    parts = shapely.get_parts(shapely.get_parts(np.array([geometry], dtype=object)))
    polygons = parts[shapely.get_type_id(parts) == 3]
    if len(polygons) == 0:
        return None
    return polygons[0] if len(polygons) == 1 else shapely.multipolygons(polygons)


def repair_polygons(geometries: np.ndarray) -> tuple[np.ndarray, int]:
    """Valid (multi)polygons, ``None`` where no area is left, and how many were repaired.

    Examples
    --------
    >>> bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    >>> flat = shapely.Polygon([(0, 0), (1, 0), (2, 0)])
    >>> fixed, repaired = repair_polygons(np.array([bowtie, flat], dtype=object))
    >>> fixed[0].geom_type, round(fixed[0].area, 2), fixed[1], repaired
    ('MultiPolygon', 0.5, None, 2)
    """
    geometries = np.asarray(geometries, dtype=object).copy()
    invalid = ~shapely.is_valid(geometries)
    if invalid.any():
        geometries[invalid] = shapely.make_valid(geometries[invalid])
    other = ~np.isin(shapely.get_type_id(geometries), POLYGONAL)
    for i in np.flatnonzero(other | (invalid & (shapely.area(geometries) == 0))):
        geometries[i] = _polygon_parts(geometries[i])
    return geometries, int(invalid.sum())


class AreaPolygons:
    """Building and land-use polygons gathered one OSM object at a time.

    Examples
    --------
    >>> from s2vec_geo.ingest.taxonomy.tags import load_taxonomy
    >>> areas = AreaPolygons(load_taxonomy("v2"))
    >>> tags = {"building": "house", "landuse": "residential"}
    >>> areas.add(shapely.box(0, 0, 1e-4, 1e-4), areas.classes(tags), 7, "w")
    >>> rows = areas.rows()
    >>> rows["kind"].tolist(), rows["category"].tolist(), rows["levels"].tolist()
    (['building', 'landuse'], ['residential', 'residential'], [2.0, nan])
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.tax = taxonomy
        self.enabled = bool(taxonomy.building_classes or taxonomy.landuse_classes)
        self.shapes: list[shapely.Geometry] = []
        self.category: list[str] = []
        self.kind: list[str] = []
        self.levels: list[float] = []
        self.osm_id: list[int] = []
        self.osm_type: list[str] = []
        self.repaired = 0

    def classes(self, tags: Mapping[str, str]) -> list[tuple[str, str, float]]:
        """(kind, class, floor levels) of an object's tags: a building, land use, both or none."""
        return self.tax.classify_areas(tags) if self.enabled else []

    def add(
        self,
        shape: shapely.Geometry,
        classes: list[tuple[str, str, float]],
        osm_id: int,
        osm_type: str,
    ) -> None:
        """Keep ``shape`` once per class it has."""
        for kind, category, levels in classes:
            self.shapes.append(shape)
            self.kind.append(kind)
            self.category.append(category)
            self.levels.append(levels)
            self.osm_id.append(osm_id)
            self.osm_type.append(osm_type)

    def rows(self) -> dict[str, np.ndarray]:
        """Columns of the kept polygons, cut at the antimeridian and repaired.

        Polygons with no area left are dropped.
        """
        shapes = split_antimeridian(np.asarray(self.shapes, dtype=object))
        geometry, self.repaired = repair_polygons(shapes)
        keep = np.array([g is not None for g in geometry], dtype=bool)
        columns = {
            "geometry": geometry,
            "category": np.asarray(self.category, dtype=object),
            "kind": np.asarray(self.kind, dtype=object),
            "osm_id": np.asarray(self.osm_id, dtype=np.int64),
            "osm_type": np.asarray(self.osm_type, dtype=object),
            "levels": np.asarray(self.levels, dtype=np.float64),
        }
        return {name: values[keep] for name, values in columns.items()}
