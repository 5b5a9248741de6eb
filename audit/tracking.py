"""MLflow logging of a finished run (``[report] mlflow = true``, ``audit_model(..., mlflow=True)``).

Needs the optional extra: ``pip install brain-audit[mlflow]``.  Logs into the active MLflow run
when there is one, else into a new run of the experiment named like the audit's, at the tracking
URI MLflow is configured with (``MLFLOW_TRACKING_URI``; a local ``mlruns/`` folder by default):

- params: the resolved configuration, one ``audit.section.key`` (``audit.section.table.key``) each;
- tags: ``brain_audit.verdict`` (anatomy / mixed / artifact), ``brain_audit.rule``,
  ``brain_audit.strength``, ``brain_audit.check.<name>`` (each check's status), the version;
- metrics: the model's test metrics, the lead method's energy share on brain + tumor (with its
  CI), and each check's status as a number (:data:`STATUS_CODES`);
- artifacts: report.html, results.json, per_image.csv, config.toml (and report.pdf when written).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

__all__ = ["STATUS_CODES", "check_available", "log_run"]

STATUS_CODES = {"pass": 0, "warn": 1, "fail": 2, "skipped": -1, "error": -2}
"""A check's status as an MLflow metric ``check.<name>``."""


def check_available() -> None:
    """A one-line error before anything runs when MLflow is not installed."""
    if importlib.util.find_spec("mlflow") is None:
        raise ValueError("report.mlflow = true needs MLflow: pip install 'brain-audit[mlflow]'")


def _params(table: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_params(value, f"{name}."))
        else:
            out[name] = str(value)[:500]
    return out


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or v is None:
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            out[k] = v
    return out


def log_run(results: dict, out: Path) -> str:
    """Log ``results`` (results.json) and the run's files in ``out``; returns the MLflow run id."""
    import mlflow

    import audit

    verdict = results["verdict"]
    on = results["attention"]["findings"]["on_anatomy"]
    metrics = {
        **{k: results["model"][k] for k in ("test_accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "ece")},
        "attention.on_anatomy": on["mean"], "attention.on_anatomy_ci_low": on["ci_low"],
        "attention.on_anatomy_ci_high": on["ci_high"],
        **{f"check.{c['name']}": STATUS_CODES[c["status"]] for c in results["checks"]},
    }  # fmt: skip
    tags = {
        "brain_audit.verdict": verdict["label"], "brain_audit.rule": str(verdict["rule"]),
        "brain_audit.strength": verdict["strength"][:5000], "brain_audit.version": audit.__version__,
        **{f"brain_audit.check.{c['name']}": c["status"] for c in results["checks"]},
    }  # fmt: skip
    started = mlflow.active_run() is None
    if started:
        mlflow.set_experiment(results["experiment"])
        mlflow.start_run(run_name=results["experiment"])
    try:
        run = mlflow.active_run()
        mlflow.log_params(_params(results["config"], "audit."))
        mlflow.set_tags(tags)
        mlflow.log_metrics(_finite(metrics))
        for name in ("report.html", "results.json", "per_image.csv", "config.toml", "report.pdf"):
            if (Path(out) / name).is_file():
                mlflow.log_artifact(str(Path(out) / name))
        return run.info.run_id
    finally:
        if started:
            mlflow.end_run()
