"""Compiled models (lleaves) score as LightGBM does, and are compiled once per model text and compiler."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models_ml.compiled import (
    COMPILED_DIR,
    CompiledModel,
    compile_booster,
    compile_model,
    compile_models,
    compiled_file,
)
from models_ml.explain import as_array
from models_ml.features import FeatureSpec, to_matrix


def _booster(objective: str, rounds: int = 60):
    """A booster on numeric, missing and categorical values (the label a probability for cross_entropy)."""
    import lightgbm as lgb

    rng = np.random.default_rng(11)
    n = 4000
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(0, 10, n), "c": rng.choice(["x", "y", "z"], n)})
    frame.loc[frame.index[:400], "a"] = np.nan
    z = 1.2 * np.nan_to_num(frame["a"], nan=-1) + 0.3 * frame["b"] - np.where(frame["c"] == "z", 2.0, 0.0) - 1.5
    p = 1 / (1 + np.exp(-z))
    y = p if objective == "cross_entropy" else (rng.random(n) < p).astype(int)
    spec = FeatureSpec(("a", "b"), {"c": ("x", "y", "z")})
    x = to_matrix(frame, spec)
    params = {"objective": objective, "verbose": -1, "num_threads": 1, "seed": 3, "deterministic": True,
              "num_leaves": 15, "min_data_in_leaf": 5}
    return lgb.train(params, lgb.Dataset(x, y, categorical_feature=["c"]), rounds), as_array(x)


@pytest.mark.parametrize("objective", ["binary", "cross_entropy"])
def test_compiled_predictions_equal_lightgbms(tmp_path, objective):
    booster, x = _booster(objective)
    model_file = tmp_path / "model.txt"
    booster.save_model(model_file)
    compiled = CompiledModel(model_file, num_threads=2)
    # an unseen level (code 3) and rows missing everything are walked as LightGBM walks them
    odd = np.array([[np.nan, np.nan, np.nan], [0.5, 4.0, 3.0], [-9.0, 99.0, 0.0]], dtype="float32")
    rows = np.vstack([x, odd])
    expected = booster.predict(rows)
    got = compiled.predict(rows)
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    assert np.array_equal(compiled.predict(rows.astype("float64")), got)  # float32 is widened exactly
    assert len(compiled.predict(rows[:0])) == 0
    with pytest.raises(ValueError, match="reads 3 features"):
        compiled.predict(rows[:, :2])


def test_a_model_is_compiled_once_and_again_when_its_text_changes(tmp_path):
    booster, x = _booster("binary", rounds=20)
    version = tmp_path / "202610-abc"
    version.mkdir()
    booster.save_model(version / "model.txt")
    booster.save_model(version / "lgbm_other.txt")  # not a scoring model: not compiled
    (made,) = compile_models(version)
    assert made == compiled_file(version / "model.txt") and made.parent == version / COMPILED_DIR
    first = made.stat().st_mtime_ns
    assert compile_model(version / "model.txt") == made and made.stat().st_mtime_ns == first
    loaded = CompiledModel(version / "model.txt")  # from the compiled file
    assert made.stat().st_mtime_ns == first
    np.testing.assert_allclose(loaded.predict(x), booster.predict(x), rtol=0, atol=1e-10)
    assert sorted(p.name for p in (version / COMPILED_DIR).iterdir()) == [made.name]  # nothing left aside

    more, _ = _booster("binary", rounds=25)
    more.save_model(version / "model.txt")
    assert compiled_file(version / "model.txt") != made
    np.testing.assert_allclose(CompiledModel(version / "model.txt").predict(x), more.predict(x), rtol=0, atol=1e-10)


def test_registration_copies_the_code_a_trainer_compiled(tmp_path, monkeypatch):
    from models_ml import compiled

    booster, x = _booster("cross_entropy", rounds=30)
    trained = compile_booster(booster, "model_news.txt", num_threads=2)
    np.testing.assert_allclose(trained.predict(x), booster.predict(x), rtol=0, atol=1e-10)
    version = tmp_path / "202610-abc"
    version.mkdir()
    (version / "model_news.txt").write_bytes(booster.model_to_string().encode("utf-8"))
    with monkeypatch.context() as patched:  # registration must not compile again
        patched.setattr(compiled, "_object_code", lambda *a, **k: pytest.fail("compiled twice"))
        (made,) = compile_models(version)
    assert made.name == trained.cache_file.name  # the same text, compiler and target: the same code
    assert made.read_bytes() == trained.cache_file.read_bytes()
    assert np.array_equal(CompiledModel(version / "model_news.txt").predict(x), trained.predict(x))
