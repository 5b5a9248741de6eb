"""Synthetic brain-MRI slices with exact label maps and planted shortcut artifacts.

Anatomy comes from the MNI152 2009 templates (:mod:`audit.data.anatomy`); around the
brain we grow CSF, skull (dark cortical bone with brighter marrow) and scalp (bright
fat on T1) as shells of smoothly varying thickness.  Tumors are placed in 3-D
(:mod:`audit.data.tumors`) and push nearby tissue aside (area-preserving mass effect).
Each slice gets a contrast (:mod:`audit.data.contrasts`), a random rotation, scale,
translation and mild elastic deformation, a smooth multiplicative bias field and Rician
noise; then the enabled artifacts (:mod:`audit.data.artifacts`) and the site's look
(:mod:`audit.data.sites`).  Every pixel of the output has a label
(:data:`audit.data.labels.LABELS`), so the audit knows exactly where tumor, brain,
skull and artifacts are.

The same config and seed give identical arrays.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from audit.config import DataConfig
from audit.cores import available_cores
from audit.data.anatomy import PLANE_AXIS, Anatomy, load_anatomy, plane_coords, plane_position
from audit.data.artifacts import ARTIFACTS, assign_presence
from audit.data.artifacts import marker as marker_artifact
from audit.data.contrasts import CONTRASTS, intensity
from audit.data.dataset import Dataset, split_indices
from audit.data.labels import LABELS
from audit.data.rician import add_rician_noise
from audit.data.sites import Site, assign_sites, make_sites
from audit.data.tumors import KINDS, Tumor, TumorSampler
from audit.io import write_bytes_atomic, write_text_atomic
from audit.progress import progress

__all__ = ["BINARY_CLASSES", "FOUR_CLASSES", "export_png_tree", "generate_dataset", "reframe", "render_slice"]

BINARY_CLASSES = ("healthy", "tumor")
FOUR_CLASSES = ("glioma", "meningioma", "notumor", "pituitary")
# Order in which drawn artifacts are applied: geometry first, burned-in marks last.
_POST_ORDER = ("ghost", "padding", "intensity", "noise", "frame", "marker")
_BRAIN_LABELS = [LABELS[k] for k in ("csf", "grey_matter", "white_matter", "tumor_core", "enhancing_tumor", "edema")]
_FOV_MM = 230.0


def _smooth(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Zero-mean smooth random field of ``shape``, values roughly in [-1, 1]."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) / 1.5


def _tumor_masks(tumor: Tumor, q: np.ndarray, brain: np.ndarray, intracranial: np.ndarray) -> dict[str, np.ndarray]:
    """Compartment masks of the tumor on the slice (see :mod:`audit.data.tumors`)."""
    if tumor.kind == "glioma":
        lesion = (q < 1) & intracranial
        return {"tumor_core": (q < 0.45) & lesion, "enhancing_tumor": (q >= 0.45) & lesion,
                "edema": (q >= 1) & (q < 1.7) & brain}  # fmt: skip
    if tumor.kind == "meningioma":
        return {"tumor_core": np.zeros_like(brain), "enhancing_tumor": (q < 1) & intracranial,
                "edema": (q >= 1) & (q < 1.25) & brain}  # fmt: skip
    return {"tumor_core": np.zeros_like(brain), "enhancing_tumor": q < 1, "edema": np.zeros_like(brain)}


def render_slice(
    anat: Anatomy,
    rng: np.random.Generator,
    *,
    size: int,
    plane: str,
    level: int,
    contrast: str,
    tumor: Tumor | None = None,
    fov_mm: float = _FOV_MM,
    shift_mm: np.ndarray | None = None,
    gain: float = 1.0,
    noise_sigma: float = 0.025,
    stripped: bool = False,
    field_framing: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One slice before artifacts.

    The head around the brain is the anatomy's own (Colin27's segmented layers) or, for MNI152, CSF,
    skull and scalp grown as shells of smoothly varying thickness.  ``stripped``: skull-stripped, as
    in BraTS: everything but brain and tumor is background, exactly 0 (no noise), as after brain
    extraction and masking.

    ``field_framing``: the framing (``fov_mm``, ``shift_mm``) the scanner's smooth fields (bias field, elastic
    displacement) are drawn in; by default this render's own.  A zoom renders the slice in a tighter framing
    than the one it would have had; its fields are drawn in that one and move with the anatomy, as a coil's
    field lives in the scanner's space, not in the image's pixels (since 0.10.11: before, a zoomed brain showed
    the bias field 1.3 times finer than a plain one, a second cue the zoom planted; docs/mitigations.md).

    Returns
    -------
    image : (size, size) float32 in [0, 1].
    labels : (size, size) uint8 codes of :data:`LABELS`.
    info : geometry and tumor metadata.
    """
    fields = np.moveaxis(anat.plane_stack(plane)[level].astype(np.float32), -1, 0)
    gm, wm, csf, inside, outside = fields[:5]
    shape = gm.shape
    brain = inside > 0
    if anat.has_layers:  # the real head's layers
        ext_csf, bone, marrow, scalp = (f > 0.5 for f in fields[5:9])
        ext_csf &= ~brain
    else:  # shells around the template brain
        t_csf = 2.5 + 1.0 * _smooth(rng, shape, 4)
        t_bone = t_csf + 6.0 + 2.0 * _smooth(rng, shape, 4)
        t_scalp = t_bone + 5.0 + 2.0 * _smooth(rng, shape, 4)
        ext_csf = ~brain & (outside <= t_csf)
        bone = (outside > t_csf) & (outside <= t_bone)
        middle = (t_csf + t_bone) / 2
        marrow = bone & (np.abs(outside - middle) < 0.2 * (t_bone - t_csf))
        scalp = (outside > t_bone) & (outside <= t_scalp)
    intracranial = brain | ext_csf
    info: dict = {"tumor_kind": "", "tumor_radius_mm": 0.0, "tumor_center": ""}

    masks = None
    if tumor is not None:
        # q only near the tumor: beyond 2.7 R (largest wobble x edema reach) it is > 1.7 anyway.
        r0, c0 = plane_position(anat.gm.shape, plane, tumor.center)
        half = 2.7 * tumor.radius + 2
        win = (slice(max(int(r0 - half), 0), max(int(r0 + half) + 1, 0)),
               slice(max(int(c0 - half), 0), max(int(c0 + half) + 1, 0)))  # fmt: skip
        q = np.full(shape, np.inf, np.float32)
        q[win] = tumor.q(plane_coords(anat.gm.shape, plane, level)[win])
        offset, cut = tumor.in_plane(plane, level)
        if cut > 0 and tumor.kind != "pituitary":
            # Mass effect: tissue at radius r came from sqrt(r^2 - m^2), which frees the area
            # pi m^2 for the tumor; fading with depth keeps the brain's outline in place.
            rr, cc = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
            dr, dc = rr - r0, cc - c0
            r = np.hypot(dr, dc)
            m = (0.7 if tumor.kind == "glioma" else 0.9) * cut
            factor = np.where(r > 0, np.sqrt(np.maximum(r**2 - m**2, 0)) / np.maximum(r, 1e-6), 0)
            w = np.clip(inside / 6.0, 0, 1) * (1 - factor)
            src_r, src_c = rr - w * dr, cc - w * dc
            gm, wm, csf = (cv2.remap(v, src_c, src_r, cv2.INTER_LINEAR) for v in (gm, wm, csf))
        masks = _tumor_masks(tumor, q, brain, intracranial)
        info |= {"tumor_kind": tumor.kind, "tumor_radius_mm": round(tumor.radius, 2),
                 "tumor_center": ",".join(f"{v:.1f}" for v in tumor.center)}  # fmt: skip

    def value(tissue: str) -> float:
        return intensity(contrast, tissue)

    tissue = csf * value("csf") + gm * value("grey_matter") + wm * value("white_matter")
    tissue *= 1 + 0.04 * _smooth(rng, shape, 24)  # fine texture
    img = np.where(brain, tissue, 0).astype(np.float32)
    img[ext_csf] = value("csf")
    img[bone] = value("bone")
    img[marrow] = value("marrow")
    img[scalp] = value("scalp")

    lab = np.full(shape, LABELS["background"], np.uint8)
    fractions = np.stack([csf, gm, wm])
    codes = np.array([LABELS["csf"], LABELS["grey_matter"], LABELS["white_matter"]], np.uint8)
    lab[brain] = codes[fractions[:, brain].argmax(axis=0)]
    lab[ext_csf] = LABELS["csf"]
    lab[bone] = LABELS["skull"]
    lab[scalp] = LABELS["scalp"]

    if masks is not None:
        edema = masks["edema"]
        img[edema] = 0.3 * img[edema] + 0.7 * value("edema")
        lab[edema] = LABELS["edema"]
        solid = {"glioma": "enhancing_tumor", "meningioma": "meningioma", "pituitary": "pituitary"}[tumor.kind]
        img[masks["enhancing_tumor"]] = value(solid)
        lab[masks["enhancing_tumor"]] = LABELS["enhancing_tumor"]
        img[masks["tumor_core"]] = value("tumor_core")
        lab[masks["tumor_core"]] = LABELS["tumor_core"]
    if stripped:  # brain extraction keeps the brain and the tumor (extra-axial parts included)
        removed = ~np.isin(lab, _BRAIN_LABELS) | (ext_csf & (lab == LABELS["csf"]))
        img[removed] = 0
        lab[removed] = LABELS["background"]
    img = cv2.GaussianBlur(img, (0, 0), 0.6)  # partial volume at tissue borders

    # Geometry: output pixel -> native slice position (mm = native pixels), rotated,
    # scaled and shifted around the head's centre, plus a mild elastic displacement.
    head = lab != LABELS["background"]
    rows, cols = np.nonzero(head)
    centre = np.array([rows.mean(), cols.mean()]) if rows.size else np.array(shape) / 2
    # Random translation of a few mm on top of any requested shift (e.g. the zoom artifact's).
    shift = rng.uniform(-6, 6, 2) + (0 if shift_mm is None else np.asarray(shift_mm, float))
    theta = rng.uniform(-0.2, 0.2)
    scale = rng.uniform(0.92, 1.08)
    own = (fov_mm, np.zeros(2) if shift_mm is None else np.asarray(shift_mm, float))
    drawn_in = own if field_framing is None else (field_framing["fov_mm"], np.asarray(field_framing["shift_mm"], float))
    moved = None
    if drawn_in[0] != own[0] or not np.array_equal(drawn_in[1], own[1]):
        moved = _framing_map(size, drawn_in, own, theta, scale)

    def field(cells: int) -> np.ndarray:  # a smooth field of the scanner, in this render's pixels
        f = _smooth(rng, (size, size), cells)
        if moved is None:
            return f
        return cv2.remap(f, moved[1], moved[0], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    mm_px = fov_mm / size
    i, j = np.mgrid[0:size, 0:size].astype(np.float32)
    u, v = (i - (size - 1) / 2) * mm_px / scale, (j - (size - 1) / 2) * mm_px / scale
    src_r = centre[0] + shift[0] + math.cos(theta) * u - math.sin(theta) * v + 2.0 * field(5)
    src_c = centre[1] + shift[1] + math.sin(theta) * u + math.cos(theta) * v + 2.0 * field(5)
    src_r, src_c = src_r.astype(np.float32), src_c.astype(np.float32)
    out = cv2.remap(img, src_c, src_r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out_lab = cv2.remap(lab, src_c, src_r, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                        borderValue=LABELS["background"])  # fmt: skip

    out *= gain * np.exp(0.18 * field(3))  # scanner bias field
    out = np.clip(add_rician_noise(out, noise_sigma, rng), 0, 1).astype(np.float32)
    if stripped:
        out[out_lab == LABELS["background"]] = 0.0  # masked after extraction: no noise outside
    info |= {"rotation": round(theta, 4), "scale": round(scale, 4), "fov_mm": round(fov_mm, 1),
             "shift_mm": ",".join(f"{s:.1f}" for s in shift)}  # fmt: skip
    return out, out_lab, info


def reframe(image: np.ndarray, source: dict, target: dict, nearest: bool = False) -> np.ndarray:
    """The (H, W) ``image`` rendered in the framing of the metadata row ``source`` (:func:`render_slice`'s
    ``info``: ``fov_mm``, ``shift_mm``, ``rotation``, ``scale``), moved into the framing of ``target``: each
    native point goes where ``target``'s render puts it, by the geometry of :func:`render_slice`; what comes
    from outside the frame is 0.  Both rows must be of one slice (same rotation and scale; the benchmark's
    tied and swapped renders of one image are).  Everything moves with the pixels, the noise too (drawn per
    output pixel, it comes out coarser where the move enlarges).  ``nearest`` for label maps.  For diagnostics:
    a zoomed slice's twin with the plain render's pixels, to tell what the zoom's framing does from what
    rendering finer does (``benchmarks/zoom_residual.py``)."""
    if not (math.isclose(float(source["rotation"]), float(target["rotation"]))
            and math.isclose(float(source["scale"]), float(target["scale"]))):  # fmt: skip
        raise ValueError("reframe: source and target are not framings of one slice (rotation or scale differ)")
    src, dst = ((float(r["fov_mm"]), [float(v) for v in str(r["shift_mm"]).split(",")]) for r in (source, target))
    src_r, src_c = _framing_map(image.shape[0], src, dst, float(source["rotation"]), float(source["scale"]))
    flag = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(image, src_c, src_r, flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _framing_map(size: int, source: tuple, target: tuple, theta: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) float32 (size, size): where each pixel of a render in the framing ``target`` lies in one of the
    same slice in ``source`` (each a (fov_mm, shift_mm) pair; rotation ``theta`` and ``scale`` as drawn by
    :func:`render_slice`, whose geometry this inverts: native = centre + shift + R(theta) (pixel - c) mm_px / scale)."""
    (fov_src, shift_src), (fov_dst, shift_dst) = source, target
    mm_src, mm_dst = fov_src / size, fov_dst / size
    rot_t = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    offset = scale / mm_src * rot_t @ (np.asarray(shift_dst, float) - np.asarray(shift_src, float))
    c, k = (size - 1) / 2, mm_dst / mm_src
    i, j = np.mgrid[0:size, 0:size].astype(np.float32)
    return (c + k * (i - c) + offset[0]).astype(np.float32), (c + k * (j - c) + offset[1]).astype(np.float32)


def _tumor_area(labels: np.ndarray) -> int:
    return int(np.isin(labels, [LABELS["tumor_core"], LABELS["enhancing_tumor"]]).sum())


def _validate(cfg: DataConfig, class_names: tuple[str, ...]) -> None:
    def bad(msg: str) -> ValueError:
        return ValueError(f"data.{msg}")

    syn = cfg.synthetic
    if syn.n_images < 4:
        raise bad(f"synthetic.n_images must be at least 4, got {syn.n_images}")
    if cfg.image_size < 32:
        raise bad(f"image_size must be at least 32 px, got {cfg.image_size}")
    if len(cfg.levels) != 2 or not 0 <= cfg.levels[0] <= cfg.levels[1] <= 1:
        raise bad(f"levels must be [low, high] with 0 <= low <= high <= 1, got {list(cfg.levels)}")
    for c in syn.contrasts:
        if c not in CONTRASTS:
            raise bad(f"synthetic.contrasts: unknown contrast {c!r}; contrasts: {', '.join(CONTRASTS)}")
    if not syn.contrasts:
        raise bad("synthetic.contrasts must not be empty")
    for k in syn.tumor_kinds:
        if k not in KINDS:
            raise bad(f"synthetic.tumor_kinds: unknown tumor kind {k!r}; kinds: {', '.join(KINDS)}")
    if syn.classes == "binary" and not syn.tumor_kinds:
        raise bad("synthetic.tumor_kinds must not be empty")
    for a in cfg.artifacts:
        if a not in ARTIFACTS:
            raise bad(f"artifacts: unknown artifact {a!r}; artifacts: {', '.join(ARTIFACTS)}")
    strengths = {f"artifacts.{a}": p for a, p in cfg.artifacts.items()}
    for key, value in {
        **strengths,
        "synthetic.tumor_fraction": syn.tumor_fraction,
        "synthetic.site_p": syn.site_p,
    }.items():
        if not 0 <= value <= 1:
            raise bad(f"{key} must lie in [0, 1], got {value}")
    if syn.tie_class and syn.tie_class not in class_names:
        raise bad(f"synthetic.tie_class {syn.tie_class!r} is not a class; classes: {', '.join(class_names)}")
    if syn.n_sites < 0:
        raise bad(f"synthetic.n_sites must be >= 0, got {syn.n_sites}")
    if cfg.min_tumor_area < 1:
        raise bad(f"min_tumor_area must be >= 1, got {cfg.min_tumor_area}")


def _class_layout(cfg: DataConfig, n: int, rng: np.random.Generator) -> tuple[tuple[str, ...], np.ndarray, list[str]]:
    """Class names, labels (N,) and the tumor kind per image ('' for no tumor)."""
    if cfg.synthetic.classes == "binary":
        n_tumor = int(round(cfg.synthetic.tumor_fraction * n))
        labels = rng.permutation(np.r_[np.ones(n_tumor, np.int64), np.zeros(n - n_tumor, np.int64)])
        kinds = [str(rng.choice(cfg.synthetic.tumor_kinds)) if y else "" for y in labels]
        return BINARY_CLASSES, labels, kinds
    labels = rng.permutation(np.arange(n) % len(FOUR_CLASSES)).astype(np.int64)
    kinds = ["" if FOUR_CLASSES[y] == "notumor" else FOUR_CLASSES[y] for y in labels]
    return FOUR_CLASSES, labels, kinds


@dataclass(frozen=True)
class _Plan:
    """Everything decided per dataset, before any image is drawn (shared with worker processes)."""

    cfg: DataConfig
    class_names: tuple[str, ...]
    labels: np.ndarray
    kinds: list[str]
    presence: dict[str, np.ndarray]
    sites: list[Site]
    site_of: np.ndarray
    level_range: tuple[int, int]
    seeds: list[np.random.SeedSequence]
    sampler: TumorSampler | None


def _make_image(plan: _Plan, i: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Image i of the plan, from its own seed: the result does not depend on how work is split."""
    cfg, anat = plan.cfg, load_anatomy(plan.cfg.synthetic.anatomy)
    rng = np.random.default_rng(plan.seeds[i])
    site = plan.sites[plan.site_of[i]] if plan.sites else None
    weights = np.asarray(site.contrast_weights) if site else np.ones(len(cfg.synthetic.contrasts))
    contrast = cfg.synthetic.contrasts[int(rng.choice(len(cfg.synthetic.contrasts), p=weights / weights.sum()))]
    render = {"fov_mm": _FOV_MM * (site.fov_scale if site else 1.0), "shift_mm": np.zeros(2)}
    framing = {"fov_mm": render["fov_mm"], "shift_mm": render["shift_mm"].copy()}  # without rendering artifacts
    present = [a for a in cfg.artifacts if plan.presence[a][i]]
    boxes: dict[str, str] = {}
    for a in present:
        if hasattr(ARTIFACTS[a], "adjust"):
            ARTIFACTS[a].adjust(render, _artifact_rng(plan.seeds[i], a))
            boxes[a] = "global"
    common = {"size": cfg.image_size, "plane": cfg.synthetic.plane, "contrast": contrast,
              "gain": site.gain if site else 1.0, "noise_sigma": site.noise_sigma if site else 0.025,
              "stripped": cfg.synthetic.skull == "stripped", "field_framing": framing, **render}  # fmt: skip
    if plan.kinds[i]:
        image, lab, info = _render_tumor_slice(anat, rng, plan.sampler, plan.kinds[i], cfg, common, framing)
    else:
        level = int(rng.integers(plan.level_range[0], plan.level_range[1] + 1))
        image, lab, info = render_slice(anat, rng, level=level, **common)
        info["level"] = level

    protected = None if cfg.synthetic.artifacts_over_brain else np.isin(lab, _BRAIN_LABELS)
    for a in _POST_ORDER:
        if a in present:
            box = _apply_post(ARTIFACTS[a].apply, image, lab, rng, protected)
            boxes[a] = "global" if box is None else ",".join(map(str, box))
            if a == "padding" and protected is not None:  # the content moved
                protected = np.isin(lab, _BRAIN_LABELS)
    if site and cfg.synthetic.site_marker:
        box = _apply_post(
            lambda im, lb, r: marker_artifact.apply(im, lb, r, corner=site.marker_corner, text=site.name),
            image, lab, rng, protected,
        )  # fmt: skip
        boxes["site_marker"] = ",".join(map(str, box))
    row = {"id": f"phantom-{i:05d}", "class": plan.class_names[plan.labels[i]], "site": site.name if site else "",
           "contrast": contrast, "plane": cfg.synthetic.plane, **info, "tumor_area": _tumor_area(lab)}  # fmt: skip
    for a in (*ARTIFACTS, "site_marker"):
        row[a] = a in boxes
        row[f"{a}_box"] = boxes.get(a, "")
    return image, lab, row


def _artifact_rng(seed: np.random.SeedSequence, artifact: str) -> np.random.Generator:
    """A generator of its own for a rendering artifact's draws on the image of ``seed``: the image's own stream
    (level, pose, contrast, noise, tumor) is then the same with and without the artifact, so the benchmark's
    swapped test set (:func:`render_images` with ``swap_ties``) is the same images with the shortcut moved, not
    a second draw of them (before 0.10.10 a zoom's draws shifted the stream, and the healthy class's drop of a
    zoom cell carried the difference of two samples of 150 slices)."""
    key = (*seed.spawn_key, 1 + list(ARTIFACTS).index(artifact))
    return np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=key))


_WORKER_PLAN: _Plan | None = None


def _work(chunk: range | list[int]) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    return [_make_image(_WORKER_PLAN, i) for i in chunk]


def generate_dataset(
    cfg: DataConfig,
    rng: np.random.Generator,
    show_progress: bool = False,
    workers: int | None = None,
    swap_ties: bool = False,
) -> Dataset:
    """A labelled phantom dataset with exact label maps and a stratified split.

    ``rng`` is the only source of randomness: the same config and seed give identical
    arrays, whatever the number of ``workers`` (processes; default: all cores for
    256 images or more, else 1).

    ``swap_ties``: the same labels, split and per-image seeds, but each artifact follows the
    *other* class with its tie strength, and a class's own site is the next class's
    (``(label + 1) % n_sites``): the counterfactual set on which a model that relies on a
    shortcut loses accuracy (:mod:`audit.benchmark`).  Anatomy, pose, noise and tumors stay
    the same (since 0.10.10 also on images whose zoom changed: :func:`_artifact_rng`).  With
    strength 0 nothing changes.
    """
    plan = _make_plan(cfg, rng, swap_ties)
    n = cfg.synthetic.n_images

    workers = workers or (available_cores() if n >= 256 else 1)
    chunk = max(16, n // (8 * workers))
    chunks = [range(s, min(s + chunk, n)) for s in range(0, n, chunk)]

    results = _render(plan, chunks, workers, show_progress)
    images = np.stack([r[0] for r in results])[..., None]
    label_maps = np.stack([r[1] for r in results])
    split = split_indices(plan.labels, cfg.test_fraction, cfg.val_fraction, rng)
    return Dataset(images, plan.labels, label_maps, plan.class_names, split, pd.DataFrame([r[2] for r in results]))


def _make_plan(cfg: DataConfig, rng: np.random.Generator, swap_ties: bool) -> _Plan:
    """Everything drawn before any image is rendered: classes, shortcut presence, sites, seeds."""
    class_names = BINARY_CLASSES if cfg.synthetic.classes == "binary" else FOUR_CLASSES
    _validate(cfg, class_names)
    anat = load_anatomy(cfg.synthetic.anatomy)
    n = cfg.synthetic.n_images
    class_names, labels, kinds = _class_layout(cfg, n, rng)
    tie_class = cfg.synthetic.tie_class or ("tumor" if cfg.synthetic.classes == "binary" else "glioma")
    tied = labels == class_names.index(tie_class)
    if swap_ties:
        tied = ~tied
    presence = {a: assign_presence(tied, p, rng) for a, p in cfg.artifacts.items()}
    sites: list[Site] = (
        make_sites(cfg.synthetic.n_sites, len(cfg.synthetic.contrasts), rng) if cfg.synthetic.n_sites else []
    )
    site_labels = (labels + 1) % max(cfg.synthetic.n_sites, 1) if swap_ties else labels
    site_of = assign_sites(site_labels, cfg.synthetic.n_sites, cfg.synthetic.site_p, rng) if sites else np.full(n, -1)
    axis = PLANE_AXIS[cfg.synthetic.plane]
    lo, hi = anat.brain_extent(axis)
    level_range = (round(lo + cfg.levels[0] * (hi - lo)), round(lo + cfg.levels[1] * (hi - lo)))
    seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(n)
    sampler = TumorSampler(anat, cfg.synthetic.plane, level_range) if any(kinds) else None
    anat.plane_stack(cfg.synthetic.plane)  # build before any fork, so workers share it
    return _Plan(cfg, class_names, labels, kinds, presence, sites, site_of, level_range, seeds, sampler)


def render_images(
    cfg: DataConfig, rng: np.random.Generator, indices: np.ndarray, swap_ties: bool = False
) -> np.ndarray:
    """Images ``indices`` (K, H, W, 1) of ``generate_dataset(cfg, rng, swap_ties=swap_ties)``, without
    rendering the others (each image has its own seed): the benchmark's swapped test set."""
    plan = _make_plan(cfg, rng, swap_ties)
    indices = [int(i) for i in indices]
    chunks = [indices[s : s + 16] for s in range(0, len(indices), 16)]
    results = _render(plan, chunks, available_cores())
    return np.stack([r[0] for r in results])[..., None]


def _render(plan: _Plan, chunks: list, workers: int, show_progress: bool = False) -> list:
    """Images of ``plan`` for each chunk of indices, in order: forked worker processes when
    ``workers`` > 1 (they inherit the plan; nothing large is pickled), else this process."""
    global _WORKER_PLAN

    def collect(parts) -> list:
        if show_progress:
            parts = progress(parts, len(chunks), f"phantoms ({workers} process{'es' if workers > 1 else ''})")
        return [item for part in parts for item in part]

    _WORKER_PLAN = plan
    try:
        if workers > 1 and len(chunks) > 1 and "fork" in multiprocessing.get_all_start_methods():
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                return collect(pool.imap(_work, chunks))
        return collect(map(_work, chunks))
    finally:
        _WORKER_PLAN = None


def _apply_post(fn, image: np.ndarray, lab: np.ndarray, rng: np.random.Generator, protected: np.ndarray | None):
    """Apply a drawing artifact; where ``protected`` (brain) is True, burned-in marks are undone."""
    if protected is None:
        return fn(image, lab, rng)
    before_img, before_lab = image.copy(), lab.copy()
    box = fn(image, lab, rng)
    restore = protected & (lab == LABELS["artifact"])
    image[restore] = before_img[restore]
    lab[restore] = before_lab[restore]
    return box


def _render_tumor_slice(anat, rng, sampler, kind, cfg, common, framing):
    """Draw tumors and cutting levels until the visible tumor area reaches ``min_tumor_area``, counted in the
    slice's ``framing`` without the rendering artifacts (field of view and shift): a zoom changes the pixels a
    tumor covers and must not change which tumor and level are drawn (see :func:`_artifact_rng`).  Each try
    is rendered in that framing; an accepted one is rendered again in the artifact's, from the same state of
    ``rng`` (a render draws the same numbers in any framing)."""
    axis = PLANE_AXIS[cfg.synthetic.plane]
    n_levels = anat.gm.shape[axis]
    reframed = any(not np.array_equal(common[k], v) for k, v in framing.items())
    for _ in range(30):
        tumor = sampler.sample(rng, kind)
        for _ in range(4):
            level = int(round(float(tumor.center[axis]) + rng.uniform(-0.5, 0.5) * tumor.radius))
            level = min(max(level, 0), n_levels - 1)
            state = rng.bit_generator.state
            image, lab, info = render_slice(anat, rng, level=level, tumor=tumor, **(common | framing))
            if _tumor_area(lab) >= cfg.min_tumor_area:
                if reframed:
                    rng.bit_generator.state = state
                    image, lab, info = render_slice(anat, rng, level=level, tumor=tumor, **common)
                info["level"] = level
                return image, lab, info
    raise ValueError(
        f"data.min_tumor_area: cannot reach min_tumor_area={cfg.min_tumor_area} px for a {kind} "
        f"at image_size={cfg.image_size}; "
        "lower min_tumor_area or raise image_size"
    )


def export_png_tree(ds: Dataset, folder: str | Path) -> None:
    """Write ``images/<class>/<id>.png`` (8-bit gray), ``masks/<class>/<id>.png`` (label codes),
    ``metadata.csv`` (with the split) and ``labels.json`` (code of every label) under ``folder``."""
    folder = Path(folder)
    for k in range(len(ds.images)):
        cls, name = ds.class_names[ds.labels[k]], f"{ds.meta['id'].iloc[k]}.png"
        img = np.round(ds.images[k, ..., 0] * 255).astype(np.uint8)
        write_bytes_atomic(folder / "images" / cls / name, cv2.imencode(".png", img)[1].tobytes())
        if ds.label_maps is not None:
            write_bytes_atomic(folder / "masks" / cls / name, cv2.imencode(".png", ds.label_maps[k])[1].tobytes())
    meta = ds.meta.assign(split=ds.split, label=ds.labels)
    write_text_atomic(folder / "metadata.csv", meta.to_csv(index=False))
    write_text_atomic(folder / "labels.json", json.dumps(LABELS, indent=2))


def main(argv: list[str] | None = None) -> int:
    """``python -m audit.data.synthetic EXPERIMENT.toml OUT_DIR``: export an experiment's phantoms."""
    from audit.config import ConfigError, load_config

    p = argparse.ArgumentParser(prog="python -m audit.data.synthetic", description=main.__doc__)
    p.add_argument("experiment")
    p.add_argument("out", type=Path)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.experiment, args.overrides)
        ds = generate_dataset(cfg.data, np.random.default_rng([cfg.experiment.seed, 1]), show_progress=True)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    export_png_tree(ds, args.out)
    print(f"wrote {len(ds.images)} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
