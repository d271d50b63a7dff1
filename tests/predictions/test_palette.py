"""The eight emotion colours stay apart for people with colour blindness.

How: each colour is passed through Machado, Oliveira & Fernandes (2009)'s dichromacy matrices (severity
1.0, in linear sRGB) for protanopia, deuteranopia and tritanopia, converted to CIELAB (D65), and every pair
must stay at least MIN_DELTA_E apart (CIE76) in normal vision and in each simulation.  The chart colours
(static/js/charts.js) and the page dots (.emotion--* in static/css/serweb.css) must be the same colours.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from mlcore.labels import EMOTIONS

ROOT = Path(__file__).resolve().parents[2]
MIN_DELTA_E = 25.0
SIMULATIONS = {
    "normal vision": np.eye(3),
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]
    ),
}


def _linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ np.clip(
        linear_rgb, 0, 1
    )
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def chart_colours() -> dict[str, str]:
    js = (ROOT / "static/js/charts.js").read_text()
    block = js[js.index("var COLORS = {") : js.index("};", js.index("var COLORS = {"))]
    return dict(re.findall(r'(\w+): "(#[0-9a-fA-F]{6})"', block))


def test_charts_and_page_dots_use_the_same_colour_for_each_emotion():
    css = (ROOT / "static/css/serweb.css").read_text()
    dots = dict(re.findall(r"\.emotion--(\w+)::before \{ background: (#[0-9a-fA-F]{6}); \}", css))
    assert chart_colours() == dots
    assert set(dots) == set(EMOTIONS)


@pytest.mark.parametrize("vision", SIMULATIONS)
def test_every_pair_of_emotion_colours_is_distinct(vision):
    matrix = SIMULATIONS[vision]
    lab = {e: _lab(matrix @ _linear(c)) for e, c in chart_colours().items()}
    distances = {(a, b): float(np.linalg.norm(lab[a] - lab[b])) for a, b in itertools.combinations(lab, 2)}
    closest = min(distances, key=distances.get)
    assert distances[closest] >= MIN_DELTA_E, f"{closest} only {distances[closest]:.1f} apart in {vision}"


def test_the_check_catches_the_old_palette_where_calm_and_sad_were_both_blue():
    old = {"calm": "#56b4e9", "sad": "#0072b2", "neutral": "#8a8f98", "surprised": "#cc79a7"}
    deutan = {e: _lab(SIMULATIONS["deuteranopia"] @ _linear(c)) for e, c in old.items()}
    assert np.linalg.norm(deutan["neutral"] - deutan["surprised"]) < MIN_DELTA_E
    normal = {e: _lab(_linear(c)) for e, c in old.items()}
    assert np.linalg.norm(normal["calm"] - normal["sad"]) < 30
