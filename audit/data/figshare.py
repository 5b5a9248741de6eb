"""The figshare brain-tumor set of Cheng et al. (2015, 2017): 3,064 contrast-enhanced T1 slices
from 233 patients, one MATLAB file per slice holding a struct ``cjdata`` with ``image``
(int16, mostly 512 x 512), ``label`` (1 meningioma, 2 glioma, 3 pituitary tumor), ``PID``
(patient id), ``tumorMask`` and ``tumorBorder``.

The files are MATLAB v7.3 (HDF5, read with h5py; MATLAB stores matrices column-major, so
h5py sees them transposed); older v5 files are read with scipy.  Every ``*.mat`` under
``data.path`` is tried (the download comes in four folders); a file without ``cjdata``
(e.g. the set's ``cvind.mat``) or one that cannot be read is skipped and recorded.  Images
are scaled to [0, 1] by their 99.5th percentile (a few very bright pixels would otherwise
darken the whole slice), fitted to ``data.image_size`` like folder images, and the split
keeps each patient whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.data.dataset import Dataset, assemble
from audit.data.folders import fit_mask_to_size, fit_to_size

__all__ = ["CLASS_OF_LABEL", "load_figshare_dataset", "read_cheng_mat"]

CLASS_OF_LABEL = {1: "meningioma", 2: "glioma", 3: "pituitary"}


def read_cheng_mat(path: Path) -> tuple[np.ndarray, np.ndarray, int, str]:
    """(image (H, W) float32, tumor mask (H, W) bool, label, patient id) of one file.

    ValueError with the reason when the file is not a readable Cheng et al. slice.
    """
    try:
        import h5py

        with h5py.File(path, "r") as f:
            if "cjdata" not in f:
                raise ValueError("no 'cjdata' struct (not an image file of the set)")
            g = f["cjdata"]
            image, mask = np.asarray(g["image"]).T, np.asarray(g["tumorMask"]).T
            label = int(np.asarray(g["label"]).ravel()[0])
            pid = "".join(chr(int(c)) for c in np.asarray(g["PID"]).ravel())
    except OSError:  # not HDF5: a MATLAB v5 file
        from scipy.io import loadmat

        try:
            raw = loadmat(path, squeeze_me=True, struct_as_record=False)
        except Exception as exc:  # scipy raises several kinds on garbage
            raise ValueError(f"not a readable MATLAB file ({type(exc).__name__})") from None
        if "cjdata" not in raw:
            raise ValueError("no 'cjdata' struct (not an image file of the set)") from None
        c = raw["cjdata"]
        image, mask, label, pid = np.asarray(c.image), np.asarray(c.tumorMask), int(c.label), str(c.PID)
    except KeyError as exc:
        raise ValueError(f"'cjdata' lacks {exc}") from None
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"image of shape {image.shape}, expected a 2-D slice")
    if mask.shape != image.shape:
        raise ValueError(f"tumor mask {mask.shape} does not match the image {image.shape}")
    if label not in CLASS_OF_LABEL:
        raise ValueError(f"label {label} is not 1, 2 or 3")
    image = image.astype(np.float32)
    top = float(np.percentile(image, 99.5))
    image = np.clip(image, 0, top) / top if top > 0 else np.zeros_like(image)
    return image, mask.astype(bool), label, pid.strip()


def load_figshare_dataset(cfg, rng: np.random.Generator) -> Dataset:
    """Every ``*.mat`` slice under ``cfg.path`` (a :class:`audit.config.DataConfig`)."""
    root = Path(cfg.path)
    if not root.is_dir():
        raise ValueError(f"data.path: {root} is not a folder")
    files = sorted(f for f in root.rglob("*.mat") if f.is_file())
    if not files:
        raise ValueError(f"data.path: no .mat files under {root}")
    images, masks, rows, skipped, labels_txt = [], [], [], [], []
    for path in files:
        rel = str(path.relative_to(root))
        try:
            image, mask, label, pid = read_cheng_mat(path)
        except ValueError as exc:
            skipped.append({"source": rel, "reason": str(exc)})
            continue
        img, info = fit_to_size(image, cfg.image_size, cfg.resize)
        masks.append(fit_mask_to_size(mask, cfg.image_size, cfg.resize))
        images.append(img)
        labels_txt.append(CLASS_OF_LABEL[label])
        rows.append({"id": rel, "class": CLASS_OF_LABEL[label], "patient": pid, "tumor_area": int(masks[-1].sum()),
                     **info})  # fmt: skip
    class_names = tuple(c for c in CLASS_OF_LABEL.values() if c in set(labels_txt))
    return assemble(images, labels_txt, rows, skipped, cfg, rng, class_names, masks=masks)
