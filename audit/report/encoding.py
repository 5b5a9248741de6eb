"""Encoding images and figures for a self-contained HTML page: PNG/JPEG bytes and ``data:`` URIs.

A leaf module (OpenCV, NumPy, matplotlib on use), so checks can encode figures without importing
the report's region drawing.
"""

from __future__ import annotations

import base64
import io

import cv2
import numpy as np

__all__ = ["data_uri", "encode_image", "figure_png", "pyplot"]


def encode_image(img_bgr: np.ndarray, ext: str = ".png") -> bytes:
    """A uint8 BGR (or gray) image as PNG bytes, or JPEG at quality 80 with ``ext=".jpg"``."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 80] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, img_bgr, params)
    if not ok:
        raise RuntimeError(f"{ext} encoding failed")
    return buf.tobytes()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """``data:`` URI of encoded image bytes, for embedding in a self-contained HTML page."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    pyplot().close(fig)
    return buf.getvalue()
