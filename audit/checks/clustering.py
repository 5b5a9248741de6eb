"""Strategy clustering: Spectral Relevance Analysis (SpRAy; Lapuschkin et al. 2019, "Unmasking
Clever Hans predictors and assessing what machines really learn").

Maps of the test images, placed on the image grid, area-averaged to ``size`` x ``size`` and
scaled to sum 1, are linked in a symmetric k-nearest-neighbour graph (Euclidean).  The number
of clusters is the position of the largest gap among the smallest eigenvalues of the graph's
normalised Laplacian (the eigengap heuristic, von Luxburg 2007), at most ``max_clusters``;
spectral clustering then groups the images.  Each cluster is described by its size, its class
mix and its mean energy per region, and named after the region holding most of its energy.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult
from audit.regions import REGIONS
from audit.scores import OFF_TARGET

__all__ = ["StrategyClustering", "eigengap_clusters"]


def eigengap_clusters(affinity: np.ndarray, max_clusters: int) -> tuple[int, np.ndarray]:
    """Number of clusters by the largest eigengap of ``I - D^-1/2 A D^-1/2``, and the eigenvalues."""
    degree = affinity.sum(axis=1)
    d = np.where(degree > 0, 1 / np.sqrt(np.maximum(degree, 1e-12)), 0)
    laplacian = np.eye(len(affinity)) - d[:, None] * affinity * d[None, :]
    values = np.sort(np.linalg.eigvalsh(laplacian))[: max_clusters + 1]
    if len(values) < 3:
        return 1, values
    return int(np.argmax(np.diff(values)) + 1), values


class StrategyClustering(Check):
    name = "strategy_clustering"
    title = "Strategy clustering (SpRAy)"
    description = (
        "Spectral clustering of down-sampled maps over the test set, number of clusters from the eigengap; each "
        "cluster's size, class mix and region profile, to find a subgroup handled by a shortcut strategy."
    )
    cost = "low"
    params = {"size": 16, "neighbors": 10, "max_clusters": 8, "min_share": 0.05}
    evidence = "attention"

    def run(self, ctx: CheckContext) -> CheckResult:
        from sklearn.cluster import SpectralClustering
        from sklearn.neighbors import kneighbors_graph

        p = {**self.params, **ctx.params}
        table = ctx.per_image
        weak = table["weak_map"].to_numpy(bool) if "weak_map" in table else np.zeros(len(table), bool)
        keep = np.flatnonzero(~table["empty_map"].to_numpy(bool) & ~weak)
        if len(keep) < max(3 * p["neighbors"], 10):
            return CheckResult(self.name, "skipped", f"only {len(keep)} scored maps; too few to cluster")
        maps = ctx.upsampled(np.asarray(ctx.cams.maps)[keep], ctx.cams.grid)
        small = np.stack([cv2.resize(m, (p["size"], p["size"]), interpolation=cv2.INTER_AREA) for m in maps])
        vectors = small.reshape(len(small), -1)
        vectors = vectors / np.maximum(vectors.sum(axis=1, keepdims=True), 1e-12)
        graph = kneighbors_graph(vectors, n_neighbors=p["neighbors"], include_self=False).toarray()
        affinity = np.maximum(graph, graph.T)
        k, eigenvalues = eigengap_clusters(affinity, p["max_clusters"])
        if k < 2:
            labels = np.zeros(len(keep), int)
        else:
            seed = int(ctx.rng.integers(2**31 - 1))
            model = SpectralClustering(n_clusters=k, affinity="precomputed", random_state=seed, assign_labels="kmeans")
            with warnings.catch_warnings():
                # Well-separated strategies make a disconnected graph: exactly what we look for.
                warnings.filterwarnings("ignore", message="Graph is not fully connected")
                labels = model.fit_predict(affinity)
        rows, suspicious = [], []
        sub = table.iloc[keep].reset_index(drop=True)
        for c in range(k):
            members = sub[labels == c]
            energy = {r: float(members[f"energy_{r}"].mean()) for r in REGIONS}
            lead = max(energy, key=energy.get)
            off = float(members["energy_off_target"].mean())
            classes = {name: int((members["label"] == i).sum()) for i, name in enumerate(ctx.class_names)}
            main_class = max(classes, key=classes.get)
            share_of_class = classes[main_class] / max(
                int((sub["label"] == ctx.class_names.index(main_class)).sum()), 1
            )
            name = f"{lead.replace('_', ' ')}-focused, {100 * share_of_class:.0f}% of {main_class} images"
            rows.append({"cluster": c, "name": name, "n": len(members), "share": len(members) / len(sub),
                         "accuracy": float(members["correct"].mean()), "off_target": off, **classes,
                         **{f"energy_{r}": v for r, v in energy.items()}})  # fmt: skip
            if len(members) / len(sub) >= p["min_share"] and off > 0.5:
                suspicious.append(name)
        clusters = pd.DataFrame(rows)
        figure = _mean_maps_figure(small, labels, clusters["name"].tolist())
        metrics = {"n_clusters": k, "n_maps": len(keep), "eigengap": float(np.max(np.diff(eigenvalues)))}
        if suspicious:
            status = "warn"
            headline = (
                f"{len(suspicious)} of {k} strategy clusters put most energy off the brain: {'; '.join(suspicious)}."
            )
        else:
            status = "pass"
            headline = (
                f"{k} strategy cluster(s); none of at least {100 * p['min_share']:.0f}% of the maps is off-brain."
            )
        off_regions = ", ".join(OFF_TARGET)
        return CheckResult(
            self.name, status, headline, metrics=metrics,
            tables={f"clusters (off_target = {off_regions})": clusters.round(3)},
            figures={"Mean map per strategy cluster": figure},
        )  # fmt: skip


def _mean_maps_figure(small: np.ndarray, labels: np.ndarray, names: list[str]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(names)
    fig, axes = plt.subplots(1, k, figsize=(2.4 * k, 2.8), dpi=100, squeeze=False)
    for c, ax in enumerate(axes[0]):
        mean = small[labels == c].mean(axis=0)
        ax.imshow(mean, cmap="inferno")
        ax.set_title(f"cluster {c}: n={int((labels == c).sum())}", fontsize=8)
        ax.set_xlabel(names[c][:40], fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return CheckContext.figure_png(fig)
