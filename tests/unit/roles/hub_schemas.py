"""Validate custom resources against the openAPIV3Schema of their CRD, rejecting unknown fields like a strict API server."""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["crd_validator", "CRD_FILES"]

# (apiVersion, kind) -> CRD file in /work/shared/crds
CRD_FILES: dict[tuple[str, str], str] = {
    ("cert-manager.io/v1", "ClusterIssuer"): "cert-manager.io_clusterissuers.yaml",
    ("cert-manager.io/v1", "Certificate"): "cert-manager.io_certificates.yaml",
    ("argoproj.io/v1alpha1", "AppProject"): "appproject-crd.yaml",
    ("argoproj.io/v1alpha1", "ApplicationSet"): "applicationset-crd.yaml",
}


def _strict(schema: Any) -> Any:
    """Copy of a structural schema where objects with properties reject unknown fields (unless preserved)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) if k in ("items", "additionalProperties", "not") or k in ("allOf", "anyOf", "oneOf")
           else v for k, v in schema.items()}
    if "properties" in schema:
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
            out["additionalProperties"] = False
    if schema.get("x-kubernetes-int-or-string") and "type" not in schema:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


@lru_cache(maxsize=None)
def crd_validator(crd_dir: Path, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    crd = yaml.load((crd_dir / CRD_FILES[(api_version, kind)]).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    version = api_version.split("/")[1]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _strict(copy.deepcopy(served["schema"]["openAPIV3Schema"]))
    # The API server checks metadata itself; the CRD schema only says "object".
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)
