"""Converters: float MLP → ONNX; Brevitas QAT MLP → QONNX → hls4ml (XGBoost → conifer follows)."""
