"""A small Kyverno policy evaluator for tests: Kyverno's JMESPath functions and ``{{ }}`` substitution.

Only what the registration policy uses, with Kyverno's semantics (kyverno/kyverno
``pkg/engine/jmespath/functions.go`` and go-jmespath):

* ``to_string`` is Go's ``json.Marshal`` for non-strings: sorted keys, no spaces, ``<``, ``>``, ``&``,
  U+2028 and U+2029 escaped, other characters written as UTF-8 (Python's ``json.dumps`` defaults differ);
* ``base64_decode``/``base64_encode`` (standard alphabet, padding required), ``parse_yaml``, ``sha256``
  (lower-case hex of the UTF-8 bytes), ``truncate`` (first n characters), ``regex_replace_all``, ``lookup``,
  ``items`` (keys sorted), ``object_from_lists``, ``to_lower``;
* variable substitution: innermost ``{{ }}`` first; a value that is exactly one ``{{ expr }}`` keeps the
  JSON type of the result, otherwise results are written into the string;
* context entries in order: ``variable`` (``jmesPath`` over the whole context, ``default`` for null) and
  ``apiCall`` (a test-supplied ``api(url_path)`` returning the object or raising :class:`NotFound`);
* preconditions ``all``/``any`` with ``Equals``, ``NotEquals``, ``AnyIn``, ``AnyNotIn``;
* :func:`manage_labels`: the labels Kyverno's background controller sets on every resource it generates.

Checked against kyverno/kyverno @ v1.18.2 : pkg/engine/jmespath/functions.go (Kyverno's functions) and
kyverno/go-jmespath (built-ins ``to_string``, ``merge``, ``length``, ``starts_with``). Where Python differs from Go
the emulation follows Go:

* ``base64_decode`` is Go's ``base64.StdEncoding.DecodeString``: padding required, ``\r``/``\n`` ignored; the bytes
  become a Go string even when they are not UTF-8 (kept here with ``surrogateescape``);
* ``parse_yaml`` is sigs.k8s.io/yaml ``YAMLToJSON`` then ``json.Unmarshal``: timestamp-like scalars stay strings
  (PyYAML would make dates), non-string mapping keys become strings;
* a number turned into a string by ``object_from_lists`` or ``regex_replace_all`` (Kyverno's ``ifaceToString``)
  is ``strconv.FormatFloat(f, 'f', -1, 32)``: float32 precision, never an exponent;
* ``truncate`` counts runes (github.com/aquilax/truncate ``CutStrategy``), as Python slices code points;
* ``length`` of a string counts runes (go-jmespath ``jpfLength``), as Python's ``len``.
"""
from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import re
import struct
from decimal import Decimal
from typing import Any, Callable

import jmespath
import yaml
from jmespath import functions

__all__ = ["NotFound", "KyvernoFunctions", "search", "go_json", "substitute", "evaluate_rule", "RuleResult",
           "manage_labels", "KYVERNO_MANAGED_BY"]


class NotFound(Exception):
    """An apiCall target does not exist (HTTP 404)."""


def go_json(value: Any) -> str:
    """Go's json.Marshal of a decoded JSON value."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _go_repl(repl: str) -> str:
    """Go regexp template ($1, ${1}, ${name}) to Python's re.sub template."""
    out = repl.replace("\\", "\\\\")
    out = re.sub(r"\$\{(\w+)\}", r"\\g<\1>", out)
    return re.sub(r"\$(\d+)", r"\\g<\1>", out)


def _go_float32_string(value: float) -> str:
    """Go's strconv.FormatFloat(value, 'f', -1, 32): the shortest decimal that reads back as the same float32,
    written without an exponent."""
    f32 = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{f32:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == f32:
            break
    out = format(Decimal(text), "f")
    return out[:-2] if out.endswith(".0") else out


def _scalar_string(value: Any) -> str:
    """Kyverno's ifaceToString (pkg/engine/jmespath/functions.go)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):  # every JMESPath number is a float64 in Go
        return _go_float32_string(float(value))
    if isinstance(value, str):
        return value
    raise jmespath.exceptions.JMESPathTypeError("regex_replace_all", value, type(value).__name__, ["string", "number"])


class _NoTimestampLoader(yaml.SafeLoader):
    """PyYAML's safe loader without the timestamp type: go-yaml v2 leaves timestamps as strings for interface{}."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _json_like(node: Any) -> Any:
    """What YAMLToJSON + json.Unmarshal leave of a YAML document: string keys (true, 1, 1.5, null written out)."""
    if isinstance(node, dict):
        return {(k if isinstance(k, str) else json.dumps(k)): _json_like(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_like(v) for v in node]
    return node


class KyvernoFunctions(functions.Functions):
    """Kyverno's custom JMESPath functions used by the collection's policies."""

    @functions.signature({"types": ["string"]})
    def _func_base64_decode(self, value: str) -> str:
        try:
            raw = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"base64_decode: {e}") from e
        return raw.decode("utf-8", errors="surrogateescape")

    @functions.signature({"types": ["string"]})
    def _func_base64_encode(self, value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    @functions.signature({"types": ["string"]})
    def _func_parse_yaml(self, value: str) -> Any:
        return _json_like(yaml.load(value, Loader=_NoTimestampLoader))  # noqa: S506 - a safe loader

    @functions.signature({"types": ["string"]})
    def _func_parse_json(self, value: str) -> Any:
        return json.loads(value)

    @functions.signature({"types": ["string"]})
    def _func_sha256(self, value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()

    @functions.signature({"types": ["string"]}, {"types": ["number"]})
    def _func_truncate(self, value: str, length: float) -> str:
        return value[: max(0, int(length))]

    @functions.signature({"types": ["string"]}, {"types": ["string", "number"]}, {"types": ["string", "number"]})
    def _func_regex_replace_all(self, regex: str, src: Any, repl: Any) -> str:
        return re.sub(regex, _go_repl(_scalar_string(repl)), _scalar_string(src))

    @functions.signature({"types": ["string"]})
    def _func_to_lower(self, value: str) -> str:
        return value.lower()

    @functions.signature({"types": ["object", "array"]}, {"types": ["string", "number"]})
    def _func_lookup(self, collection: Any, key: Any) -> Any:
        if isinstance(collection, dict):
            if not isinstance(key, str):
                raise jmespath.exceptions.JMESPathTypeError("lookup", key, type(key).__name__, ["string"])
            return collection.get(key)
        if not isinstance(key, (int, float)) or int(key) != key:
            raise jmespath.exceptions.JMESPathTypeError("lookup", key, type(key).__name__, ["number"])
        index = int(key)
        return collection[index] if 0 <= index < len(collection) else None

    @functions.signature({"types": ["object", "array"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_items(self, collection: Any, key_name: str, value_name: str) -> list[dict[str, Any]]:
        if isinstance(collection, dict):
            return [{key_name: k, value_name: collection[k]} for k in sorted(collection)]
        return [{key_name: float(i), value_name: v} for i, v in enumerate(collection)]

    @functions.signature({"types": ["array"]}, {"types": ["array"]})
    def _func_object_from_lists(self, keys: list[Any], values: list[Any]) -> dict[str, Any]:
        return {_scalar_string(k): (values[i] if i < len(values) else None) for i, k in enumerate(keys)}

    @functions.signature({"types": []})
    def _func_to_string(self, value: Any) -> str:
        return value if isinstance(value, str) else go_json(value)


_OPTIONS = jmespath.Options(custom_functions=KyvernoFunctions())


def search(expression: str, data: Any) -> Any:
    """Evaluate one JMESPath expression with Kyverno's functions."""
    return jmespath.search(expression, data, options=_OPTIONS)


# Kyverno's variable pattern: {{ ... }} whose content has no braces except single-brace groups.
_VARIABLE = re.compile(r"(^|[^\\])(\{\{((?:\{[^{}]*\}|[^{}])*)\}\})")


def _substitute_string(text: str, context: dict[str, Any]) -> Any:
    for pass_number in range(32):
        match = _VARIABLE.search(text)
        if match is None:
            return text
        value = search(match.group(3).strip(), context)
        if value is None:
            raise KeyError(f"variable substitution failed: {match.group(2)} resolved to null")
        if match.start(2) == 0 and match.end(2) == len(text):
            return value
        rendered = value if isinstance(value, str) else go_json(value)
        text = text[: match.start(2)] + rendered + text[match.end(2):]
    raise ValueError(f"too deeply nested variables in {text!r}")


def substitute(node: Any, context: dict[str, Any]) -> Any:
    """Substitute every {{ }} in a policy fragment."""
    if isinstance(node, str):
        return _substitute_string(node, context)
    if isinstance(node, list):
        return [substitute(v, context) for v in node]
    if isinstance(node, dict):
        return {k: substitute(v, context) for k, v in node.items()}
    return node


def _load_context(entries: list[dict[str, Any]], context: dict[str, Any], api: Callable[[str], Any]) -> None:
    for entry in entries:
        name = entry["name"]
        if "variable" in entry:
            spec = entry["variable"]
            value = substitute(copy.deepcopy(spec["value"]), context) if "value" in spec else None
            if spec.get("jmesPath"):
                source = value if "value" in spec else context
                value = search(substitute(spec["jmesPath"], context), source)
            if value is None and "default" in spec:
                value = copy.deepcopy(spec["default"])
        elif "apiCall" in entry:
            spec = entry["apiCall"]
            try:
                value = api(substitute(spec["urlPath"], context))
                if spec.get("jmesPath"):
                    value = search(spec["jmesPath"], value)
            except NotFound:
                if "default" not in spec:
                    raise
                value = copy.deepcopy(spec["default"])
        else:
            raise NotImplementedError(f"context entry {name}: only variable and apiCall are emulated")
        context[name] = value


def _condition(cond: dict[str, Any], context: dict[str, Any]) -> bool:
    key, value, op = substitute(cond["key"], context), substitute(cond.get("value"), context), cond["operator"]
    if op == "Equals":
        return key == value
    if op == "NotEquals":
        return key != value
    keys = key if isinstance(key, list) else [key]
    if op == "AnyIn":
        return any(k in value for k in keys)
    if op == "AnyNotIn":
        return any(k not in value for k in keys)
    raise NotImplementedError(f"precondition operator {op}")


def _preconditions(pre: dict[str, Any] | None, context: dict[str, Any]) -> bool:
    if not pre:
        return True
    ok_all = all(_condition(c, context) for c in pre.get("all", []))
    ok_any = not pre.get("any") or any(_condition(c, context) for c in pre["any"])
    return ok_all and ok_any


class RuleResult:
    """What a generate rule did for one trigger: skipped, or the resource it generates."""

    def __init__(self, applied: bool, resource: dict[str, Any] | None, context: dict[str, Any]) -> None:
        self.applied = applied
        self.resource = resource
        self.context = context


def evaluate_rule(rule: dict[str, Any], trigger: dict[str, Any], api: Callable[[str], Any], *,
                  operation: str = "CREATE") -> RuleResult:
    """Evaluate a generate rule for a trigger object, as Kyverno's background controller would."""
    meta = trigger.get("metadata") or {}
    context: dict[str, Any] = {"request": {"object": trigger, "namespace": meta.get("namespace"),
                                           "name": meta.get("name"), "operation": operation}}
    _load_context(rule.get("context", []), context, api)
    if not _preconditions(rule.get("preconditions"), context):
        return RuleResult(False, None, context)
    gen = rule["generate"]
    resource = copy.deepcopy(substitute(gen.get("data", {}), context))
    resource["apiVersion"] = gen["apiVersion"]
    resource["kind"] = gen["kind"]
    resource.setdefault("metadata", {})
    resource["metadata"]["name"] = substitute(gen["name"], context)
    resource["metadata"]["namespace"] = substitute(gen["namespace"], context)
    return RuleResult(True, resource, context)


KYVERNO_MANAGED_BY = "kyverno"


def manage_labels(resource: dict[str, Any], trigger: dict[str, Any], *, policy_name: str, rule_name: str,
                  policy_namespace: str = "") -> dict[str, Any]:
    """A generated resource as Kyverno stores it: a copy with the labels its background controller sets.

    kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go ``ManageLabels`` (called in
    pkg/background/generate/generator.go before every create and update, also for ``data`` rules): overwrites
    ``app.kubernetes.io/managed-by`` with ``kyverno``, sets ``generate.kyverno.io/policy-name``,
    ``-policy-namespace`` (empty for a ClusterPolicy), ``-rule-name`` and the trigger's ``-trigger-version``,
    ``-trigger-group``, ``-trigger-kind``, ``-trigger-namespace``, ``-trigger-uid``. Annotations are not touched.
    """
    out = copy.deepcopy(resource)
    labels = out.setdefault("metadata", {}).get("labels") or {}
    group, _slash, version = (trigger.get("apiVersion") or "").rpartition("/")
    tmeta = trigger.get("metadata") or {}
    labels.update({
        "app.kubernetes.io/managed-by": KYVERNO_MANAGED_BY,
        "generate.kyverno.io/policy-name": policy_name,
        "generate.kyverno.io/policy-namespace": policy_namespace,
        "generate.kyverno.io/rule-name": rule_name,
        "generate.kyverno.io/trigger-version": version,
        "generate.kyverno.io/trigger-group": group,
        "generate.kyverno.io/trigger-kind": trigger.get("kind") or "",
        "generate.kyverno.io/trigger-namespace": tmeta.get("namespace") or "",
        "generate.kyverno.io/trigger-uid": tmeta.get("uid") or "",
    })
    out["metadata"]["labels"] = labels
    return out
