"""Training, cross-validation and evaluation: actor splits, and a tiny real run on RAVDESS."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcore.training.fit import FeatureSet, class_weights
from mlcore.training.ravdess import fold_sets, split_validation


def _feature_set(actors_per_row: list[int], augmented: list[bool]) -> FeatureSet:
    n = len(actors_per_row)
    return FeatureSet(
        np.arange(n, dtype=np.float32)[:, None], np.arange(n) % 8, np.array(actors_per_row), np.array(augmented)
    )


def test_a_fold_trains_only_on_training_actors_and_never_scores_augmented_copies():
    actors = [a for a in range(1, 9) for _ in range(4)]
    augmented = [i % 2 == 1 for i in range(len(actors))]
    feats = _feature_set(actors, augmented)

    train, val, test = fold_sets(feats, test_actors={7, 8}, val_actors=2)

    assert set(train.actors.tolist()) == {1, 2, 3, 4}
    assert train.augmented.any()  # training does use its own actors' augmented copies
    assert set(val.actors.tolist()) == {5, 6} and not val.augmented.any()
    assert set(test.actors.tolist()) == {7, 8} and not test.augmented.any()
    assert not set(train.actors.tolist()) & set(test.actors.tolist())


def test_validation_actors_are_taken_from_the_training_actors():
    train, val = split_validation({1, 2, 3, 4, 5}, n=2)
    assert val == {4, 5} and train == {1, 2, 3}
    assert split_validation({1, 2}, n=0) == ({1, 2}, set())


def test_class_weights_favour_the_smaller_neutral_class():
    y = np.array([0] * 4 + [c for c in range(1, 8) for _ in range(8)])
    w = class_weights(y)
    assert w[0] == pytest.approx(2 * w[1])
    assert np.average(w[y]) == pytest.approx(1.0)


@pytest.mark.dataset
@pytest.mark.slow
def test_tiny_train_then_held_out_evaluate_writes_a_verified_bundle(ravdess_dir, tmp_path, monkeypatch):
    from mlcore.__main__ import main
    from mlcore.serving.bundle import load_bundle

    monkeypatch.setenv("SERWEB_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "bundle"
    common = ["--data", str(ravdess_dir), "--arch", "stats-mlp", "--epochs", "3", "--no-augment"]
    assert main(["train", *common, "--actors", "1-2", "--out", str(out)]) == 0
    assert main(["evaluate", str(out), "--data", str(ravdess_dir), "--actors", "3"]) == 0

    bundle = load_bundle(out)  # manifest still verifies after evaluate rewrote metrics.json
    evaluation = bundle.metrics["evaluation"]
    assert evaluation["held_out"] is True and evaluation["actors"] == [3]
    assert evaluation["n"] == 60
    assert sum(map(sum, evaluation["confusion_matrix"])) == 60
    assert 0.0 <= evaluation["accuracy"] <= 1.0
    assert set(evaluation["per_class_accuracy"]) == set(bundle.labels)
    assert (out / "confusion_matrix.png").stat().st_size > 0
    assert json.loads((out / "confusion_matrix.json").read_text())["labels"] == list(bundle.labels)
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 3
    assert bundle.config["train_actors"] == [1, 2]


@pytest.mark.dataset
@pytest.mark.slow
def test_cross_validation_reports_every_fold_by_actor(ravdess_dir, tmp_path, monkeypatch):
    from mlcore.training.ravdess import cross_validate

    monkeypatch.setenv("SERWEB_CACHE_DIR", str(tmp_path / "cache"))
    result = cross_validate(ravdess_dir, arch_name="stats-mlp", n_folds=2, actors={1, 2, 3, 4}, epochs=2, augment=False)

    assert [f["test_actors"] for f in result["folds"]] == [[1, 2], [3, 4]]
    assert all(f["test_clips"] == 120 for f in result["folds"])
    assert result["pooled"]["n"] == 240
    assert result["mean_accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in result["folds"]]))
