"""Two finished audits side by side: ``brain-audit compare RUN_A RUN_B [--out DIR]`` or
:func:`compare`, writing ``compare.html``.

It shows the verdicts and evidence lines of both; test accuracy, and, for phantoms whose
shortcuts are tied to the label, accuracy on the counterfactual test set (the same images with
every tie swapped to the other class, :func:`audit.benchmark.measure_reliance`), so a mitigation
that only moved the attention is told from one that removed the reliance; each CAM method's share
of energy on brain + tumor with its CI in both runs and the difference; the check statuses; and,
when both runs audited the same test images, the maps of the images whose attention moved most.
Everything is read from the two run folders (results.json, config.toml and the stage cache); a
part whose inputs are missing (a run copied without its cache) is left out with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from audit.io import write_text_atomic

__all__ = ["compare", "counterfactual_accuracy"]


def _load_run(folder: Path) -> dict:
    folder = Path(folder)
    if not (folder / "results.json").is_file():
        raise FileNotFoundError(f"{folder}: no results.json (not a finished audit)")
    return json.loads((folder / "results.json").read_text())


def _cached(folder: Path, stage: str):
    """A stage's cached output of the run in ``folder``, or None when its entry is not there."""
    from audit.config import load_config
    from audit.pipeline import STAGES, stage_keys

    config = folder / "config.toml"
    if not config.is_file():
        return None
    cfg = load_config(config)
    entry = folder / "cache" / f"{stage}-{stage_keys(cfg)[stage]}"
    return (cfg, STAGES[stage].load(entry)) if (entry / "_complete.json").is_file() else None


def counterfactual_accuracy(folder: Path) -> dict:
    """Accuracy on the run's test set with every shortcut tie swapped (phantoms only), or the reason
    it cannot be measured (``{"why": ...}``)."""
    from audit.benchmark import measure_reliance

    data, train = _cached(folder, "data"), _cached(folder, "train")
    if data is None or train is None:
        return {"why": "the run's cached data or model is not in its folder"}
    cfg, ds = data
    syn = cfg.data.synthetic
    if cfg.data.source != "synthetic" or not (any(p > 0 for p in cfg.data.artifacts.values()) or
                                              (syn.n_sites and syn.site_p > 0)):  # fmt: skip
        return {"why": "no planted shortcut is tied to the label (phantoms with [data.artifacts] or sites only)"}
    return measure_reliance(cfg, ds, train[1].model, cfg.benchmark.strong_drop, 1000)


def _maps_changed_most(a: Path, b: Path, k: int = 6) -> tuple[list[dict], str]:
    """Overlays of the same test images in both runs, the ``k`` whose off-brain energy moved most."""
    import pandas as pd

    from audit.cam.geometry import upsample_map
    from audit.report.encoding import data_uri, encode_image
    from audit.report.figures import panel_arrays

    parts = [(_cached(f, "data"), _cached(f, "cam"), _cached(f, "regions")) for f in (a, b)]
    if any(p is None for run in parts for p in run):
        return [], "a run's cached maps are not in its folder"
    (ds_a, cam_a, reg_a), (ds_b, cam_b, reg_b) = [(d[1], c[1], r[1]) for d, c, r in parts]
    ta, tb = ds_a.indices("test"), ds_b.indices("test")
    ids_a, ids_b = ds_a.meta["id"].iloc[ta].astype(str).to_numpy(), ds_b.meta["id"].iloc[tb].astype(str).to_numpy()
    if len(ids_a) != len(ids_b) or (ids_a != ids_b).any():
        return [], "the two runs audited different test images"
    pa, pb = (pd.read_csv(f / "per_image.csv", keep_default_na=False) for f in (a, b))
    moved = np.abs(pa["energy_off_target"].to_numpy(float) - pb["energy_off_target"].to_numpy(float))
    order = np.argsort(-np.nan_to_num(moved, nan=-1), kind="stable")[:k]
    colormap = parts[0][0][0].report.colormap
    items = []
    # Each run's maps on the images it saw (an input mitigation changed them: data.preprocess).
    runs = [(np.asarray(ds_a.images[ta]), cam_a, reg_a), (np.asarray(ds_b.images[tb]), cam_b, reg_b)]
    for i in order:
        strips = []
        for images, cams, regions in runs:
            up = upsample_map(np.asarray(cams.maps[i]), images.shape[1:3], cams.grid)
            strips.append(data_uri(encode_image(panel_arrays(images[i], up, np.asarray(regions[i]), colormap)[2])))
        items.append({
            "id": ids_a[i], "class": pa.loc[i, "class"], "a": strips[0], "b": strips[1],
            "off_a": float(pa.loc[i, "energy_off_target"]), "off_b": float(pb.loc[i, "energy_off_target"]),
        })  # fmt: skip
    return items, ""


def compare(a: str | Path, b: str | Path, out: str | Path | None = None) -> Path:
    """Write ``compare.html`` for runs ``a`` (before) and ``b`` (after) into ``out`` (default: ``b``)."""
    from audit.report.render import render_html

    a, b = Path(a), Path(b)
    results = (_load_run(a), _load_run(b))
    out = Path(out) if out is not None else b
    out.mkdir(parents=True, exist_ok=True)
    methods = list(dict.fromkeys([*results[0]["attention"]["panel"], *results[1]["attention"]["panel"]]))
    attention = []
    for m in methods:
        sa, sb = (r["attention"]["panel"].get(m, {}).get("on_anatomy") for r in results)
        diff = sb["mean"] - sa["mean"] if sa and sb else float("nan")
        attention.append({"method": m, "a": sa, "b": sb, "diff": diff})
    checks = sorted({c["name"] for r in results for c in r["checks"]})
    status = [{c["name"]: c for c in r["checks"]} for r in results]
    maps, maps_why = _maps_changed_most(a, b)
    context = {
        "runs": [
            {"folder": str(f), "r": r, "cf": counterfactual_accuracy(f)} for f, r in zip((a, b), results, strict=True)
        ],
        "lines": ["model_behaviour", "attention", "localisation", "dataset", "explanation_trust"],
        "attention": attention,
        "checks": [{"name": n, "a": status[0].get(n), "b": status[1].get(n)} for n in checks],
        "maps": maps,
        "maps_why": maps_why,
    }
    path = out / "compare.html"
    write_text_atomic(path, render_html(context, template="compare.html"))
    return path
