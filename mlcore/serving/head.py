"""A bundle's model as a function of feature rows: on ONNX Runtime (``mlcore.models.head_onnx``) for a
chain the NumPy runtime (``mlcore.models.runtime``) can read, so serving never imports TensorFlow;
Keras' safe-mode loader for anything else.  ``backend="numpy"`` runs the NumPy forward pass itself: the
reference the ONNX graph is tested against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from mlcore.errors import BundleError
from mlcore.serving.bundle import Bundle

Backend = Literal["auto", "onnxruntime", "numpy", "keras"]


def load_model(
    bundle: Bundle, *, backend: Backend, feature_shape: tuple[int, ...]
) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """A function (rows, *feature_shape) -> (rows, n_labels), and the backend that runs it: ONNX Runtime
    for a chain the NumPy runtime reads ("auto"), its NumPy forward pass when asked for, else Keras."""
    n_features = int(np.prod(feature_shape))
    if backend != "keras":
        from mlcore.models.runtime import load_numpy_model

        model = load_numpy_model(bundle.model_path)
        if model is not None:
            _check_dims(bundle, model.input_dim, model.output_dim, n_features)
            if backend == "numpy":
                return (lambda x: model.predict(x.reshape(len(x), -1))), "numpy"
            from mlcore.models.head_onnx import OrtHead

            return OrtHead(model).predict, "onnxruntime"
        if backend != "auto":
            raise BundleError(f"The model in bundle {bundle.name} has layers the NumPy runtime cannot read.")
    return _load_keras(bundle, n_features=n_features), "keras"


def _load_keras(bundle: Bundle, *, n_features: int) -> Callable[[np.ndarray], np.ndarray]:
    import keras  # TensorFlow loads here, only for models the NumPy runtime cannot run.

    try:
        model = keras.saving.load_model(bundle.model_path, compile=False, safe_mode=True)
    except Exception as e:
        raise BundleError(f"The model in bundle {bundle.name} could not be loaded by Keras ({e}).") from e
    input_shape = tuple(model.input_shape[1:])
    _check_dims(bundle, int(np.prod(input_shape)), int(model.output_shape[-1]), n_features)

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(model(x.reshape((len(x), *input_shape)), training=False), dtype=np.float32)

    return run


def _check_dims(bundle: Bundle, model_in: int, model_out: int, n_features: int) -> None:
    if model_in != n_features:
        raise BundleError(
            f"The model in bundle {bundle.name} takes {model_in} inputs but its features give {n_features}."
        )
    if model_out != len(bundle.labels):
        raise BundleError(f"The model in bundle {bundle.name} has {model_out} outputs for {len(bundle.labels)} labels.")
