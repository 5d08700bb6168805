"""S2Vec images: patch cells rasterized into images of their parent cells.

- :func:`build_images` places every patch cell at its true S2 position inside
  its parent and writes a sharded, memory-mapped :class:`ImageDataset`;
- :class:`NormStats` holds the global feature normalization;
- :func:`export_geotiff` writes images as georeferenced GeoTIFFs;
- :func:`plot_image` draws a quick-look PNG of one image.

The names load from their modules on first use, so building images imports
neither rasterio (GeoTIFF) nor matplotlib (the quick look).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s2vec_geo.images.build import build_images
    from s2vec_geo.images.dataset import ImageDataset
    from s2vec_geo.images.geotiff import export_geotiff, georeference
    from s2vec_geo.images.normalization import NormStats
    from s2vec_geo.images.plot import plot_image

_MODULES = {
    "ImageDataset": "s2vec_geo.images.dataset",
    "NormStats": "s2vec_geo.images.normalization",
    "build_images": "s2vec_geo.images.build",
    "export_geotiff": "s2vec_geo.images.geotiff",
    "georeference": "s2vec_geo.images.geotiff",
    "plot_image": "s2vec_geo.images.plot",
}
__all__ = [
    "ImageDataset",
    "NormStats",
    "build_images",
    "export_geotiff",
    "georeference",
    "plot_image",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first access."""
    if name not in _MODULES:
        raise AttributeError(f"module 's2vec_geo.images' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULES[name]), name)
    globals()[name] = value
    return value
