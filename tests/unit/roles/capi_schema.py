"""Validate rendered objects against the CRDs in CRD_DIR (openAPIV3Schema, structural rules).

Unknown fields are rejected, as a kube-apiserver prunes or (with fieldValidation=Strict) rejects
them, unless the schema says x-kubernetes-preserve-unknown-fields. Core kinds (Namespace, Secret,
ConfigMap, ...) are validated with kubernetes-validate's bundled schemas.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["CrdSchemas", "strict_schema"]


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema from an OpenAPI v3 CRD schema: nullable honoured, unknown fields rejected."""
    s = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if node.get("nullable") and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if node.get("x-kubernetes-int-or-string"):
            node.pop("type", None)
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        preserve = node.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in node and "additionalProperties" not in node and not preserve:
            node["additionalProperties"] = False
        for key in ("properties", "patternProperties", "definitions"):
            for child in (node.get(key) or {}).values():
                walk(child)
        for key in ("items", "additionalProperties", "not"):
            walk(node.get(key))
        for key in ("allOf", "anyOf", "oneOf"):
            for child in node.get(key) or []:
                walk(child)

    walk(s)
    return s


class CrdSchemas:
    def __init__(self, crd_dir: Path, *, groups: tuple[str, ...] = ("",)) -> None:
        """Load the CRDs whose file name starts with one of `groups` (all by default)."""
        self._schemas: dict[tuple[str, str], dict[str, Any]] = {}
        self.storage: dict[str, str] = {}
        self._validators: dict[tuple[str, str], Any] = {}
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        for path in sorted(Path(crd_dir).glob("*.yaml")):
            if not path.name.startswith(groups):
                continue
            for doc in yaml.load_all(path.read_text(), Loader=loader):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
                for version in doc["spec"]["versions"]:
                    if version.get("storage"):
                        self.storage[kind] = f"{group}/{version['name']}"
                    if version.get("served", True):
                        self._schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]

    def knows(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self._schemas

    def _validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator:
        key = (api_version, kind)
        if key not in self._validators:
            schema = strict_schema(self._schemas[key])
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
            self._validators[key] = cls(schema)
        return self._validators[key]

    def errors(self, obj: dict[str, Any]) -> list[str]:
        """Every schema violation of `obj`, as 'Kind/name: path: message'."""
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        where = f"{kind}/{obj.get('metadata', {}).get('name')}"
        if self.knows(api_version, kind):
            return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                    for e in self._validator(api_version, kind).iter_errors(obj)]
        if "/" not in api_version or api_version.split("/")[0].endswith(".k8s.io") or api_version.startswith("apps/"):
            import kubernetes_validate
            try:
                kubernetes_validate.validate(obj, "1.31", strict=True)
            except kubernetes_validate.ValidationError as e:
                return [f"{where}: {e.message}"]
            return []
        return [f"{where}: no CRD for {api_version} {kind} in the CRD folder"]
