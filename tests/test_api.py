"""The notebook API: audit_model on arrays and an in-memory model, run_experiment, MLflow logging."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import audit
from audit.config import Config, load_config

CHECKS = {"checks": {"run": ["artifact_reliance", "data_randomization"]}, "scores": {"bootstrap": 100}}


@pytest.fixture(scope="module")
def tiny():
    """80 phantoms of 48 px (a marker on every tumor image) and a small Sequential CNN trained on 50."""
    from audit.config import DataConfig, SyntheticConfig
    from audit.data.synthetic import generate_dataset
    from audit.regions import regions_from_label_maps

    ds = generate_dataset(
        DataConfig(image_size=48, min_tumor_area=8, synthetic=SyntheticConfig(n_images=80, contrasts=("t1c",)),
                   artifacts={"marker": 1.0}),
        np.random.default_rng(0), workers=1,
    )  # fmt: skip
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((48, 48, 1)), keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.asarray(ds.images)
    model.fit(x[:50], ds.labels[:50], epochs=3, verbose=0)
    regions = regions_from_label_maps(np.asarray(ds.label_maps[50:]))
    return model, (x[50:] * 255).round().astype(np.uint8), ds.labels[50:], ds.class_names, regions


def test_audit_model_audits_arrays_and_a_live_model(tiny, tmp_path):
    model, x, y, names, regions = tiny
    result = audit.audit_model(model, x, y, class_names=names, regions=regions, config=CHECKS, out=tmp_path / "a")
    assert result.verdict["label"] in ("anatomy", "mixed", "artifact") and set(result.verdict) >= {
        "label", "summary", "evidence", "strength", "rule"}  # fmt: skip
    assert result.results["dataset"]["n_test"] == len(x) and result.results["dataset"]["classes"] == list(names)
    assert len(result.per_image) == len(x) and set(result.per_image["class"]) <= set(names)
    by_name = {c["name"]: c for c in result.checks}
    assert by_name["artifact_reliance"]["status"] in ("pass", "warn", "fail")
    assert by_name["data_randomization"]["status"] == "skipped"
    assert "retrain" in by_name["data_randomization"]["headline"]
    assert result.report_path == tmp_path / "a" / "report.html" and result.report_path.is_file()
    html = result._repr_html_()
    assert "ba-summary" in html and "<svg" in html and "Verdict: " in html and "<html" not in html
    assert result.gallery("most artifact-driven") and all(p.is_file() for p in result.gallery("misclassified"))
    with pytest.raises(ValueError, match="no gallery 'best'"):
        result.gallery("best")
    # The same call again reuses every cached stage; the run's config.toml reruns it from the command line.
    again = audit.audit_model(model, x, y, class_names=names, regions=regions, config=CHECKS, out=tmp_path / "a")
    assert set(again.results["stage_status"].values()) == {"cached"}
    from audit.pipeline import run_pipeline

    rerun = run_pipeline(load_config(tmp_path / "a" / "config.toml"), tmp_path / "a")
    same = [json.dumps(r.results["verdict"], sort_keys=True) for r in (rerun, result)]  # NaN-safe comparison
    assert same[0] == same[1]
    saved = result.save(tmp_path / "copy")
    assert (
        saved.is_file()
        and (tmp_path / "copy" / "results.json").is_file()
        and not (tmp_path / "copy" / "cache").exists()
    )


def test_audit_model_refuses_bad_input_in_one_line(tiny, tmp_path):
    model, x, y, names, _ = tiny
    cases = [
        (dict(images=x.astype(np.float32)), r"float images must lie in \[0, 1\]"),
        (dict(labels=y[:-1]), "labels must be 30 integers"),
        (dict(labels=y + 5), r"labels must lie in 0\.\.1"),
        (dict(masks=np.zeros((3, 48, 48), bool)), r"masks must be \(30, 48, 48\)"),
        (dict(regions=np.full((30, 48, 48), 9)), "regions must be"),
        (dict(model="not a model"), "model must be a keras.Model"),
        (dict(config={"cam": {"method": "nope"}}), "cam.method: unknown CAM method 'nope'"),
        (dict(config={"cam": 3}), r"config\['cam'\] must be a dict"),
    ]
    for change, match in cases:
        kw = {"model": model, "images": x, "labels": y, "class_names": names, **change}
        with pytest.raises(ValueError, match=match) as info:
            audit.audit_model(kw.pop("model"), kw.pop("images"), kw.pop("labels"), **kw, out=tmp_path / "bad")
        assert "\n" not in str(info.value)


def test_config_defaults_are_the_default_experiments_audit_settings():
    default, base = load_config("experiments/default.toml"), Config()
    for section in ("cam", "regions", "scores", "checks", "verdict"):
        assert getattr(default, section) == getattr(base, section), section


def test_run_experiment_is_the_command_lines_run(tmp_path):
    result = audit.run_experiment("experiments/quick.toml", out=tmp_path / "q")
    assert result.report_path.is_file()
    assert json.loads((tmp_path / "q" / "results.json").read_text())["verdict"] == result.verdict


def test_mlflow_logs_config_verdict_metrics_and_files_to_a_local_store(tiny, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")  # the [mlflow] extra; `make test` installs it
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    model, x, y, names, regions = tiny
    result = audit.audit_model(model, x, y, class_names=names, regions=regions, config=CHECKS, out=tmp_path / "m",
                               mlflow=True)  # fmt: skip
    client = mlflow.tracking.MlflowClient()
    (experiment,) = [e for e in client.search_experiments() if e.name == result.results["experiment"]]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["brain_audit.verdict"] == result.verdict["label"]
    assert run.data.tags["brain_audit.check.data_randomization"] == "skipped"
    assert run.data.params["audit.cam.method"] == "auto" and run.data.params["audit.data.source"] == "saved"
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.results["model"]["test_accuracy"])
    assert run.data.metrics["check.data_randomization"] == -1
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "results.json", "per_image.csv", "config.toml"} <= files
    # Inside an active run the audit logs into it.
    with mlflow.start_run() as active:
        audit.audit_model(model, x, y, class_names=names, regions=regions, config=CHECKS, out=tmp_path / "m",
                          mlflow=True)  # fmt: skip
    assert client.get_run(active.info.run_id).data.tags["brain_audit.verdict"] == result.verdict["label"]
