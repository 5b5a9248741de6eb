"""Quality of the estimated region masks against the phantoms' exact ones (issue 9 targets:
mean Dice head >= 0.95, brain interior >= 0.85, skull band >= 0.70; annotation pixel recall
>= 0.90).

Generates 300 slices of 128 x 128 across all four contrasts, three sites with burned-in
site names, and every artifact present on about half of the images (tied to nothing), then
compares :func:`audit.regions.estimate_regions` with the ground truth: head = brain + tumor
+ skull band, brain interior = brain + tumor.  Annotations are the ground-truth artifact
components not touching the head (burned-in text, markers, frames; the ghost rim along the
skull is not an annotation); recall is pooled over pixels.
Run: ``.venv/bin/python benchmarks/region_quality.py [N]``.
"""

from __future__ import annotations

import os
import sys
import time

import cv2
import numpy as np


def main() -> None:
    from audit.config import DataConfig
    from audit.data.synthetic import generate_dataset
    from audit.regions import REGIONS, estimate_regions, regions_from_label_maps

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    cfg = DataConfig(
        n_images=n, image_size=128, contrasts=("t1", "t1c", "t2", "flair"), n_sites=3, site_marker=True,
        artifacts=("marker", "frame", "padding", "zoom", "intensity", "noise", "ghost"),
    )  # fmt: skip
    ds = generate_dataset(cfg, np.random.default_rng(0))
    truth = regions_from_label_maps(ds.label_maps)
    t0 = time.perf_counter()
    est = np.stack([estimate_regions(img) for img in ds.images])
    seconds = time.perf_counter() - t0
    brain, tumor, skull, _, padding, artifact = (REGIONS.index(r) for r in REGIONS)

    def dice(a, b):
        return 2 * np.sum(a & b) / max(int(a.sum() + b.sum()), 1)

    head_d, brain_d, skull_d, hit, total, pad_hit, pad_total = [], [], [], 0, 0, 0, 0
    for e, g in zip(est, truth, strict=True):
        head_g = np.isin(g, [brain, tumor, skull])
        head_d.append(dice(head_g, np.isin(e, [brain, tumor, skull])))
        brain_d.append(dice(np.isin(g, [brain, tumor]), e == brain))
        skull_d.append(dice(g == skull, e == skull))
        count, comp = cv2.connectedComponents((g == artifact).astype(np.uint8))
        near = cv2.dilate(head_g.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        touching = np.unique(comp[near & (comp > 0)])
        ann = (comp > 0) & ~np.isin(comp, touching)
        hit += int(np.sum(ann & (e == artifact)))
        total += int(ann.sum())
        pad_hit += int(np.sum((g == padding) & (e == padding)))
        pad_total += int(np.sum(g == padding))
    print(f"cores: {os.cpu_count()}; {n} phantoms, 128 px, all contrasts, 3 sites, all artifacts")
    print(f"estimate_regions: {1000 * seconds / n:.1f} ms per image")
    print(f"mean Dice: head {np.mean(head_d):.3f} (target 0.95), brain interior {np.mean(brain_d):.3f} (0.85), "
          f"skull band {np.mean(skull_d):.3f} (0.70)")  # fmt: skip
    print(f"annotation pixel recall {hit / max(total, 1):.3f} (target 0.90); padding pixel recall "
          f"{pad_hit / max(pad_total, 1):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
