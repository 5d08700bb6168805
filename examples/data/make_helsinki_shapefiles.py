"""Derive the sample shapefiles from the bundled Helsinki PBF (run from the repo root).

``helsinki_pois.shp``: every POI and tagged road node of ``helsinki.osm.pbf`` as a
point (polygons at their representative point) with its OSM id and raw tag
columns (shapefile names are cut to 10 characters: ``public_tra``).
``helsinki_roads.shp``: every road way as a LineString with ``osm_id``, ``highway``
and ``name``. Data (c) OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

from pathlib import Path

import osmium

from s2vec_geo.ingest import read_features
from s2vec_geo.ingest.ogr import tag_columns
from s2vec_geo.ingest.taxonomy.tags import load_taxonomy

HERE = Path(__file__).parent
TAX = load_taxonomy()


def raw_tags(path: Path) -> dict[tuple[str, int], dict[str, str]]:
    """Tags of every object carrying a taxonomy key, by (osm_type, id)."""
    found = {}
    keys = [*TAX.tag_keys, "name"]
    for obj in osmium.FileProcessor(str(path)).with_filter(osmium.filter.KeyFilter(*TAX.tag_keys)):
        found[obj.type_str(), obj.id] = {k: obj.tags.get(k) for k in keys}
    return found


def main() -> None:
    pbf = HERE / "helsinki.osm.pbf"
    features = read_features(pbf)
    tags = raw_tags(pbf)
    columns = tag_columns(list(TAX.tag_keys), TAX)
    for kind, out in (("poi", "helsinki_pois.shp"), ("road", "helsinki_roads.shp")):
        tagged_node = (features["kind"] == "node") & (features["category"] != "intersections")
        rows = features[(features["kind"] == kind) | ((kind == "poi") & tagged_node)]
        rows = rows.drop_duplicates(subset=["osm_type", "osm_id"])
        records = [tags[t, i] for t, i in zip(rows["osm_type"], rows["osm_id"], strict=True)]
        frame = rows[["osm_id", "osm_type", "geometry"]].reset_index(drop=True)
        keys = ["highway", "name"] if kind == "road" else [*columns, "name"]
        for key in keys:
            frame[key[:10]] = [r.get(key) for r in records]
        frame.to_file(
            HERE / out, engine="pyogrio", encoding="UTF-8", layer_options={"RESIZE": "YES"}
        )
        print(out, len(frame))


if __name__ == "__main__":
    main()
