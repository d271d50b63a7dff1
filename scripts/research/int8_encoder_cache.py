"""Fill an encoder cache folder with a dynamic-int8 copy of the encoder graph, for measuring int8 on accuracy.

``python scripts/research/int8_encoder_cache.py DIR [N_LAYERS]`` writes, under DIR, the graph that
``mlcore.models.whisper_ort.cached_graph(N_LAYERS)`` looks for, quantised (onnxruntime.quantization,
weights int8, activations quantised per call), with a sidecar that matches it.  Then

    SERWEB_ENCODER_CACHE=DIR SERWEB_CACHE_DIR=runs/int8 python -m mlcore cv-corpora --no-augment ...

extracts every feature through the int8 encoder (into a feature cache of its own) and cross-validates,
to compare with the same command on fp32.  Research only: serving never reads a graph it did not build.
"""

import os
import sys
import tempfile
from pathlib import Path

out = Path(sys.argv[1]).resolve()
n_layers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
os.environ["SERWEB_ENCODER_CACHE"] = str(out / "fp32")

import onnx  # noqa: E402
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402

from mlcore.models import whisper_ort  # noqa: E402
from mlcore.models.encoder import WHISPER_BASE  # noqa: E402

fp32 = Path(whisper_ort.cached_graph(n_layers))
with tempfile.TemporaryDirectory() as tmp:
    quantize_dynamic(fp32, Path(tmp) / "int8.onnx", weight_type=QuantType.QInt8)
    model = onnx.load(Path(tmp) / "int8.onnx")
os.environ["SERWEB_ENCODER_CACHE"] = str(out)
target = whisper_ort.graph_path(n_layers, WHISPER_BASE)
whisper_ort._write(target, model, whisper_ort._expected(n_layers, WHISPER_BASE))
print(target)
