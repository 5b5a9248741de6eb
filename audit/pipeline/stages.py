"""The stages, ``stage_<name>(config, *upstream outputs) -> output``, and the table that says what
each reads from the config, which stages feed it and how its output persists."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.config import Config
from audit.data.dataset import Dataset, Rows, load_dataset, save_dataset
from audit.pipeline.outputs import (
    Panel,
    Predictions,
    Scores,
    Trained,
    load_cam,
    load_checks,
    load_panel,
    load_predict,
    load_regions,
    load_scores,
    load_train,
    save_cam,
    save_checks,
    save_panel,
    save_predict,
    save_regions,
    save_scores,
    save_train,
)  # fmt: skip
from audit.progress import say
from audit.regions import REGIONS, regions_from_label_maps

__all__ = ["STAGES", "STAGE_ORDER", "StageSpec", "needed_stages", "validate_run"]


def stage_data(cfg: Config) -> Dataset:
    """Build (or read) the dataset and its train/val/test split, after ``data.preprocess``."""
    from audit.data.duplicates import check_duplicates

    rng = np.random.default_rng([cfg.experiment.seed, 1])
    if cfg.data.source == "synthetic":
        from audit.data.synthetic import generate_dataset

        ds = generate_dataset(cfg.data, rng, show_progress=True)
    else:
        ds = _load_real(cfg.data, rng)
    ds = check_duplicates(ds, cfg.data.duplicate_distance, cfg.data.drop_duplicates)
    if cfg.data.preprocess:
        from audit.mitigations import preprocess_dataset

        say(f"[data] preprocessing {len(ds.images)} images with {cfg.data.preprocess}")
        ds = preprocess_dataset(cfg.data.preprocess, ds)
    return ds


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
    if data.source == "saved":
        from audit.data.dataset import read_saved_dataset

        return read_saved_dataset(Path(data.path))
    from audit.data.paired import load_paired_dataset

    return load_paired_dataset(data, rng)


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
    x_tr, x_va = np.asarray(ds.images[tr]), np.asarray(ds.images[va])
    if cfg.train.mitigation:
        (x_tr, y_train), (x_va, y_val) = (
            _mitigated(cfg, ds, rows, y, k) for k, (rows, y) in enumerate(((tr, y_train), (va, y_val)))
        )
    if cfg.train.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(
            cfg.model.architecture, ds.images.shape[1:], len(ds.class_names), cfg.model.width, cfg.model.dense_units
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return train_model(
        model, x_tr, y_train, x_va, y_val, epochs=cfg.train.epochs,
        batch_size=cfg.train.batch_size, learning_rate=cfg.train.learning_rate, patience=cfg.train.patience,
        seed=seed, augment=cfg.train.augment, min_epochs=cfg.train.min_epochs, min_delta=cfg.train.min_delta,
        lr_patience=cfg.train.lr_patience, lr_factor=cfg.train.lr_factor,
    )  # fmt: skip


def _mitigated(cfg: Config, ds: Dataset, rows: np.ndarray, y: np.ndarray, part: int):
    """(images, labels) of split rows ``rows`` after ``train.mitigation`` (seeded per split part)."""
    from audit.mitigations import TrainingSet, apply_mitigation

    data = TrainingSet(np.asarray(ds.images[rows], np.float32), np.asarray(y), region_maps(ds, rows),
                       ds.meta.iloc[rows].reset_index(drop=True))  # fmt: skip
    out = apply_mitigation(cfg.train.mitigation, data, np.random.default_rng([cfg.experiment.seed, 8, part]))
    return out.images, out.labels


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
    from audit.cam.core import CamEngine
    from audit.cam.maps import cam_options, compute_cams, resolve_method
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
    return result


def _finding_rows(ds: Dataset, preds: Predictions) -> np.ndarray:
    from audit.scores import finding_mask

    y = ds.labels[ds.indices("test")]
    return np.flatnonzero(finding_mask(y, preds.proba.argmax(axis=1) == y, ds.class_names))


def stage_panel(cfg: Config, ds: Dataset, trained: Trained, preds: Predictions, cams, regions, scores) -> Panel:
    """Maps of every panel method, scored like the lead's; occlusion on a sample of correctly
    classified finding images (``cam.occlusion_sample``), the other methods on every test image."""
    from audit.cam.core import CamEngine
    from audit.cam.maps import cam_options, compute_panel
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
    return region_maps(ds, ds.indices("test"))


def region_maps(ds: Dataset, rows: np.ndarray) -> np.ndarray:
    """Region index maps of dataset rows ``rows``: exact from label maps, else estimated, with the
    dataset's tumor masks drawn over the estimate."""
    if ds.label_maps is not None:
        return regions_from_label_maps(np.asarray(ds.label_maps[rows]))
    from audit.regions import estimate_regions

    regions = np.stack([estimate_regions(np.asarray(ds.images[i])) for i in rows]).astype(np.uint8)
    if ds.tumor_masks is not None:  # a masked set: its tumor drawn over the estimate
        regions[np.asarray(ds.tumor_masks[rows], bool)] = REGIONS.index("tumor")
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
    from audit.cam.core import CamEngine
    from audit.checks import CheckContext, available_checks, declared_evidence, run_check, validate_params
    from audit.model import adapt_channels

    checks = available_checks(cfg.checks.plugins)
    results = []
    if not cfg.checks.run:
        return results
    engine = CamEngine(trained.model, cfg.cam.layer)
    te = ds.indices("test")
    retrain = None if cfg.model.path else functools.partial(_retrain, cfg, ds)
    network = (adapt_channels(ds.images[te], trained.model), regions, trained.model)
    raw = _raw_pipeline(cfg, trained.model) if cfg.data.preprocess else None
    for i, name in enumerate(cfg.checks.run):
        cls = checks[name]
        # Behind an input mitigation, a counterfactual changes the raw pixels and goes through the preprocessing.
        behaviour = raw is not None and declared_evidence(cls) == "model_behaviour"
        images, check_regions, model = raw if behaviour else network
        ctx = CheckContext(
            images=images,
            labels=ds.labels[te],
            regions=check_regions,
            class_names=ds.class_names,
            model=model,
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


def _raw_pipeline(cfg: Config, network) -> tuple[np.ndarray, np.ndarray, object]:
    """(test images before ``data.preprocess``, their region maps, the network behind the preprocessing):
    what the counterfactual checks of an input-mitigated run see (:class:`audit.mitigations.Preprocessed`)."""
    import dataclasses

    from audit.mitigations import Preprocessed
    from audit.model import adapt_channels

    raw = stage_data(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, preprocess="")))
    te = raw.indices("test")
    return adapt_channels(raw.images[te], network), region_maps(raw, te), Preprocessed(network, cfg.data.preprocess)


def _retrain(cfg: Config, ds: Dataset, seed: int, permute_labels: bool = False):
    """The configured architecture trained again on the training split (for checks that need it)."""
    import keras

    y_tr, y_va = ds.labels[ds.indices("train")], ds.labels[ds.indices("val")]
    if permute_labels:
        rng = np.random.default_rng([seed, 7])
        y_tr, y_va = rng.permutation(y_tr), rng.permutation(y_va)
    keras.utils.set_random_seed(seed)  # a run within the run: its own reproducible initialisation
    return _fit(cfg, ds, y_tr, y_va, seed).model


def validate_run(cfg: Config) -> None:
    """Fail early, before any training, on unknown CAM methods, unknown checks, bad check parameters,
    or MLflow logging asked for without MLflow installed."""
    from audit.cam.methods import check_names
    from audit.checks import available_checks, validate_params

    check_names([cfg.cam.method], "cam.method", also=("auto",))
    check_names(cfg.cam.panel, "cam.panel")
    if cfg.train.mitigation and cfg.model.path:
        raise ValueError("train.mitigation retrains the model, but model.path loads one: set one of them")
    from audit.mitigations import mitigation_class

    if cfg.train.mitigation:
        mitigation_class(cfg.train.mitigation)
    if cfg.data.preprocess:
        mitigation_class(cfg.data.preprocess, at_input=True)
    if cfg.report.mlflow:
        from audit.tracking import check_available

        check_available()

    checks = available_checks(cfg.checks.plugins)
    for name in (*cfg.checks.run, *cfg.checks.params):
        if name not in checks:
            raise ValueError(f"unknown check {name!r}; available: {', '.join(sorted(checks)) or '(none)'}")
    for name, params in cfg.checks.params.items():
        validate_params(checks[name], params)


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
        StageSpec("train", ("experiment.seed", "model", "train"), ("data",), stage_train, save_train, load_train),
        StageSpec("predict", ("cam.batch_size",), ("data", "train"), stage_predict, save_predict, load_predict),
        StageSpec(
            "cam",
            ("experiment.seed", "cam"),
            ("data", "train"),
            stage_cam,
            save_cam,
            load_cam,
            streams=True,
            reload=True,
        ),
        StageSpec("regions", (), ("data",), stage_regions, save_regions, load_regions),
        StageSpec(
            "scores",
            ("experiment.seed", "regions", "scores"),
            ("data", "predict", "cam", "regions"),
            stage_scores,
            save_scores,
            load_scores,
        ),
        StageSpec(
            "panel",
            ("experiment.seed", "cam", "regions", "scores"),
            ("data", "train", "predict", "cam", "regions", "scores"),
            stage_panel,
            save_panel,
            load_panel,
        ),
        StageSpec(
            "checks",
            ("experiment.seed", "checks", "cam"),
            ("data", "train", "predict", "cam", "regions", "scores"),
            stage_checks,
            save_checks,
            load_checks,
        ),
    )
}


STAGE_ORDER: tuple[str, ...] = (*STAGES, "report")


def needed_stages(only: str | None) -> list[str]:
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
