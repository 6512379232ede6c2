# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the platform looks like from the hub: CAPI clusters, their Argo CD registration, and which
ApplicationSets target them (each ApplicationSet's cluster generator selector against the labels of
the registered Argo CD cluster Secrets, as Argo CD's cluster generator matches them)."""
from __future__ import annotations

import base64
import re
from typing import Any, Iterator

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import (
    ANNOTATION_CREDENTIAL_MODE,
    LABEL_CLUSTER_NAME,
    LABEL_CLUSTER_NAMESPACE,
    LABEL_REGISTERED,
    LABEL_SECRET_TYPE,
    REGISTERED,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._capi import capi_cluster_resource, cluster_kind
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, InvalidInput
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import SECRET, KubeClient, Resource

__all__ = ["APPLICATIONSET", "selector_matches", "cluster_selectors", "credential_mode", "build_summary", "summarize",
           "to_mermaid", "to_table"]

APPLICATIONSET = Resource("argoproj.io", "v1alpha1", "applicationsets", "ApplicationSet")
# The Argo CD cluster Secrets registered by the collection, written by the module or by the Kyverno policy (Kyverno
# overwrites app.kubernetes.io/managed-by, never multicluster.gitops/registered).
ARGOCD_CLUSTER_SELECTOR = f"{LABEL_SECRET_TYPE}=cluster,{LABEL_REGISTERED}={REGISTERED}"


def _expression_matches(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise ValueError(f"unknown label selector operator {op!r}")


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector against labels; an empty or absent selector matches everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def cluster_selectors(appset: dict[str, Any]) -> list[dict[str, Any]]:
    """Selectors of every `clusters` generator, top level or nested in matrix/merge generators."""
    def walk(generators: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for gen in generators or []:
            if "clusters" in gen:
                yield (gen.get("clusters") or {}).get("selector") or {}
            for nested in ("matrix", "merge"):
                if nested in gen:
                    yield from walk((gen.get(nested) or {}).get("generators") or [])
    return list(walk((appset.get("spec") or {}).get("generators") or []))


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _decode(secret: dict[str, Any], key: str) -> str | None:
    value = (secret.get("data") or {}).get(key)
    return base64.b64decode(value).decode() if value else None


def credential_mode(secret: dict[str, Any] | None) -> str | None:
    """How Argo CD authenticates to the cluster, as written on its cluster Secret by both writers (the module and the
    Kyverno policy): ``kubeconfig`` or ``service_account``; ``unknown`` for a Secret without the annotation."""
    if secret is None:
        return None
    return ((secret.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_CREDENTIAL_MODE) or "unknown"


def build_summary(clusters: list[dict[str, Any]], secrets: list[dict[str, Any]],
                  appsets: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows per CAPI cluster, sorted by namespace and name; no timestamps, so equal state gives equal output."""
    secrets = [s for s in secrets if _labels(s).get(LABEL_REGISTERED) == REGISTERED]
    by_cluster = {(_labels(s).get(LABEL_CLUSTER_NAMESPACE), _labels(s).get(LABEL_CLUSTER_NAME)): s for s in secrets}
    selectors = {a["metadata"]["name"]: cluster_selectors(a) for a in appsets}
    rows = []
    for cluster in sorted(clusters, key=lambda c: (c["metadata"].get("namespace", ""), c["metadata"]["name"])):
        meta = cluster["metadata"]
        secret = by_cluster.get((meta.get("namespace"), meta["name"]))
        targeted = sorted(name for name, sels in selectors.items()
                          if secret is not None and any(selector_matches(s, _labels(secret)) for s in sels))
        rows.append({
            "cluster": meta["name"],
            "namespace": meta.get("namespace"),
            "kind": cluster_kind(cluster),
            "phase": (cluster.get("status") or {}).get("phase") or "Pending",
            "labels": dict(sorted(_labels(cluster).items())),
            "registered": secret is not None,
            "argocd_secret": secret["metadata"]["name"] if secret else None,
            "credential_mode": credential_mode(secret),
            "server": _decode(secret, "server") if secret else None,
            "applicationsets": targeted,
        })
    return {"clusters": rows, "applicationsets": sorted(selectors)}


def _list_or_nothing(hub: KubeClient, res: Resource, namespace: str | None = None, **selectors: str | None) -> list[Any]:
    """LIST items; an API or a namespace that is not there (a hub after playbooks/destroy.yml) holds nothing."""
    try:
        return hub.list(res, namespace, **selectors).get("items") or []
    except ApiError as e:
        if e.status == 404:
            return []
        raise


def summarize(hub: KubeClient, *, argocd_namespace: str, label_selector: str | None = None) -> dict[str, Any]:
    """One LIST each of CAPI Clusters, Argo CD cluster Secrets and ApplicationSets.

    A hub without Cluster API, without Argo CD's namespace or without the ApplicationSet CRD (after
    ``playbooks/destroy.yml``) has no clusters, registrations or ApplicationSets, and says so."""
    try:
        clusters = _list_or_nothing(hub, capi_cluster_resource(hub), label_selector=label_selector)
    except InvalidInput:  # the hub serves no Cluster API group
        clusters = []
    secrets = _list_or_nothing(hub, SECRET, argocd_namespace, label_selector=ARGOCD_CLUSTER_SELECTOR)
    appsets = _list_or_nothing(hub, APPLICATIONSET, argocd_namespace)
    return build_summary(clusters, secrets, appsets)


def _node_id(prefix: str, name: str) -> str:
    return prefix + "_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def to_mermaid(summary: dict[str, Any], *, hub_name: str = "hub") -> str:
    """A Mermaid flowchart: hub → clusters (kind, phase) → ApplicationSets that target them."""
    lines = ["flowchart LR", f'  hub["{hub_name} (Argo CD)"]']
    for name in summary["applicationsets"]:
        lines.append(f'  {_node_id("appset", name)}(["ApplicationSet {name}"])')
    for row in summary["clusters"]:
        node = _node_id("cluster", f"{row['namespace']}_{row['cluster']}")
        state = f"registered ({row['credential_mode']})" if row["registered"] else "not registered"
        lines.append(f'  {node}["{row["namespace"]}/{row["cluster"]}<br/>{row["kind"]} · {row["phase"]} · {state}"]')
        lines.append(f"  hub -->|CAPI| {node}")
        for appset in row["applicationsets"]:
            lines.append(f"  {_node_id('appset', appset)} -->|deploys to| {node}")
    return "\n".join(lines) + "\n"


def to_table(summary: dict[str, Any]) -> list[str]:
    """The summary as fixed-width text lines: cluster · kind · phase · registered · credentials · ApplicationSets."""
    header = ("CLUSTER", "KIND", "PHASE", "IN ARGO CD", "CREDENTIALS", "APPLICATIONSETS")
    rows = [(f"{r['namespace']}/{r['cluster']}", r["kind"], r["phase"], "yes" if r["registered"] else "no",
             r.get("credential_mode") or "-", ", ".join(r["applicationsets"]) or "-") for r in summary["clusters"]]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    return ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in (header, *rows)]
