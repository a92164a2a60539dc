"""`retrievd eval run`: the retrieval eval suite from the command line."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

eval_app = typer.Typer(help="Retrieval evals: nDCG@10, recall, MRR and MAP per configuration.", no_args_is_help=True)
console = Console()


@eval_app.callback()
def _group() -> None:
    """Retrieval evals (a group, so that `run` stays a subcommand when this app is used alone)."""


def _suite(path: Path) -> tuple[list[Path], list[str]]:
    """A suite YAML: `datasets` (paths relative to the YAML file) and optional `configs`."""
    spec = yaml.safe_load(path.read_text()) or {}
    return [(path.parent / d).resolve() for d in spec.get("datasets", [])], list(spec.get("configs", []))


@eval_app.command("run")
def run(
    datasets: Annotated[list[Path], typer.Argument(help="Collection folders (BEIR or files + questions) or suite YAMLs.", exists=True)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where results go.")],
    config: Annotated[list[str] | None, typer.Option("--config", "-c", help="Configurations to run (default: all).")] = None,
) -> None:
    """Ingest each collection into a fresh vector store, run its queries through the search service,
    and write results.json, results.md and plots (with several collections: RESULTS.md and results/NAME/)."""
    from retrievd.config import Settings
    from retrievd.eval.datasets import load_dataset
    from retrievd.eval.report import plot_latency, suite_latency, suite_markdown, write_dataset
    from retrievd.eval.runner import run_dataset
    from retrievd.retrieval import fusion

    folders: list[Path] = []
    configs = list(config or [])
    for path in datasets:
        if path.is_file():
            found, suite_configs = _suite(path)
            folders.extend(found)
            configs = configs or suite_configs
        else:
            folders.append(path)
    configs = configs or list(fusion.CONFIGS)
    unknown = [name for name in configs if name not in fusion.CONFIGS]
    if unknown:
        raise typer.BadParameter(f"unknown configuration(s) {unknown}; known: {list(fusion.CONFIGS)}", param_hint="--config")
    command = shlex.join(
        ["retrievd", "eval", "run", *map(str, datasets), *(a for name in config or [] for a in ("--config", name)), "--output", str(output)]
    )
    settings = Settings()
    results = []
    for folder in folders:
        dataset = load_dataset(folder)
        result = run_dataset(dataset, configs, fusion.DEFAULT, settings)
        out_dir = output if len(folders) == 1 else output / "results" / dataset.name
        write_dataset(result, out_dir, command)
        summary = result.to_json()
        ndcg = {name: row["ndcg@10"] for name, row in [*summary["configs"].items(), ("rank-bm25", summary["baseline_bm25"])]}
        console.print(f"{dataset.name} nDCG@10: " + ", ".join(f"{name} {value:.3f}" for name, value in ndcg.items()) + f" -> {out_dir}")
        results.append(result)
    if len(folders) > 1:
        (output / "RESULTS.md").write_text(suite_markdown(results, command))
        plot_latency(suite_latency(results), fusion.DEFAULT, "Mean nDCG@10 against mean search p50", output / "latency.png")
        console.print(f"summary: {output / 'RESULTS.md'}")
    console.print(f"reproduce: {command}")
