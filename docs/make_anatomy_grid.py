"""Draw docs/anatomy_grid.png: the two phantom heads, with skull and skull-stripped, beside their label maps.

Rows: MNI152 with skull, MNI152 stripped, Colin27 with skull, Colin27 stripped; columns: the same
four draws (T1c healthy, T1c tumor, T2 tumor, FLAIR healthy) on each head.  Needs Debian's
mricron-data for Colin27.  Run: ``.venv/bin/python docs/make_anatomy_grid.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from make_synthetic_grid import SIZE, tile

from audit.config import DataConfig, SyntheticConfig
from audit.data.synthetic import generate_dataset
from audit.io import write_bytes_atomic

OUT = Path(__file__).resolve().parent / "anatomy_grid.png"
DRAWS = (
    ("t1c", 0.0, "T1c healthy"),
    ("t1c", 1.0, "T1c tumor"),
    ("t2", 1.0, "T2 tumor"),
    ("flair", 0.0, "FLAIR healthy"),
)


def main() -> None:
    rows = []
    for anatomy in ("mni152", "colin27"):
        for skull in ("present", "stripped"):
            tiles = []
            for k, (contrast, tumor, caption) in enumerate(DRAWS):
                syn = SyntheticConfig(n_images=4, contrasts=(contrast,), tumor_fraction=tumor, anatomy=anatomy,
                                      skull=skull)  # fmt: skip
                cfg = DataConfig(image_size=SIZE, synthetic=syn)
                ds = generate_dataset(cfg, np.random.default_rng(10 + k), workers=1)
                i = int(np.argmax(ds.labels)) if tumor else int(np.argmin(ds.labels))
                name = f"{anatomy}, {'skull' if skull == 'present' else 'stripped'}: {caption}"
                tiles.append(tile(ds.images[i, ..., 0], ds.label_maps[i], name))
            rows.append(np.hstack(tiles))
    grid = np.vstack(rows)
    write_bytes_atomic(OUT, cv2.imencode(".png", grid)[1].tobytes())
    print(f"wrote {OUT} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
