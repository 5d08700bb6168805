"""Space2Vec-style location encoding of cell centres (multi-scale sinusoids).

The paper adds a location signal by concatenating "the Space2Vec analytical
encoding (Mai et al., 2020) for the centroid of the S2 cell" to an embedding.
This is the parameter-free part of Space2Vec's *theory* encoder: the position
``x = (longitude, latitude)`` in degrees is projected on three unit vectors
120 degrees apart, ``a_1 = (1, 0)``, ``a_2 = (-1/2, sqrt(3)/2)``,
``a_3 = (-1/2, -sqrt(3)/2)``, at ``scales`` wavelengths ``lambda_s`` spaced
geometrically from ``min_wavelength`` to ``max_wavelength`` degrees, giving

``[cos(2 pi <x, a_j> / lambda_s), sin(2 pi <x, a_j> / lambda_s)]``

for every scale ``s`` and direction ``j``: ``6 * scales`` numbers in [-1, 1].
(Space2Vec then feeds this to a learned network; here the downstream MLP
plays that role.)
"""

from __future__ import annotations

import numpy as np

from s2vec_geo.s2 import cell_level, cell_to_latlng

_DIRECTIONS = np.array(
    [[1.0, 0.0], [-0.5, np.sqrt(3) / 2], [-0.5, -np.sqrt(3) / 2]]
)  # three unit vectors 120 degrees apart


def location_encoding(
    lat: np.ndarray,
    lng: np.ndarray,
    scales: int = 16,
    min_wavelength: float = 1e-3,
    max_wavelength: float = 360.0,
) -> np.ndarray:
    """Encode latitude/longitude points as multi-scale sinusoids.

    Parameters
    ----------
    lat, lng
        Coordinates in degrees.
    scales
        Number of wavelengths.
    min_wavelength, max_wavelength
        Shortest and longest wavelength in degrees (defaults: about 100 m to
        the whole globe).

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(n, 6 * scales)``.

    Examples
    --------
    >>> location_encoding([40.7], [-74.0], scales=2).shape
    (1, 12)
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lng = np.asarray(lng, dtype=np.float64).ravel()
    if lat.shape != lng.shape:
        raise ValueError(f"lat and lng differ in length ({lat.size} and {lng.size})")
    if not np.all(np.isfinite(lat) & np.isfinite(lng)):
        raise ValueError("coordinates contain NaN or infinite values; drop those rows first")
    if int(scales) < 1:
        raise ValueError(f"scales must be at least 1, got {scales}")
    if not 0 < min_wavelength <= max_wavelength:
        raise ValueError(
            f"wavelengths must satisfy 0 < min_wavelength <= max_wavelength, got "
            f"{min_wavelength} and {max_wavelength}"
        )
    wavelengths = np.geomspace(min_wavelength, max_wavelength, int(scales))
    proj = np.column_stack([lng, lat]) @ _DIRECTIONS.T  # (n, 3)
    phase = 2 * np.pi * proj[:, None, :] / wavelengths[None, :, None]  # (n, scales, 3)
    enc = np.concatenate([np.cos(phase), np.sin(phase)], axis=2)
    return enc.reshape(lat.size, -1).astype(np.float32)


def cell_location_encoding(
    cells: np.ndarray,
    scales: int = 16,
    min_wavelength: float | None = None,
    max_wavelength: float = 360.0,
) -> np.ndarray:
    """Location encoding of the centres of S2 cells.

    Parameters
    ----------
    cells
        int64 S2 cell ids, all of one level.
    scales, max_wavelength
        See :func:`location_encoding`.
    min_wavelength
        Shortest wavelength in degrees; default four cell edges
        (``4 * 90 / 2**level``): shorter waves would only alias between
        neighbouring cell centres.

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> cell_location_encoding(latlng_to_cell([40.7], [-74.0], 15)).shape
    (1, 96)
    """
    cells = np.asarray(cells, dtype=np.int64)
    if min_wavelength is None:
        level = int(cell_level(cells).max()) if cells.size else 0
        min_wavelength = 4 * 90.0 / 2**level
    lat, lng = cell_to_latlng(cells)
    return location_encoding(lat, lng, scales, min_wavelength, max_wavelength)
