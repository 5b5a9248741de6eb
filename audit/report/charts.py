"""The report's at-a-glance charts as inline SVG (crisp at any zoom, a few kB, no script).

:func:`attention_chart` draws one stacked bar per row (a panel method, or a group of images):
the mean share of the map's energy in each region, left to right, with a whisker for the 95%
bootstrap interval of the share on brain + tumor (``on_anatomy``) at the end of the anatomy part.
Every label is escaped.
"""

from __future__ import annotations

import math
from html import escape

__all__ = ["REGION_COLORS", "attention_chart", "attention_rows"]

REGION_COLORS = {
    "brain": "#41ab5d", "tumor": "#cb181d", "brain_edge": "#9e9ac8", "skull_band": "#d9a441",
    "background": "#969696", "padding": "#c7e9c0", "artifact": "#dd3497",
}  # fmt: skip
"""Fill of each region (:data:`audit.regions.REGIONS`) in the chart and its legend."""

_ORDER = ("brain", "tumor", "brain_edge", "skull_band", "background", "padding", "artifact")


def _num(x) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return x


def attention_rows(results: dict) -> list[dict]:
    """Rows of the chart from results.json: each panel method on the correctly classified finding
    images, then the lead method per class and per correct / incorrect."""
    titles = results["verdict"]["evidence"]["attention"].get("titles", {})
    lead = results["cam"]["method"]
    rows = []
    for method, summary in results["attention"].get("panel", {}).items():
        label = titles.get(method, method) + (" (lead)" if method == lead else "")
        rows.append({"label": label, "group": "findings, by method", "summary": summary})
    lead_title = titles.get(lead, lead)
    for name, summary in results["attention"].get("by_class", {}).items():
        rows.append({"label": f"class {name}", "group": f"{lead_title}, by group", "summary": summary})
    for name in ("correct", "incorrect"):
        summary = results["attention"].get("by_correct", {}).get(name)
        if summary:
            rows.append({"label": name, "group": f"{lead_title}, by group", "summary": summary})
    return rows


def attention_chart(rows: list[dict], width: int = 560) -> str:
    """An SVG of ``rows`` (:func:`attention_rows`): stacked energy shares per region with the
    anatomy CI whisker; rows without scored maps say so instead of a bar."""
    label_w, bar_h, gap, top = 150, 16, 6, 8
    bar_w = width - label_w - 50
    y = top
    parts = []
    group = None
    for row in rows:
        if row["group"] != group:
            group = row["group"]
            y += 4
            parts.append(f'<text x="0" y="{y + 10}" class="grp">{escape(group)}</text>')
            y += 16
        s = row["summary"]
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(str(row["label"]))}</text>')
        energy = s.get("energy", {})
        n_scored = int(s.get("n_scored", 0) or 0)
        if not n_scored or not energy:
            parts.append(f'<text x="{label_w}" y="{y + 12}" class="none">no scored maps (empty or weak)</text>')
        else:
            x = float(label_w)
            for region in _ORDER:
                share = _num(energy.get(region, {}).get("mean"))
                if math.isnan(share) or share <= 0:
                    continue
                w = share * bar_w
                ci = energy[region]
                tip = f"{region}: {share:.2f} (95% CI {_num(ci.get('ci_low')):.2f}–{_num(ci.get('ci_high')):.2f})"
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{REGION_COLORS[region]}">'
                    f"<title>{escape(tip)}</title></rect>"
                )
                x += w
            on = s.get("on_anatomy", {})
            lo, mean, hi = (_num(on.get(k)) for k in ("ci_low", "mean", "ci_high"))
            if not any(math.isnan(v) for v in (lo, mean, hi)):
                x0, x1, mid = label_w + lo * bar_w, label_w + hi * bar_w, y + bar_h / 2
                parts.append(
                    f'<path d="M{x0:.1f} {mid - 5}v10M{x0:.1f} {mid}H{x1:.1f}M{x1:.1f} {mid - 5}v10" class="ci">'
                    f"<title>{escape(f'brain + tumor {mean:.2f} (95% CI {lo:.2f}–{hi:.2f})')}</title></path>"
                )
                parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 12}">{mean:.0%}</text>')
        y += bar_h + gap
    legend_y = y + 8
    x = 0.0
    for region in _ORDER:
        parts.append(f'<rect x="{x}" y="{legend_y}" width="10" height="10" fill="{REGION_COLORS[region]}"/>')
        parts.append(f'<text x="{x + 13}" y="{legend_y + 9}">{region.replace("_", " ")}</text>')
        x += 23 + 6 * len(region)
    height = legend_y + 30
    parts.append(
        f'<text x="0" y="{legend_y + 24}" class="none">share of each map\'s energy by region; whisker: 95% CI of '
        "brain + tumor, its mean on the right</text>"
    )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="energy by region per method and group">'
        "<style>text{font:11px system-ui,sans-serif;fill:#222}.grp{font-weight:bold}.none{fill:#777}"
        ".ci{stroke:#000;stroke-width:1.5;fill:none}</style>" + "".join(parts) + "</svg>"
    )
