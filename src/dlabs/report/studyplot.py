"""The plot of a study, drawn from its saved figures (``study.json``) alone: a panel per group of
history columns (one line per variant and column, against the epoch) and a panel per group of
scores (bars per variant), with the study's title and what it measured in the title."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlabs.report.plots import pyplot, save


def _label(key: str) -> str:
    return key.replace("_", " ").replace("val ", "validation ")


def draw(result: dict, path: Path) -> Path:
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    curves, bars, rows = result["curves"], result["bars"], result["variants"]
    n = len(curves) + len(bars)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n + 0.6, 3.9), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, columns in zip(axes[0], curves):
        for i, row in enumerate(rows):
            for col, style in zip(columns, ("-", "--", ":")):
                pts = [(h["epoch"], h[col]) for h in row["history"] if isinstance(h.get(col), (int, float))]
                if not pts:
                    continue
                x, y = zip(*pts)
                name = row["label"] if len(columns) == 1 else (_label(col) if len(rows) == 1 else f"{row['label']}, {_label(col)}")
                ax.plot(x, y, style, color=colours[i % len(colours)] if len(rows) > 1 else None,
                        marker="o" if len(x) <= 12 else None, ms=3, label=name)
        for mark in result.get("marks", []):
            ax.axvline(mark["epoch"], color="grey", lw=1, ls=":")
        ys = [v for line in ax.get_lines() for v in line.get_ydata()]
        if all(c.endswith("loss") for c in columns) and ys and min(ys) > 0 and max(ys) / min(ys) > 30:
            ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel=", ".join(_label(c) for c in columns))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    for ax, keys in zip(axes[0][len(curves):], bars):
        width = 0.8 / len(keys)
        pos = np.arange(len(rows))
        for j, key in enumerate(keys):
            values = [row["scores"].get(key) for row in rows]
            values = [v if isinstance(v, (int, float)) else np.nan for v in values]
            bar = ax.bar(pos + (j - (len(keys) - 1) / 2) * width, values, width, label=_label(key))
            ax.bar_label(bar, labels=[_short(v) for v in values], fontsize=7)
        tilt = len(rows) > 2
        ax.set_xticks(pos, [row["label"] for row in rows], rotation=20 if tilt else 0, ha="right" if tilt else "center",
                      fontsize=8)
        if len(keys) > 1:  # above the panel, clear of the bars
            ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(keys), frameon=False)
        else:
            ax.set_ylabel(_label(keys[0]))
        heights = [b.get_height() for b in ax.patches]
        lo, hi = (np.nanmin(heights), np.nanmax(heights)) if heights else (0, 0)
        if all("accuracy" in k for k in keys) and 0.5 < lo <= 1.0:  # show the differences, not the common part
            ax.set_ylim(max(0.0, lo - 0.1), min(1.03, hi + 0.03))
        else:
            ax.margins(y=0.12)
    fig.suptitle(f"{result['title']}{' (smoke form)' if result.get('smoke') else ''}", fontsize=11)
    return save(fig, path)


def _short(v) -> str:
    if not isinstance(v, (int, float)) or v != v:
        return ""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"
