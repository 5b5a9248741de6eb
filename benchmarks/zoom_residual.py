"""What does a model behind an input mitigation still read of the zoom?  (issue 21, a diagnostic)

Behind ``brain_crop+cut_augmentation`` a zoom cell's model keeps a few points of reliance on Colin27 (worst
class 0.05-0.09 on four of five draws at 0.10.10, 0.07-0.09 on two at 0.10.11, against 0.01-0.03 for a model that
never saw the zoom; docs/mitigations.md).  A zoom changes two things at once: the **framing** (the head larger and
shifted, so the frame cuts it and the pipeline's pixel-sized steps meet a larger head) and the **render** (the
slice sampled more finely, the noise drawn per output pixel; before 0.10.11 also the bias field and elastic warp,
which since move with the anatomy).  This tells them apart, causally, on the cell's trained model.

For each image of a fresh draw (never trained on) the benchmark renders it tied (a) and swapped (b): the same
slice, pose, noise and tumor, with the zoom on one of them (``generate_dataset(..., swap_ties=True)``).  Two
more inputs move one render into the other's framing (:func:`audit.data.synthetic.reframe`): a in b's framing
(the plain render enlarged and cut as the zoom would) and b in a's.  Per class, with accuracy A:

- drop = A(a) - A(b), as the benchmark measures it (on more images);
- framing = [A(a) - A(a in b's framing) + A(b in a's framing) - A(b)] / 2, the loss from the swapped framing
  averaged over both renders; render = [A(a) - A(b in a's framing) + A(a in b's framing) - A(b)] / 2, the loss
  from the swapped render averaged over both framings; framing + render = drop (a 2 x 2 factorial);
- the drop with the skull-strip's mask cleaned by the phantom's labels (its pixels on skull, scalp or background
  removed; ``normalize_input(..., brain=)``): what the extraction's leaks carry, and the share of images whose
  mask is more than 3% non-brain.

Each with a paired bootstrap 95% interval over the class's images.  Reframing resamples a render once more (a
slight blur where it enlarges) and moves everything in it with the pixels, the per-pixel noise too (coarser where
it enlarges): that goes with the render.  Nothing here is tuned; it trains the cell's model (as
``benchmarks/mitigation.py`` does) and reads it.

    python benchmarks/zoom_residual.py [--seed 39] [--eval-seed 539] [--anatomies colin27,mni152]
                                       [--strengths 1.0,0.9] [--mitigation brain_crop+cut_augmentation]
                                       [--out reports/zoom_residual]

Writes ``<out>/zoom_residual.csv``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LEAK = 0.03
"""A mask counts as leaking when more than this share of it lies on skull, scalp or background (labels)."""
NON_BRAIN = ("skull", "scalp", "background")


def correct(model, preprocess: str, images: np.ndarray, labels: np.ndarray, masks=None) -> np.ndarray:
    """Bool per image: the prediction behind ``preprocess`` is right; ``masks``: the strip's masks to use."""
    from audit.mitigations import mitigation_class, preprocess_images
    from audit.mitigations.at_input import normalize_input
    from audit.model import adapt_channels, predict_proba

    if masks is None:
        x = preprocess_images(preprocess, images)[0]
    else:
        m = mitigation_class(preprocess, at_input=True)
        x = np.stack([
            np.clip(normalize_input(im, m.standardize, m.crop, m.one_size, brain=b)[0], 0, 1)
            for im, b in zip(images, masks, strict=True)
        ])  # fmt: skip
    return predict_proba(model, adapt_channels(x, model)).argmax(axis=1) == labels


def cleaned_masks(preprocess: str, images: np.ndarray, label_maps: np.ndarray) -> tuple[list, np.ndarray]:
    """The skull-strip's masks less their pixels on skull, scalp or background, and each mask's non-brain share."""
    from audit.data.labels import LABELS
    from audit.mitigations import mitigation_class
    from audit.mitigations.at_input import skull_strip

    one_size = mitigation_class(preprocess, at_input=True).one_size
    bad_codes = [LABELS[k] for k in NON_BRAIN]
    masks, shares = [], []
    for image, lab in zip(images, label_maps, strict=True):
        mask = skull_strip(image, one_size)
        bad = np.isin(lab, bad_codes)
        shares.append((mask & bad).sum() / max(mask.sum(), 1))
        masks.append(mask & ~bad)
    return masks, np.array(shares)


def effects(ok: dict[str, np.ndarray], rng: np.random.Generator, n_boot: int = 1000) -> dict[str, float]:
    """Drop, framing, render and cleaned drop (accuracy units) with paired bootstrap 95% intervals."""

    def stats(idx: np.ndarray) -> dict[str, float]:
        acc = {k: float(v[idx].mean()) for k, v in ok.items()}
        return {
            "drop": acc["a"] - acc["b"],
            "framing": (acc["a"] - acc["a_in_b"] + acc["b_in_a"] - acc["b"]) / 2,
            "render": (acc["a"] - acc["b_in_a"] + acc["a_in_b"] - acc["b"]) / 2,
            "drop_cleaned": acc["a_clean"] - acc["b_clean"],
        }

    n = len(ok["a"])
    point = stats(np.arange(n))
    boots = [stats(rng.integers(0, n, n)) for _ in range(n_boot)]
    out = {f"accuracy_{k}": float(v.mean()) for k, v in ok.items()} | point
    for k in point:
        lo, hi = np.percentile([b[k] for b in boots], [2.5, 97.5])
        out[f"{k}_ci_low"], out[f"{k}_ci_high"] = float(lo), float(hi)
    return out


def main(argv: list[str] | None = None) -> int:
    from audit.benchmark import Cell, cell_config
    from audit.config import load_config
    from audit.data.synthetic import generate_dataset, reframe
    from audit.io import write_text_atomic
    from audit.mitigations import with_mitigation
    from audit.pipeline import cached_outputs

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=None, help="the cell's data and training seed (default: experiment's)")
    p.add_argument("--eval-seed", type=int, default=539, help="data seed of the fresh images the model is probed on")
    p.add_argument("--anatomies", default="colin27,mni152")
    p.add_argument("--strengths", default="1.0,0.9")
    p.add_argument("--mitigation", default="brain_crop+cut_augmentation")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "zoom_residual")
    args = p.parse_args(argv)
    cfg = load_config(ROOT / "experiments" / "benchmark.toml")
    rows = []
    for anatomy in args.anatomies.split(","):
        for strength in (float(s) for s in args.strengths.split(",")):
            t0 = time.perf_counter()
            cell = Cell(anatomy, "present", "zoom", strength, args.seed)
            c = with_mitigation(cell_config(cfg, cell, "hirescam"), args.mitigation)
            if not c.data.preprocess:
                raise SystemExit(f"--mitigation {args.mitigation!r} has no input mitigation to probe")
            model = cached_outputs(c, args.out / cell.name, "train", cache=args.out / "cache")["train"].model
            draw = [generate_dataset(c.data, np.random.default_rng([args.eval_seed, 1]), swap_ties=s) for s in (0, 1)]
            (a, b), (ma, mb) = draw, [d.meta.to_dict("records") for d in draw]
            x = {"a": a.images, "b": b.images}
            for key, (d, source, target) in {"a_in_b": (a, ma, mb), "b_in_a": (b, mb, ma)}.items():
                moved = [reframe(im[..., 0], s, t) for im, s, t in zip(d.images, source, target, strict=True)]
                x[key] = np.stack(moved)[..., None]
            ok = {k: correct(model, c.data.preprocess, v, a.labels) for k, v in x.items()}
            leak = {}
            for k, d in (("a", a), ("b", b)):
                masks, leak[k] = cleaned_masks(c.data.preprocess, d.images, d.label_maps)
                ok[f"{k}_clean"] = correct(model, c.data.preprocess, d.images, a.labels, masks)
            for cls, name in enumerate(a.class_names):
                sel = a.labels == cls
                r = effects({k: v[sel] for k, v in ok.items()}, np.random.default_rng(0))
                rows.append({
                    "anatomy": anatomy, "p": strength, "seed": c.experiment.seed, "eval_seed": args.eval_seed,
                    "mitigation": args.mitigation, "class": name, "n": int(sel.sum()),
                    "zoomed_tied": float(a.meta["zoom"].to_numpy(bool)[sel].mean()),
                    "zoomed_swapped": float(b.meta["zoom"].to_numpy(bool)[sel].mean()),
                    **r, "leaking_a": float(np.mean(leak["a"][sel] > LEAK)),
                    "leaking_b": float(np.mean(leak["b"][sel] > LEAK)),
                })  # fmt: skip
                q = rows[-1]
                print(f"{cell.name} {name:8s} drop {q['drop']:+.3f} [{q['drop_ci_low']:+.3f}, {q['drop_ci_high']:+.3f}]"
                      f" = framing {q['framing']:+.3f} [{q['framing_ci_low']:+.3f}, {q['framing_ci_high']:+.3f}]"
                      f" + render {q['render']:+.3f} [{q['render_ci_low']:+.3f}, {q['render_ci_high']:+.3f}];"
                      f" cleaned strip {q['drop_cleaned']:+.3f} [{q['drop_cleaned_ci_low']:+.3f},"
                      f" {q['drop_cleaned_ci_high']:+.3f}]; leaking masks tied {q['leaking_a']:.3f},"
                      f" swapped {q['leaking_b']:.3f} (n {q['n']})", flush=True)  # fmt: skip
            args.out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(args.out / "zoom_residual.csv", pd.DataFrame(rows).to_csv(index=False))
            print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
