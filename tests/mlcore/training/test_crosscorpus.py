"""A tiny end-to-end run over both corpora: speaker-held-out CV scored per corpus, calibration,
leave-one-corpus-out both ways, then a bundle trained on every speaker that the predictor serves."""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from mlcore.data.corpora import CREMA_D, RAVDESS, SHARED_EMOTIONS, Row, list_crema, list_ravdess
from mlcore.labels import EMOTIONS
from mlcore.models.encoder import WHISPER_BASE
from mlcore.serving.predictor import Predictor
from mlcore.training.crosscorpus import cross_validate, train_bundle

pytestmark = [pytest.mark.slow, pytest.mark.dataset]

PER_EMOTION = 1  # clips per speaker and emotion: 8 per RAVDESS actor, 6 per CREMA-D actor


def _sample(rows: list[Row]) -> list[Row]:
    """The first ``PER_EMOTION`` clips of each speaker and emotion (rows come sorted)."""
    taken: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for row in rows:
        if taken[row.speaker, row.emotion] < PER_EMOTION:
            taken[row.speaker, row.emotion] += 1
            out.append(row)
    return out


@pytest.fixture(scope="module")
def rows(ravdess_dir: Path, crema_dir: Path) -> list[Row]:
    return _sample(list_ravdess(ravdess_dir, actors={1, 2, 3, 4})) + _sample(
        list_crema(crema_dir, actors={1001, 1002, 1003, 1004})
    )


@pytest.fixture(scope="module")
def run(rows, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """cv-corpora then train-corpora, once for the module, with the feature cache in a temporary folder."""
    tmp = tmp_path_factory.mktemp("crosscorpus")
    from threadpoolctl import threadpool_limits

    # One BLAS thread per feature worker (the workers are forked and inherit it): two workers with
    # two threads each on two cores run the encoder about four times slower.
    with pytest.MonkeyPatch.context() as mp, threadpool_limits(1, user_api="blas"):
        mp.setenv("SERWEB_CACHE_DIR", str(tmp / "cache"))
        cv = cross_validate(
            rows, arch_name="whisper-mlp", n_folds=2, seeds=1, epochs=2, loco=True, augment=False, out_dir=tmp / "cv"
        )
        cv["_dir"] = str(tmp / "cv")
        bundle = train_bundle(
            rows,
            arch_name="whisper-mlp",
            out=tmp / "bundle",
            cv=cv,
            epochs=2,
            seeds=2,
            augment=False,
            name="tiny-corpora",
        )
    return {"cv": cv, "bundle": bundle, "tmp": tmp}


def test_the_sample_covers_every_emotion_of_each_corpus(rows):
    assert len(rows) == 4 * 8 + 4 * 6
    assert {r.emotion for r in rows if r.corpus == RAVDESS} == set(EMOTIONS)
    assert {r.emotion for r in rows if r.corpus == CREMA_D} == set(SHARED_EMOTIONS)


def test_cross_validation_scores_each_corpus_on_its_own_emotions(run):
    cv = run["cv"]
    assert cv["corpora"] == {CREMA_D: {"clips": 24, "speakers": 4}, RAVDESS: {"clips": 32, "speakers": 4}}
    assert set(cv["cv"]) == {CREMA_D, RAVDESS}
    assert cv["cv"][RAVDESS]["labels"] == list(EMOTIONS)
    assert cv["cv"][CREMA_D]["labels"] == list(SHARED_EMOTIONS)
    assert cv["cv"][RAVDESS]["n"] == 32 and cv["cv"][CREMA_D]["n"] == 24
    assert np.sum(cv["cv"][CREMA_D]["confusion_matrix"]) == 24
    for scores in cv["cv"].values():
        assert 0.0 <= scores["accuracy"] <= 1.0
        assert 0.0 <= scores["accuracy_all_eight"] <= scores["accuracy"] + 1e-9
    assert cv["features"]["name"] == "whisper-stats"
    assert cv["features"]["params"]["encoder"] == WHISPER_BASE.to_json()


def test_every_fold_holds_out_speakers_of_both_corpora_and_no_speaker_twice(run, rows):
    folds = run["cv"]["folds"]
    assert len(folds) == 2
    held = [set(f["test_speakers"]) for f in folds]
    assert not held[0] & held[1]
    assert held[0] | held[1] == {r.speaker for r in rows}
    for fold, speakers in zip(folds, held, strict=True):
        assert {s.split(":")[0] for s in speakers} == {RAVDESS, CREMA_D}
        assert fold["train_rows"] == sum(r.speaker not in speakers for r in rows)  # no augmented copies
        assert set(fold) >= {RAVDESS, CREMA_D}


def test_calibration_is_fitted_on_held_out_predictions_and_reported(run):
    calibration = run["cv"]["calibration"]
    assert 0.05 <= calibration["temperature"] <= 20.0
    for key in ("ece_before", "ece_after", "ece_away_before", "ece_away_after"):
        assert 0.0 <= calibration[key] <= 1.0
    # Fitted on home and away together, so a voice from another corpus gets honest percentages too.
    assert calibration["recipe"].endswith("on held-out speakers and corpora")
    assert len(calibration["class_bias"]) == 8 and abs(sum(calibration["class_bias"])) < 1e-3
    check = calibration["held_out_check"]
    assert {"temperature_fitted_on_half", "temperature", "temperature_and_bias"} <= set(check)
    assert set(check["temperature"]) == set(check["temperature_and_bias"]) == {"home", "away", "away_accuracy"}
    assert set(calibration["uncertain_rule"]) == {"min_top", "min_margin", "little_speech_s"}
    assert 0.0 <= calibration["uncertain_coverage"]["flagged_fraction"] <= 1.0
    png = run["tmp"] / "cv" / "reliability.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_leave_one_corpus_out_runs_both_ways_on_the_shared_emotions(run):
    loco = run["cv"]["leave_one_corpus_out"]
    assert set(loco) == {"crema-d->ravdess", "ravdess->crema-d"}
    for scores in loco.values():
        assert scores["labels"] == list(SHARED_EMOTIONS)
        assert 0.0 <= scores["accuracy"] <= 1.0
    assert loco["crema-d->ravdess"]["n"] == 4 * 6  # RAVDESS clips of calm and surprised are not scored
    assert loco["ravdess->crema-d"]["n"] == 24


def test_the_trained_bundle_carries_calibration_and_serves_a_clip(run, rows):
    bundle = Path(run["bundle"])
    config = json.loads((bundle / "config.json").read_text())
    calibration = run["cv"]["calibration"]
    assert config["temperature"] == calibration["temperature"]
    assert config["uncertain_rule"] == calibration["uncertain_rule"]
    # Two heads merged into one model: its hidden layer is both heads' 128 units side by side.
    assert config["seeds"] == 2
    with zipfile.ZipFile(bundle / "model.keras") as keras_zip:
        layers = json.loads(keras_zip.read("config.json"))["config"]["layers"]
    assert [layer["config"]["units"] for layer in layers if layer["class_name"] == "Dense"] == [256, 8]
    assert config["train_corpora"] == {
        CREMA_D: [f"crema-d:{a}" for a in (1001, 1002, 1003, 1004)],
        RAVDESS: [f"ravdess:0{a}" for a in (1, 2, 3, 4)],
    }
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert metrics["accuracy"] == run["cv"]["cv"][RAVDESS]["accuracy"]
    assert "_dir" not in metrics
    assert metrics["leave_one_corpus_out"] == run["cv"]["leave_one_corpus_out"]
    assert metrics["per_corpus"] == run["cv"]["cv"]
    assert metrics["cv"]["crema-d accuracy"] == run["cv"]["cv"][CREMA_D]["accuracy"]
    assert metrics["confusion_matrix"] == run["cv"]["cv"][RAVDESS]["confusion_matrix"]
    for name in ("reliability.png", "confusion_ravdess.png", "confusion_crema-d.png"):
        assert (bundle / name).is_file(), name

    predictor = Predictor(bundle)
    assert predictor.temperature == pytest.approx(calibration["temperature"])
    clip = next(r for r in rows if r.corpus == CREMA_D)
    prediction = predictor.predict(clip.path)
    values = np.array(list(prediction.probabilities.values()))
    assert list(prediction.probabilities) == list(EMOTIONS)
    assert values.sum() == pytest.approx(1.0, abs=1e-6)
    assert prediction.speech_s is not None and prediction.speech_s > 0.5
    assert prediction.uncertain == bool(prediction.uncertain_reason)
    assert prediction.model == "tiny-corpora"


def test_evaluate_scores_a_bundle_on_unseen_crema_d_speakers_through_the_serving_path(run, crema_dir, tmp_path, capsys):
    from mlcore.__main__ import main

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for f in Path(run["bundle"]).iterdir():
        (bundle / f.name).write_bytes(f.read_bytes())

    status = main(["evaluate", str(bundle), "--corpus", "crema-d", "--data", str(crema_dir), "--actors", "1005"])

    out = capsys.readouterr().out
    assert status == 0 and "warning" not in out and "accuracy" in out
    evaluation = json.loads((bundle / "metrics.json").read_text())["evaluation"]
    assert evaluation["corpus"] == CREMA_D and evaluation["labels"] == list(SHARED_EMOTIONS)
    assert evaluation["n"] + len(evaluation["failed"]) == len(list_crema(crema_dir, actors={1005}))
    assert evaluation["held_out"] is True


def test_evaluate_warns_when_the_speakers_were_trained_on(run, crema_dir, tmp_path, capsys):
    from mlcore.__main__ import main

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for f in Path(run["bundle"]).iterdir():
        (bundle / f.name).write_bytes(f.read_bytes())

    assert main(["evaluate", str(bundle), "--corpus", "crema-d", "--data", str(crema_dir), "--actors", "1001"]) == 0

    assert "crema-d:1001 were in this bundle's training set" in capsys.readouterr().out
