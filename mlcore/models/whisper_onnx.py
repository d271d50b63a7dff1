"""Whisper-base's encoder as an ONNX graph, written in code from the verified weights (no PyTorch).

The graph is the forward pass of ``mlcore.models.whisper`` (the NumPy reference, kept as the test
oracle) in standard ONNX operators: two Conv + Gelu, the sinusoidal positions, then per layer
LayerNormalization, multi-head attention (MatMul, Softmax) and the GELU feed-forward block.  It stops
after the deepest layer a bundle needs and outputs the residual stream after the convolutions and
after each layer, as ``WhisperEncoder.hidden_states`` does, for a batch of equally long mels.

Input ``mel``: (batch, 80, frames), float32, frames even or odd, at most 3000.  Outputs ``state_0`` ...
``state_N``: (batch, ceil(frames / 2), 512) each; when every layer runs, ``state_6`` has the final layer
norm applied.  Only fp32: features must stay equal to the NumPy reference's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Gelu entered the standard operator set in opset 20 (LayerNormalization in 17).
OPSET = 20
# Raised whenever the graph changes, so a cached graph from an older builder is rebuilt.
GRAPH_VERSION = 1
_LN_EPS = 1e-5


def state_names(n_layers: int) -> list[str]:
    """The graph's outputs: the residual stream after the convolutions, then after each layer."""
    return [f"state_{i}" for i in range(n_layers + 1)]


class _Graph:
    """Nodes and initializers accumulated in order; each helper returns its output's name."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def const(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(self._numpy_helper.from_array(np.ascontiguousarray(array), name=name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        self._count += 1
        out = out or f"{op_type.lower()}_{self._count}"
        self.nodes.append(self._helper.make_node(op_type, list(inputs), [out], name=f"n{self._count}", **attrs))
        return out

    def linear(self, x: str, weights: dict[str, np.ndarray], name: str, *, scale: float = 1.0) -> str:
        """x @ W.T + b; CTranslate2 stores W as (out, in)."""
        w = self.const(f"{name}/w", (weights[f"{name}/weight"].T * np.float32(scale)).astype(np.float32))
        b = self.const(f"{name}/b", (weights[f"{name}/bias"] * np.float32(scale)).astype(np.float32))
        return self.op("Add", self.op("MatMul", x, w), b)

    def layer_norm(self, x: str, weights: dict[str, np.ndarray], name: str, *, out: str | None = None) -> str:
        gamma = self.const(f"{name}/gamma", weights[f"{name}/gamma"])
        beta = self.const(f"{name}/beta", weights[f"{name}/beta"])
        return self.op("LayerNormalization", x, gamma, beta, out=out, axis=-1, epsilon=_LN_EPS)


def _attention(g: _Graph, h: str, weights: dict[str, np.ndarray], prefix: str, n_heads: int) -> str:
    """Multi-head self-attention of h (B, T, 512) -> (B, T, 512), without a mask (equal lengths)."""
    qkv_w, qkv_b = weights[f"{prefix}/linear_0/weight"], weights[f"{prefix}/linear_0/bias"]
    d = qkv_w.shape[1]
    head = d // n_heads
    # 1 / sqrt(64) = 0.125 is a power of two: folding it into the query weights rounds nothing.
    scale = np.float32(head**-0.5)
    split = g.const(f"{prefix}/heads", np.array([0, 0, n_heads, head], np.int64))
    parts = []
    for k, (which, perm) in enumerate((("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3]))):
        w = qkv_w[k * d : (k + 1) * d].T * (scale if which == "q" else np.float32(1))
        b = qkv_b[k * d : (k + 1) * d] * (scale if which == "q" else np.float32(1))
        x = g.op("Add", g.op("MatMul", h, g.const(f"{prefix}/{which}/w", w)), g.const(f"{prefix}/{which}/b", b))
        parts.append(g.op("Transpose", g.op("Reshape", x, split), perm=perm))
    q, k_t, v = parts  # (B, H, T, 64), (B, H, 64, T), (B, H, T, 64)
    probs = g.op("Softmax", g.op("MatMul", q, k_t), axis=-1)
    context = g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3])
    merged = g.op("Reshape", context, g.const(f"{prefix}/merge", np.array([0, 0, d], np.int64)))
    return g.linear(merged, weights, f"{prefix}/linear_1")


def build_encoder_graph(weights: dict[str, np.ndarray], *, n_layers: int) -> Any:
    """The first ``n_layers`` layers of the encoder as an ``onnx.ModelProto`` (checked by onnx.checker).

    ``weights`` are ``mlcore.models.encoder.cached_encoder_weights()``'s ``encoder/`` tensors.
    """
    import onnx
    from onnx import TensorProto, helper

    total = sum(1 for k in weights if k.endswith("/self_attention/linear_0/weight"))
    if not 0 <= n_layers <= total:
        raise ValueError(f"the encoder has {total} layers; cannot run {n_layers}")
    n_heads = int(weights["num_heads"])
    d = int(weights["conv2/bias"].shape[0])
    g = _Graph()

    def conv(x: str, name: str, stride: int) -> str:
        w, b = g.const(f"{name}/w", weights[f"{name}/weight"]), g.const(f"{name}/b", weights[f"{name}/bias"])
        return g.op("Gelu", g.op("Conv", x, w, b, kernel_shape=[3], pads=[1, 1], strides=[stride]))

    x = g.op("Transpose", conv(conv("mel", "conv1", 1), "conv2", 2), perm=[0, 2, 1])  # (B, T', 512)
    # The first T' rows of the position table.
    frames = g.op(
        "Slice", g.op("Shape", x), g.const("one", np.array([1], np.int64)), g.const("two", np.array([2], np.int64))
    )
    positions = g.op(
        "Slice",
        g.const("positions", weights["position_encodings/encodings"]),
        g.const("zero", np.array([0], np.int64)),
        frames,
    )
    names = state_names(n_layers)
    last_is_final = n_layers == total
    x = g.op("Add", x, positions, out=names[0])
    for i in range(n_layers):
        prefix = f"layer_{i}"
        h = g.layer_norm(x, weights, f"{prefix}/self_attention/layer_norm")
        x = g.op("Add", x, _attention(g, h, weights, f"{prefix}/self_attention", n_heads))
        h = g.layer_norm(x, weights, f"{prefix}/ffn/layer_norm")
        h = g.linear(g.op("Gelu", g.linear(h, weights, f"{prefix}/ffn/linear_0")), weights, f"{prefix}/ffn/linear_1")
        out = None if last_is_final and i == n_layers - 1 else names[i + 1]
        x = g.op("Add", x, h, out=out)
    if last_is_final and n_layers > 0:
        g.layer_norm(x, weights, "layer_norm", out=names[-1])

    graph = helper.make_graph(
        g.nodes,
        f"whisper_base_encoder_{n_layers}_layers",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["batch", 80, "frames"])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", "states", d]) for n in names],
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="serweb mlcore",
        producer_version=str(GRAPH_VERSION),
    )
    model.ir_version = 9  # what onnxruntime 1.32 reads for opset 20
    onnx.checker.check_model(model)
    return model
