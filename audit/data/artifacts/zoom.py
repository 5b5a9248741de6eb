"""Field-of-view difference: the head shown larger and off-centre (a tighter, shifted FOV)."""

from __future__ import annotations

import numpy as np

NAME = "zoom"


def adjust(render: dict, rng: np.random.Generator) -> None:
    render["fov_mm"] *= rng.uniform(0.72, 0.8)
    render["shift_mm"] = render["shift_mm"] + rng.uniform(-12, 12, 2)
