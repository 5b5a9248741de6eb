"""The audit harness: stages data -> train -> predict -> cam -> regions -> scores -> checks -> report.

Each stage is a plain function ``stage_<name>(config, *inputs) -> output`` that can
be called and tested alone.  The harness adds the cache: a stage's output is
saved under ``<out>/cache/<stage>-<key>/``, where ``key`` hashes the config
values the stage depends on, the keys of its upstream stages and the package
version.  Entries are written into a ``.partial-<pid>`` folder that is renamed
into place only when complete, so a run killed at any point (even ``kill -9``)
leaves no entry that a later run could mistake for a finished one; the next run
removes the leftovers and redoes only what is missing.

The report stage is never cached: it is cheap and writes the run's outputs
(``report.html``, ``results.json``, ``per_image.csv``, ``config.toml``) into ``<out>``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import audit
from audit.config import Config, config_to_dict
from audit.data.dataset import Dataset, Rows, load_dataset, save_dataset
from audit.io import write_text_atomic
from audit.progress import say
from audit.regions import REGIONS, regions_from_label_maps
from audit.results import validate_results

__all__ = ["STAGES", "RunResult", "StageSpec", "cached_outputs", "run_pipeline", "stage_keys"]


# ----------------------------------------------------------------------------- stages


def stage_data(cfg: Config) -> Dataset:
    """Build (or read) the dataset and its train/val/test split."""
    from audit.data.duplicates import check_duplicates

    rng = np.random.default_rng([cfg.experiment.seed, 1])
    if cfg.data.source == "synthetic":
        from audit.data.synthetic import generate_dataset

        ds = generate_dataset(cfg.data, rng, show_progress=True)
    else:
        ds = _load_real(cfg.data, rng)
    return check_duplicates(ds, cfg.data.duplicate_distance, cfg.data.drop_duplicates)


def _load_real(data, rng: np.random.Generator) -> Dataset:
    if not data.path:
        raise ValueError(f"data.path is empty; source = {data.source!r} reads its files from there")
    if data.source == "folder":
        from audit.data.folders import load_folder_dataset

        return load_folder_dataset(data, rng)
    if data.source == "figshare":
        from audit.data.figshare import load_figshare_dataset

        return load_figshare_dataset(data, rng)
    if data.source == "nifti":
        from audit.data.nifti import load_nifti_dataset

        return load_nifti_dataset(data, rng)
    from audit.data.paired import load_paired_dataset

    return load_paired_dataset(data, rng)


@dataclass
class Trained:
    model: Any
    history: dict[str, list[float]]
    best_epoch: int


def _fit(cfg: Config, ds: Dataset, y_train: np.ndarray, y_val: np.ndarray, seed: int):
    """The configured architecture built and trained on the train split against ``y_train``
    (early-stopped on the val split against ``y_val``); returns a :class:`audit.model.TrainResult`."""
    import keras

    from audit.model import build_model, train_model

    tr, va = ds.indices("train"), ds.indices("val")
    if len(tr) == 0 or len(va) == 0:
        part = "training" if len(tr) == 0 else "validation"
        raise ValueError(f"the {part} split is empty ({len(ds.images)} images); add data or change "
                         "data.test_fraction / data.val_fraction")  # fmt: skip
    if cfg.train.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(
            cfg.model.architecture, ds.images.shape[1:], len(ds.class_names), cfg.model.width, cfg.model.dense_units
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return train_model(
        model, np.asarray(ds.images[tr]), y_train, np.asarray(ds.images[va]), y_val, epochs=cfg.train.epochs,
        batch_size=cfg.train.batch_size, learning_rate=cfg.train.learning_rate, patience=cfg.train.patience,
        seed=seed, augment=cfg.train.augment, min_epochs=cfg.train.min_epochs, min_delta=cfg.train.min_delta,
    )  # fmt: skip


def stage_train(cfg: Config, ds: Dataset) -> Trained:
    """Train the configured architecture on the train split, early-stopped on val;
    or, with ``model.path``, load the user's trained model and check it fits the data."""

    from audit.model import adapt_channels, load_user_model

    if cfg.model.path:
        model = load_user_model(cfg.model.path, cfg.model.allow_unsafe_deserialization)
        adapt_channels(ds.images[:1], model)  # a clear error now, not in a later stage
        n_out = model.outputs[0].shape[-1]
        if n_out != len(ds.class_names):
            n_classes = len(ds.class_names)
            raise ValueError(f"model.path: the model has {n_out} outputs but the data has {n_classes} classes")
        return Trained(model, {}, 0)
    result = _fit(cfg, ds, ds.labels[ds.indices("train")], ds.labels[ds.indices("val")], cfg.experiment.seed)
    return Trained(result.model, result.history, result.best_epoch)


@dataclass
class Predictions:
    """Test-set predictions: proba (N, K), metrics dict."""

    proba: np.ndarray
    metrics: dict


def stage_predict(cfg: Config, ds: Dataset, trained: Trained) -> Predictions:
    """Class probabilities and classification metrics on the test split."""
    from audit.model import adapt_channels, classification_metrics, predict_proba

    te = ds.indices("test")
    images = Rows(ds.images, te, lambda x: adapt_channels(x, trained.model))
    proba = predict_proba(trained.model, images, cfg.cam.batch_size)
    return Predictions(proba, classification_metrics(ds.labels[te], proba, ds.class_names))


def _cam_targets(cfg: Config, ds: Dataset, rows: np.ndarray) -> np.ndarray | None:
    """Explained class per test row (None: the predicted class), by ``cam.target``."""
    if cfg.cam.target == "index" and not 0 <= cfg.cam.target_index < len(ds.class_names):
        raise ValueError(f"cam.target_index {cfg.cam.target_index} is not a class index (0..{len(ds.class_names) - 1})")
    te = ds.indices("test")[rows]
    return {"predicted": None, "true": ds.labels[te], "index": np.full(len(te), cfg.cam.target_index)}[cfg.cam.target]


def stage_cam(cfg: Config, ds: Dataset, trained: Trained, workdir: Path | None = None):
    """Maps of the lead method (``cam.method``; ``auto``: chosen from the model's head,
    :mod:`audit.cam.lead`) for every test image, at the explained layer's resolution.

    Test images are streamed batch by batch from the (memory-mapped) dataset, and with a
    ``workdir`` the maps are written straight into ``workdir/maps.npy``: memory grows with
    ``cam.batch_size``, not with the test set.
    """
    from audit.cam import CamEngine, cam_options, compute_cams, resolve_method
    from audit.cam.geometry import stretch_grid
    from audit.model import adapt_channels

    te = ds.indices("test")
    targets = _cam_targets(cfg, ds, np.arange(len(te)))
    adapt_channels(ds.images[te[:1]], trained.model)  # a clear error before any work
    images = Rows(ds.images, te, lambda x: adapt_channels(x, trained.model))
    out = None
    if workdir is not None:

        def out(shape):
            return np.lib.format.open_memmap(workdir / "maps.npy", mode="w+", dtype=np.float32, shape=shape)

    engine = CamEngine(trained.model, cfg.cam.layer)
    method, reason = resolve_method(cfg.cam.method, engine)
    result = compute_cams(
        trained.model, images, method, cfg.cam.layer, targets, cfg.cam.batch_size, engine=engine,
        out=out, **cam_options(cfg.cam, cfg.experiment.seed),
    )  # fmt: skip
    result.reason = reason
    if cfg.cam.upsample == "stretch":
        result.grid = stretch_grid(result.maps.shape[1:], ds.images.shape[1:3])
    return result


@dataclass
class Panel:
    """The attention evidence of several CAM methods (``cam.panel`` plus the lead method).

    results : method -> CamResult for the test rows ``rows[method]`` (all rows, or occlusion's sample);
    summaries : method -> :func:`audit.scores.summarize_findings` of its maps (the lead's is the
    scores stage's ``attention["findings"]``, the same numbers).
    """

    lead: str
    results: dict
    rows: dict[str, np.ndarray]
    summaries: dict[str, dict]


def _finding_rows(ds: Dataset, preds: Predictions) -> np.ndarray:
    from audit.scores import finding_mask

    y = ds.labels[ds.indices("test")]
    return np.flatnonzero(finding_mask(y, preds.proba.argmax(axis=1) == y, ds.class_names))


def stage_panel(cfg: Config, ds: Dataset, trained: Trained, preds: Predictions, cams, regions, scores) -> Panel:
    """Maps of every panel method, scored like the lead's; occlusion on a sample of correctly
    classified finding images (``cam.occlusion_sample``), the other methods on every test image."""
    from audit.cam import CamEngine, cam_options, compute_panel
    from audit.cam.geometry import stretch_grid
    from audit.model import adapt_channels
    from audit.scores import score_images, summarize_findings, weak_maps

    te = ds.indices("test")
    methods = [m for m in dict.fromkeys(cfg.cam.panel) if m != cams.method]
    results, rows, summaries = {cams.method: cams}, {cams.method: np.arange(len(te))}, {}
    summaries[cams.method] = scores.attention["findings"]
    sampled = [m for m in methods if m == "occlusion"]
    plain = [m for m in methods if m != "occlusion"]
    engine = CamEngine(trained.model, cfg.cam.layer)
    options = cam_options(cfg.cam, cfg.experiment.seed)
    groups = [(plain, np.arange(len(te)))]
    if sampled and cfg.cam.occlusion_sample > 0:
        found = _finding_rows(ds, preds)
        pool = found if len(found) else np.arange(len(te))
        rng = np.random.default_rng([cfg.experiment.seed, 4])
        groups.append(
            (sampled, np.sort(rng.choice(pool, size=min(cfg.cam.occlusion_sample, len(pool)), replace=False)))
        )
    prior = _tumor_prior(ds)
    base = scores.per_image[["label", "correct"]]
    for group, idx in groups:
        if not group:
            continue
        images = Rows(ds.images, te[idx], lambda x: adapt_channels(x, trained.model))
        targets = _cam_targets(cfg, ds, idx)
        for m, result in compute_panel(
            trained.model, images, group, cfg.cam.layer, targets, cfg.cam.batch_size, engine, **options
        ).items():
            if cfg.cam.upsample == "stretch" and result.layer != "input":
                result.grid = stretch_grid(result.maps.shape[1:], ds.images.shape[1:3])
            table = pd.concat(
                [base.iloc[idx].reset_index(drop=True),
                 score_images(result.maps, regions[idx], cfg.regions.tolerance_px, result.grid, prior)], axis=1,
            )  # fmt: skip
            table["weak_map"] = weak_maps(result.maps, cfg.scores.weak_map_ratio)
            rng = np.random.default_rng([cfg.experiment.seed, 2, 0])
            results[m], rows[m] = result, idx
            summaries[m] = summarize_findings(table, ds.class_names, rng, cfg.scores.bootstrap)
    order = list(dict.fromkeys([cams.method, *methods]))
    return Panel(cams.method, {m: results[m] for m in order if m in results}, rows, summaries)


def stage_regions(cfg: Config, ds: Dataset) -> np.ndarray:
    """Region index maps (N_test, H, W) of :data:`audit.regions.REGIONS`: from ground-truth label
    maps, or estimated from the images when the dataset has none (:func:`audit.regions.estimate_regions`),
    with the tumor from the dataset's tumor masks where it has them."""
    te = ds.indices("test")
    if ds.label_maps is not None:
        return regions_from_label_maps(ds.label_maps[te])
    from audit.regions import estimate_regions

    regions = np.stack([estimate_regions(np.asarray(ds.images[i])) for i in te]).astype(np.uint8)
    if ds.tumor_masks is not None:  # a masked set: its tumor drawn over the estimate
        regions[np.asarray(ds.tumor_masks[te], bool)] = REGIONS.index("tumor")
    return regions


def _tumor_prior(ds: Dataset) -> np.ndarray | None:
    """(H, W) mean tumor mask of the training images that show a tumor; None without any."""
    if ds.label_maps is None and ds.tumor_masks is None:
        return None
    tumor = REGIONS.index("tumor")
    total, count = None, 0
    tr = ds.indices("train")
    for s in range(0, len(tr), 256):
        if ds.label_maps is not None:
            masks = regions_from_label_maps(np.asarray(ds.label_maps[tr[s : s + 256]])) == tumor
        else:
            masks = np.asarray(ds.tumor_masks[tr[s : s + 256]], bool)
        masks = masks[masks.any(axis=(1, 2))]
        total = masks.sum(axis=0, dtype=np.float64) + (0 if total is None else total)
        count += len(masks)
    return (total / count).astype(np.float32) if count else None


@dataclass
class Scores:
    per_image: pd.DataFrame
    attention: dict


def stage_scores(cfg: Config, ds: Dataset, preds: Predictions, cams, regions: np.ndarray) -> Scores:
    """Per-image attention scores and their aggregates with bootstrap CIs."""
    from audit.scores import score_images, summarize_attention, weak_maps

    te = ds.indices("test")
    pred = preds.proba.argmax(axis=1)
    table = ds.meta.iloc[te].reset_index(drop=True)
    table.insert(1, "label", ds.labels[te])
    table.insert(2, "predicted", pred)
    table.insert(3, "predicted_class", [ds.class_names[k] for k in pred])
    table.insert(4, "correct", pred == ds.labels[te])
    for k, name in enumerate(ds.class_names):
        table[f"prob_{name}"] = preds.proba[:, k]
    table["cam_target"] = cams.targets
    prior = _tumor_prior(ds)
    scores = score_images(cams.maps, regions, cfg.regions.tolerance_px, cams.grid, prior)
    table = pd.concat([table, scores], axis=1)
    table["weak_map"] = weak_maps(cams.maps, cfg.scores.weak_map_ratio)
    rng = np.random.default_rng([cfg.experiment.seed, 2])
    findings_rng = np.random.default_rng([cfg.experiment.seed, 2, 0])  # as stage_panel's, for every method
    attention = summarize_attention(table, ds.class_names, rng, cfg.scores.bootstrap, findings_rng)
    attention["method"] = cams.method
    attention["layer"] = cams.layer
    return Scores(table, attention)


def stage_checks(cfg: Config, ds: Dataset, trained: Trained, preds: Predictions, cams, regions, scores: Scores) -> list:
    """Run the configured checks; a failing plugin becomes an ``error`` result."""
    from audit.cam import CamEngine
    from audit.checks import CheckContext, available_checks, run_check, validate_params
    from audit.model import adapt_channels

    checks = available_checks(cfg.checks.plugins)
    results = []
    if not cfg.checks.run:
        return results
    engine = CamEngine(trained.model, cfg.cam.layer)
    te = ds.indices("test")
    retrain = None if cfg.model.path else functools.partial(_retrain, cfg, ds)
    for i, name in enumerate(cfg.checks.run):
        cls = checks[name]
        ctx = CheckContext(
            images=adapt_channels(ds.images[te], trained.model),
            labels=ds.labels[te],
            regions=regions,
            class_names=ds.class_names,
            model=trained.model,
            proba=preds.proba,
            cams=cams,
            cam_engine=engine,
            per_image=scores.per_image,
            config=cfg,
            params=validate_params(cls, cfg.checks.params.get(name, {})),
            rng=np.random.default_rng([cfg.experiment.seed, 3, i]),
            meta=ds.meta.iloc[te].reset_index(drop=True),
            retrain=retrain,
        )
        result = run_check(cls, ctx)
        say(f"  check {name}: {result.status} ({result.seconds:.1f} s) {result.headline}")
        results.append(result)
    return results


def _retrain(cfg: Config, ds: Dataset, seed: int, permute_labels: bool = False):
    """The configured architecture trained again on the training split (for checks that need it)."""
    import keras

    y_tr, y_va = ds.labels[ds.indices("train")], ds.labels[ds.indices("val")]
    if permute_labels:
        rng = np.random.default_rng([seed, 7])
        y_tr, y_va = rng.permutation(y_tr), rng.permutation(y_va)
    keras.utils.set_random_seed(seed)  # a run within the run: its own reproducible initialisation
    return _fit(cfg, ds, y_tr, y_va, seed).model


def validate_checks(cfg: Config) -> None:
    """Fail early, before any training, on unknown checks or bad check parameters."""
    from audit.checks import available_checks, validate_params

    checks = available_checks(cfg.checks.plugins)
    for name in (*cfg.checks.run, *cfg.checks.params):
        if name not in checks:
            raise ValueError(f"unknown check {name!r}; available: {', '.join(sorted(checks)) or '(none)'}")
    for name, params in cfg.checks.params.items():
        validate_params(checks[name], params)


# ----------------------------------------------------------------------------- persistence


def _save_train(t: Trained, folder: Path) -> None:
    t.model.save(folder / "model.keras")
    (folder / "history.json").write_text(json.dumps({"history": t.history, "best_epoch": t.best_epoch}))


def _load_train(folder: Path) -> Trained:
    import keras

    info = json.loads((folder / "history.json").read_text())
    return Trained(keras.models.load_model(folder / "model.keras"), info["history"], info["best_epoch"])


def _save_predict(p: Predictions, folder: Path) -> None:
    np.save(folder / "proba.npy", p.proba)
    (folder / "metrics.json").write_text(json.dumps(p.metrics))


def _load_predict(folder: Path) -> Predictions:
    return Predictions(np.load(folder / "proba.npy"), json.loads((folder / "metrics.json").read_text()))


def _save_cam(c, folder: Path, prefix: str = "") -> None:
    if isinstance(c.maps, np.memmap) and Path(c.maps.filename) == (folder / f"{prefix}maps.npy").resolve():
        c.maps.flush()  # streamed there by stage_cam
    else:
        np.save(folder / f"{prefix}maps.npy", c.maps)
    np.savez(folder / f"{prefix}cams.npz", targets=c.targets, empty=c.empty)
    info = {"method": c.method, "layer": c.layer, "seconds": c.seconds, "grid": c.grid.as_dict(), "reason": c.reason}
    (folder / f"{prefix}cams.json").write_text(json.dumps(info))


def _load_cam(folder: Path, prefix: str = ""):
    from audit.cam import CamResult
    from audit.cam.geometry import Grid

    info = json.loads((folder / f"{prefix}cams.json").read_text())
    maps = np.load(folder / f"{prefix}maps.npy", mmap_mode="r")
    with np.load(folder / f"{prefix}cams.npz") as z:
        return CamResult(
            maps, z["targets"], z["empty"], info["method"], info["layer"], info["seconds"], Grid(**info["grid"]),
            info["reason"],
        )  # fmt: skip


def _save_panel(p: Panel, folder: Path) -> None:
    for m, result in p.results.items():
        _save_cam(result, folder, f"{m}-")
        np.save(folder / f"{m}-rows.npy", p.rows[m])
    (folder / "panel.json").write_text(
        json.dumps({"lead": p.lead, "methods": list(p.results), "summaries": p.summaries})
    )


def _load_panel(folder: Path) -> Panel:
    info = json.loads((folder / "panel.json").read_text())
    results = {m: _load_cam(folder, f"{m}-") for m in info["methods"]}
    rows = {m: np.load(folder / f"{m}-rows.npy") for m in info["methods"]}
    return Panel(info["lead"], results, rows, info["summaries"])


def _save_regions(r: np.ndarray, folder: Path) -> None:
    np.savez_compressed(folder / "regions.npz", regions=r)


def _load_regions(folder: Path) -> np.ndarray:
    with np.load(folder / "regions.npz") as z:
        return z["regions"]


def _save_scores(s: Scores, folder: Path) -> None:
    s.per_image.to_pickle(folder / "per_image.pkl")
    (folder / "attention.json").write_text(json.dumps(s.attention))


def _load_scores(folder: Path) -> Scores:
    return Scores(pd.read_pickle(folder / "per_image.pkl"), json.loads((folder / "attention.json").read_text()))


def _save_checks(results: list, folder: Path) -> None:
    rows = []
    for i, r in enumerate(results):
        tables = {}
        for j, (title, df) in enumerate(r.tables.items()):
            fname = f"table-{i}-{j}.pkl"
            df.to_pickle(folder / fname)
            tables[title] = fname
        figures = {}
        for j, (title, png) in enumerate(r.figures.items()):
            fname = f"figure-{i}-{j}.png"
            (folder / fname).write_bytes(png)
            figures[title] = fname
        rows.append(
            {
                "name": r.name,
                "status": r.status,
                "headline": r.headline,
                "metrics": r.metrics,
                "details": r.details,
                "evidence": r.evidence,
                "seconds": r.seconds,
                "tables": tables,
                "figures": figures,
            }
        )
    (folder / "checks.json").write_text(json.dumps(rows, default=float))


def _load_checks(folder: Path) -> list:
    from audit.checks import CheckResult

    out = []
    for row in json.loads((folder / "checks.json").read_text()):
        tables = {t: pd.read_pickle(folder / f) for t, f in row.pop("tables").items()}
        figures = {t: (folder / f).read_bytes() for t, f in row.pop("figures").items()}
        out.append(CheckResult(**row, tables=tables, figures=figures))
    return out


@dataclass(frozen=True)
class StageSpec:
    """A cached stage: what it reads from the config and from upstream, and how it persists."""

    name: str
    depends: tuple[str, ...]  # "section" or "section.key"
    upstream: tuple[str, ...]
    compute: Callable[..., Any]
    save: Callable[[Any, Path], None]
    load: Callable[[Path], Any]
    streams: bool = False
    """compute takes ``workdir=`` (the entry being written) and writes large arrays there itself."""
    reload: bool = False
    """Downstream stages get the output as loaded back from the cache (memory-mapped), so a
    fresh run holds no more in memory than a cached one."""


STAGES: dict[str, StageSpec] = {
    s.name: s
    for s in (
        StageSpec("data", ("experiment.seed", "data"), (), stage_data, save_dataset, load_dataset, reload=True),
        StageSpec("train", ("experiment.seed", "model", "train"), ("data",), stage_train, _save_train, _load_train),
        StageSpec("predict", ("cam.batch_size",), ("data", "train"), stage_predict, _save_predict, _load_predict),
        StageSpec(
            "cam",
            ("experiment.seed", "cam"),
            ("data", "train"),
            stage_cam,
            _save_cam,
            _load_cam,
            streams=True,
            reload=True,
        ),
        StageSpec("regions", (), ("data",), stage_regions, _save_regions, _load_regions),
        StageSpec(
            "scores",
            ("experiment.seed", "regions", "scores"),
            ("data", "predict", "cam", "regions"),
            stage_scores,
            _save_scores,
            _load_scores,
        ),
        StageSpec(
            "panel",
            ("experiment.seed", "cam", "regions", "scores"),
            ("data", "train", "predict", "cam", "regions", "scores"),
            stage_panel,
            _save_panel,
            _load_panel,
        ),
        StageSpec(
            "checks",
            ("experiment.seed", "checks", "cam"),
            ("data", "train", "predict", "cam", "regions", "scores"),
            stage_checks,
            _save_checks,
            _load_checks,
        ),
    )
}
STAGE_ORDER: tuple[str, ...] = (*STAGES, "report")


def _config_value(raw: dict, dotted: str) -> Any:
    section, _, key = dotted.partition(".")
    return raw[section][key] if key else raw[section]


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "missing"  # loading reports the problem with a clear message
    return digest.hexdigest()


def _folder_fingerprint(path: str) -> str:
    """SHA-256 of every file's relative path, size and modification time under ``path``."""
    root = Path(path)
    if not root.is_dir():
        return "missing"  # loading reports the problem with a clear message
    digest = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        st = f.stat()
        digest.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def stage_keys(cfg: Config) -> dict[str, str]:
    """Cache key of every cached stage (16 hex digits).

    A user's model file enters the train key by its content, and an image folder enters the
    data key by its listing (paths, sizes, modification times), so replacing either under
    the same name invalidates everything computed from it.
    """
    from audit.compute import onednn_enabled

    raw = config_to_dict(cfg)
    kernels = "onednn" if onednn_enabled() else "eigen"  # results differ in the last bits
    keys: dict[str, str] = {}
    for name, spec in STAGES.items():
        payload = {
            "stage": name,
            "version": audit.__version__,
            "kernels": kernels,
            "config": {d: _config_value(raw, d) for d in spec.depends},
            "upstream": {u: keys[u] for u in spec.upstream},
        }
        if name == "train" and cfg.model.path:
            payload["model_file_sha256"] = _file_sha256(cfg.model.path)
        if name == "data" and cfg.data.source != "synthetic":
            payload["folder_listing"] = _folder_fingerprint(cfg.data.path)
        keys[name] = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return keys


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_partials(cache: Path) -> None:
    for p in cache.glob("*.partial-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid() or not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _needed(only: str | None) -> list[str]:
    if only is None:
        return list(STAGE_ORDER)
    if only not in STAGE_ORDER:
        raise ValueError(f"unknown stage {only!r}; stages: {', '.join(STAGE_ORDER)}")
    if only == "report":
        return list(STAGE_ORDER)
    need = {only}
    for name in reversed(list(STAGES)):
        if name in need:
            need.update(STAGES[name].upstream)
    return [s for s in STAGES if s in need]


# ----------------------------------------------------------------------------- the run


@dataclass
class RunResult:
    out: Path
    results: dict | None
    verdict: str | None
    stage_status: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _set_determinism(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _git_commit() -> str | None:
    try:
        root = Path(audit.__file__).resolve().parent.parent
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _compute_info() -> dict:
    import tensorflow as tf

    from audit.compute import onednn_enabled

    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync > 1:
        devices = list(strategy.extended.worker_devices)
    else:
        devices = [d.name for d in tf.config.list_logical_devices() if d.device_type in ("CPU", "GPU")][:1]
    replicas = int(strategy.num_replicas_in_sync)
    return {
        "strategy": type(strategy).__name__,
        "replicas": replicas,
        "devices": list(devices),
        "onednn": onednn_enabled(),
    }


def versions() -> dict[str, str | None]:
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "package": audit.__version__,
        "git_commit": _git_commit(),
    }


def build_results(
    cfg: Config, outputs: dict, verdict: dict, timings: dict, status: dict, compute_seconds: dict
) -> dict:
    """The results contract (README, "results.json")."""
    ds: Dataset = outputs["data"]
    trained: Trained = outputs["train"]
    preds: Predictions = outputs["predict"]
    cams = outputs["cam"]
    m = preds.metrics
    return {
        "schema_version": 1,
        "experiment": cfg.experiment.name,
        "config": config_to_dict(cfg),
        "dataset": {
            "source": cfg.data.source,
            "n_train": int(len(ds.indices("train"))),
            "n_val": int(len(ds.indices("val"))),
            "n_test": int(len(ds.indices("test"))),
            "classes": list(ds.class_names),
            "class_counts": {part: ds.class_counts(part) for part in ("train", "val", "test")},
            "image_shape": list(ds.images.shape[1:]),
            "skipped": list(ds.skipped),
            "duplicates": list(ds.duplicates),
        },
        "model": {
            "architecture": f"file:{Path(cfg.model.path).name}" if cfg.model.path else cfg.model.architecture,
            "params": int(trained.model.count_params()),
            "best_epoch": trained.best_epoch,
            "epochs_run": len(trained.history.get("loss", [])),
            "history": trained.history,
            **{
                k: m[k]
                for k in (
                    "test_accuracy",
                    "balanced_accuracy",
                    "f1_macro",
                    "roc_auc",
                    "ece",
                    "confusion_matrix",
                    "per_class",
                )
            },
        },
        "cam": {
            "method": cams.method,
            "method_reason": cams.reason,
            "panel": {
                m: {
                    "n_images": int(len(r.maps)),
                    "map_shape": list(r.maps.shape[1:]),
                    "layer": r.layer,
                    "seconds": float(r.seconds),
                    "n_empty_maps": int(r.empty.sum()),
                }
                for m, r in outputs["panel"].results.items()
            },  # fmt: skip
            "layer": cams.layer,
            "target": cfg.cam.target,
            "n_images": int(len(cams.maps)),
            "map_shape": list(cams.maps.shape[1:]),
            "n_empty_maps": int(cams.empty.sum()),
            "grid": cams.grid.as_dict(),
            "seconds": float(cams.seconds),
            "images_per_second": float(cams.images_per_second),
        },
        "attention": {**outputs["scores"].attention, "panel": outputs["panel"].summaries},
        "checks": [
            {
                "name": c.name,
                "status": c.status,
                "evidence": c.evidence,
                "headline": c.headline,
                "metrics": c.metrics,
                "seconds": c.seconds,
            }
            for c in outputs["checks"]
        ],
        "verdict": verdict,
        "timings": dict(timings),
        "stage_status": dict(status),
        "stage_compute_seconds": dict(compute_seconds),
        "compute": _compute_info(),
        "versions": versions(),
        "regions": list(REGIONS),
    }


def run_pipeline(
    cfg: Config, out: Path, *, fresh: bool = False, only: str | None = None, cache: Path | None = None
) -> RunResult:
    """Run (or resume) the audit into ``out``.

    Parameters
    ----------
    fresh : recompute the selected stages even when cached (with ``only``: that stage
        alone; upstream stages are still taken from the cache).
    only : run this stage, plus whatever upstream it needs, and stop.
    cache : stage cache folder (default ``out/cache``); runs that share one share every
        stage whose key matches (the benchmark's methods share a cell's data and model).
    """
    validate_checks(cfg)
    needed = _needed(only)
    out = Path(out)
    cache = Path(cache) if cache is not None else out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(cache)
    keys = stage_keys(cfg)
    from audit.compute import make_strategy

    strategy = make_strategy(cfg.compute)  # before anything else starts TensorFlow's devices
    _set_determinism(cfg.experiment.seed)
    with strategy.scope():
        return _run_stages(cfg, out, cache, needed, keys, only, fresh)


def _run_stages(cfg: Config, out: Path, cache: Path, needed: list[str], keys: dict, only, fresh: bool) -> RunResult:
    outputs: dict[str, Any] = {}
    status: dict[str, str] = {}
    timings: dict[str, float] = {}
    compute_seconds: dict[str, float] = {}
    for name in needed:
        if name == "report":
            continue
        spec = STAGES[name]
        entry = cache / f"{name}-{keys[name]}"
        recompute = fresh and (only is None or only == name)
        t0 = time.perf_counter()
        if entry.is_dir() and (entry / "_complete.json").is_file() and not recompute:
            outputs[name] = spec.load(entry)
            status[name] = "cached"
            compute_seconds[name] = json.loads((entry / "_complete.json").read_text())["seconds"]
        else:
            inputs = [outputs[u] for u in spec.upstream]
            say(f"[{name}] running ...")
            partial = cache / f"{name}-{keys[name]}.partial-{os.getpid()}"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            try:
                kwargs = {"workdir": partial} if spec.streams else {}
                outputs[name] = spec.compute(cfg, *inputs, **kwargs)
                compute_seconds[name] = time.perf_counter() - t0
                spec.save(outputs[name], partial)
                (partial / "_complete.json").write_text(
                    json.dumps({"stage": name, "key": keys[name], "seconds": compute_seconds[name]})
                )
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            if entry.exists():  # --fresh: replace the old entry
                shutil.rmtree(entry)
            os.rename(partial, entry)
            if spec.reload:
                outputs[name] = spec.load(entry)
            status[name] = "computed"
        timings[name] = time.perf_counter() - t0
        note = f"cached, computed earlier in {compute_seconds[name]:.1f} s" if status[name] == "cached" else "computed"
        say(f"[{name}] {timings[name]:.1f} s ({note}; key {keys[name]})")

    if "report" not in needed:
        return RunResult(out, None, None, status, timings)

    from audit.cam import TITLES
    from audit.report.render import write_outputs
    from audit.verdict import decide_verdict

    t0 = time.perf_counter()
    checks = outputs["checks"]
    check_dicts = [{"name": c.name, "status": c.status, "evidence": c.evidence, "headline": c.headline} for c in checks]
    panel, cams = outputs["panel"], outputs["cam"]
    verdict = decide_verdict(
        panel.summaries,
        check_dicts,
        cfg.verdict,
        lead=cams.method,
        lead_reason=cams.reason,
        titles=TITLES,
        balanced_accuracy=outputs["predict"].metrics["balanced_accuracy"],
        duplicates=list(outputs["data"].duplicates),
    )
    results = build_results(cfg, outputs, verdict, timings, status, compute_seconds)
    problems = validate_results(json.loads(json.dumps(results, default=_json_default)))
    if problems:  # a broken contract is a bug here, not a user error
        raise RuntimeError("results.json does not follow the contract: " + "; ".join(problems))
    write_outputs(out, cfg, results, outputs)
    timings["report"] = time.perf_counter() - t0
    results["timings"]["report"] = timings["report"]
    write_text_atomic(out / "results.json", json.dumps(results, indent=2, default=_json_default))
    say(f"[report] {timings['report']:.1f} s -> {out / 'report.html'}")
    say(f"verdict: {verdict['label']}: {verdict['summary']}")
    return RunResult(out, results, verdict["label"], status, timings)


def cached_outputs(cfg: Config, out: Path, upto: str, cache: Path | None = None) -> dict[str, Any]:
    """Outputs of stage ``upto`` and everything upstream, computed into ``out`` if missing and
    then loaded from its cache (for benchmarks and tools that work on a finished run)."""
    run_pipeline(cfg, out, only=upto, cache=cache)
    keys = stage_keys(cfg)
    cache = Path(cache) if cache is not None else Path(out) / "cache"
    return {name: STAGES[name].load(cache / f"{name}-{keys[name]}") for name in _needed(upto)}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
