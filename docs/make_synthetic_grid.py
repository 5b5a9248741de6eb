"""Draw docs/synthetic_grid.png: generated slices beside their region maps.

Rows: each contrast (T1, T1c, T2, FLAIR) for a healthy and a tumor slice, then the
four-class tumor kinds, then each artifact.  Run: ``.venv/bin/python docs/make_synthetic_grid.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from audit.config import DataConfig, SyntheticConfig
from audit.data.artifacts import ARTIFACTS
from audit.data.labels import LABELS
from audit.data.synthetic import generate_dataset
from audit.io import write_bytes_atomic

OUT = Path(__file__).resolve().parent / "synthetic_grid.png"
SIZE = 128
# One colour (BGR) per label code for the region maps.
COLOURS = {
    "background": (0, 0, 0), "scalp": (120, 170, 230), "skull": (235, 235, 235), "csf": (160, 60, 20),
    "grey_matter": (90, 90, 90), "white_matter": (170, 170, 170), "tumor_core": (40, 40, 120),
    "enhancing_tumor": (40, 40, 230), "edema": (60, 200, 250), "artifact": (230, 60, 230), "padding": (60, 120, 60),
}  # fmt: skip


def colour_map(lab: np.ndarray) -> np.ndarray:
    out = np.zeros((*lab.shape, 3), np.uint8)
    for name, code in LABELS.items():
        out[lab == code] = COLOURS[name]
    return out


def tile(image: np.ndarray, lab: np.ndarray, caption: str) -> np.ndarray:
    gray = cv2.cvtColor((image * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    pair = np.hstack([gray, colour_map(lab)])
    bar = np.full((16, pair.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, caption, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, pair])


def one(seed: int, caption: str, artifacts: dict | None = None, **kw) -> np.ndarray:
    cfg = DataConfig(image_size=SIZE, synthetic=SyntheticConfig(**{"n_images": 4, **kw}), artifacts=artifacts or {})
    ds = generate_dataset(cfg, np.random.default_rng(seed), workers=1)
    return tile(ds.images[0, ..., 0], ds.label_maps[0], caption)


def main() -> None:
    tiles = []
    for c in ("t1", "t1c", "t2", "flair"):
        tiles.append(one(1, f"{c} healthy", contrasts=(c,), tumor_fraction=0.0))
        tiles.append(one(2, f"{c} tumor", contrasts=(c,), tumor_fraction=1.0))
    for kind in ("glioma", "meningioma", "pituitary"):
        tiles.append(one(3, f"{kind} (t1c)", contrasts=("t1c",), tumor_fraction=1.0, tumor_kinds=(kind,)))
    tiles.append(one(4, "coronal", plane="coronal", contrasts=("t2",)))
    for name in ARTIFACTS:
        tiles.append(one(5, name, artifacts={name: 1.0}, tumor_fraction=1.0))
    tiles.append(one(6, "3 sites", n_sites=3, site_p=1.0))
    cols = 4
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    grid = np.vstack([np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)])
    write_bytes_atomic(OUT, cv2.imencode(".png", grid)[1].tobytes())
    print(f"wrote {OUT} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
