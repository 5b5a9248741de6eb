"""Wall time of whole audits against their budgets (issue 2): default <= 300 s, quick ~60 s.

Runs each experiment from an empty output folder in a subprocess (so TensorFlow's
import and every stage are counted), then prints per-stage seconds from
results.json and the ratio wall time / budget.  Run: ``.venv/bin/python benchmarks/budget.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = {"quick": 60.0, "default": 300.0}


def main(names: list[str]) -> int:
    print(f"cores: {os.cpu_count()}")
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, str(ROOT / "run_audit.py"), str(ROOT / "experiments" / f"{name}.toml"), "--out", tmp],
                check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            wall = time.perf_counter() - t0
            results = json.loads((Path(tmp) / "results.json").read_text())
        stages = ", ".join(f"{k} {v:.1f}" for k, v in results["timings"].items())
        ratio = wall / BUDGETS[name]
        print(f"{name}: wall {wall:.1f} s = {ratio:.2f} x budget ({BUDGETS[name]:.0f} s); stages [s]: {stages}")
        print(f"  test accuracy {results['model']['test_accuracy']:.3f}, verdict {results['verdict']['label']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(BUDGETS)))
