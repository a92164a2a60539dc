"""`retrievd usage`: verify byte counts, report GB-days and costs, set project quotas."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from retrievd.config import get_settings
from retrievd.usage.service import DayRow

usage_app = typer.Typer(help="Storage usage: verify, report (GB-days, cost), quotas.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _core():  # type: ignore[no-untyped-def]
    from retrievd.core import Core

    return Core(get_settings())


def _day(text: str) -> int:
    try:
        return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a date like 2025-01-31.") from None


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d")


def _record(r: DayRow) -> dict[str, object]:
    return {
        "date": _iso(r.day),
        "project_id": r.project_id,
        "bytes_at_end": r.bytes_at_end,
        "byte_seconds": r.byte_seconds,
        "gb_days": round(float(r.gb_days), 9),
        "billable_byte_seconds": r.billable_byte_seconds,
        "cost_usd": round(float(r.cost), 6),
        "file_search_calls": r.file_search_calls,
    }


@usage_app.command("verify")
def verify_command() -> None:
    """Recompute usage_bytes from the vector index and report any difference (exit 1 if there is one).

    With the embedded index (Qdrant Edge), run it while the server is stopped: one process opens the index.
    """
    from retrievd.usage.verify import verify

    core = _core()
    try:
        report = verify(core)
    finally:
        core.close()
    console.print(
        f"checked {report.stores} stores, {report.files} files, {report.points} points"
        f" ({report.pending} pending, skipped): {len(report.differences)} differences"
    )
    if report.differences:
        table = Table("vector store", "file", "check", "recorded", "actual", "difference")
        for d in report.differences:
            table.add_row(
                d.vector_store_id,
                d.file_id or "",
                d.check,
                str(d.recorded),
                str(d.actual),
                str(d.actual - d.recorded),
            )
        console.print(table)
        raise typer.Exit(1)


@usage_app.command("report")
def report_command(
    since: Annotated[str, typer.Option(help="First UTC day, YYYY-MM-DD.")],
    until: Annotated[
        str | None, typer.Option(help="UTC day to stop before, YYYY-MM-DD (default: now).")
    ] = None,
    project: Annotated[list[str] | None, typer.Option(help="Only these project ids (repeatable).")] = None,
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    chart: Annotated[
        Path | None, typer.Option(help="Also write a PNG chart of bytes and cost over time.")
    ] = None,
) -> None:
    """GB-days (GB = 10^9 bytes), cost and file_search calls per project and UTC day."""
    from retrievd.store.db import now
    from retrievd.usage.service import UsageService

    start, end = _day(since), (_day(until) if until else None)
    if end is not None and end <= start:
        raise typer.BadParameter("--until must be after --since.")
    core = _core()
    try:
        service = UsageService(core)
        rows = service.daily(start, end, project or ())
        if chart is not None:
            from retrievd.usage import chart as charts
            from retrievd.usage.storage import load_histories

            stop = min(end or now(), now())
            with core.db.session() as s:
                histories = load_histories(s, start, stop, project or None)
            charts.render(chart, charts.project_steps(histories, start, stop), rows)
            err.print(f"chart written to {chart}")
    finally:
        core.close()
    records = [_record(r) for r in rows]
    if format is Format.json:
        console.print_json(json.dumps(records))
    elif format is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(records[0]) if records else ["date"])
        writer.writeheader()
        writer.writerows(records)
    else:
        table = Table("date", "project", "bytes at end", "GB-days", "cost (USD)", "file_search calls")
        for r in rows:
            table.add_row(
                _iso(r.day),
                r.project_id,
                f"{r.bytes_at_end:,}",
                f"{float(r.gb_days):.6f}",
                f"{float(r.cost):.2f}",
                str(r.file_search_calls),
            )
        total_gb_days = sum((r.gb_days for r in rows), start=0)
        total_cost = sum((r.cost for r in rows), start=0)
        table.add_row(
            "total",
            "",
            "",
            f"{float(total_gb_days):.6f}",
            f"{float(total_cost):.2f}",
            str(sum(r.file_search_calls for r in rows)),
        )
        console.print(table)
        p = service.pricing
        console.print(
            f"pricing: ${p.price_per_gb_day} per GB-day, {p.free_gb_per_project} GB free per project per day"
        )


@usage_app.command("quota")
def quota_command(
    project_id: str,
    limit: Annotated[
        str | None, typer.Argument(help="Quota in bytes, or 'none' to remove it; omit to show.")
    ] = None,
) -> None:
    """Show or set a project's storage quota (the sum of its vector stores' usage_bytes)."""
    from retrievd.errors import APIError
    from retrievd.services.projects import ProjectService
    from retrievd.usage.quota import set_storage_quota

    core = _core()
    try:
        current = ProjectService(core.db).get_project(project_id).storage_quota_bytes
        if limit is not None:
            if limit != "none" and not limit.isdecimal():
                raise typer.BadParameter("The quota is a number of bytes, or 'none'.")
            current = None if limit == "none" else int(limit)
        used = set_storage_quota(core.db, project_id, current)
    except APIError as e:
        err.print(f"[red]error:[/red] {e.message}")
        raise typer.Exit(1) from None
    finally:
        core.close()
    console.print(
        f"{project_id}: {used:,} bytes used, quota {'none' if current is None else f'{current:,} bytes'}"
    )
