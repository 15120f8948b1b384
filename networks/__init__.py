"""Networks: graph, built-in models, ONNX import, post-training quantization, golden run."""
