"""Predictor and ``python -m mlcore predict``: the output contract a user and the web app rely on."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_factory import voiced, write

from mlcore.__main__ import main as cli
from mlcore.errors import BundleError, MlcoreError, SilentAudioError, UnreadableAudioError
from mlcore.labels import EMOTIONS
from mlcore.models import DEFAULT_BUNDLE
from mlcore.serving import predictor as predictor_module
from mlcore.serving.bundle import load_bundle, write_manifest
from mlcore.serving.predictor import Prediction, Predictor
from mlcore.serving.smoke import build_test_bundle

SR = 22050
ROOT = Path(__file__).resolve().parents[3]


def build_tiny_bundle(out: Path, *, seed: int = 0, window_s: float = 4.0, hop_s: float = 2.0) -> Path:
    """A real stats-MLP bundle on ``logmel-stats`` with random weights and a scaler fitted on synthetic speech."""
    return build_test_bundle(
        out, seed=seed, architecture="stats-mlp", fit_scaler=True, config={"window_s": window_s, "hop_s": hop_s}
    )


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


@pytest.fixture(scope="module")
def predictor(bundle_dir: Path) -> Predictor:
    return Predictor(bundle_dir)


def _speech(rng: np.random.Generator, seconds: float) -> np.ndarray:
    # Alternate speakers/pitches every 1.5 s so windows differ from each other.
    parts, left, k = [], seconds, 0
    while left > 1e-9:
        chunk = min(1.5, left)
        parts.append(voiced(rng, seconds=chunk, f0=(120, 210, 160, 280)[k % 4]))
        left -= chunk
        k += 1
    return np.concatenate(parts)


def _assert_distribution(probabilities: dict[str, float]) -> None:
    assert list(probabilities) == list(EMOTIONS)
    values = np.array(list(probabilities.values()))
    assert np.all(values >= 0)
    assert abs(values.sum() - 1.0) < 1e-5


def test_three_second_clip_gets_one_window_and_a_valid_distribution(predictor: Predictor, rng) -> None:
    result = predictor.predict(voiced(rng, seconds=3.0))

    _assert_distribution(result.probabilities)
    assert result.emotion == max(result.probabilities, key=result.probabilities.get)
    assert result.confidence == max(result.probabilities.values())
    assert result.duration_s == pytest.approx(3.0)
    assert len(result.timeline) == 1
    assert (result.timeline[0].start_s, result.timeline[0].end_s) == (0.0, pytest.approx(3.0))
    assert result.timeline[0].probabilities == pytest.approx(result.probabilities)
    assert result.model == "tiny-test"


def test_twelve_second_clip_is_judged_in_overlapping_windows_ending_at_the_clip_end(predictor: Predictor, rng) -> None:
    result = predictor.predict(_speech(rng, 12.5))

    starts = [w.start_s for w in result.timeline]
    ends = [w.end_s for w in result.timeline]
    # 4 s windows every 2 s: 0, 2, 4, 6, 8, plus one aligned to the end at 8.5.
    assert starts == pytest.approx([0, 2, 4, 6, 8, 8.5], abs=1e-4)
    assert all(e - s == pytest.approx(4.0, abs=1e-4) for s, e in zip(starts, ends, strict=True))
    assert ends[-1] == pytest.approx(result.duration_s) and max(ends) <= result.duration_s + 1e-9
    for window in result.timeline:
        _assert_distribution(window.probabilities)
    _assert_distribution(result.probabilities)
    # The windows do not all agree, so the timeline carries information the clip result averages over.
    window_emotions = np.array([list(w.probabilities.values()) for w in result.timeline])
    assert np.ptp(window_emotions, axis=0).max() > 1e-5


def test_window_and_hop_come_from_the_bundle_config(tmp_path: Path, bundle_dir: Path, rng) -> None:
    import shutil

    other = shutil.copytree(bundle_dir, tmp_path / "short-windows")
    config = json.loads((other / "config.json").read_text())
    config.update(window_s=3.0, hop_s=1.5)
    (other / "config.json").write_text(json.dumps(config))
    write_manifest(other)

    result = Predictor(other).predict(_speech(rng, 9.0))

    assert [w.start_s for w in result.timeline] == pytest.approx([0, 1.5, 3.0, 4.5, 6.0], abs=1e-4)
    assert [w.end_s for w in result.timeline] == pytest.approx([3.0, 4.5, 6.0, 7.5, 9.0], abs=1e-4)


def test_silent_stretch_counts_less_than_speech_in_the_clip_result(predictor: Predictor, rng) -> None:
    speech = _speech(rng, 8.0)
    hush = (1e-4 * rng.standard_normal(8 * SR)).astype(np.float32)  # -80 dB: a pause, not speech

    result = predictor.predict(np.concatenate([speech, hush]))

    probs = np.array([list(w.probabilities.values()) for w in result.timeline])
    speech_windows = np.array([w.end_s <= 8.0 + 1e-6 for w in result.timeline])
    clip = np.array(list(result.probabilities.values()))
    assert np.abs(clip - probs[speech_windows].mean(axis=0)).sum() < np.abs(clip - probs.mean(axis=0)).sum()


def test_predict_many_returns_the_error_for_the_bad_file_alone(predictor: Predictor, tmp_path: Path, rng) -> None:
    good = write(tmp_path / "good.wav", voiced(rng, seconds=2.5))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt definitely not audio")
    long_clip = _speech(rng, 7.0)

    results = predictor.predict_many([good, broken, np.zeros(SR, dtype=np.float32), long_clip])

    assert isinstance(results[0], Prediction) and isinstance(results[3], Prediction)
    assert isinstance(results[1], UnreadableAudioError)
    assert isinstance(results[2], SilentAudioError)
    # Batching across files gives the same answer as judging each file alone.
    for batched, source in ((results[0], good), (results[3], long_clip)):
        alone = predictor.predict(source)
        assert np.allclose(list(batched.probabilities.values()), list(alone.probabilities.values()), atol=1e-6)
        assert len(batched.timeline) == len(alone.timeline)


def test_onnx_numpy_and_keras_paths_give_the_same_probabilities(predictor: Predictor, bundle_dir: Path, rng) -> None:
    keras_predictor = Predictor(bundle_dir, backend="keras")
    numpy_predictor = Predictor(bundle_dir, backend="numpy")
    clips = [voiced(rng, seconds=3.0, f0=150), _speech(rng, 10.0)]

    via_onnx = predictor.predict_many(clips)
    via_keras = keras_predictor.predict_many(clips)
    via_numpy = numpy_predictor.predict_many(clips)

    assert (predictor.backend, numpy_predictor.backend, keras_predictor.backend) == ("onnxruntime", "numpy", "keras")
    for a, b, c in zip(via_onnx, via_keras, via_numpy, strict=True):
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-5)
        np.testing.assert_allclose(list(a.probabilities.values()), list(c.probabilities.values()), atol=1e-5)
        assert a.emotion == b.emotion


def test_bundle_label_order_is_mapped_onto_the_emotion_order(tmp_path: Path, bundle_dir: Path, rng) -> None:
    import shutil

    reordered = shutil.copytree(bundle_dir, tmp_path / "reversed")
    (reordered / "labels.json").write_text(json.dumps(list(reversed(EMOTIONS))))
    write_manifest(reordered)
    y = voiced(rng, seconds=2.0)

    original = Predictor(bundle_dir).predict(y).probabilities
    relabelled = Predictor(reordered).predict(y).probabilities

    assert list(relabelled) == list(EMOTIONS)
    for i, emotion in enumerate(EMOTIONS):
        assert relabelled[EMOTIONS[len(EMOTIONS) - 1 - i]] == pytest.approx(original[emotion], abs=1e-7)


def test_prediction_to_dict_is_json_ready(predictor: Predictor, rng) -> None:
    d = predictor.predict(_speech(rng, 6.0)).to_dict()

    again = json.loads(json.dumps(d))
    assert set(again) == {
        "probabilities",
        "emotion",
        "confidence",
        "duration_s",
        "timeline",
        "model",
        "uncertain",
        "uncertain_reason",
        "speech_s",
    }
    # A bundle without a calibrated rule or a speech detector (this one) never claims doubt.
    assert again["uncertain"] is False and again["uncertain_reason"] == "" and again["speech_s"] > 0
    assert again["timeline"][0].keys() == {"start_s", "end_s", "probabilities", "speech"}


def test_predictor_exposes_labels_name_and_fingerprint(predictor: Predictor, bundle_dir: Path) -> None:
    assert predictor.labels == EMOTIONS
    assert predictor.name == "tiny-test"
    assert predictor.fingerprint == load_bundle(bundle_dir).fingerprint


def test_missing_default_bundle_is_a_bundle_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(predictor_module, "DEFAULT_BUNDLE", tmp_path / "nowhere")

    with pytest.raises(BundleError, match="default model bundle is not installed"):
        Predictor.default()


def test_serving_imports_neither_tensorflow_nor_librosa_at_import(bundle_dir: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "import mlcore.serving.predictor as inf\n"
        "at_import = sorted(m for m in ('librosa', 'tensorflow', 'keras') if m in sys.modules)\n"
        f"p = inf.Predictor({str(bundle_dir)!r})\n"
        "from mlcore.serving.smoke import voiced_clip\n"
        "p.analyse_many([voiced_clip(seconds=3.0)], require_voice=False)\n"
        "print(at_import, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)

    assert out.stdout.split() == ["[]", "False", "False"]


# --- command line ----------------------------------------------------------------------------------


@pytest.fixture
def audio_files(tmp_path: Path, rng) -> tuple[Path, Path]:
    good = write(tmp_path / "good.flac", voiced(rng, seconds=2.0))
    bad = tmp_path / "notes.txt.wav"
    bad.write_text("this is a text file")
    return good, bad


def test_cli_csv_has_the_exact_header_and_an_error_row_for_the_bad_file(bundle_dir: Path, audio_files, capsys) -> None:
    good, bad = audio_files

    status = cli(["predict", str(bundle_dir), str(good), str(bad)])

    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert status == 0
    assert rows[0] == ["file", "emotion", *EMOTIONS, "error", "uncertain"]
    assert rows[1][0] == str(good) and rows[1][1] in EMOTIONS and rows[1][10] == ""
    assert rows[1][11] in ("true", "false") and rows[2][11] == ""
    assert abs(sum(float(v) for v in rows[1][2:10]) - 1) < 5e-4
    assert all(len(v.split(".")[1]) == 4 for v in rows[1][2:10])
    assert rows[2][0] == str(bad) and rows[2][1:10] == [""] * 9
    assert "could not be decoded" in rows[2][10]


def test_cli_exits_1_when_every_file_fails(bundle_dir: Path, audio_files, capsys) -> None:
    _, bad = audio_files

    assert cli(["predict", str(bundle_dir), str(bad)]) == 1
    assert "could not be decoded" in capsys.readouterr().out


def test_cli_json_output_is_written_to_the_given_path(bundle_dir: Path, audio_files, tmp_path: Path) -> None:
    good, bad = audio_files
    out = tmp_path / "out.json"

    status = cli(["predict", str(bundle_dir), str(good), str(bad), "--format", "json", "--output", str(out)])

    items = json.loads(out.read_text())
    assert status == 0
    assert [i["file"] for i in items] == [str(good), str(bad)]
    assert items[0]["error"] is None and items[0]["emotion"] in EMOTIONS
    assert list(items[0]["probabilities"]) == list(EMOTIONS)
    assert items[0]["duration_s"] == pytest.approx(2.0) and len(items[0]["timeline"]) == 1
    # The flag and its reason agree: uncertain exactly when there is a reason.
    assert items[0]["uncertain"] is bool(items[0]["uncertain_reason"])
    assert items[1]["emotion"] is None and "could not be decoded" in items[1]["error"]


def test_cli_with_a_missing_bundle_reports_it_and_exits_2(tmp_path: Path, audio_files, capsys) -> None:
    good, _ = audio_files

    assert cli(["predict", str(tmp_path / "no-such-bundle"), str(good)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_default_bundle_predicts(audio_files, capsys) -> None:
    if not DEFAULT_BUNDLE.is_dir():
        pytest.skip(f"no default bundle at {DEFAULT_BUNDLE}; train it with `python -m mlcore train`")
    good, _ = audio_files

    status = cli(["predict", "--default", str(good)])

    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert status == 0 and rows[1][1] in EMOTIONS


@pytest.mark.dataset
def test_shipped_bundle_gives_valid_distributions_on_real_clips(ravdess_dir: Path) -> None:
    if not DEFAULT_BUNDLE.is_dir():
        pytest.skip(f"no default bundle at {DEFAULT_BUNDLE}; train it with `python -m mlcore train`")
    clips = sorted(ravdess_dir.glob("Actor_0[12]/*"))[::12][:6]
    assert clips, f"no clips under {ravdess_dir}"

    results = Predictor.default().predict_many(clips)

    for path, result in zip(clips, results, strict=True):
        assert not isinstance(result, MlcoreError), f"{path.name}: {result}"
        _assert_distribution(result.probabilities)
        assert result.emotion == max(result.probabilities, key=result.probabilities.get)
        assert 1.0 < result.duration_s < 10.0


def test_a_float_file_with_a_1e20_sample_gets_finite_probabilities(predictor: Predictor, rng, tmp_path) -> None:
    y = _speech(rng, 3.0)
    y[500] = 1e20
    path = tmp_path / "spike.wav"
    sf.write(path, y, predictor.sr, subtype="FLOAT")

    prediction = predictor.predict(path)

    values = np.array(list(prediction.probabilities.values()))
    assert np.all(np.isfinite(values)) and abs(values.sum() - 1) < 1e-6


def test_a_process_that_loads_a_model_keeps_numpys_blas_to_one_thread(tiny_bundle: Path) -> None:
    """An idle BLAS thread spins beside ONNX Runtime and takes a second core for nothing (bench cores).
    A fresh process, so the limit is not inherited from another test."""
    code = (
        "import sys; from threadpoolctl import threadpool_info; from mlcore.serving.predictor import Predictor\n"
        "before = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "Predictor(sys.argv[1])\n"
        "after = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "print(before, after)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env["OPENBLAS_NUM_THREADS"] = "2"  # as on a machine of two cores or more
    out = subprocess.run([sys.executable, "-c", code, str(tiny_bundle)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[2] [1]"
