"""CAM throughput on the default model and test set (issue 5 targets: Grad-CAM >= 0.8 x
``model.predict`` throughput and >= 20 x a seed-style per-image loop).

Loads (or trains, once) the default experiment's model from ``reports/default/cache``, then
in one process, each timing the best of three after a warm-up: ``model.predict`` on the
test set, every CAM method through the batched engine (Score-CAM and SmoothGrad, many passes
per image, timed once on 64 images), Grad-CAM at batch sizes 32 to 256, and the seed's procedure (a conv
sub-model and a classifier sub-model built, and a GradientTape run, for every image) on the
first 20 test images (run last: it adds graph nodes to the model's layers, as the seed did).
Run: ``.venv/bin/python benchmarks/cam_speed.py``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def best_of(fn, repeats: int = 3) -> float:
    fn()  # warm-up: tracing, allocation
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    from audit.cam import METHODS, MULTIPASS_METHODS, CamEngine, compute_cams
    from audit.config import load_config
    from audit.pipeline import cached_outputs

    cfg = load_config(ROOT / "experiments" / "default.toml")
    outputs = cached_outputs(cfg, ROOT / "reports" / "default", "train")
    batch = cfg.cam.batch_size  # the audit's CAM batch; predict gets the same
    ds, model = outputs["data"], outputs["train"].model
    x = np.asarray(ds.images[ds.indices("test")])
    n = len(x)

    t_predict = best_of(lambda: model.predict(x, batch_size=batch, verbose=0))
    engine = CamEngine(model)
    methods = [*METHODS, "gradient"]
    times = {
        m: best_of(lambda m=m: compute_cams(model, x, m, engine=engine, batch_size=batch, show_progress=False))
        for m in methods
    }
    for m in (*MULTIPASS_METHODS, "smoothgrad"):  # many passes per image: timed once, on 64 images
        t0 = time.perf_counter()
        compute_cams(model, x[:64], m, engine=engine, show_progress=False)
        times[m] = (time.perf_counter() - t0) * n / 64
        methods.append(m)

    layer = engine.path[-1]
    after = model.layers[model.layers.index(layer) + 1 :]
    n_seed = 20

    def seed_loop():
        for i in range(n_seed):
            # As the seed's notebook: for every image, a sub-model up to the explained layer and
            # a classifier sub-model rebuilt from the layers after it, then one tape per image.
            conv_model = keras.Model(model.inputs[0], layer.output)
            classifier_input = keras.Input(layer.output.shape[1:])
            y = classifier_input
            for later in after:
                y = later(y)
            classifier = keras.Model(classifier_input, y)
            with tf.GradientTape() as tape:
                conv = conv_model(x[i : i + 1])
                tape.watch(conv)
                preds = classifier(conv)
                score = preds[0, int(tf.argmax(preds[0]))]
            tape.gradient(score, conv)

    t_seed = best_of(seed_loop, repeats=1) / n_seed * n
    by_batch = {b: best_of(lambda b=b: compute_cams(model, x, batch_size=b, engine=engine, show_progress=False))
                for b in (32, 64, 128, 256) if b != batch}  # fmt: skip
    by_batch[batch] = times["gradcam"]

    ips = {m: n / t for m, t in times.items()}
    print(f"cores: {os.cpu_count()}; {n} test images {x.shape[1:]}, layer {engine.layer_name}, batch {batch}")
    print(f"model.predict: {n / t_predict:.0f} images/s")
    for m in methods:
        print(f"{m}: {ips[m]:.0f} images/s = {ips[m] * t_predict / n:.2f} x predict")
    print(f"seed-style per-image loop: {n / t_seed:.1f} images/s; Grad-CAM = {ips['gradcam'] * t_seed / n:.1f} x that")
    for b in sorted(by_batch):
        print(f"Grad-CAM at batch {b}: {n / by_batch[b]:.0f} images/s = {t_predict / by_batch[b]:.2f} x predict, "
              f"{t_seed / by_batch[b]:.1f} x the seed loop")  # fmt: skip


if __name__ == "__main__":
    main()
