"""Render the run's outputs: report.html (self-contained), per_image.csv, config.toml, figures/.

Templates receive plain dicts, lists and DataFrames, never models.  Jinja2 runs with
autoescape on and StrictUndefined, so every string from data, config or plugins is
escaped and a missing value is an error, not a blank.  Images are embedded as data URIs
(PNG for figures, JPEG for thumbnails), so the report opens offline from disk; the same
figures are written full size into ``<out>/figures/``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import jinja2
import numpy as np
import pandas as pd

from audit.cam.geometry import Grid, upsample_map
from audit.config import resolved_config_text
from audit.data.artifacts import ARTIFACTS
from audit.io import write_bytes_atomic, write_text_atomic
from audit.regions import REGIONS
from audit.report.charts import attention_chart, attention_rows
from audit.report.encoding import data_uri, encode_image
from audit.report.figures import (
    colorbar_png,
    panel_arrays,
    roc_png,
    sample_grid_png,
    training_curves_png,
)
from audit.scores import TUMOR_METRICS
from audit.verdict import rules_text

__all__ = ["GALLERIES", "ReportInput", "gallery_strip", "render_html", "summary_html", "write_outputs"]

GALLERIES = ("Most anatomy-focused", "Most artifact-driven", "Misclassified")
"""The report's galleries, in order; card k's image | map | overlay strip is figures/:func:`gallery_strip`."""


@dataclass(frozen=True)
class ReportInput:
    """What the report draws besides results.json: the test set's arrays and tables, row-aligned.

    images : (N, H, W, C) test images; labels : (N,) class indices; class_names : by index;
    proba : (N, K) predicted probabilities; maps : (N, h, w) the lead method's maps, placed on the
    image by ``grid`` (:class:`audit.cam.geometry.Grid`); regions : (N, H, W) region indices
    (:data:`audit.regions.REGIONS`); per_image : the per-image table (per_image.csv); meta : the
    test images' metadata (artifacts, sites); checks : the check results
    (:class:`audit.checks.CheckResult`).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    proba: np.ndarray
    maps: np.ndarray
    grid: Grid
    regions: np.ndarray
    per_image: pd.DataFrame
    meta: pd.DataFrame
    checks: list


# Metadata columns the phantom generator writes: one per artifact, plus the sites' burned-in names.
_ARTIFACT_COLUMNS = (*ARTIFACTS, "site_marker")


def _fmt(value) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "figure"


def _any_area(per_image: pd.DataFrame, region: str) -> bool:
    column = f"area_{region}"
    return column in per_image and bool((per_image[column].fillna(0) > 0).any())


def gallery_strip(title: str, k: int | str) -> str:
    """File name (in figures/) of card ``k`` (from 1; ``"*"`` for a glob) of the gallery ``title``."""
    return f"gallery-{_slug(title)}-{k}.png"


def _gallery(per_image, order, images, ups, regions, colormap: str, title: str, note: str, figures: dict) -> dict:
    """One gallery's cards; each card's image | map | overlay strip also goes into ``figures``
    (``gallery-<title>-<k>.png``, written to figures/ for notebooks and other tools)."""
    items = []
    for k, i in enumerate(order):
        row = per_image.loc[i]
        base, heat, overlay = panel_arrays(images[i], ups(i), regions[i], colormap)
        figures[gallery_strip(title, k + 1)] = encode_image(np.hstack([base, heat, overlay]))
        items.append(
            {
                "id": row["id"],
                "class": row["class"],
                "correct": bool(row["correct"]),
                "caption": f"predicted {row['predicted_class']}; "
                f"brain+tumor {_fmt(row['energy_brain'] + row['energy_tumor'])}, "
                f"off-brain {_fmt(row['energy_off_target'])}",
                "image": data_uri(encode_image(base)),
                "map": data_uri(encode_image(heat)),
                "overlay": data_uri(encode_image(overlay)),
            }
        )
    return {"title": title, "note": note, "items": items}


def render_html(context: dict, template: str = "report.html") -> str:
    """``template`` (report.html, or benchmark.html for :mod:`audit.benchmark`) rendered with ``context``;
    both share templates/style.css."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("audit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = _fmt
    return env.get_template(template).render(**context)


def summary_html(results: dict) -> str:
    """The verdict box, the attention chart and the check strip of a run's results.json, as one
    self-contained HTML fragment with its own scoped style (the top of the report; an
    :class:`audit.AuditResult` shows it inline in Jupyter)."""
    chart = attention_chart(attention_rows(results))
    return render_html({"r": results, "chart": chart, "link": False}, template="summary_fragment.html")


def _dataset_findings(meta: pd.DataFrame, class_names: tuple[str, ...], labels: np.ndarray) -> pd.DataFrame:
    """Per class: images with each artifact present, and per site."""
    rows = []
    for col in _ARTIFACT_COLUMNS:
        if col in meta:
            present = meta[col].astype(str).str.lower().isin(["true", "1"]).to_numpy()
            rows.append({"finding": f"artifact: {col}", **{c: int(present[labels == k].sum()) for k, c in
                                                         enumerate(class_names)}})  # fmt: skip
    if "site" in meta:
        for site in sorted(meta["site"].astype(str).unique()):
            here = (meta["site"].astype(str) == site).to_numpy()
            rows.append({"finding": f"site: {site}", **{c: int(here[labels == k].sum()) for k, c in
                                                       enumerate(class_names)}})  # fmt: skip
    return pd.DataFrame(rows)


def write_outputs(out: Path, cfg, results: dict, inputs: ReportInput) -> None:
    """Write config.toml, per_image.csv, figures/ and report.html into ``out`` (each atomically)."""
    images, regions, per_image = np.asarray(inputs.images), inputs.regions, inputs.per_image
    class_names = inputs.class_names
    write_text_atomic(out / "config.toml", resolved_config_text(cfg))
    write_text_atomic(out / "per_image.csv", per_image.to_csv(index=False))
    colormap = cfg.report.colormap
    shape = images.shape[1:3]

    def ups(i: int) -> np.ndarray:
        return upsample_map(np.asarray(inputs.maps[i]), shape, inputs.grid)

    figures: dict[str, bytes] = {}  # file name -> PNG, written to figures/ and embedded
    history = results["model"]["history"]
    curves = training_curves_png(history, results["model"]["best_epoch"])
    if curves is not None:
        figures["training-curves.png"] = curves
    labels = inputs.labels
    figures["roc.png"] = roc_png(labels, inputs.proba, class_names)
    figures["colorbar.png"] = colorbar_png(colormap)
    samples = []
    rng = np.random.default_rng([cfg.experiment.seed, 5])
    for k, name in enumerate(class_names):
        idx = np.flatnonzero(labels == k)
        pick = np.sort(rng.choice(idx, size=min(4, len(idx)), replace=False)) if len(idx) else idx
        if len(pick):
            fname = f"samples-{k}.png"
            figures[fname] = sample_grid_png(images[pick], np.asarray(regions)[pick])
            samples.append({"class": name, "src": fname, "ids": [str(per_image.loc[i, "id"]) for i in pick]})

    n = cfg.report.gallery_size
    scored = per_image[~per_image["empty_map"]]
    on = scored["energy_brain"] + scored["energy_tumor"]

    strips: dict[str, bytes] = {}  # gallery strips: written to figures/, not embedded twice

    def gallery(order, title: str, note: str) -> dict:
        return _gallery(per_image, order, images, ups, regions, colormap, title, note, strips)

    galleries = [
        gallery(on.sort_values(ascending=False).index[:n], GALLERIES[0], "highest share of energy on brain + tumor"),
        gallery(scored["energy_off_target"].sort_values(ascending=False).index[:n], GALLERIES[1],
                "highest share of energy on skull band, background, padding and burned-in artifacts"),
        gallery(per_image.index[~per_image["correct"]][:n], GALLERIES[2], "the first misclassified test images"),
    ]  # fmt: skip

    from audit.checks import available_checks

    known = available_checks(cfg.checks.plugins)
    checks = []
    for j, c in enumerate(inputs.checks):
        cls = known.get(c.name)
        figs = {}
        for t, png in c.figures.items():
            fname = f"check-{j}-{_slug(c.name)}-{_slug(t)}.png"
            figures[fname] = png
            figs[t] = fname
        checks.append(
            {
                "name": c.name,
                "title": getattr(cls, "title", "") or c.name,
                "description": getattr(cls, "description", ""),
                "cost": getattr(cls, "cost", ""),
                "seconds": c.seconds,
                "status": c.status,
                "headline": c.headline,
                "evidence": c.evidence,
                "metrics": {k: _fmt(v) for k, v in c.metrics.items()},
                "tables": {t: df.to_dict(orient="split") for t, df in c.tables.items()},
                "figures": figs,
                "details": c.details,
            }
        )

    thumbs = []
    for i in range(len(per_image)):
        _, _, overlay = panel_arrays(images[i], ups(i), np.asarray(regions[i]), colormap, scale=1)
        thumb = cv2.resize(overlay, (64, 64), interpolation=cv2.INTER_AREA)
        thumbs.append(data_uri(encode_image(thumb, ".jpg"), "image/jpeg"))
    table_cols = [
        "id", "class", "predicted_class", "correct", *[f"prob_{c}" for c in class_names],
        *[f"energy_{r}" for r in REGIONS], "energy_off_target", "peak_region", "pointing_hit", "auprc",
        *[c for c in ("site", "contrast") if c in per_image],
    ]  # fmt: skip
    rows = per_image[table_cols].to_dict(orient="records")

    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    for fname, png in {**figures, **strips}.items():
        write_bytes_atomic(fig_dir / fname, png)
    findings = _dataset_findings(inputs.meta, class_names, labels)
    context = {
        "r": results,
        "fig": {name: data_uri(png) for name, png in figures.items()},
        "samples": samples,
        "galleries": galleries,
        "checks": checks,
        # brain_edge exists only on skull-stripped images: no empty column on the others
        "regions": [r for r in REGIONS if r != "brain_edge" or _any_area(per_image, r)],
        "tumor_metrics": list(TUMOR_METRICS),
        "findings": findings.to_dict(orient="split") if len(findings) else None,
        "table_cols": table_cols,
        "table_rows": rows,
        "thumbs": thumbs,
        "config_toml": resolved_config_text(cfg),
        "chart": attention_chart(attention_rows(results)),
        "link": True,
        "verdict_rules": rules_text(cfg.verdict),
    }
    write_text_atomic(out / "report.html", render_html(context))
