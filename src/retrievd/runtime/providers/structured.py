"""Structured output for the extractive model: its answer as JSON that a `response_format` accepts.

A client that asks for `json_schema` (or `json_object`) parses the output with `json.loads` or the
SDK's `parse` helpers, so prose would break it. The extractive model cannot write free JSON, so it
builds the smallest value the schema accepts and puts its answer (the quoted passages, with their
citation markers) in the first string field, and the quotes one by one in the first array of
strings. Everything else takes the first value its schema allows: the first `enum` or `const`
value, 0 (or the lower bound) for numbers, false, empty strings and arrays (at their minimum
length), and null wherever null is allowed once the answer has its place. `json_object` gets `{"answer": ...}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
_MAX_DEPTH = 12  # recursive schemas ($ref to an ancestor) stop at their shortest allowed value


def structured_answer(response_format: Json | None, answer: str, quotes: list[str]) -> str | None:
    """The answer as JSON for `response_format`, or None when plain text was asked for."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return json.dumps({"answer": answer}, ensure_ascii=False)
    if kind != "json_schema":
        return None
    schema = ((response_format or {}).get("json_schema") or {}).get("schema") or {}
    filler = _Filler(schema, answer, quotes)
    value = filler.value(schema, 0)
    if not filler.answered and isinstance(value, dict) and schema.get("additionalProperties") is not False:
        value.setdefault("answer", answer)
    return json.dumps(value, ensure_ascii=False)


@dataclass
class _Filler:
    root: Json
    answer: str
    quotes: list[str]
    answered: bool = False
    listed: bool = False

    def value(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, dict) or depth > 4 * _MAX_DEPTH:  # a schema no finite value meets
            return None
        if "$ref" in schema:
            return self.value(self._resolve(schema["$ref"]), depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf", "allOf"):
            if schema.get(key):
                return self.value(self._choose(schema[key], depth), depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            if "null" in kind and (self.answered or depth >= _MAX_DEPTH):
                return None
            kind = kinds[0] if kinds else "null"
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        return getattr(self, f"_{kind}", self._null)(schema, depth)

    def _choose(self, options: list[Any], depth: int) -> Any:
        """Null where it is allowed once the answer has a place (or deep in a recursive schema),
        else the first option that is not null."""

        def is_null(o: Any) -> bool:
            return isinstance(o, dict) and o.get("type") == "null"

        if self.answered or depth >= _MAX_DEPTH:
            return next((o for o in options if is_null(o)), options[0])
        return next((o for o in options if not is_null(o)), options[0])

    def _resolve(self, ref: str) -> Any:
        node: Any = self.root
        for part in ref.removeprefix("#").strip("/").split("/") if ref.startswith("#") else []:
            if not part:
                continue
            node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        return node

    def _object(self, schema: Json, depth: int) -> Json:
        properties = schema.get("properties") or {}
        required = schema.get("required")
        names = list(properties) if required is None or depth < _MAX_DEPTH else list(required)
        return {name: self.value(properties[name], depth + 1) for name in names}

    def _array(self, schema: Json, depth: int) -> list[Any]:
        items = schema.get("items") or {}
        low = int(schema.get("minItems") or 0)
        high = schema.get("maxItems")
        if (
            isinstance(items, dict)
            and items.get("type") == "string"
            and "enum" not in items
            and not self.listed
        ):
            self.listed = True
            quotes = self.quotes[: high if high is not None else len(self.quotes)]
            return quotes + [""] * max(0, low - len(quotes))
        return [self.value(items, depth + 1) for _ in range(low)]

    def _string(self, schema: Json, depth: int) -> str:
        if not self.answered:
            self.answered = True
            return self.answer
        return self.answer if schema.get("minLength") else ""

    def _number(self, schema: Json, depth: int) -> float | int:
        return self._bound(schema, 0)

    def _integer(self, schema: Json, depth: int) -> int:
        return int(self._bound(schema, 1))

    @staticmethod
    def _bound(schema: Json, step: float) -> float | int:
        if "minimum" in schema:
            return schema["minimum"]
        if "exclusiveMinimum" in schema:
            return schema["exclusiveMinimum"] + (step or 1)
        if "maximum" in schema and schema["maximum"] < 0:
            return schema["maximum"]
        if "exclusiveMaximum" in schema and schema["exclusiveMaximum"] <= 0:
            return schema["exclusiveMaximum"] - (step or 1)
        return 0

    def _boolean(self, schema: Json, depth: int) -> bool:
        return False

    def _null(self, schema: Json, depth: int) -> None:
        return None
