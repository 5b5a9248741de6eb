"""Audit from Python, e.g. a notebook: :func:`audit_model` for a Keras model and arrays in memory,
:func:`run_experiment` for an experiment file; both run the command line's pipeline.

:func:`audit_model` writes its inputs into ``<out>/input/`` (the arrays as a saved dataset, read
back by ``data.source = "saved"``; the model as ``model.keras``, read back by ``model.path``) and
runs :func:`audit.pipeline.run_pipeline` on them, so the run's ``config.toml`` reruns the same
audit from the command line: ``python run_audit.py <out>/config.toml``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.config import Config, ConfigError, load_config, merge_sections

__all__ = ["AuditResult", "audit_model", "run_experiment"]

_RUN_FILES = ("report.html", "results.json", "per_image.csv", "config.toml")


@dataclasses.dataclass
class AuditResult:
    """One finished audit.

    Attributes
    ----------
    results : the results.json dict (schema: docs/outputs.md).
    folder : where the run wrote its files (a temporary folder when no ``out`` was given).
    report_path : ``<out>/report.html`` when an ``out`` was given (or after :meth:`save`), else None.
    """

    results: dict
    folder: Path
    report_path: Path | None = None

    @property
    def verdict(self) -> dict:
        """``label``, ``strength``, ``rule``, ``summary`` and ``evidence`` (one entry per evidence line)."""
        return self.results["verdict"]

    @property
    def per_image(self) -> pd.DataFrame:
        """The per-image table (per_image.csv): prediction, energy per region, localisation, metadata."""
        return pd.read_csv(self.folder / "per_image.csv", keep_default_na=False)

    @property
    def checks(self) -> list[dict]:
        """The check results, each ``name``, ``status``, ``evidence``, ``headline``, ``metrics``, ``details``,
        ``seconds`` (results.json's ``checks``)."""
        return self.results["checks"]

    def gallery(self, title: str = "most artifact-driven") -> list[Path]:
        """The PNG strips (image | map | overlay) of one report gallery, in the report's order:
        ``"most anatomy-focused"``, ``"most artifact-driven"`` or ``"misclassified"`` (empty when
        no image was misclassified)."""
        from audit.report.render import GALLERIES, gallery_strip

        found = [t for t in GALLERIES if t.lower() == " ".join(title.lower().split())]
        if not found:
            raise ValueError(f"no gallery {title!r}; galleries: {', '.join(t.lower() for t in GALLERIES)}")
        files = (self.folder / "figures").glob(gallery_strip(found[0], "*"))
        strips = [(int(p.stem.rpartition("-")[2]), p) for p in files]
        return [p for _, p in sorted(strips)]

    def save(self, out: str | Path) -> Path:
        """Copy the report, results.json, per_image.csv, config.toml, figures/ and input/ into ``out``
        (the cache stays behind); returns the report's path, which becomes :attr:`report_path`."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if out.resolve() != self.folder.resolve():
            for name in _RUN_FILES:
                if (self.folder / name).is_file():
                    shutil.copy2(self.folder / name, out / name)
            for sub in ("figures", "input"):
                if (self.folder / sub).is_dir():
                    shutil.copytree(self.folder / sub, out / sub, dirs_exist_ok=True)
        self.report_path = out / "report.html"
        return self.report_path

    def _repr_html_(self) -> str:
        from audit.report.render import summary_html

        return summary_html(self.results)

    def __repr__(self) -> str:
        v = self.verdict
        return f"AuditResult(verdict={v['label']!r}, rule={v['rule']}, folder={str(self.folder)!r})"


def _as_config(config: str | Path | Mapping | Config | None) -> Config:
    """A path to an experiment file, a dict of sections (``{"cam": {"method": "hirescam"}}``), a
    Config, or None (the defaults: the default experiment's cam, regions, scores, checks and verdict)."""
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    if isinstance(config, str | Path):
        return load_config(config)
    if isinstance(config, Mapping):
        return merge_sections(Config(), config)
    raise ConfigError(f"config must be a path, a dict of sections or a Config, got {type(config).__name__}")


def _images(images: Any) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C) or (N, H, W), got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError("images hold NaN or infinite values")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(
            f"float images must lie in [0, 1] (got {x.min():.3g} to {x.max():.3g}); pass uint8 or scale them"
        )
    return x


def input_dataset(images, labels, class_names=None, masks=None, regions=None, metadata=None):
    """The arrays of :func:`audit_model` as a test-only :class:`audit.data.dataset.Dataset`, checked."""
    from audit.data.dataset import Dataset
    from audit.regions import REGIONS, label_maps_from_regions

    x = _images(images)
    n = len(x)
    y = np.asarray(labels)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be {n} integers (one per image), got shape {y.shape} dtype {y.dtype}")
    k = int(y.max()) + 1 if n else 0
    names = tuple(str(c) for c in class_names) if class_names is not None else tuple(f"class_{i}" for i in range(k))
    if y.min() < 0 or k > len(names):
        raise ValueError(f"labels must lie in 0..{len(names) - 1} (class_names: {', '.join(names)})")
    shape = x.shape[:3]
    label_maps = tumor_masks = None
    if regions is not None:
        r = np.asarray(regions)
        if r.shape != shape or r.min() < 0 or r.max() >= len(REGIONS):
            raise ValueError(f"regions must be {shape} indices into {', '.join(REGIONS)}, got shape {r.shape}")
        label_maps = label_maps_from_regions(r.astype(np.uint8))
    if masks is not None:
        m = np.asarray(masks)
        if m.shape != shape:
            raise ValueError(f"masks must be {shape} (one tumor mask per image), got shape {m.shape}")
        tumor_masks = m.astype(bool)
    meta = pd.DataFrame({"id": [f"img{i:05d}" for i in range(n)]})
    if metadata is not None:
        extra = pd.DataFrame(metadata).reset_index(drop=True)
        if len(extra) != n:
            raise ValueError(f"metadata must have one row per image ({n}), got {len(extra)}")
        meta = pd.concat([meta.drop(columns=[c for c in ("id",) if c in extra]), extra], axis=1)
        meta["id"] = meta["id"].astype(str)
    meta["class"] = [names[k] for k in y]
    return Dataset(x, y.astype(np.int64), label_maps, names, np.full(n, "test"), meta, tumor_masks=tumor_masks)


def audit_model(
    model,
    images,
    labels,
    *,
    class_names=None,
    masks=None,
    regions=None,
    metadata=None,
    config: str | Path | Mapping | Config | None = None,
    out: str | Path | None = None,
    mlflow: bool | None = None,
) -> AuditResult:
    """Audit a Keras model on test images held in memory.

    Parameters
    ----------
    model : a built ``keras.Model`` whose output is one probability per class.
    images : (N, H, W, C) or (N, H, W); float in [0, 1] or uint8.
    labels : (N,) class indices.
    class_names : name of each class index (default ``class_0``, ...); a name ``healthy`` or
        ``notumor`` marks the negative class.
    masks : optional (N, H, W) bool tumor masks (localisation evidence).
    regions : optional (N, H, W) region index maps (:data:`audit.regions.REGIONS`); without them
        regions are estimated from the pixels.
    metadata : optional per-image table (e.g. ``site``), one row per image.
    config : an experiment file, a dict of sections (``{"cam": {"method": "hirescam"}}``) or a
        :class:`audit.config.Config`; None: the defaults (the default experiment's settings).
        Its ``[data]`` and ``[model]`` sections are replaced by the arrays and the model.
    out : folder for the report and results (default: a temporary folder; see :meth:`AuditResult.save`).
    mlflow : log to MLflow (``report.mlflow``; None: as the config says).

    Returns
    -------
    AuditResult.  Checks that retrain the model are skipped with the reason.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    cfg = _as_config(config)
    ds = input_dataset(images, labels, class_names, masks, regions, metadata)
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="brain-audit-"))
    inputs = folder / "input"
    _write_inputs(ds, model, inputs)
    data = dataclasses.replace(cfg.data, source="saved", path=str((inputs / "dataset").resolve()),
                               image_size=int(ds.images.shape[1]))  # fmt: skip
    model_cfg = dataclasses.replace(cfg.model, path=str((inputs / "model.keras").resolve()),
                                    allow_unsafe_deserialization=True)  # fmt: skip
    cfg = dataclasses.replace(cfg, data=data, model=model_cfg)
    if mlflow is not None:
        cfg = dataclasses.replace(cfg, report=dataclasses.replace(cfg.report, mlflow=bool(mlflow)))
    result = _run(cfg, folder)
    return AuditResult(result, folder, folder / "report.html" if out is not None else None)


def _digest(ds, model) -> dict[str, str]:
    """Content digests of the inputs: unchanged inputs are not rewritten, so their cached stages stay valid."""
    data = hashlib.sha256()
    for part in (ds.images, ds.labels, ds.label_maps, ds.tumor_masks):
        data.update(b"-" if part is None else np.ascontiguousarray(part).tobytes() + str(part.shape).encode())
    data.update(json.dumps([list(ds.class_names), ds.meta.to_csv(index=False)]).encode())
    weights = hashlib.sha256(model.to_json().encode())
    for w in model.weights:
        weights.update(np.ascontiguousarray(w.numpy()).tobytes())
    return {"dataset": data.hexdigest(), "model": weights.hexdigest()}


def _write_inputs(ds, model, folder: Path) -> None:
    """The dataset and model under ``folder``, each written next to its place and renamed into it;
    an input whose digest equals the one written last time is left as it is."""
    from audit.io import write_text_atomic

    folder.mkdir(parents=True, exist_ok=True)
    digest, record = _digest(ds, model), folder / "digest.json"
    before = json.loads(record.read_text()) if record.is_file() else {}
    if before.get("dataset") != digest["dataset"] or not (folder / "dataset").is_dir():
        _write_dataset(ds, folder)
    if before.get("model") != digest["model"] or not (folder / "model.keras").is_file():
        tmp = folder / ".model.partial.keras"
        model.save(tmp)
        tmp.replace(folder / "model.keras")
    write_text_atomic(record, json.dumps(digest))


def _write_dataset(ds, folder: Path) -> None:
    from audit.data.dataset import save_dataset

    partial = Path(tempfile.mkdtemp(prefix=".dataset-", dir=folder))
    try:
        save_dataset(ds, partial)
        shutil.rmtree(folder / "dataset", ignore_errors=True)
        partial.rename(folder / "dataset")
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def run_experiment(path_or_config: str | Path | Mapping | Config, out: str | Path | None = None) -> AuditResult:
    """Run an experiment (a TOML file, a dict of sections or a Config), as ``run_audit.py`` does;
    ``out`` defaults to ``reports/<experiment name>``."""
    cfg = _as_config(path_or_config)
    folder = Path(out) if out is not None else Path("reports") / cfg.experiment.name
    return AuditResult(_run(cfg, folder), folder, folder / "report.html")


def _run(cfg: Config, folder: Path) -> dict:
    from audit.pipeline import run_pipeline

    result = run_pipeline(cfg, folder)
    return result.results
