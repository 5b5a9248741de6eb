"""Benchmark mode: does the audit catch the shortcuts we planted?

For every phantom head (``benchmark.anatomies``: MNI152, Colin27) and skull mode
(``benchmark.skulls``: with skull, skull-stripped), every planted shortcut (an artifact of the
phantom generator, or ``"site"``: scanner sites with their burned-in names) and every label-tie
strength p in ``[benchmark]``, one model is trained on phantoms where that shortcut alone follows
the tumor class with strength p (a *cell*), and the audit runs on it once per CAM method.  The
methods of a cell share one stage cache, so data and model are made once; every stage is cached
and a stopped benchmark resumes.

Ground truth, measured for every model, not assumed:

- ``drop`` = accuracy on the cell's test set (the shortcut tied to the label as in training)
  minus accuracy on the same test images with the shortcut swapped to the other class
  (:func:`audit.data.synthetic.render_images` with ``swap_ties``: same labels and seeds,
  same anatomy and tumors except where a zoom was added or taken away; with p = 0 nothing
  changes and the drop is exactly 0);
- its 95% interval from a paired bootstrap over test images (``benchmark.bootstrap``
  resamples, percentile method; pairs are resampled as units, so the interval holds whether
  or not the two images of a pair show the same slice);
- the model *relies* on the shortcut when the interval's lower end is above 0, and relies
  *strongly* when ``drop >= benchmark.strong_drop``.

Audit outcome per (cell, method), turned into yes/no signals: the verdict is ``artifact``; the
verdict is not ``anatomy``; each check failed.  The detection table gives, per method and
signal, sensitivity (flagged among relying models), sensitivity on strong reliance, and
specificity (not flagged among the others); and Spearman's rank correlation, across cells,
between the measured drop and two attention scores (energy off brain + tumor, energy on the
artifact region) of the correctly classified finding images.

Outputs in ``out``: ``benchmark.json``, ``benchmark_cells.csv`` (one row per cell and method),
``benchmark_detection.csv``, ``benchmark.html``; each cell's audits under ``cells/``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from audit.config import BenchmarkConfig, Config
from audit.cores import available_cores, threads_in_use
from audit.io import write_text_atomic
from audit.progress import say
from audit.sourcecode import function_digest

__all__ = [
    "SITE", "Cell", "cell_config", "cells_of", "class_drops", "detection_table", "excess_drops",
    "measure_reliance", "quick_config",
    "run_benchmark", "run_cell", "seed_agreement",
]  # fmt: skip

SITE = "site"


def quick_config(cfg: Config) -> Config:
    """The ``--quick`` variant: marker and site at p = 0 and 1, Grad-CAM and the vanilla gradient,
    300 phantoms of 64 px and a narrow seed CNN (a few minutes on 2 cores; one end-to-end test)."""
    r = dataclasses.replace
    return r(
        cfg,
        experiment=r(cfg.experiment, name=f"{cfg.experiment.name}-quick"),
        data=r(cfg.data, image_size=64, min_tumor_area=25, synthetic=r(cfg.data.synthetic, n_images=600)),
        model=r(cfg.model, width=16, dense_units=64),
        train=r(cfg.train, epochs=min(cfg.train.epochs, 15), patience=3, min_epochs=5, batch_size=16),
        scores=r(cfg.scores, bootstrap=200),
        report=r(cfg.report, gallery_size=2),
        benchmark=r(cfg.benchmark, artifacts=("marker", SITE), strengths=(0.0, 1.0), methods=("hirescam", "gradcam"),
                    anatomies=("mni152",), skulls=("present",), bootstrap=200),
    )  # fmt: skip


def validate(cfg: Config) -> None:
    """One-line errors for a benchmark that cannot run, before anything is trained."""
    from audit.cam.methods import NAMES, check_names
    from audit.data.artifacts import ARTIFACTS

    b = cfg.benchmark
    if cfg.data.source != "synthetic":
        raise ValueError(f"benchmark mode plants shortcuts in phantoms: data.source must be 'synthetic', not "
                         f"{cfg.data.source!r}")  # fmt: skip
    if cfg.data.drop_duplicates:
        raise ValueError("benchmark mode needs data.drop_duplicates = false (the swapped test set must match)")
    unknown = [a for a in b.artifacts if a not in ARTIFACTS and a != SITE]
    if unknown:
        raise ValueError(f"benchmark.artifacts: unknown {unknown}; available: {', '.join([*ARTIFACTS, SITE])}")
    from audit.data.anatomy import ANATOMIES

    unknown = [a for a in b.anatomies if a not in ANATOMIES]
    if unknown or not b.anatomies:
        raise ValueError(f"benchmark.anatomies: unknown or empty {unknown or []}; available: {', '.join(ANATOMIES)}")
    unknown = [s for s in b.skulls if s not in ("present", "stripped")]
    if unknown or not b.skulls:
        raise ValueError(f"benchmark.skulls: unknown or empty {unknown or []}; available: present, stripped")
    bad = [p for p in b.strengths if not 0 <= p <= 1]
    if bad or not b.strengths:
        raise ValueError(f"benchmark.strengths must be a non-empty list of values in [0, 1], got {list(b.strengths)}")
    if not b.methods:
        raise ValueError(f"benchmark.methods is empty; available: {', '.join(NAMES)}")
    check_names(b.methods, "benchmark.methods")
    if not 0 < b.strong_drop <= 1 or b.bootstrap < 100:
        raise ValueError("benchmark.strong_drop must lie in (0, 1] and benchmark.bootstrap be at least 100")
    if len(set(b.seeds)) != len(b.seeds):
        raise ValueError(f"benchmark.seeds has repeats: {list(b.seeds)}")
    from audit.executors import check_executor, import_ray

    check_executor(b.executor)
    if b.workers < 0 or b.threads < 0:
        raise ValueError(f"benchmark.workers and benchmark.threads must be 0 (automatic) or more, got {b.workers}, "
                         f"{b.threads}")  # fmt: skip
    if b.executor == "ray":
        import_ray()


MIN_LEARNT = 0.8
"""A cell counts in the detection table only when its model's test balanced accuracy reaches this: a
``mixed`` verdict on a model at chance (rule 0) is not specificity."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a head, a skull mode, a planted shortcut and its tie strength, and the
    training seed when ``benchmark.seeds`` sets one (None: ``experiment.seed``)."""

    anatomy: str
    skull: str
    artifact: str
    p: float
    seed: int | None = None

    @property
    def name(self) -> str:
        """Folder and display name, e.g. ``colin27-stripped-marker-p1`` (``...-p1-s3`` with seed 3)."""
        seed = "" if self.seed is None else f"-s{self.seed}"
        return f"{self.anatomy}-{self.skull}-{self.artifact}-p{self.p:g}{seed}"


def cells_of(b: BenchmarkConfig) -> list[Cell]:
    """The matrix in run order: anatomy, then skull mode, then shortcut, then strength, then seed."""
    seeds = b.seeds or (None,)
    return [Cell(a, s, art, p, seed) for a in b.anatomies for s in b.skulls for art in b.artifacts
            for p in b.strengths for seed in seeds]  # fmt: skip


def cell_config(cfg: Config, cell: Cell, method: str) -> Config:
    """The audit of one cell with one method: the experiment's settings on the cell's head and skull
    mode, with its artifact (or two sites) as the only shortcut, tied with strength ``p``, and every
    other artifact absent."""
    r = dataclasses.replace
    syn = r(cfg.data.synthetic, anatomy=cell.anatomy, skull=cell.skull)
    if cell.artifact == SITE:
        data = r(cfg.data, artifacts={}, synthetic=r(syn, n_sites=2, site_p=float(cell.p)))
    else:
        data = r(cfg.data, artifacts={cell.artifact: float(cell.p)}, synthetic=r(syn, n_sites=0))
    seed = cfg.experiment.seed if cell.seed is None else cell.seed
    return r(
        cfg,
        experiment=r(cfg.experiment, name=f"{cfg.experiment.name}-{cell.name}", seed=seed),
        data=data,
        cam=r(cfg.cam, method=method, panel=(method,)),  # the verdict of this one method
        benchmark=BenchmarkConfig(),
    )


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int, seed: int | list[int]) -> tuple[float, float]:
    """95% percentile interval of ``mean(a) - mean(b)`` over paired resamples of the rows."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0:
        return math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, len(a), (resamples, len(a)))
    diffs = a[idx].mean(axis=1) - b[idx].mean(axis=1)
    return float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def class_drops(labels: np.ndarray, tied_ok: np.ndarray, swapped_ok: np.ndarray) -> dict[int, float]:
    """Per class k present in ``labels``: mean(tied_ok[labels == k]) - mean(swapped_ok[labels == k]), the
    accuracy the class loses when its shortcut is swapped (``*_ok``: 1 where a prediction was right)."""
    labels = np.asarray(labels)
    return {int(k): float(np.mean(tied_ok[labels == k]) - np.mean(swapped_ok[labels == k])) for k in np.unique(labels)}


def measure_reliance(cfg: Config, ds, model, strong_drop: float, resamples: int, reference=None) -> dict:
    """Accuracy with the shortcut tied as in training minus with it swapped, on the same test images
    (both after ``data.preprocess``, as the dataset's images are), overall and per class.

    The per-class drop is there because the overall one can cancel: when the swap also changes how
    visible the anatomy is (a windowing that saturates the tumor, swapped off the tumor images), one
    class can lose what the other gains (measured, 0.10.3: healthy 0.79 -> 0.67, tumor 0.65 -> 0.79,
    overall drop -0.007).  ``drop_worst_class`` is the largest class's drop, ``worst_class`` its name.

    ``reference``: a model of the same pipeline trained where the shortcut is independent of the class
    (the cell at p = 0), scored on the same images.  It shows the drop a model that reads no shortcut
    has anyway, because the swap changes the anatomy's look (0.10.7: the windowing, 0.107 in the healthy
    class).  Adds ``reference_*`` (its accuracy, balanced accuracy and worst class's drop) and
    ``excess_worst_class``: the largest over classes of (the model's drop - the reference's), with a
    95% interval from resampling the class's images (both models see the same ones)."""
    from audit.data.synthetic import render_images
    from audit.model import adapt_channels, predict_proba
    from audit.scores import balanced_accuracy

    test = ds.indices("test")
    y = ds.labels[test]
    swapped = render_images(cfg.data, np.random.default_rng([cfg.experiment.seed, 1]), test, swap_ties=True)
    if cfg.data.preprocess:  # the model is (preprocessing, network): the swapped images go through both
        from audit.mitigations import preprocess_images

        swapped = preprocess_images(cfg.data.preprocess, swapped)[0]
    tied_images = np.asarray(ds.images[test])

    def predicted(net, images):
        return predict_proba(net, adapt_channels(np.asarray(images, np.float32), net), cfg.cam.batch_size).argmax(1)

    tied_pred = predicted(model, tied_images)
    tied_ok, swapped_ok = (tied_pred == y).astype(float), (predicted(model, swapped) == y).astype(float)
    changed = np.any(tied_images != swapped, axis=(1, 2, 3))
    low, high = paired_bootstrap(tied_ok, swapped_ok, resamples, cfg.experiment.seed)
    drop = float(tied_ok.mean() - swapped_ok.mean())
    by_class = class_drops(y, tied_ok, swapped_ok)
    worst = max(by_class, key=by_class.get)
    out = {
        "accuracy_tied": float(tied_ok.mean()),
        "balanced_accuracy_tied": balanced_accuracy(y, tied_pred),
        "accuracy_swapped": float(swapped_ok.mean()),
        "drop": drop,
        "drop_ci_low": low,
        "drop_ci_high": high,
        "drop_worst_class": by_class[worst],
        "worst_class": ds.class_names[worst],
        "reliant": bool(low > 0),
        "strong": bool(drop >= strong_drop),
        "n_test": int(len(test)),
        "n_changed": int(changed.sum()),
    }
    if reference is not None:
        ref_pred = predicted(reference, tied_images)
        ref_tied, ref_swapped = (ref_pred == y).astype(float), (predicted(reference, swapped) == y).astype(float)
        ref_drops = class_drops(y, ref_tied, ref_swapped)
        excess = excess_drops(y, (tied_ok, swapped_ok), (ref_tied, ref_swapped), resamples, cfg.experiment.seed)
        k = max(excess, key=lambda c: excess[c][0])
        out |= {
            "reference_accuracy_tied": float(ref_tied.mean()),
            "reference_balanced_accuracy_tied": balanced_accuracy(y, ref_pred),
            "reference_drop_worst_class": max(ref_drops.values()),
            "excess_worst_class": excess[k][0],
            "excess_ci_low": excess[k][1],
            "excess_ci_high": excess[k][2],
            "excess_class": ds.class_names[k],
        }
    return out


def excess_drops(
    labels: np.ndarray,
    model: tuple[np.ndarray, np.ndarray],
    reference: tuple[np.ndarray, np.ndarray],
    resamples: int,
    seed: int,
) -> dict[int, tuple[float, float, float]]:
    """Per class k: the model's drop minus the reference's on the same rows, (tied_ok - swapped_ok) of
    one minus the other's, averaged over the class's rows, with the 95% interval of resampling those rows
    (:func:`paired_bootstrap`: both models answered on each row).  ``model``, ``reference``: (tied_ok, swapped_ok)."""
    labels = np.asarray(labels)
    own, ref = model[0] - model[1], reference[0] - reference[1]
    out = {}
    for k in np.unique(labels):
        rows = labels == k
        low, high = paired_bootstrap(own[rows], ref[rows], resamples, [seed, int(k)])
        out[int(k)] = (float(own[rows].mean() - ref[rows].mean()), low, high)
    return out


def _outcome(results: dict) -> dict:
    """The audit's verdict, attention scores and check statuses from one run's results.json."""
    found = results["attention"]["findings"]
    energy = found["energy"]
    row = {
        "verdict": results["verdict"]["label"],
        "balanced_accuracy": results["model"]["balanced_accuracy"],
        "learnt": bool(results["model"]["balanced_accuracy"] >= MIN_LEARNT),
        "on_anatomy": found["on_anatomy"]["mean"],
        "off_target_majority_share": found["off_target_majority_share"]["mean"],
        "n_scored": found["n_scored"],
    }
    for region in ("skull_band", "background", "padding", "artifact"):
        row[f"energy_{region}"] = energy[region]["mean"]
    for check in results["checks"]:
        row[f"check_{check['name']}"] = check["status"]
    return row


def signals(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """Yes/no audit signals per row: the verdict, and each check that ran."""
    out = {"verdict is artifact": rows["verdict"] == "artifact", "verdict is not anatomy": rows["verdict"] != "anatomy"}
    for col in rows.columns:
        if col.startswith("check_"):
            out[f"{col[6:]} failed"] = rows[col] == "fail"
    return out


def _spearman(x: pd.Series, y: pd.Series) -> float:
    from scipy.stats import spearmanr

    ok = x.notna() & y.notna()
    if ok.sum() < 3 or x[ok].nunique() < 2 or y[ok].nunique() < 2:
        return math.nan
    return float(spearmanr(x[ok], y[ok]).statistic)


def detection_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per head (anatomy, skull mode, when the rows have them), training seed (when ``benchmark.seeds``
    set them), method and signal: sensitivity
    (flagged | relies), on strong reliance, specificity
    (not flagged | does not rely), with counts, over the cells whose model learnt the task
    (``learnt``; the others are listed apart); NaN where a group is empty.  The verdict's rows
    add ``anatomy_at_p0``: the share of p = 0 models (nothing to rely on) called ``anatomy``."""
    table = []
    rows = rows[rows["learnt"].astype(bool)] if "learnt" in rows else rows
    per_seed = "seed" in rows and len(rows) and rows["seed"].notna().all()
    keys = [k for k in ("anatomy", "skull") if k in rows] + (["seed"] if per_seed else []) + ["method"]
    for group, sub in rows.groupby(keys, sort=False):
        head = dict(zip(keys, group if isinstance(group, tuple) else (group,), strict=True))
        p0 = sub[sub["p"] == 0] if "p" in sub else sub.iloc[:0]
        anatomy_p0 = float((p0["verdict"] == "anatomy").mean()) if len(p0) else math.nan
        reliant, strong = sub["reliant"].astype(bool), sub["strong"].astype(bool)
        for name, flag in signals(sub).items():
            flag = flag.astype(bool)

            def share(x):
                return float(x.mean()) if len(x) else math.nan

            table.append({
                **head, "signal": name,
                "sensitivity": share(flag[reliant]), "n_reliant": int(reliant.sum()),
                "sensitivity_strong": share(flag[strong]), "n_strong": int(strong.sum()),
                "specificity": share(~flag[~reliant]), "n_not_reliant": int((~reliant).sum()),
                "anatomy_at_p0": anatomy_p0 if name.startswith("verdict") else math.nan, "n_p0": int(len(p0)),
            })  # fmt: skip
    columns = [*keys, "signal", "sensitivity", "n_reliant", "sensitivity_strong", "n_strong", "specificity",
               "n_not_reliant", "anatomy_at_p0", "n_p0"]  # fmt: skip
    return pd.DataFrame(table, columns=columns)  # the columns even when no cell learnt


def seed_agreement(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method: of the cells trained with several seeds (same head, shortcut and strength), the
    share whose verdict is the same for every seed, over all cells and over those whose every seed's
    model learnt the task."""
    out = []
    keys = ["anatomy", "skull", "artifact", "p"]
    for method, sub in rows.groupby("method", sort=False):
        groups = [g for _, g in sub.groupby(keys, sort=False) if g["seed"].nunique() > 1]
        agree = [g["verdict"].nunique() == 1 for g in groups]
        learnt = [a for a, g in zip(agree, groups, strict=True) if g["learnt"].all()]
        out.append({
            "method": method, "n_cells": len(groups), "agree": float(np.mean(agree)) if agree else math.nan,
            "n_learnt_cells": len(learnt), "agree_learnt": float(np.mean(learnt)) if learnt else math.nan,
            "n_seeds": int(sub["seed"].nunique()),
        })  # fmt: skip
    return pd.DataFrame(out)


def correlations(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method: Spearman's rho between the measured drop and the attention scores."""
    out = []
    for method, sub in rows.groupby("method", sort=False):
        out.append({
            "method": method,
            "rho_off_anatomy": _spearman(1 - sub["on_anatomy"], sub["drop"]),
            "rho_artifact_energy": _spearman(sub["energy_artifact"], sub["drop"]),
            "n_cells": int(len(sub)),
        })  # fmt: skip
    return pd.DataFrame(out)


def _cell_reliance(cfg: Config, cell: Cell, cell_dir: Path, cache: Path) -> dict:
    """The cell's reliance, from ``reliance.json`` when it was measured on this very model."""
    from audit.pipeline import cached_outputs, stage_keys

    first_method = cfg.benchmark.methods[0]
    c = cell_config(cfg, cell, first_method)
    # The code digest redoes a cached reliance.json when measure_reliance (or what it imports) changes.
    key = {"train": stage_keys(c)["train"], "code": function_digest(measure_reliance),
           "bootstrap": cfg.benchmark.bootstrap, "strong_drop": cfg.benchmark.strong_drop}  # fmt: skip
    path = cell_dir / "reliance.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return saved["reliance"]
    outs = cached_outputs(c, cell_dir / first_method, "train", cache=cache)
    reliance = measure_reliance(
        c, outs["data"], outs["train"].model, cfg.benchmark.strong_drop, cfg.benchmark.bootstrap
    )
    write_text_atomic(path, json.dumps({"key": key, "reliance": reliance}, indent=2))
    return reliance


def _example(cfg: Config, method_dir: Path, cache: Path, n: int = 2) -> list[str]:
    """Data URIs of overlays for the first ``n`` correctly classified tumor test images."""
    from audit.cam.geometry import upsample_map
    from audit.pipeline import cached_outputs
    from audit.report.encoding import data_uri, encode_image
    from audit.report.figures import panel_arrays

    outs = cached_outputs(cfg, method_dir, "scores", cache=cache)
    ds, regions, cam, preds = outs["data"], outs["regions"], outs["cam"], outs["predict"]
    test = ds.indices("test")
    tumor = ds.class_names.index("tumor") if "tumor" in ds.class_names else 1
    uris = []
    for j, i in enumerate(test):
        if len(uris) == n:
            break
        if ds.labels[i] != tumor or preds.proba[j].argmax() != tumor:
            continue
        image = np.asarray(ds.images[i])
        up = upsample_map(np.asarray(cam.maps[j]), image.shape[:2], cam.grid)
        overlay = panel_arrays(image, up, regions[j], cfg.report.colormap)[2]
        uris.append(data_uri(encode_image(overlay)))
    return uris


def run_cell(cfg: Config, out: Path, cell: Cell) -> dict:
    """Audit one cell with every method of ``cfg.benchmark`` into ``out/cells/<name>/`` and measure its
    reliance: its rows of the cells table, example maps and seconds.  Everything it makes is cached
    under the cell's folder, so it may run in any process that sees ``out``."""
    from audit.pipeline import run_pipeline

    b = cfg.benchmark
    cell_dir, t0 = Path(out) / "cells" / cell.name, time.perf_counter()
    cache = cell_dir / "cache"
    rows = []
    for method in b.methods:
        result = run_pipeline(cell_config(cfg, cell, method), cell_dir / method, cache=cache)
        rows.append({"cell": cell.name, **dataclasses.asdict(cell), "method": method, **_outcome(result.results),
                     "report": f"cells/{cell.name}/{method}/report.html"})  # fmt: skip
    reliance = _cell_reliance(cfg, cell, cell_dir, cache)
    threads = threads_in_use()  # the cell's numbers depend on it (benchmark.threads)
    for row in rows:
        row.update(reliance, threads=threads)
    examples = _example(cell_config(cfg, cell, b.methods[0]), cell_dir / b.methods[0], cache)
    return {"rows": rows, "examples": examples, "seconds": time.perf_counter() - t0}


def run_benchmark(cfg: Config, out: Path) -> dict:
    """Run (or resume) the benchmark matrix into ``out`` on ``benchmark.executor``; returns the
    benchmark.json content.  A cell that fails is listed with its error and left out of the tables."""
    from functools import partial

    from audit.executors import run_all

    validate(cfg)
    b = cfg.benchmark
    out = Path(out).resolve()  # workers may start elsewhere
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    cells = cells_of(b)
    where = "here" if b.executor == "local" else f"on Ray ({b.address or f'{b.workers or available_cores()} workers'})"
    say(f"[benchmark] {len(cells)} cells x {len(b.methods)} methods, {where}")

    def done(k: int, outcome) -> None:
        name = cells[k].name
        if outcome.error:
            say(f"[benchmark] {name}: FAILED: {outcome.error}")
            return
        v = outcome.value
        r = v["rows"][0]
        say(f"[benchmark] {name}: drop {r['drop']:+.3f} [{r['drop_ci_low']:+.3f}, {r['drop_ci_high']:+.3f}]; "
            f"verdicts {', '.join(row['verdict'] for row in v['rows'])}; {v['seconds']:.0f} s")  # fmt: skip

    outcomes = run_all(partial(run_cell, cfg, out), cells, executor=b.executor, workers=b.workers, address=b.address,
                       threads=b.threads, on_done=done)  # fmt: skip
    rows, examples, seconds, failed = [], {}, {}, {}
    for cell, outcome in zip(cells, outcomes, strict=True):
        if outcome.error:
            failed[cell.name] = outcome.error
            cell_dir = out / "cells" / cell.name
            if cell_dir.is_dir():
                write_text_atomic(cell_dir / "error.txt", outcome.traceback or outcome.error)
            continue
        rows.extend(outcome.value["rows"])
        examples[cell.name] = outcome.value["examples"]
        seconds[cell.name] = outcome.value["seconds"]
    if not rows:
        first = next(iter(failed.items()))
        raise ValueError(f"benchmark: all {len(cells)} cells failed; {first[0]}: {first[1]}")

    frame = pd.DataFrame(rows)
    detection = detection_table(frame)
    rho = correlations(frame)
    default = b.methods[0]
    first = frame[frame["method"] == default]
    summary = {
        "strong_cells": int(first["strong"].sum()),
        "strong_flagged_by_default_method": bool((first.loc[first["strong"], "verdict"] == "artifact").all()),
        "artifact_verdicts_at_p0": int(((frame["p"] == 0) & (frame["verdict"] == "artifact")).sum()),
        "default_method": default,
    }
    untrained = frame[~frame["learnt"]]
    summary["untrained_cells"] = sorted(set(untrained["cell"]))
    summary["failed_cells"] = failed
    summary["seed_agreement"] = seed_agreement(frame).to_dict("records") if b.seeds else []
    learnt_p0 = frame[(frame["p"] == 0) & frame["learnt"]]
    summary["anatomy_at_p0"] = {
        m: float((g["verdict"] == "anatomy").mean()) for m, g in learnt_p0.groupby("method", sort=False)
    }
    summary["by_head"] = {
        f"{a}-{s}": {
            "strong_cells": int(g.loc[g["method"] == default, "strong"].sum()),
            "strong_flagged_by_default_method": bool(
                (g.loc[(g["method"] == default) & g["strong"], "verdict"] == "artifact").all()
            ),
            "artifact_verdicts_at_p0": int(((g["p"] == 0) & (g["verdict"] == "artifact")).sum()),
            "anatomy_at_p0": {
                m: float((h["verdict"] == "anatomy").mean())
                for m, h in g[(g["p"] == 0) & g["learnt"]].groupby("method", sort=False)
            },
        }
        for (a, s), g in frame.groupby(["anatomy", "skull"], sort=False)
    }
    summary["done"] = (
        summary["strong_flagged_by_default_method"]
        and summary["artifact_verdicts_at_p0"] == 0
        and not len(untrained)
        and not failed
    )
    report = {
        "schema_version": 1,
        "experiment": cfg.experiment.name,
        "config": dataclasses.asdict(cfg.benchmark),
        "data": {
            "n_images": cfg.data.synthetic.n_images,
            "image_size": cfg.data.image_size,
            "contrasts": list(cfg.data.synthetic.contrasts),
        },
        "summary": summary,
        "cells": json.loads(frame.to_json(orient="records")),
        "detection": json.loads(detection.to_json(orient="records")),
        "correlations": json.loads(rho.to_json(orient="records")),
        "cell_seconds": seconds,
        "seconds": time.perf_counter() - t_start,
        "executor": {"name": b.executor, "workers": b.workers, "address": b.address, "threads": b.threads},
    }
    write_text_atomic(out / "benchmark_cells.csv", frame.to_csv(index=False))
    write_text_atomic(out / "benchmark_detection.csv", detection.to_csv(index=False))
    write_text_atomic(out / "benchmark.json", json.dumps(report, indent=2))
    _write_html(out, report, frame, detection, rho, examples)
    say(f"[benchmark] {len(cells)} cells x {len(b.methods)} methods in {report['seconds']:.0f} s -> "
        f"{out / 'benchmark.html'}")  # fmt: skip
    return report


def _write_html(out: Path, report: dict, frame: pd.DataFrame, detection, rho, examples: dict) -> None:
    from audit.cam.methods import title
    from audit.report.render import render_html

    b = report["config"]
    matrix = []
    several = len(b["anatomies"]) * len(b["skulls"]) > 1
    seeds = b["seeds"] or [None]
    rows_of = [((a, s), art, seed) for a in b["anatomies"] for s in b["skulls"] for art in b["artifacts"]
               for seed in seeds]  # fmt: skip
    for head, artifact, seed in rows_of:
        cells = []
        for p in b["strengths"]:
            cell = Cell(*head, artifact, p, seed)
            sub = frame[frame["cell"] == cell.name]
            if not len(sub):
                cells.append({"p": p, "failed": report["summary"]["failed_cells"].get(cell.name, "not run")})
                continue
            first = sub.iloc[0]
            cells.append({
                "p": p, "drop": first["drop"], "low": first["drop_ci_low"], "high": first["drop_ci_high"],
                "strong": bool(first["strong"]), "reliant": bool(first["reliant"]),
                "accuracy": first["accuracy_tied"],
                "verdicts": list(zip(sub["method"].map(title), sub["verdict"], sub["report"], strict=True)),
                "examples": examples.get(cell.name, []),
            })  # fmt: skip
        label = f"{artifact} ({head[0]}, skull {head[1]})" if several else artifact
        matrix.append({"artifact": label + ("" if seed is None else f", seed {seed}"), "cells": cells})
    html = render_html(
        {
            "b": report,
            "matrix": matrix,
            "detection": detection.assign(
                method=[
                    (f"{title(m)} ({a}, skull {s})" if several else title(m)) + ("" if sd is None else f", seed {sd:g}")
                    for m, a, s, sd in zip(
                        detection["method"],
                        detection["anatomy"],
                        detection["skull"],
                        detection["seed"] if "seed" in detection else [None] * len(detection),
                        strict=True,
                    )
                ]
            ).to_dict("records"),  # fmt: skip
            "rho": rho.assign(method=rho["method"].map(title)).to_dict("records"),
        },
        template="benchmark.html",
    )
    write_text_atomic(out / "benchmark.html", html)
