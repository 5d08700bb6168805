"""S2Vec images: patch cells rasterized into images of their parent cells.

- :func:`build_images` places every patch cell at its true S2 position inside
  its parent and writes a sharded, memory-mapped :class:`ImageDataset`;
- :class:`NormStats` holds the global feature normalization;
- :func:`export_geotiff` writes images as georeferenced GeoTIFFs;
- :func:`plot_image` draws a quick-look PNG of one image.
"""

from s2vec_geo.images.build import build_images
from s2vec_geo.images.dataset import ImageDataset
from s2vec_geo.images.geotiff import export_geotiff, georeference
from s2vec_geo.images.plot import plot_image
from s2vec_geo.normalization import NormStats

__all__ = [
    "ImageDataset",
    "NormStats",
    "build_images",
    "export_geotiff",
    "georeference",
    "plot_image",
]
