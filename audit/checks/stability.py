"""Explanation stability and data randomization: maps that should (or should not) stay the same.

- *Stability*: maps of slightly noisy copies (Gaussian, ``noise`` x the image's range) and of
  left-right flipped images, flipped back (flip equivariance), compared with the original maps
  by Spearman rank correlation; with ``repeatability = true``, also the maps of a second model
  trained with another seed (SSIM; Adebayo et al. 2018 call this a model-repeatability test).
- *Data randomization* (Adebayo et al. 2018, section 4): a model trained on permuted labels
  with the same architecture and budget; its maps must differ from the trained model's as
  much as maps of different images do (random-pair baseline).

Similarities come from :mod:`audit.checks.similarity`, on maps area-averaged to 64 x 64.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult
from audit.checks.similarity import derangement, mean_similarities, prepare_all

__all__ = ["DataRandomization", "ExplanationStability"]


def _maps(ctx: CheckContext, x: np.ndarray, targets: np.ndarray, model=None) -> np.ndarray:
    result = ctx.compute_maps(x, targets, model=model)
    return ctx.upsampled(result.maps, result.grid)


class ExplanationStability(Check):
    name = "explanation_stability"
    title = "Explanation stability"
    description = (
        "Maps under small input noise and under a left-right flip (flipped back), by Spearman correlation with "
        "the original maps; optionally repeatability across a second model trained with another seed (SSIM)."
    )
    cost = "low"
    params = {"sample": 48, "noise": 0.02, "min_spearman": 0.6, "repeatability": False}
    evidence = "explanation_trust"

    def run(self, ctx: CheckContext) -> CheckResult:
        p = {**self.params, **ctx.params}
        _, x, targets = ctx.sample(p["sample"])
        original = prepare_all(_maps(ctx, x, targets), 64)
        spread = (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))[:, None, None, None]
        noisy = np.clip(x + ctx.rng.normal(0, 1, x.shape).astype(np.float32) * p["noise"] * spread, 0, 1)
        rows = [{"perturbation": f"noise {p['noise']:g} x range", **mean_similarities(original, prepare_all(
            _maps(ctx, noisy, targets), 64))}]  # fmt: skip
        flipped = _maps(ctx, x[:, :, ::-1].copy(), targets)[:, :, ::-1]
        rows.append(
            {"perturbation": "left-right flip, flipped back", **mean_similarities(original, prepare_all(flipped, 64))}
        )
        if p["repeatability"]:
            if ctx.retrain is None:
                rows.append({"perturbation": "second seed: not possible (model loaded from a file)"})
            else:
                other = ctx.retrain(ctx.config.experiment.seed + 1)
                again = prepare_all(_maps(ctx, x, targets, other), 64)
                rows.append({"perturbation": "model trained with seed + 1", **mean_similarities(original, again)})
        table = pd.DataFrame(rows)
        low = table[table["spearman"] < p["min_spearman"]] if "spearman" in table else table.iloc[:0]
        metrics = {"n_images": len(x), "spearman_noise": float(table["spearman"].iloc[0]),
                   "spearman_flip": float(table["spearman"].iloc[1])}  # fmt: skip
        if len(table) > 2 and "ssim" in table and not np.isnan(table["ssim"].iloc[2]):
            metrics["ssim_second_seed"] = float(table["ssim"].iloc[2])
        if len(low):
            status = "warn"
            headline = (
                "Maps are unstable under: "
                + "; ".join(f"{r.perturbation} (Spearman {r.spearman:.2f})" for r in low.itertuples())
                + f" (threshold {p['min_spearman']})."
            )
        else:
            status = "pass"
            headline = (
                f"Maps are stable: Spearman {metrics['spearman_noise']:.2f} under noise and "
                f"{metrics['spearman_flip']:.2f} under a flip (threshold {p['min_spearman']})."
            )
        return CheckResult(
            self.name, status, headline, metrics=metrics, tables={"similarity to the original maps": table.round(3)}
        )


class DataRandomization(Check):
    name = "data_randomization"
    title = "Data randomization"
    description = (
        "Retrains the same architecture with the same budget on permuted labels and compares its maps with the "
        "trained model's; they must be no more similar than maps of different images. Costs one training run."
    )
    needs = ("retraining",)
    cost = "high"
    params = {"sample": 48}
    evidence = "explanation_trust"

    def run(self, ctx: CheckContext) -> CheckResult:
        p = {**self.params, **ctx.params}
        _, x, targets = ctx.sample(p["sample"])
        original = prepare_all(_maps(ctx, x, targets), 64)
        baseline = mean_similarities(original, [original[j] for j in derangement(len(x), ctx.rng)])
        permuted = ctx.retrain(ctx.config.experiment.seed, permute_labels=True)
        sims = mean_similarities(original, prepare_all(_maps(ctx, x, targets, permuted), 64))
        table = pd.DataFrame([{"comparison": "permuted-label model vs trained", **sims},
                              {"comparison": "random pairs of trained maps (baseline)", **baseline}])  # fmt: skip
        above = [m for m in sims if not np.isnan(baseline[m]) and sims[m] >= baseline[m]]
        metrics = {"n_images": len(x), **{f"{m}": v for m, v in sims.items()},
                   **{f"baseline_{m}": v for m, v in baseline.items()}}  # fmt: skip
        if not above:
            status, headline = "pass", "Maps of a model trained on permuted labels differ from the trained model's."
        elif len(above) < len(sims):
            status = "warn"
            headline = (
                f"A model trained on permuted labels gives maps above the random-pair baseline on: {', '.join(above)}."
            )
        else:
            status = "fail"
            headline = (
                "A model trained on permuted labels gives maps as similar as the trained model's own: "
                "the maps do not depend on what the model learnt."
            )
        return CheckResult(self.name, status, headline, metrics=metrics, tables={"similarities": table.round(4)})
