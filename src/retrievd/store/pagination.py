"""OpenAI cursor pagination: `after`/`before` name an object; order is by (created_at, id)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from retrievd.errors import invalid

T = TypeVar("T")
Order = Literal["asc", "desc"]


@dataclass
class Page(Generic[T]):
    items: list[T]
    has_more: bool


def paginate(
    session: Session,
    query: Select[Any],
    created_at: InstrumentedAttribute[int],
    id_col: InstrumentedAttribute[str],
    *,
    limit: int,
    order: Order = "desc",
    after: str | None = None,
    before: str | None = None,
    cursor_filter: Any = None,
) -> Page[Any]:
    """`cursor_filter` narrows the cursor lookup to the same scope as `query` (e.g. one store)."""
    key = tuple_(created_at, id_col)
    descending = order == "desc"
    for name, cursor, forward in (("after", after, True), ("before", before, False)):
        if cursor is None:
            continue
        lookup = query.with_only_columns(created_at, id_col).where(id_col == cursor)
        if cursor_filter is not None:
            lookup = lookup.where(cursor_filter)
        row = session.execute(lookup).first()
        if row is None:
            raise invalid(f"No object with id '{cursor}' to page from.", param=name)
        # "after" follows the cursor in the current order, "before" precedes it.
        if forward != descending:
            query = query.where(key > tuple_(row[0], row[1]))
        else:
            query = query.where(key < tuple_(row[0], row[1]))
    if before is not None and after is None:
        # Take the `limit` objects nearest the cursor, then restore the requested order.
        reverse = query.order_by(*((created_at, id_col) if descending else (created_at.desc(), id_col.desc())))
        rows = list(session.execute(reverse.limit(limit + 1)).scalars())
        has_more = len(rows) > limit
        return Page(list(reversed(rows[:limit])), has_more)
    ordered = query.order_by(*((created_at.desc(), id_col.desc()) if descending else (created_at, id_col)))
    rows = list(session.execute(ordered.limit(limit + 1)).scalars())
    return Page(rows[:limit], len(rows) > limit)
