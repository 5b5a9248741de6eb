"""Benchmark mode: swapped shortcuts, the reliance interval, the detection table, and the --quick run."""

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import phantoms

from audit.benchmark import (
    SITE,
    Cell,
    cell_config,
    cells_of,
    correlations,
    detection_table,
    paired_bootstrap,
    quick_config,
    validate,
)
from audit.config import BenchmarkConfig, Config, DataConfig, load_config

ROOT = Path(__file__).resolve().parent.parent


def _phantoms(swap: bool, **data):
    from audit.data.synthetic import generate_dataset

    cfg = phantoms(n_images=24, image_size=48, contrasts=("t1c",), min_tumor_area=8, **data)
    return generate_dataset(cfg, np.random.default_rng(3), workers=1, swap_ties=swap)


def test_swapped_ties_move_the_artifact_to_the_other_class_and_keep_the_anatomy():
    tied, swapped = (
        _phantoms(False, artifacts={"marker": 1.0}),
        _phantoms(True, artifacts={"marker": 1.0}),
    )
    tumor = tied.labels == tied.class_names.index("tumor")
    assert np.array_equal(tied.labels, swapped.labels) and np.array_equal(tied.split, swapped.split)
    assert np.array_equal(tied.meta["marker"].to_numpy(bool), tumor)
    assert np.array_equal(swapped.meta["marker"].to_numpy(bool), ~tumor)
    from audit.data.labels import LABELS

    # same heads and tumors: the label maps agree wherever neither image has its marker
    clear = (tied.label_maps != LABELS["artifact"]) & (swapped.label_maps != LABELS["artifact"])
    assert np.array_equal(tied.label_maps[clear], swapped.label_maps[clear])


def test_swapped_sites_and_untied_shortcuts():
    tied, swapped = _phantoms(False, n_sites=2, site_p=1.0), _phantoms(True, n_sites=2, site_p=1.0)
    site_of = lambda ds, label: set(ds.meta["site"][ds.labels == label])  # noqa: E731
    assert len(site_of(tied, 0)) == len(site_of(tied, 1)) == 1 and site_of(tied, 0) != site_of(tied, 1)
    assert site_of(swapped, 0) == site_of(tied, 1) and site_of(swapped, 1) == site_of(tied, 0)
    # p = 0: the shortcut is independent of the label, and swapping changes nothing at all.
    a, b = _phantoms(False, artifacts={"frame": 0.0}), _phantoms(True, artifacts={"frame": 0.0})
    assert np.array_equal(a.images, b.images)


def test_paired_bootstrap_known_answers():
    assert paired_bootstrap(np.ones(50), np.zeros(50), 200, 0) == (1.0, 1.0)
    assert paired_bootstrap(np.ones(50), np.ones(50), 200, 0) == (0.0, 0.0)
    low, high = paired_bootstrap(np.r_[np.ones(25), np.zeros(25)], np.zeros(50), 500, 0)
    assert low < 0.5 < high and low > 0.2 and high < 0.8
    assert all(math.isnan(v) for v in paired_bootstrap(np.zeros(0), np.zeros(0), 200, 0))


def test_detection_table_and_correlations_on_known_rows():
    rows = pd.DataFrame({
        "method": ["gradcam"] * 4,
        "reliant": [True, True, False, False],
        "strong": [True, False, False, False],
        "verdict": ["artifact", "mixed", "anatomy", "artifact"],
        "check_artifact_reliance": ["fail", "fail", "pass", "warn"],
        "drop": [0.5, 0.1, 0.0, 0.02],
        "on_anatomy": [0.1, 0.5, 0.9, 0.6],
        "energy_artifact": [0.4, 0.2, 0.0, 0.1],
    })  # fmt: skip
    table = detection_table(rows).set_index("signal")
    art = table.loc["verdict is artifact"]
    assert (art.sensitivity, art.sensitivity_strong, art.specificity) == (0.5, 1.0, 0.5)
    assert (art.n_reliant, art.n_strong, art.n_not_reliant) == (2, 1, 2)
    assert table.loc["verdict is not anatomy"].sensitivity == 1.0
    assert table.loc["verdict is not anatomy"].specificity == 0.5
    assert table.loc["artifact_reliance failed"].sensitivity == 1.0
    assert table.loc["artifact_reliance failed"].specificity == 1.0
    rho = correlations(rows).iloc[0]
    assert rho.rho_off_anatomy == pytest.approx(1.0) and rho.rho_artifact_energy == pytest.approx(1.0)


def test_only_cells_whose_model_learnt_count_and_p0_anatomy_share():
    rows = pd.DataFrame({
        "method": ["hirescam"] * 5,
        "p": [0.0, 0.0, 0.0, 1.0, 1.0],
        "learnt": [True, True, False, True, False],
        "reliant": [False, False, False, True, True],
        "strong": [False, False, False, True, True],
        "verdict": ["anatomy", "mixed", "mixed", "artifact", "mixed"],
    })  # fmt: skip
    table = detection_table(rows).set_index("signal")
    art = table.loc["verdict is artifact"]
    assert (art.n_reliant, art.n_not_reliant, art.sensitivity) == (1, 2, 1.0)  # the untrained cells left out
    assert (art.anatomy_at_p0, art.n_p0) == (0.5, 2)


def test_cell_config_plants_one_shortcut_on_the_cells_head():
    cfg = load_config(ROOT / "experiments" / "benchmark.toml")
    marker = cell_config(cfg, Cell("mni152", "present", "marker", 0.9), "gradcam_pp")
    assert dict(marker.data.artifacts) == {"marker": 0.9} and marker.data.synthetic.n_sites == 0
    assert marker.cam.method == "gradcam_pp" and marker.benchmark == BenchmarkConfig()
    assert (marker.data.synthetic.anatomy, marker.data.synthetic.skull) == ("mni152", "present")
    site = cell_config(cfg, Cell("colin27", "stripped", SITE, 0.5), "gradcam")
    assert dict(site.data.artifacts) == {} and site.data.synthetic.n_sites == 2 and site.data.synthetic.site_p == 0.5
    assert (site.data.synthetic.anatomy, site.data.synthetic.skull) == ("colin27", "stripped")
    # the methods of a cell share data and model: their stage keys agree up to the CAM stage
    from audit.pipeline import stage_keys

    zoom = Cell("mni152", "present", "zoom", 1.0)
    a, b = stage_keys(cell_config(cfg, zoom, "gradcam")), stage_keys(cell_config(cfg, zoom, "gradient"))
    assert a["data"] == b["data"] and a["train"] == b["train"] and a["cam"] != b["cam"]
    other_head = stage_keys(cell_config(cfg, Cell("colin27", "present", "zoom", 1.0), "gradcam"))
    assert other_head["data"] != a["data"]
    q = quick_config(cfg)
    assert q.benchmark.strengths == (0.0, 1.0) and q.experiment.name == "benchmark-quick"
    assert q.benchmark.anatomies == ("mni152",) and q.benchmark.skulls == ("present",)


def test_cells_run_over_heads_then_shortcuts_and_the_table_is_per_head():
    b = BenchmarkConfig(artifacts=("marker", SITE), strengths=(0.0, 1.0), anatomies=("mni152", "colin27"),
                        skulls=("present", "stripped"))  # fmt: skip
    cells = cells_of(b)
    assert len(cells) == 16 and cells[0].name == "mni152-present-marker-p0"
    assert cells[-1].name == "colin27-stripped-site-p1"
    rows = pd.DataFrame({
        "anatomy": ["mni152", "mni152", "colin27", "colin27"], "skull": ["present"] * 4,
        "method": ["gradcam"] * 4, "p": [0.0, 1.0, 0.0, 1.0], "learnt": [True] * 4,
        "reliant": [False, True, False, True], "strong": [False, True, False, True],
        "verdict": ["anatomy", "artifact", "mixed", "anatomy"],
    })  # fmt: skip
    table = detection_table(rows)
    art = table[table["signal"] == "verdict is artifact"].set_index("anatomy")
    assert art.loc["mni152", "sensitivity"] == 1.0 and art.loc["colin27", "sensitivity"] == 0.0
    assert art.loc["mni152", "anatomy_at_p0"] == 1.0 and art.loc["colin27", "anatomy_at_p0"] == 0.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"data": DataConfig(source="folder", path="x")}, "data.source must be 'synthetic'"),
        ({"benchmark": BenchmarkConfig(artifacts=("sticker",))}, "unknown ['sticker']"),
        ({"benchmark": BenchmarkConfig(artifacts=("marker",), strengths=(0.0, 1.5))}, "strengths"),
        ({"benchmark": BenchmarkConfig(artifacts=("marker",), methods=("gradcam", "sticker_cam"))}, "sticker_cam"),
        ({"benchmark": BenchmarkConfig(artifacts=("marker",), bootstrap=10)}, "bootstrap"),
    ],
)
def test_validate_rejects_a_benchmark_that_cannot_run(change, message):
    cfg = dataclasses.replace(Config(benchmark=BenchmarkConfig(artifacts=("marker",))), **change)
    with pytest.raises(ValueError, match=None) as err:
        validate(cfg)
    assert message in str(err.value)


def test_quick_needs_a_benchmark_experiment():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_audit.py"), str(ROOT / "experiments" / "quick.toml"), "--quick"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "needs [benchmark] artifacts" in proc.stderr


def test_class_drops_known_values():
    from audit.benchmark import class_drops

    labels = np.array([0, 0, 1, 1, 1, 1])
    tied = np.array([1, 1, 0, 1, 1, 0], float)
    swapped = np.array([0, 1, 1, 1, 1, 1], float)  # class 0 loses half, class 1 gains half: overall -1/6
    assert class_drops(labels, tied, swapped) == {0: 0.5, 1: -0.5}


def test_excess_drops_known_values():
    from audit.benchmark import excess_drops

    labels = np.array([0, 0, 0, 0, 1, 1])
    model = (np.array([1, 1, 1, 1, 1, 0], float), np.array([0, 0, 1, 1, 1, 0], float))  # class 0 drops 1/2
    reference = (np.array([1, 1, 1, 1, 1, 1], float), np.array([0, 1, 1, 1, 1, 1], float))  # class 0 drops 1/4
    excess = excess_drops(labels, model, reference, 2000, 0)
    assert excess[0][0] == pytest.approx(0.25) and excess[1][0] == pytest.approx(0.0)
    assert excess[0][1] <= 0.25 <= excess[0][2] and excess[0][1] >= 0.0  # no row of class 0 has a negative excess
    assert excess[1][1:] == (0.0, 0.0)  # class 1: both models lose nothing on either row
    assert excess_drops(labels, model, model, 100, 0) == {0: (0.0, 0.0, 0.0), 1: (0.0, 0.0, 0.0)}


def test_quick_benchmark_end_to_end(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, str(ROOT / "run_audit.py"), str(ROOT / "experiments" / "benchmark.toml"), "--quick",
           "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "benchmark.json").read_text())
    cells = pd.DataFrame(report["cells"])
    assert len(cells) == 4 * 2 and set(cells["method"]) == {"hirescam", "gradcam"}
    # Every cell's model learnt its task, so the run tests detection, not only the plumbing.
    assert cells["learnt"].all() and report["summary"]["untrained_cells"] == []
    p0 = cells[cells["p"] == 0]
    assert (p0["drop"] == 0).all() and (p0["n_changed"] == 0).all() and not p0["reliant"].any()
    assert (p0["drop_worst_class"] == 0).all()
    assert (cells["drop_worst_class"] >= cells["drop"] - 1e-9).all()  # the overall drop is a mean of the classes'
    # the marker and the sites tied at p = 1 are shortcuts the model takes: measured, and flagged
    p1 = cells[cells["p"] == 1]
    assert p1["strong"].all() and (p1["verdict"] == "artifact").all()
    assert report["summary"]["artifact_verdicts_at_p0"] == 0
    assert report["summary"]["anatomy_at_p0"]["hirescam"] == 1.0
    assert len(pd.read_csv(out / "benchmark_cells.csv")) == 8
    assert set(pd.read_csv(out / "benchmark_detection.csv")["method"]) == {"hirescam", "gradcam"}
    html = (out / "benchmark.html").read_text()
    assert "Detection" in html and "data:image/png;base64," in html
    assert "cells/mni152-present-site-p1/hirescam/report.html" in html
    assert (out / "cells" / "mni152-present-site-p1" / "gradcam" / "report.html").is_file()

    # Resumable: a second run recomputes nothing (no new cache entries, same numbers).
    entries = sorted(p.name for p in out.glob("cells/*/cache/*"))
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "running ..." not in again.stdout + again.stderr
    assert sorted(p.name for p in out.glob("cells/*/cache/*")) == entries
    assert json.loads((out / "benchmark.json").read_text())["cells"] == report["cells"]


def test_render_images_gives_the_same_images_as_the_whole_set():
    from audit.data.synthetic import render_images

    cfg = phantoms(n_images=24, image_size=48, contrasts=("t1c",), min_tumor_area=8, artifacts={"zoom": 1.0})
    for swap in (False, True):
        whole = _phantoms(swap, artifacts={"zoom": 1.0})
        some = np.array([3, 0, 17, 22])
        assert np.array_equal(render_images(cfg, np.random.default_rng(3), some, swap_ties=swap), whole.images[some])


def test_a_swapped_zoom_moves_the_field_of_view_and_keeps_each_slice():
    """The drop with a zoom swapped compares the same slices (level, pose, contrast, tumor) framed two ways, not a
    second draw of them: before 0.10.10 the zoom's draws shifted the image's stream, and a tumor's least area
    was counted in the zoomed pixels, so a swapped test set was mostly other slices."""
    tied, swapped = _phantoms(False, artifacts={"zoom": 1.0}), _phantoms(True, artifacts={"zoom": 1.0})
    assert np.array_equal(tied.meta["zoom"].to_numpy(bool), ~swapped.meta["zoom"].to_numpy(bool))
    assert np.all(tied.meta["fov_mm"].to_numpy() != swapped.meta["fov_mm"].to_numpy())
    for column in ("level", "rotation", "scale", "contrast", "tumor_kind", "tumor_center", "tumor_radius_mm"):
        assert tied.meta[column].tolist() == swapped.meta[column].tolist(), column


def test_reframe_moves_a_render_into_its_zoomed_twins_framing():
    """benchmarks/zoom_residual.py moves one render into the other's framing: by the renderer's geometry the
    plain slice's labels land where the zoomed render has them (up to the elastic displacement and partial
    volume), and a framing onto itself changes nothing."""
    from audit.data.synthetic import reframe

    tied, swapped = _phantoms(False, artifacts={"zoom": 1.0}), _phantoms(True, artifacts={"zoom": 1.0})
    rows_a, rows_b = tied.meta.to_dict("records"), swapped.meta.to_dict("records")
    plain = [i for i, r in enumerate(rows_a) if not r["zoom"]]
    assert plain
    for i in plain:
        la, lb = tied.label_maps[i], swapped.label_maps[i]
        moved = reframe(la, rows_a[i], rows_b[i], nearest=True)
        iou = ((moved > 0) & (lb > 0)).sum() / ((moved > 0) | (lb > 0)).sum()
        unmoved = ((la > 0) & (lb > 0)).sum() / ((la > 0) | (lb > 0)).sum()
        assert iou > 0.95 and unmoved < 0.85, (i, iou, unmoved)  # the head: 0.98 reframed, 0.6-0.7 as rendered
        assert np.array_equal(reframe(tied.images[i, ..., 0], rows_a[i], rows_a[i]), tied.images[i, ..., 0])
    other = dict(rows_b[plain[0]], rotation=float(rows_b[plain[0]]["rotation"]) + 0.1)
    with pytest.raises(ValueError, match="not framings of one slice"):
        reframe(tied.images[plain[0], ..., 0], rows_a[plain[0]], other)


@pytest.mark.parametrize("artifact", ["intensity", "marker", "zoom"])
def test_a_cell_at_p0_and_at_p1_share_images_wherever_the_shortcut_agrees(artifact):
    """benchmarks/shortcut_free_reference.py scores a p = 0 model on the p = 1 cell's test images: that is
    the same images, split and labels, differing only where the shortcut's presence differs."""
    free, tied = _phantoms(False, artifacts={artifact: 0.0}), _phantoms(False, artifacts={artifact: 1.0})
    assert np.array_equal(free.labels, tied.labels) and np.array_equal(free.split, tied.split)
    same = free.meta[artifact].to_numpy(bool) == tied.meta[artifact].to_numpy(bool)
    assert 0 < same.sum() < len(same)  # both kinds of image are there
    assert np.array_equal(free.images[same], tied.images[same])
    assert not np.any(np.all(free.images[~same] == tied.images[~same], axis=(1, 2, 3)))


class _Stub:
    """A two-class 'model' for measure_reliance: tumor where the image's mean exceeds ``threshold``."""

    def __init__(self, size: int, threshold: float):
        self.inputs, self.output_shape, self.threshold = [np.zeros((1, size, size, 1))], (None, 2), threshold

    def predict_on_batch(self, x):
        tumor = (x.mean(axis=(1, 2, 3)) > self.threshold).astype(np.float32)
        return np.stack([1 - tumor, tumor], axis=1)


def test_measure_reliance_against_a_reference_model():
    from audit.benchmark import measure_reliance
    from audit.data.synthetic import generate_dataset

    base = load_config(ROOT / "experiments" / "benchmark.toml")
    data = phantoms(n_images=40, image_size=48, contrasts=("t1c",), min_tumor_area=8, artifacts={"intensity": 1.0})
    cfg = dataclasses.replace(base, data=data, experiment=dataclasses.replace(base.experiment, seed=5))
    ds = generate_dataset(data, np.random.default_rng([5, 1]), workers=1)
    test = ds.indices("test")
    assert set(ds.labels[test]) == {0, 1}
    reader = _Stub(48, float(np.median(ds.images[test].mean(axis=(1, 2, 3)))))  # brightness: the windowing's cue
    alone = measure_reliance(cfg, ds, reader, 0.2, 200)
    assert alone["drop_worst_class"] > 0.2  # it reads the windowing (known from the stub), so swapping it costs
    same = measure_reliance(cfg, ds, reader, 0.2, 200, reference=reader)
    assert {k: same[k] for k in alone} == alone  # the reference adds columns and changes none
    assert same["excess_worst_class"] == same["excess_ci_low"] == same["excess_ci_high"] == 0.0
    assert same["reference_drop_worst_class"] == alone["drop_worst_class"]
    always_healthy = _Stub(48, np.inf)  # drops nothing in either class
    against = measure_reliance(cfg, ds, reader, 0.2, 200, reference=always_healthy)
    assert against["reference_drop_worst_class"] == 0.0 and against["reference_balanced_accuracy_tied"] == 0.5
    assert against["excess_worst_class"] == pytest.approx(alone["drop_worst_class"])
    assert against["excess_class"] == alone["worst_class"]


def _mini(**benchmark) -> Config:
    """The quick matrix cut to the marker, one method and 240 phantoms trained 2 epochs: plumbing, not detection."""
    cfg = quick_config(load_config(ROOT / "experiments" / "benchmark.toml"))
    r = dataclasses.replace
    return r(
        cfg,
        data=r(cfg.data, synthetic=r(cfg.data.synthetic, n_images=240)),
        train=r(cfg.train, epochs=2, min_epochs=0),
        checks=r(cfg.checks, run=("artifact_reliance",)),
        benchmark=r(cfg.benchmark, artifacts=("marker",), methods=("hirescam",), **benchmark),
    )


def test_seeds_are_a_dimension_of_the_matrix_with_per_seed_detection_and_agreement():
    from audit.benchmark import seed_agreement

    b = BenchmarkConfig(artifacts=("marker",), strengths=(0.0, 1.0), anatomies=("mni152",), seeds=(3, 4))
    cells = cells_of(b)
    assert [c.name for c in cells] == ["mni152-present-marker-p0-s3", "mni152-present-marker-p0-s4",
                                       "mni152-present-marker-p1-s3", "mni152-present-marker-p1-s4"]  # fmt: skip
    cfg = load_config(ROOT / "experiments" / "benchmark.toml")
    assert cell_config(cfg, cells[1], "gradcam").experiment.seed == 4
    assert cell_config(cfg, Cell("mni152", "present", "marker", 1.0), "gradcam").experiment.seed == cfg.experiment.seed
    assert Cell("mni152", "present", "marker", 1.0).name == "mni152-present-marker-p1"  # no seeds: names as before
    rows = pd.DataFrame({
        "anatomy": ["mni152"] * 4, "skull": ["present"] * 4, "artifact": ["marker"] * 4, "method": ["hirescam"] * 4,
        "p": [0.0, 0.0, 1.0, 1.0], "seed": [3, 4, 3, 4], "learnt": [True, True, True, False],
        "reliant": [False, False, True, True], "strong": [False, False, True, True],
        "verdict": ["anatomy", "anatomy", "artifact", "mixed"],
    })  # fmt: skip
    table = detection_table(rows)
    art = table[table["signal"] == "verdict is artifact"].set_index("seed")
    assert art.loc[3, "sensitivity"] == 1.0 and math.isnan(art.loc[4, "sensitivity"])  # seed 4's p = 1 did not learn
    agree = seed_agreement(rows).iloc[0]
    assert (agree["n_cells"], agree["agree"], agree["n_learnt_cells"], agree["agree_learnt"]) == (2, 0.5, 1, 1.0)
    with pytest.raises(ValueError, match="benchmark.seeds has repeats"):
        validate(dataclasses.replace(cfg, benchmark=dataclasses.replace(cfg.benchmark, seeds=(1, 1))))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"executor": "dask"}, "benchmark.executor: unknown 'dask'"),
        ({"workers": -1}, "benchmark.workers and benchmark.threads must be"),
        ({"threads": -2}, "benchmark.workers and benchmark.threads must be"),
    ],
)
def test_validate_rejects_an_unknown_executor(change, message):
    cfg = load_config(ROOT / "experiments" / "benchmark.toml")
    with pytest.raises(ValueError, match=message):
        validate(dataclasses.replace(cfg, benchmark=dataclasses.replace(cfg.benchmark, **change)))


def test_executor_flags_apply_to_a_benchmark_only(capsys):
    from audit import cli

    assert cli.main(["experiments/quick.toml", "--executor", "ray"]) == 2
    assert "--executor, --workers and --address apply to a benchmark" in capsys.readouterr().err


def test_the_matrix_on_a_2_worker_ray_cluster_equals_local_and_a_failing_cell_is_isolated(tmp_path):
    pytest.importorskip("ray")  # the [ray] extra; `make test` installs it
    from audit.benchmark import run_benchmark

    local = run_benchmark(_mini(), tmp_path / "local")
    cfg = _mini(executor="ray", workers=2, strengths=(0.0, 0.5, 1.0))
    blocked = tmp_path / "ray" / "cells" / "mni152-present-marker-p0.5"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the cell's folder goes: this cell cannot run")
    on_ray = run_benchmark(cfg, tmp_path / "ray")
    assert list(on_ray["summary"]["failed_cells"]) == ["mni152-present-marker-p0.5"]
    assert on_ray["summary"]["failed_cells"]["mni152-present-marker-p0.5"].startswith(("FileExistsError", "NotADir"))
    drop = ["report", "threads"]  # where the cells ran, not what they found
    a = pd.DataFrame(local["cells"]).drop(columns=drop).set_index("cell").sort_index()
    b = pd.DataFrame(on_ray["cells"]).drop(columns=drop).set_index("cell").sort_index()
    pd.testing.assert_frame_equal(a, b)  # the same verdicts, drops, accuracies and attention, to the last bit
    from audit.cores import available_cores

    assert {c["threads"] for c in on_ray["cells"]} == {max(1, available_cores() // 2)}  # each worker's share
    assert "failed</strong>" in (tmp_path / "ray" / "benchmark.html").read_text()
    assert not on_ray["summary"]["done"]


def test_a_killed_benchmark_resumes_from_the_cells_it_finished(tmp_path):
    import signal
    import time

    out = tmp_path / "bench"
    sets = ["data.synthetic.n_images=240", "train.epochs=2", "train.min_epochs=0", 'checks.run=["artifact_reliance"]',
            "scores.bootstrap=100", 'benchmark.artifacts=["marker"]', 'benchmark.methods=["hirescam"]',
            "benchmark.strengths=[0.0, 1.0]", 'benchmark.anatomies=["mni152"]', 'benchmark.skulls=["present"]',
            "benchmark.bootstrap=200"]  # fmt: skip
    cmd = [sys.executable, str(ROOT / "run_audit.py"), str(ROOT / "experiments" / "benchmark.toml"),
           "--out", str(out), *[a for s in sets for a in ("--set", s)]]  # fmt: skip
    first = out / "cells" / "mni152-present-marker-p0" / "reliance.json"
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not first.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert first.is_file(), "the first cell never finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "benchmark.json").exists()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "cells" / "mni152-present-marker-p0" / "hirescam" / "results.json").read_text())
    assert results["stage_status"]["train"] == "cached" and results["stage_status"]["cam"] == "cached"
    assert len(json.loads((out / "benchmark.json").read_text())["cells"]) == 2
