"""Figures users compose: PCA-RGB maps on their own axes, the loss history, a web map."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import s2vec_geo as sv
from s2vec_geo.plots import explore_embeddings, plot_embeddings, plot_history


@pytest.fixture(scope="module")
def emb():
    """A 16 x 16 block of cells with a smooth 3-d embedding, plus three stray cells far away."""
    ids = sv.cell_children(sv.latlng_to_cell(40.705, -74.01, 13)[0], 17)
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
    from s2vec_geo.plots import pca_rgb

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
