"""Plot how search latency, memory and disk grow with store size, from bench/search_e2e.py's
`--record` lines (docs/scale.jsonl), into docs/scale.png.

    .venv/bin/python bench/scale_plot.py [--figures docs/scale.jsonl] [--out docs/scale.png]

The goal lines are issue #15's: p50 <= 30 ms, p95 <= 60 ms and RSS <= 4 GB at 1M chunks.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: files only, no display
import matplotlib.pyplot as plt

DOCS = Path(__file__).resolve().parents[1] / "docs"
QUERIES = {"top10": "hybrid top 10", "filtered": "filtered (10%)", "top50": "top 50"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--figures", type=Path, default=DOCS / "scale.jsonl")
    parser.add_argument("--out", type=Path, default=DOCS / "scale.png")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.figures.read_text().splitlines() if line.strip()]
    indexes = sorted({r["index"] for r in rows})

    fig, (latency, memory) = plt.subplots(1, 2, figsize=(12, 4.5))
    for index in indexes:
        mine = sorted((r for r in rows if r["index"] == index), key=lambda r: r["chunks"])
        sizes = [r["chunks"] for r in mine]
        style = "-" if index == "qdrant-edge" else "--"
        for key, label in QUERIES.items():
            line = latency.plot(sizes, [r[key][0] for r in mine], style, marker="o", label=f"{index}: {label} p50")
            latency.plot(sizes, [r[key][1] for r in mine], style, marker="x", alpha=0.5, color=line[0].get_color())
        memory.plot(sizes, [r["rss_gib"] for r in mine], style, marker="o", label=f"{index}: RSS")
        memory.plot(sizes, [r["disk_gib"] for r in mine], style, marker="s", label=f"{index}: disk")
    latency.axhline(30, color="grey", lw=0.8, ls=":")
    latency.axhline(60, color="grey", lw=0.8, ls=":")
    latency.set(xscale="log", yscale="log", xlabel="chunks in the store", ylabel="ms (o p50, x p95)")
    latency.set_title("HTTP search latency (goal: p50 30 ms, p95 60 ms)")
    memory.axhline(4 / 1.073741824, color="grey", lw=0.8, ls=":")  # 4 GB in GiB
    memory.set(xscale="log", xlabel="chunks in the store", ylabel="GiB")
    memory.set_title("process RSS and data dir on disk (goal: RSS 4 GB)")
    for ax in (latency, memory):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
