"""The QGIS style a GeoPackage carries: its default look, stored in the file itself.

QGIS keeps a layer's styles in the GeoPackage's ``layer_styles`` table (QML
and SLD, one marked ``useAsDefault``) and applies the default one whenever
the layer is opened, on any machine, with no plugin. The toolkit writes that
table exactly as QGIS does (the same columns, registered in ``gpkg_contents``
as an attributes table) with a style of the layer's kind:

- an embedding layer (``emb_000 ...`` columns) is drawn in its PCA-RGB
  colours: each feature filled (a polygon), stroked (a line) or marked (a
  point) with the colour in its :data:`~s2vec_geo.core.schema.PCA_RGB` column
  through a data-defined colour, so neighbouring places with similar built
  environments look alike;
- any other cell layer (``cell_id``: cells, coverings, features) as thin
  dark outlines over a faint fill.

The QML and SLD come from templates in ``s2vec_geo/data/styles/`` (QML as
QGIS 3.22 writes it; the SLD reads the colour column with
``ogc:PropertyName``); nothing here imports QGIS. Standard library only.

Examples
--------
>>> style_name(["emb_000", "pca_rgb"], "MULTIPOLYGON"), style_name(["cell_id"], "POLYGON")
('pca_rgb_fill', 'cells')
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from importlib import resources
from string import Template

from s2vec_geo.core.schema import CELL_ID, PCA_RGB

STYLE_TABLE = "layer_styles"
SYMBOLS = {"POLYGON": "fill", "LINESTRING": "line", "POINT": "marker"}
"""The QGIS symbol that draws each GeoPackage geometry type (multi-part ones alike)."""
DESCRIPTIONS = {
    "pca_rgb": "S2Vec embeddings: first three principal components as RGB (column {column})",
    "cells": "S2 cells: outlines",
}
# The table and its bookkeeping exactly as QGIS 3.22 creates them through OGR.
CREATE_TABLE = (
    f'CREATE TABLE IF NOT EXISTS "{STYLE_TABLE}" ( "id" INTEGER PRIMARY KEY AUTOINCREMENT '
    'NOT NULL, "f_table_catalog" TEXT(256), "f_table_schema" TEXT(256), "f_table_name" '
    'TEXT(256), "f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT, '
    '"styleSLD" TEXT, "useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), "ui" '
    "TEXT(30), \"update_time\" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
)
COUNT_TRIGGERS = tuple(
    f'CREATE TRIGGER "trigger_{event}_feature_count_{STYLE_TABLE}" AFTER {event.upper()} ON '
    f'"{STYLE_TABLE}" BEGIN UPDATE gpkg_ogr_contents SET feature_count = feature_count '
    f"{sign} 1 WHERE lower(table_name) = lower('{STYLE_TABLE}'); END;"
    for event, sign in (("insert", "+"), ("delete", "-"))
)


def style_name(columns: Sequence[str], geometry_type: str | None) -> str | None:
    """The style of a layer with these columns and geometry type (``None``: no style).

    Embedding layers with a colour column get ``pca_rgb_<symbol>``; other
    cell layers (polygons with ``cell_id``) get ``cells``; anything else none.

    Examples
    --------
    >>> style_name(["emb_000", "pca_rgb"], "POINT"), style_name(["name"], "POLYGON")
    ('pca_rgb_marker', None)
    """
    symbol = SYMBOLS.get((geometry_type or "").upper().removeprefix("MULTI"))
    if symbol is None:
        return None
    if PCA_RGB in columns:
        return f"pca_rgb_{symbol}"
    if CELL_ID in columns and symbol == "fill":
        return "cells"
    return None


def style_texts(name: str, layer: str) -> tuple[str, str]:
    """QML and SLD of the style ``name`` for the layer ``layer``, from their templates.

    Examples
    --------
    >>> qml, sld = style_texts("pca_rgb_fill", "helsinki")
    >>> '"fillColor"' in qml and 'value="pca_rgb"' in qml, "<se:Name>helsinki<" in sld
    (True, True)
    """
    folder = resources.files("s2vec_geo").joinpath("data", "styles")
    values = {"colour_field": PCA_RGB, "name": layer}
    return tuple(  # type: ignore[return-value]
        Template(folder.joinpath(f"{name}.{kind}").read_text("utf-8")).substitute(values)
        for kind in ("qml", "sld")
    )


def store_default_style(path: str | os.PathLike, layer: str) -> str | None:
    """Store the style of ``layer``'s kind in the GeoPackage ``path`` as its default.

    The kind is read from the file (:func:`style_name` of the layer's columns
    and geometry type); the ``layer_styles`` table is created as QGIS does
    when the file has none. Returns the style's name, ``None`` when the layer
    gets no style.

    Examples
    --------
    >>> import geopandas as gpd, shapely, sqlite3, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.gpkg"
    >>> g = gpd.GeoDataFrame({"cell_id": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    >>> g.to_file(p, layer="c", engine="pyogrio")
    >>> store_default_style(p, "c")
    'cells'
    >>> sqlite3.connect(p).execute(
    ...     "SELECT f_table_name, f_geometry_column, styleName, useAsDefault FROM layer_styles"
    ... ).fetchall()
    [('c', 'geom', 'cells', 1)]
    """
    with closing(sqlite3.connect(path)) as db, db:
        found = db.execute(
            "SELECT column_name, geometry_type_name FROM gpkg_geometry_columns "
            "WHERE table_name = ?",
            (layer,),
        ).fetchone()
        if found is None:
            return None
        geometry, geometry_type = found
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({quoted(layer)})")]
        name = style_name(columns, geometry_type)
        if name is None:
            return None
        if not db.execute(
            "SELECT 1 FROM gpkg_contents WHERE table_name = ?", (STYLE_TABLE,)
        ).fetchone():
            create_style_table(db)
        qml, sld = style_texts(name, layer)
        kind = "pca_rgb" if name.startswith("pca_rgb") else name
        db.execute(
            f'INSERT INTO "{STYLE_TABLE}" (f_table_catalog, f_table_schema, f_table_name, '
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
            "owner, ui) VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, '', NULL)",
            (layer, geometry, name, qml, sld, DESCRIPTIONS[kind].format(column=PCA_RGB)),
        )
    return name


def quoted(identifier: str) -> str:
    """An SQL identifier in double quotes (quotes inside doubled).

    Examples
    --------
    >>> quoted('a"b')
    '"a""b"'
    """
    return '"' + identifier.replace('"', '""') + '"'


def create_style_table(db: sqlite3.Connection) -> None:
    """Create ``layer_styles`` and register it (``gpkg_contents``, OGR's feature count)."""
    db.execute(CREATE_TABLE)
    db.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
        "VALUES (?, 'attributes', ?, 0)",
        (STYLE_TABLE, STYLE_TABLE),
    )
    counted = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gpkg_ogr_contents'"
    ).fetchone()
    if counted:
        db.execute(
            "INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, 0)",
            (STYLE_TABLE,),
        )
        for trigger in COUNT_TRIGGERS:
            db.execute(trigger)
