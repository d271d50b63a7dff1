"""Training: the feature cache, fitting, cross-validation by speaker, calibration fitting, scoring, evaluation."""
