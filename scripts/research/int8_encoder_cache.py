"""Fill an encoder cache folder with a dynamic-int8 copy of the encoder graph, for measuring int8 on accuracy.

``python scripts/research/int8_encoder_cache.py DIR [N_LAYERS] [--fp32-ffn-out]`` writes, under DIR, the graph that
``mlcore.models.whisper_ort.cached_graph(N_LAYERS)`` looks for, quantised (onnxruntime.quantization,
weights int8, activations quantised per call), with a sidecar that matches it.  ``--fp32-ffn-out``
keeps each feed-forward block's second MatMul in fp32: its input (the GELU output) is the activation
one scale per call serves worst (pooled features' cosine to fp32 over 50 clips: median 0.9990 ->
0.9997, worst 0.9965 -> 0.9976), at a third of the speed-up (1.29x instead of 1.76x).  Then

    SERWEB_ENCODER_CACHE=DIR SERWEB_CACHE_DIR=runs/int8 python -m mlcore cv-corpora --no-augment ...

extracts every feature through the int8 encoder (into a feature cache of its own) and cross-validates,
to compare with the same command on fp32.  Research only: serving never reads a graph it did not build.
"""

import os
import sys
import tempfile
from pathlib import Path

out = Path(sys.argv[1]).resolve()
args = [a for a in sys.argv[2:] if not a.startswith("--")]
n_layers = int(args[0]) if args else 4
fp32_ffn_out = "--fp32-ffn-out" in sys.argv
os.environ["SERWEB_ENCODER_CACHE"] = str(out / "fp32")

import onnx  # noqa: E402
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402

from mlcore.models import whisper_ort  # noqa: E402
from mlcore.models.encoder import WHISPER_BASE  # noqa: E402

fp32 = Path(whisper_ort.cached_graph(n_layers))
with tempfile.TemporaryDirectory() as tmp:
    graph = onnx.load(fp32, load_external_data=False)
    keep = [n.name for n in graph.graph.node if n.op_type == "MatMul" and fp32_ffn_out and "ffn/linear_1" in n.input[1]]
    quantize_dynamic(fp32, Path(tmp) / "int8.onnx", weight_type=QuantType.QInt8, nodes_to_exclude=keep)
    model = onnx.load(Path(tmp) / "int8.onnx")
os.environ["SERWEB_ENCODER_CACHE"] = str(out)
target = whisper_ort.graph_path(n_layers, WHISPER_BASE)
whisper_ort._write(target, model, whisper_ort._expected(n_layers, WHISPER_BASE))
print(target)
