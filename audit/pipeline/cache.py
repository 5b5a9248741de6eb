"""Cache keys of the stages, and the housekeeping of the cache folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import audit
from audit.config import Config, config_to_dict
from audit.pipeline.stages import STAGES

__all__ = ["remove_stale_partials", "stage_keys"]


def _config_value(raw: dict, dotted: str) -> Any:
    section, _, key = dotted.partition(".")
    return raw[section][key] if key else raw[section]


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "missing"  # loading reports the problem with a clear message
    return digest.hexdigest()


def _folder_fingerprint(path: str) -> str:
    """SHA-256 of every file's relative path, size and modification time under ``path``."""
    root = Path(path)
    if not root.is_dir():
        return "missing"  # loading reports the problem with a clear message
    digest = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        st = f.stat()
        digest.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def stage_keys(cfg: Config) -> dict[str, str]:
    """Cache key of every cached stage (16 hex digits).

    A user's model file enters the train key by its content, and an image folder enters the
    data key by its listing (paths, sizes, modification times), so replacing either under
    the same name invalidates everything computed from it.  The stage's code enters by the
    digest of its compute, save and load functions and the package modules they import
    (:func:`audit.sourcecode.function_digest`), so editing e.g. ``regions/estimate.py`` recomputes the
    regions and what depends on them, not the training.  (Checks from outside the package, a
    plugin's, are not hashed: ``--fresh --only checks`` reruns them.)
    """
    from audit.compute import onednn_enabled
    from audit.sourcecode import function_digest

    raw = config_to_dict(cfg)
    kernels = "onednn" if onednn_enabled() else "eigen"  # results differ in the last bits
    keys: dict[str, str] = {}
    for name, spec in STAGES.items():
        payload = {
            "stage": name,
            "version": audit.__version__,
            "kernels": kernels,
            "config": {d: _config_value(raw, d) for d in spec.depends},
            "upstream": {u: keys[u] for u in spec.upstream},
            "code": [function_digest(f) for f in (spec.compute, spec.save, spec.load)],
        }
        if name == "train" and cfg.model.path:
            payload["model_file_sha256"] = _file_sha256(cfg.model.path)
        if name == "data" and cfg.data.source != "synthetic":
            payload["folder_listing"] = _folder_fingerprint(cfg.data.path)
        keys[name] = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return keys


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(cache: Path) -> None:
    for p in cache.glob("*.partial-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid() or not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
