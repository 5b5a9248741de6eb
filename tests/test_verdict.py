import pytest

from audit.config import VerdictConfig
from audit.verdict import decide_verdict

CFG = VerdictConfig(anatomy_min=0.6, artifact_max=0.4, off_target_share_max=0.25)


def attention(on: float, off_share: float, artifact: float = 0.0) -> dict:
    ci = lambda m: {"mean": m, "ci_low": m - 0.05, "ci_high": m + 0.05}  # noqa: E731
    correct = {
        "n": 100,
        "n_empty_maps": 0,
        "n_scored": 100,
        "on_anatomy": ci(on),
        "off_target_majority_share": ci(off_share),
        "energy": {"artifact": ci(artifact)},
    }
    return {"by_correct": {"correct": correct}}


@pytest.mark.parametrize(
    ("on", "off", "checks", "label"),
    [
        (0.8, 0.1, [], "anatomy"),
        (0.6, 0.25, [], "anatomy"),  # thresholds are inclusive
        (0.8, 0.3, [], "mixed"),  # too many off-brain images
        (0.5, 0.1, [], "mixed"),
        (0.4, 0.1, [], "artifact"),
        (0.8, 0.1, [{"name": "x", "status": "fail"}], "mixed"),
        (0.8, 0.1, [{"name": "x", "status": "fail", "weighs_on_verdict": True}], "artifact"),
        (0.8, 0.1, [{"name": "x", "status": "error"}], "anatomy"),
    ],
)
def test_rules(on, off, checks, label):
    assert decide_verdict(attention(on, off), checks, CFG)["label"] == label


def test_summary_cites_numbers():
    v = decide_verdict(attention(0.52, 0.38, artifact=0.2), [], CFG)
    assert "On 38% of correctly classified images more than half of the Grad-CAM energy" in v["summary"]
    assert "(95% CI 33%–43%)" in v["summary"]
    assert "burned-in artifacts: 20%" in v["summary"]


def test_weak_and_empty_maps_are_reported():
    att = attention(0.8, 0.1)
    att["by_correct"]["correct"]["n_scored"] = 60
    v = decide_verdict(att, [], CFG)
    assert "40 of 100 correctly classified images have empty or weak maps and are not counted." in v["summary"]
    assert v["evidence"]["n_correct_weak_or_empty"] == 40


def test_no_evidence_is_mixed():
    v = decide_verdict(attention(float("nan"), float("nan")), [], CFG)
    assert v["label"] == "mixed" and "no evidence" in v["summary"]


def test_summary_cites_tumor_localisation():
    att = attention(0.8, 0.1)
    ci = lambda m: {"mean": m, "ci_low": m - 0.1, "ci_high": m + 0.1}  # noqa: E731
    tumor = {"n": 40, "pointing_hit": ci(0.7), "auprc": ci(0.42), "auprc_prior": ci(0.1)}
    att["by_correct"]["correct"]["tumor"] = tumor
    summary = decide_verdict(att, [], CFG)["summary"]
    assert "On the 40 of them that show a tumor, the map's peak lies on the tumor in 70%" in summary
    assert "(95% CI 60%–80%)" in summary and "AUPRC of 0.42, against 0.10 for the mean tumor location alone" in summary


def test_a_model_near_chance_gets_mixed_whatever_its_maps_show():
    v = decide_verdict(attention(0.1, 0.95), [], CFG, balanced_accuracy=0.53)
    assert v["label"] == "mixed"
    assert v["summary"].startswith("The model is near chance (test balanced accuracy 53%, below 60%)")
    assert v["evidence"]["balanced_accuracy"] == 0.53
    assert decide_verdict(attention(0.1, 0.95), [], CFG, balanced_accuracy=0.6)["label"] == "artifact"
    assert decide_verdict(attention(0.1, 0.95), [], CFG)["label"] == "artifact"  # accuracy unknown: rule skipped


def test_the_verdict_rests_on_correct_finding_class_images():
    att = attention(0.45, 0.6)  # all correct images: diffuse maps of "healthy" decisions included
    findings = attention(0.75, 0.1)["by_correct"]["correct"]
    att["findings"] = {"classes": ["tumor"], **findings}
    v = decide_verdict(att, [], CFG)
    assert v["label"] == "anatomy"
    assert "of correctly classified tumor images more than half" in v["summary"]
    assert decide_verdict(attention(0.45, 0.6), [], CFG)["label"] == "mixed"  # without findings: all correct images


@pytest.mark.parametrize(
    ("on", "off", "status", "label"),
    [
        (0.3, 0.9, "pass", "mixed"),  # off-target maps, but the counterfactual clears the model
        (0.3, 0.9, "warn", "artifact"),
        (0.3, 0.9, None, "artifact"),  # check not run: the maps decide alone
        (0.3, 0.9, "error", "artifact"),  # the check could not tell: the maps decide alone
        (0.5, 0.6, "warn", "artifact"),  # most images mostly off target, counterfactual unconvinced
        (0.5, 0.6, "pass", "mixed"),
        (0.5, 0.6, None, "mixed"),  # without the check, only on_anatomy <= artifact_max is artifact
        (0.5, 0.5, "warn", "mixed"),  # the share must exceed off_target_share_artifact
        (0.8, 0.1, "warn", "anatomy"),
    ],
)
def test_the_counterfactual_check_weighs_against_the_maps(on, off, status, label):
    checks = [] if status is None else [{"name": "artifact_reliance", "status": status, "weighs_on_verdict": True}]
    v = decide_verdict(attention(on, off), checks, CFG)
    assert v["label"] == label
    if status == "pass" and on <= 0.4:
        assert "the artifact_reliance check passed" in v["summary"]
    maps_alone = VerdictConfig(counterfactual_check="")  # judged by the maps alone, as before
    assert (decide_verdict(attention(on, off), checks, maps_alone)["label"] == "artifact") == (on <= 0.4)
