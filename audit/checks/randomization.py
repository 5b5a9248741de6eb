"""Model-parameter randomization checks (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

If a saliency method explains the model, destroying the model's weights must change its maps.
Layers are re-initialised with their own initializers (not permuted), recursing into nested
models; maps of a sample of test images are recomputed through the shared, compiled CAM engine
(assigning weights needs no rebuild) and compared with the trained model's maps.

Baseline: the mean similarity between trained-model maps of randomly paired *different*
images.  A map that survives randomization above that baseline is explaining the image (its
edges, say), not the model; the Sobel edge map is shown as that reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult
from audit.checks.similarity import SIMILARITIES, compare, derangement, mean_similarities, prepare_all, sobel_map

__all__ = ["CascadingRandomization", "IndependentRandomization", "reinitialize", "weighted_layers"]


def weighted_layers(model) -> list[tuple[str, object]]:
    """(path, layer) of every layer with weights, input to output, inside nested models too; input
    standardisation (``keras.layers.Normalization``: statistics of the data, not learnt) is left out."""
    import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += [(f"{layer.name}/{name}", sub) for name, sub in weighted_layers(layer)]
        elif layer.weights and not isinstance(layer, keras.layers.Normalization):
            out.append((layer.name, layer))
    return out


def reinitialize(layer, rng: np.random.Generator) -> None:
    """Assign every weight of ``layer`` a fresh draw from the layer's own initializer for it
    (``kernel_initializer`` for ``kernel``, ``gamma_initializer`` for ``gamma``, ...), seeded
    from ``rng``; weights without one are drawn from Glorot-uniform (2-D and up) or set to 0."""
    import keras

    for v in layer.weights:
        name = v.path.rsplit("/", 1)[-1] if hasattr(v, "path") else v.name
        init = getattr(layer, f"{name}_initializer", None)
        if init is None:
            init = keras.initializers.GlorotUniform() if len(v.shape) >= 2 else keras.initializers.Zeros()
        config = init.get_config()
        if "seed" in config:
            config["seed"] = int(rng.integers(2**31 - 1))
            init = type(init).from_config(config)
        v.assign(init(tuple(v.shape), dtype=v.dtype))


def _curve_figure(table: pd.DataFrame, baseline: dict[str, float], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    x = np.arange(len(table))
    for k, name in enumerate(SIMILARITIES):
        color = f"C{k}"
        ax.plot(x, table[name], "o-", color=color, label=name)
        ax.axhline(baseline[name], color=color, ls="--", lw=0.8)
    ax.set_xticks(x, table["step"], rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("randomized (dashed: random-pair baseline)")
    ax.set_ylabel("similarity to the trained model's maps")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return CheckContext.figure_png(fig)


class _Randomization(Check):
    cost = "medium"
    needs = ("extra_cams",)
    params = {"sample": 48, "compare_size": 64}
    evidence = "explanation_trust"
    cascading = True

    def run(self, ctx: CheckContext) -> CheckResult:
        _, x, targets = ctx.sample(ctx.params.get("sample", self.params["sample"]))
        model, saved = ctx.model, ctx.model.get_weights()
        layers = weighted_layers(model)[::-1]  # output first
        if not layers:
            return CheckResult(self.name, "skipped", "the model has no layers with weights")
        size = ctx.params.get("compare_size", self.params["compare_size"])
        original = prepare_all(ctx.upsampled(*_maps_grid(ctx.compute_maps(x, targets))), size)
        baseline = mean_similarities(original, [original[j] for j in derangement(len(x), ctx.rng)])
        sobel = prepare_all(np.stack([sobel_map(img) for img in x]), size)
        rows = [
            {"step": "none", **mean_similarities(original, original), "spearman_to_sobel": _to_sobel(original, sobel)}
        ]
        try:
            for k, (name, layer) in enumerate(layers):
                if not self.cascading:
                    model.set_weights(saved)
                reinitialize(layer, ctx.rng)
                maps = prepare_all(ctx.upsampled(*_maps_grid(ctx.compute_maps(x, targets))), size)
                step = f"…{name}" if self.cascading and k else name
                sims = mean_similarities(original, maps)
                rows.append({"step": step, **sims, "spearman_to_sobel": _to_sobel(maps, sobel)})
        finally:
            model.set_weights(saved)
        table = pd.DataFrame(rows)
        return self._result(table, baseline, len(x))

    def _result(self, table: pd.DataFrame, baseline: dict[str, float], n: int) -> CheckResult:
        steps = table.iloc[1:]
        metrics = {"n_images": n, "n_steps": len(steps)}
        metrics.update({f"baseline_{m}": v for m, v in baseline.items()})
        metrics["sobel_spearman_trained"] = float(table.iloc[0]["spearman_to_sobel"])
        if self.cascading:
            final = steps.iloc[-1]
            below = {m: bool(final[m] < baseline[m]) for m in SIMILARITIES if not np.isnan(baseline[m])}
            metrics.update({f"final_{m}": float(final[m]) for m in SIMILARITIES})
            metrics["sobel_spearman_final"] = float(final["spearman_to_sobel"])
            if below and all(below.values()):
                status, headline = (
                    "pass",
                    (
                        "Maps of the fully randomized model fall below the random-pair baseline "
                        "on every similarity metric."
                    ),
                )
            elif any(below.values()):
                kept = ", ".join(m for m, b in below.items() if not b)
                status, headline = (
                    "warn",
                    f"Maps of the fully randomized model stay above the random-pair baseline on: {kept}.",
                )
            else:
                status, headline = (
                    "fail",
                    (
                        "Maps of the fully randomized model stay as similar to the trained model's maps as maps "
                        "of different images are to each other: the maps do not depend on the model's weights."
                    ),
                )
        else:
            # A layer matters when randomizing it alone drops the rank correlation below the baseline.
            insensitive = [str(r["step"]) for _, r in steps.iterrows() if not r["spearman"] < baseline["spearman"]]
            metrics["n_layers_without_effect"] = len(insensitive)
            metrics.update({f"min_{m}": float(steps[m].min()) for m in SIMILARITIES})
            if not insensitive:
                status, headline = (
                    "pass",
                    "Randomizing any single layer pushes the maps below the random-pair baseline.",
                )
            elif len(insensitive) < len(steps):
                status, headline = (
                    "warn",
                    (
                        f"Randomizing {', '.join(insensitive)} alone leaves the maps above the random-pair baseline "
                        "(Spearman): the maps barely depend on those layers."
                    ),
                )
            else:
                status, headline = "fail", "No single randomized layer moves the maps below the random-pair baseline."
        figure = _curve_figure(table, baseline, self.title)
        return CheckResult(
            self.name, status, headline, metrics=metrics,
            tables={"similarity per step": table.round(4)}, figures={f"{self.title}: similarity curves": figure},
        )  # fmt: skip


def _maps_grid(result):
    return result.maps, result.grid


def _to_sobel(maps: list[dict], sobel: list[dict]) -> float:
    values = np.array([compare(m, s)["spearman"] for m, s in zip(maps, sobel, strict=True)])
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")


class CascadingRandomization(_Randomization):
    name = "cascading_randomization"
    title = "Cascading model-parameter randomization"
    description = (
        "Re-initialises layers from the output down, one more each step, and compares the maps with the trained "
        "model's (Spearman, SSIM, HOG Pearson). Passes when the fully randomized model's maps are less similar "
        "than maps of randomly paired different images."
    )
    cascading = True


class IndependentRandomization(_Randomization):
    name = "independent_randomization"
    title = "Independent layer randomization"
    description = (
        "Re-initialises one layer at a time (the others trained) and compares the maps with the trained model's. "
        "Passes when every single randomized layer pushes the maps below the random-pair baseline."
    )
    cascading = False
