"""Render the run's outputs: report.html (self-contained), per_image.csv, config.toml.

Templates receive plain dicts, lists and DataFrames, never models.  Jinja2 runs with
autoescape on and StrictUndefined, so every string from data, config or plugins is
escaped and a missing value is an error, not a blank.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import cv2
import jinja2
import numpy as np
import pandas as pd

from audit.io import write_text_atomic
from audit.regions import REGIONS
from audit.scores import upsample_map

__all__ = ["render_html", "write_outputs"]

_COLORMAPS = {
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "jet": cv2.COLORMAP_JET,
}
# Contour colours (BGR) per region drawn on overlays.
_CONTOURS = {"brain": (80, 200, 80), "tumor": (60, 60, 255), "artifact": (255, 200, 0)}


def _png_data_uri(img_bgr: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", img_bgr)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _panel(image: np.ndarray, cam: np.ndarray, regions: np.ndarray, grid, colormap: str, scale: int = 2) -> dict:
    """image | map | overlay with region contours, as PNG data URIs (uint8 for OpenCV drawing)."""
    gray = (np.clip(image[..., 0] if image.ndim == 3 else image, 0, 1) * 255).astype(np.uint8)
    up = upsample_map(cam, gray.shape, grid)
    peak = float(up.max())
    norm = (up / peak * 255).astype(np.uint8) if peak > 0 else np.zeros_like(gray)
    heat = cv2.applyColorMap(norm, _COLORMAPS[colormap])
    base = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    overlay = cv2.addWeighted(heat, 0.4, base, 0.6, 0)
    size = (gray.shape[1] * scale, gray.shape[0] * scale)
    overlay = cv2.resize(overlay, size, interpolation=cv2.INTER_NEAREST)
    for name, colour in _CONTOURS.items():
        mask = cv2.resize((regions == REGIONS.index(name)).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(overlay, contours, -1, colour, 1)
    return {
        "image": _png_data_uri(cv2.resize(base, size, interpolation=cv2.INTER_NEAREST)),
        "map": _png_data_uri(cv2.resize(heat, size, interpolation=cv2.INTER_NEAREST)),
        "overlay": _png_data_uri(overlay),
    }


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _gallery(
    per_image: pd.DataFrame, order: pd.Index, images, cams, regions, colormap: str, title: str, note: str
) -> dict:
    items = []
    for i in order:
        row = per_image.loc[i]
        items.append(
            {
                "id": row["id"],
                "caption": f"true {row['class']}, predicted {row['predicted_class']}; "
                f"brain+tumor {_fmt(row['energy_brain'] + row['energy_tumor'])}, "
                f"off-brain {_fmt(row['energy_off_target'])}",
                **_panel(images[i], cams.maps[i], regions[i], cams.grid, colormap),
            }
        )
    return {"title": title, "note": note, "items": items}


def render_html(context: dict) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("audit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = _fmt
    return env.get_template("report.html").render(**context)


def write_outputs(out: Path, cfg, results: dict, outputs: dict) -> None:
    """Write config.toml, per_image.csv and report.html into ``out`` (each atomically)."""
    from audit.pipeline import resolved_config_text

    ds = outputs["data"]
    te = ds.indices("test")
    images = ds.images[te]
    cams, regions = outputs["cam"], outputs["regions"]
    per_image: pd.DataFrame = outputs["scores"].per_image
    write_text_atomic(out / "config.toml", resolved_config_text(cfg))
    write_text_atomic(out / "per_image.csv", per_image.to_csv(index=False))

    n = cfg.report.gallery_size
    scored = per_image[~per_image["empty_map"]]
    on = scored["energy_brain"] + scored["energy_tumor"]
    galleries = [
        _gallery(
            per_image,
            on.sort_values(ascending=False).index[:n],
            images,
            cams,
            regions,
            cfg.report.colormap,
            "Most anatomy-focused",
            "highest share of energy on brain + tumor",
        ),
        _gallery(
            per_image,
            scored["energy_off_target"].sort_values(ascending=False).index[:n],
            images,
            cams,
            regions,
            cfg.report.colormap,
            "Most off-brain",
            "highest share of energy on skull band, background, padding, artifact",
        ),
        _gallery(
            per_image,
            per_image.index[~per_image["correct"]][:n],
            images,
            cams,
            regions,
            cfg.report.colormap,
            "Misclassified",
            "first misclassified test images",
        ),
    ]
    checks = []
    for c in outputs["checks"]:
        checks.append(
            {
                "name": c.name,
                "status": c.status,
                "headline": c.headline,
                "metrics": {k: _fmt(v) for k, v in c.metrics.items()},
                "tables": {t: df.to_dict(orient="split") for t, df in c.tables.items()},
                "figures": {
                    t: "data:image/png;base64," + base64.b64encode(png).decode("ascii") for t, png in c.figures.items()
                },
                "details": c.details,
            }
        )
    table_cols = [
        "id",
        "class",
        "predicted_class",
        "correct",
        *[f"energy_{r}" for r in REGIONS],
        "energy_off_target",
        "peak_region",
    ]
    context = {
        "r": results,
        "galleries": galleries,
        "checks": checks,
        "regions": list(REGIONS),
        "table_cols": table_cols,
        "table_rows": per_image[table_cols].to_dict(orient="records"),
        "config_toml": resolved_config_text(cfg),
        "results_json": json.dumps(
            {k: results[k] for k in ("dataset", "cam", "verdict", "versions")}, indent=2, default=str
        ),
    }
    write_text_atomic(out / "report.html", render_html(context))
