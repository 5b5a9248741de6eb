"""The audit's verdict: ``anatomy``, ``mixed`` or ``artifact``, from documented rules.

Evidence is taken from correctly classified images of the finding classes (tumor
classes; ``attention["findings"]``), the ones whose explanation says how the model
finds what it finds.  A "healthy" decision explains an absence, which has no place to
point at, so those maps are reported but do not decide (without a ``findings`` summary,
all correctly classified images are used):

- ``on_anatomy``: mean CAM energy fraction on brain + tumor (with 95 % CI);
- ``off_target_majority_share``: share of those images with more than half of
  their energy on skull band, background, padding or artifact (with 95 % CI).

Rules (thresholds in ``[verdict]`` of the experiment):

0. ``mixed`` if the test balanced accuracy is below ``min_balanced_accuracy``: a model
   near chance has learnt no rule, so where its maps fall says nothing about reliance
   (the maps of an untrained network follow image edges; Adebayo et al. 2018);
1. ``artifact`` if a check failed that declares ``weighs_on_verdict`` (e.g. artifact
   reliance); or if the attention is off target and the counterfactual check
   (``counterfactual_check``, artifact reliance) did not pass: off target means
   ``on_anatomy <= artifact_max``, or, when that check ran and warned,
   ``off_target_majority_share > off_target_share_artifact`` too.  Without the check
   (not run, or ``counterfactual_check = ""``) the maps decide alone (``on_anatomy <=
   artifact_max``).  When it ran and passed, off-target maps give ``mixed``: the model
   keeps its decisions without the non-anatomical pixels and loses them without the brain,
   which outweighs where a coarse map's energy happens to fall.  (Measured by the benchmark,
   README "Benchmark": at 64 px Grad-CAM, Grad-CAM++ and Score-CAM gave ``artifact`` on 5-6
   of 8 models with no shortcut to learn; with this rule on none, and every model whose
   accuracy drops by 20 points or more without its shortcut is still flagged.)
2. ``anatomy`` if ``on_anatomy >= anatomy_min``, ``off_target_majority_share <=
   off_target_share_max`` and no check failed;
3. ``mixed`` otherwise, including when there is no scorable evidence.
"""

from __future__ import annotations

import math

from audit.config import VerdictConfig

__all__ = ["LABELS", "decide_verdict"]

LABELS = ("anatomy", "mixed", "artifact")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def decide_verdict(
    attention: dict,
    checks: list[dict],
    cfg: VerdictConfig,
    method: str = "Grad-CAM",
    balanced_accuracy: float | None = None,
) -> dict:
    """Apply the rules above.

    Parameters
    ----------
    attention : output of :func:`audit.scores.summarize_attention`.
    checks : check results as dicts with ``name``, ``status`` and optional ``weighs_on_verdict``.
    balanced_accuracy : the model's test balanced accuracy (None: not known, rule 0 skipped).

    Returns
    -------
    {"label", "summary", "evidence"}.
    """
    correct = attention.get("findings") or attention["by_correct"]["correct"]
    who = "correctly classified " + (f"{' / '.join(correct['classes'])} images" if correct.get("classes") else "images")
    on = correct["on_anatomy"]
    off = correct["off_target_majority_share"]
    failed = [c["name"] for c in checks if c["status"] == "fail"]
    decisive = [c["name"] for c in checks if c["status"] == "fail" and c.get("weighs_on_verdict")]
    evidence = {
        "on_anatomy": on,
        "off_target_majority_share": off,
        "n_correct_scored": correct["n_scored"],
        "n_correct_weak_or_empty": correct["n"] - correct["n_scored"],
        "failed_checks": failed,
        "balanced_accuracy": balanced_accuracy,
    }
    if balanced_accuracy is not None and balanced_accuracy < cfg.min_balanced_accuracy:
        return {
            "label": "mixed",
            "summary": f"The model is near chance (test balanced accuracy {_pct(balanced_accuracy)}, below "
            f"{_pct(cfg.min_balanced_accuracy)}): it has learnt no rule, so its maps say nothing about what it "
            f"relies on. For the record, {_pct(correct['on_anatomy']['mean'])} of the {method} energy on {who} "
            "lies on brain tissue or tumor.",
            "evidence": evidence,
        }
    if math.isnan(on["mean"]):
        return {
            "label": "mixed",
            "summary": f"None of the {who} has a map with positive evidence, "
            "so there is no evidence of where the model looks.",
            "evidence": evidence,
        }
    counterfactual = next((c["status"] for c in checks if c["name"] == cfg.counterfactual_check), None)
    if counterfactual not in ("pass", "warn", "fail"):  # not run, errored or skipped: the maps alone
        counterfactual = None
    off_target = on["mean"] <= cfg.artifact_max or (
        counterfactual == "warn" and off["mean"] > cfg.off_target_share_artifact
    )
    if decisive or (off_target and counterfactual != "pass"):
        label = "artifact"
    elif off_target:
        label = "mixed"
    elif on["mean"] >= cfg.anatomy_min and off["mean"] <= cfg.off_target_share_max and not failed:
        label = "anatomy"
    else:
        label = "mixed"
    sentences = [
        f"On {_pct(off['mean'])} of {who} more than half of the {method} energy lies on the "
        f"skull band, background, padding or artifacts (95% CI {_pct(off['ci_low'])}–{_pct(off['ci_high'])}).",
        f"On average {_pct(on['mean'])} of the energy lies on brain tissue or tumor "
        f"(95% CI {_pct(on['ci_low'])}–{_pct(on['ci_high'])}; thresholds: anatomy ≥ {_pct(cfg.anatomy_min)}, "
        f"artifact ≤ {_pct(cfg.artifact_max)}).",
    ]
    art = correct["energy"]["artifact"]
    if not math.isnan(art["mean"]) and art["mean"] > 0:
        sentences.append(
            f"Mean energy on burned-in artifacts: {_pct(art['mean'])} "
            f"(95% CI {_pct(art['ci_low'])}–{_pct(art['ci_high'])})."
        )
    tumor = correct.get("tumor", {})
    hit, ap, prior = (tumor.get(k, {}).get("mean", float("nan")) for k in ("pointing_hit", "auprc", "auprc_prior"))
    if tumor.get("n") and not math.isnan(hit):
        t = tumor["pointing_hit"]
        sentences.append(
            f"On the {tumor['n']} of them that show a tumor, the map's peak lies on the tumor "
            f"in {_pct(hit)} (95% CI {_pct(t['ci_low'])}–{_pct(t['ci_high'])}); as a pixel-wise tumor detector "
            f"the map reaches an AUPRC of {ap:.2f}, against {prior:.2f} for the mean tumor location alone."
        )
    weak = correct["n"] - correct["n_scored"]
    if weak:
        sentences.append(f"{weak} of {correct['n']} {who} have empty or weak maps and are not counted.")
    if off_target and label == "mixed":
        sentences.append(
            f"The maps point off the brain, but the {cfg.counterfactual_check} check passed: the decisions hold "
            "without the non-anatomical pixels and fall to chance without the brain, so the maps are not "
            "taken as evidence of a shortcut."
        )
    if failed:
        sentences.append(f"Failed checks: {', '.join(failed)}.")
    return {"label": label, "summary": " ".join(sentences), "evidence": evidence}
