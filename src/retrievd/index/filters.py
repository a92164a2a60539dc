"""OpenAI attribute filters, validated once and translated into Qdrant filters.

The filter runs inside Qdrant, in every prefetch, so a selective filter still returns the
best matching chunks instead of whatever survives a post-filter of the top few.

Semantics (OpenAI documents none of these edge cases; these are our decisions):
- `eq`/`ne`/`in`/`nin` compare strings, numbers and booleans strictly by type: the number 1
  equals the number 1.0 but not the string "1" nor `true`.
- `ne` and `nin` are the negation of `eq` and `in`: a file WITHOUT the attribute is
  "not equal", so it is included. Every other operator excludes files without the attribute.
- `gt`/`gte`/`lt`/`lte` need a number (store dates as Unix timestamps); a string or boolean
  value is a 400, not a silent lexicographic comparison.
- `in`/`nin` need a non-empty array of strings and/or numbers.
- A compound filter needs at least one sub-filter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from retrievd.errors import APIError, invalid
from retrievd.index.base import ATTRIBUTES_KEY, FILE_KEY, STORE_KEY

Scalar: TypeAlias = str | float | bool
ComparisonOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
CompoundOp = Literal["and", "or"]
_COMPARISON_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
_RANGE_OPS = ("gt", "gte", "lt", "lte")
_PARAM = "filters"


@dataclass(frozen=True)
class Comparison:
    type: ComparisonOp
    key: str
    value: Scalar | tuple[str | float, ...]


@dataclass(frozen=True)
class Compound:
    type: CompoundOp
    filters: tuple[Condition, ...]


Condition: TypeAlias = Comparison | Compound


def _error(message: str) -> APIError:
    return invalid(message, param=_PARAM)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_filter(raw: Any) -> Condition:
    """Validate an OpenAI ComparisonFilter / CompoundFilter (raises a 400 APIError)."""
    if not isinstance(raw, Mapping):
        raise _error("Invalid filter: expected an object with 'type' and 'key'/'value' or 'filters'.")
    if "filters" in raw or raw.get("type") in ("and", "or"):
        return _parse_compound(raw)
    return _parse_comparison(raw)


def _parse_compound(raw: Mapping[str, Any]) -> Compound:
    unknown = set(raw) - {"type", "filters"}
    if unknown:
        raise _error(f"Unknown parameter in compound filter: {sorted(unknown)[0]!r}.")
    op = raw.get("type")
    if op not in ("and", "or"):
        raise _error(f"Invalid compound filter type {op!r}: expected 'and' or 'or'.")
    filters = raw.get("filters")
    if not isinstance(filters, list) or not filters:
        raise _error(f"Compound filter '{op}' needs a non-empty 'filters' array.")
    return Compound(type=op, filters=tuple(parse_filter(f) for f in filters))


def _parse_comparison(raw: Mapping[str, Any]) -> Comparison:
    unknown = set(raw) - {"type", "key", "value"}
    if unknown:
        raise _error(f"Unknown parameter in comparison filter: {sorted(unknown)[0]!r}.")
    op = raw.get("type", "eq")
    if op not in _COMPARISON_OPS:
        raise _error(f"Invalid filter type {op!r}: expected one of {', '.join(_COMPARISON_OPS)}, and, or.")
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise _error("A comparison filter needs a non-empty string 'key'.")
    if '"' in key:
        raise _error(f"Filter key {key!r} must not contain a double quote.")
    if "value" not in raw:
        raise _error(f"Filter on {key!r} needs a 'value'.")
    value = raw["value"]
    if op in ("in", "nin"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) or _is_number(v) for v in value):
            raise _error(f"Filter '{op}' on {key!r} needs a non-empty array of strings or numbers.")
        return Comparison(type=op, key=key, value=tuple(value))
    if op in _RANGE_OPS:
        if not _is_number(value):
            raise _error(f"Filter '{op}' on {key!r} needs a number; dates can be compared as Unix timestamps.")
        return Comparison(type=op, key=key, value=value)
    if not (isinstance(value, str | bool) or _is_number(value)):
        raise _error(f"Filter '{op}' on {key!r} needs a string, number or boolean value.")
    return Comparison(type=op, key=key, value=value)


def attribute_path(key: str) -> str:
    """Payload path of a file attribute; quoting keeps keys with dots or brackets literal."""
    return f'{ATTRIBUTES_KEY}."{key}"'


class FilterBuilder(Protocol):
    """The handful of Qdrant filter constructors each backend provides (its adapter module)."""

    def match(self, key: str, value: str | bool) -> Any: ...
    def match_any(self, key: str, values: list[str]) -> Any: ...
    def range(self, key: str, **bounds: float) -> Any: ...
    def has_ids(self, ids: Sequence[str]) -> Any: ...
    def combine(self, must: Sequence[Any] = (), should: Sequence[Any] = (), must_not: Sequence[Any] = ()) -> Any: ...


def translate(condition: Condition, builder: FilterBuilder) -> Any:
    """One OpenAI condition as one Qdrant condition."""
    if isinstance(condition, Compound):
        parts = [translate(f, builder) for f in condition.filters]
        return builder.combine(must=parts) if condition.type == "and" else builder.combine(should=parts)
    path = attribute_path(condition.key)
    op, value = condition.type, condition.value
    if op in _RANGE_OPS:
        assert isinstance(value, int | float)
        return builder.range(path, **{op: float(value)})
    if op in ("ne", "nin"):
        positive = Comparison(type="eq" if op == "ne" else "in", key=condition.key, value=value)
        return builder.combine(must_not=[translate(positive, builder)])
    if op == "in":
        assert isinstance(value, tuple)
        strings = [v for v in value if isinstance(v, str)]
        alternatives = [builder.match_any(path, strings)] if strings else []
        alternatives += [_equals(builder, path, v) for v in value if not isinstance(v, str)]
        return alternatives[0] if len(alternatives) == 1 else builder.combine(should=alternatives)
    assert not isinstance(value, tuple)
    return _equals(builder, path, value)


def _equals(builder: FilterBuilder, path: str, value: Scalar) -> Any:
    # A closed range, not a match: Qdrant matches integers only, and 3 must equal 3.0.
    if _is_number(value):
        return builder.range(path, gte=float(value), lte=float(value))
    assert isinstance(value, str | bool)
    return builder.match(path, value)


def scope(
    builder: FilterBuilder,
    vector_store_ids: Sequence[str],
    file_id: str | None = None,
    condition: Condition | None = None,
) -> Any:
    """The store restriction a request carries, plus an optional file and user filter; None where
    there is nothing to restrict (no stores named: a collection of one store's points)."""
    stores = list(vector_store_ids)
    must = []
    if stores:
        must.append(builder.match(STORE_KEY, stores[0]) if len(stores) == 1 else builder.match_any(STORE_KEY, stores))
    if file_id is not None:
        must.append(builder.match(FILE_KEY, file_id))
    if condition is not None:
        must.append(translate(condition, builder))
    return builder.combine(must=must) if must else None
