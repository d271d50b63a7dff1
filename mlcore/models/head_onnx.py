"""A bundle's head (``mlcore.models.runtime.NumpyModel``) as an ONNX graph, served by ONNX Runtime.

The NumPy runtime reads a Keras archive into a chain of steps; this module writes the same chain as
standard ONNX operators (MatMul/Add for Dense, Mul/Add for a folded BatchNormalization, Conv and
MaxPool for the sequence layers, ReduceMean, Flatten, the activations) with the same weights, so the
NumPy forward pass stays what it is for the encoder too: the test oracle, not a second serving path.
Built in memory when a bundle loads (a head is a few MB; building takes milliseconds).

Sequence layers keep the Keras layout (batch, frames, channels); each Conv/MaxPool is wrapped in two
Transposes to ONNX's (batch, channels, frames), which ONNX Runtime's optimiser folds where they meet.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from mlcore.models import runtime as rt
from mlcore.models.runtime import NumpyModel

OPSET = 20  # Gelu is a standard operator from opset 20


def build_head_graph(model: NumpyModel) -> Any:
    """``model`` as an ``onnx.ModelProto`` with input ``x`` (batch, *input_shape) and output ``y``
    (batch, output_dim).  Every step the NumPy runtime builds has its form here (``ValueError`` if not)."""
    from onnx import TensorProto, checker, helper, numpy_helper

    nodes: list[Any] = []
    initializers: list[Any] = []

    def const(array: np.ndarray) -> str:
        name = f"c{len(initializers)}"
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name=name))
        return name

    def op(kind: str, *inputs: str, **attrs: Any) -> str:
        out = f"t{len(nodes)}"
        nodes.append(helper.make_node(kind, list(inputs), [out], name=f"n{len(nodes)}", **attrs))
        return out

    def channels_first(x: str, kind: str, *inputs: str, **attrs: Any) -> str:
        inner = op(kind, op("Transpose", x, perm=[0, 2, 1]), *inputs, **attrs)
        return op("Transpose", inner, perm=[0, 2, 1])

    def step_node(x: str, step: Any) -> str:
        fn = step.func if isinstance(step, partial) else step
        kw = step.keywords if isinstance(step, partial) else {}
        if fn is rt._affine:
            return op("Add", op("MatMul", x, const(kw["kernel"])), const(kw["bias"]))
        if fn is rt._affine_diag:
            return op("Add", op("Mul", x, const(kw["mul"])), const(kw["add"]))
        if fn is rt._conv1d:
            size, kernel = kw["size"], kw["kernel"]
            # im2col rows (tap, input channel) -> ONNX's (out, in, tap)
            weight = kernel.reshape(size, -1, kernel.shape[1]).transpose(2, 1, 0)
            pads = [kw["left"], kw["right"]]
            return channels_first(x, "Conv", const(weight), const(kw["bias"]), kernel_shape=[size], pads=pads)
        if fn is rt._max_pool:
            # ONNX's MaxPool never picks a padded position: the -inf padding of the NumPy step.
            pads = [kw["left"], kw["right"]]
            return channels_first(x, "MaxPool", kernel_shape=[kw["pool"]], strides=[kw["stride"]], pads=pads)
        if fn is rt._mean_over_frames:
            return op("ReduceMean", x, const(np.array([1], np.int64)), keepdims=0)
        if fn is rt._flatten:
            return op("Flatten", x, axis=1)
        if fn is rt._linear:
            return x
        if fn is rt._swish:
            return op("Mul", x, op("Sigmoid", x))
        simple = {rt._relu: "Relu", rt._sigmoid: "Sigmoid", np.tanh: "Tanh", rt._gelu: "Gelu"}
        if fn in simple:
            return op(simple[fn], x)
        if fn is rt._softmax:
            return op("Softmax", x, axis=-1)
        raise ValueError(f"no ONNX form for the NumPy step {getattr(fn, '__name__', fn)!r}")

    x = "x"
    for step in model.steps:
        x = step_node(x, step)
    nodes.append(helper.make_node("Identity", [x], ["y"], name="output"))
    shape = model.input_shape or (model.input_dim,)
    graph = helper.make_graph(
        nodes,
        "serweb_head",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", model.output_dim])],
        initializers,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="serweb mlcore")
    onnx_model.ir_version = 9  # what onnxruntime 1.32 reads for opset 20
    checker.check_model(onnx_model)
    return onnx_model


class OrtHead:
    """A head on ONNX Runtime, one intra-op thread (one worker process per core); ``predict`` as
    ``NumpyModel.predict``: (batch, input_dim) or (batch, *input_shape) -> (batch, output_dim), float32."""

    def __init__(self, model: NumpyModel) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._shape = model.input_shape or (model.input_dim,)
        graph = build_head_graph(model).SerializeToString()
        self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32).reshape((len(x), *self._shape))
        return self._session.run(["y"], {"x": x})[0]
