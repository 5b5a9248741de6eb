"""What each stage returns, and how it is saved to (and loaded from) its cache entry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Panel", "Predictions", "Scores", "Trained",
    "load_cam", "load_checks", "load_panel", "load_predict", "load_regions", "load_scores", "load_train",
    "save_cam", "save_checks", "save_panel", "save_predict", "save_regions", "save_scores", "save_train",
]  # fmt: skip


@dataclass
class Trained:
    model: Any
    history: dict[str, list[float]]
    best_epoch: int


@dataclass
class Predictions:
    """Test-set predictions: proba (N, K), metrics dict."""

    proba: np.ndarray
    metrics: dict


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


@dataclass
class Scores:
    per_image: pd.DataFrame
    attention: dict


def save_train(t: Trained, folder: Path) -> None:
    t.model.save(folder / "model.keras")
    (folder / "history.json").write_text(json.dumps({"history": t.history, "best_epoch": t.best_epoch}))


def load_train(folder: Path) -> Trained:
    import keras

    info = json.loads((folder / "history.json").read_text())
    return Trained(keras.models.load_model(folder / "model.keras"), info["history"], info["best_epoch"])


def save_predict(p: Predictions, folder: Path) -> None:
    np.save(folder / "proba.npy", p.proba)
    (folder / "metrics.json").write_text(json.dumps(p.metrics))


def load_predict(folder: Path) -> Predictions:
    return Predictions(np.load(folder / "proba.npy"), json.loads((folder / "metrics.json").read_text()))


def save_cam(c, folder: Path, prefix: str = "") -> None:
    if isinstance(c.maps, np.memmap) and Path(c.maps.filename) == (folder / f"{prefix}maps.npy").resolve():
        c.maps.flush()  # streamed there by stage_cam
    else:
        np.save(folder / f"{prefix}maps.npy", c.maps)
    np.savez(folder / f"{prefix}cams.npz", targets=c.targets, empty=c.empty)
    info = {"method": c.method, "layer": c.layer, "seconds": c.seconds, "grid": c.grid.as_dict(), "reason": c.reason}
    (folder / f"{prefix}cams.json").write_text(json.dumps(info))


def load_cam(folder: Path, prefix: str = ""):
    from audit.cam.core import CamResult
    from audit.cam.geometry import Grid

    info = json.loads((folder / f"{prefix}cams.json").read_text())
    maps = np.load(folder / f"{prefix}maps.npy", mmap_mode="r")
    with np.load(folder / f"{prefix}cams.npz") as z:
        return CamResult(
            maps, z["targets"], z["empty"], info["method"], info["layer"], info["seconds"], Grid(**info["grid"]),
            info["reason"],
        )  # fmt: skip


def save_panel(p: Panel, folder: Path) -> None:
    for m, result in p.results.items():
        save_cam(result, folder, f"{m}-")
        np.save(folder / f"{m}-rows.npy", p.rows[m])
    (folder / "panel.json").write_text(
        json.dumps({"lead": p.lead, "methods": list(p.results), "summaries": p.summaries})
    )


def load_panel(folder: Path) -> Panel:
    info = json.loads((folder / "panel.json").read_text())
    results = {m: load_cam(folder, f"{m}-") for m in info["methods"]}
    rows = {m: np.load(folder / f"{m}-rows.npy") for m in info["methods"]}
    return Panel(info["lead"], results, rows, info["summaries"])


def save_regions(r: np.ndarray, folder: Path) -> None:
    np.savez_compressed(folder / "regions.npz", regions=r)


def load_regions(folder: Path) -> np.ndarray:
    with np.load(folder / "regions.npz") as z:
        return z["regions"]


def save_scores(s: Scores, folder: Path) -> None:
    s.per_image.to_pickle(folder / "per_image.pkl")
    (folder / "attention.json").write_text(json.dumps(s.attention))


def load_scores(folder: Path) -> Scores:
    return Scores(pd.read_pickle(folder / "per_image.pkl"), json.loads((folder / "attention.json").read_text()))


def save_checks(results: list, folder: Path) -> None:
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
        rows.append({**r.record(), "tables": tables, "figures": figures})
    (folder / "checks.json").write_text(json.dumps(rows, default=float))


def load_checks(folder: Path) -> list:
    from audit.checks import CheckResult

    out = []
    for row in json.loads((folder / "checks.json").read_text()):
        tables = {t: pd.read_pickle(folder / f) for t, f in row.pop("tables").items()}
        figures = {t: (folder / f).read_bytes() for t, f in row.pop("figures").items()}
        out.append(CheckResult(**row, tables=tables, figures=figures))
    return out
