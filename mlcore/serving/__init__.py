"""Serving: bundles, analysis windows, calibration, and ``Predictor.analyse`` (the one entry point)."""
