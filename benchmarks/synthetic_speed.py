"""Phantom generation speed (issue 3 target: 3,000 slices of 128x128 with masks in <= 30 s on 2 cores).

Times, in one fresh process: importing the generator, loading the MNI-derived
anatomy (from the disk cache if present; --cold rebuilds it in a temporary
cache folder first), and generating the slices with the default experiment's
artifacts and sites.  Prints seconds and the ratio to the 30 s target.
Run: ``.venv/bin/python benchmarks/synthetic_speed.py [--n 3000] [--cold]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--cold", action="store_true", help="rebuild the anatomy cache (in a temporary folder)")
    args = p.parse_args()
    if args.cold:
        os.environ["BRAIN_AUDIT_CACHE"] = tempfile.mkdtemp(prefix="brain-audit-cache-")
    t0 = time.perf_counter()
    import numpy as np

    from audit.config import load_config
    from audit.data.anatomy import load_anatomy
    from audit.data.synthetic import generate_dataset

    t_import = time.perf_counter() - t0
    load_anatomy()
    t_anatomy = time.perf_counter() - t0 - t_import
    data = load_config(ROOT / "experiments" / "default.toml").data
    cfg = dataclasses.replace(data, image_size=128, synthetic=dataclasses.replace(data.synthetic, n_images=args.n))
    t1 = time.perf_counter()
    ds = generate_dataset(cfg, np.random.default_rng(0))
    t_gen = time.perf_counter() - t1
    total = time.perf_counter() - t0
    print(f"cores: {os.cpu_count()}; slices: {len(ds.images)} of {cfg.image_size}x{cfg.image_size} with label maps")
    print(f"import {t_import:.1f} s, anatomy {t_anatomy:.1f} s ({'cold' if args.cold else 'cached'}), "
          f"generation {t_gen:.1f} s ({len(ds.images) / t_gen:.0f} slices/s)")  # fmt: skip
    print(f"total {total:.1f} s = {total / 30:.2f} x the 30 s target")


if __name__ == "__main__":
    main()
