"""Whisper-base's audio encoder in NumPy: its log-mel front end and its transformer forward pass.

CTranslate2 returns only the encoder's last layer; the middle layers carry more of how something is
said (and less of what is said), so serweb runs the forward pass itself from the verified weights
(``mlcore.models.encoder``), stopping after the deepest layer it needs.  The output equals CTranslate2's
(tested to float32 rounding) and needs neither PyTorch nor TensorFlow.

Shapes: audio is mono float32 at 16 kHz; the log-mel is (frames, 80) at 100 frames/s; the encoder's
hidden states are (frames // 2, 512) at 50 frames/s (one every 320 samples, 20 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from mlcore.dsp import mel_basis, power_spectrogram

SR = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
# One encoder frame per two mel frames.
ENCODER_HOP = 2 * HOP
# Width of every hidden state (Whisper-base's d_model).
WIDTH = 512
# Whisper's context is 30 s (1500 positions), but longer audio is encoded in 10 s chunks: attention
# costs the square of the length (at 30 s it was half the encoder's time), and 10 s is closer to the
# few-second utterances the head was trained on.  Clips up to 10 s are encoded whole.
CHUNK_SAMPLES = 10 * SR
_LN_EPS = 1e-5


def log_mel(y: np.ndarray) -> np.ndarray:
    """Whisper's normalised log-mel of ``y`` (16 kHz).  Shape (len(y) // 160, 80), float32.

    As ``whisper.audio.log_mel_spectrogram``: Hann-windowed 400-point STFT every 160 samples (centred,
    last frame dropped), power, Slaney mel filters, log10 floored at 1e-10 and at 8 below the maximum,
    then ``(x + 4) / 4``.
    """
    _, power = power_spectrogram(y, n_fft=N_FFT, hop=HOP)
    mel = power[:-1] @ mel_basis(SR, N_FFT, N_MELS, 0.0, SR / 2)
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + erf(x * np.float32(1 / np.sqrt(2))))).astype(np.float32)


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LN_EPS) * gamma + beta


def _conv_k3(x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: int) -> np.ndarray:
    """Conv1d, kernel 3, padding 1, as one matmul.  x (T, C_in), w (3 * C_in, C_out) -> (T', C_out)."""
    xp = np.pad(x, ((1, 1), (0, 0)))
    n_out = (xp.shape[0] - 3) // stride + 1
    cols = np.concatenate([xp[k : k + stride * (n_out - 1) + 1 : stride] for k in range(3)], axis=1)
    return cols @ w + b


@dataclass(frozen=True)
class _Layer:
    attn_ln: tuple[np.ndarray, np.ndarray]
    qkv: tuple[np.ndarray, np.ndarray]  # (512, 1536), (1536,)
    out: tuple[np.ndarray, np.ndarray]
    ffn_ln: tuple[np.ndarray, np.ndarray]
    ffn_in: tuple[np.ndarray, np.ndarray]
    ffn_out: tuple[np.ndarray, np.ndarray]


def _linear(weights: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    # CTranslate2 stores (out, in); a contiguous (in, out) copy makes x @ w one fast GEMM.
    return np.ascontiguousarray(weights[f"{name}/weight"].T), weights[f"{name}/bias"]


def _norm(weights: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    return weights[f"{name}/gamma"], weights[f"{name}/beta"]


class WhisperEncoder:
    """The first ``n_layers`` transformer layers of Whisper's encoder, from ``encoder/`` tensors."""

    def __init__(self, weights: dict[str, np.ndarray], *, n_layers: int | None = None) -> None:
        total = sum(1 for k in weights if k.endswith("/self_attention/linear_0/weight"))
        self.n_layers = total if n_layers is None else n_layers
        if not 0 <= self.n_layers <= total:
            raise ValueError(f"the encoder has {total} layers; cannot run {n_layers}")
        self.n_heads = int(weights["num_heads"])
        self._conv = [
            (
                np.ascontiguousarray(
                    weights[f"{c}/weight"].transpose(2, 1, 0).reshape(-1, weights[f"{c}/weight"].shape[0])
                ),
                weights[f"{c}/bias"],
            )
            for c in ("conv1", "conv2")
        ]
        self._positions = weights["position_encodings/encodings"]
        self._final_ln = _norm(weights, "layer_norm")
        self._layers = [
            _Layer(
                attn_ln=_norm(weights, f"layer_{i}/self_attention/layer_norm"),
                qkv=_linear(weights, f"layer_{i}/self_attention/linear_0"),
                out=_linear(weights, f"layer_{i}/self_attention/linear_1"),
                ffn_ln=_norm(weights, f"layer_{i}/ffn/layer_norm"),
                ffn_in=_linear(weights, f"layer_{i}/ffn/linear_0"),
                ffn_out=_linear(weights, f"layer_{i}/ffn/linear_1"),
            )
            for i in range(self.n_layers)
        ]
        self.total_layers = total

    @property
    def max_frames(self) -> int:
        return int(self._positions.shape[0])

    def hidden_states(self, mel: np.ndarray) -> list[np.ndarray]:
        """Residual stream after the convolutions (index 0) and after each of ``n_layers`` layers.

        ``mel``: (frames, 80), at most 3000 frames.  Each state is (ceil(frames / 2), 512).  When every
        layer runs, the last state has the final layer norm applied, as CTranslate2's output does.
        """
        x = _gelu(_conv_k3(mel, *self._conv[0], stride=1))
        x = _gelu(_conv_k3(x, *self._conv[1], stride=2))
        if x.shape[0] > self.max_frames:
            raise ValueError(f"at most {2 * self.max_frames} mel frames (30 s) per call, got {mel.shape[0]}")
        x = x + self._positions[: x.shape[0]]
        states = [x]
        for layer in self._layers:
            x = x + self._attention(_layer_norm(x, *layer.attn_ln), layer)
            h = _layer_norm(x, *layer.ffn_ln)
            x = x + _gelu(h @ layer.ffn_in[0] + layer.ffn_in[1]) @ layer.ffn_out[0] + layer.ffn_out[1]
            states.append(x)
        if self.n_layers == self.total_layers:
            states[-1] = _layer_norm(x, *self._final_ln)
        return [s.astype(np.float32, copy=False) for s in states]

    def _attention(self, h: np.ndarray, layer: _Layer) -> np.ndarray:
        t, d = h.shape
        head = d // self.n_heads
        qkv = (h @ layer.qkv[0] + layer.qkv[1]).reshape(t, 3, self.n_heads, head).transpose(1, 2, 0, 3)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (heads, t, head)
        scores = (q @ k.transpose(0, 2, 1)) * np.float32(head**-0.5)
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(t, d)
        return context @ layer.out[0] + layer.out[1]

    def encode(self, y: np.ndarray) -> list[np.ndarray]:
        """Hidden states of a 16 kHz signal of any length, encoded in chunks of ``CHUNK_SAMPLES`` (10 s).

        Each state is (len(y) // 320 rounded up to whole mel frames, 512): frame ``k`` covers samples
        ``[320 k, 320 (k + 1))``.
        """
        chunks = [y[i : i + CHUNK_SAMPLES] for i in range(0, max(len(y), 1), CHUNK_SAMPLES)]
        per_chunk = [self.hidden_states(log_mel(c)) for c in chunks if len(c) >= 2 * HOP]
        if not per_chunk:
            return [np.zeros((0, self._positions.shape[1]), np.float32) for _ in range(self.n_layers + 1)]
        return [np.concatenate(layer) for layer in zip(*per_chunk, strict=True)]

    def encode_many(self, signals: list[np.ndarray]) -> list[list[np.ndarray]]:
        """``encode`` of each signal, one by one (the interface of the ONNX Runtime encoder, which batches)."""
        return [self.encode(y) for y in signals]
