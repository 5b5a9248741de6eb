import math
import re
from pathlib import Path

import pytest

from audit.config import VerdictConfig
from audit.verdict import RULES, decide_verdict, method_label, rules_text

CFG = VerdictConfig()
NAN = float("nan")


def ci(m: float, half: float = 0.05) -> dict:
    return {"mean": m, "ci_low": m - half, "ci_high": m + half}


def summary(on: float, off: float, n: int = 100, scored: int | None = None, artifact: float = 0.0, tumor=None) -> dict:
    """A findings summary as :func:`audit.scores.summarize_findings` gives it."""
    scored = n if scored is None else scored
    nan_if_none = lambda m: ci(NAN, 0) if scored == 0 else ci(m)  # noqa: E731
    return {
        "classes": ["tumor"],
        "n": n,
        "n_empty_maps": n - scored,
        "n_weak_maps": 0,
        "n_scored": scored,
        "on_anatomy": nan_if_none(on),
        "off_target_majority_share": nan_if_none(off),
        "energy": {"artifact": nan_if_none(artifact)},
        "tumor": tumor or {"n": 0},
    }


def empty(n: int = 100) -> dict:
    return summary(NAN, NAN, n=n, scored=0)


def check(name: str, status: str, evidence: str, headline: str = "") -> dict:
    return {"name": name, "status": status, "evidence": evidence, "headline": headline or f"{name} {status}"}


def behaviour(status: str) -> list[dict]:
    return [check("artifact_reliance", status, "model_behaviour")]


def verdict(panel: dict, checks=(), lead: str = "hirescam", **kw) -> dict:
    return decide_verdict(panel, list(checks), kw.pop("cfg", CFG), lead=lead, **kw)


def five(s: dict, lead_summary: dict | None = None) -> dict:
    """The default panel, every method with summary ``s`` (the lead HiResCAM with ``lead_summary``)."""
    panel = {m: s for m in ("gradcam", "layercam", "gradcam_pp", "occlusion")}
    return {"hirescam": lead_summary or s, **panel}


@pytest.mark.parametrize(
    ("on", "off", "scored", "label"),
    [
        (0.8, 0.1, 100, "anatomy"),
        (0.6, 0.25, 100, "anatomy"),  # thresholds are inclusive
        (0.8, 0.3, 100, "mixed"),  # too many images mostly off the brain
        (0.5, 0.1, 100, "mixed"),
        (0.4, 0.1, 100, "artifact"),  # on_anatomy <= artifact_max
        (0.5, 0.6, 100, "artifact"),  # more than half of the images mostly off the brain
        (0.5, 0.5, 100, "mixed"),  # the share must exceed off_target_share_artifact
        (0.9, 0.0, 50, "anatomy"),  # half scored: still informative
        (0.9, 0.0, 49, "uninformative"),  # more than half empty or weak
    ],
)
def test_method_labels(on, off, scored, label):
    assert method_label(summary(on, off, scored=scored), CFG)["label"] == label


def test_all_empty_maps_with_a_failed_counterfactual_give_artifact():
    # The missed shortcut of issue 17: every map empty, artifact_reliance failed.
    v = verdict(five(empty()), behaviour("fail"))
    assert v["label"] == "artifact" and v["rule"] == 1
    assert v["evidence"]["attention"]["label"] == "uninformative"
    assert v["strength"].startswith("artifact: model behaviour (artifact_reliance failed)")
    assert "no evidence" not in v["summary"]
    assert "uninformative (empty or weak maps on 100% of the images" in v["summary"]


def test_an_uninformative_lead_leaves_the_vote_to_the_other_methods():
    # Grad-CAM all-zero while the other methods show the corner marker: no check ran.
    panel = {"gradcam": empty(), "hirescam": summary(0.2, 0.9), "layercam": summary(0.25, 0.9),
             "gradcam_pp": summary(0.3, 0.8)}  # fmt: skip
    v = verdict(panel, lead="gradcam")
    a = v["evidence"]["attention"]
    assert (a["label"], a["basis"], a["n_agree"], a["n_informative"]) == ("artifact", "majority", 3, 3)
    assert v["label"] == "artifact" and v["rule"] == 2
    assert "Grad-CAM's position-averaged" not in v["summary"]  # the cause once, in its own words
    assert "Grad-CAM uninformative (empty or weak maps on 100% of the images: Grad-CAM weighs" in v["summary"]


def test_a_passed_counterfactual_with_a_data_shortcut_is_not_artifact():
    # The false alarm of issue 17: the probe fails, the model is cleared by the counterfactual.
    checks = [*behaviour("pass"), check("shortcut_probe", "fail", "dataset")]
    v = verdict(five(summary(0.97, 0.0)), checks)
    assert v["label"] == "anatomy"
    assert v["evidence"]["dataset"]["status"] == "risk"
    assert "findings about the data, not about the model" in v["summary"]
    mixed_maps = verdict(five(summary(0.5, 0.2)), checks)
    assert mixed_maps["label"] == "mixed"  # rule 4 needs a dataset line without risk
    assert verdict(five(summary(0.2, 0.9)), checks)["label"] == "mixed"


def test_a_data_shortcut_with_a_warning_counterfactual_is_artifact():
    checks = [*behaviour("warn"), check("shortcut_probe", "fail", "dataset")]
    v = verdict(five(summary(0.5, 0.4)), checks)
    assert (v["label"], v["rule"]) == ("artifact", 2)
    assert (
        v["strength"] == "artifact: model behaviour (artifact_reliance warned), attention does not agree (mixed), "
        "the data offers a shortcut"
    )
    probe_warns = [*behaviour("warn"), check("shortcut_probe", "warn", "dataset")]
    assert verdict(five(summary(0.5, 0.4)), probe_warns)["label"] == "mixed"  # a possible risk is not enough


def test_an_anatomy_verdict_on_data_with_a_shortcut_says_so():
    # Retrained with geometry augmentation, a zoom model passed every counterfactual and got `anatomy` while
    # still relying on the zoom (docs/mitigations.md): the strength must carry the data's risk.
    checks = [*behaviour("pass"), check("shortcut_probe", "fail", "dataset")]
    v = verdict(five(summary(0.9, 0.0)), checks)
    assert v["label"] == "anatomy" and v["strength"].endswith(
        "but the data offers a shortcut, which the checks did not see the model use"
    )
    assert "data offers" not in verdict(five(summary(0.9, 0.0)), behaviour("pass"))["strength"]


def test_a_data_shortcut_with_off_target_maps_and_no_counterfactual_is_artifact():
    checks = [check("shortcut_probe", "fail", "dataset")]
    v = verdict(five(summary(0.2, 0.9)), checks)
    assert v["label"] == "artifact" and "the data offers a shortcut" in v["strength"]


@pytest.mark.parametrize(
    ("maps", "status", "label", "rule"),
    [
        (summary(0.3, 0.9), "pass", "mixed", 5),  # off-target maps, the counterfactual clears the model
        (summary(0.3, 0.9), "warn", "mixed", 5),  # an inconclusive counterfactual is not convicted by the maps
        (summary(0.3, 0.9), None, "artifact", 2),  # no counterfactual: the maps decide
        (summary(0.3, 0.9), "error", "artifact", 2),  # the check could not tell: as if not run
        (summary(0.8, 0.1), "warn", "anatomy", 3),
        (summary(0.8, 0.1), None, "anatomy", 3),
        (summary(0.5, 0.2), "pass", "anatomy", 4),  # mixed maps, causal evidence alone
        (empty(), "pass", "anatomy", 4),
        (empty(), None, "mixed", 5),
        (summary(0.5, 0.2), None, "mixed", 5),
        (summary(0.8, 0.1), "fail", "artifact", 1),
    ],
)
def test_model_behaviour_against_the_maps(maps, status, label, rule):
    checks = [] if status is None else behaviour(status)
    v = verdict(five(maps), checks)
    assert (v["label"], v["rule"]) == (label, rule)
    assert v["evidence"]["model_behaviour"]["status"] == (status if status in ("pass", "warn", "fail") else "missing")


def test_the_lead_method_speaks_for_the_attention_line():
    panel = five(summary(0.3, 0.8), lead_summary=summary(0.9, 0.0))  # HiResCAM on anatomy, the rest off
    v = verdict(panel, behaviour("pass"))
    a = v["evidence"]["attention"]
    assert (a["label"], a["basis"], a["n_agree"], a["n_informative"]) == ("anatomy", "lead", 1, 5)
    assert (
        v["label"] == "anatomy"
        and v["strength"] == "anatomy: model behaviour (pass), 1 of 5 informative methods on anatomy"
    )


def test_no_majority_among_informative_methods_is_mixed():
    panel = {"gradcam": empty(), "hirescam": summary(0.9, 0.0), "layercam": summary(0.2, 0.9)}
    a = verdict(panel, lead="gradcam")["evidence"]["attention"]
    assert (a["label"], a["basis"]) == ("mixed", "no majority")


def test_localisation_lifts_coarse_maps_to_anatomy():
    # Issue 17, finding 4: pointing game 100%, but only 58% of the energy on anatomy.
    tumor = {
        "n": 40,
        "pointing_hit": ci(1.0, 0.0),
        "auprc": ci(0.6, 0.05),
        "auprc_prior": ci(0.19),
        "rank_accuracy": ci(0.8),
    }
    coarse = summary(0.58, 0.3, tumor=tumor)
    v = verdict({"gradcam": coarse}, behaviour("warn"), lead="gradcam")
    assert v["evidence"]["attention"]["label"] == "mixed"
    assert v["evidence"]["localisation"]["status"] == "supports"
    assert v["label"] == "anatomy" and v["rule"] == 3 and "localisation" in v["strength"]
    weak = {**tumor, "pointing_hit": ci(0.5, 0.2)}  # CI starts at 0.3 < pointing_min
    assert verdict({"gradcam": summary(0.58, 0.3, tumor=weak)}, behaviour("warn"), lead="gradcam")["label"] == "mixed"
    few = {**tumor, "n": 5}
    assert (
        verdict({"gradcam": summary(0.58, 0.3, tumor=few)}, [], lead="gradcam")["evidence"]["localisation"]["status"]
        == "missing"
    )
    no_better_than_prior = {**tumor, "auprc": ci(0.2, 0.05)}
    assert (
        verdict({"gradcam": summary(0.58, 0.3, tumor=no_better_than_prior)}, [], lead="gradcam")["evidence"][
            "localisation"
        ]["status"]
        == "does not support"
    )


def test_a_passed_counterfactual_and_localisation_outweigh_a_coarse_maps_spread():
    # The benchmark's shortcut-free models at 64 px: 6x6 Grad-CAM maps put most energy off the brain,
    # but their peak finds the tumor and the counterfactual passes.
    tumor = {
        "n": 60,
        "pointing_hit": ci(0.8, 0.07),
        "auprc": ci(0.6, 0.04),
        "auprc_prior": ci(0.17),
        "rank_accuracy": ci(0.5),
    }
    coarse = {"gradcam": summary(0.44, 0.7, tumor=tumor)}
    v = verdict(coarse, behaviour("pass"), lead="gradcam")
    assert v["evidence"]["attention"]["label"] == "artifact"
    assert (v["label"], v["rule"]) == ("anatomy", 4)
    assert "their peak finds the tumor" in v["strength"] and "coarse map's spread" in v["summary"]
    # Only a warning: the peak on the tumor is not outweighed by a coarse map's spread (the benchmark's
    # mni152-stripped-site-p0 Grad-CAM false alarm, docs/real_anatomy.md), nor does it clear the model.
    warned = verdict(coarse, behaviour("warn"), lead="gradcam")
    assert (warned["label"], warned["rule"]) == ("mixed", 5)
    assert "their peak finds the tumor, and model behaviour warn" in warned["strength"]
    assert "nor the warning as evidence against one" in warned["summary"]
    assert (verdict(coarse, [], lead="gradcam")["label"], verdict(coarse, [], lead="gradcam")["rule"]) == ("mixed", 5)
    assert verdict(coarse, behaviour("fail"), lead="gradcam")["label"] == "artifact"  # rule 1 still decides
    with_risk = [*behaviour("warn"), check("shortcut_probe", "fail", "dataset")]
    assert verdict(coarse, with_risk, lead="gradcam")["rule"] == 2  # warning + a data shortcut on offer
    # Peak off the tumor too: the maps alone convict only when no counterfactual ran (rule 2); with one that
    # warned, the verdict stays mixed unless the data offers a shortcut (a Grad-CAM p = 0 cell with
    # TF_ENABLE_ONEDNN_OPTS=0 warned at 12% flips, 95% CI 8-18%, and was convicted by its maps' spread).
    missed = {"gradcam": summary(0.44, 0.7, tumor={**tumor, "pointing_hit": ci(0.2, 0.05)})}
    warned_missed = verdict(missed, behaviour("warn"), lead="gradcam")
    assert (warned_missed["label"], warned_missed["rule"]) == ("mixed", 5)
    assert "the counterfactual only warned" in warned_missed["strength"]
    assert "nor is the warning taken as evidence against one" in warned_missed["summary"]
    assert (verdict(missed, [], lead="gradcam")["label"], verdict(missed, [], lead="gradcam")["rule"]) == (
        "artifact",
        2,
    )
    assert verdict(missed, with_risk, lead="gradcam")["label"] == "artifact"
    not_found = {"gradcam": summary(0.44, 0.7, tumor={**tumor, "pointing_hit": ci(0.2, 0.05)})}
    assert verdict(not_found, behaviour("pass"), lead="gradcam")["label"] == "mixed"


def test_explanation_trust_weighs_but_does_not_veto():
    trust = [check("independent_randomization", "fail", "explanation_trust")]
    v = verdict(five(summary(0.9, 0.05)), behaviour("pass") + trust)
    assert v["label"] == "anatomy" and "explanation trust doubtful" in v["strength"]
    assert v["evidence"]["explanation_trust"]["status"] == "doubtful"
    alone = verdict(five(summary(0.9, 0.05)), trust)  # no model-behaviour evidence: the maps alone, doubted
    assert alone["label"] == "mixed"


def test_other_checks_are_reported_but_do_not_decide():
    v = verdict(five(summary(0.9, 0.05)), [*behaviour("pass"), check("my_plugin", "fail", "other")])
    assert v["label"] == "anatomy"
    assert v["evidence"]["other_checks"] == [{"name": "my_plugin", "status": "fail", "headline": "my_plugin fail"}]


def test_a_leak_across_splits_is_a_possible_dataset_risk():
    dups = [{"cross_split": True, "dropped": False}, {"cross_split": False, "dropped": False}]
    v = verdict(five(summary(0.9, 0.05)), behaviour("pass"), duplicates=dups)
    assert v["evidence"]["dataset"]["status"] == "possible risk" and v["evidence"]["dataset"]["leaks"] == 1


def test_a_model_near_chance_gets_mixed_and_the_summary_never_prints_nan():
    v = verdict(five(summary(0.1, 0.95)), behaviour("fail"), balanced_accuracy=0.53)
    assert (v["label"], v["rule"]) == ("mixed", 0)
    assert v["summary"].startswith("The model is near chance (test balanced accuracy 53%, below 60%)")
    assert verdict(five(summary(0.1, 0.95)), [], balanced_accuracy=0.6)["label"] == "artifact"
    for panel in (five(empty()), five(summary(NAN, NAN, n=0, scored=0))):
        for ba in (0.5, 0.9, None, NAN):
            for checks in ([], behaviour("pass"), behaviour("fail")):
                text = verdict(panel, checks, balanced_accuracy=ba)
                assert not re.search(r"\bnan\b", text["summary"] + text["strength"], re.IGNORECASE), text["summary"]


def test_summary_cites_numbers_per_line():
    tumor = {"n": 40, "pointing_hit": ci(0.7, 0.1), "auprc": ci(0.42), "auprc_prior": ci(0.1), "rank_accuracy": ci(0.5)}
    panel = {"hirescam": summary(0.52, 0.38, artifact=0.2, tumor=tumor)}
    s = verdict(panel, behaviour("pass"))["summary"]
    assert "HiResCAM mixed (52% of the energy on brain or tumor, 95% CI 47%–57%; 38% of 100 images mostly" in s
    assert "HiResCAM energy on burned-in artifacts: 20% (95% CI 15%–25%)" in s
    assert "on 40 tumor images the HiResCAM peak lies on the tumor in 70% (95% CI 60%–80%); AUPRC 0.42" in s
    assert "against 0.10 for the mean tumor location" in s
    assert "Model behaviour (pass): artifact_reliance pass" in s


def test_the_lead_must_be_in_the_panel():
    with pytest.raises(ValueError, match="lead method 'gradcam'"):
        verdict({"hirescam": summary(0.9, 0.0)}, lead="gradcam")


def test_rules_text_fills_in_the_thresholds_and_the_docs_print_the_defaults():
    text = rules_text(VerdictConfig(min_balanced_accuracy=0.7, anatomy_min=0.65))
    assert len(text) == len(RULES) + 1
    assert "below 0.7" in text[0] and "at least 0.65" in text[-1]
    readme = Path(__file__).resolve().parents[1].joinpath("docs", "verdict_rules.md").read_text(encoding="utf-8")
    for rule in rules_text(VerdictConfig()):
        assert rule in " ".join(readme.split()), f"docs/verdict_rules.md is out of date: {rule[:60]}..."


def test_share_of_empty_or_weak_maps():
    assert method_label(empty(80), CFG)["share_empty_or_weak"] == 1.0
    assert method_label(summary(0.9, 0.0, n=80, scored=60), CFG)["share_empty_or_weak"] == 0.25
    assert math.isnan(method_label(summary(NAN, NAN, n=0, scored=0), CFG)["share_empty_or_weak"])


def test_brain_edge_energy_is_said_apart_and_never_as_nan():
    stripped = summary(0.7, 0.05)
    stripped["energy"]["brain_edge"] = ci(0.2)
    v = verdict(five(stripped), behaviour("pass"))
    assert "energy on the brain edge of skull-stripped images: 20%" in v["summary"]
    assert v["label"] == "anatomy"  # 70% on anatomy, 20% on the edge counted in neither
    with_skull = verdict(five(summary(0.7, 0.05)), behaviour("pass"))  # no brain_edge entry at all
    assert "brain edge" not in with_skull["summary"] and "nan" not in with_skull["summary"]


def test_headlines_are_joined_without_doubled_punctuation():
    checks = [check("artifact_reliance", "fail", "model_behaviour", "Half the predictions flip."),
              check("acquisition_transfer", "pass", "model_behaviour", "The decisions hold.")]  # fmt: skip
    s = verdict(five(summary(0.2, 0.9)), checks)["summary"]
    assert "artifact_reliance fail: Half the predictions flip; acquisition_transfer pass: The decisions hold." in s
    assert ".;" not in s and ".." not in s
