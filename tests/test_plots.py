"""Figures users compose: PCA-RGB maps on their own axes, the loss history, a web map."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.figure import Figure

import s2vec_geo as sv
from s2vec_geo.viz.plots import explore_embeddings, plot_embeddings, plot_history


@pytest.fixture(scope="module")
def emb():
    """A 16 x 16 block of cells with a smooth 3-d embedding, plus three stray cells far away."""
    ids = sv.cell_children(sv.latlng_to_cell(40.705, -74.01, 13), 17)
    strays = sv.latlng_to_cell([40.45, 40.85, 40.86], [-74.2, -73.8, -73.9], 17)
    frame = sv.cells_frame(np.concatenate([ids, strays]))
    _, i, j = sv.cell_face_ij(frame.index.to_numpy())
    frame[["emb_000", "emb_001", "emb_002"]] = np.column_stack([i, j, i * j]).astype(float)
    return frame


def test_maps_draw_on_the_axes_given_and_ignore_stray_cells(emb) -> None:
    fig = Figure()
    left, right = fig.subplots(1, 2)
    ax = plot_embeddings(emb, ax=right)
    assert ax is right and len(left.collections) == 0 and len(right.collections) == 1
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert x1 - x0 < 0.05 and y1 - y0 < 0.05  # the block, not the 0.4 deg spread of strays
    assert "3 stray cells outside the view" in ax.get_title()
    core = emb.iloc[:-3]
    assert plot_embeddings(core).get_title().endswith("(256 cells)")


def test_tick_labels_do_not_overlap_and_stay_plain(emb) -> None:
    ax = plot_embeddings(emb)
    renderer = ax.figure.canvas.get_renderer()
    ax.figure.canvas.draw()
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        boxes = [t.get_window_extent(renderer) for t in labels if t.get_text()]
        assert len(boxes) >= 2
        assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    assert ax.xaxis.get_offset_text().get_text() == ""  # no "+4.07e1" offset to decode


def labels_apart(ax) -> bool:
    """Whether the tick labels drawn on each axis (inside the view) keep clear of each other."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    for axis, at in ((ax.xaxis, 0), (ax.yaxis, 1)):
        lo, hi = sorted(axis.get_view_interval())
        drawn = [
            t for t in axis.get_ticklabels() if t.get_text() and lo <= t.get_position()[at] <= hi
        ]
        boxes = [t.get_window_extent(renderer) for t in drawn]
        if any(a.overlaps(b) for a, b in itertools.pairwise(boxes)):
            return False
    return True


def test_real_extract_with_scattered_strays_is_mapped_at_its_core(shared_data) -> None:
    """Lower Manhattan: a fifth of its level-16 cells are nodes scattered over 40.41-40.86."""
    cells = sv.read_features(
        shared_data / "osm" / "autark-lower-manhattan.osm.pbf"
    ).s2vec.featurize(level=16)
    counts = cells[sv.feature_columns(cells)[:8]].to_numpy(float)
    emb = cells[["geometry"]].assign(**{f"emb_{i:03d}": np.log1p(counts[:, i]) for i in range(8)})
    # depends on the cells' places only, so log counts stand in for embeddings
    ax = plot_embeddings(emb)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert -74.05 < x0 < x1 < -73.99 and 40.67 < y0 < y1 < 40.74  # the Financial District
    assert "stray cells outside the view" in ax.get_title()
    title = ax.title.get_window_extent(ax.figure.canvas.get_renderer())
    assert labels_apart(ax) and title.x0 >= 0 and title.x1 <= ax.figure.bbox.x1


def test_tick_labels_stay_apart_on_tall_narrow_areas() -> None:
    for width in (0.01, 0.03, 0.06):  # 0.5-3 km wide, 22 km tall
        strip = sv.cells_frame(sv.cover(shapely.box(24.94, 60.10, 24.94 + width, 60.30), 14))
        strip["emb_000"] = np.arange(len(strip), dtype=float)
        assert labels_apart(plot_embeddings(strip)), width


def test_history_plot_shows_both_baselines() -> None:
    history = [
        {"epoch": e, "train_loss": 1.0 / e, "val_loss": 0.8 / e, "val_mean_baseline": 0.9,
         "val_neighbor_baseline": 1.1}
        for e in range(1, 6)
    ]  # fmt: skip
    ax = plot_history(history)
    assert [line.get_label() for line in ax.get_lines()] == [
        "train (masked MSE)",
        "held out",
        "held out, per-feature mean",
        "held out, mean of visible neighbours",
    ]


def test_web_map_colours_every_cell(emb) -> None:
    pytest.importorskip("folium")
    pytest.importorskip("mapclassify")
    from s2vec_geo.viz.plots import pca_rgb

    html = explore_embeddings(emb).get_root().render().lower()
    colours = pca_rgb(emb.filter(like="emb_").to_numpy())
    hexes = {"#{:02x}{:02x}{:02x}".format(*np.round(c * 255).astype(int)) for c in colours}
    assert all(h in html for h in hexes) and "token" in html


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="no emb_000"):
        plot_embeddings(sv.cells_frame(sv.latlng_to_cell(0.0, 0.0, 10)))
    with pytest.raises(ValueError, match="history is empty"):
        plot_history([])
    nan = sv.cells_frame(sv.latlng_to_cell(0.0, 0.0, 10)).assign(emb_000=np.nan)
    with pytest.raises(ValueError, match="no cell has a finite embedding"):
        plot_embeddings(pd.DataFrame(nan).pipe(type(nan)))


@pytest.fixture(scope="module")
def smooth_city():
    """40 000 real level-16 cells of one Helsinki area with a smooth colour field."""
    ids = sv.cell_children(sv.latlng_to_cell(60.19, 24.94, 8), 16)[:40_000]
    frame = sv.cells_frame(ids)
    lat, lng = sv.cell_to_latlng(ids)
    frame[["emb_000", "emb_001", "emb_002"]] = np.column_stack(
        [lat, lng, np.sin(3 * (lat - lat.mean()) / np.ptp(lat))]
    )
    return frame


def _inner_pixels(ax) -> np.ndarray:
    """The rendered RGB pixels of the middle third of the cells' extent (inside the field)."""
    fig = ax.figure
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(float)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    box = [(x0 + (x1 - x0) / 3, y0 + (y1 - y0) / 3), (x1 - (x1 - x0) / 3, y1 - (y1 - y0) / 3)]
    (px0, py0), (px1, py1) = ax.transData.transform(box)
    height = image.shape[0]  # display y counts from the bottom, image rows from the top
    return image[int(height - py1) : int(height - py0), int(px0) : int(px1)]


def test_large_layers_draw_a_smooth_field_without_moire_stripes(smooth_city) -> None:
    """Tens of thousands of tiny cells: no background seams between cells (the stripes).

    Antialiased polygon edges let the white background show through along
    every cell edge; at a few pixels per cell the seams beat with the pixel
    grid into diagonal stripes. A smooth field must render smoothly: no white
    pixels inside it and neighbouring pixels close in colour.
    """
    pixels = _inner_pixels(plot_embeddings(smooth_city))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    light = (pixels.min(axis=2) > 245).mean()  # background showing through
    assert light < 0.001, f"{light:.1%} of the pixels inside the field are background"
    steps = np.abs(np.diff(pixels, axis=0)).max(axis=2), np.abs(np.diff(pixels, axis=1)).max(axis=2)
    jumps = max(float((step > 24).mean()) for step in steps)
    assert jumps < 0.01, f"{jumps:.1%} of neighbouring pixels differ by more than 24 levels"
