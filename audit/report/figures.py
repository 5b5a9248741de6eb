"""Figures for people: labelled axes, perceptual colormaps, colorbars; returned as PNG bytes.

Plots use matplotlib (Agg); image panels use OpenCV on uint8 arrays.
"""

from __future__ import annotations

import cv2
import numpy as np

from audit.regions import REGIONS
from audit.report.encoding import encode_image, figure_png, pyplot

__all__ = [
    "COLORMAPS",
    "colorbar_png",
    "panel_arrays",
    "roc_png",
    "sample_grid_png",
    "training_curves_png",
]

COLORMAPS = {
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "jet": cv2.COLORMAP_JET,
}
# Contour colours (BGR) per region drawn on overlays.
CONTOURS = {"brain": (80, 200, 80), "tumor": (60, 60, 255), "artifact": (255, 200, 0)}


def training_curves_png(history: dict[str, list[float]], best_epoch: int) -> bytes | None:
    """Loss and accuracy per epoch, train and validation; the restored (best) epoch marked."""
    if not history.get("loss"):
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), dpi=100)
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, key, label in ((axes[0], "loss", "cross-entropy loss"), (axes[1], "accuracy", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            if f"{prefix}{key}" in history:
                ax.plot(epochs, history[f"{prefix}{key}"], style, marker="o", label="validation" if prefix else "train")
        ax.axvline(best_epoch, color="#888", lw=0.8, ls=":")
        ax.set_xlabel("epoch (dotted: weights kept)")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def roc_png(y_true: np.ndarray, proba: np.ndarray, class_names: tuple[str, ...]) -> bytes:
    """ROC curve of each class against the rest (one curve for two classes)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 3.6), dpi=100)
    classes = [1] if len(class_names) == 2 else range(len(class_names))
    for c in classes:
        pos = y_true == c
        if pos.all() or not pos.any():
            continue
        order = np.argsort(-proba[:, c], kind="stable")
        tpr = np.r_[0, np.cumsum(pos[order]) / pos.sum()]
        fpr = np.r_[0, np.cumsum(~pos[order]) / (~pos).sum()]
        ax.plot(fpr, tpr, label=class_names[c])
    ax.plot([0, 1], [0, 1], color="#aaa", lw=0.8, ls="--")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC on the test set", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def colorbar_png(colormap: str) -> bytes:
    """A labelled horizontal colorbar for map panels (each map is scaled to its own maximum)."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap

    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], COLORMAPS[colormap])[:, 0, ::-1] / 255
    fig, ax = plt.subplots(figsize=(4.5, 1.1), dpi=100)
    ax.imshow(np.linspace(0, 1, 256)[None, :], aspect="auto", cmap=ListedColormap(lut), extent=(0, 1, 0, 1))
    ax.set_yticks([])
    ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1 = map maximum"], fontsize=8)
    ax.set_xlabel(f"map value / its maximum ({colormap})", fontsize=8)
    fig.subplots_adjust(left=0.04, right=0.92, top=0.92, bottom=0.5)
    return figure_png(fig)


def panel_arrays(image: np.ndarray, up: np.ndarray, regions: np.ndarray, colormap: str, scale: int = 2):
    """(image, map, overlay with region contours) as uint8 BGR arrays, ``scale`` x enlarged."""
    gray = (np.clip(image[..., 0] if image.ndim == 3 else image, 0, 1) * 255).astype(np.uint8)
    peak = float(up.max())
    norm = (up / peak * 255).astype(np.uint8) if peak > 0 else np.zeros_like(gray)
    heat = cv2.applyColorMap(norm, COLORMAPS[colormap])
    base = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    overlay = cv2.addWeighted(heat, 0.4, base, 0.6, 0)
    size = (gray.shape[1] * scale, gray.shape[0] * scale)
    overlay = cv2.resize(overlay, size, interpolation=cv2.INTER_NEAREST)
    _contours(overlay, regions, size)
    resize = lambda a: cv2.resize(a, size, interpolation=cv2.INTER_NEAREST)  # noqa: E731
    return resize(base), resize(heat), overlay


def _contours(canvas: np.ndarray, regions: np.ndarray, size: tuple[int, int]) -> None:
    for name, colour in CONTOURS.items():
        mask = cv2.resize((regions == REGIONS.index(name)).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, colour, 1)


def sample_grid_png(images: np.ndarray, regions: np.ndarray, scale: int = 2) -> bytes:
    """Images side by side (H, W, C in [0, 1]) with region contours (green brain, red tumor, cyan artifact)."""
    tiles = []
    for img, reg in zip(images, regions, strict=True):
        gray = (np.clip(img[..., 0], 0, 1) * 255).astype(np.uint8)
        size = (gray.shape[1] * scale, gray.shape[0] * scale)
        tile = cv2.resize(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), size, interpolation=cv2.INTER_NEAREST)
        _contours(tile, reg, size)
        tiles.append(np.pad(tile, ((2, 2), (2, 2), (0, 0)), constant_values=255))
    return encode_image(np.hstack(tiles))
