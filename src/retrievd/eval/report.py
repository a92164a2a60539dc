"""What an eval run writes: results.json, Markdown tables, and plots (quality per configuration,
the default against the baseline per query, and quality against search latency)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt

from retrievd.eval.metrics import METRICS, mean, percentile

BASELINE = "rank-bm25"
PerQuery = Mapping[str, Mapping[str, float]]  # query id -> metric -> value


@dataclass(frozen=True)
class DatasetResult:
    dataset: str
    default_config: str
    configs: dict[str, PerQuery]  # config name -> per-query metrics
    baseline: PerQuery
    latency_ms: dict[str, list[float]] = field(default_factory=dict)  # config name -> each query's search time
    thresholds: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # config -> metrics.at_thresholds

    def summary(self, per_query: PerQuery) -> dict[str, float | int]:
        return {**mean(per_query), "queries": len(per_query)}

    def p50_ms(self, name: str) -> float | None:
        return percentile(self.latency_ms[name], 50) if self.latency_ms.get(name) else None

    def to_json(self) -> dict:
        return {
            "dataset": self.dataset,
            "default_config": self.default_config,
            "configs": {name: {**self.summary(scores), "p50_ms": self.p50_ms(name)} for name, scores in self.configs.items()},
            "baseline_bm25": self.summary(self.baseline),
            "thresholds": self.thresholds,
        }


def write_dataset(result: DatasetResult, out_dir: Path, command: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    (out_dir / "results.md").write_text(dataset_markdown(result, command))
    _plot_metrics(result, out_dir / "metrics.png")
    if result.default_config in result.configs:
        _plot_delta(result, out_dir / "delta_ndcg.png")
    if result.latency_ms:
        points = {name: (result.p50_ms(name) or 0.0, mean(s)["ndcg@10"]) for name, s in result.configs.items()}
        plot_latency(points, result.default_config, f"{result.dataset}: nDCG@10 against search p50", out_dir / "latency.png")


def dataset_markdown(result: DatasetResult, command: str) -> str:
    rows = {**{name: result.summary(s) for name, s in result.configs.items()}, BASELINE: result.summary(result.baseline)}
    header = "| config | " + " | ".join(METRICS) + " | queries | p50 ms |"
    lines = [f"# {result.dataset}", "", f"Reproduce: `{command}`", "", header, "|" + "---|" * (len(METRICS) + 3)]
    for name, row in rows.items():
        label = f"**{name}** (default)" if name == result.default_config else name
        p50 = result.p50_ms(name) if name in result.configs else None
        latency = f"{p50:.1f}" if p50 is not None else ""
        lines.append(f"| {label} | " + " | ".join(f"{row[m]:.3f}" for m in METRICS) + f" | {row['queries']} | {latency} |")
    if result.thresholds:
        lines += ["", "`score_threshold`: precision / recall / results kept per query (of the top 100 documents)", ""]
        levels = list(next(iter(result.thresholds.values())))
        lines += ["| config | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
        for name, by_level in result.thresholds.items():
            cells = (f"{v['precision']:.2f} / {v['recall']:.2f} / {v['kept']:.1f}" for v in by_level.values())
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
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
    if any(r.latency_ms for r in results):
        lines += ["", "Search latency, p50 ms per query (in process, 200 chunks asked for):", ""]
        lines += ["| collection | " + " | ".join(configs) + " |", "|---|" + "---|" * len(configs)]
        for r in results:
            lines.append(f"| {r.dataset} | " + " | ".join(_ms(r.p50_ms(n) if n in r.configs else None) for n in configs) + " |")
    with_levels = [r for r in results if default in r.thresholds]
    if with_levels:
        levels = list(with_levels[0].thresholds[default])
        lines += ["", f"`score_threshold` under `{default}`: precision / recall (micro-averaged over the top 100 documents):", ""]
        lines += ["| collection | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
        for r in with_levels:
            by_level = r.thresholds[default]
            lines.append(f"| {r.dataset} | " + " | ".join(f"{by_level[t]['precision']:.2f} / {by_level[t]['recall']:.2f}" for t in levels) + " |")
    return "\n".join(lines) + "\n"


def suite_latency(results: Sequence[DatasetResult]) -> dict[str, tuple[float, float]]:
    """Each configuration's mean over collections of p50 latency and of nDCG@10 (the suite plot)."""
    points = {}
    for name in dict.fromkeys(n for r in results for n in r.configs):
        runs = [r for r in results if name in r.configs and r.p50_ms(name) is not None]
        if len(runs) == len(results):
            points[name] = (
                sum(r.p50_ms(name) or 0.0 for r in runs) / len(runs),
                sum(mean(r.configs[name])["ndcg@10"] for r in runs) / len(runs),
            )
    return points


def plot_latency(points: Mapping[str, tuple[float, float]], default: str, title: str, path: Path) -> None:
    """nDCG@10 against p50 search latency, a point per configuration: the trade-off at a glance."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (ms, ndcg) in points.items():
        ax.scatter([ms], [ndcg], s=60 if name == default else 30, color="tab:red" if name == default else "tab:blue")
        ax.annotate(f"{name}{' (default)' if name == default else ''}", (ms, ndcg), textcoords="offset points", xytext=(5, 4), fontsize="small")
    ax.set_xlabel("search p50, ms per query")
    ax.set_ylabel("nDCG@10")
    ax.set_xlim(0, 1.4 * max((ms for ms, _ in points.values()), default=1.0))  # room for the labels
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else ""


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
