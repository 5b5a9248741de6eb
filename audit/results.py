"""The results contract: what every run writes to ``<out>/results.json``.

README ("results.json") documents each field; :func:`validate_results` checks a
results dict against :data:`SCHEMA` (keys and types; extra keys are allowed).
"""

from __future__ import annotations

__all__ = ["SCHEMA", "validate_results"]

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
