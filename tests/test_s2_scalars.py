"""Scalars in, scalars out: every public S2 function works one cell at a time.

A scalar input (a Python number or string, a NumPy scalar or a 0-d array)
gives a scalar (a tuple of scalars, one cell's polygon or vertices), equal to
the matching element of the vectorized answer; array inputs still give arrays.
That is what ``pd.Index(ids).map(...)`` and plain Python loops need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely

import s2vec_geo as s2v

LAT = np.array([60.1699, 60.1712, 60.2055, 40.7128, -33.8688])
LNG = np.array([24.9384, 24.9402, 24.6559, -74.0060, 151.2093])
CELLS = s2v.latlng_to_cell(LAT, LNG, 16)
TOKENS = s2v.cell_to_token(CELLS)
FACE, ROW_I, COL_J = s2v.cell_face_ij(CELLS)

# name -> (call on one element k, call on all elements)
CASES: dict[str, tuple[Callable[[int], Any], Callable[[], Any]]] = {
    "latlng_to_cell": (
        lambda k: s2v.latlng_to_cell(float(LAT[k]), float(LNG[k]), 16),
        lambda: s2v.latlng_to_cell(LAT, LNG, 16),
    ),
    "cell_level": (lambda k: s2v.cell_level(int(CELLS[k])), lambda: s2v.cell_level(CELLS)),
    "cell_parent": (
        lambda k: s2v.cell_parent(int(CELLS[k]), 12),
        lambda: s2v.cell_parent(CELLS, 12),
    ),
    "cell_to_token": (lambda k: s2v.cell_to_token(CELLS[k]), lambda: s2v.cell_to_token(CELLS)),
    "token_to_cell": (
        lambda k: s2v.token_to_cell(str(TOKENS[k])),
        lambda: s2v.token_to_cell(TOKENS),
    ),
    "cell_to_latlng": (lambda k: s2v.cell_to_latlng(CELLS[k]), lambda: s2v.cell_to_latlng(CELLS)),
    "cell_position": (
        lambda k: s2v.cell_position(np.array(CELLS[k]), 12),  # a 0-d array
        lambda: s2v.cell_position(CELLS, 12),
    ),
    "cell_face_ij": (lambda k: s2v.cell_face_ij(int(CELLS[k])), lambda: s2v.cell_face_ij(CELLS)),
    "face_ij_to_cell": (
        lambda k: s2v.face_ij_to_cell(int(FACE[k]), int(ROW_I[k]), int(COL_J[k]), 16),
        lambda: s2v.face_ij_to_cell(FACE, ROW_I, COL_J, 16),
    ),
    "cell_edge_neighbors": (
        lambda k: s2v.cell_edge_neighbors(CELLS[k]),
        lambda: s2v.cell_edge_neighbors(CELLS),
    ),
    "cell_to_boundary": (
        lambda k: s2v.cell_to_boundary(CELLS[k]),
        lambda: s2v.cell_to_boundary(CELLS),
    ),
    "cell_to_polygon": (
        lambda k: s2v.cell_to_polygon(CELLS[k]),
        lambda: s2v.cell_to_polygon(CELLS),
    ),
}


def _is_one_value(value: Any) -> bool:
    """One cell's answer: a number or string, a polygon, or one cell's small array."""
    if isinstance(value, np.ndarray):
        return value.shape in ((4,), (4, 2))
    return isinstance(value, (np.generic, int, float, str, shapely.Geometry))


def test_every_public_s2_function_is_covered() -> None:
    """A new per-element function in ``s2vec_geo.s2`` must join the cases above."""
    from s2vec_geo import s2

    collective = {"cell_children", "cells_frame", "cover", "point_cells", "single_level"}
    helpers = {"to_lnglat", "validate_level"}
    assert set(s2.__all__) - collective - helpers == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_scalar_gives_scalar_equal_to_the_vectorized_answer(name: str) -> None:
    one, every = CASES[name]
    whole = every()
    for k in range(len(CELLS)):
        got = one(k)
        if isinstance(whole, tuple):
            assert isinstance(got, tuple) and len(got) == len(whole)
            assert all(_is_one_value(part) for part in got), got
            assert all(
                np.array_equal(part, column[k]) for part, column in zip(got, whole, strict=True)
            )
        elif name == "cell_to_polygon":
            assert isinstance(got, shapely.Polygon) and got.equals_exact(whole[k], 0)
        else:
            assert _is_one_value(got), (name, type(got))
            assert np.array_equal(got, whole[k])


@pytest.mark.parametrize("name", sorted(CASES))
def test_arrays_give_arrays(name: str) -> None:
    whole = CASES[name][1]()
    for part in whole if isinstance(whole, tuple) else (whole,):
        assert isinstance(part, np.ndarray) and part.shape[0] == len(CELLS)


def test_one_element_lists_still_give_arrays() -> None:
    assert s2v.latlng_to_cell([60.17], [24.94], 12).shape == (1,)
    assert s2v.cell_parent([int(CELLS[0])], 12).shape == (1,)
    assert s2v.cell_to_token(CELLS[:1]).shape == (1,)
    assert s2v.latlng_to_cell(60.17, [24.94, 24.95], 12).shape == (2,)  # a scalar broadcasts


def test_types_of_single_answers() -> None:
    cell = s2v.latlng_to_cell(60.1699, 24.9384, 16)
    assert isinstance(cell, np.int64)
    assert type(s2v.cell_to_token(cell)) is str
    assert isinstance(s2v.cell_level(cell), np.int64) and s2v.cell_level(cell) == 16
    lat, lng = s2v.cell_to_latlng(cell)
    assert isinstance(lat, np.float64) and abs(lat - 60.1699) < 3e-3 and abs(lng - 24.9384) < 3e-3


def test_index_map_works_with_scalar_answers() -> None:
    """The issue's case: ``Index.map`` of ``cell_parent`` failed with "unhashable"."""
    index = pd.Index(CELLS, name="cell_id")
    parents = index.map(lambda c: s2v.cell_parent(c, 12))
    assert parents.dtype == np.int64
    assert (parents.to_numpy() == s2v.cell_parent(CELLS, 12)).all()
    tokens = index.map(s2v.cell_to_token)
    assert tokens.tolist() == TOKENS.tolist()
    counts = pd.Series(1, index=index).groupby(lambda c: s2v.cell_parent(c, 9)).sum()
    assert counts.sum() == len(CELLS) and len(counts) == len(np.unique(s2v.cell_parent(CELLS, 9)))
