"""Parameter definitions shared by several algorithm groups (keys, ranges, help)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterVectorDestination,
)

from .base import integer_parameter, level_parameter, with_help

PATCH_LEVEL_HELP = (
    "S2 level of the patch cells that get a feature vector and an embedding. The paper uses "
    "12 (about 5 km2); for a city use 15-17 (about 0.1-0.02 km2)."
)
IMAGE_LEVEL_HELP = (
    "S2 level of the images: every patch cell is placed at its true position inside its "
    "ancestor at this level, so an image is a 2^(patch - image) square grid. The paper uses 8 "
    "with patch level 12 (16 x 16 patches). Must be lower than the patch level."
)


def patch_level(key: str = "LEVEL", default: int = 16):
    """The patch (cell) level parameter."""
    return level_parameter(key, "Patch (cell) S2 level", default, PATCH_LEVEL_HELP)


def image_level(key: str = "IMAGE_LEVEL", default: int = 13):
    """The image level parameter."""
    return level_parameter(key, "Image S2 level", default, IMAGE_LEVEL_HELP)


def pbf_file(key: str = "PBF"):
    """An OpenStreetMap file input."""
    return with_help(
        QgsProcessingParameterFile(
            key,
            "OpenStreetMap file (.osm.pbf)",
            behavior=QgsProcessingParameterFile.File,
            fileFilter="OpenStreetMap files (*.pbf *.osm *.osm.pbf)",
        ),
        "OpenStreetMap extract, e.g. from download.geofabrik.de. Points of interest and roads "
        "are read from it with the S2Vec taxonomy.",
    )


WINDOW_MODES = ("sliding", "aligned")
WINDOWS_HELP = (
    "sliding: windows at any offset (random offsets in training, overlapping windows blended "
    "towards their centres when embedding), so neighbouring cells across an image border are "
    "read in the same context and the map shows no tiling (default); aligned: the paper's fixed "
    "images, one per image-level cell."
)


def windows(key: str = "WINDOWS"):
    """How training windows are placed: sliding (default) or aligned (the paper's)."""
    return with_help(
        QgsProcessingParameterEnum(key, "Windows", options=list(WINDOW_MODES), defaultValue=0),
        WINDOWS_HELP,
    )


def embedding_windows(key: str = "WINDOWS"):
    """Windows used when embedding: those of training (default), sliding or aligned."""
    return with_help(
        QgsProcessingParameterEnum(
            key, "Windows", options=["as trained", *WINDOW_MODES], defaultValue=0
        ),
        WINDOWS_HELP + " 'as trained' uses the windows the model was trained with.",
    )


def embedding_window_choice(index: int) -> list[str]:
    """Engine arguments for the :func:`embedding_windows` choice ``index``.

    Examples
    --------
    >>> embedding_window_choice(0), embedding_window_choice(2)
    ([], ['--windows', 'aligned'])
    """
    return [] if index == 0 else ["--windows", WINDOW_MODES[index - 1]]


def stride(key: str = "STRIDE"):
    """Step of sliding windows when embedding (0: half an image side)."""
    return integer_parameter(
        key,
        "Sliding-window stride (cells)",
        0,
        0,
        256,
        "Step between overlapping windows when embedding, a power of two up to the image "
        "side; 0 uses half the image side. Each cell is encoded (side / stride)^2 times.",
    )


def more_files(key: str, description: str, text: str):
    """Optional extra input files (several areas trained as one model)."""
    parameter = QgsProcessingParameterMultipleLayers(
        key, description, layerType=QgsProcessing.TypeFile, optional=True
    )
    return with_help(parameter, text)


TAXONOMIES = ("v1", "v2")
TAXONOMY_LABELS = (
    "v1: points of interest, roads, road nodes",
    "v2: v1 plus building footprints and land use",
)
TAXONOMY_HELP = (
    "The feature taxonomy, stored with the cells and every model trained on them. v1 (the "
    "default) counts points of interest by category, road ways and lengths by class, "
    "intersections and traffic signals. v2 keeps all of v1 and adds, per cell, building count, "
    "footprint area and floor area per building class (residential, commercial, industrial, "
    "civic, other) and land-use area per class (residential, commercial, industrial, farmland, "
    "forest, grass, water, other), with polygons cut exactly at cell edges."
)
POLYGON_KINDS = ("poi", "building", "landuse")


def taxonomy(key: str = "TAXONOMY", own_categories: bool = False):
    """The taxonomy choice; with ``own_categories`` the first option is the layer's own."""
    labels = list(TAXONOMY_LABELS)
    text = TAXONOMY_HELP
    if own_categories:
        labels.insert(0, "The layer's own categories (one column per value)")
        text += (
            " With the layer's own categories (the default) every value of the category field "
            "becomes a column; with v1 or v2 the values must be that taxonomy's names."
        )
    return with_help(
        QgsProcessingParameterEnum(key, "Feature taxonomy", options=labels, defaultValue=0), text
    )


def taxonomy_args(index: int, own_categories: bool = False) -> list[str]:
    """``--taxonomy`` arguments for the engine from the chosen option."""
    if own_categories:
        if index == 0:
            return []
        index -= 1
    return ["--taxonomy", TAXONOMIES[index]]


def polygon_kind(key: str = "POLYGONS"):
    """What the polygons of a featurized layer are."""
    return with_help(
        QgsProcessingParameterEnum(
            key,
            "Polygons are",
            options=[
                "Points of interest (counted once, at a point inside)",
                "Building footprints (count, footprint and floor area per cell)",
                "Land use (area per cell)",
            ],
            defaultValue=0,
        ),
        "What the layer's polygons are. Buildings and land use are cut exactly at cell edges, "
        "so each cell gets the area inside it (square metres, equal-area EPSG:6933); the "
        "category field names the building or land-use class. Building floor area uses a "
        "'building:levels' or 'height' field when the layer has one, else 1 level (v2: the "
        "class's estimate).",
    )


def area_of_interest(key: str = "AOI"):
    """An optional area-of-interest polygon layer."""
    return with_help(
        QgsProcessingParameterFeatureSource(
            key, "Area of interest", [QgsProcessing.TypeVectorPolygon], optional=True
        ),
        "Optional polygons limiting the cells (selected features only when ticked); without "
        "it the cells cover the whole input.",
    )


def cell_layer(key: str, description: str, text: str):
    """A cell layer input (written by an earlier S2Vec step)."""
    return with_help(
        QgsProcessingParameterFeatureSource(key, description, [QgsProcessing.TypeVectorPolygon]),
        text,
    )


def layer_output(key: str, description: str, text: str):
    """A polygon layer output (GeoPackage by default)."""
    return with_help(
        QgsProcessingParameterVectorDestination(key, description, QgsProcessing.TypeVectorPolygon),
        text,
    )


def seed(key: str = "SEED"):
    """The random seed: same input and seed give the same result."""
    return integer_parameter(
        key, "Random seed", 0, 0, 2**31 - 1, "Seed of every random choice; same seed, same result."
    )


def epochs(key: str = "EPOCHS", default: int = 50):
    """Training epochs."""
    return integer_parameter(
        key,
        "Training epochs",
        default,
        1,
        10000,
        "Passes over the images (the paper trains 50 epochs). Each epoch sees every image once.",
    )


def embedding_size(key: str = "EMBED_DIM", default: int = 256):
    """Embedding size (encoder width)."""
    return integer_parameter(
        key,
        "Embedding size",
        default,
        8,
        2048,
        "Length of each cell's embedding = encoder width (the paper uses 256). It must be "
        "divisible by the 8 attention heads.",
    )


def min_support(key: str = "MIN_SUPPORT"):
    """Share of cells a feature must be present in to be trained on."""
    return with_help(
        QgsProcessingParameterNumber(
            key,
            "Minimum feature support",
            type=QgsProcessingParameterNumber.Double,
            defaultValue=0.0,
            minValue=0.0,
            maxValue=1.0,
        ),
        "Train only on the features present (non-zero) in at least this share of the cells, "
        "e.g. 0.02. Rare categories are isolated spikes the model cannot predict on a small "
        "area. 0 keeps every feature, as the paper does.",
    )
