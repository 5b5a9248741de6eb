"""Peak memory of the CAM stage against test-set size and batch size (issue 5 target: memory
grows with the batch size, not with the test-set size).

Each configuration runs in a fresh process: the seed CNN at the default input size, test
images in a memory-mapped ``.npy`` (as the data stage caches them), Grad-CAM streamed
batch by batch through :class:`audit.data.dataset.Rows` with the maps written into a
memory-mapped file (as the cam stage does).  Printed: the growth of the process's peak
resident memory (ru_maxrss) over its level after model build and one warm-up batch, next
to what holding the test images in memory alone would take.  Growth is measured on the
process's anonymous resident memory (RssAnon, sampled every 2 ms): the pages of the
memory-mapped files are page cache the kernel can drop, not memory the stage holds.
Run: ``.venv/bin/python benchmarks/cam_memory.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = 128

CHILD = """
import json, sys, threading, time
from pathlib import Path
import numpy as np
from audit.cam.maps import compute_cams
from audit.data.dataset import Rows
from audit.model import build_model

folder, n, batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
images = np.load(folder / "images.npy", mmap_mode="r")[:n]
model = build_model("seed_cnn", images.shape[1:], 2)
compute_cams(model, np.asarray(images[:batch]), batch_size=batch, show_progress=False)  # warm-up: tracing

def anon_kb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

peak, done = [anon_kb()], threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], anon_kb())
        time.sleep(0.002)
base = anon_kb()
watcher = threading.Thread(target=watch)
watcher.start()
out = lambda shape: np.lib.format.open_memmap(folder / f"maps-{n}-{batch}.npy", "w+", np.float32, shape)
res = compute_cams(model, Rows(images, np.arange(n)), batch_size=batch, show_progress=False, out=out)
done.set()
watcher.join()
print(json.dumps({"growth_mb": (max(peak[0], anon_kb()) - base) / 1024, "ips": n / res.seconds}))
"""


def main() -> None:
    import numpy as np

    sizes, batches = (1000, 4000), (32, 128)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        images = np.lib.format.open_memmap(folder / "images.npy", "w+", np.float32, (max(sizes), SIZE, SIZE, 1))
        for s in range(0, len(images), 500):
            images[s : s + 500] = rng.random((min(500, len(images) - s), SIZE, SIZE, 1), np.float32)
        images.flush()
        del images
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        print(f"cores: {os.cpu_count()}; seed_cnn, {SIZE}x{SIZE}x1 images, Grad-CAM, maps to a memory-mapped file")
        rows = {}
        for n in sizes:
            for b in batches:
                proc = subprocess.run(
                    [sys.executable, "-c", CHILD, str(folder), str(n), str(b)],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                rows[n, b] = json.loads(proc.stdout.strip().splitlines()[-1])
                in_memory = n * SIZE * SIZE * 4 / 2**20
                growth = rows[n, b]["growth_mb"]
                print(f"test set {n:5d}, batch {b:4d}: peak memory growth {growth:7.1f} MB "
                      f"(the images alone: {in_memory:.0f} MB); {rows[n, b]['ips']:.0f} images/s")  # fmt: skip
        for b in batches:
            small, large = rows[sizes[0], b]["growth_mb"], rows[sizes[1], b]["growth_mb"]
            print(f"batch {b}: growth at {sizes[1]} images - growth at {sizes[0]} = {large - small:+.1f} MB "
                  f"for {sizes[1] - sizes[0]} more images")  # fmt: skip
        for n in sizes:
            print(f"test set {n}: growth at batch {batches[1]} - at batch {batches[0]} = "
                  f"{rows[n, batches[1]]['growth_mb'] - rows[n, batches[0]]['growth_mb']:+.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
