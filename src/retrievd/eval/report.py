"""What an eval run writes: results.json, a Markdown table, and two plots."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt

from retrievd.eval.metrics import METRICS, mean

BASELINE = "rank-bm25"
PerQuery = Mapping[str, Mapping[str, float]]  # query id -> metric -> value


@dataclass(frozen=True)
class DatasetResult:
    dataset: str
    default_config: str
    configs: dict[str, PerQuery]  # config name -> per-query metrics
    baseline: PerQuery

    def summary(self, per_query: PerQuery) -> dict[str, float | int]:
        return {**mean(per_query), "queries": len(per_query)}

    def to_json(self) -> dict:
        return {
            "dataset": self.dataset,
            "default_config": self.default_config,
            "configs": {name: self.summary(scores) for name, scores in self.configs.items()},
            "baseline_bm25": self.summary(self.baseline),
        }


def write_dataset(result: DatasetResult, out_dir: Path, command: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    (out_dir / "results.md").write_text(dataset_markdown(result, command))
    _plot_metrics(result, out_dir / "metrics.png")
    if result.default_config in result.configs:
        _plot_delta(result, out_dir / "delta_ndcg.png")


def dataset_markdown(result: DatasetResult, command: str) -> str:
    rows = {**{name: result.summary(s) for name, s in result.configs.items()}, BASELINE: result.summary(result.baseline)}
    header = "| config | " + " | ".join(METRICS) + " | queries |"
    lines = [f"# {result.dataset}", "", f"Reproduce: `{command}`", "", header, "|" + "---|" * (len(METRICS) + 2)]
    for name, row in rows.items():
        label = f"**{name}** (default)" if name == result.default_config else name
        lines.append(f"| {label} | " + " | ".join(f"{row[m]:.3f}" for m in METRICS) + f" | {row['queries']} |")
    return "\n".join(lines) + "\n"


def suite_markdown(results: Sequence[DatasetResult], command: str, metric: str = "ndcg@10") -> str:
    """One table: a row per collection, a column per config, plus the default's gain over the baseline."""
    configs = list(dict.fromkeys(name for r in results for name in r.configs))
    default = results[0].default_config
    lines = [
        f"# Retrieval eval: {metric}",
        "",
        f"Reproduce: `{command}`",
        "",
        f"Default configuration: `{default}`. Per-collection tables (all metrics) and plots are in results/.",
        "",
        "| collection | queries | " + " | ".join([BASELINE, *configs]) + " | default vs baseline |",
        "|---|---|" + "---|" * (len(configs) + 2),
    ]
    means: dict[str, list[float]] = {name: [] for name in [BASELINE, *configs]}
    gains = []
    for r in results:
        row = {BASELINE: mean(r.baseline)[metric], **{n: mean(s)[metric] for n, s in r.configs.items()}}
        for name, value in row.items():
            means[name].append(value)
        if r.default_config in row and row[BASELINE]:
            gains.append(row[r.default_config] / row[BASELINE] - 1)
        cells = " | ".join(f"{row[n]:.3f}" if n in row else "" for n in [BASELINE, *configs])
        lines.append(f"| {r.dataset} | {len(r.baseline)} | {cells} | {_percent(gains[-1:]) if r.default_config in row else ''} |")
    avg = " | ".join(f"{sum(v) / len(v):.3f}" if len(v) == len(results) else "" for v in means.values())
    lines.append(f"| **mean** | | {avg} | {_percent(gains)} |")
    return "\n".join(lines) + "\n"


def _percent(gains: Sequence[float]) -> str:
    return f"{sum(gains) / len(gains):+.1%}" if gains else ""


def _plot_metrics(result: DatasetResult, path: Path) -> None:
    rows = {**{name: mean(s) for name, s in result.configs.items()}, BASELINE: mean(result.baseline)}
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(METRICS)), 4))
    width = 0.8 / len(rows)
    for i, (name, row) in enumerate(rows.items()):
        xs = [m + (i - (len(rows) - 1) / 2) * width for m in range(len(METRICS))]
        ax.bar(xs, [row[m] for m in METRICS], width, label=name)
    ax.set_xticks(range(len(METRICS)), list(METRICS))
    ax.set_ylim(0, 1)
    ax.set_title(f"{result.dataset}: metrics per configuration")
    ax.legend(fontsize="small", ncols=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_delta(result: DatasetResult, path: Path, metric: str = "ndcg@10") -> None:
    default = result.configs[result.default_config]
    deltas = sorted(default[q][metric] - result.baseline[q][metric] for q in result.baseline)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(range(len(deltas)), deltas, width=1.0, color=["tab:red" if d < 0 else "tab:green" for d in deltas])
    ax.axhline(0, color="black", linewidth=0.5)
    better, worse = sum(d > 0 for d in deltas), sum(d < 0 for d in deltas)
    ax.set_title(f"{result.dataset}: {metric} per query, {result.default_config} minus {BASELINE}")
    ax.set_xlabel(f"queries, sorted ({better} better, {worse} worse, {len(deltas) - better - worse} equal)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
