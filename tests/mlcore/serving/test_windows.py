"""The timeline's windows: every sample covered, and no two windows that nearly coincide."""

from __future__ import annotations

import pytest

from mlcore.serving.windows import window_bounds

SR = 16000


def _seconds(seconds: float) -> list[tuple[float, float]]:
    bounds = window_bounds(n_samples=int(round(seconds * SR)), sr=SR, window_s=4.0, hop_s=2.0)
    return [(a / SR, b / SR) for a, b in bounds]


def test_a_clip_just_over_one_window_is_one_window_not_two_that_nearly_coincide():
    assert _seconds(4.004) == [(0.0, 4.004)]
    assert _seconds(4.4) == [(0.0, 4.4)]


def test_a_longer_tail_gets_a_window_aligned_to_the_end():
    assert _seconds(4.6) == [(0.0, 4.0), (0.6, 4.6)]
    assert _seconds(10.0) == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 10.0)]


@pytest.mark.parametrize("seconds", [0.5, 3.9, 4.0, 4.3, 5.1, 6.3, 7.99, 61.7, 3600.0])
def test_windows_cover_every_sample_and_start_at_least_half_a_second_apart(seconds):
    bounds = _seconds(seconds)
    assert bounds[0][0] == 0.0 and bounds[-1][1] == pytest.approx(seconds, abs=1 / SR)
    assert all(b2[0] <= b1[1] for b1, b2 in zip(bounds, bounds[1:], strict=False))  # no gap
    assert all(b2[0] - b1[0] >= 0.5 for b1, b2 in zip(bounds, bounds[1:], strict=False))
    assert all(b - a <= 4.5 for a, b in bounds)
