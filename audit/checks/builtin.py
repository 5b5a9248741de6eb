"""Built-in checks (imported by the registry, which registers them)."""

from __future__ import annotations
