"""Benchmarks that print figures (``python -m bench``); never collected as tests."""
