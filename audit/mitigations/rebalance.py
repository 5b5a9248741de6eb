"""Site re-balancing: within every scanner site the classes are brought to equal counts by drawing
the rarer classes' images again (with replacement), so a site no longer predicts the class.
Needs a ``site`` column in the metadata; without one it changes nothing (and says so in the log)."""

from __future__ import annotations

import numpy as np

from audit.mitigations.base import Mitigation, TrainingSet
from audit.progress import say

__all__ = ["SiteRebalancing"]


class SiteRebalancing(Mitigation):
    name = "site_rebalancing"
    title = "Re-balancing by site"
    targets = "scanner or source sites whose case mix leans by class"

    def apply(self, data: TrainingSet, rng: np.random.Generator) -> TrainingSet:
        if "site" not in data.meta or data.meta["site"].astype(str).nunique() < 2:
            say("  site_rebalancing: no sites in the metadata; training data unchanged")
            return data
        sites, labels = data.meta["site"].astype(str).to_numpy(), np.asarray(data.labels)
        rows = []
        classes = np.unique(labels)
        for site in np.unique(sites):
            here = {c: np.flatnonzero((sites == site) & (labels == c)) for c in classes}
            target = max(len(v) for v in here.values())
            for idx in here.values():
                if len(idx) == 0:
                    continue  # a class this site never saw cannot be drawn again
                extra = rng.choice(idx, size=target - len(idx), replace=True) if len(idx) < target else idx[:0]
                rows.append(np.concatenate([idx, extra]))
        order = np.sort(np.concatenate(rows))
        return TrainingSet(data.images[order], labels[order], data.regions[order],
                           data.meta.iloc[order].reset_index(drop=True))  # fmt: skip
