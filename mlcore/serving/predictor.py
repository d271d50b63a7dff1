"""Judge recordings with a verified bundle: ``Predictor.analyse`` is the one serving entry point.

``Predictor`` loads a bundle once and runs it many times: each recording is decoded and validated
once, cut into the bundle's analysis windows, featurised, run through the model (one batched call
for many recordings), calibrated, pooled over speech, and handed back as an ``Analysis``
(``mlcore.serving.analysis``).  A bundle whose model is a plain Dense stack runs on NumPy
(``mlcore.models.runtime``), so serving it never imports TensorFlow; any other model is loaded with
Keras' safe-mode loader.  The ``predict`` command lives in ``mlcore.serving.cli``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mlcore.data.audio import DEFAULT_MAX_DURATION_S, load_audio, validate_audio
from mlcore.data.stream import SampleFile, decode_to_file
from mlcore.errors import BundleError, FeatureError, MlcoreError, NoSpeechError
from mlcore.features.speech import MIN_SPEECH_S, THRESHOLD, counted_speech, on_grid, speech_probabilities, window_shares
from mlcore.labels import EMOTIONS, ranked
from mlcore.models import DEFAULT_BUNDLE, quiet_blas, vad
from mlcore.serving.analysis import Analysis, ModelIdentity, Window, envelope_pairs
from mlcore.serving.bundle import Bundle, load_bundle
from mlcore.serving.calibration import UncertaintyRule, apply_temperature
from mlcore.serving.head import Backend, load_model
from mlcore.serving.parts import Survey, WindowsPart, joined
from mlcore.serving.recording import Recording, long_file
from mlcore.serving.segments import headline, segments, smooth_path
from mlcore.serving.windows import pool_probabilities, window_bounds, window_features
from mlcore.windowing import WindowSettings

# Rows per model call: large enough to amortise per-call overhead, small enough to bound memory.
MODEL_BATCH = 1024


AudioSource = str | Path | bytes | BinaryIO | np.ndarray | Recording


@dataclass(frozen=True)
class Prediction:
    """The judgement on one recording, without the drawing and model identity of ``Analysis``
    (what ``predict`` returns; ``analyse`` is the entry point that carries everything)."""

    probabilities: dict[str, float]
    emotion: str
    confidence: float
    duration_s: float
    timeline: tuple[Window, ...]
    model: str
    uncertain: bool = False
    uncertain_reason: str = ""
    speech_s: float | None = None

    @classmethod
    def from_analysis(cls, a: Analysis) -> Prediction:
        return cls(
            probabilities=a.probabilities,
            emotion=a.emotion,
            confidence=a.confidence,
            duration_s=a.duration_s,
            timeline=a.timeline,
            model=a.model.name,
            uncertain=a.uncertain,
            uncertain_reason=a.uncertain_reason,
            speech_s=a.speech_s,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the timeline as a list of dicts)."""
        d = asdict(self)
        d["timeline"] = [asdict(w) for w in self.timeline]
        return d


@dataclass(frozen=True)
class _Clip:
    """Features of one clip awaiting the model, with its survey (windows, votes, speech, envelope)."""

    survey: Survey
    features: np.ndarray  # (n_windows, *feature_shape)


class Predictor:
    """A loaded bundle, ready to judge recordings.  Load once per process; ``analyse`` (and ``predict``)
    is thread-safe on the NumPy path (it keeps no per-call state)."""

    def __init__(self, bundle: str | Path | Bundle, *, backend: Backend = "auto") -> None:
        quiet_blas()  # a process that serves keeps BLAS to one thread (see quiet_blas)
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.extractor = self.bundle.extractor()
        needs = self.extractor.needs
        self.sr = needs.sr
        try:
            self.windows = WindowSettings.from_config(self.bundle.config)
        except BundleError as e:
            raise BundleError(f"Bundle {self.name}: {e}") from None
        if sorted(self.bundle.labels) != sorted(EMOTIONS):
            raise BundleError(f"Bundle {self.name} labels {list(self.bundle.labels)} are not the eight emotions.")
        # Model output column for each emotion, in EMOTIONS order.
        self._columns = np.array([self.bundle.labels.index(e) for e in EMOTIONS])
        self._feature_shape = tuple(self.extractor.output_shape)
        if len(self.bundle.scaler.mean) != self._feature_shape[-1]:
            raise BundleError(
                f"Bundle {self.name}: scaler has {len(self.bundle.scaler.mean)} channels, "
                f"features have {self._feature_shape[-1]}."
            )
        self._run, self.backend = load_model(self.bundle, backend=backend, feature_shape=self._feature_shape)
        # Every bundle is gated by the voice detector; one built on a pretrained encoder also pools over
        # the detected speech.  Both are checked and loaded now, so a missing or corrupt file is reported
        # when the model is loaded, with the instruction to install it.
        vad.load()
        if needs.weights:
            self.extractor.load()
        self.pools_speech = needs.pools_speech
        self.mask_hop = needs.hop
        self.temperature = float(self.bundle.config.get("temperature") or 1.0)
        bias = self.bundle.config.get("class_bias")
        self.class_bias = np.asarray(bias, dtype=np.float64) if bias else None
        if self.class_bias is not None and self.class_bias.shape != (len(EMOTIONS),):
            raise BundleError(f"Bundle {self.name}: class_bias must hold one number per emotion.")
        rule = self.bundle.config.get("uncertain_rule")
        self.uncertainty = UncertaintyRule.from_json(rule) if rule else None

    @classmethod
    def default(cls, *, backend: Backend = "auto") -> Predictor:
        """The bundle shipped with serweb (``mlcore/models/default``)."""
        if not DEFAULT_BUNDLE.is_dir():
            raise BundleError(
                f"The default model bundle is not installed at {DEFAULT_BUNDLE}; "
                "train one with `python -m mlcore train-corpora` or pass a bundle path."
            )
        return cls(DEFAULT_BUNDLE, backend=backend)

    @property
    def labels(self) -> tuple[str, ...]:
        return EMOTIONS

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def fingerprint(self) -> str:
        return self.bundle.fingerprint

    @property
    def identity(self) -> ModelIdentity:
        return ModelIdentity(self.bundle.name, self.bundle.fingerprint)

    def analyse(self, source: AudioSource, *, max_duration_s: float | None = None) -> Analysis:
        """Judge one recording (a file path, bytes, a file object, or mono float32 at ``self.sr``): the
        serving entry point.  The audio is decoded and validated once.

        Raises the ``MlcoreError`` that explains why the recording cannot be judged.
        """
        result = self.analyse_many([source], max_duration_s=max_duration_s)[0]
        if isinstance(result, MlcoreError):
            raise result
        return result

    def analyse_many(
        self, sources: Sequence[AudioSource], *, max_duration_s: float | None = None, require_voice: bool = True
    ) -> list[Analysis | MlcoreError]:
        """Judge several recordings with one batched model call; a bad recording fails alone, its
        place in the result holding the error.  ``require_voice=False`` judges even what the voice
        detector refuses: only for checking that a bundle runs (``smoke_test``), never for users."""
        return self._judge(sources, max_duration_s=max_duration_s, with_envelope=True, require_voice=require_voice)

    def _judge(
        self,
        sources: Sequence[AudioSource],
        *,
        max_duration_s: float | None,
        with_envelope: bool,
        require_voice: bool = True,
    ) -> list[Analysis | MlcoreError]:
        limit = _limit(max_duration_s)
        prepared: list[_Clip | MlcoreError] = []
        for source in sources:
            try:
                prepared.append(
                    self._prepare(
                        source, max_duration_s=limit, with_envelope=with_envelope, require_voice=require_voice
                    )
                )
            except MlcoreError as e:
                prepared.append(e)
        clips = [c for c in prepared if isinstance(c, _Clip)]
        probabilities = self._predict_rows(np.concatenate([c.features for c in clips])) if clips else None
        results: list[Analysis | MlcoreError] = []
        row = 0
        for item in prepared:
            if isinstance(item, MlcoreError):
                results.append(item)
                continue
            n = item.survey.n_windows
            rows = probabilities[row : row + n]
            row += n
            if not np.all(np.isfinite(rows)):
                # Never hand on NaN (PostgreSQL refuses it in JSON, and it is no judgement).
                results.append(FeatureError("The model could not compute probabilities for this recording."))
                continue
            results.append(self._assemble(item.survey, rows))
        return results

    def predict(self, source: AudioSource, *, max_duration_s: float = DEFAULT_MAX_DURATION_S) -> Prediction:
        """``analyse`` without the envelope and model identity; raises as ``analyse`` does."""
        result = self.predict_many([source], max_duration_s=max_duration_s)[0]
        if isinstance(result, MlcoreError):
            raise result
        return result

    def predict_many(
        self, sources: Sequence[AudioSource], *, max_duration_s: float = DEFAULT_MAX_DURATION_S
    ) -> list[Prediction | MlcoreError]:
        """``analyse_many`` as ``Prediction``s (errors in place)."""
        # No envelope: nobody draws a prediction, and it would cost a fast model a third more per clip.
        return [
            r if isinstance(r, MlcoreError) else Prediction.from_analysis(r)
            for r in self._judge(sources, max_duration_s=max_duration_s, with_envelope=False)
        ]

    def survey(self, source: AudioSource, *, max_duration_s: float | None = None) -> Survey:
        """The whole-recording pass of a split analysis (``mlcore.serving.parts``): decoding, validation,
        the voice detector, the "no speech" refusal and the envelope.  Raises as ``analyse`` does."""
        y = self._load(source, max_duration_s=_limit(max_duration_s))
        return self._survey(y, with_envelope=True, require_voice=True)

    def analyse_windows(
        self,
        source: AudioSource,
        survey: Survey,
        first: int,
        stop: int,
        *,
        max_duration_s: float | None = None,
    ) -> WindowsPart:
        """The model's probabilities for windows ``first .. stop - 1`` of a surveyed recording: one part
        of a split analysis.  Raises ``MlcoreError`` for audio it cannot judge."""
        y = self._load(source, max_duration_s=_limit(max_duration_s))
        if y.size != survey.n_samples or not 0 <= first < stop <= survey.n_windows:
            raise FeatureError("The recording does not match its survey; analyse it again from the start.")
        return WindowsPart(first, self._predict_rows(self._features(y, survey, first, stop)))

    def assemble(self, survey: Survey, parts: Sequence[WindowsPart]) -> Analysis:
        """The ``Analysis`` of a recording judged in parts: equal to ``analyse`` of the whole (the same
        windows, probabilities to float precision, headline, segments and flag)."""
        rows = joined(survey, list(parts))
        if not np.all(np.isfinite(rows)):
            raise FeatureError("The model could not compute probabilities for this recording.")
        return self._assemble(survey, rows)

    def decode(
        self, source: AudioSource, *, max_duration_s: float | None = None, into: Path | None = None
    ) -> Recording:
        """The recording as this model hears it, checked against ``max_duration_s``: what ``survey``,
        ``analyse_windows`` and ``analyse`` then take as it is.  ``into``: decoded block by block into
        that file (``mlcore.data.stream``) and read from it by range, never held whole (a path source)."""
        if into is not None and isinstance(source, (str, Path)):
            return Recording(decode_to_file(source, into, sr=self.sr, max_duration_s=_limit(max_duration_s)), self.sr)
        return Recording(self._load(source, max_duration_s=_limit(max_duration_s)), self.sr)

    @staticmethod
    def _in_memory(y: np.ndarray | SampleFile) -> np.ndarray:
        return y if isinstance(y, np.ndarray) else y[:]

    def _load(self, source: AudioSource, *, max_duration_s: float) -> np.ndarray:
        if isinstance(source, Recording):
            if source.sr != self.sr:
                raise ValueError(f"a recording decoded at {source.sr} Hz given to a {self.sr} Hz model")
            return source.samples
        if isinstance(source, np.ndarray):
            return validate_audio(source, sr=self.sr, max_duration_s=max_duration_s)
        return load_audio(source, sr=self.sr, max_duration_s=max_duration_s)

    def _prepare(
        self, source: AudioSource, *, max_duration_s: float, with_envelope: bool, require_voice: bool = True
    ) -> _Clip:
        if self.pools_speech and long_file(source):
            # Never held whole: decoded into a temporary file, read a minute or a window at a time.
            with tempfile.TemporaryDirectory(prefix="serweb-decoded-") as folder:
                recording = self.decode(source, max_duration_s=max_duration_s, into=Path(folder) / "samples.f32")
                return self._clip(recording.samples, with_envelope=with_envelope, require_voice=require_voice)
        y = self._in_memory(self._load(source, max_duration_s=max_duration_s))
        return self._clip(y, with_envelope=with_envelope, require_voice=require_voice)

    def _clip(self, y: np.ndarray | SampleFile, *, with_envelope: bool, require_voice: bool) -> _Clip:
        survey = self._survey(y, with_envelope=with_envelope, require_voice=require_voice)
        return _Clip(survey=survey, features=self._features(y, survey, 0, survey.n_windows))

    def _survey(self, y: np.ndarray, *, with_envelope: bool, require_voice: bool) -> Survey:
        w = self.windows
        # Back-to-back windows past WindowSettings.long_after_s (10 min): half the encoder's work.
        bounds = window_bounds(n_samples=y.size, sr=self.sr, window_s=w.window_s, hop_s=w.hop_for(y.size / self.sr))
        hop = self.mask_hop
        # One detector, one mask: what is pooled, how much each window votes, and whether there is a voice.
        # A recording over a minute: its one-minute segments on every core.  The survey of a long recording
        # runs before its parts exist, so nothing else of it can run meanwhile (SERWEB_ENCODER_THREADS
        # is for the encoder, whose work is spread over processes instead).
        probs = speech_probabilities(y, sr=self.sr, threads=os.cpu_count() or 1)
        mask = on_grid(probs, n_samples=y.size, sr=self.sr, hop=hop) > THRESHOLD
        speech = counted_speech(mask, bounds, hop=hop)
        speech_s = float(speech.sum() * hop / self.sr)
        if speech_s < MIN_SPEECH_S and require_voice:
            raise NoSpeechError(
                f"No speech detected ({speech_s:.1f} s of voice found; at least {MIN_SPEECH_S:.1f} s is needed). "
                "Music, tones and noise are not judged: upload a recording of someone speaking, or record "
                "closer to the microphone."
            )
        weights = window_shares(speech, bounds, hop=hop)  # windows vote by their share of speech
        if not weights.any():
            weights = np.ones(len(bounds))  # only without the voice gate (the smoke test)
        envelope = envelope_pairs(y) if with_envelope else ()
        return Survey(y.size, self.sr, hop, tuple(bounds), speech, weights, speech_s, envelope)

    def _features(self, y: np.ndarray, survey: Survey, first: int, stop: int) -> np.ndarray:
        """Features of windows ``first .. stop - 1``, as a one-piece analysis computes them."""
        bounds = list(survey.bounds[first:stop])
        try:
            if self.pools_speech:  # reads each window's samples only: a recording in a file stays there
                return self.extractor.window_features(y, bounds, speech=survey.speech)
            return window_features(self.extractor, self._in_memory(y), bounds, framed=survey.n_windows > 1)
        except MlcoreError:
            raise
        except (ValueError, FloatingPointError, IndexError) as e:
            # A numerical corner case in one recording must not sink a whole batch.
            raise FeatureError(f"Features could not be computed for this recording ({e}).") from e

    def _predict_rows(self, features: np.ndarray) -> np.ndarray:
        """Standardise and run the model.  (rows, *feature_shape) -> (rows, 8) in EMOTIONS order."""
        x = self.bundle.scaler.transform(features)
        out = np.concatenate([self._run(x[i : i + MODEL_BATCH]) for i in range(0, len(x), MODEL_BATCH)])
        out = np.clip(out[:, self._columns].astype(np.float64), 0.0, None)
        out = out / out.sum(axis=1, keepdims=True)
        # Temperature (and per-class bias) fitted on held-out speakers and corpora (none when uncalibrated).
        if self.temperature == 1.0 and self.class_bias is None:
            return out
        return apply_temperature(out, self.temperature, self.class_bias)

    def _assemble(self, clip: Survey, probabilities: np.ndarray) -> Analysis:
        pooled = pool_probabilities(probabilities, clip.weights)
        bounds_s = [(start / self.sr, end / self.sr) for start, end in clip.bounds]
        window_speech = np.array([share * (b - a) for share, (a, b) in zip(clip.weights, bounds_s, strict=True)])
        path = smooth_path(probabilities, clip.weights)
        spans = segments(path, probabilities, bounds_s, window_speech)
        # The headline is the timeline's summary: the emotion held longest, judged on its own windows
        # (a recording of one mood: all of them, as before), never an average of different moods.
        emotion, share = headline(spans)
        own = np.isin(path, [EMOTIONS.index(emotion)])
        basis = _as_dict(pool_probabilities(probabilities[own], clip.weights[own]) if len(spans) > 1 else pooled)
        (first, p1), (second, p2) = ranked(basis)[:2]
        if first != emotion:  # smoothing kept an emotion that is not the top of its windows' average
            second, p2 = first, p1
        p1 = basis[emotion]
        reason = self.uncertainty.reason(basis, speech_s=clip.speech_s) if self.uncertainty else ""
        timeline = tuple(
            Window(a, b, _as_dict(p), speech=float(vote))
            for (a, b), p, vote in zip(bounds_s, probabilities, clip.weights, strict=True)
        )
        return Analysis(
            probabilities=_as_dict(pooled),
            emotion=emotion,
            confidence=p1,
            second_emotion=second,
            second_confidence=p2,
            uncertain=bool(reason),
            uncertain_reason=reason,
            speech_s=clip.speech_s,
            duration_s=clip.duration_s,
            timeline=timeline,
            envelope=clip.envelope,
            model=self.identity,
            segments=tuple(spans),
            share=float(share),
        )


def _limit(max_duration_s: float | None) -> float:
    return DEFAULT_MAX_DURATION_S if max_duration_s is None else max_duration_s


def _as_dict(p: np.ndarray) -> dict[str, float]:
    return {e: float(v) for e, v in zip(EMOTIONS, p, strict=True)}
