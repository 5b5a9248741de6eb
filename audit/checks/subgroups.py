"""Subgroup disparity: accuracy and attention profile per value of metadata columns (site,
contrast, ...), flagging groups that differ from the rest of the test set.

For group g against the rest r: accuracy gap ``acc_g - acc_r`` and attention gap
``A_g - A_r`` with ``A`` = mean energy fraction on brain + tumor (scored maps only).  A group
is flagged when either gap exceeds its threshold and the group holds at least ``min_size``
images; the accuracy gap must also be significant (two-proportion z-test, p < 0.05).
"""

from __future__ import annotations

import math

import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult

__all__ = ["SubgroupDisparity"]


def _two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if n1 == 0 or n2 == 0:
        return float("nan")
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(k1 / n1 - k2 / n2) / se
    return math.erfc(z / math.sqrt(2))


class SubgroupDisparity(Check):
    name = "subgroup_disparity"
    title = "Subgroup disparity"
    description = (
        "Accuracy and attention on anatomy per site, contrast or any metadata column, against the rest of the "
        "test set; flags groups that differ."
    )
    cost = "low"
    params = {"columns": ["site", "contrast"], "max_accuracy_gap": 0.1, "max_attention_gap": 0.15, "min_size": 10}
    evidence = "dataset"

    def run(self, ctx: CheckContext) -> CheckResult:
        p = {**self.params, **ctx.params}
        table = ctx.per_image
        columns = [c for c in p["columns"] if c in table]
        if not columns:
            return CheckResult(self.name, "skipped", f"none of the columns {', '.join(p['columns'])} is in the data")
        ok = ~table["empty_map"] & ~table.get("weak_map", pd.Series(False, index=table.index))
        anatomy = (table["energy_brain"] + table["energy_tumor"]).where(ok)
        rows = []
        for col in columns:
            for value in sorted(table[col].astype(str).unique()):
                g = (table[col].astype(str) == value).to_numpy()
                n_g, n_r = int(g.sum()), int((~g).sum())
                k_g, k_r = int(table["correct"][g].sum()), int(table["correct"][~g].sum())
                acc_g = k_g / n_g if n_g else float("nan")
                acc_r = k_r / n_r if n_r else float("nan")
                att_g, att_r = float(anatomy[g].mean()), float(anatomy[~g].mean())
                pval = _two_proportion_p(k_g, n_g, k_r, n_r)
                acc_flag = abs(acc_g - acc_r) > p["max_accuracy_gap"] and pval < 0.05
                att_flag = abs(att_g - att_r) > p["max_attention_gap"]
                rows.append({
                    "column": col, "group": value, "n": n_g, "accuracy": acc_g, "accuracy_rest": acc_r,
                    "p_accuracy": pval, "on_anatomy": att_g, "on_anatomy_rest": att_r,
                    "flagged": bool(n_g >= p["min_size"] and (acc_flag or att_flag)),
                })  # fmt: skip
        groups = pd.DataFrame(rows)
        flagged = groups[groups["flagged"]]
        metrics = {"n_groups": len(groups), "n_flagged": len(flagged), "columns": ", ".join(columns)}
        if len(flagged):
            names = "; ".join(
                f"{r.column}={r.group} (accuracy {r.accuracy:.2f} vs {r.accuracy_rest:.2f}, "
                f"anatomy {r.on_anatomy:.2f} vs {r.on_anatomy_rest:.2f})"
                for r in flagged.itertuples()
            )
            return CheckResult(self.name, "warn", f"Groups that differ from the rest: {names}.", metrics=metrics,
                               tables={"groups": groups.round(3)})  # fmt: skip
        return CheckResult(
            self.name, "pass", f"No group of {', '.join(columns)} differs from the rest beyond the thresholds.",
            metrics=metrics, tables={"groups": groups.round(3)},
        )  # fmt: skip
