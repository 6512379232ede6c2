"""Validation of custom resources against a CRD version's structural ``openAPIV3Schema``.

Covers what kube-apiserver checks before storing: types (with ``nullable``), ``required``,
``enum``, ``properties``/``additionalProperties``/``items``, unknown fields (rejected unless
``x-kubernetes-preserve-unknown-fields``), ``x-kubernetes-int-or-string``,
``x-kubernetes-embedded-resource``, ``minimum``/``maximum``, ``minLength``/``maxLength``,
``minItems``/``maxItems``, ``pattern``, ``allOf``/``anyOf``/``oneOf``/``not`` and ``default``.
CEL rules (``x-kubernetes-validations``) and ``format`` are not evaluated.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .errors import Cause

__all__ = ["validate_custom_resource"]

_TOP_LEVEL = {"apiVersion", "kind", "metadata"}


def validate_custom_resource(obj: dict[str, Any], schema: dict[str, Any]) -> list[Cause]:
    """Default, prune ``null`` where not nullable, and validate ``obj`` in place; return the errors."""
    if not schema:
        return []
    causes: list[Cause] = []
    _object(obj, schema, "", causes, top_level=True)
    return causes


def _quote(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    expected = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    }
    return expected not in checks or checks[expected](value)


def _json_type(value: Any) -> str:
    for name, kind in (("boolean", bool), ("integer", int), ("number", float), ("string", str),
                       ("array", list), ("object", dict)):
        if isinstance(value, kind):
            return name
    return "null"


def _value(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    """Validate one value (already known to be present and not a pruned null)."""
    if value is None:
        if not schema.get("nullable"):
            causes.append(Cause("FieldValueTypeInvalid", f"Invalid value: \"null\": {path} in body must be "
                                f"of type {schema.get('type', 'object')}: \"null\"", path))
        return
    if not _type_ok(value, schema):
        expected = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
        causes.append(Cause("FieldValueTypeInvalid", f'Invalid value: "{_json_type(value)}": {path} in body '
                            f'must be of type {expected}: "{_json_type(value)}"', path))
        return
    _constraints(value, schema, path, causes)
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema
                                    or "additionalProperties" in schema):
        _object(value, schema, path, causes)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _value(item, schema["items"], f"{path}[{i}]", causes)


def _constraints(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    def invalid(msg: str) -> None:
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {_quote(value)}: {msg}", path))

    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_quote(v) for v in schema["enum"])
        causes.append(Cause("FieldValueNotSupported",
                            f"Unsupported value: {_quote(value)}: supported values: {supported}", path))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            invalid(f"{path} in body should be greater than or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            invalid(f"{path} in body should be less than or equal to {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            invalid(f"{path} in body should be at least {schema['minLength']} chars long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(Cause("FieldValueTooLong", f"Too long: may not be more than {schema['maxLength']} "
                                "bytes", path))
        if "pattern" in schema and not _pattern_ok(schema["pattern"], value):
            invalid(f"{path} in body should match '{schema['pattern']}'")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            invalid(f"{path} in body should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(Cause("FieldValueTooMany", f"Too many: {len(value)}: must have at most "
                                f"{schema['maxItems']} items", path))
    _combinators(value, schema, path, causes)


def _pattern_ok(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:  # an RE2 construct Python lacks: do not reject what the API would accept
        return True


def _combinators(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    def errors(sub: dict[str, Any]) -> list[Cause]:
        found: list[Cause] = []
        if _type_ok(value, sub) or "type" not in sub:
            _constraints(value, sub, path, found)
            if "required" in sub and isinstance(value, dict):
                found += [Cause("FieldValueRequired", "Required value", _join(path, k))
                          for k in sub["required"] if k not in value]
        else:
            found.append(Cause("FieldValueTypeInvalid", "wrong type", path))
        return found

    for sub in schema.get("allOf") or []:
        causes.extend(errors(sub))
    if schema.get("anyOf") and not schema.get("x-kubernetes-int-or-string"):
        if all(errors(sub) for sub in schema["anyOf"]):
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {_quote(value)}: {path} in body "
                                "must match at least one schema in anyOf", path))
    if schema.get("oneOf"):
        passing = sum(1 for sub in schema["oneOf"] if not errors(sub))
        if passing != 1:
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {_quote(value)}: {path} in body "
                                "must match exactly one schema in oneOf", path))
    if "not" in schema and not errors(schema["not"]):
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {_quote(value)}: {path} in body "
                            "must not match the schema in not", path))


def _object(obj: dict[str, Any], schema: dict[str, Any], path: str, causes: list[Cause], *,
            top_level: bool = False) -> None:
    props: dict[str, Any] = schema.get("properties") or {}
    implicit = _TOP_LEVEL if top_level or schema.get("x-kubernetes-embedded-resource") else set()
    for key, sub in props.items():
        if key in obj and obj[key] is None and not sub.get("nullable"):
            del obj[key]  # the API prunes nulls of non-nullable fields before defaulting
        if key not in obj and "default" in sub:
            obj[key] = json.loads(json.dumps(sub["default"]))
    for key in schema.get("required") or []:
        if key not in obj:
            causes.append(Cause("FieldValueRequired", "Required value", _join(path, key)))
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    for key, value in obj.items():
        child = _join(path, key)
        if key in props:
            if key == "metadata" and key in implicit:
                continue  # metadata is validated by the API's own rules, not the CRD schema
            _value(value, props[key], child, causes)
        elif key in implicit:
            continue
        elif isinstance(additional, dict):
            _value(value, additional, child, causes)
        elif not (preserve or additional is True):
            causes.append(Cause("FieldValueInvalid", f'Invalid value: "{key}": field not declared in schema',
                                child))
