# Copyright (c) multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that check role input before it reaches the Kubernetes API; each returns a list of messages.

Their documentation is in the YAML files beside this one (one per filter). Label rules follow
kubernetes/apimachinery @ v0.34.10 : pkg/util/validation/validation.go (IsQualifiedName, IsDNS1123Subdomain,
IsValidLabelValue) and pkg/apis/meta/v1/validation/validation.go (ValidateLabelSelector,
ValidateLabelSelectorRequirement).
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_NAME_MAX = 63
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_RE = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_SUBDOMAIN_MAX = 253
_VALUE_MAX = 63
_OPERATORS_WITH_VALUES = ("In", "NotIn")
_OPERATORS_WITHOUT_VALUES = ("Exists", "DoesNotExist")
_SELECTOR_KEYS = ("matchLabels", "matchExpressions")
_REQUIREMENT_KEYS = ("key", "operator", "values")
_ANY = "*"


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _key_problem(key: Any) -> str | None:
    """Why `key` is not a label key (IsQualifiedName), or None."""
    if not isinstance(key, str):
        return f"label key {key!r} must be a string"
    parts = key.split("/")
    if len(parts) > 2:
        return f"label key {key!r} has more than one '/'; use an optional DNS subdomain prefix, '/', and a name"
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return f"label key {key!r} has an empty prefix before '/'"
        if len(prefix) > _SUBDOMAIN_MAX or not _SUBDOMAIN_RE.fullmatch(prefix):
            return (f"label key {key!r} has an invalid prefix: a lower-case DNS subdomain of at most "
                    f"{_SUBDOMAIN_MAX} characters (like example.com)")
    if not name:
        return f"label key {key!r} has an empty name"
    if len(name) > _NAME_MAX or not _NAME_RE.fullmatch(name):
        return (f"label key {key!r} has an invalid name: at most {_NAME_MAX} letters, digits, '-', '_' or '.', "
                "beginning and ending with a letter or digit")
    return None


def _type_name(value: Any) -> str:
    """The YAML name of a value's type (the data may come as Ansible's tagged subclasses)."""
    for kind, name in ((bool, "boolean"), ((int, float), "number"), (str, "string"), (Mapping, "mapping")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else "list" if _is_list(value) else type(value).__name__


def _value_problem(key: Any, value: Any) -> str | None:
    """Why `value` is not a label value (IsValidLabelValue), or None."""
    if not isinstance(value, str):
        return f"label {key} has a {_type_name(value)} value {value!r}; label values are strings (quote it)"
    if value and (len(value) > _VALUE_MAX or not _NAME_RE.fullmatch(value)):
        return (f"label {key} has an invalid value {value!r}: empty, or at most {_VALUE_MAX} letters, digits, "
                "'-', '_' or '.', beginning and ending with a letter or digit")
    return None


def label_errors(labels: Any, where: str = "labels") -> list[str]:
    """Messages for every invalid key or value of a label mapping; [] when all are valid."""
    if not isinstance(labels, Mapping):
        return [f"{where} must be a mapping of label keys to values, not {_type_name(labels)}"]
    errors = []
    for key, value in labels.items():
        problem = _key_problem(key) or _value_problem(key, value)
        if problem:
            errors.append(f"{where}: {problem}")
    return errors


def label_key_errors(keys: Any, where: str = "label keys") -> list[str]:
    """Messages for every string of a list that is not a label key; [] when all are valid."""
    if not _is_list(keys):
        return [f"{where} must be a list of label keys, not {_type_name(keys)}"]
    return [f"{where}: {problem}" for problem in map(_key_problem, keys) if problem]


def _requirement_errors(req: Any, where: str) -> list[str]:
    if not isinstance(req, Mapping):
        return [f"{where} must be a mapping with key, operator and values"]
    errors = unknown_key_errors(req, dict.fromkeys(_REQUIREMENT_KEYS), where)
    key_problem = _key_problem(req.get("key"))
    if key_problem:
        errors.append(f"{where}.key: {key_problem}")
    operator, values = req.get("operator"), req.get("values")
    if values is not None and not _is_list(values):
        return errors + [f"{where}.values must be a list of label values"]
    values = list(values or [])
    if operator in _OPERATORS_WITH_VALUES and not values:
        errors.append(f"{where}.values must not be empty when operator is {operator}")
    elif operator in _OPERATORS_WITHOUT_VALUES and values:
        errors.append(f"{where}.values must not be given when operator is {operator}")
    elif operator not in _OPERATORS_WITH_VALUES + _OPERATORS_WITHOUT_VALUES:
        errors.append(f"{where}.operator {operator!r} is not one of "
                      f"{', '.join(_OPERATORS_WITH_VALUES + _OPERATORS_WITHOUT_VALUES)}")
    for index, value in enumerate(values):
        problem = _value_problem(req.get("key"), value)
        if problem:
            errors.append(f"{where}.values[{index}]: {problem}")
    return errors


def label_selector_errors(selector: Any, where: str = "selector") -> list[str]:
    """Messages for every invalid part of a LabelSelector ({matchLabels, matchExpressions}); [] when valid."""
    if not isinstance(selector, Mapping):
        return [f"{where} must be a label selector mapping with matchLabels and/or matchExpressions"]
    errors = unknown_key_errors(selector, dict.fromkeys(_SELECTOR_KEYS), where)
    if "matchLabels" in selector:
        errors += label_errors(selector["matchLabels"], f"{where}.matchLabels")
    expressions = selector.get("matchExpressions", [])
    if not _is_list(expressions):
        return errors + [f"{where}.matchExpressions must be a list of requirements (key, operator, values)"]
    for index, req in enumerate(expressions):
        errors += _requirement_errors(req, f"{where}.matchExpressions[{index}]")
    return errors


def _describe(allowed: Mapping) -> str:
    return ", ".join(sorted(str(k) for k in allowed if k != _ANY))


def unknown_key_errors(data: Any, schema: Any, where: str = "value") -> list[str]:
    """Messages for every key of `data` (and of its nested mappings and lists) that `schema` does not allow.

    `schema` mirrors the data: a mapping lists the allowed keys, each with the schema of its value; None
    allows any value; a one-element list applies its element to each item of a list; the key '*' allows any
    other key with that schema. Values of another type than the schema expects are left to other checks.
    """
    if schema is None:
        return []
    if _is_list(schema):
        if len(schema) != 1:
            raise AnsibleFilterError("unknown_key_errors: a list schema has exactly one element")
        if not _is_list(data):
            return []
        errors = []
        for index, item in enumerate(data):
            errors += unknown_key_errors(item, schema[0], f"{where}[{index}]")
        return errors
    if not isinstance(schema, Mapping):
        raise AnsibleFilterError(f"unknown_key_errors: schema must be a mapping, a one-element list or null, not {schema!r}")
    if not isinstance(data, Mapping):
        return []
    errors = []
    for key, value in data.items():
        if key in schema:
            errors += unknown_key_errors(value, schema[key], f"{where}.{key}")
        elif _ANY in schema:
            errors += unknown_key_errors(value, schema[_ANY], f"{where}.{key}")
        else:
            close = difflib.get_close_matches(str(key), [str(k) for k in schema if k != _ANY], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            errors.append(f"{where} has an unknown key '{key}'{hint}; allowed keys: {_describe(schema)}")
    return errors


class FilterModule:
    """Input checks of multicluster.gitops."""

    def filters(self) -> dict[str, Any]:
        return {
            "label_errors": label_errors,
            "label_key_errors": label_key_errors,
            "label_selector_errors": label_selector_errors,
            "unknown_key_errors": unknown_key_errors,
        }
