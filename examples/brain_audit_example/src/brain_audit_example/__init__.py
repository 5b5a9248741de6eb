"""A third-party check: share of map energy within ``border_px`` pixels of the image edge.

Burned-in text, rulers and scanner labels sit at the border of many clinical images, so a
model whose maps pile up there deserves a look.  The check warns when, on average, the
energy fraction in the border strip exceeds ``max_share``.
"""

from __future__ import annotations

import numpy as np

from audit.checks import Check, CheckContext, CheckResult

__all__ = ["BorderAttention"]


class BorderAttention(Check):
    name = "border_attention"
    title = "Attention on the image border"
    description = "Mean share of CAM energy within `border_px` pixels of the image edge (warns above `max_share`)."
    cost = "low"
    params = {"border_px": 8, "max_share": 0.25}

    def run(self, ctx: CheckContext) -> CheckResult:
        p = {**self.params, **ctx.params}
        maps = ctx.upsampled(ctx.cams.maps, ctx.cams.grid)  # (N, H, W) on the image grid
        border = np.ones(maps.shape[1:], bool)
        b = p["border_px"]
        border[b:-b, b:-b] = False
        totals = maps.sum(axis=(1, 2))
        shares = maps[:, border].sum(axis=1)[totals > 0] / totals[totals > 0]
        if shares.size == 0:
            return CheckResult(status="skipped", headline="no map holds positive evidence")
        mean = float(shares.mean())
        status = "warn" if mean > p["max_share"] else "pass"
        headline = f"On average {100 * mean:.0f}% of the map's energy lies within {b} px of the image edge."
        metrics = {"mean_border_share": mean, "border_area": float(border.mean()), "n_maps": int(shares.size)}
        return CheckResult(status=status, headline=headline, metrics=metrics)  # the runner adds the check's name
