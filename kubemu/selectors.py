"""Label and field selectors, with the grammar of the Kubernetes API's query parameters."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ApiError

__all__ = ["Selector", "parse_label_selector", "parse_field_selector", "EXTRA_FIELDS"]

Predicate = Callable[[dict[str, Any]], bool]

# Field selectors beyond metadata.name / metadata.namespace, per kind (as the API supports them).
EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "Secret": ("type",),
    "Pod": ("status.phase", "spec.nodeName", "spec.serviceAccountName"),
    "Event": ("involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
              "involvedObject.uid", "reason", "type"),
    "Namespace": ("status.phase",),
}
_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_OP_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=|>|<)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; an empty selector matches everything."""

    predicates: tuple[Predicate, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        return all(p(obj) for p in self.predicates)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    parts, depth, current = [], 0, []
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in (s.strip() for s in parts) if p]


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _label_requirement(text: str) -> Predicate:
    if m := _SET_RE.match(text):
        key, op, values = m.group(1), m.group(3), {v.strip() for v in m.group(4).split(",") if v.strip()}
        if op == "in":
            return lambda o: _labels(o).get(key) in values
        return lambda o: _labels(o).get(key) not in values
    if m := _OP_RE.match(text):
        key, op, value = m.group(1), m.group(3), m.group(4)
        if op in ("=", "=="):
            return lambda o: _labels(o).get(key) == value
        if op == "!=":
            return lambda o: _labels(o).get(key) != value
        return _numeric_requirement(key, op, value, text)
    if m := _EXISTS_RE.match(text):
        negate, key = m.group(1) == "!", m.group(2)
        return (lambda o: key not in _labels(o)) if negate else (lambda o: key in _labels(o))
    raise ApiError.bad_request(f"unable to parse requirement: {text!r}")


def _numeric_requirement(key: str, op: str, value: str, text: str) -> Predicate:
    try:
        bound = int(value)
    except ValueError:
        raise ApiError.bad_request(f"unable to parse requirement: {text!r}: for 'gt', 'lt' operators, "
                                   "the value must be an integer") from None

    def check(o: dict[str, Any]) -> bool:
        try:
            actual = int(_labels(o)[key])
        except (KeyError, ValueError):
            return False
        return actual > bound if op == ">" else actual < bound
    return check


def parse_label_selector(text: str | None) -> Selector:
    """``labelSelector``: ``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``, ``>``, ``<``."""
    if not text:
        return Selector()
    return Selector(tuple(_label_requirement(part) for part in _split_top_level(text)))


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def parse_field_selector(text: str | None, kind: str) -> Selector:
    """``fieldSelector``: ``metadata.name``, ``metadata.namespace`` and the kind's extra fields."""
    if not text:
        return Selector()
    allowed = {"metadata.name", "metadata.namespace", *EXTRA_FIELDS.get(kind, ())}
    predicates: list[Predicate] = []
    for part in _split_top_level(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise ApiError.bad_request(f"invalid selector: {part!r}; can't understand {part!r}")
        path, op, value = m.groups()
        if path not in allowed:
            raise ApiError.bad_request(f'"{path}" is not a known field selector: only "'
                                       + '", "'.join(sorted(allowed)) + '"')
        if op == "!=":
            predicates.append(lambda o, p=path, v=value: _field_value(o, p) != v)
        else:
            predicates.append(lambda o, p=path, v=value: _field_value(o, p) == v)
    return Selector(tuple(predicates))
