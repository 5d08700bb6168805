"""Taxonomies: OSM tags -> POI categories, road classes, node and area features."""
