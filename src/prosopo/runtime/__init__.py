"""ONNX Runtime sessions and graph rewrites shared by every model backend."""
