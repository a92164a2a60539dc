"""A PNG of stored bytes (exact steps from the ledger) and daily cost, per project."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from retrievd.usage.service import DayRow
from retrievd.usage.storage import GB, StoreHistory


def project_steps(histories: Sequence[StoreHistory], lo: int, hi: int) -> dict[str, list[tuple[int, int]]]:
    """project_id -> [(t, bytes from t on)], starting at `lo` and closed at `hi`."""
    by_project: dict[str, list[StoreHistory]] = defaultdict(list)
    for h in histories:
        by_project[h.project_id].append(h)
    steps: dict[str, list[tuple[int, int]]] = {}
    for project_id, hs in by_project.items():
        current = {h.subject_id: h.initial for h in hs}
        series = [(lo, sum(current.values()))]
        events = sorted((at, h.subject_id, after) for h in hs for at, after in h.changes)
        for at, store_id, after in events:
            current[store_id] = after
            series.append((at, sum(current.values())))
        series.append((hi, series[-1][1]))
        steps[project_id] = series
    return steps


def render(path: Path, steps: dict[str, list[tuple[int, int]]], rows: Sequence[DayRow]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def when(t: int) -> datetime:
        return datetime.fromtimestamp(t, tz=UTC)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for project_id, series in sorted(steps.items()):
        top.step([when(t) for t, _ in series], [b / GB for _, b in series], where="post", label=project_id)
    top.set_ylabel("stored GB (10^9 bytes)")
    top.set_title("Vector store storage")
    if steps:
        top.legend(fontsize="small")

    days = sorted({r.day for r in rows})
    base = [0.0] * len(days)
    for project_id in sorted({r.project_id for r in rows}):
        cost = {r.day: float(r.cost) for r in rows if r.project_id == project_id}
        heights = [cost.get(d, 0.0) for d in days]
        bottom.bar([when(d) for d in days], heights, bottom=base, width=0.8, align="edge", label=project_id)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    bottom.set_ylabel("cost per UTC day (USD)")
    bottom.set_title("Storage cost")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
