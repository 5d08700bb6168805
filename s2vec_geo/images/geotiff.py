"""Export S2Vec images to GeoTIFF files that line up with the cells in QGIS.

How an image is georeferenced
-----------------------------
An S2 cell grid is not aligned with latitude/longitude, so no lat/lng raster
can hold an image exactly. But each of S2's six cube faces *is* a gnomonic
projection of the sphere: a point's face coordinates ``(u, v)`` are its
gnomonic coordinates on the tangent plane at the face centre. So every image
is written in the CRS ``+proj=gnom +lat_0=<face centre lat> +lon_0=<face
centre lng> +R=6371008.8`` (the Earth's mean radius; a CRS GeoTIFF stores
natively and any GDAL/QGIS reads), and the raster-to-map transform is an
affine map (rotation allowed) fitted by least squares from the pixel centres
``(col + 0.5, row + 0.5)`` to the projected centres of the child cells.

The fit is not exact only because S2 spaces cells uniformly in ``(s, t)``,
and ``u`` is a quadratic function of ``s`` (``v`` of ``t``): across one parent
cell the curvature is small, and the largest distance between a pixel's fitted
centre and its cell's true centre is a small fraction of a pixel (about
0.01 pixel for 16 x 16 images at level 8 on every face; it grows in
proportion to ``g / 2**image_level``). It is measured for every file and stored in
the ``S2VEC_FIT_MAX_ERROR_PX`` tag. The pixel array is also flipped/transposed
(one of the 8 symmetries of the square) so that the raster is as close to
north-up as possible.

An area is exported as one GeoTIFF per image (named by the parent's token):
images on different faces have different CRSs, and even on one face a single
affine grid cannot follow the quadratic spacing across many parents, so a
mosaic would not be exact. Drag the files of the folder into QGIS: it
reprojects each tile on the fly, and each tile lies on its cells.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.errors import RasterioError
from rasterio.transform import Affine

from s2vec_geo import s2
from s2vec_geo.core.disk import check_space, enough_space, free_space, on_disk
from s2vec_geo.core.geodesy import EARTH_RADIUS_M
from s2vec_geo.core.progress import progress
from s2vec_geo.images.dataset import ImageDataset
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.io.outputs import removed_if_left_empty

TIFF_SUFFIXES = (".tif", ".tiff")
GEOTIFFS = "the GeoTIFFs"
FIX = "free some space or choose a folder on another disk, then export again"


@dataclass(frozen=True)
class Georeference:
    """Where an image's pixels lie: CRS, affine transform and pixel arrangement.

    Attributes
    ----------
    crs
        PROJ string of the gnomonic projection of the parent's cube face.
    transform
        Affine map from raster ``(col, row)`` to CRS ``(x, y)`` metres.
    order
        Int ``(g, g)`` array: ``order[r, c]`` is the image pixel index
        (``row * g + col`` of the dataset image) shown at raster row ``r``,
        column ``c``.
    max_error_px
        Largest distance between a fitted pixel centre and its cell's
        projected centre, in pixels.
    """

    crs: str
    transform: Affine
    order: np.ndarray
    max_error_px: float


def face_crs(parent: int) -> str:
    """PROJ string of the gnomonic projection of the cube face holding ``parent``.

    Examples
    --------
    >>> import numpy as np, s2vec_geo as sv
    >>> face_crs(sv.latlng_to_cell(np.array([1.0]), np.array([1.0]), 8)[0])
    '+proj=gnom +lat_0=0 +lon_0=0 +R=6371008.8 +units=m +no_defs'
    """
    face = s2.cell_parent(np.array([parent], dtype=np.int64), 0)
    lat, lng = s2.cell_to_latlng(face)
    # Face centres are multiples of 90 degrees; rounding removes float noise.
    lat0, lng0 = round(float(lat[0])), round(float(lng[0]))
    lng0 = 0 if abs(lat0) == 90 else lng0
    return f"+proj=gnom +lat_0={lat0} +lon_0={lng0} +R={EARTH_RADIUS_M} +units=m +no_defs"


def georeference(parent: int, patch_level: int) -> Georeference:
    """Fit the GeoTIFF georeference of the image of ``parent`` at ``patch_level``.

    Examples
    --------
    >>> import numpy as np, s2vec_geo as sv
    >>> parent = sv.latlng_to_cell(np.array([40.7]), np.array([-74.0]), 8)[0]
    >>> geo = georeference(parent, 12)
    >>> geo.max_error_px < 0.01, geo.order.shape
    (True, (16, 16))
    """
    children = s2.cell_children(parent, patch_level)
    g = round(np.sqrt(len(children)))
    crs = face_crs(parent)
    lat, lng = s2.cell_to_latlng(children)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lng, lat)
    world = np.column_stack([x, y])
    rows, cols = np.indices((g, g))
    design = np.column_stack([cols.ravel() + 0.5, rows.ravel() + 0.5, np.ones(g * g)])
    best: Georeference | None = None
    best_score = -np.inf
    for transpose, flip_rows, flip_cols in product((False, True), repeat=3):
        order = np.arange(g * g).reshape(g, g)
        order = order.T if transpose else order
        order = order[::-1] if flip_rows else order
        order = order[:, ::-1] if flip_cols else order
        coef, *_ = np.linalg.lstsq(design, world[order.ravel()], rcond=None)
        (a, d), (b, e), (c, f) = coef
        # North-up-ness: x grows with the column, y falls with the row.
        score = (a - e) / np.hypot(np.hypot(a, b), np.hypot(d, e))
        if score > best_score:
            pixel = np.sqrt(abs(a * e - b * d))
            error = np.hypot(*(design @ coef - world[order.ravel()]).T).max() / pixel
            best_score = score
            best = Georeference(
                crs, Affine(a, b, c, d, e, f), np.ascontiguousarray(order), float(error)
            )
    assert best is not None
    return best


def _select_parents(dataset: ImageDataset, parents: Sequence | np.ndarray | None) -> np.ndarray:
    if parents is None:
        return np.arange(len(dataset))
    wanted = np.atleast_1d(np.asarray(parents))
    if wanted.dtype.kind in "OUS":
        wanted = s2.token_to_cell(wanted.astype(str))
    return dataset.index_of(wanted.astype(np.int64))


def _select_features(dataset: ImageDataset, features: Sequence[str] | None) -> list[int]:
    if features is None:
        return list(range(len(dataset.feature_names)))
    unknown = [f for f in features if f not in dataset.feature_names]
    if unknown:
        raise ValueError(
            f"unknown feature(s) {unknown}; choose from ds.feature_names "
            f"(e.g. {list(dataset.feature_names[:5])})"
        )
    return [dataset.feature_names.index(f) for f in features]


def band_statistics(values: np.ndarray) -> dict[str, float]:
    """GDAL's statistics metadata of one band (NaN: no data), with a range that is never empty.

    QGIS stretches a band between its minimum and maximum, and GDAL refuses
    the histogram of an empty range ("dfMax should be strictly greater than
    dfMin", printed for every constant band): a constant band (a feature
    absent from the image, or no data at all) records a range of one unit
    around its value instead, and is drawn in one colour as before.

    Examples
    --------
    >>> band_statistics(np.array([[0.0, 0.0], [0.0, np.nan]]))["STATISTICS_MAXIMUM"]
    0.5
    >>> band_statistics(np.array([[1.0, 3.0]]))["STATISTICS_MEAN"]
    2.0
    """
    valid = values[np.isfinite(values)].astype(np.float64)
    lo, hi = (float(valid.min()), float(valid.max())) if valid.size else (0.0, 0.0)
    if hi <= lo:  # constant: a one-unit range around the value
        lo, hi = lo - 0.5, hi + 0.5
    return {
        "STATISTICS_MINIMUM": lo,
        "STATISTICS_MAXIMUM": hi,
        "STATISTICS_MEAN": float(valid.mean()) if valid.size else 0.0,
        "STATISTICS_STDDEV": float(valid.std()) if valid.size else 0.0,
        "STATISTICS_VALID_PERCENT": 100.0 * valid.size / max(values.size, 1),
    }


def export_geotiff(
    dataset: ImageDataset,
    path: str | os.PathLike,
    parents: Sequence | np.ndarray | None = None,
    features: Sequence[str] | None = None,
    *,
    normalized: bool = False,
) -> list[Path]:
    """Write images as georeferenced GeoTIFFs: one band per feature, NaN where no cell.

    Parameters
    ----------
    dataset
        The images (:func:`s2vec_geo.build_images`).
    path
        A ``.tif`` file when exporting one image, otherwise a folder (created
        if missing) that receives ``<parent token>.tif`` per image.
    parents
        Parent cell ids (int64) or tokens to export; ``None`` exports all.
    features
        Feature names to write as bands, in this order; ``None`` writes all.
    normalized
        Write the normalized values the model sees instead of raw counts.

    Returns
    -------
    list of Path
        The files written (each one atomically).

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, rasterio, s2vec_geo as sv
    >>> ids = sv.latlng_to_cell(np.array([40.70, 40.72]), np.array([-74.0, -74.0]), 12)
    >>> cells = pd.DataFrame({"shops": [3, 1]}, index=pd.Index(ids, name="cell_id"))
    >>> ds = sv.build_images(cells, image_level=9)
    >>> [tif] = sv.export_geotiff(ds, tempfile.mkdtemp() + "/nyc.tif")
    >>> with rasterio.open(tif) as src:
    ...     (src.count, src.descriptions, int(np.isfinite(src.read(1)).sum()))
    (1, ('shops',), 2)
    """
    rows = _select_parents(dataset, parents)
    bands = _select_features(dataset, features)
    target = Path(path)
    single = target.suffix.lower() in TIFF_SUFFIXES
    if single and len(rows) != 1:
        raise ValueError(
            f"{len(rows)} images selected but {str(target)!r} names one .tif file; "
            "give a folder to write one GeoTIFF per image, or select one parent"
        )
    folder = target.parent if single else target
    if not single:
        if target.exists() and not target.is_dir():
            raise ValueError(f"{str(target)!r} is a file; give a folder for several GeoTIFFs")
        if not target.parent.is_dir():
            raise FileNotFoundError(
                f"folder {str(target.parent)!r} does not exist; create it first"
            )
    written: list[Path] = []
    # The folder this call makes goes again on failure; every file is published (renamed
    # from its temporary) only once all are written.
    with contextlib.nullcontext() if single else removed_if_left_empty(target):
        if not single:
            target.mkdir(exist_ok=True)
        with enough_space(folder, None, GEOTIFFS, FIX), contextlib.ExitStack() as publish:
            for i in progress(
                rows.tolist(), total=len(rows), desc="writing GeoTIFFs", unit="image"
            ):
                token = str(s2.cell_to_token(np.array([dataset.parents[i]]))[0])
                out = target if single else target / f"{token}.tif"
                tmp = publish.enter_context(atomic_path(out))
                _write_image(dataset, i, bands, tmp, token, normalized)
                if not written:  # the first file's size tells what the others will need
                    check_space(
                        folder, on_disk(tmp.stat().st_size) * (len(rows) - 1), GEOTIFFS, FIX
                    )
                written.append(out)
    return written


def _write_image(
    dataset: ImageDataset, i: int, bands: list[int], path: Path, token: str, normalized: bool
) -> None:
    """Write image ``i`` of ``dataset`` (its ``bands``) as a GeoTIFF at ``path`` and check it.

    GDAL does not fail a write that the disk refuses: it logs the error and
    closes a broken file. So the file is read back, and one that does not
    read back as written is an ``OSError`` (``ENOSPC`` when the disk is full).
    """
    g = dataset.grid
    geo = georeference(dataset.parents[i], dataset.patch_level)
    values = dataset.normalized(i)[0] if normalized else dataset.raw(i)
    values = np.where(dataset.mask(i)[:, None], values, np.nan).astype(np.float32)
    raster = values[geo.order.ravel()][:, bands].reshape(g, g, len(bands)).transpose(2, 0, 1)
    profile = {
        "driver": "GTiff",
        "width": g,
        "height": g,
        "count": len(bands),
        "dtype": "float32",
        "crs": geo.crs,
        "transform": geo.transform,
        "nodata": np.nan,
        "compress": "deflate",
    }
    try:
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(raster)
            for band, k in enumerate(bands, start=1):
                dst.set_band_description(band, dataset.feature_names[k])
                dst.update_tags(band, **band_statistics(raster[band - 1]))
            dst.update_tags(
                S2VEC_PARENT=token,
                S2VEC_PATCH_LEVEL=dataset.patch_level,
                S2VEC_IMAGE_LEVEL=dataset.image_level,
                S2VEC_FIT_MAX_ERROR_PX=f"{geo.max_error_px:.6f}",
                S2VEC_VALUES="normalized" if normalized else "raw",
            )
        with rasterio.open(path) as src:
            same = np.array_equal(src.read(), raster, equal_nan=True)
    except RasterioError:
        same = False
    if not same:
        message = (
            f"GDAL could not write the GeoTIFF of {token} in {str(path.parent)!r} (it does not "
            "read back as written); check the disk (free space, inodes) and export again"
        )
        if (free_space(path.parent) or 0) < raster.nbytes:  # the file is still there
            raise OSError(errno.ENOSPC, message)
        raise OSError(message)
