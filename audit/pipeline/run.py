"""The run loop: compute or load each needed stage, then decide the verdict and write the outputs."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audit.config import Config
from audit.io import write_text_atomic
from audit.pipeline.cache import remove_stale_partials, stage_keys
from audit.pipeline.stages import STAGES, needed_stages, validate_run
from audit.progress import say
from audit.provenance import set_determinism
from audit.results import build_results, json_default, validate_results

__all__ = ["RunResult", "cached_outputs", "report_input", "run_pipeline"]


@dataclass
class RunResult:
    out: Path
    results: dict | None
    verdict: str | None
    stage_status: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


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
    validate_run(cfg)
    needed = needed_stages(only)
    out = Path(out)
    cache = Path(cache) if cache is not None else out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(cache)
    keys = stage_keys(cfg)
    from audit.compute import make_strategy

    strategy = make_strategy(cfg.compute)  # before anything else starts TensorFlow's devices
    set_determinism(cfg.experiment.seed)
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

    from audit.report.render import write_outputs
    from audit.verdict import decide_verdict

    t0 = time.perf_counter()
    checks = outputs["checks"]
    check_dicts = [c.record() for c in checks]
    panel, cams = outputs["panel"], outputs["cam"]
    verdict = decide_verdict(
        panel.summaries,
        check_dicts,
        cfg.verdict,
        lead=cams.method,
        lead_reason=cams.reason,
        balanced_accuracy=outputs["predict"].metrics["balanced_accuracy"],
        duplicates=list(outputs["data"].duplicates),
    )
    results = build_results(cfg, outputs, verdict, timings, status, compute_seconds)
    problems = validate_results(json.loads(json.dumps(results, default=json_default)))
    if problems:  # a broken contract is a bug here, not a user error
        raise RuntimeError("results.json does not follow the contract: " + "; ".join(problems))
    write_outputs(out, cfg, results, report_input(outputs))
    timings["report"] = time.perf_counter() - t0
    results["timings"]["report"] = timings["report"]
    write_text_atomic(out / "results.json", json.dumps(results, indent=2, default=json_default))
    say(f"[report] {timings['report']:.1f} s -> {out / 'report.html'}")
    if cfg.report.pdf:
        from audit.report.pdf import write_pdf

        why = write_pdf(out / "report.html", out / "report.pdf")
        say(f"[report] no report.pdf: {why}" if why else f"[report] -> {out / 'report.pdf'}")
    if cfg.report.mlflow:
        from audit.tracking import log_run

        say(f"[report] logged to MLflow run {log_run(results, out)}")
    say(f"verdict: {verdict['label']}: {verdict['summary']}")
    return RunResult(out, results, verdict["label"], status, timings)


def report_input(outputs: dict[str, Any]):
    """The report's typed input (:class:`audit.report.render.ReportInput`) from the stage outputs."""
    from audit.report.render import ReportInput

    ds, cams = outputs["data"], outputs["cam"]
    te = ds.indices("test")
    return ReportInput(
        images=np.asarray(ds.images[te]), labels=ds.labels[te], class_names=ds.class_names,
        proba=outputs["predict"].proba, maps=cams.maps, grid=cams.grid, regions=outputs["regions"],
        per_image=outputs["scores"].per_image, meta=ds.meta.iloc[te].reset_index(drop=True),
        checks=list(outputs["checks"]),
    )  # fmt: skip


def cached_outputs(cfg: Config, out: Path, upto: str, cache: Path | None = None) -> dict[str, Any]:
    """Outputs of stage ``upto`` and everything upstream, computed into ``out`` if missing and
    then loaded from its cache (for benchmarks and tools that work on a finished run)."""
    run_pipeline(cfg, out, only=upto, cache=cache)
    keys = stage_keys(cfg)
    cache = Path(cache) if cache is not None else Path(out) / "cache"
    return {name: STAGES[name].load(cache / f"{name}-{keys[name]}") for name in needed_stages(upto)}
