"""The shipped heads on ONNX Runtime give what their NumPy forward pass (the oracle) gives."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from mlcore.models import DEFAULT_BUNDLE, FAST_BUNDLE
from mlcore.models.head_onnx import OrtHead, build_head_graph
from mlcore.models.runtime import NumpyModel, load_numpy_model


@pytest.mark.parametrize("bundle", [DEFAULT_BUNDLE, FAST_BUNDLE], ids=["default", "fast"])
def test_a_shipped_head_on_onnx_runtime_equals_its_numpy_forward_pass(bundle, rng) -> None:
    model = load_numpy_model(bundle / "model.keras")
    x = rng.standard_normal((9, *(model.input_shape or (model.input_dim,)))).astype(np.float32)

    got = OrtHead(model).predict(x.reshape(len(x), -1))

    assert got.shape == (9, 8) and got.dtype == np.float32
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, model.predict(x), atol=1e-5)


def test_a_step_with_no_onnx_form_is_refused_by_name() -> None:
    def cube(x: np.ndarray) -> np.ndarray:
        return x**3

    model = NumpyModel(input_dim=3, output_dim=3, steps=(partial(cube),), layer_types=("Activation",))

    with pytest.raises(ValueError, match="cube"):
        build_head_graph(model)
