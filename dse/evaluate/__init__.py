"""Evaluating one design: accuracy sources, hardware cost, objectives, the quantization cache."""
