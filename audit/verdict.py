"""The audit's verdict, ``anatomy``, ``mixed`` or ``artifact``, from evidence lines kept apart.

Every line is summarised on its own (in results.json ``verdict.evidence``, the report's verdict
box and the summary), with its numbers and what it could not tell; the rules below read them.

- **model behaviour** (checks declaring ``evidence = "model_behaviour"``: ``artifact_reliance``,
  ``acquisition_transfer``):
  what the model's decisions do when pixels change; no explanation method involved.
  ``fail`` / ``warn`` / ``pass``, or ``missing`` when no such check ran.
- **attention**: each method of the CAM panel (``cam.panel`` and the lead method, :mod:`audit.cam.lead`)
  summarised on correctly classified finding-class images (``on_anatomy``: mean energy on brain +
  tumor; ``off_target_majority_share``: share of images with more than half their energy on skull
  band, background, padding or artifact; 95 % bootstrap CIs), with its own label:

  - ``uninformative`` when more than ``uninformative_share`` of those images have empty or weak
    maps (the share and the likely cause are reported; never read as "no evidence");
  - ``artifact`` when ``on_anatomy <= artifact_max`` or ``off_target_majority_share > off_target_share_artifact``;
  - ``anatomy`` when ``on_anatomy >= anatomy_min`` and ``off_target_majority_share <= off_target_share_max``;
  - ``mixed`` otherwise.

  The line's label is the lead method's when it is informative, else that of a strict majority of
  the informative methods (``mixed`` without one, ``uninformative`` when none is informative).
- **localisation** (where the images have tumor masks): with at least ``min_tumor_images`` tumor
  images, it ``supports`` anatomy when the lead (or first informative) method's pointing game's
  95 % CI starts at ``pointing_min`` or above and its AUPRC's CI lies above the mean-mask prior's
  AUPRC; ``does not support`` otherwise; ``missing`` without masks.
- **dataset** (checks declaring ``"dataset"``: ``shortcut_probe``, ``subgroup_disparity``; and
  duplicate pairs that cross splits): ``risk`` when one failed, ``possible risk`` when one warned
  or a leak is left, ``clear``, or ``missing``.  Findings about the data, not about the model.
- **explanation trust** (checks declaring ``"explanation_trust"``: randomization, faithfulness,
  stability, all run on the lead method): ``doubtful`` when one failed, ``trusted`` when some ran
  and none failed, ``missing``.  It weighs the attention line; it never vetoes the verdict.

Rules, first match: :data:`RULES` (thresholds in ``[verdict]``; the report's Methods section and
docs/verdict_rules.md print the same list with the values in force).

The verdict's ``strength`` names the lines that back it, e.g. "artifact: model behaviour and 4 of 5
methods agree".  A data shortcut (dataset line) makes the verdict ``artifact`` only with
evidence that the model uses it (rules 1 and 2).
"""

from __future__ import annotations

import math

from audit.cam.methods import METHODS, title
from audit.checks.base import EVIDENCE_LINES
from audit.config import VerdictConfig

__all__ = ["ATTENTION_LABELS", "RULES", "VERDICT_LABELS", "decide_verdict", "method_label", "rules_text"]

VERDICT_LABELS = ("anatomy", "mixed", "artifact")
"""The verdict's labels, mildest first (``--fail-on`` reads their order)."""
ATTENTION_LABELS = (*VERDICT_LABELS, "uninformative")
"""A CAM method's label on the attention line."""
_CHECK_LINES = ("model_behaviour", "dataset", "explanation_trust")

RULES: tuple[str, ...] = (
    "mixed when the test balanced accuracy is below {min_balanced_accuracy}: a model near chance has learnt no "
    "rule, so its maps say nothing about what it relies on",
    "artifact when model behaviour failed (a decisive counterfactual), whatever the maps show",
    "artifact when no model-behaviour check ran and the attention line says artifact without localisation "
    "supporting anatomy (the maps are then the only evidence, and a map's peak on the tumor outweighs where a coarse "
    "map's energy spreads), or when model behaviour warned and the dataset line shows a risk (the data offers a "
    "shortcut and the decisions move with it)",
    "anatomy when model behaviour passed or warned (or no model-behaviour check ran and explanation trust is not "
    "doubtful), the attention line is not artifact, and attention says anatomy or localisation supports it",
    "anatomy when model behaviour passed and either localisation supports anatomy (whatever share of a coarse "
    "map's energy falls off the brain: its peak finds the tumor), or the attention line is mixed or uninformative "
    "and the dataset line shows no risk (the causal evidence alone)",
    "mixed otherwise (e.g. off-target maps with a passed counterfactual: the model keeps its accuracy when the "
    "non-anatomical pixels, the acquisition or the field of view change, which outweighs where a coarse map's "
    "energy falls; or "
    "off-target maps with a counterfactual that only warned and no shortcut on offer in the data: where a coarse "
    "map's energy falls does not turn an inconclusive counterfactual into evidence of a shortcut)",
)
"""The verdict's rules, numbered from 0, applied in order (first match); placeholders are ``[verdict]`` keys."""

METHOD_RULE = (
    "A method is uninformative when its maps are empty or weak on more than {uninformative_share} of the correctly "
    "classified finding images; artifact when its mean energy on brain + tumor is at most {artifact_max} or more "
    "than {off_target_share_artifact} of those images have most energy off the brain; anatomy when that energy is "
    "at least {anatomy_min} and at most {off_target_share_max} of the images are mostly off the brain; mixed "
    "otherwise. The attention line follows the lead method when it is informative, else a strict majority of the "
    "informative methods. Localisation supports anatomy when, on at least {min_tumor_images} tumor images, the "
    "pointing game's 95% CI starts at {pointing_min} or above and the map's AUPRC beats the mean tumor mask's."
)
"""How a method's label, the attention line and the localisation line are read (the same thresholds)."""


def rules_text(cfg: VerdictConfig) -> list[str]:
    """:data:`RULES` then :data:`METHOD_RULE` with the thresholds of ``cfg`` filled in."""
    import dataclasses

    values = dataclasses.asdict(cfg)
    return [f"{r.format(**values)}." for r in RULES] + [METHOD_RULE.format(**values)]


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def _ci(d: dict) -> str:
    return f"95% CI {_pct(d['ci_low'])}–{_pct(d['ci_high'])}"


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def method_label(summary: dict, cfg: VerdictConfig) -> dict:
    """One method's attention label (module docstring) from its findings summary
    (:func:`audit.scores.summarize_findings`): ``label``, the numbers it rests on, and ``cause``
    (why it is uninformative, "" otherwise)."""
    n, scored = int(summary.get("n", 0)), int(summary.get("n_scored", 0))
    on, off = summary["on_anatomy"], summary["off_target_majority_share"]
    unscored = (n - scored) / n if n else float("nan")
    out = {
        "n": n,
        "n_scored": scored,
        "share_empty_or_weak": unscored,
        "on_anatomy": on,
        "off_target_majority_share": off,
        "artifact_energy": summary["energy"]["artifact"],
        "brain_edge_energy": summary["energy"].get("brain_edge", {"mean": float("nan")}),
        "cause": "",
    }
    if n == 0:
        return {**out, "label": "uninformative", "cause": "no correctly classified finding image to explain"}
    if unscored > cfg.uninformative_share or _nan(on["mean"]):
        return {**out, "label": "uninformative", "cause": "empty or weak maps"}
    if on["mean"] <= cfg.artifact_max or off["mean"] > cfg.off_target_share_artifact:
        label = "artifact"
    elif on["mean"] >= cfg.anatomy_min and off["mean"] <= cfg.off_target_share_max:
        label = "anatomy"
    else:
        label = "mixed"
    return {**out, "label": label}


def _attention_line(panel: dict, lead: str, lead_reason: str, cfg: VerdictConfig) -> dict:
    methods = {m: method_label(s, cfg) for m, s in panel.items()}
    for m, v in methods.items():
        if v["label"] == "uninformative" and v["cause"] == "empty or weak maps":
            v["cause"] = f"empty or weak maps on {_pct(v['share_empty_or_weak'])} of the images: " + (
                METHODS[m].empty_cause if m in METHODS else "the maps hold no positive evidence"
            )
    informative = [m for m, v in methods.items() if v["label"] != "uninformative"]
    if lead in informative:
        label, basis = methods[lead]["label"], "lead"
    elif informative:
        votes = {lab: sum(methods[m]["label"] == lab for m in informative) for lab in VERDICT_LABELS}
        top = max(votes, key=votes.get)
        label, basis = (top, "majority") if votes[top] * 2 > len(informative) else ("mixed", "no majority")
    else:
        label, basis = "uninformative", "none informative"
    agree = sum(methods[m]["label"] == label for m in informative)
    return {
        "label": label,
        "basis": basis,
        "lead": lead,
        "lead_reason": lead_reason,
        "n_methods": len(methods),
        "n_informative": len(informative),
        "n_agree": agree,
        "methods": methods,
        "titles": {m: title(m) for m in methods},
    }


def _localisation_line(panel: dict, attention: dict, cfg: VerdictConfig) -> dict:
    order = [attention["lead"], *[m for m in panel if m != attention["lead"]]]
    usable = [m for m in order if attention["methods"][m]["label"] != "uninformative"]
    with_tumor = [m for m in usable if panel[m].get("tumor", {}).get("n", 0) > 0]
    if not any(panel[m].get("tumor", {}).get("n", 0) for m in panel):
        return {"status": "missing", "method": None, "why": "no tumor masks for these images"}
    if not with_tumor:
        return {"status": "missing", "method": None, "why": "no informative method's maps on tumor images"}
    m = with_tumor[0]
    t = panel[m]["tumor"]
    hit, ap, prior = t["pointing_hit"], t["auprc"], t.get("auprc_prior", {"mean": float("nan")})
    out = {
        "method": m,
        "n": int(t["n"]),
        "pointing_hit": hit,
        "auprc": ap,
        "auprc_prior": prior,
        "rank_accuracy": t.get("rank_accuracy", {"mean": float("nan")}),
    }
    if t["n"] < cfg.min_tumor_images or _nan(hit["ci_low"]):
        return {**out, "status": "missing", "why": f"{t['n']} tumor images, fewer than {cfg.min_tumor_images}"}
    beats_prior = _nan(prior["mean"]) or (not _nan(ap["ci_low"]) and ap["ci_low"] > prior["mean"])
    ok = hit["ci_low"] >= cfg.pointing_min and beats_prior
    return {**out, "status": "supports" if ok else "does not support", "why": ""}


def _check_line(checks: list[dict], line: str) -> dict:
    mine = [c for c in checks if c.get("evidence") == line]
    ran = [c for c in mine if c["status"] in ("pass", "warn", "fail")]
    statuses = {c["status"] for c in ran}
    if line == "model_behaviour":
        status = next((s for s in ("fail", "warn", "pass") if s in statuses), "missing")
    elif line == "dataset":
        status = (
            "risk" if "fail" in statuses else "possible risk" if "warn" in statuses else "clear" if ran else "missing"
        )
    else:
        status = "doubtful" if "fail" in statuses else "trusted" if ran else "missing"
    listed = [{k: c.get(k, "") for k in ("name", "status", "headline")} for c in mine]
    return {"status": status, "checks": listed, "not_run": [c["name"] for c in mine if c not in ran]}


def _dataset_line(checks: list[dict], duplicates: list[dict] | None) -> dict:
    line = _check_line(checks, "dataset")
    leaks = [d for d in duplicates or [] if d.get("cross_split") and not d.get("dropped")]
    line["leaks"] = len(leaks)
    if leaks and line["status"] in ("clear", "missing"):
        line["status"] = "possible risk"
    return line


def decide_verdict(
    panel: dict,
    checks: list[dict],
    cfg: VerdictConfig,
    *,
    lead: str,
    lead_reason: str = "",
    balanced_accuracy: float | None = None,
    duplicates: list[dict] | None = None,
) -> dict:
    """Apply the rules above.

    Parameters
    ----------
    panel : method -> findings summary (:func:`audit.scores.summarize_findings`), the lead's included.
    checks : check results as dicts with ``name``, ``status``, ``evidence`` (its line) and ``headline``.
    lead : the lead method (:mod:`audit.cam.lead`); lead_reason : why.
    balanced_accuracy : the model's test balanced accuracy (None: not known, rule 0 skipped).
    duplicates : the dataset's duplicate pairs (``Dataset.duplicates``), for leaks.

    Returns
    -------
    {"label", "strength", "rule", "summary", "evidence"}; ``evidence`` holds one entry per line
    (:data:`audit.checks.base.EVIDENCE_LINES`) and ``balanced_accuracy``.
    """
    if lead not in panel:
        raise ValueError(f"the lead method {lead!r} has no summary in the panel")
    attention = _attention_line(panel, lead, lead_reason, cfg)
    behaviour = _check_line(checks, "model_behaviour")
    trust = _check_line(checks, "explanation_trust")
    dataset = _dataset_line(checks, duplicates)
    local = _localisation_line(panel, attention, cfg)
    others = [{k: c.get(k, "") for k in ("name", "status", "headline")} for c in checks
              if c.get("evidence", "other") not in _CHECK_LINES]  # fmt: skip
    evidence = {
        "model_behaviour": behaviour,
        "attention": attention,
        "localisation": local,
        "dataset": dataset,
        "explanation_trust": trust,
        "other_checks": others,
        "balanced_accuracy": balanced_accuracy,
    }
    assert set(EVIDENCE_LINES) - {"other"} <= set(evidence)

    b, a, loc, t = behaviour["status"], attention["label"], local["status"], trust["status"]
    supports = a == "anatomy" or loc == "supports"
    if balanced_accuracy is not None and not _nan(balanced_accuracy) and balanced_accuracy < cfg.min_balanced_accuracy:
        label, rule = "mixed", 0
    elif b == "fail":
        label, rule = "artifact", 1
    elif (a == "artifact" and b == "missing" and loc != "supports") or (b == "warn" and dataset["status"] == "risk"):
        label, rule = "artifact", 2
    elif a != "artifact" and supports and (b in ("pass", "warn") or (b == "missing" and t != "doubtful")):
        label, rule = "anatomy", 3
    elif b == "pass" and (loc == "supports" or (a in ("mixed", "uninformative") and dataset["status"] != "risk")):
        label, rule = "anatomy", 4
    else:
        label, rule = "mixed", 5
    strength = _strength(label, rule, behaviour, attention, local, dataset, trust)
    summary = _summary(label, rule, evidence, cfg)
    return {"label": label, "rule": rule, "strength": strength, "summary": summary, "evidence": evidence}


def _strength(label, rule, behaviour, attention, local, dataset, trust) -> str:
    a = attention
    votes = f"{a['n_agree']} of {a['n_informative']} informative methods" if a["n_informative"] else ""
    if rule == 0:
        return "mixed: the model is near chance, so no line can say what it relies on"
    if label == "artifact":
        parts = []
        if behaviour["status"] in ("fail", "warn"):
            verb = "failed" if behaviour["status"] == "fail" else "warned"
            names = ", ".join(c["name"] for c in behaviour["checks"] if c["status"] == behaviour["status"])
            parts.append(f"model behaviour ({names} {verb})")
        if a["label"] == "artifact":
            parts.append(f"{votes} put the attention off target")
        elif a["n_informative"]:
            parts.append(f"attention does not agree ({a['label']})")
        if dataset["status"] == "risk":
            parts.append("the data offers a shortcut")
        return "artifact: " + ", ".join(parts)
    if label == "anatomy":
        parts = []
        if behaviour["status"] in ("pass", "warn"):
            parts.append(f"model behaviour ({behaviour['status']})")
        if a["label"] == "anatomy":
            parts.append(f"{votes} on anatomy")
        if local["status"] == "supports":
            parts.append(f"localisation ({title(local['method'])} finds the tumor)")
        if rule == 4 and local["status"] == "supports" and a["label"] == "artifact":
            parts.append("the maps' energy lies mostly off the brain, but their peak finds the tumor")
        elif rule == 4 and local["status"] != "supports":
            parts.append(f"the maps are {a['label']}: the counterfactual alone")
        if trust["status"] == "doubtful":
            parts.append("explanation trust doubtful")
        if dataset["status"] == "risk":
            # The checks measure the shortcuts they can emulate; one they cannot (docs/limits.md) stays possible.
            parts.append("but the data offers a shortcut, which the checks did not see the model use")
        return "anatomy: " + ", ".join(parts)
    reasons = []
    if a["label"] == "artifact" and behaviour["status"] == "pass":
        reasons.append("the maps point off target but the model's decisions do not depend on non-anatomical pixels")
    elif a["label"] == "artifact" and local["status"] == "supports":
        reasons.append(
            f"the maps' energy lies mostly off the brain but their peak finds the tumor, and model behaviour "
            f"{behaviour['status']}"
        )
    elif a["label"] == "artifact" and behaviour["status"] == "warn":
        reasons.append(
            "the maps point off target, but the counterfactual only warned (its accuracy drop not clearly above the "
            "tolerance) and the data offers no clear shortcut"
        )
    elif behaviour["status"] == "missing" and trust["status"] == "doubtful":
        reasons.append("no model-behaviour evidence and the maps fail the sanity checks")
    else:
        reasons.append(f"attention {a['label']}, model behaviour {behaviour['status']}, localisation {local['status']}")
    if dataset["status"] == "risk":
        reasons.append("the data offers a shortcut the maps cannot rule out")
    return "mixed: " + "; ".join(reasons)


def _summary(label: str, rule: int, ev: dict, cfg: VerdictConfig) -> str:
    """Plain sentences, one group per line; numbers that are missing are said to be missing, never 'nan'."""
    a, b, loc, d, t = (ev[k] for k in ("attention", "model_behaviour", "localisation", "dataset", "explanation_trust"))
    lead = a["lead"]
    ltitle = title(lead)
    lv = a["methods"][lead]
    s: list[str] = []
    ba = ev["balanced_accuracy"]
    if rule == 0:
        s.append(
            f"The model is near chance (test balanced accuracy {_pct(ba)}, below {_pct(cfg.min_balanced_accuracy)}): "
            "it has learnt no rule, so its maps say nothing about what it relies on."
        )
        if not _nan(lv["on_anatomy"]["mean"]):
            s.append(f"For the record, {_pct(lv['on_anatomy']['mean'])} of the {ltitle} energy lies on brain or tumor.")
        return " ".join(s)
    # model behaviour
    if b["status"] == "missing":
        s.append("Model behaviour: no counterfactual check ran, so nothing shows what the decisions depend on.")
    else:
        heads = "; ".join(
            f"{c['name']} {c['status']}: {c['headline'].rstrip('. ')}" for c in b["checks"] if c["headline"]
        )
        s.append(f"Model behaviour ({b['status']}): {heads}.")
    # attention
    n = lv["n"]
    if a["label"] == "uninformative":
        s.append(f"Attention: no method of the panel gives informative maps on the {n} correctly classified "
                 "finding images.")  # fmt: skip
    else:
        how = "set in the experiment" if "cam.method" in a["lead_reason"] else "chosen by the model's head"
        s.append(
            f"Attention ({a['label']}; {a['n_agree']} of {a['n_informative']} informative methods agree; "
            f"lead method {ltitle}, {how})."
        )
    parts = []
    for m, v in a["methods"].items():
        name = title(m)
        if v["label"] == "uninformative":
            parts.append(f"{name} uninformative ({v['cause']})")
        else:
            on, off = v["on_anatomy"], v["off_target_majority_share"]
            parts.append(
                f"{name} {v['label']} ({_pct(on['mean'])} of the energy on brain or tumor, {_ci(on)}; "
                f"{_pct(off['mean'])} of {v['n_scored']} images mostly off the brain)"
            )
    s.append("By method: " + "; ".join(parts) + ".")
    art = lv["artifact_energy"]
    if not _nan(art["mean"]) and art["mean"] > 0:
        s.append(f"{ltitle} energy on burned-in artifacts: {_pct(art['mean'])} ({_ci(art)}).")
    edge = lv.get("brain_edge_energy", {"mean": float("nan")})
    if not _nan(edge["mean"]) and edge["mean"] > 0:
        s.append(f"{ltitle} energy on the brain edge of skull-stripped images: {_pct(edge['mean'])} ({_ci(edge)}; "
                 "cortex or the stripping contour, counted neither as anatomy nor as off target).")  # fmt: skip
    # localisation
    if loc["status"] == "missing":
        s.append(f"Localisation: missing ({loc['why']}).")
    else:
        hit, ap, prior = loc["pointing_hit"], loc["auprc"], loc["auprc_prior"]
        prior_text = "" if _nan(prior["mean"]) else f", against {prior['mean']:.2f} for the mean tumor location"
        s.append(
            f"Localisation ({loc['status']} anatomy): on {loc['n']} tumor images the {title(loc['method'])} "
            f"peak lies on the tumor in {_pct(hit['mean'])} ({_ci(hit)}); AUPRC {ap['mean']:.2f}{prior_text}."
        )
    # dataset
    if d["status"] != "missing" or d["leaks"]:
        found = [f"{c['name']} {c['status']}" for c in d["checks"] if c["status"] in ("warn", "fail")]
        text = "; ".join(found) if found else "no check found a shortcut on offer"
        leak = f"; {d['leaks']} duplicate pairs cross the splits" if d["leaks"] else ""
        s.append(f"Dataset ({d['status']}): {text}{leak} (findings about the data, not about the model).")
    # trust
    if t["status"] == "missing":
        s.append(f"Explanation trust: missing (no sanity check of {ltitle} ran).")
    else:
        failed = [c["name"] for c in t["checks"] if c["status"] == "fail"]
        text = f"{', '.join(failed)} failed" if failed else "the sanity checks passed"
        s.append(f"Explanation trust ({t['status']}): {text}; this weighs the attention line, not the verdict.")
    if rule == 4 and loc["status"] == "supports" and a["label"] == "artifact":
        s.append(
            "Most of the maps' energy lies off the brain, but their peak finds the tumor and the decisions do not "
            "depend on non-anatomical pixels: a coarse map's spread is not taken as evidence of a shortcut."
        )
    elif rule == 4 and loc["status"] != "supports":
        s.append(
            "The verdict rests on the model-behaviour evidence: the model keeps its accuracy when the "
            "non-anatomical pixels, the acquisition or the field of view change (as far as the checks that ran "
            "change them)."
        )
    if rule == 5 and a["label"] == "artifact" and b["status"] != "pass" and loc["status"] == "supports":
        s.append(
            "Most of the maps' energy lies off the brain, but their peak finds the tumor; without a failed "
            "counterfactual the spread of a coarse map is not taken as evidence of a shortcut, nor the warning as "
            "evidence against one."
        )
    if rule == 5 and a["label"] == "artifact" and b["status"] == "warn" and loc["status"] != "supports":
        s.append(
            "The maps point off the brain and the counterfactual warned without failing: where a coarse map's "
            "energy falls is not taken as evidence of a shortcut without a failed counterfactual or a shortcut on "
            "offer in the data, nor is the warning taken as evidence against one."
        )
    if rule == 5 and a["label"] == "artifact" and b["status"] == "pass":
        s.append(
            "The maps point off the brain, but the counterfactual clears the model, so the maps are not taken as "
            "evidence of a shortcut."
        )
    return " ".join(s)
