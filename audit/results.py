"""The results contract: what every run writes to ``<out>/results.json``.

docs/outputs.md ("results.json") documents each field; :func:`validate_results` checks a
results dict against :data:`SCHEMA` (keys and types; extra keys are allowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audit.config import Config, config_to_dict
from audit.provenance import compute_info, versions
from audit.regions import REGIONS

if TYPE_CHECKING:  # annotations only: the pipeline imports this module
    from audit.data.dataset import Dataset
    from audit.pipeline.outputs import Predictions, Trained

__all__ = [
    "CHECK",
    "SCHEMA",
    "SUMMARY",
    "Field",
    "Shape",
    "build_results",
    "json_default",
    "schema_markdown",
    "validate_results",
]

_num = (int, float)
_none = type(None)


@dataclass(frozen=True)
class Field:
    """One key of results.json: its type(s) and what it means (docs/outputs.md is generated from these)."""

    type: type | tuple[type, ...]
    doc: str


@dataclass(frozen=True)
class Shape:
    """A group of keys that recurs (a summary, a check), documented once under its ``name``."""

    name: str
    doc: str
    fields: dict


_CI = "`{mean, ci_low, ci_high}` (95% bootstrap)"
SUMMARY = Shape("summary", "the attention of a group of test images, one method's maps", {
    "n": Field(int, "images in the group"),
    "n_empty_maps": Field(int, "all-zero maps"),
    "n_weak_maps": Field(int, "maps whose peak is below `scores.weak_map_ratio` of the median peak"),
    "n_scored": Field(int, "images scored: neither empty nor weak"),
    "energy": Field(dict, f"region → share of the map's energy, {_CI}"),
    "on_anatomy": Field(dict, f"share of the energy on brain + tumor, {_CI}"),
    "off_target_majority_share": Field(dict, f"share of images with most of their energy off the brain, {_CI}"),
    "tumor": Field(dict, f"`n` (images with tumor pixels) and `pointing_hit`, `energy_tumor`, `auprc`, `auprc_prior`, "
                   f"each {_CI}"),
})  # fmt: skip
CHECK = Shape("check", "one check's result (`audit.checks.CheckResult`, without its tables and figures)", {
    "name": Field(str, "the check's registered name"),
    "status": Field(str, "pass / warn / fail / skipped / error"),
    "evidence": Field(str, "the evidence line it feeds (`audit.checks.base.EVIDENCE_LINES`)"),
    "headline": Field(str, "one sentence with the numbers"),
    "metrics": Field(dict, "flat name → number or string"),
    "details": Field(str, "e.g. the traceback of an `error`"),
    "seconds": Field(_num, "time the check took"),
})  # fmt: skip

SCHEMA: dict = {
    "schema_version": Field(int, "1"),
    "experiment": Field(str, "experiment name"),
    "config": Field(dict, "the resolved configuration, section → key → value (sub-tables as nested objects)"),
    "dataset": {
        "source": Field(str, "`data.source`"),
        "n_train": Field(int, "training images"),
        "n_val": Field(int, "validation images"),
        "n_test": Field(int, "test images"),
        "classes": Field(list, "class names; a label is an index into this list"),
        "class_counts": Field(dict, "`train` / `val` / `test` → class → count"),
        "image_shape": Field(list, "`[H, W, C]`"),
        "skipped": Field(list, "inputs not used, each `{source, reason}`"),
        "duplicates": Field(list, "exact and near-duplicate pairs across the split parts"),
    },
    "model": {
        "architecture": Field(str, "`model.architecture`, or `file:<name>` for a loaded model"),
        "params": Field(int, "number of parameters"),
        "best_epoch": Field(int, "the epoch whose weights were kept (early stopping)"),
        "epochs_run": Field(int, "epochs trained"),
        "history": Field(dict, "Keras training curves, metric → per-epoch values"),
        "test_accuracy": Field(_num, "test accuracy (definitions: `audit/model.py`, `classification_metrics`)"),
        "balanced_accuracy": Field(_num, "mean per-class recall on the test set"),
        "f1_macro": Field(_num, "macro-averaged F1"),
        "roc_auc": Field(_num, "ROC AUC (mean of one-vs-rest AUCs over the classes present, for more than two)"),
        "ece": Field(_num, "expected calibration error, 10 equal-width confidence bins"),
        "confusion_matrix": Field(list, "rows true, columns predicted"),
        "per_class": Field(dict, "class → precision, recall, support"),
    },
    "cam": {
        "method": Field(str, "the lead method (`audit/cam/methods.py`)"),
        "method_reason": Field(str, "why it leads (`audit/cam/lead.py`)"),
        "panel": Field(dict, "method → `n_images`, `map_shape`, `layer`, `seconds`, `n_empty_maps` of its maps"),
        "layer": Field(str, "explained layer (`input` for pixel-level and occlusion maps)"),
        "target": Field(str, "explained class: `predicted`, `true` or `index`"),
        "n_images": Field(int, "maps computed"),
        "map_shape": Field(list, "`[h, w]`"),
        "n_empty_maps": Field(int, "all-zero maps"),
        "grid": Field(
            dict, "where map cells sit on the image: `row_offset`, `row_stride`, `col_offset`, `col_stride`, `exact`"
        ),
        "seconds": Field(_num, "map computation time"),
        "images_per_second": Field(_num, "throughput"),
    },
    "attention": {
        "regions": Field(list, "region names in index order"),
        "method": Field(str, "the method whose maps are scored here (the lead)"),
        "layer": Field(str, "its layer"),
        "overall": SUMMARY,
        "by_class": Field(dict, "class → summary"),
        "by_correct": {
            "correct": SUMMARY,
            "incorrect": SUMMARY,
        },
        "findings": {
            "classes": Field(list, "the finding classes (every class but healthy / notumor)"),
            **SUMMARY.fields,
        },
        "panel": Field(dict, "method → the `findings` summary of that method's maps"),
    },
    "checks": Field(list, "one *check* per check run, in `checks.run` order"),
    "verdict": {
        "label": Field(str, "`anatomy` / `mixed` / `artifact`"),
        "strength": Field(str, "the evidence lines behind the label"),
        "rule": Field(int, "the rule that gave it, 0–5 (docs/verdict_rules.md)"),
        "summary": Field(str, "sentences citing the numbers, one per evidence line"),
        "evidence": {
            "model_behaviour": {
                "status": Field(str, "fail / warn / pass (the worst that ran), or missing"),
                "checks": Field(list, "the line's checks: `name`, `status`, `headline`"),
            },
            "attention": {
                "label": Field(str, "the panel's label, or `uninformative`"),
                "lead": Field(str, "the lead method"),
                "lead_reason": Field(str, "why it leads"),
                "methods": Field(
                    dict, "method → `label`, `on_anatomy`, `off_target_majority_share`, `share_empty_or_weak`, `cause`"
                ),
            },
            "localisation": {
                "status": Field(
                    str,
                    "supports / does not support / missing (`why`); `method`, `pointing_hit`, `auprc` (measured)",
                )
            },
            "dataset": {
                "status": Field(str, "risk / possible risk / clear / missing"),
                "checks": Field(list, "its checks"),
                "leaks": Field(int, "duplicate pairs across splits"),
            },
            "explanation_trust": {
                "status": Field(str, "doubtful / trusted / missing: how far the attention line can be believed"),
                "checks": Field(list, "its checks"),
            },
            "balanced_accuracy": Field((int, float, _none), "test balanced accuracy (rule 0), null when unknown"),
        },
    },
    "timings": Field(dict, "stage → seconds in this run (a cached stage shows its load time)"),
    "stage_status": Field(dict, "stage → `computed` / `cached`"),
    "stage_compute_seconds": Field(dict, "stage → seconds it took when it was computed"),
    "compute": {
        "strategy": Field(str, "the tf.distribute strategy's class"),
        "replicas": Field(int, "replicas in sync"),
        "devices": Field(list, "devices the run used"),
        "onednn": Field(bool, "whether TensorFlow's oneDNN kernels were on"),
    },
    "versions": {
        "python": Field(str, "Python version"),
        "tensorflow": Field(str, "TensorFlow version"),
        "keras": Field(str, "Keras version"),
        "numpy": Field(str, "NumPy version"),
        "opencv": Field(str, "OpenCV version (it draws the phantoms' text and resamples them)"),
        "package": Field(str, "brain-audit version"),
        "git_commit": Field((str, _none), "the commit of the checkout that ran, null outside git"),
    },
    "regions": Field(list, "region names in index order (`audit/regions/taxonomy.py`)"),
}
"""Every key of results.json with its type and meaning; :func:`validate_results` checks a results dict
against it (keys and types; extra keys are allowed) and :func:`schema_markdown` documents it."""


def _check(value, schema, path: str, problems: list[str]) -> None:
    if isinstance(schema, Field):
        schema = schema.type
    elif isinstance(schema, Shape):
        schema = schema.fields
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
        _check(check, CHECK, f"checks[{i}]", problems)
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
        "checks": [c.record() for c in outputs["checks"]],
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


def _type_name(tp) -> str:
    names = {int: "int", float: "float", str: "string", bool: "bool", list: "list", dict: "object", _none: "null"}
    return " or ".join(names[t] for t in (tp if isinstance(tp, tuple) else (tp,)))


def _rows(schema: dict, prefix: str, shapes: dict) -> list[str]:
    rows = []
    for key, node in schema.items():
        path = f"{prefix}{key}"
        if isinstance(node, Field):
            kind = _type_name(node.type)
            if node.type is list and "*check*" in node.doc:
                kind, shapes[CHECK.name] = "list of *check*", CHECK
            rows.append(f"| `{path}` | {kind} | {node.doc} |")
        elif isinstance(node, Shape):
            shapes[node.name] = node
            rows.append(f"| `{path}` | *{node.name}* | see *{node.name}* below |")
        else:
            rows.extend(_rows(node, f"{path}.", shapes))
    return rows


def schema_markdown() -> str:
    """The results.json reference (docs/outputs.md between its schema markers), from :data:`SCHEMA`."""
    shapes: dict[str, Shape] = {}
    lines = ["| key | type | meaning |", "|---|---|---|", *_rows(SCHEMA, "", shapes)]
    for shape in shapes.values():
        lines += ["", f"A *{shape.name}*: {shape.doc}.", "", "| key | type | meaning |", "|---|---|---|",
                  *_rows(shape.fields, "", {})]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m audit.results [--write FILE]``: print the results.json reference, or write it into
    FILE between the lines ``<!-- schema:begin -->`` and ``<!-- schema:end -->``."""
    import argparse

    from audit.io import write_text_atomic

    p = argparse.ArgumentParser(prog="python -m audit.results", description=main.__doc__)
    p.add_argument("--write", type=Path, metavar="FILE")
    args = p.parse_args(argv)
    if args.write is None:
        print(schema_markdown(), end="")
        return 0
    text = args.write.read_text(encoding="utf-8")
    begin, end = "<!-- schema:begin -->\n", "<!-- schema:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"{args.write}: no schema markers ({begin.strip()} ... {end})")
    head, rest = text.split(begin, 1)
    write_text_atomic(args.write, head + begin + schema_markdown() + end + rest.split(end, 1)[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
