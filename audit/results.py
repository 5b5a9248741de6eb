"""The results contract: what every run writes to ``<out>/results.json``.

docs/outputs.md ("results.json") documents each field; :func:`validate_results` checks a
results dict against :data:`SCHEMA` (keys and types; extra keys are allowed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audit.config import Config, config_to_dict
from audit.provenance import compute_info, versions
from audit.regions import REGIONS

if TYPE_CHECKING:  # annotations only: the pipeline imports this module
    from audit.data.dataset import Dataset
    from audit.pipeline.outputs import Predictions, Trained

__all__ = ["SCHEMA", "build_results", "json_default", "validate_results"]

_num = (int, float)
_summary = {
    "n": int,
    "n_empty_maps": int,
    "n_weak_maps": int,
    "n_scored": int,
    "energy": dict,
    "on_anatomy": dict,
    "off_target_majority_share": dict,
    "tumor": {"n": int, **{m: dict for m in ("pointing_hit", "energy_tumor", "auprc", "auprc_prior")}},
}

SCHEMA: dict = {
    "schema_version": int,
    "experiment": str,
    "config": dict,
    "dataset": {
        "source": str,
        "n_train": int,
        "n_val": int,
        "n_test": int,
        "classes": list,
        "class_counts": dict,
        "image_shape": list,
        "skipped": list,
        "duplicates": list,
    },
    "model": {
        "architecture": str,
        "params": int,
        "best_epoch": int,
        "epochs_run": int,
        "history": dict,
        "test_accuracy": _num,
        "balanced_accuracy": _num,
        "f1_macro": _num,
        "roc_auc": _num,
        "ece": _num,
        "confusion_matrix": list,
        "per_class": dict,
    },
    "cam": {
        "method": str,
        "method_reason": str,
        "panel": dict,
        "layer": str,
        "target": str,
        "n_images": int,
        "map_shape": list,
        "n_empty_maps": int,
        "seconds": _num,
        "images_per_second": _num,
    },
    "attention": {
        "regions": list,
        "method": str,
        "layer": str,
        "overall": _summary,
        "by_class": dict,
        "by_correct": {"correct": _summary, "incorrect": _summary},
        "findings": {"classes": list, **_summary},
        "panel": dict,
    },
    "checks": list,
    "verdict": {
        "label": str,
        "strength": str,
        "rule": int,
        "summary": str,
        "evidence": {
            "model_behaviour": {"status": str, "checks": list},
            "attention": {"label": str, "lead": str, "lead_reason": str, "methods": dict},
            "localisation": {"status": str},
            "dataset": {"status": str, "checks": list, "leaks": int},
            "explanation_trust": {"status": str, "checks": list},
            "balanced_accuracy": (int, float, type(None)),
        },
    },
    "timings": dict,
    "stage_status": dict,
    "compute": {"strategy": str, "replicas": int, "devices": list, "onednn": bool},
    "versions": {
        "python": str,
        "tensorflow": str,
        "keras": str,
        "numpy": str,
        "package": str,
        "git_commit": (str, type(None)),
    },
}

_CHECK_KEYS = {"name": str, "status": str, "evidence": str, "headline": str, "metrics": dict}


def _check(value, schema, path: str, problems: list[str]) -> None:
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            problems.append(f"{path or '<root>'}: expected an object, got {type(value).__name__}")
            return
        for key, sub in schema.items():
            where = f"{path}.{key}" if path else key
            if key not in value:
                problems.append(f"{where}: missing")
            else:
                _check(value[key], sub, where, problems)
        return
    types_ = schema if isinstance(schema, tuple) else (schema,)
    if isinstance(value, bool) and bool not in types_:
        problems.append(f"{path}: expected {' or '.join(t.__name__ for t in types_)}, got bool")
    elif not isinstance(value, types_):
        problems.append(f"{path}: expected {' or '.join(t.__name__ for t in types_)}, got {type(value).__name__}")


def validate_results(results: dict) -> list[str]:
    """Problems with ``results`` (an empty list when it follows the contract)."""
    problems: list[str] = []
    _check(results, SCHEMA, "", problems)
    if isinstance(results.get("verdict"), dict) and results["verdict"].get("label") not in (
        "anatomy",
        "mixed",
        "artifact",
    ):
        problems.append(f"verdict.label: {results['verdict'].get('label')!r} is not anatomy, mixed or artifact")
    for i, check in enumerate(results.get("checks") or []):
        _check(check, _CHECK_KEYS, f"checks[{i}]", problems)
    return problems


def build_results(
    cfg: Config, outputs: dict, verdict: dict, timings: dict, status: dict, compute_seconds: dict
) -> dict:
    """The results contract (docs/outputs.md, "results.json")."""
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
        "compute": compute_info(),
        "versions": versions(),
        "regions": list(REGIONS),
    }


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
