"""Cell ids, parents, children, positions and tokens against Google's s2geometry.

What is compared with what (s2geometry 0.14 is the reference throughout):

* Points: 1,000,000 points uniform on the sphere (seed 20250101) plus hard
  cases: poles at many longitudes, longitude +-180, -0.0 latitude/longitude,
  the integer-degree grid, cube-face edges (|x| = |y| etc.) and corners with
  their neighbouring doubles, and points exactly on cell boundaries (cell
  vertices and edge midpoints at levels 1-30, built by s2geometry).
* Leaf ids (level 30): s2geometry ``S2CellId(S2LatLng.FromDegrees(lat, lng)).id()``
  for every point, against ``latlng_to_cell(lat, lng, 30)``: all equal.
* Every level 0-29: ``latlng_to_cell(lat, lng, level)`` and
  ``cell_parent(leaf, level)`` for every point against S2's parent bit
  formula ``(leaf & -lsb) | lsb`` applied to s2geometry's leaf id; on a
  rotating 4,000-point subsample per level, also against s2geometry's own
  ``S2CellId.parent(level)``.
* ``cell_level`` of every id at every level equals the level.
* Tokens: s2geometry ``ToToken()`` on the per-level subsample equals
  ``cell_to_token``; ``token_to_cell`` round-trips every level of every point.
* Positions: on the subsample, ``cell_position(cell, a)`` for every ancestor
  level ``a`` equals the low ``level - a`` bits of s2geometry's
  ``ToFaceIJOrientation`` (i, j) shifted to the cell's level.
* Children: ``cell_children`` equals s2geometry's ``child_begin(level)`` ..
  ``child_end(level)`` as a set, and the child at index ``row * 2**d + col``
  has position (row, col); for parents in NYC, Reykjavik, Sydney, Singapore,
  at every face centre and next to every face corner, the grid is complete
  and horizontally/vertically adjacent pixels are s2geometry edge neighbours.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import s2geometry as s2

from s2vec_geo.s2 import (
    cell_children,
    cell_level,
    cell_parent,
    cell_position,
    cell_to_token,
    latlng_to_cell,
    token_to_cell,
)

N_RANDOM = 1_000_000
N_SUBSAMPLE = 4_000
FACE_CORNER_LAT = math.degrees(math.atan(1 / math.sqrt(2)))


def s2_leaf(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """s2geometry's leaf cell id of each point, as int64."""
    cell, from_degrees = s2.S2CellId, s2.S2LatLng.FromDegrees
    ids = (cell(from_degrees(a, b)).id() for a, b in zip(lat.tolist(), lng.tolist(), strict=True))
    return np.fromiter(ids, dtype=np.uint64, count=len(lat)).view(np.int64)


def s2_cells(cells: np.ndarray) -> list:
    return [s2.S2CellId(int(c)) for c in cells.view(np.uint64).tolist()]


def _neighbours(values: np.ndarray, steps: int = 2) -> np.ndarray:
    """Values plus their ``steps`` nearest doubles on either side."""
    out = [values]
    up, down = values.copy(), values.copy()
    for _ in range(steps):
        up, down = np.nextafter(up, np.inf), np.nextafter(down, -np.inf)
        out += [up, down]
    return np.concatenate(out)


def hard_points() -> tuple[np.ndarray, np.ndarray]:
    """Poles, antimeridian, signed zeros, face edges and corners, cell boundaries."""
    lats, lngs = [], []

    def add(lat, lng) -> None:
        lat, lng = np.broadcast_arrays(np.asarray(lat, float), np.asarray(lng, float))
        lats.append(lat.ravel())
        lngs.append(lng.ravel())

    some_lng = np.array([-180.0, -135.0, -90.0, -45.0, -0.0, 0.0, 45.0, 90.0, 135.0, 180.0, 12.3])
    add(90.0, some_lng)
    add(-90.0, some_lng)
    add(np.linspace(-90, 90, 721), 180.0)
    add(np.linspace(-90, 90, 721), -180.0)
    add([0.0, -0.0, 0.0, -0.0], [0.0, 0.0, -0.0, -0.0])
    grid_lat, grid_lng = np.meshgrid(np.arange(-90.0, 91.0), np.arange(-180.0, 181.0))
    add(grid_lat, grid_lng)
    # Face edges: longitudes +-45/+-135 (x = +-y), and latitudes where |z| equals
    # |x| or |y| on the face-centre meridians; corners at the cube vertices.
    edge_lng = _neighbours(np.array([-135.0, -45.0, 45.0, 135.0]))
    add(np.linspace(-80, 80, 161)[:, None], edge_lng[None, :])
    edge_lat = _neighbours(np.array([45.0, -45.0]))
    add(edge_lat[:, None], np.array([0.0, 90.0, 180.0, -90.0, -180.0])[None, :])
    corner_lat = _neighbours(np.array([FACE_CORNER_LAT, -FACE_CORNER_LAT]))
    add(corner_lat[:, None], edge_lng[None, :])
    # Points on cell boundaries: vertices and edge midpoints of cells at levels 1-30.
    rng = np.random.default_rng(7)
    seed_lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 600)))
    seed_lng = rng.uniform(-180, 180, 600)
    for n, (lat, lng) in enumerate(zip(seed_lat.tolist(), seed_lng.tolist(), strict=True)):
        leaf = s2.S2CellId(s2.S2LatLng.FromDegrees(lat, lng))
        cell = s2.S2Cell(leaf.parent(1 + n % 30))
        for k in range(4):
            a = np.array(s2.S2Point_ToRaw(cell.GetVertex(k)))
            b = np.array(s2.S2Point_ToRaw(cell.GetVertex((k + 1) % 4)))
            for xyz in (a, (a + b) / 2):
                ll = s2.S2LatLng(s2.S2Point_FromRaw(*xyz.tolist()))
                add(ll.lat().degrees(), ll.lng().degrees())
    return np.concatenate(lats), np.concatenate(lngs)


@pytest.fixture(scope="module")
def points() -> dict[str, np.ndarray]:
    """Random + hard points with s2geometry's leaf ids."""
    rng = np.random.default_rng(20250101)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, N_RANDOM)))
    lng = rng.uniform(-180.0, 180.0, N_RANDOM)
    hard_lat, hard_lng = hard_points()
    lat = np.concatenate([hard_lat, lat])
    lng = np.concatenate([hard_lng, lng])
    n_hard = len(hard_lat)
    # Subsample: all hard points' share plus random points, rotated per level below.
    return {"lat": lat, "lng": lng, "leaf": s2_leaf(lat, lng), "n_hard": np.array(n_hard)}


def subsample(n_points: int, level: int) -> np.ndarray:
    """Rotating subsample: a different slice of points for each level."""
    rng = np.random.default_rng(level)
    return rng.choice(n_points, N_SUBSAMPLE, replace=False)


def test_there_are_over_a_million_points_and_the_hard_cases(points):
    assert len(points["lat"]) >= N_RANDOM + 70_000
    assert points["n_hard"] > 70_000
    assert (np.abs(points["lat"]) == 90.0).sum() >= 22
    assert np.signbit(points["lat"][points["lat"] == 0]).any()


def test_leaf_ids_equal_s2geometry_for_every_point(points):
    ours = latlng_to_cell(points["lat"], points["lng"], 30)
    mismatches = np.flatnonzero(ours != points["leaf"])
    assert mismatches.size == 0, (
        f"{mismatches.size} mismatches, e.g. lat/lng "
        f"{points['lat'][mismatches[0]]!r}, {points['lng'][mismatches[0]]!r}"
    )


@pytest.mark.parametrize("level", range(31))
def test_ids_and_parents_equal_s2geometry_at_every_level(points, level):
    leaf = points["leaf"]
    lsb = np.int64(1) << np.int64(2 * (30 - level))
    expected = (leaf & -lsb) | lsb
    ours = latlng_to_cell(points["lat"], points["lng"], level)
    assert (ours == expected).all()
    assert (cell_parent(leaf, level) == expected).all()
    assert (cell_level(ours) == level).all()
    sample = subsample(len(leaf), level)
    reference = np.array(
        [c.parent(level).id() for c in s2_cells(leaf[sample])], dtype=np.uint64
    ).view(np.int64)
    assert (ours[sample] == reference).all()


@pytest.mark.parametrize("level", range(31))
def test_tokens_equal_s2geometry_and_round_trip(points, level):
    lsb = np.int64(1) << np.int64(2 * (30 - level))
    cells = (points["leaf"] & -lsb) | lsb
    sample = subsample(len(cells), level)
    assert cell_to_token(cells[sample]).tolist() == [c.ToToken() for c in s2_cells(cells[sample])]
    stride = 1 if level in (0, 12, 30) else 16  # all points at three levels, 1/16 elsewhere
    assert (token_to_cell(cell_to_token(cells[::stride])) == cells[::stride]).all()


@pytest.mark.parametrize("level", range(31))
def test_positions_equal_s2geometry_ij(points, level):
    sample = subsample(len(points["leaf"]), level)
    cells = cell_parent(points["leaf"][sample], level)
    ij = np.array([c.ToFaceIJOrientation()[1:3] for c in s2_cells(cells)], dtype=np.int64)
    i_at_level, j_at_level = ij[:, 0] >> (30 - level), ij[:, 1] >> (30 - level)
    for ancestor in range(level + 1):
        row, col = cell_position(cells, ancestor)
        mask = (1 << (level - ancestor)) - 1
        assert (row == (i_at_level & mask)).all()
        assert (col == (j_at_level & mask)).all()


def test_positions_of_mixed_levels():
    cells = np.array([latlng_to_cell(40.7, -74.0, lv) for lv in (8, 10, 12)])
    row, col = cell_position(cells, 8)
    assert row[0] == col[0] == 0
    assert 0 <= row[1] < 4 and 0 <= col[1] < 4 and 0 <= row[2] < 16 and 0 <= col[2] < 16
    assert cell_children(cells[0], 12)[row[2] * 16 + col[2]] == cells[2]


PLACES = {
    "NYC": (40.7128, -74.0060),
    "Reykjavik": (64.1466, -21.9426),
    "Sydney": (-33.8688, 151.2093),
    "Singapore": (1.3521, 103.8198),
}


def grid_parents(level: int) -> np.ndarray:
    """Parents at ``level`` in four cities, at each face centre and near each face corner."""
    cities = latlng_to_cell(*np.array(list(PLACES.values())).T, level)
    face_centres = [(0, 0), (0, 90), (90, 0), (0, 180), (0, -90), (-90, 0)]
    centres = latlng_to_cell(*np.array(face_centres, dtype=float).T, level)
    corner = FACE_CORNER_LAT - 1e-6
    corners = [(s * corner, lng) for s in (1, -1) for lng in (-135 + 1e-6, -45 - 1e-6, 45, 135)]
    near_corners = latlng_to_cell(*np.array(corners).T, level)
    return np.concatenate([cities, centres, near_corners])


LEVEL_PAIRS = [
    (0, 1),
    (0, 3),
    (5, 6),
    (8, 10),
    (8, 12),
    (11, 14),
    (12, 17),
    (14, 20),
    (27, 30),
    (29, 30),
]


@pytest.mark.parametrize(("parent_level", "level"), LEVEL_PAIRS)
def test_children_form_a_grid_of_true_neighbours(parent_level, level):
    d = level - parent_level
    side = 1 << d
    for parent in np.unique(grid_parents(parent_level)):
        children = cell_children(parent, level)
        assert children.shape == (side * side,)
        # Complete and exactly the parent's children, as s2geometry enumerates them.
        s2_parent = s2.S2CellId(int(np.int64(parent).view(np.uint64)))
        expected, child = [], s2_parent.child_begin(level)
        while child != s2_parent.child_end(level):
            expected.append(child.id())
            child = child.next()
        assert sorted(children.view(np.uint64).tolist()) == sorted(expected)
        row, col = cell_position(children, parent_level)
        assert (row * side + col == np.arange(side * side)).all()
        # Horizontally and vertically adjacent pixels share an edge (s2geometry).
        grid = children.reshape(side, side)
        pairs = [(grid[:, :-1], grid[:, 1:]), (grid[:-1, :], grid[1:, :])]
        for a_cells, b_cells in pairs:
            for a, b in zip(a_cells.ravel().tolist(), b_cells.ravel().tolist(), strict=True):
                a_nbrs = s2.S2CellId(a & 0xFFFFFFFFFFFFFFFF).GetEdgeNeighbors()
                assert (b & 0xFFFFFFFFFFFFFFFF) in {n.id() for n in a_nbrs}


def test_children_at_own_level_is_the_cell():
    cell = latlng_to_cell(1.35, 103.82, 12)
    assert (cell_children(cell, 12) == cell).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: latlng_to_cell(40.0, -74.0, 31), "between 0 and 30"),
        (lambda: latlng_to_cell(40.0, -74.0, -1), "between 0 and 30"),
        (lambda: latlng_to_cell(40.0, -74.0, True), "integer S2 level"),
        (lambda: latlng_to_cell(40.0, -74.0, 12.0), "integer S2 level"),
        (lambda: latlng_to_cell(91.0, 0.0, 12), "outside [-90, 90]"),
        (lambda: latlng_to_cell(0.0, 180.5, 12), "outside [-180, 180]"),
        (lambda: latlng_to_cell([0.0, np.nan], [0.0, 0.0], 12), "NaN"),
        (lambda: latlng_to_cell([0.0, 1.0], [0.0, 1.0, 2.0], 12), "different lengths"),
        (lambda: latlng_to_cell(["a"], [0.0], 12), "numbers in degrees"),
        (lambda: latlng_to_cell(np.zeros((2, 2)), 0.0, 12), "1-D"),
        (lambda: cell_level([0]), "not valid S2 cell ids"),
        (lambda: cell_level([np.uint64(7) << np.uint64(61)]), "not valid S2 cell ids"),
        (lambda: cell_level([2]), "not valid S2 cell ids"),  # lowest set bit at odd position
        (lambda: cell_level([1.5]), "floats cannot hold"),
        (lambda: cell_level(["89c25a3"]), "token_to_cell"),
        (lambda: cell_parent(latlng_to_cell(0, 0, 5), 6), "finer than some cells"),
        (lambda: cell_position(latlng_to_cell(0, 0, 5), 6), "finer than some cells"),
        (lambda: cell_children(latlng_to_cell(0, 0, 5), 4), "coarser than the cell"),
        (lambda: cell_children(latlng_to_cell(0, 0, 5), 20), "at most 12 levels"),
        (lambda: cell_children(latlng_to_cell([0, 1], [0, 1], 5), 6), "one cell"),
        (lambda: token_to_cell("X"), "other than hex digits"),  # S2's token of id 0
        (lambda: token_to_cell("0"), "decode to invalid cells"),
        (lambda: token_to_cell("89c25g"), "other than hex digits"),
        (lambda: token_to_cell("89\x0025"), "other than hex digits"),
        (lambda: token_to_cell(""), "1-16 hex digits"),
        (lambda: token_to_cell("1" * 17), "1-16 hex digits"),
        (lambda: token_to_cell([123]), "strings"),
    ],
)
def test_bad_input_raises_a_helpful_value_error(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_error_names_count_and_example():
    with pytest.raises(ValueError, match=r"2 of 3 cell ids .*\(e\.g\. 0 at position 1\)"):
        cell_level([latlng_to_cell(0, 0, 3), 0, 0])


def test_accepts_scalars_lists_uint64_and_python_ints():
    cell = latlng_to_cell([60.1699], [24.9384], 12)
    assert cell.dtype == np.int64 and cell.shape == (1,)
    as_uint = int(cell.view(np.uint64)[0])
    assert cell_level(as_uint) == 12
    assert cell_level(np.uint64(as_uint)) == 12
    assert (cell_level(cell.view(np.uint64)) == 12).all()
    assert (cell_level(list(cell)) == 12).all()
    assert token_to_cell(cell_to_token(cell[0]).upper()) == cell[0]
    lat, lng = np.full(3, 60.1699), [24.9384, 24.9384, 24.9384]
    assert (latlng_to_cell(lat, lng, 12) == cell).all()
    assert (latlng_to_cell(60.1699, lng, 12) == cell).all()
    assert latlng_to_cell([], [], 12).shape == (0,)


def test_same_input_same_output():
    rng = np.random.default_rng(3)
    lat, lng = rng.uniform(-90, 90, 1000), rng.uniform(-180, 180, 1000)
    assert (latlng_to_cell(lat, lng, 17) == latlng_to_cell(lat.copy(), lng.copy(), 17)).all()
