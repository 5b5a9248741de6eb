"""Simulated scanners / sites, each with its own look.

A site fixes a contrast mix, a noise level, a field of view, an intensity gain and a
burned-in site label in its own corner.  Public sets whose classes were collected
from different sources carry exactly this kind of shortcut; ``site_p`` ties the site
to the class like an artifact's ``p`` (class k goes with site k mod n_sites).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.data.artifacts.marker import CORNERS

__all__ = ["Site", "assign_sites", "make_sites"]


@dataclass(frozen=True)
class Site:
    name: str
    contrast_weights: tuple[float, ...]
    noise_sigma: float
    fov_scale: float
    gain: float
    marker_corner: str


def make_sites(n: int, n_contrasts: int, rng: np.random.Generator) -> list[Site]:
    """``n`` sites with random, clearly different looks."""
    sites = []
    for k in range(n):
        weights = rng.dirichlet(np.full(n_contrasts, 0.6))
        sites.append(
            Site(
                name=f"SITE {chr(ord('A') + k)}",
                contrast_weights=tuple(float(w) for w in weights),
                noise_sigma=float(rng.uniform(0.01, 0.045)),
                fov_scale=float(rng.uniform(0.92, 1.12)),
                gain=float(rng.uniform(0.85, 1.1)),
                marker_corner=CORNERS[k % len(CORNERS)],
            )
        )
    return sites


def assign_sites(labels: np.ndarray, n_sites: int, site_p: float, rng: np.random.Generator) -> np.ndarray:
    """(N,) site index: with probability ``site_p`` the class's own site, else uniform."""
    if not 0 <= site_p <= 1:
        raise ValueError(f"site_p must lie in [0, 1], got {site_p}")
    follow = rng.random(len(labels)) < site_p
    return np.where(follow, labels % n_sites, rng.integers(0, n_sites, len(labels)))
