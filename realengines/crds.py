"""Install CustomResourceDefinitions into a running real API server and wait until Established.

``install_crds(server, paths, webhook=None)``: ``paths`` are YAML files or directories (every
``*.yaml``/``*.yml`` in them, sorted); each document that is a CRD is created (or replaced when it
exists). With ``webhook=ConversionWebhook(url, ca_bundle)`` every CRD serving more than one version
gets ``spec.conversion`` = Webhook with ``clientConfig {url, caBundle}``, as envtest does for a
controller's conversion webhook on 127.0.0.1 (the release bases carry no conversion stanza).
"""
from __future__ import annotations

import base64
import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from .kube import EngineError, KubeAPIServer

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass(frozen=True)
class ConversionWebhook:
    """Where the API server sends ConversionReviews: ``url`` (https://127.0.0.1:<port>/convert) and the
    PEM CA that signed the webhook's serving certificate; ``groups`` limits it to those API groups."""

    url: str
    ca_bundle: bytes
    groups: tuple[str, ...] = ()


def default_crd_dir(project_tag: str) -> Path:
    """``$MCG_ENGINE_CRD_DIR`` or ``<checkout>/../shared/crds/engines/<project_tag>`` (release-tag CRDs)."""
    configured = os.environ.get("MCG_ENGINE_CRD_DIR")
    root = Path(__file__).resolve().parents[1]
    return Path(configured) if configured else root.parent / "shared" / "crds" / "engines" / project_tag


def missing_crds(component: str) -> str | None:
    """Why ``component`` cannot run here for want of its release CRDs, or None when they are found."""
    from . import appset, capi, kyverno
    where = {"capi": (capi.default_crd_dir(), capi.CRD_TAG, "cluster.x-k8s.io_clusters.yaml"),
             "kyverno": (default_crd_dir(kyverno.TAG), kyverno.TAG, None),
             "argocd": (default_crd_dir(appset.TAG), appset.TAG, None)}.get(component)
    if where is None:
        return None
    folder, tag, marker = where
    if folder.is_dir() and (marker is None or (folder / marker).exists()):
        return None
    return (f"the {tag} release CRDs the {component} engine needs are not in {folder}: set MCG_ENGINE_CRD_DIR "
            f"to a folder holding them, or place them in ../shared/crds/engines/{tag} beside the checkout")


def load_crds(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition document in ``paths`` (files or directories)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            files.append(path)
    crds = []
    for file in files:
        for doc in yaml.safe_load_all(file.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                crds.append(doc)
    return crds


def with_conversion_webhook(crd: dict[str, Any], webhook: ConversionWebhook) -> dict[str, Any]:
    """A copy of ``crd`` whose conversion goes to ``webhook`` (unchanged when one version or another group)."""
    spec = crd["spec"]
    if len(spec.get("versions", [])) < 2 or (webhook.groups and spec["group"] not in webhook.groups):
        return crd
    out = copy.deepcopy(crd)
    out["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
        "conversionReviewVersions": ["v1", "v1beta1"],
        "clientConfig": {"url": webhook.url, "caBundle": base64.b64encode(webhook.ca_bundle).decode()}}}
    return out


def install_crds(server: KubeAPIServer, paths: Iterable[str | os.PathLike[str]], *,
                 webhook: ConversionWebhook | None = None, timeout: float = 60) -> list[str]:
    """Create or replace every CRD of ``paths`` on ``server``; wait until all are Established.

    Returns the CRD names. Raises EngineError with the API's answer when one is refused.
    """
    names = []
    for crd in load_crds(paths):
        if webhook is not None:
            crd = with_conversion_webhook(crd, webhook)
        name = crd["metadata"]["name"]
        status, body = server.request("POST", CRD_PATH, crd)
        if status == 409:
            current = server.request("GET", f"{CRD_PATH}/{name}")[1]
            crd = {**crd, "metadata": {**crd["metadata"],
                                       "resourceVersion": current["metadata"]["resourceVersion"]}}
            status, body = server.request("PUT", f"{CRD_PATH}/{name}", crd)
        if status not in (200, 201):
            raise EngineError(f"CRD {name} refused by {server.name} ({status}): "
                              f"{body.get('message') if isinstance(body, dict) else body}")
        names.append(name)
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in sorted(pending):
            conditions = (server.request("GET", f"{CRD_PATH}/{name}")[1].get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise EngineError(f"CRDs not Established after {timeout:.0f}s: {', '.join(sorted(pending))}")
        if pending:
            time.sleep(0.2)
    return names
