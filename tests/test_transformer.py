"""The scikit-learn transformer: S2Vec embeddings inside a Pipeline, scored by cross-validation.

On shared real data when present (``../shared``: Andorra's OSM extract and Kontur
population hexagons); skipped cleanly without it.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

import s2vec_geo as sv

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed")
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PBF = SHARED / "osm" / "graphhopper-andorra.osm.pbf"
KONTUR = SHARED / "labels" / "kontur" / "kontur_population_andorra.gpkg"
FAST = sv.TrainConfig(epochs=2, batch_size=16, model={"depth": 1, "embed_dim": 32})


@pytest.mark.skipif(not (PBF.is_file() and KONTUR.is_file()), reason="../shared data absent")
def test_pipeline_with_ridge_scores_in_cross_validation() -> None:
    cells = sv.featurize(PBF, level=15)
    assert 1_000 < len(cells) < 10_000
    labels = gpd.read_file(KONTUR).to_crs(3035)  # label hexagons, in any CRS
    y = np.log1p(labels["population"].to_numpy())
    model = sv.train(sv.build_images(cells, 12), FAST)  # trained once, shared by the folds
    pipe = Pipeline([("s2vec", sv.S2VecTransformer(cells, model=model)), ("ridge", Ridge())])
    scores = cross_val_score(pipe, labels, y, cv=3, scoring="r2")
    assert scores.shape == (3,) and np.isfinite(scores).all()
    fitted = clone(pipe).fit(labels, y)
    features = fitted.named_steps["s2vec"].transform(labels)
    assert features.shape == (len(labels), 32) and np.isfinite(features).all()
    assert (np.abs(features).sum(axis=1) > 0).mean() > 0.5  # most hexagons hold mapped cells


def test_the_estimator_protocol_round_trips_its_parameters() -> None:
    t = sv.S2VecTransformer(level=15, image_level=12, fill_value=-1.0)
    copy = clone(t)
    assert copy is not t and copy.get_params() == t.get_params()
    assert copy.set_params(level=14).level == 14
    with pytest.raises(ValueError, match="no parameter"):
        t.set_params(depth=3)
    with pytest.raises(ValueError, match="not fitted"):
        t.transform(None)
