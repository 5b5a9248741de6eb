"""Cost of the cascading randomization check against one CAM pass (issue 7 target: at most
(steps + 1) x one CAM pass over the sample plus a small constant; weights are assigned, the
compiled CAM function is never rebuilt).

Loads (or trains, once) the default experiment's model from ``reports/default/cache``, then
in one process times one Grad-CAM pass over the check's sample (best of three, after a
warm-up), runs the check, and prints its time against (steps + 1) x that pass, the time of
the similarity metrics, and the compiled function's trace count.
Run: ``.venv/bin/python benchmarks/randomization_cost.py``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    import numpy as np

    from audit.cam.core import CamEngine
    from audit.cam.maps import compute_cams
    from audit.checks import CheckContext, available_checks, randomization, run_check
    from audit.config import load_config
    from audit.pipeline import cached_outputs

    cfg = load_config(ROOT / "experiments" / "default.toml")
    outputs = cached_outputs(cfg, ROOT / "reports" / "default", "cam")
    ds, model, cams = outputs["data"], outputs["train"].model, outputs["cam"]
    x = np.asarray(ds.images[ds.indices("test")])
    sample = randomization.CascadingRandomization.params["sample"]
    engine = CamEngine(model)

    def one_pass():
        compute_cams(model, x[:sample], engine=engine, show_progress=False)

    one_pass()
    t_pass = min(_timed(one_pass) for _ in range(3))
    sim_seconds = [0.0]

    def timed(fn):
        def wrapper(*args):
            t0 = time.perf_counter()
            result = fn(*args)
            sim_seconds[0] += time.perf_counter() - t0
            return result

        return wrapper

    # Time the similarity metrics: preparing maps (resize, ranks, HOG) and comparing them.
    randomization._similarities = timed(randomization._similarities)
    randomization._prepared = timed(randomization._prepared)
    ctx = CheckContext(
        images=x, labels=ds.labels[ds.indices("test")], regions=None, class_names=ds.class_names, model=model,
        proba=np.zeros((len(x), len(ds.class_names))), cams=cams, cam_engine=engine, per_image=None, config=cfg,
        params={"sample": sample}, rng=np.random.default_rng(0),
    )  # fmt: skip
    result = run_check(available_checks()["cascading_randomization"], ctx)
    steps = result.metrics["n_steps"]
    budget = (steps + 1) * t_pass
    print(f"cores: {os.cpu_count()}; default model, sample of {sample} test images, Grad-CAM")
    print(f"one CAM pass: {t_pass:.3f} s; {steps} randomization steps -> (steps + 1) x pass = {budget:.2f} s")
    rest = result.seconds - sim_seconds[0] - budget
    print(f"check: {result.seconds:.2f} s = {result.seconds / budget:.2f} x that; of which similarity metrics "
          f"{sim_seconds[0]:.2f} s (what is left beyond the CAM passes: {rest:+.2f} s)")  # fmt: skip
    print(f"compiled CAM function traced {engine._compiled['layer'].experimental_get_tracing_count()} time(s)")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
